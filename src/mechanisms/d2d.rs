//! Descent-to-Delete (Neel, Roth, Sharifi-Malvajerdi, ALT 2021), Theorem 3.1 variant that
//! publishes a noised copy of the un-noised state, on logistic regression
//! (`docs/mechanisms.md` §2.3).

use ndarray::Array1;
use rand_chacha::ChaCha8Rng;

use super::linear::check_positive;
use super::output_perturbation::{OutputPerturbation, variant_name};
use super::{
    Certificate, Mechanism, MechanismError, MechanismOptions, ModelKind, Split, model_error,
};
use crate::certify::gaussian::{Calibration, GaussianTarget};
use crate::models::{Dataset, LogisticRegression, Model, ModelError, Objective};

/// Smoothness of the (one-vs-rest) logistic loss in w for ‖x‖ ≤ 1: max ℓ'' = 1/4.
const LOGISTIC_SMOOTHNESS: f64 = 0.25;

/// Descent-to-Delete: projected full-batch gradient descent on
/// `F_D(θ) = (1/|D|)Σℓ + (λ/2)‖θ‖²` over the ball ‖θ‖ ≤ R = √k/λ (which holds every
/// minimiser), step η = 2/(m + M), m = λ, M = 1/4 + λ, L = 2√k. Training: `T₀` iterations
/// from 0 on D. Each deletion (forget rows in order): `T` iterations on the remaining data from
/// the previous **un-noised** iterate. Published: iterate + N(0, σ²I), σ from
/// `certify::descent_to_delete` (zCDP calibration, as the paper). The un-noised iterates are
/// deterministic, so they are computed once; each run draws only the noise. Reference: the
/// same descent run from 0 on D \ D_f for `T₀ + m·T` iterations, plus N(0, σ²I).
pub struct DescentToDelete {
    name: &'static str,
    split: Split,
    model: LogisticRegression,
    parameters: serde_json::Value,
    certificate: crate::certify::Certificate,
    output: OutputPerturbation,
}

fn projected_descent(
    model: &dyn Model,
    data: &Dataset,
    lambda: f64,
    step: f64,
    radius: f64,
    iterations: usize,
    mut theta: Array1<f64>,
) -> Result<Array1<f64>, ModelError> {
    let objective = Objective {
        model,
        data,
        l2: lambda * data.len() as f64,
        linear: None,
    };
    let scale = step / data.len() as f64;
    for _ in 0..iterations {
        let (_, gradient) = objective.value_gradient(theta.as_slice().expect("contiguous"));
        theta.scaled_add(-scale, &gradient);
        let norm = theta.dot(&theta).sqrt();
        if !norm.is_finite() {
            return Err(ModelError::Training(
                "projected gradient descent diverged".into(),
            ));
        }
        if norm > radius {
            theta *= radius / norm;
        }
    }
    Ok(theta)
}

impl DescentToDelete {
    /// Runs the deterministic descents and calibrates σ for the target (ε, δ).
    pub fn new(
        split: Split,
        options: &MechanismOptions,
        small_noise: bool,
    ) -> Result<Self, MechanismError> {
        let name = variant_name(small_noise, "d2d", "d2d-small-noise");
        if let Some(model) = options.model
            && model != ModelKind::Logistic
        {
            return Err(MechanismError::parameter(
                name,
                "model",
                format!("{model:?}").to_lowercase(),
                "the certificate's constants are derived for logistic regression only",
            ));
        }
        let lambda = check_positive(name, "lambda", options.lambda.unwrap_or(0.05))?;
        let epsilon = check_positive(name, "epsilon", options.epsilon.unwrap_or(1.0))?;
        let delta = options.delta.unwrap_or(1e-5);
        let iterations = super::linear::check_at_most(
            name,
            "steps",
            options.steps.unwrap_or(25),
            super::linear::MAX_STEPS,
        )?;
        if iterations == 0 {
            return Err(MechanismError::parameter(
                name,
                "steps",
                0,
                "needs at least one iteration per deletion",
            ));
        }
        let model = LogisticRegression::new(split.full.num_features(), split.full.num_classes);
        let outputs = model.num_outputs() as f64;
        let lipschitz = 2.0 * outputs.sqrt();
        let radius = outputs.sqrt() / lambda;
        let smoothness = LOGISTIC_SMOOTHNESS + lambda;
        // The smallest data set any update sees gives the largest sensitivity (conservative).
        let smallest_n = split.retain.len() as u64;
        let certify = crate::certify::descent_to_delete::DescentToDeleteParams {
            n: smallest_n,
            iterations: iterations as u64,
            lipschitz,
            strong_convexity: lambda,
            smoothness,
            step_size: None,
            delta,
        }
        .check()
        .map_err(|e| {
            MechanismError::parameter(
                name,
                "lambda/steps/delta",
                format!("({lambda}, {iterations}, {delta})"),
                e.to_string(),
            )
        })?;
        let step = certify.step_size();
        let gamma = certify.contraction();
        let certificate = certify
            .certificate(GaussianTarget::Epsilon(epsilon), Calibration::Zcdp)
            .map_err(|e| MechanismError::parameter(name, "epsilon", epsilon, e.to_string()))?;
        let sigma = certificate.sigma.ok_or_else(|| {
            MechanismError::parameter(name, "sigma", "none", "certify returned no σ")
        })?;
        // T₀: enough iterations that γ^T₀·R ≤ (2L/(λn))·γ^T, i.e. initial training is as close
        // to the minimiser as one update leaves it.
        let n = split.full.len() as f64;
        let extra = ((radius * lambda * n / (2.0 * lipschitz)).ln() / (1.0 / gamma).ln())
            .ceil()
            .max(0.0);
        let initial_iterations = iterations + extra as usize;
        let zeros = Array1::zeros(model.num_params());
        let mut state = projected_descent(
            &model,
            &split.full,
            lambda,
            step,
            radius,
            initial_iterations,
            zeros.clone(),
        )
        .map_err(model_error(name))?;
        let mut keep = vec![true; split.full.len()];
        for &index in &split.forget_indices {
            keep[index] = false;
            let rows: Vec<usize> = (0..keep.len()).filter(|&i| keep[i]).collect();
            let remaining = split.full.select(&rows);
            state = projected_descent(&model, &remaining, lambda, step, radius, iterations, state)
                .map_err(model_error(name))?;
        }
        let reference_iterations = initial_iterations + split.forget.len() * iterations;
        let reference_state = projected_descent(
            &model,
            &split.retain,
            lambda,
            step,
            radius,
            reference_iterations,
            zeros,
        )
        .map_err(model_error(name))?;
        let gap = (&state - &reference_state).mapv(|v| v * v).sum().sqrt();
        let parameters = serde_json::json!({
            "model": "logistic",
            "lambda": lambda,
            "iterations_per_deletion": iterations,
            "initial_iterations": initial_iterations,
            "step_size": step,
            "contraction": gamma,
            "radius": radius,
            "lipschitz": lipschitz,
            "smoothness": smoothness,
            "sigma": sigma,
            "epsilon": certificate.epsilon,
            "delta": certificate.delta,
            "distance_unlearned_to_reference_state": gap,
            "feature_scale": split.feature_scale,
        });
        Ok(DescentToDelete {
            name,
            split,
            model,
            parameters,
            certificate,
            output: OutputPerturbation {
                unlearned: state,
                reference: reference_state,
                sigma,
                small_noise,
            },
        })
    }
}

impl Mechanism for DescentToDelete {
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
        Ok(self.output.unlearn(rng))
    }
    fn reference(&self, rng: &mut ChaCha8Rng) -> Result<Array1<f64>, MechanismError> {
        Ok(self.output.reference(rng))
    }
    fn certificate(&self) -> Certificate {
        self.output
            .certificate(self.certificate.clone().with_reason(
                "Neel et al. 2021 Thm 3.1, sensitivity 8Lγ^T/(m n (1 − γ^T)), zCDP Gaussian σ via \
             certify::descent_to_delete (docs/mechanisms.md §2.3)",
            ))
    }
    fn parameters(&self) -> serde_json::Value {
        self.parameters.clone()
    }
}
