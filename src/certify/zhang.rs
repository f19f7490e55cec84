//! Zhang, Dong, Wang & Li, "Towards Certified Unlearning for Deep Neural Networks" (ICML
//! 2024): a LiSSA inverse-Hessian Newton update, then Gaussian noise calibrated to an
//! approximation-error bound Δ (the L2 distance between the update and the retrained model,
//! their Thm 3.4 and its extensions). The paper calibrates classically,
//! `σ = (Δ/ε)·√(2 ln(1.25/δ))`; the authors' code fixes σ (`--std 0.001`), so the auditor
//! needs the ε implied by (Δ, σ). See `docs/certificates.md` §6.

use super::gaussian::{self, Calibration, GaussianTarget};
use super::{Certificate, CertifyError, Delta, Sensitivity};

/// Inputs of Zhang et al.'s certificate.
#[derive(Debug, Clone, PartialEq)]
pub struct ZhangParams {
    /// Δ: the approximation-error bound ‖w̃ − w̃*‖₂ (user-supplied, from the paper's theorems).
    pub approximation_error: f64,
    /// δ, in (0, 1).
    pub delta: f64,
}

/// Validated [`ZhangParams`].
#[derive(Debug, Clone, PartialEq)]
pub struct Zhang {
    params: ZhangParams,
}

impl ZhangParams {
    /// Validates Δ > 0 and δ ∈ (0, 1).
    pub fn check(&self) -> Result<Zhang, CertifyError> {
        Sensitivity::new(self.approximation_error).map_err(|_| {
            CertifyError::invalid(
                "approximation_error",
                self.approximation_error,
                "the approximation-error bound Δ must be a finite number > 0",
            )
        })?;
        Delta::new(self.delta)?;
        Ok(Zhang {
            params: self.clone(),
        })
    }
}

impl Zhang {
    /// The certificate for a target ε (σ from Δ) or a given σ (ε back from Δ and σ); the
    /// paper's calibration is [`Calibration::Classical`].
    pub fn certificate(
        &self,
        target: GaussianTarget,
        calibration: Calibration,
    ) -> Result<Certificate, CertifyError> {
        let p = &self.params;
        Ok(gaussian::gaussian_certificate(
            "zhang",
            p.approximation_error,
            target,
            p.delta,
            calibration,
            "docs/certificates.md §6",
        )?
        .parameter("approximation_error", p.approximation_error)
        .parameter("delta", p.delta))
    }
}
