//! `unlearn-audit certify <mechanism>`: the theoretical (ε, δ) a mechanism's parameters
//! certify (docs/certificates.md). Every result is a `Certificate` finding (outcome Info);
//! invalid parameters exit 2 with the parameter and the violated assumption.

use unlearn_audit::certify::gaussian::{self, Calibration, GaussianTarget};
use unlearn_audit::certify::koloskova::{self, GradientClipParams, ModelClipParams};
use unlearn_audit::certify::renyi::{self, AlphaRange, RenyiConversion};
use unlearn_audit::certify::{
    Certificate, descent_to_delete, guo, output_perturbation, sekhari, zhang,
};

/// Arguments of `unlearn-audit certify`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the JSON report instead of a table.
    #[arg(long, global = true)]
    json: bool,

    #[command(subcommand)]
    mechanism: Mechanism,
}

/// Either a target ε (solve σ) or a noise σ (solve ε).
#[derive(Debug, clap::Args)]
struct Target {
    /// Target ε: solve for σ.
    #[arg(long, conflicts_with = "sigma", required_unless_present = "sigma")]
    epsilon: Option<f64>,
    /// Noise standard deviation σ: solve for ε.
    #[arg(long)]
    sigma: Option<f64>,
    /// δ, in (0, 1).
    #[arg(long)]
    delta: f64,
    /// Gaussian calibration of the headline numbers (the others are listed too).
    #[arg(long, value_enum, default_value = "analytic")]
    calibration: Calibration,
}

impl Target {
    fn target(&self) -> GaussianTarget {
        match (self.epsilon, self.sigma) {
            (Some(epsilon), _) => GaussianTarget::Epsilon(epsilon),
            (None, Some(sigma)) => GaussianTarget::Sigma(sigma),
            (None, None) => unreachable!("clap requires --epsilon or --sigma"),
        }
    }
}

#[derive(Debug, clap::Subcommand)]
enum Mechanism {
    /// Gaussian mechanism: σ from (Δ, ε, δ) or ε from (Δ, σ, δ).
    Gaussian {
        /// L2 sensitivity Δ.
        #[arg(long)]
        sensitivity: f64,
        #[command(flatten)]
        target: Target,
    },
    /// Guo et al. 2020 certified removal: ε = c·β/σ, c = √(2 ln(1.5/δ)).
    Guo {
        /// β: accumulated gradient-residual bound; without it the worst-case bound (Thm 1)
        /// from --lambda, --n, --removals, --gamma, --gradient-bound is used.
        #[arg(long)]
        residual_bound: Option<f64>,
        /// γ: Lipschitz constant of ℓ'' (logistic: 0.25).
        #[arg(long, default_value_t = 0.25)]
        gamma: f64,
        /// C: bound on |ℓ'| (logistic: 1).
        #[arg(long, default_value_t = 1.0)]
        gradient_bound: f64,
        /// λ: L2 regularisation.
        #[arg(long)]
        lambda: Option<f64>,
        /// n: training-set size before the removals.
        #[arg(long)]
        n: Option<u64>,
        /// Number of sequential single-point removals.
        #[arg(long, default_value_t = 1)]
        removals: u64,
        /// σ of the loss perturbation: solve ε.
        #[arg(long, conflicts_with = "epsilon", required_unless_present = "epsilon")]
        sigma: Option<f64>,
        /// Target ε: solve σ.
        #[arg(long)]
        epsilon: Option<f64>,
        /// δ, in (0, 1).
        #[arg(long)]
        delta: f64,
    },
    /// Neel et al. 2021 Descent-to-Delete (Thm 3.1).
    D2d {
        #[arg(long)]
        n: u64,
        /// T: gradient iterations per update.
        #[arg(long)]
        iterations: u64,
        /// L: Lipschitz constant of the loss.
        #[arg(long)]
        lipschitz: f64,
        /// m: strong convexity.
        #[arg(long)]
        strong_convexity: f64,
        /// M: smoothness.
        #[arg(long)]
        smoothness: f64,
        /// η (default 2/(m + M)); must be ≤ 2/(m + M).
        #[arg(long)]
        step_size: Option<f64>,
        #[command(flatten)]
        target: Target,
    },
    /// Sekhari et al. 2021: γ = 2ML²m²/(λ³n²).
    Sekhari {
        /// M: Hessian Lipschitz constant.
        #[arg(long)]
        hessian_lipschitz: f64,
        /// L: Lipschitz constant.
        #[arg(long)]
        lipschitz: f64,
        /// λ: strong convexity.
        #[arg(long)]
        strong_convexity: f64,
        /// m: deleted points.
        #[arg(long)]
        deletions: u64,
        /// n: training-set size.
        #[arg(long)]
        n: u64,
        #[command(flatten)]
        target: Target,
    },
    /// Zhang et al. 2024: σ from the approximation-error bound Δ, or ε back from σ.
    Zhang {
        /// Δ: approximation-error bound.
        #[arg(long)]
        approximation_error: f64,
        #[command(flatten)]
        target: Target,
    },
    /// Koloskova et al. 2025, gradient clipping: Rényi accountant + improved conversion.
    KoloskovaGradientClip {
        /// C0: initial model clipping radius.
        #[arg(long)]
        model_clip: f64,
        /// C1: gradient clipping norm.
        #[arg(long)]
        gradient_clip: f64,
        /// η: step size.
        #[arg(long)]
        step_size: f64,
        /// λ: weight decay.
        #[arg(long, default_value_t = 0.0)]
        weight_decay: f64,
        /// T: noisy steps (default: the public code's ⌈C0/(C1η)⌉ rule).
        #[arg(long)]
        steps: Option<u64>,
        /// σ per step: solve ε.
        #[arg(long, conflicts_with = "epsilon", required_unless_present = "epsilon")]
        sigma: Option<f64>,
        /// Target ε: solve σ.
        #[arg(long)]
        epsilon: Option<f64>,
        /// δ, in (0, 1).
        #[arg(long)]
        delta: f64,
        /// Smallest Rényi order searched.
        #[arg(long, default_value_t = 1.000001)]
        alpha_min: f64,
        /// Largest Rényi order searched.
        #[arg(long, default_value_t = 1e7)]
        alpha_max: f64,
    },
    /// Koloskova et al. 2025, model clipping: the δ recursion at fixed ε.
    KoloskovaModelClip {
        /// C0: initial model clipping radius.
        #[arg(long)]
        model_clip: f64,
        /// σ0: noise on the clipped initial model (0: none).
        #[arg(long, default_value_t = 0.0)]
        initial_sigma: f64,
        /// C2: projection radius of each step.
        #[arg(long)]
        projection_radius: f64,
        /// σ per step.
        #[arg(long)]
        sigma: f64,
        /// ε of the certificate.
        #[arg(long)]
        epsilon: f64,
        /// T: noisy steps.
        #[arg(long)]
        steps: u64,
        /// C1, for the gradient-clipped variant (noise before projection).
        #[arg(long, requires = "step_size")]
        gradient_clip: Option<f64>,
        /// η, for the gradient-clipped variant.
        #[arg(long, requires = "gradient_clip")]
        step_size: Option<f64>,
    },
    /// Koloskova et al.'s output-perturbation baseline: sensitivity 2·C0.
    OutputPerturbation {
        /// C0: model clipping radius.
        #[arg(long)]
        clip_radius: f64,
        #[command(flatten)]
        target: Target,
    },
    /// Converts a linear Rényi curve R(α) = α·slope to (ε, δ).
    RdpConvert {
        /// The Rényi slope (RDP of order α divided by α; = zCDP ρ).
        #[arg(long)]
        renyi_slope: f64,
        /// δ, in (0, 1).
        #[arg(long)]
        delta: f64,
        /// Conversion.
        #[arg(long, value_enum, default_value = "improved")]
        conversion: ConversionArg,
        #[arg(long, default_value_t = 1.000001)]
        alpha_min: f64,
        #[arg(long, default_value_t = 1e7)]
        alpha_max: f64,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ConversionArg {
    Standard,
    Improved,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let certificate = certificate(args.mechanism)?;
    crate::cli::emit(&certificate, args.json)
}

fn certificate(mechanism: Mechanism) -> anyhow::Result<Certificate> {
    Ok(match mechanism {
        Mechanism::Gaussian {
            sensitivity,
            target,
        } => gaussian::gaussian_certificate(
            "gaussian",
            sensitivity,
            target.target(),
            target.delta,
            target.calibration.into(),
            "docs/certificates.md §1",
        )?
        .parameter("sensitivity", sensitivity)
        .parameter("delta", target.delta),
        Mechanism::Guo {
            residual_bound,
            gamma,
            gradient_bound,
            lambda,
            n,
            removals,
            sigma,
            epsilon,
            delta,
        } => {
            let (beta, worst_case) = match (residual_bound, lambda, n) {
                (Some(beta), _, _) => (beta, false),
                (None, Some(lambda), Some(n)) => (
                    guo::worst_case_residual_bound_sequential(
                        gamma,
                        gradient_bound,
                        lambda,
                        n,
                        removals,
                    )?,
                    true,
                ),
                _ => anyhow::bail!(
                    "guo needs --residual-bound, or --lambda and --n for the worst-case bound"
                ),
            };
            let sigma = match (sigma, epsilon) {
                (Some(sigma), _) => sigma,
                (None, Some(epsilon)) => guo::sigma_for_epsilon(beta, epsilon, delta)?,
                (None, None) => unreachable!("clap requires --sigma or --epsilon"),
            };
            let mut certificate = guo::GuoParams {
                residual_bound: beta,
                sigma,
                delta,
            }
            .check()?
            .certificate();
            if worst_case {
                certificate = certificate
                    .parameter("gamma", gamma)
                    .parameter("gradient_bound", gradient_bound)
                    .parameter("lambda", lambda.unwrap_or(f64::NAN))
                    .parameter("n", n.unwrap_or(0) as f64)
                    .parameter("removals", removals as f64)
                    .intermediate_text("residual_bound_kind", "worst_case_theorem_1");
            }
            certificate
        }
        Mechanism::D2d {
            n,
            iterations,
            lipschitz,
            strong_convexity,
            smoothness,
            step_size,
            target,
        } => descent_to_delete::DescentToDeleteParams {
            n,
            iterations,
            lipschitz,
            strong_convexity,
            smoothness,
            step_size,
            delta: target.delta,
        }
        .check()?
        .certificate(target.target(), target.calibration.into())?,
        Mechanism::Sekhari {
            hessian_lipschitz,
            lipschitz,
            strong_convexity,
            deletions,
            n,
            target,
        } => sekhari::SekhariParams {
            hessian_lipschitz,
            lipschitz,
            strong_convexity,
            deletions,
            n,
            delta: target.delta,
        }
        .check()?
        .certificate(target.target(), target.calibration.into())?,
        Mechanism::Zhang {
            approximation_error,
            target,
        } => zhang::ZhangParams {
            approximation_error,
            delta: target.delta,
        }
        .check()?
        .certificate(target.target(), target.calibration.into())?,
        Mechanism::KoloskovaGradientClip {
            model_clip,
            gradient_clip,
            step_size,
            weight_decay,
            steps,
            sigma,
            epsilon,
            delta,
            alpha_min,
            alpha_max,
        } => {
            let steps = match steps {
                Some(steps) => steps,
                None => koloskova::default_noisy_steps(
                    model_clip,
                    gradient_clip,
                    step_size,
                    weight_decay,
                )?,
            };
            let mechanism = GradientClipParams {
                model_clip,
                gradient_clip,
                step_size,
                weight_decay,
                steps,
            }
            .check()?;
            let range = AlphaRange {
                min: alpha_min,
                max: alpha_max,
            };
            let sigma = match (sigma, epsilon) {
                (Some(sigma), _) => sigma,
                (None, Some(epsilon)) => mechanism.sigma_for_epsilon(epsilon, delta, range)?,
                (None, None) => unreachable!("clap requires --sigma or --epsilon"),
            };
            mechanism.certificate(sigma, delta, range)?
        }
        Mechanism::KoloskovaModelClip {
            model_clip,
            initial_sigma,
            projection_radius,
            sigma,
            epsilon,
            steps,
            gradient_clip,
            step_size,
        } => ModelClipParams {
            model_clip,
            initial_sigma,
            projection_radius,
            sigma,
            epsilon,
            gradient_clip_and_step: gradient_clip.zip(step_size),
        }
        .check()?
        .certificate(steps)?,
        Mechanism::OutputPerturbation {
            clip_radius,
            target,
        } => output_perturbation::OutputPerturbationParams {
            clip_radius,
            delta: target.delta,
        }
        .check()?
        .certificate(target.target(), target.calibration.into())?,
        Mechanism::RdpConvert {
            renyi_slope,
            delta,
            conversion,
            alpha_min,
            alpha_max,
        } => {
            let conversion = match conversion {
                ConversionArg::Standard => RenyiConversion::Standard,
                ConversionArg::Improved => RenyiConversion::Improved,
            };
            let range = AlphaRange {
                min: alpha_min,
                max: alpha_max,
            };
            let result = renyi::epsilon_from_rdp_slope(renyi_slope, delta, conversion, range)?;
            Certificate::new(
                "rdp_convert",
                result.epsilon,
                result.delta,
                "docs/certificates.md §2",
            )
            .parameter("renyi_slope", renyi_slope)
            .parameter("delta", delta)
            .intermediate("alpha", result.alpha)
            .intermediate("alpha_min", alpha_min)
            .intermediate("alpha_max", alpha_max)
            .intermediate_text("conversion", conversion.name())
        }
    })
}
