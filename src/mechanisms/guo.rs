//! Certified removal by a Newton step with objective perturbation (Guo, Goldstein, Hannun,
//! van der Maaten, ICML 2020), single and sequential removals, and its faulty twins
//! (`docs/mechanisms.md` §2.2).

use ndarray::{Array1, ArrayView2, Axis};
use rand_chacha::ChaCha8Rng;

use super::linear::{check_positive, gaussian_vector, train_full_and_retain, train_perturbed};
use super::{
    Certificate, Mechanism, MechanismError, MechanismOptions, ModelKind, Split, model_error,
};
use crate::models::{
    Dataset, LogisticRegression, Model, ModelError, Objective, conjugate_gradient, spectral_norm,
};

/// What the Guo family breaks, if anything (`docs/mechanisms.md` §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuoFault {
    /// The mechanism as published.
    None,
    /// The unlearning side draws `b` with σ/10 but claims the certificate of σ.
    NoiseTooSmall,
    /// The Newton removal step is taken on the objective without its perturbation term `bᵀw`,
    /// which steers the model to the unperturbed minimiser and strips the noise.
    PerturbationLeftOut,
    /// The forget set is never removed: the model trained on the full data is published.
    ForgetSetKept,
}

/// Checked parameters of [`Guo`].
#[derive(Debug, Clone, PartialEq)]
pub struct GuoParams {
    /// Per-example L2 coefficient λ > 0; the objective is `Σℓ + (λn/2)‖w‖² + bᵀw`.
    pub lambda: f64,
    /// Standard deviation of `b ~ N(0, σ²I)`.
    pub sigma: f64,
    /// Certified ε: removals are certified while the accumulated residual bound β stays
    /// within the budget `σε/c(δ)`; beyond it the mechanism retrains (Guo et al. Alg. 2).
    pub epsilon: f64,
    /// Certified δ ∈ (0, 1).
    pub delta: f64,
}

impl GuoParams {
    /// Defaults: λ = 1e-2, σ = 1, ε = 1, δ = 1e-5.
    pub fn from_options(options: &MechanismOptions) -> Result<Self, MechanismError> {
        if let Some(model) = options.model
            && model != ModelKind::Logistic
        {
            return Err(MechanismError::parameter(
                "guo",
                "model",
                format!("{model:?}").to_lowercase(),
                "Guo et al.'s residual bound is proved for logistic regression (binary or one-vs-rest) only",
            ));
        }
        let delta = options.delta.unwrap_or(1e-5);
        if !(delta > 0.0 && delta < 1.0) {
            return Err(MechanismError::parameter(
                "guo",
                "delta",
                delta,
                "must lie in (0, 1)",
            ));
        }
        Ok(GuoParams {
            lambda: check_positive("guo", "lambda", options.lambda.unwrap_or(1e-2))?,
            sigma: check_positive("guo", "sigma", options.sigma.unwrap_or(1.0))?,
            epsilon: check_positive("guo", "epsilon", options.epsilon.unwrap_or(1.0))?,
            delta,
        })
    }

    /// The residual budget `σ ε / c(δ)` with `c(δ) = sqrt(2 ln(1.5/δ))` (Guo et al. Thm 3),
    /// from [`crate::certify::guo`] (rounded down there).
    pub fn residual_budget(&self) -> f64 {
        self.certify_params(0.0)
            .and_then(|guo| guo.removal_budget(self.epsilon))
            .unwrap_or(0.0)
    }

    fn certify_params(
        &self,
        residual_bound: f64,
    ) -> Result<crate::certify::guo::Guo, crate::certify::CertifyError> {
        crate::certify::guo::GuoParams {
            residual_bound,
            sigma: self.sigma,
            delta: self.delta,
        }
        .check()
    }

    /// The certified ε of an accumulated residual bound, from [`crate::certify::guo`].
    pub fn certified_epsilon(&self, residual_bound: f64) -> Option<f64> {
        self.certify_params(residual_bound)
            .ok()
            .map(|g| g.epsilon())
    }
}

/// Result of removing the forget set from one trained model.
#[derive(Debug, Clone, PartialEq)]
pub struct Removal {
    /// Parameters after the removals.
    pub params: Array1<f64>,
    /// Data-dependent residual bound of each removal (Cor. 1), in removal order.
    pub residual_bounds: Vec<f64>,
}

/// Guo et al.'s certified removal on logistic regression.
pub struct Guo {
    name: &'static str,
    params: GuoParams,
    fault: GuoFault,
    split: Split,
    model: LogisticRegression,
    /// ‖X_j‖₂ of the data remaining after the first j+1 removals.
    remaining_spectral_norms: Vec<f64>,
    warm_full: Array1<f64>,
    warm_retain: Array1<f64>,
}

impl Guo {
    /// Pre-computes the unperturbed minimisers (exact warm starts) and the spectral norms of
    /// the remaining data after each removal.
    pub fn new(split: Split, params: GuoParams, fault: GuoFault) -> Result<Self, MechanismError> {
        let name = match fault {
            GuoFault::None => "guo",
            GuoFault::NoiseTooSmall => "guo-small-noise",
            GuoFault::PerturbationLeftOut => "guo-no-perturbation",
            GuoFault::ForgetSetKept => "guo-no-removal",
        };
        let model = LogisticRegression::new(split.full.num_features(), split.full.num_classes);
        super::linear::check_perturbation_scale(
            name,
            params.sigma,
            params.lambda,
            split.retain.len(),
            model.num_params(),
        )?;
        let (warm_full, warm_retain) =
            train_full_and_retain(&model, &split, params.lambda).map_err(model_error(name))?;
        let mut remaining_spectral_norms = Vec::with_capacity(split.forget.len());
        let mut keep = vec![true; split.full.len()];
        for &index in &split.forget_indices {
            keep[index] = false;
            let rows: Vec<usize> = (0..keep.len()).filter(|&i| keep[i]).collect();
            remaining_spectral_norms
                .push(spectral_norm(&split.full.features.select(Axis(0), &rows)));
        }
        Ok(Guo {
            name,
            params,
            fault,
            split,
            model,
            remaining_spectral_norms,
            warm_full,
            warm_retain,
        })
    }

    /// Trains on the full data with perturbation `b`.
    pub fn train_full(&self, b: Option<&Array1<f64>>) -> Result<Array1<f64>, ModelError> {
        train_perturbed(
            &self.model,
            &self.split.full,
            self.params.lambda,
            b,
            self.warm_full.clone(),
        )
    }

    /// Trains on the retain data with perturbation `b` (the reference procedure A(D')).
    pub fn train_retain(&self, b: Option<&Array1<f64>>) -> Result<Array1<f64>, ModelError> {
        train_perturbed(
            &self.model,
            &self.split.retain,
            self.params.lambda,
            b,
            self.warm_retain.clone(),
        )
    }

    /// Removes the forget rows one at a time from `trained` (a minimiser on the full data with
    /// perturbation `b`): `Δ = λw + ∇ℓ(w; x_j)`, `w ← w + H_j⁻¹Δ` with `H_j` the Hessian on
    /// the rows left after removing `x_j` (including `λ|D_j|I`), solved by conjugate gradients.
    /// With `leave_out_perturbation` the step is instead `−H_j⁻¹∇L₀(w; D_j)`, the gradient
    /// of the objective without `bᵀw` (the faulty twin).
    pub fn remove(
        &self,
        trained: Array1<f64>,
        leave_out_perturbation: bool,
    ) -> Result<Removal, ModelError> {
        let lambda = self.params.lambda;
        let full = &self.split.full;
        let forget = &self.split.forget;
        let mut w = trained;
        let mut residual_bounds = Vec::with_capacity(forget.len());
        for j in 0..forget.len() {
            let removed_so_far = forget.select(&(0..=j).collect::<Vec<_>>());
            let remaining = (full.len() - j - 1) as f64;
            let point = forget.select(&[j]);
            let hessian = |v: &[f64]| {
                let ws = w.as_slice().expect("contiguous");
                let mut product = self.model.hvp(ws, v, full);
                product -= &self.model.hvp(ws, v, &removed_so_far);
                product.scaled_add(lambda * remaining, &ndarray::ArrayView1::from(v));
                product
            };
            let rhs = if leave_out_perturbation {
                // −∇L₀(w; D_j) where L₀ has no bᵀw term: the full-data gradient minus the
                // removed rows' gradients.
                let ws = w.as_slice().expect("contiguous");
                let mut gradient = self.model.loss_gradient(ws, full).1;
                gradient -= &self.model.loss_gradient(ws, &removed_so_far).1;
                gradient.scaled_add(lambda * remaining, &w);
                -gradient
            } else {
                let ws = w.as_slice().expect("contiguous");
                let mut delta = self.model.loss_gradient(ws, &point).1;
                delta.scaled_add(lambda, &w);
                delta
            };
            let step = conjugate_gradient(hessian, &rhs, 1e-12, 4 * w.len() + 50)?;
            residual_bounds.push(self.residual_bound(&step, &removed_so_far, j));
            w += &step;
        }
        Ok(Removal {
            params: w,
            residual_bounds,
        })
    }

    /// Corollary 1: `γ ‖X_j‖₂ Σ_k ‖s_k‖ ‖X_j s_k‖` over the one-vs-rest columns `k` of the
    /// step `s = H⁻¹Δ` (γ = 1/4; the per-class bounds add up, as in the reference code).
    fn residual_bound(&self, step: &Array1<f64>, removed: &Dataset, j: usize) -> f64 {
        let outputs = self.model.num_outputs();
        let d = self.split.full.num_features();
        let step_matrix =
            ArrayView2::from_shape((d, outputs), step.as_slice().expect("contiguous"))
                .expect("step has num_params entries");
        let full_products = self.split.full.features.dot(&step_matrix);
        let removed_products = removed.features.dot(&step_matrix);
        let mut bound = 0.0;
        for k in 0..outputs {
            let column = step_matrix.column(k);
            let step_norm = column.dot(&column).sqrt();
            let full_sq: f64 = full_products.column(k).iter().map(|v| v * v).sum();
            let removed_sq: f64 = removed_products.column(k).iter().map(|v| v * v).sum();
            let image_norm = (full_sq - removed_sq).max(0.0).sqrt();
            // Rounded up by certify; a non-finite norm makes the bound infinite (retrain).
            bound += crate::certify::guo::data_dependent_residual_bound(
                LogisticRegression::CURVATURE_LIPSCHITZ,
                self.remaining_spectral_norms[j],
                step_norm,
                image_norm,
            )
            .unwrap_or(f64::INFINITY);
        }
        bound
    }

    /// Theorem 1's worst-case residual bound for one removal, `4γC²/(λ²(n−1))` with γ = 1/4,
    /// C = 1 (‖x‖ ≤ 1), for comparison with the data-dependent bound (from
    /// [`crate::certify::guo::worst_case_residual_bound`]).
    pub fn worst_case_bound(&self) -> Option<f64> {
        crate::certify::guo::worst_case_residual_bound(
            LogisticRegression::CURVATURE_LIPSCHITZ,
            1.0,
            self.params.lambda,
            self.split.full.len() as u64,
        )
        .ok()
    }

    /// The checked parameters.
    pub fn params(&self) -> &GuoParams {
        &self.params
    }

    /// Full unlearning run given a perturbation: train, remove, and fall back to retraining
    /// (exact) when the accumulated bound exceeds the budget. Returns the parameters and
    /// whether the fallback was taken.
    fn run_with(&self, b: &Array1<f64>) -> Result<(Array1<f64>, bool), ModelError> {
        let trained = self.train_full(Some(b))?;
        match self.fault {
            GuoFault::ForgetSetKept => return Ok((trained, false)),
            GuoFault::PerturbationLeftOut => {
                return Ok((self.remove(trained, true)?.params, false));
            }
            GuoFault::None | GuoFault::NoiseTooSmall => {}
        }
        let removal = self.remove(trained, false)?;
        let accumulated: f64 = removal.residual_bounds.iter().sum();
        if accumulated > self.params.residual_budget() {
            // Guo et al. Alg. 2: the budget is spent, retrain (with the same b) instead.
            return Ok((self.train_retain(Some(b))?, true));
        }
        Ok((removal.params, false))
    }
}

impl Mechanism for Guo {
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
        let sigma = match self.fault {
            GuoFault::NoiseTooSmall => self.params.sigma / 10.0,
            _ => self.params.sigma,
        };
        let b = gaussian_vector(rng, self.model.num_params(), sigma);
        self.run_with(&b)
            .map(|(w, _)| w)
            .map_err(model_error(self.name))
    }

    fn reference(&self, rng: &mut ChaCha8Rng) -> Result<Array1<f64>, MechanismError> {
        let b = gaussian_vector(rng, self.model.num_params(), self.params.sigma);
        self.train_retain(Some(&b)).map_err(model_error(self.name))
    }

    fn certificate(&self) -> Certificate {
        let p = &self.params;
        let certificate = Certificate::certified(
            p.certified_epsilon(p.residual_budget())
                .unwrap_or(p.epsilon),
            p.delta,
            "Guo et al. 2020 Thm 3 with the data-dependent residual bound of Cor. 1, retraining when the \
             accumulated bound exceeds σε/c(δ) (docs/mechanisms.md §2.2)",
        );
        match self.fault {
            GuoFault::None => certificate,
            GuoFault::NoiseTooSmall => {
                certificate.as_claimed_by_faulty_variant("the perturbation has σ/10")
            }
            GuoFault::PerturbationLeftOut => certificate.as_claimed_by_faulty_variant(
                "the removal step ignores the perturbation term and strips the noise",
            ),
            GuoFault::ForgetSetKept => {
                certificate.as_claimed_by_faulty_variant("the forget set is never removed")
            }
        }
    }

    fn parameters(&self) -> serde_json::Value {
        let p = &self.params;
        serde_json::json!({
            "model": "logistic",
            "lambda": p.lambda,
            "sigma": p.sigma,
            "epsilon": p.epsilon,
            "delta": p.delta,
            "residual_budget": p.residual_budget(),
            "worst_case_residual_bound": self.worst_case_bound(),
            "feature_scale": self.split.feature_scale,
        })
    }
}

/// Objective with the perturbation, for tests that check the true residual ‖∇L_b(w⁻; D')‖.
pub fn perturbed_gradient_norm(
    model: &dyn Model,
    data: &Dataset,
    lambda: f64,
    b: Option<&Array1<f64>>,
    params: &Array1<f64>,
) -> f64 {
    let objective = Objective {
        model,
        data,
        l2: lambda * data.len() as f64,
        linear: b,
    };
    let g = objective
        .value_gradient(params.as_slice().expect("contiguous"))
        .1;
    g.dot(&g).sqrt()
}
