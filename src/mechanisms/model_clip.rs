//! Noisy projected fine-tuning on the retain set from the clipped original model,
//! model-clipping variant (Koloskova, Allouah, Jha, Guerraoui, Koyejo, ICML 2025;
//! "contractive coefficients"), `docs/mechanisms.md` §2.9.

use ndarray::Array1;
use rand_chacha::ChaCha8Rng;

use super::linear::{check_positive, gaussian_vector, train_full_and_retain};
use super::output_perturbation::{claimed_certificate, variant_name};
use super::{
    Certificate, Mechanism, MechanismError, MechanismOptions, ModelKind, Split, model_error,
};
use crate::certify::koloskova::ModelClipParams;
use crate::models::{Dataset, Model, Objective, project_to_ball};

/// Largest number of noisy steps searched for δ_T ≤ δ.
const MAX_NOISY_STEPS: u64 = 100_000;

/// Unlearn: `x₀ = Π_{C0}(x̂) + N(0, σ0²I)`, x̂ the exact minimiser on D, then T steps
/// `x ← Π_{C2}(x − η(∇F_r(x) + λx)) + N(0, σ²I)` (noise after the projection), F_r the mean
/// retain loss. Reference (the certifying algorithm Ā): the same from `Π_{C0}(x̂')`, x̂' the
/// exact minimiser on the retain set. Certificate: `certify::koloskova::ModelClip`, ε fixed,
/// δ_T from the hockey-stick contraction recursion; T is the first step with δ_T ≤ δ unless
/// `--steps` fixes it.
pub struct KoloskovaModelClip {
    name: &'static str,
    small_noise: bool,
    split: Split,
    model: Box<dyn Model>,
    step_size: f64,
    weight_decay: f64,
    projection_radius: f64,
    initial_sigma: f64,
    sigma: f64,
    steps: usize,
    certificate: crate::certify::Certificate,
    clipped_trained: Array1<f64>,
    clipped_retrained: Array1<f64>,
    parameters: serde_json::Value,
}

impl KoloskovaModelClip {
    /// Defaults: softmax, λ = 0.01 (training and fine-tuning weight decay), C0 = 5
    /// (`--model-clip`), σ0 = 0 (`--initial-sigma`), C2 = 1 (`--projection-radius`),
    /// σ = 1 (`--sigma`), η = 0.5 (`--learning-rate`), ε = 1, δ = 1e-5.
    pub fn new(
        split: Split,
        options: &MechanismOptions,
        small_noise: bool,
    ) -> Result<Self, MechanismError> {
        let name = variant_name(
            small_noise,
            "koloskova-model-clip",
            "koloskova-model-clip-small-noise",
        );
        let lambda = check_positive(name, "lambda", options.lambda.unwrap_or(0.01))?;
        let epsilon = check_positive(name, "epsilon", options.epsilon.unwrap_or(1.0))?;
        let step_size =
            check_positive(name, "learning_rate", options.learning_rate.unwrap_or(0.5))?;
        let model_clip = check_positive(name, "model_clip", options.model_clip.unwrap_or(5.0))?;
        let projection_radius = check_positive(
            name,
            "projection_radius",
            options.projection_radius.unwrap_or(1.0),
        )?;
        let sigma = check_positive(name, "sigma", options.sigma.unwrap_or(1.0))?;
        let initial_sigma = options.initial_sigma.unwrap_or(0.0);
        if !(initial_sigma >= 0.0 && initial_sigma.is_finite()) {
            return Err(MechanismError::parameter(
                name,
                "initial_sigma",
                initial_sigma,
                "must be non-negative and finite",
            ));
        }
        let delta = options.delta.unwrap_or(1e-5);
        if !(delta > 0.0 && delta < 1.0) {
            return Err(MechanismError::parameter(
                name,
                "delta",
                delta,
                "must lie in (0, 1)",
            ));
        }
        let certify_error = |e: crate::certify::CertifyError| {
            MechanismError::parameter(
                name,
                "sigma/projection_radius/epsilon/delta/steps",
                format!("(σ = {sigma}, C2 = {projection_radius}, ε = {epsilon}, δ = {delta})"),
                e.to_string(),
            )
        };
        let accountant = ModelClipParams {
            model_clip,
            initial_sigma,
            projection_radius,
            sigma,
            epsilon,
            gradient_clip_and_step: None,
        }
        .check()
        .map_err(certify_error)?;
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
            None => accountant
                .steps_to_reach(delta, MAX_NOISY_STEPS)
                .map_err(certify_error)?
                .max(1),
        };
        let certificate = accountant.certificate(steps).map_err(certify_error)?;
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
            "initial_sigma": initial_sigma,
            "projection_radius": projection_radius,
            "step_size": step_size,
            "weight_decay": lambda,
            "steps": steps,
            "sigma": sigma,
            "epsilon": certificate.epsilon,
            "delta": certificate.delta,
            "step_shift": accountant.step_shift(),
            "feature_scale": split.feature_scale,
        });
        Ok(KoloskovaModelClip {
            name,
            small_noise,
            step_size,
            weight_decay: lambda,
            projection_radius,
            initial_sigma,
            sigma,
            steps: steps as usize,
            certificate,
            clipped_trained: project_to_ball(trained, model_clip),
            clipped_retrained: project_to_ball(retrained, model_clip),
            split,
            model,
            parameters,
        })
    }

    fn noisy_projected_fine_tune(
        &self,
        start: &Array1<f64>,
        noise_divisor: f64,
        rng: &mut ChaCha8Rng,
    ) -> Array1<f64> {
        let retain = &self.split.retain;
        let objective = Objective {
            model: self.model.as_ref(),
            data: retain,
            l2: 0.0,
            linear: None,
        };
        let n = retain.len() as f64;
        let mut x = start.clone();
        if self.initial_sigma > 0.0 {
            x += &gaussian_vector(rng, x.len(), self.initial_sigma / noise_divisor);
        }
        for _ in 0..self.steps {
            let (_, gradient) = objective.value_gradient(x.as_slice().expect("contiguous"));
            x *= 1.0 - self.step_size * self.weight_decay;
            x.scaled_add(-self.step_size / n, &gradient);
            x = project_to_ball(x, self.projection_radius);
            x += &gaussian_vector(rng, x.len(), self.sigma / noise_divisor);
        }
        x
    }
}

impl Mechanism for KoloskovaModelClip {
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
        let divisor = if self.small_noise { 10.0 } else { 1.0 };
        Ok(self.noisy_projected_fine_tune(&self.clipped_trained, divisor, rng))
    }
    fn reference(&self, rng: &mut ChaCha8Rng) -> Result<Array1<f64>, MechanismError> {
        Ok(self.noisy_projected_fine_tune(&self.clipped_retrained, 1.0, rng))
    }
    fn certificate(&self) -> Certificate {
        claimed_certificate(
            self.certificate.clone().with_reason(
                "Koloskova et al. 2025 model clipping: hockey-stick contraction recursion via \
                 certify::koloskova::ModelClip (docs/mechanisms.md §2.9)",
            ),
            self.small_noise,
            "the per-step noise has σ/10",
        )
    }
    fn parameters(&self) -> serde_json::Value {
        self.parameters.clone()
    }
}
