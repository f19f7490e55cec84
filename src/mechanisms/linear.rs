//! Exact retraining (the reference of every mechanism), its "forget set never removed" twin,
//! and plain fine-tuning on the retain set (`docs/mechanisms.md` §2.1, §2.7).

use ndarray::Array1;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use super::{
    Certificate, Mechanism, MechanismError, MechanismOptions, ModelKind, Split, model_error,
};
use crate::models::{Dataset, Model, Objective, TrainOptions, train_lbfgs};

/// `σ·N(0, I_len)` drawn from `rng`.
pub(crate) fn gaussian_vector(rng: &mut ChaCha8Rng, len: usize, sigma: f64) -> Array1<f64> {
    Array1::from_shape_fn(len, |_| {
        let z: f64 = StandardNormal.sample(rng);
        sigma * z
    })
}

/// Minimiser of `Σℓ + (λ|data|/2)‖w‖² + bᵀw` from `start`.
pub(crate) fn train_perturbed(
    model: &dyn Model,
    data: &Dataset,
    lambda: f64,
    perturbation: Option<&Array1<f64>>,
    start: Array1<f64>,
) -> Result<Array1<f64>, crate::models::ModelError> {
    let objective = Objective {
        model,
        data,
        l2: lambda * data.len() as f64,
        linear: perturbation,
    };
    train_lbfgs(&objective, start, &TrainOptions::default())
}

/// The unperturbed minimisers on the full data (trained from 0) and on the retain data
/// (warm-started from the first): the starting points every mechanism builds on.
pub(crate) fn train_full_and_retain(
    model: &dyn Model,
    split: &Split,
    lambda: f64,
) -> Result<(Array1<f64>, Array1<f64>), crate::models::ModelError> {
    let zeros = Array1::zeros(model.num_params());
    let full = train_perturbed(model, &split.full, lambda, None, zeros)?;
    let retain = train_perturbed(model, &split.retain, lambda, None, full.clone())?;
    Ok((full, retain))
}

/// Most steps (descent, fine-tuning, noisy or LiSSA steps, iterations per deletion) one run
/// of a mechanism may take: every run is a full pass over the data per step, so a larger
/// count cannot finish in bounded time (`docs/mechanisms.md` §2, parameter caps).
pub const MAX_STEPS: usize = 100_000;

/// Most hidden units of an MLP: bounds the parameter vector (`d·h + h + h·k + k`) and the time
/// of one gradient.
pub const MAX_HIDDEN: usize = 4096;

/// Checks a step count against [`MAX_STEPS`] (or `max`).
pub(crate) fn check_at_most(
    mechanism: &str,
    name: &str,
    value: usize,
    max: usize,
) -> Result<usize, MechanismError> {
    if value <= max {
        Ok(value)
    } else {
        Err(MechanismError::parameter(
            mechanism,
            name,
            value,
            format!(
                "at most {max} (each step is a pass over the data; a larger count cannot finish \
                 in bounded time; docs/mechanisms.md §2)"
            ),
        ))
    }
}

/// Largest `σ·√p / (λ·n)` of an objective perturbation `bᵀw`, `b ~ N(0, σ²I_p)`, on `n`
/// examples with the per-example L2 coefficient λ. The perturbed minimiser has
/// `‖w*‖ ≤ (‖b‖ + n)/(λn)` (|ℓ'| ≤ 1, ‖x‖ ≤ 1), so beyond this ratio the logits reach 10⁶:
/// the loss is saturated at every example (its gradient underflows), the published model is
/// `−b/(λn)` to rounding with no trace of the data, and L-BFGS's line search stalls (the
/// `--sigma 1e10` hang). Such a σ is refused (`docs/mechanisms.md` §2, parameter caps).
pub const MAX_PERTURBATION_RATIO: f64 = 1e6;

/// Refuses a σ whose objective perturbation swamps the data ([`MAX_PERTURBATION_RATIO`]).
pub(crate) fn check_perturbation_scale(
    mechanism: &str,
    sigma: f64,
    lambda: f64,
    examples: usize,
    num_params: usize,
) -> Result<(), MechanismError> {
    let ratio = sigma * (num_params as f64).sqrt() / (lambda * examples.max(1) as f64);
    if ratio.is_finite() && ratio <= MAX_PERTURBATION_RATIO {
        return Ok(());
    }
    let largest =
        MAX_PERTURBATION_RATIO * lambda * examples.max(1) as f64 / (num_params as f64).sqrt();
    Err(MechanismError::parameter(
        mechanism,
        "sigma",
        format!("{sigma:e}"),
        format!(
            "σ·√p/(λn) = {ratio:.3e} exceeds {MAX_PERTURBATION_RATIO:e} (p = {num_params} \
             parameters, n = {examples}, λ = {lambda}): the perturbation swamps the loss, every \
             example is saturated and the minimiser cannot be computed; use σ ≤ {largest:.3e} \
             or a larger λ (docs/mechanisms.md §2)"
        ),
    ))
}

pub(crate) fn check_positive(
    mechanism: &str,
    name: &str,
    value: f64,
) -> Result<f64, MechanismError> {
    if value > 0.0 && value.is_finite() {
        Ok(value)
    } else {
        Err(MechanismError::parameter(
            mechanism,
            name,
            value,
            "must be positive and finite",
        ))
    }
}

/// What the retraining family does instead of retraining, if anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetrainFault {
    /// Exact retraining on the retain set.
    None,
    /// Faulty: trains on the full data; the forget set is never removed.
    ForgetSetKept,
    /// Not certified: trains on the full data, then fine-tunes by gradient descent on the
    /// retain set for a few steps.
    FineTuneOnly,
}

/// Checked parameters of [`Retrain`].
#[derive(Debug, Clone, PartialEq)]
pub struct RetrainParams {
    pub model: ModelKind,
    /// Per-example L2 coefficient λ > 0 (strong convexity makes the minimiser unique).
    pub lambda: f64,
    /// Standard deviation of the objective perturbation `b ~ N(0, σ²I)`, the training
    /// randomness (σ = 0: deterministic training).
    pub sigma: f64,
    /// Fine-tuning steps (finetune only).
    pub steps: usize,
    /// Fine-tuning step size on the mean objective (finetune only).
    pub learning_rate: f64,
    pub fault: RetrainFault,
}

impl RetrainParams {
    /// Defaults: softmax, λ = 1e-2, σ = 1, 10 steps of size 1.
    pub fn from_options(
        options: &MechanismOptions,
        fault: RetrainFault,
    ) -> Result<Self, MechanismError> {
        let name = match fault {
            RetrainFault::None => "retrain",
            RetrainFault::ForgetSetKept => "retrain-no-removal",
            RetrainFault::FineTuneOnly => "finetune",
        };
        let lambda = check_positive(name, "lambda", options.lambda.unwrap_or(1e-2))?;
        let sigma = options.sigma.unwrap_or(1.0);
        if !(sigma >= 0.0 && sigma.is_finite()) {
            return Err(MechanismError::parameter(
                name,
                "sigma",
                sigma,
                "must be non-negative and finite",
            ));
        }
        let learning_rate =
            check_positive(name, "learning_rate", options.learning_rate.unwrap_or(1.0))?;
        Ok(RetrainParams {
            model: options.model.unwrap_or(ModelKind::Softmax),
            lambda,
            sigma,
            steps: check_at_most(name, "steps", options.steps.unwrap_or(10), MAX_STEPS)?,
            learning_rate,
            fault,
        })
    }
}

/// Retraining from scratch on the retain set with objective perturbation as the training
/// randomness, and its fine-tuning and faulty twins.
pub struct Retrain {
    name: &'static str,
    params: RetrainParams,
    split: Split,
    model: Box<dyn Model>,
    /// Unperturbed minimisers: exact warm starts (the perturbed objective is strongly convex,
    /// so its minimiser does not depend on the start).
    warm_full: Array1<f64>,
    warm_retain: Array1<f64>,
}

impl Retrain {
    /// Pre-computes the unperturbed minimisers on the full and retain data.
    pub fn new(split: Split, params: RetrainParams) -> Result<Self, MechanismError> {
        let name = match params.fault {
            RetrainFault::None => "retrain",
            RetrainFault::ForgetSetKept => "retrain-no-removal",
            RetrainFault::FineTuneOnly => "finetune",
        };
        let model = params.model.build(&split.full);
        check_perturbation_scale(
            name,
            params.sigma,
            params.lambda,
            split.retain.len(),
            model.num_params(),
        )?;
        let (warm_full, warm_retain) = train_full_and_retain(model.as_ref(), &split, params.lambda)
            .map_err(model_error(name))?;
        Ok(Retrain {
            name,
            params,
            split,
            model,
            warm_full,
            warm_retain,
        })
    }

    fn perturbation(&self, rng: &mut ChaCha8Rng) -> Option<Array1<f64>> {
        (self.params.sigma > 0.0)
            .then(|| gaussian_vector(rng, self.model.num_params(), self.params.sigma))
    }
}

impl Mechanism for Retrain {
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
        let b = self.perturbation(rng);
        let p = &self.params;
        match p.fault {
            RetrainFault::None => train_perturbed(
                self.model.as_ref(),
                &self.split.retain,
                p.lambda,
                b.as_ref(),
                self.warm_retain.clone(),
            ),
            RetrainFault::ForgetSetKept => train_perturbed(
                self.model.as_ref(),
                &self.split.full,
                p.lambda,
                b.as_ref(),
                self.warm_full.clone(),
            ),
            RetrainFault::FineTuneOnly => {
                let mut w = train_perturbed(
                    self.model.as_ref(),
                    &self.split.full,
                    p.lambda,
                    b.as_ref(),
                    self.warm_full.clone(),
                )
                .map_err(model_error(self.name))?;
                let retain = &self.split.retain;
                let objective = Objective {
                    model: self.model.as_ref(),
                    data: retain,
                    l2: p.lambda * retain.len() as f64,
                    linear: b.as_ref(),
                };
                let step = p.learning_rate / retain.len() as f64;
                for _ in 0..p.steps {
                    let (_, gradient) = objective.value_gradient(w.as_slice().expect("contiguous"));
                    w.scaled_add(-step, &gradient);
                }
                Ok(w)
            }
        }
        .map_err(model_error(self.name))
    }

    fn reference(&self, rng: &mut ChaCha8Rng) -> Result<Array1<f64>, MechanismError> {
        let b = self.perturbation(rng);
        train_perturbed(
            self.model.as_ref(),
            &self.split.retain,
            self.params.lambda,
            b.as_ref(),
            self.warm_retain.clone(),
        )
        .map_err(model_error(self.name))
    }

    fn certificate(&self) -> Certificate {
        match self.params.fault {
            RetrainFault::None => Certificate::exact(
                "retraining on the retain set: both sides are the same procedure (docs/mechanisms.md §2.1)",
            ),
            RetrainFault::ForgetSetKept => Certificate::exact("exact retraining")
                .as_claimed_by_faulty_variant("the forget set is never removed"),
            RetrainFault::FineTuneOnly => Certificate::none(
                "fine-tuning on the retain set is not a certified mechanism (docs/mechanisms.md §2.7)",
            ),
        }
    }

    fn parameters(&self) -> serde_json::Value {
        let p = &self.params;
        let mut value = serde_json::json!({
            "model": p.model,
            "lambda": p.lambda,
            "sigma": p.sigma,
            "feature_scale": self.split.feature_scale,
        });
        if p.fault == RetrainFault::FineTuneOnly {
            value["steps"] = p.steps.into();
            value["learning_rate"] = p.learning_rate.into();
        }
        value
    }
}
