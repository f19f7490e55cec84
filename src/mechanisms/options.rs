//! A mechanism's parameters, declared once: [`mechanism_options!`] holds the one list of
//! option names, types and help texts. It expands into [`MechanismOptions`] (the library's
//! option bag, with `clap::Args` behind the `cli` feature: `unlearn-audit sample --lambda …`)
//! and, in `plan::schema`, into the option keys of `[evidence.mechanism]` (serde, with
//! `deny_unknown_fields`, so an unknown key is still an error naming key and line). Each
//! mechanism reads what it needs and validates it (`docs/mechanisms.md`).

use super::ModelKind;

/// Calls `$callback! { { $($prefix)* } <the option list> }`: the one declaration of the
/// mechanism options (name, type, help). Every option is optional; `None` means the
/// mechanism's default.
macro_rules! mechanism_options {
    ($callback:ident! { $($prefix:tt)* }) => {
        $callback! {
            { $($prefix)* }
            /// Per-example L2 coefficient λ.
            lambda: f64,
            /// Noise standard deviation σ.
            sigma: f64,
            /// Target ε of the certificate.
            epsilon: f64,
            /// Target δ of the certificate.
            delta: f64,
            /// Descent / fine-tuning steps.
            steps: usize,
            /// Step size.
            learning_rate: f64,
            /// Fisher forgetting's noise scale α.
            alpha: f64,
            /// Koloskova et al.: C0, clipping radius of the initial model.
            model_clip: f64,
            /// koloskova-gradient-clip: C1, gradient clipping norm.
            gradient_clip: f64,
            /// koloskova-model-clip: C2, projection radius of each noisy step; zhang: norm
            /// bound C of training.
            projection_radius: f64,
            /// koloskova-model-clip: σ0, noise on the clipped initial model (default 0).
            initial_sigma: f64,
            /// zhang: the approximation-error bound Δ ≥ ‖w̃ − w̃*‖ the noise is calibrated to
            /// (required).
            approximation_error: f64,
            /// zhang: hidden tanh units of the MLP (default 16).
            hidden: usize,
            /// zhang: local convex approximation γ added to the Hessian (default 0.01).
            damping: f64,
            /// zhang: LiSSA scale (default 10).
            lissa_scale: f64,
            /// zhang: LiSSA recursion depth (default 1000).
            lissa_steps: usize,
            /// zhang: LiSSA mini-batch size (default 64).
            lissa_batch: usize,
            /// zhang: number of sequential requests the forget set is split into (default 1).
            rounds: usize,
        }
    };
}
pub(crate) use mechanism_options;

macro_rules! define_mechanism_options {
    ({} $( $(#[doc = $doc:expr])* $name:ident : $ty:ty ),* $(,)?) => {
        /// Generic mechanism parameters, as given on the command line or in a plan's
        /// `[evidence.mechanism]`; each mechanism reads what it needs and validates it.
        /// Declared once in [`mechanism_options!`].
        #[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
        #[cfg_attr(feature = "cli", derive(clap::Args))]
        pub struct MechanismOptions {
            /// Reference model: logistic (binary or one-vs-rest) or softmax.
            #[cfg_attr(feature = "cli", arg(long, value_enum))]
            pub model: Option<ModelKind>,
            $(
                $(#[doc = $doc])*
                #[cfg_attr(feature = "cli", arg(long))]
                pub $name: Option<$ty>,
            )*
        }
    };
}

mechanism_options!(define_mechanism_options! {});
