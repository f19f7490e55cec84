//! The output-perturbation baseline of Koloskova et al. (ICML 2025, `dp-baseline`): clip the
//! trained model to the ball of radius C0 and add `N(0, σ² I)`. Any two clipped models are at
//! most the diameter `2·C0` apart, so the sensitivity is `2·C0`; the paper calibrates
//! classically, `σ = √(2 ln(1.25/δ))·2C0/ε`. See `docs/certificates.md` §8.

use super::gaussian::{self, Calibration, GaussianTarget};
use super::{Certificate, CertifyError, Delta, require_positive};

/// Inputs of the output-perturbation certificate.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputPerturbationParams {
    /// C0: the clipping radius of the model.
    pub clip_radius: f64,
    /// δ, in (0, 1).
    pub delta: f64,
}

/// Validated [`OutputPerturbationParams`].
#[derive(Debug, Clone, PartialEq)]
pub struct OutputPerturbation {
    params: OutputPerturbationParams,
}

impl OutputPerturbationParams {
    /// Validates C0 > 0 and δ ∈ (0, 1).
    pub fn check(&self) -> Result<OutputPerturbation, CertifyError> {
        require_positive("clip_radius", self.clip_radius)?;
        Delta::new(self.delta)?;
        Ok(OutputPerturbation {
            params: self.clone(),
        })
    }
}

impl OutputPerturbation {
    /// The sensitivity 2·C0 (exact in floating point).
    pub fn sensitivity(&self) -> f64 {
        2.0 * self.params.clip_radius
    }

    /// The certificate for a target ε or a given σ; the paper's calibration is
    /// [`Calibration::Classical`].
    pub fn certificate(
        &self,
        target: GaussianTarget,
        calibration: Calibration,
    ) -> Result<Certificate, CertifyError> {
        Ok(gaussian::gaussian_certificate(
            "output_perturbation",
            self.sensitivity(),
            target,
            self.params.delta,
            calibration,
            "docs/certificates.md §8",
        )?
        .parameter("clip_radius", self.params.clip_radius)
        .parameter("delta", self.params.delta))
    }
}
