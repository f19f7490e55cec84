//! Sekhari, Acharya, Kamath & Suresh, "Remember What You Want to Forget: Algorithms for
//! Machine Unlearning" (NeurIPS 2021): a Newton step with the stored Hessian, then Gaussian
//! noise for the sensitivity `γ = 2ML²m²/(λ³n²)` (λ-strongly convex, L-Lipschitz,
//! M-Hessian-Lipschitz loss; m deletions out of n). The paper calibrates classically,
//! `σ = (γ/ε)·√(2 ln(1.25/δ))`. See `docs/certificates.md` §5.

use super::gaussian::{self, Calibration, GaussianTarget};
use super::{Certificate, CertifyError, Delta, require_count, require_positive, round_up};

/// Inputs of Sekhari et al.'s certificate.
#[derive(Debug, Clone, PartialEq)]
pub struct SekhariParams {
    /// M: Lipschitz constant of the Hessian.
    pub hessian_lipschitz: f64,
    /// L: Lipschitz constant of the loss.
    pub lipschitz: f64,
    /// λ: strong-convexity constant.
    pub strong_convexity: f64,
    /// m: number of deleted points.
    pub deletions: u64,
    /// n: training-set size.
    pub n: u64,
    /// δ, in (0, 1).
    pub delta: f64,
}

/// Validated [`SekhariParams`].
#[derive(Debug, Clone, PartialEq)]
pub struct Sekhari {
    params: SekhariParams,
}

impl SekhariParams {
    /// Validates M, L, λ > 0, 1 ≤ m < n, δ ∈ (0, 1).
    pub fn check(&self) -> Result<Sekhari, CertifyError> {
        require_positive("hessian_lipschitz", self.hessian_lipschitz)?;
        require_positive("lipschitz", self.lipschitz)?;
        require_positive("strong_convexity", self.strong_convexity)?;
        require_count("deletions", self.deletions, 1)?;
        require_count("n", self.n, 2)?;
        if self.deletions >= self.n {
            return Err(CertifyError::invalid(
                "deletions",
                self.deletions as f64,
                format!("the number of deletions m must be < n = {}", self.n),
            ));
        }
        Delta::new(self.delta)?;
        Ok(Sekhari {
            params: self.clone(),
        })
    }
}

impl Sekhari {
    /// γ = 2ML²m²/(λ³n²), the L2 distance bound between the Newton update and the retrained
    /// minimiser; rounded up.
    pub fn sensitivity(&self) -> f64 {
        let p = &self.params;
        let ratio = p.deletions as f64 / p.n as f64;
        let lambda = p.strong_convexity;
        round_up(
            2.0 * p.hessian_lipschitz * p.lipschitz * p.lipschitz * ratio * ratio
                / (lambda * lambda * lambda),
            8,
        )
    }

    /// The certificate for a target ε or a given σ; the paper's calibration is
    /// [`Calibration::Classical`].
    pub fn certificate(
        &self,
        target: GaussianTarget,
        calibration: Calibration,
    ) -> Result<Certificate, CertifyError> {
        let p = &self.params;
        Ok(gaussian::gaussian_certificate(
            "sekhari",
            self.sensitivity(),
            target,
            p.delta,
            calibration,
            "docs/certificates.md §5",
        )?
        .parameter("hessian_lipschitz", p.hessian_lipschitz)
        .parameter("lipschitz", p.lipschitz)
        .parameter("strong_convexity", p.strong_convexity)
        .parameter("deletions", p.deletions as f64)
        .parameter("n", p.n as f64)
        .parameter("delta", p.delta))
    }
}
