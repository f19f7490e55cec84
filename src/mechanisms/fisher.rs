//! Fisher forgetting (Golatkar, Achille, Soatto, "Eternal Sunshine of the Spotless Net",
//! CVPR 2020), a non-certified baseline (`docs/mechanisms.md` §2.6).

use ndarray::{Array1, Array2, Axis};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use super::linear::{check_positive, gaussian_vector, train_full_and_retain, train_perturbed};
use super::{
    Certificate, Mechanism, MechanismError, MechanismOptions, ModelKind, Split, model_error,
};
use crate::models::{Dataset, Model, sigmoid};

/// Diagonal true Fisher (labels drawn from the model) of the retain set for the linear models:
/// `F[j, c] = mean_i x_ij² p_ic (1 − p_ic)`, where `p_ic` is the softmax probability (softmax
/// regression) or the column's sigmoid (logistic); both follow from
/// `∂ ln p_k/∂W[j, c] = x_j (1[c = k] − p_c)` averaged over `k ~ p`.
pub fn diagonal_fisher(
    model: &dyn Model,
    kind: ModelKind,
    params: &[f64],
    data: &Dataset,
) -> Array2<f64> {
    let mut p = model.logits(params, data.features.view());
    match kind {
        ModelKind::Softmax => {
            for mut row in p.axis_iter_mut(Axis(0)) {
                let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                row.mapv_inplace(|z| (z - max).exp());
                let sum = row.sum();
                row.mapv_inplace(|e| e / sum);
            }
        }
        ModelKind::Logistic => p.mapv_inplace(sigmoid),
    }
    p.mapv_inplace(|q| q * (1.0 - q));
    let squared = data.features.mapv(|x| x * x);
    squared.t().dot(&p) / data.len() as f64
}

/// Unlearn: the model trained on the full data (objective perturbation σ as in `retrain`),
/// plus noise with variance `α·min(1/(F + 1e-8), 1e3)` per coordinate (the SelectiveForgetting
/// notebook rule without its layer-specific ×10 factors), F the diagonal Fisher of the retain
/// set at the unperturbed full-data minimiser (computed once). Reference: retraining.
pub struct Fisher {
    split: Split,
    kind: ModelKind,
    model: Box<dyn Model>,
    lambda: f64,
    sigma: f64,
    alpha: f64,
    noise_std: Array1<f64>,
    warm_full: Array1<f64>,
    warm_retain: Array1<f64>,
}

impl Fisher {
    /// Defaults: softmax, λ = 0.01, σ = 1, α = 1e-6.
    pub fn new(split: Split, options: &MechanismOptions) -> Result<Self, MechanismError> {
        let name = "fisher";
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
        let alpha = check_positive(name, "alpha", options.alpha.unwrap_or(1e-6))?;
        let kind = options.model.unwrap_or(ModelKind::Softmax);
        let model = kind.build(&split.full);
        super::linear::check_perturbation_scale(
            name,
            sigma,
            lambda,
            split.retain.len(),
            model.num_params(),
        )?;
        let (warm_full, warm_retain) =
            train_full_and_retain(model.as_ref(), &split, lambda).map_err(model_error(name))?;
        let fisher = diagonal_fisher(
            model.as_ref(),
            kind,
            warm_full.as_slice().expect("contiguous"),
            &split.retain,
        );
        let noise_std = fisher
            .iter()
            .map(|f| (alpha * (1.0 / (f + 1e-8)).min(1e3)).sqrt())
            .collect();
        Ok(Fisher {
            split,
            kind,
            model,
            lambda,
            sigma,
            alpha,
            noise_std,
            warm_full,
            warm_retain,
        })
    }

    fn perturbation(&self, rng: &mut ChaCha8Rng) -> Option<Array1<f64>> {
        (self.sigma > 0.0).then(|| gaussian_vector(rng, self.model.num_params(), self.sigma))
    }
}

impl Mechanism for Fisher {
    fn name(&self) -> &str {
        "fisher"
    }
    fn model(&self) -> &dyn Model {
        self.model.as_ref()
    }
    fn forget_set(&self) -> &Dataset {
        &self.split.forget
    }
    fn unlearn(&self, rng: &mut ChaCha8Rng) -> Result<Array1<f64>, MechanismError> {
        let b = self.perturbation(rng);
        let mut w = train_perturbed(
            self.model.as_ref(),
            &self.split.full,
            self.lambda,
            b.as_ref(),
            self.warm_full.clone(),
        )
        .map_err(model_error("fisher"))?;
        for (value, std) in w.iter_mut().zip(&self.noise_std) {
            let z: f64 = StandardNormal.sample(rng);
            *value += std * z;
        }
        Ok(w)
    }
    fn reference(&self, rng: &mut ChaCha8Rng) -> Result<Array1<f64>, MechanismError> {
        let b = self.perturbation(rng);
        train_perturbed(
            self.model.as_ref(),
            &self.split.retain,
            self.lambda,
            b.as_ref(),
            self.warm_retain.clone(),
        )
        .map_err(model_error("fisher"))
    }
    fn certificate(&self) -> Certificate {
        Certificate::none(
            "Fisher forgetting bounds a KL \"remaining information\", not an (ε, δ) (docs/mechanisms.md §2.6)",
        )
    }
    fn parameters(&self) -> serde_json::Value {
        serde_json::json!({
            "model": self.kind,
            "lambda": self.lambda,
            "sigma": self.sigma,
            "alpha": self.alpha,
            "feature_scale": self.split.feature_scale,
        })
    }
}
