//! Newton step with the stored Hessian and Gaussian output noise (Sekhari, Acharya, Kamath,
//! Suresh, NeurIPS 2021), on logistic regression (`docs/mechanisms.md` §2.4).

use ndarray::Array1;
use rand_chacha::ChaCha8Rng;

use super::linear::{check_positive, train_full_and_retain};
use super::output_perturbation::{OutputPerturbation, variant_name};
use super::{
    Certificate, Mechanism, MechanismError, MechanismOptions, ModelKind, Split, model_error,
};
use crate::certify::gaussian::{Calibration, GaussianTarget};
use crate::models::{Dataset, LogisticRegression, Model, conjugate_gradient};

/// Lipschitz constant of the logistic loss's second derivative, `max |ℓ'''| = 1/(6√3)`.
pub const LOGISTIC_HESSIAN_LIPSCHITZ: f64 = 0.096_225_044_864_937_63;

/// Sekhari et al.'s unlearning: the exact minimiser ŵ on D and the Newton update
/// `w̄ = ŵ + H_r⁻¹ Σ_{z∈U} ∇f(ŵ, z)` are deterministic (computed once); each run publishes
/// `w̄ + N(0, σ²I)`. The reference publishes `w*(D \ U) + N(0, σ²I)`.
pub struct Sekhari {
    name: &'static str,
    split: Split,
    model: LogisticRegression,
    lambda: f64,
    certificate: crate::certify::Certificate,
    /// Unlearned point: the Newton update; reference point: the retrained minimiser.
    output: OutputPerturbation,
}

impl Sekhari {
    /// Trains, takes the Newton step and calibrates σ for the target (ε, δ) with
    /// `certify::sekhari` (analytic Gaussian calibration of γ = 2ML²m²/(λ³n²)).
    /// Constants for one-vs-rest logistic loss with ‖x‖ ≤ 1 and k output columns:
    /// M = 1/(6√3), L = 2√k (loss gradient ≤ √k, plus λ‖w‖ ≤ √k on the ball ‖w‖ ≤ √k/λ
    /// that contains every minimiser).
    pub fn new(
        split: Split,
        options: &MechanismOptions,
        small_noise: bool,
    ) -> Result<Self, MechanismError> {
        let name = variant_name(small_noise, "sekhari", "sekhari-small-noise");
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
        let lambda = check_positive(name, "lambda", options.lambda.unwrap_or(0.1))?;
        let epsilon = check_positive(name, "epsilon", options.epsilon.unwrap_or(1.0))?;
        let delta = options.delta.unwrap_or(1e-5);
        let model = LogisticRegression::new(split.full.num_features(), split.full.num_classes);
        let outputs = model.num_outputs() as f64;
        let params = crate::certify::sekhari::SekhariParams {
            hessian_lipschitz: LOGISTIC_HESSIAN_LIPSCHITZ,
            lipschitz: 2.0 * outputs.sqrt(),
            strong_convexity: lambda,
            deletions: split.forget.len() as u64,
            n: split.full.len() as u64,
            delta,
        };
        let certificate = params
            .check()
            .and_then(|s| s.certificate(GaussianTarget::Epsilon(epsilon), Calibration::Analytic))
            .map_err(|e| {
                MechanismError::parameter(
                    name,
                    "epsilon/delta",
                    format!("({epsilon}, {delta})"),
                    e.to_string(),
                )
            })?;
        let sigma = certificate.sigma.ok_or_else(|| {
            MechanismError::parameter(name, "sigma", "none", "certify returned no σ")
        })?;
        let (trained, retrained) =
            train_full_and_retain(&model, &split, lambda).map_err(model_error(name))?;
        let w = trained.as_slice().expect("contiguous");
        let mut forget_gradient = model.loss_gradient(w, &split.forget).1;
        forget_gradient.scaled_add(lambda * split.forget.len() as f64, &trained);
        let retain_l2 = lambda * split.retain.len() as f64;
        let step = conjugate_gradient(
            |v| {
                let mut product = model.hvp(w, v, &split.retain);
                product.scaled_add(retain_l2, &ndarray::ArrayView1::from(v));
                product
            },
            &forget_gradient,
            1e-12,
            4 * trained.len() + 50,
        )
        .map_err(model_error(name))?;
        let newton_update = &trained + &step;
        Ok(Sekhari {
            name,
            split,
            model,
            lambda,
            certificate,
            output: OutputPerturbation {
                unlearned: newton_update,
                reference: retrained,
                sigma,
                small_noise,
            },
        })
    }
}

impl Mechanism for Sekhari {
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
            "Sekhari et al. 2021 Thm 3.2 sensitivity γ = 2ML²m²/(λ³n²), analytic Gaussian σ via \
             certify::sekhari (docs/mechanisms.md §2.4)",
        ))
    }
    fn parameters(&self) -> serde_json::Value {
        let gap = (&self.output.unlearned - &self.output.reference)
            .mapv(|v| v * v)
            .sum()
            .sqrt();
        serde_json::json!({
            "model": "logistic",
            "lambda": self.lambda,
            "sigma": self.output.sigma,
            "epsilon": self.certificate.epsilon,
            "delta": self.certificate.delta,
            "distance_newton_to_retrained": gap,
            "feature_scale": self.split.feature_scale,
        })
    }
}
