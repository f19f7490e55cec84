//! Noisy fine-tuning on the retain set from the clipped original model, gradient-clipping
//! variant (Koloskova, Allouah, Jha, Guerraoui, Koyejo, ICML 2025; "PABI"),
//! `docs/mechanisms.md` §2.5.

use ndarray::Array1;
use rand_chacha::ChaCha8Rng;

use super::linear::{check_positive, gaussian_vector, train_full_and_retain};
use super::output_perturbation::{claimed_certificate, run_sigma, variant_name};
use super::{
    Certificate, Mechanism, MechanismError, MechanismOptions, ModelKind, Split, model_error,
};
use crate::certify::koloskova::{GradientClipParams, default_noisy_steps};
use crate::certify::renyi::AlphaRange;
use crate::models::{Dataset, Model, Objective};

/// Clipping radius C0 of the initial model (default).
pub const DEFAULT_MODEL_CLIP: f64 = 5.0;
/// Gradient clipping norm C1 (default).
pub const DEFAULT_GRADIENT_CLIP: f64 = 1.0;

/// Unlearn: `x₀ = Π_{C0}(x̂)` with x̂ the exact (unperturbed) minimiser on D, then T steps
/// `x ← x − η(Π_{C1}(∇F_r(x)) + λx) + N(0, σ²I)` with `F_r` the mean loss on the retain set.
/// Reference (the certifying algorithm Ā): the same steps from `Π_{C0}(x̂')`, x̂' the exact
/// minimiser on the retain set. σ from `certify::koloskova` (Rényi accountant, improved
/// conversion). The minimisers are deterministic and computed once; runs draw only ξ_t.
pub struct Koloskova {
    name: &'static str,
    small_noise: bool,
    split: Split,
    model: Box<dyn Model>,
    step_size: f64,
    weight_decay: f64,
    gradient_clip: f64,
    steps: usize,
    sigma: f64,
    certificate: crate::certify::Certificate,
    start_unlearn: Array1<f64>,
    start_reference: Array1<f64>,
    parameters: serde_json::Value,
}

fn clip(mut v: Array1<f64>, radius: f64) -> Array1<f64> {
    let norm = v.dot(&v).sqrt();
    if norm > radius {
        v *= radius / norm;
    }
    v
}

impl Koloskova {
    /// `--sigma` is not taken: σ is solved for the target (ε, δ). `--steps` overrides the
    /// default ⌈C0/(C1η)⌉; `--learning-rate` is η (default 0.5); `--lambda` is the training
    /// regulariser (default 0.01); `--model-clip` is C0 (5), `--gradient-clip` is C1 (1); the
    /// fine-tuning weight decay is 0.
    pub fn new(
        split: Split,
        options: &MechanismOptions,
        small_noise: bool,
    ) -> Result<Self, MechanismError> {
        let name = variant_name(
            small_noise,
            "koloskova-gradient-clip",
            "koloskova-gradient-clip-small-noise",
        );
        let lambda = check_positive(name, "lambda", options.lambda.unwrap_or(0.01))?;
        let epsilon = check_positive(name, "epsilon", options.epsilon.unwrap_or(1.0))?;
        let step_size =
            check_positive(name, "learning_rate", options.learning_rate.unwrap_or(0.5))?;
        let delta = options.delta.unwrap_or(1e-5);
        let model_clip = check_positive(
            name,
            "model_clip",
            options.model_clip.unwrap_or(DEFAULT_MODEL_CLIP),
        )?;
        let gradient_clip = check_positive(
            name,
            "gradient_clip",
            options.gradient_clip.unwrap_or(DEFAULT_GRADIENT_CLIP),
        )?;
        let weight_decay = 0.0;
        let certify_error = |e: crate::certify::CertifyError| {
            MechanismError::parameter(
                name,
                "epsilon/delta/steps",
                format!("({epsilon}, {delta})"),
                e.to_string(),
            )
        };
        let steps = match options.steps {
            Some(0) => {
                return Err(MechanismError::parameter(
                    name,
                    "steps",
                    0,
                    "needs at least one noisy step",
                ));
            }
            Some(t) => {
                super::linear::check_at_most(name, "steps", t, super::linear::MAX_STEPS)? as u64
            }
            None => default_noisy_steps(model_clip, gradient_clip, step_size, weight_decay)
                .map_err(certify_error)?,
        };
        super::linear::check_at_most(
            name,
            "steps",
            usize::try_from(steps).unwrap_or(usize::MAX),
            super::linear::MAX_STEPS,
        )?;
        let accountant = GradientClipParams {
            model_clip,
            gradient_clip,
            step_size,
            weight_decay,
            steps,
        }
        .check()
        .map_err(certify_error)?;
        let range = AlphaRange::default();
        let sigma = accountant
            .sigma_for_epsilon(epsilon, delta, range)
            .map_err(certify_error)?;
        let certificate = accountant
            .certificate(sigma, delta, range)
            .map_err(certify_error)?;
        let model = options
            .model
            .unwrap_or(ModelKind::Softmax)
            .build(&split.full);
        let (trained, retrained) =
            train_full_and_retain(model.as_ref(), &split, lambda).map_err(model_error(name))?;
        let parameters = serde_json::json!({
            "model": model.name(),
            "lambda": lambda,
            "model_clip": model_clip,
            "gradient_clip": gradient_clip,
            "step_size": step_size,
            "weight_decay": weight_decay,
            "steps": steps,
            "sigma": sigma,
            "epsilon": certificate.epsilon,
            "delta": certificate.delta,
            "feature_scale": split.feature_scale,
        });
        Ok(Koloskova {
            name,
            small_noise,
            step_size,
            weight_decay,
            gradient_clip,
            steps: steps as usize,
            sigma,
            certificate,
            start_unlearn: clip(trained, model_clip),
            start_reference: clip(retrained, model_clip),
            split,
            model,
            parameters,
        })
    }

    fn noisy_fine_tune(&self, mut x: Array1<f64>, sigma: f64, rng: &mut ChaCha8Rng) -> Array1<f64> {
        let retain = &self.split.retain;
        let objective = Objective {
            model: self.model.as_ref(),
            data: retain,
            l2: 0.0,
            linear: None,
        };
        let n = retain.len() as f64;
        for _ in 0..self.steps {
            let (_, gradient) = objective.value_gradient(x.as_slice().expect("contiguous"));
            let gradient = clip(gradient / n, self.gradient_clip);
            x *= 1.0 - self.step_size * self.weight_decay;
            x.scaled_add(-self.step_size, &gradient);
            x += &gaussian_vector(rng, x.len(), sigma);
        }
        x
    }
}

impl Mechanism for Koloskova {
    fn name(&self) -> &str {
        self.name
    }
    fn model(&self) -> &dyn Model {
        self.model.as_ref()
    }
    fn forget_set(&self) -> &Dataset {
        &self.split.forget
    }
    fn unlearn(&self, rng: &mut ChaCha8Rng) -> Result<Array1<f64>, MechanismError> {
        let sigma = run_sigma(self.sigma, self.small_noise);
        Ok(self.noisy_fine_tune(self.start_unlearn.clone(), sigma, rng))
    }
    fn reference(&self, rng: &mut ChaCha8Rng) -> Result<Array1<f64>, MechanismError> {
        Ok(self.noisy_fine_tune(self.start_reference.clone(), self.sigma, rng))
    }
    fn certificate(&self) -> Certificate {
        claimed_certificate(
            self.certificate.clone().with_reason(
                "Koloskova et al. 2025 gradient clipping: Rényi accountant with improved conversion via \
                 certify::koloskova (docs/mechanisms.md §2.5)",
            ),
            self.small_noise,
            "the per-step noise has σ/10",
        )
    }
    fn parameters(&self) -> serde_json::Value {
        self.parameters.clone()
    }
}
