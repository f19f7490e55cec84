//! Neel, Roth & Sharifi-Malvajerdi, "Descent-to-Delete: Gradient-Based Methods for Machine
//! Unlearning" (ALT 2021), Theorem 3.1: projected full-batch gradient descent on an
//! m-strongly convex, M-smooth, L-Lipschitz loss; each update runs T iterations from the
//! previous un-noised iterate and publishes the iterate plus Gaussian noise calibrated
//! through zCDP to the sensitivity `8Lγ^T/(m·n·(1 − γ^T))`, `γ` the contraction of one step.
//! See `docs/certificates.md` §4.

use super::gaussian::{self, Calibration, GaussianTarget};
use super::{Certificate, CertifyError, Delta, Epsilon, require_count, require_positive, round_up};

/// Inputs of the Descent-to-Delete certificate.
#[derive(Debug, Clone, PartialEq)]
pub struct DescentToDeleteParams {
    /// n: training-set size.
    pub n: u64,
    /// T: gradient iterations per update.
    pub iterations: u64,
    /// L: Lipschitz constant of the loss.
    pub lipschitz: f64,
    /// m: strong-convexity constant.
    pub strong_convexity: f64,
    /// M: smoothness constant.
    pub smoothness: f64,
    /// η: step size; `None` means the theorem's `2/(m + M)`.
    pub step_size: Option<f64>,
    /// δ, in (0, 1).
    pub delta: f64,
}

/// Validated [`DescentToDeleteParams`].
#[derive(Debug, Clone, PartialEq)]
pub struct DescentToDelete {
    params: DescentToDeleteParams,
    step_size: f64,
    contraction: f64,
}

impl DescentToDeleteParams {
    /// Validates n ≥ 1, T ≥ 1, L > 0, 0 < m ≤ M, δ ∈ (0, 1) and `0 < η ≤ 2/(m + M)` (the
    /// range where one gradient step contracts by `γ = 1 − ηm`; at the theorem's
    /// η = 2/(m + M) this is `(M − m)/(M + m)`), and γ > 0.
    pub fn check(&self) -> Result<DescentToDelete, CertifyError> {
        require_count("n", self.n, 1)?;
        require_count("iterations", self.iterations, 1)?;
        require_positive("lipschitz", self.lipschitz)?;
        let m = require_positive("strong_convexity", self.strong_convexity)?;
        let big_m = require_positive("smoothness", self.smoothness)?;
        if m > big_m {
            return Err(CertifyError::invalid(
                "strong_convexity",
                m,
                format!(
                    "the strong-convexity constant m must not exceed the smoothness M = {big_m}"
                ),
            ));
        }
        Delta::new(self.delta)?;
        let theorem_step = 2.0 / (m + big_m);
        let (step_size, contraction) = match self.step_size {
            None => (theorem_step, (big_m - m) / (big_m + m)),
            Some(step) => {
                if !(step.is_finite() && step > 0.0) || step > theorem_step * (1.0 + 1e-12) {
                    return Err(CertifyError::invalid(
                        "step_size",
                        step,
                        format!(
                            "Descent-to-Delete needs 0 < η ≤ 2/(m + M) = {theorem_step} for each \
                             gradient step to contract"
                        ),
                    ));
                }
                (step, (1.0 - step * m).max((big_m - m) / (big_m + m)))
            }
        };
        if contraction <= 0.0 {
            return Err(CertifyError::invalid(
                "strong_convexity",
                m,
                "m = M with η = 2/(m + M) gives contraction γ = 0 (one step is exact; no noise is \
                 needed and the theorem's σ is 0)",
            ));
        }
        Ok(DescentToDelete {
            params: self.clone(),
            step_size,
            contraction,
        })
    }
}

impl DescentToDelete {
    /// γ, the contraction of one gradient step.
    pub fn contraction(&self) -> f64 {
        self.contraction
    }

    /// η used.
    pub fn step_size(&self) -> f64 {
        self.step_size
    }

    /// The implied L2 sensitivity `8Lγ^T/(m·n·(1 − γ^T))`, rounded up.
    pub fn sensitivity(&self) -> f64 {
        let p = &self.params;
        let log_gamma_t = p.iterations as f64 * self.contraction.ln();
        // 1 − γ^T as −expm1(T ln γ): exact even when γ^T is close to 1.
        let value = 8.0 * p.lipschitz * log_gamma_t.exp()
            / (p.strong_convexity * p.n as f64 * -log_gamma_t.exp_m1());
        round_up(value, 16)
    }

    /// The paper's σ (zCDP calibration) for ε:
    /// `4√2·L·γ^T/(m·n·(1 − γ^T)·(√(ln(1/δ) + ε) − √(ln(1/δ))))`, rounded up.
    pub fn sigma_paper(&self, epsilon: f64) -> Result<f64, CertifyError> {
        gaussian::sigma_zcdp(self.sensitivity(), epsilon, self.params.delta)
    }

    /// The certificate for a target ε (σ solved) or a given σ (ε solved), in `calibration`
    /// (the paper's is [`Calibration::Zcdp`]; analytic is exact for the same sensitivity).
    pub fn certificate(
        &self,
        target: GaussianTarget,
        calibration: Calibration,
    ) -> Result<Certificate, CertifyError> {
        if let GaussianTarget::Epsilon(e) = target {
            Epsilon::new(e)?;
        }
        let p = &self.params;
        Ok(gaussian::gaussian_certificate(
            "descent_to_delete",
            self.sensitivity(),
            target,
            p.delta,
            calibration,
            "docs/certificates.md §4",
        )?
        .parameter("n", p.n as f64)
        .parameter("iterations", p.iterations as f64)
        .parameter("lipschitz", p.lipschitz)
        .parameter("strong_convexity", p.strong_convexity)
        .parameter("smoothness", p.smoothness)
        .parameter("delta", p.delta)
        .intermediate("step_size", self.step_size)
        .intermediate("contraction", self.contraction))
    }
}
