//! Guo, Goldstein, Hannun & van der Maaten, "Certified Data Removal from Machine Learning
//! Models" (ICML 2020): Newton-step removal from an L2-regularised linear model trained with
//! a loss perturbation `bᵀw`, `b ~ N(0, σ² I)`. If the gradient residual after the removals is
//! at most β, the model is (ε, δ)-certified-removed with `ε = c·β/σ`, `c = √(2 ln(1.5/δ))`
//! (Thm 3). See `docs/certificates.md` §3.

use super::{
    Certificate, CertifyError, Delta, Epsilon, Sigma, require_count, require_non_negative,
    require_positive, round_up,
};

/// `c = √(2 ln(1.5/δ))` (Guo et al. Thm 3), rounded up. See `docs/certificates.md` §3.
pub fn c_for_delta(delta: f64) -> Result<f64, CertifyError> {
    let delta = Delta::new(delta)?.get();
    Ok(round_up((2.0 * (1.5 / delta).ln()).sqrt(), 4))
}

/// `δ = 1.5·e^{−c²/2}`, the inverse of [`c_for_delta`]; rounded up.
pub fn delta_for_c(c: f64) -> Result<f64, CertifyError> {
    let c = require_positive("c", c)?;
    let delta = 1.5 * (-c * c / 2.0).exp();
    if delta >= 1.0 {
        return Err(CertifyError::invalid(
            "c",
            c,
            "c must exceed √(2 ln 1.5) ≈ 0.9005 so that δ = 1.5·e^{−c²/2} < 1",
        ));
    }
    Ok(round_up(delta, 4))
}

/// Worst-case gradient-residual bound of one Newton removal (Guo et al. Thm 1):
/// `‖∇L(w⁻; D')‖ ≤ 4γC²/(λ²(n − 1))` for a training set of `n` points with ‖x_i‖ ≤ 1,
/// |ℓ'| ≤ C and ℓ'' γ-Lipschitz (logistic loss: γ = 1/4, C = 1). Rounded up.
/// See `docs/certificates.md` §3.1.
pub fn worst_case_residual_bound(
    gamma: f64,
    gradient_bound: f64,
    lambda: f64,
    n: u64,
) -> Result<f64, CertifyError> {
    let gamma = require_positive("gamma", gamma)?;
    let gradient_bound = require_positive("gradient_bound", gradient_bound)?;
    let lambda = require_positive("lambda", lambda)?;
    let n = require_count("n", n, 2)?;
    let bound = 4.0 * gamma * gradient_bound * gradient_bound / (lambda * lambda * (n - 1) as f64);
    Ok(round_up(bound, 8))
}

/// β after `removals` sequential single-point removals starting from `n` points: the sum of
/// [`worst_case_residual_bound`] at n, n − 1, …, n − removals + 1 (each removal is Thm 1
/// on the current data set). Rounded up. See `docs/certificates.md` §3.1.
pub fn worst_case_residual_bound_sequential(
    gamma: f64,
    gradient_bound: f64,
    lambda: f64,
    n: u64,
    removals: u64,
) -> Result<f64, CertifyError> {
    let removals = require_count("removals", removals, 1)?;
    if removals >= n {
        return Err(CertifyError::invalid(
            "removals",
            removals as f64,
            format!(
                "at most n − 1 = {} removals leave a training set to certify",
                n.saturating_sub(1)
            ),
        ));
    }
    let mut total = 0.0;
    for j in 0..removals {
        total += worst_case_residual_bound(gamma, gradient_bound, lambda, n - j)?;
    }
    Ok(round_up(total, (removals.min(1 << 20) as u32) + 4))
}

/// Data-dependent gradient-residual bound (Guo et al. Cor 1):
/// `γ·‖X'‖₂·‖H⁻¹Δ‖₂·‖X'H⁻¹Δ‖₂`, with X' the remaining data matrix (‖X'‖₂ its spectral norm,
/// which must be an upper bound: power iteration from below is not), `H⁻¹Δ` the Newton step.
/// Rounded up. See `docs/certificates.md` §3.1.
pub fn data_dependent_residual_bound(
    gamma: f64,
    data_spectral_norm: f64,
    newton_step_norm: f64,
    projected_step_norm: f64,
) -> Result<f64, CertifyError> {
    let gamma = require_positive("gamma", gamma)?;
    let a = require_non_negative("data_spectral_norm", data_spectral_norm)?;
    let b = require_non_negative("newton_step_norm", newton_step_norm)?;
    let c = require_non_negative("projected_step_norm", projected_step_norm)?;
    Ok(round_up(gamma * a * b * c, 4))
}

/// Inputs of Guo et al.'s certificate.
#[derive(Debug, Clone, PartialEq)]
pub struct GuoParams {
    /// β: the accumulated gradient-residual bound of all removals so far (≥ 0).
    pub residual_bound: f64,
    /// σ of the Gaussian loss perturbation b.
    pub sigma: f64,
    /// δ, in (0, 1).
    pub delta: f64,
}

/// Validated [`GuoParams`].
#[derive(Debug, Clone, PartialEq)]
pub struct Guo {
    residual_bound: f64,
    sigma: f64,
    delta: f64,
}

impl GuoParams {
    /// Validates: β ≥ 0, σ > 0, δ ∈ (0, 1), and ε = c·β/σ finite (a σ so small, or a β so
    /// large, that ε overflows is refused naming σ: there is no certificate to give).
    pub fn check(&self) -> Result<Guo, CertifyError> {
        let guo = Guo {
            residual_bound: require_non_negative("residual_bound", self.residual_bound)?,
            sigma: Sigma::new(self.sigma)?.get(),
            delta: Delta::new(self.delta)?.get(),
        };
        if !guo.epsilon().is_finite() {
            return Err(CertifyError::invalid(
                "sigma",
                guo.sigma,
                format!(
                    "ε = c·β/σ overflows double precision (β = {}, c = {:.4}): σ is too small \
                     for this residual bound to certify anything",
                    guo.residual_bound,
                    guo.c()
                ),
            ));
        }
        Ok(guo)
    }
}

impl Guo {
    /// `c = √(2 ln(1.5/δ))`.
    pub fn c(&self) -> f64 {
        c_for_delta(self.delta).expect("δ validated")
    }

    /// Certified `ε = c·β/σ` (Thm 3), rounded up.
    pub fn epsilon(&self) -> f64 {
        round_up(self.c() * self.residual_bound / self.sigma, 4)
    }

    /// The largest β still certified at ε: `σ·ε/c`, rounded down (the removal budget; retrain
    /// once the accumulated β exceeds it).
    pub fn removal_budget(&self, epsilon: f64) -> Result<f64, CertifyError> {
        let epsilon = Epsilon::new(epsilon)?.get();
        let budget = self.sigma * epsilon / self.c();
        Ok((0..4).fold(budget, |v, _| v.next_down()))
    }

    /// The certificate with `c` and β as intermediates.
    pub fn certificate(&self) -> Certificate {
        Certificate::new("guo", self.epsilon(), self.delta, "docs/certificates.md §3")
            .with_sigma(self.sigma)
            .parameter("residual_bound", self.residual_bound)
            .parameter("sigma", self.sigma)
            .parameter("delta", self.delta)
            .intermediate("c", self.c())
    }
}

/// The σ that certifies ε for an accumulated residual bound β: `σ = c·β/ε`, rounded up.
/// See `docs/certificates.md` §3.
pub fn sigma_for_epsilon(
    residual_bound: f64,
    epsilon: f64,
    delta: f64,
) -> Result<f64, CertifyError> {
    let residual_bound = require_positive("residual_bound", residual_bound)?;
    let epsilon = Epsilon::new(epsilon)?.get();
    let c = c_for_delta(delta)?;
    Ok(round_up(c * residual_bound / epsilon, 4))
}
