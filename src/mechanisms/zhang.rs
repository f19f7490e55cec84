//! Certified deep unlearning by an inverse-Hessian (LiSSA) Newton update with local convex
//! approximation, then Gaussian noise calibrated to an approximation-error bound Δ (Zhang,
//! Dong, Wang & Li, ICML 2024), on a small MLP; `docs/mechanisms.md` §2.8.

use ndarray::Array1;
use rand::RngExt;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::linear::{MAX_HIDDEN, MAX_STEPS, check_at_most, check_positive, gaussian_vector};
use super::output_perturbation::{perturb, run_sigma, variant_name};
use super::{Certificate, Mechanism, MechanismError, MechanismOptions, Split, model_error};
use crate::certify::gaussian::{Calibration, GaussianTarget};
use crate::models::{
    Dataset, Mlp, Model, ModelError, Objective, lissa_inverse_hvp, train_gradient_descent,
};

/// ChaCha8 seed and stream of the construction-time randomness (MLP initialisation, LiSSA
/// mini-batches of a single request); no run uses them.
const CONSTRUCTION_SEED: u64 = 0;
const CONSTRUCTION_STREAM: u64 = u64::MAX - 1;

/// Checked parameters of [`Zhang`] (defaults follow zhangbinchi/certified-deep-unlearning where
/// they carry over to a 64-feature MLP).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ZhangParams {
    /// Hidden tanh units (`--hidden`, default 16).
    pub hidden: usize,
    /// Weight decay λ of the mean-form objective `mean CE + (λ/2)‖θ‖²` (`--lambda`, 5e-4).
    pub weight_decay: f64,
    /// Norm bound C: training projects onto ‖θ‖ ≤ C after every step (`--projection-radius`, 20).
    pub norm_bound: f64,
    /// Training step size (`--learning-rate`, 0.5).
    pub learning_rate: f64,
    /// Full-batch projected training steps (`--steps`, 300).
    pub train_steps: usize,
    /// Local convex approximation γ added to the Hessian (`--damping`, 0.01).
    pub damping: f64,
    /// LiSSA scale (`--lissa-scale`, 10); must exceed half the damped Hessian's largest
    /// eigenvalue.
    pub lissa_scale: f64,
    /// LiSSA recursion depth (`--lissa-steps`, 1000).
    pub lissa_steps: usize,
    /// LiSSA mini-batch size (`--lissa-batch`, 64 rows drawn with replacement).
    pub lissa_batch: usize,
    /// Sequential requests: the forget set is removed in this many consecutive chunks, each
    /// followed by fresh noise (`--rounds`, 1).
    pub rounds: usize,
    /// The user-supplied approximation-error bound Δ ≥ ‖w̃ − w̃*‖ (`--approximation-error`).
    pub approximation_error: f64,
    /// Target ε (σ solved from Δ) unless `sigma` is given.
    pub epsilon: f64,
    /// δ ∈ (0, 1).
    pub delta: f64,
    /// A fixed σ (the authors' code fixes it): ε is then backed out from (Δ, σ).
    pub sigma: Option<f64>,
}

impl ZhangParams {
    /// Reads and validates the options. Δ is required: it is the paper's bound, which the
    /// mechanism cannot compute (it needs the Hessian-Lipschitz constant M and λ_min).
    pub fn from_options(name: &str, options: &MechanismOptions) -> Result<Self, MechanismError> {
        if options.model.is_some() {
            return Err(MechanismError::parameter(
                name,
                "model",
                "given",
                "zhang always trains the small tanh MLP (set its width with --hidden)",
            ));
        }
        let approximation_error = options.approximation_error.ok_or_else(|| {
            MechanismError::parameter(
                name,
                "approximation_error",
                "missing",
                "Zhang et al.'s noise is calibrated to the user-supplied bound Δ on ‖w̃ − w̃*‖ \
                 (--approximation-error)",
            )
        })?;
        let count = |parameter: &str, value: Option<usize>, default: usize| {
            let value = value.unwrap_or(default);
            if value == 0 {
                Err(MechanismError::parameter(
                    name,
                    parameter,
                    0,
                    "must be at least 1",
                ))
            } else {
                Ok(value)
            }
        };
        let delta = options.delta.unwrap_or(1e-5);
        if !(delta > 0.0 && delta < 1.0) {
            return Err(MechanismError::parameter(
                name,
                "delta",
                delta,
                "must lie in (0, 1)",
            ));
        }
        Ok(ZhangParams {
            hidden: check_at_most(
                name,
                "hidden",
                count("hidden", options.hidden, 16)?,
                MAX_HIDDEN,
            )?,
            weight_decay: check_non_negative(name, "lambda", options.lambda.unwrap_or(5e-4))?,
            norm_bound: check_positive(
                name,
                "projection_radius",
                options.projection_radius.unwrap_or(20.0),
            )?,
            learning_rate: check_positive(
                name,
                "learning_rate",
                options.learning_rate.unwrap_or(0.5),
            )?,
            train_steps: check_at_most(
                name,
                "steps",
                count("steps", options.steps, 300)?,
                MAX_STEPS,
            )?,
            damping: check_positive(name, "damping", options.damping.unwrap_or(0.01))?,
            lissa_scale: check_positive(name, "lissa_scale", options.lissa_scale.unwrap_or(10.0))?,
            lissa_steps: check_at_most(
                name,
                "lissa_steps",
                count("lissa_steps", options.lissa_steps, 1000)?,
                MAX_STEPS,
            )?,
            lissa_batch: count("lissa_batch", options.lissa_batch, 64)?,
            rounds: count("rounds", options.rounds, 1)?,
            approximation_error: check_positive(name, "approximation_error", approximation_error)?,
            epsilon: check_positive(name, "epsilon", options.epsilon.unwrap_or(1.0))?,
            delta,
            sigma: options
                .sigma
                .map(|s| check_positive(name, "sigma", s))
                .transpose()?,
        })
    }
}

fn check_non_negative(mechanism: &str, name: &str, value: f64) -> Result<f64, MechanismError> {
    if value >= 0.0 && value.is_finite() {
        Ok(value)
    } else {
        Err(MechanismError::parameter(
            mechanism,
            name,
            value,
            "must be non-negative and finite",
        ))
    }
}

/// Zhang et al.'s mechanism on a one-hidden-layer tanh MLP.
pub struct Zhang {
    name: &'static str,
    small_noise: bool,
    params: ZhangParams,
    split: Split,
    model: Mlp,
    sigma: f64,
    certificate: crate::certify::Certificate,
    /// Trained on D (projected), the starting point of every request.
    trained: Array1<f64>,
    /// Retrained on D \ D_f from the same initialisation (projected): the reference's mean.
    retrained: Array1<f64>,
    /// For one round: the un-noised update, deterministic and computed once.
    single_round_update: Option<Array1<f64>>,
    /// Rows of the full data left after each round (cumulative).
    remaining_after_round: Vec<Dataset>,
}

impl Zhang {
    /// Trains both models, computes the single-round update, and calibrates σ.
    pub fn new(
        split: Split,
        options: &MechanismOptions,
        small_noise: bool,
    ) -> Result<Self, MechanismError> {
        let name = variant_name(small_noise, "zhang", "zhang-small-noise");
        let params = ZhangParams::from_options(name, options)?;
        if params.rounds > split.forget.len() {
            return Err(MechanismError::parameter(
                name,
                "rounds",
                params.rounds,
                format!(
                    "cannot split {} forget rows into more rounds than rows",
                    split.forget.len()
                ),
            ));
        }
        let certify_error = |e: crate::certify::CertifyError| {
            MechanismError::parameter(name, "approximation_error/epsilon/delta", "", e.to_string())
        };
        let zhang = crate::certify::zhang::ZhangParams {
            approximation_error: params.approximation_error,
            delta: params.delta,
        }
        .check()
        .map_err(certify_error)?;
        // The paper calibrates classically; outside ε < 1 that σ can fall below the exact
        // (analytic) σ and stop certifying, so the larger of the two is used.
        let certificate = match params.sigma {
            Some(sigma) => zhang
                .certificate(GaussianTarget::Sigma(sigma), Calibration::Analytic)
                .map_err(certify_error)?,
            None => {
                let classical = zhang
                    .certificate(
                        GaussianTarget::Epsilon(params.epsilon),
                        Calibration::Classical,
                    )
                    .map_err(certify_error)?;
                let analytic = zhang
                    .certificate(
                        GaussianTarget::Epsilon(params.epsilon),
                        Calibration::Analytic,
                    )
                    .map_err(certify_error)?;
                if classical.sigma >= analytic.sigma {
                    classical
                } else {
                    analytic
                }
            }
        };
        let sigma = certificate.sigma.ok_or_else(|| {
            MechanismError::parameter(name, "sigma", "none", "certify returned no σ")
        })?;
        let model = Mlp::new(
            split.full.num_features(),
            params.hidden,
            split.full.num_classes,
        );
        let mut rng = construction_rng();
        let start = model.initial_params(&mut rng);
        let train = |data: &Dataset| {
            let objective = Objective {
                model: &model,
                data,
                l2: params.weight_decay * data.len() as f64,
                linear: None,
            };
            train_gradient_descent(
                &objective,
                start.clone(),
                params.learning_rate,
                params.train_steps,
                Some(params.norm_bound),
            )
        };
        let trained = train(&split.full).map_err(model_error(name))?;
        let retrained = train(&split.retain).map_err(model_error(name))?;
        let mut remaining_after_round = Vec::with_capacity(params.rounds);
        let mut keep = vec![true; split.full.len()];
        let forget_count = split.forget_indices.len();
        for round in 0..params.rounds {
            let (from, to) = round_range(forget_count, params.rounds, round);
            for &index in &split.forget_indices[from..to] {
                keep[index] = false;
            }
            let rows: Vec<usize> = (0..keep.len()).filter(|&i| keep[i]).collect();
            remaining_after_round.push(split.full.select(&rows));
        }
        let mut mechanism = Zhang {
            name,
            small_noise,
            params,
            split,
            model,
            sigma,
            certificate,
            trained,
            retrained,
            single_round_update: None,
            remaining_after_round,
        };
        if mechanism.params.rounds == 1 {
            let update = mechanism
                .newton_update(
                    &mechanism.trained,
                    &mechanism.remaining_after_round[0],
                    &mut rng,
                )
                .map_err(model_error(name))?;
            mechanism.single_round_update = Some(update);
        }
        Ok(mechanism)
    }

    /// `θ − H̃⁻¹g` with `g = ∇[mean CE on D_r](θ) + λθ` and `H̃ = ∇²[mean CE on a mini-batch]
    /// + (λ + γ)I`, `H̃⁻¹g` by LiSSA (one repetition, mini-batches drawn from `rng`).
    pub fn newton_update(
        &self,
        theta: &Array1<f64>,
        remaining: &Dataset,
        rng: &mut ChaCha8Rng,
    ) -> Result<Array1<f64>, ModelError> {
        let p = &self.params;
        let ws = theta.as_slice().expect("contiguous");
        let n = remaining.len() as f64;
        let (_, mut gradient) = self.model.loss_gradient(ws, remaining);
        gradient /= n;
        gradient.scaled_add(p.weight_decay, theta);
        let batches: Vec<Vec<usize>> = (0..p.lissa_steps)
            .map(|_| {
                (0..p.lissa_batch)
                    .map(|_| rng.random_range(0..remaining.len()))
                    .collect()
            })
            .collect();
        let shift = p.weight_decay + p.damping;
        let (inverse_product, _) = lissa_inverse_hvp(
            |v, step| {
                let batch = remaining.select(&batches[step]);
                let mut product = self.model.hvp(ws, v, &batch);
                product /= batch.len() as f64;
                product.scaled_add(shift, &ndarray::ArrayView1::from(v));
                product
            },
            &gradient,
            p.lissa_scale,
            p.lissa_steps,
            0.0,
        )?;
        if inverse_product.iter().any(|v| !v.is_finite()) {
            return Err(ModelError::Solve {
                solver: "LiSSA",
                reason: format!(
                    "the recursion diverged: raise --lissa-scale (now {}) above half the largest \
                     eigenvalue of the damped Hessian",
                    p.lissa_scale
                ),
            });
        }
        Ok(theta - &inverse_product)
    }

    /// ‖w̃ − w̃*‖ for one round: the distance between the un-noised update and the retrained
    /// model (a lower bound on any valid Δ; `None` for sequential requests, whose pre-noise
    /// point is random).
    pub fn measured_approximation_error(&self) -> Option<f64> {
        self.single_round_update.as_ref().map(|u| {
            let d = u - &self.retrained;
            d.dot(&d).sqrt()
        })
    }

    fn noise_sigma(&self) -> f64 {
        run_sigma(self.sigma, self.small_noise)
    }
}

/// Forget rows `[from, to)` of `round` when `count` rows are split into `rounds` chunks.
fn round_range(count: usize, rounds: usize, round: usize) -> (usize, usize) {
    (count * round / rounds, count * (round + 1) / rounds)
}

fn construction_rng() -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(CONSTRUCTION_SEED);
    rng.set_stream(CONSTRUCTION_STREAM);
    rng
}

impl Mechanism for Zhang {
    fn name(&self) -> &str {
        self.name
    }
    fn model(&self) -> &dyn Model {
        &self.model
    }
    fn forget_set(&self) -> &Dataset {
        &self.split.forget
    }

    fn unlearn(&self, rng: &mut ChaCha8Rng) -> Result<Array1<f64>, MechanismError> {
        let sigma = self.noise_sigma();
        if let Some(update) = &self.single_round_update {
            return Ok(perturb(update, sigma, rng));
        }
        // Sequential requests: each round updates the previous round's noisy release
        // (zhangbinchi/certified-deep-unlearning `sequential_unlearning.py`).
        let mut theta = self.trained.clone();
        for remaining in &self.remaining_after_round {
            theta = self
                .newton_update(&theta, remaining, rng)
                .map_err(model_error(self.name))?;
            theta += &gaussian_vector(rng, theta.len(), sigma);
        }
        Ok(theta)
    }

    fn reference(&self, rng: &mut ChaCha8Rng) -> Result<Array1<f64>, MechanismError> {
        Ok(perturb(&self.retrained, self.sigma, rng))
    }

    fn certificate(&self) -> Certificate {
        let certificate = self.certificate.clone().with_reason(
            "Zhang et al. 2024: Gaussian mechanism on the approximation-error bound Δ via \
             certify::zhang (docs/mechanisms.md §2.8); valid only if Δ really bounds ‖w̃ − w̃*‖",
        );
        if self.small_noise {
            return certificate.as_claimed_by_faulty_variant("the output noise has σ/10");
        }
        match self.measured_approximation_error() {
            Some(measured) if measured > self.params.approximation_error => certificate
                .with_assumption_violated(&format!(
                    "the supplied approximation-error bound Δ = {} is below the measured \
                     ‖w̃ − w̃*‖ = {measured}",
                    self.params.approximation_error
                )),
            _ => certificate,
        }
    }

    fn parameters(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(&self.params).unwrap_or(serde_json::Value::Null);
        if let Some(object) = value.as_object_mut() {
            object.insert("model".into(), "mlp".into());
            object.insert("sigma".into(), self.sigma.into());
            object.insert("epsilon".into(), self.certificate.epsilon.into());
            object.insert(
                "calibration".into(),
                self.certificate
                    .calibration
                    .clone()
                    .map(serde_json::Value::from)
                    .unwrap_or(serde_json::Value::Null),
            );
            object.insert(
                "measured_approximation_error".into(),
                self.measured_approximation_error()
                    .map(serde_json::Value::from)
                    .unwrap_or(serde_json::Value::Null),
            );
            if let Some(measured) = self.measured_approximation_error() {
                // A Δ below the measured distance cannot be a valid bound: the certificate
                // is then a claim an audit should be able to refute.
                object.insert(
                    "approximation_error_covers_measured".into(),
                    (self.params.approximation_error >= measured).into(),
                );
            } else {
                object.insert(
                    "measured_approximation_error_reason".into(),
                    "sequential requests: the pre-noise point of the last round is random".into(),
                );
            }
            // σ, ε and the other calibrations (classical / analytic / zCDP) from certify.
            object.insert(
                "certify_intermediate".into(),
                serde_json::Value::Object(self.certificate.intermediate.clone()),
            );
            object.insert("feature_scale".into(), self.split.feature_scale.into());
        }
        value
    }
}
