//! Certificates: the theoretical (ε, δ) that a certified unlearning mechanism's parameters
//! guarantee, so a report can set the certificate beside the empirical bound.
//!
//! * [`gaussian`]: the Gaussian mechanism, classical and analytic (Balle & Wang 2018)
//!   calibrations in every direction, zCDP.
//! * [`renyi`]: Rényi-DP of the Gaussian, composition, and Rényi → (ε, δ) conversions (the
//!   standard one and the improved one) with the order α optimised.
//! * One module per certified mechanism: [`guo`], [`descent_to_delete`], [`sekhari`],
//!   [`zhang`], [`koloskova`], [`output_perturbation`].
//!
//! Every function is pure. Inputs are validated first (`XParams::check()` for mechanisms, the
//! scalar newtypes [`Epsilon`], [`Delta`], [`Sensitivity`], [`Sigma`] for the primitives); an
//! invalid input is a [`CertifyError`] naming the parameter and the violated assumption, never
//! a number. Every returned quantity is rounded toward the certified side: σ up, ε up, δ up.
//! The theorems, their sources and the derivations are in `docs/certificates.md`.

pub mod descent_to_delete;
pub mod finding;
pub mod gaussian;
pub mod guo;
pub mod koloskova;
pub mod output_perturbation;
pub mod renyi;
pub mod sekhari;
pub mod zhang;

pub use finding::{Certificate, CertificateStatus};

/// Errors of the certificate computations.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CertifyError {
    /// A parameter is outside the domain where the theorem holds.
    #[error("invalid parameter `{parameter}` = {}: {assumption}", display_value(*.value))]
    InvalidParameter {
        /// The parameter's name as the CLI and the docs spell it.
        parameter: &'static str,
        /// The offending value.
        value: f64,
        /// The assumption it violates.
        assumption: String,
    },
    /// A numerical solve could not bracket or reach its target (the inputs are valid but the
    /// answer is outside the representable range of f64).
    #[error("{quantity}: no solution in double precision: {reason}")]
    NoSolution {
        /// The quantity being solved for.
        quantity: &'static str,
        /// Why the solve failed.
        reason: String,
    },
}

/// A parameter value as a reader wants it: plain in the usual range, scientific when very
/// large or very small (`1e-308`, not 308 zeros).
fn display_value(value: f64) -> String {
    let magnitude = value.abs();
    if value.is_finite() && magnitude != 0.0 && !(1e-4..1e16).contains(&magnitude) {
        format!("{value:e}")
    } else {
        format!("{value}")
    }
}

impl CertifyError {
    pub(crate) fn invalid(
        parameter: &'static str,
        value: f64,
        assumption: impl Into<String>,
    ) -> Self {
        CertifyError::InvalidParameter {
            parameter,
            value,
            assumption: assumption.into(),
        }
    }
}

/// Checks `value` is finite and `> 0`.
pub(crate) fn require_positive(parameter: &'static str, value: f64) -> Result<f64, CertifyError> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(CertifyError::invalid(
            parameter,
            value,
            "must be a finite number > 0",
        ))
    }
}

/// Checks `value` is finite and `>= 0`.
pub(crate) fn require_non_negative(
    parameter: &'static str,
    value: f64,
) -> Result<f64, CertifyError> {
    if value.is_finite() && value >= 0.0 {
        Ok(value)
    } else {
        Err(CertifyError::invalid(
            parameter,
            value,
            "must be a finite number >= 0",
        ))
    }
}

/// Checks a count is at least `min`.
pub(crate) fn require_count(
    parameter: &'static str,
    value: u64,
    min: u64,
) -> Result<u64, CertifyError> {
    if value >= min {
        Ok(value)
    } else {
        Err(CertifyError::invalid(
            parameter,
            value as f64,
            format!("must be an integer >= {min}"),
        ))
    }
}

/// Moves `value` up by `ulps` units in the last place: the safety margin for a result whose
/// floating-point evaluation error is a few ulps.
pub(crate) fn round_up(value: f64, ulps: u32) -> f64 {
    (0..ulps).fold(value, |v, _| v.next_up())
}

/// A privacy-loss parameter ε: finite and `> 0`.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Epsilon(f64);

impl Epsilon {
    /// Validates ε > 0 (and finite).
    pub fn new(value: f64) -> Result<Self, CertifyError> {
        if value.is_finite() && value > 0.0 {
            Ok(Epsilon(value))
        } else {
            Err(CertifyError::invalid(
                "epsilon",
                value,
                "ε must be a finite number > 0",
            ))
        }
    }
    /// The value.
    pub fn get(self) -> f64 {
        self.0
    }
}

/// A failure probability δ in the open interval (0, 1).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Delta(f64);

impl Delta {
    /// Validates 0 < δ < 1.
    pub fn new(value: f64) -> Result<Self, CertifyError> {
        if value > 0.0 && value < 1.0 {
            Ok(Delta(value))
        } else {
            Err(CertifyError::invalid(
                "delta",
                value,
                "δ must lie in the open interval (0, 1)",
            ))
        }
    }
    /// The value.
    pub fn get(self) -> f64 {
        self.0
    }
}

/// An L2 sensitivity Δ: finite and `> 0`.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Sensitivity(f64);

impl Sensitivity {
    /// Validates Δ > 0 (and finite).
    pub fn new(value: f64) -> Result<Self, CertifyError> {
        if value.is_finite() && value > 0.0 {
            Ok(Sensitivity(value))
        } else {
            Err(CertifyError::invalid(
                "sensitivity",
                value,
                "the L2 sensitivity Δ must be a finite number > 0",
            ))
        }
    }
    /// The value.
    pub fn get(self) -> f64 {
        self.0
    }
}

/// A Gaussian noise standard deviation σ: finite and `> 0`.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Sigma(f64);

impl Sigma {
    /// Validates σ > 0 (and finite).
    pub fn new(value: f64) -> Result<Self, CertifyError> {
        if value.is_finite() && value > 0.0 {
            Ok(Sigma(value))
        } else {
            Err(CertifyError::invalid(
                "sigma",
                value,
                "the noise standard deviation σ must be a finite number > 0",
            ))
        }
    }
    /// The value.
    pub fn get(self) -> f64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalar_validation_names_the_parameter() {
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let err = Epsilon::new(bad).unwrap_err().to_string();
            assert!(err.contains("`epsilon`") && err.contains("> 0"), "{err}");
        }
        for bad in [0.0, 1.0, 1.5, -1e-9, f64::NAN] {
            let err = Delta::new(bad).unwrap_err().to_string();
            assert!(err.contains("`delta`") && err.contains("(0, 1)"), "{err}");
        }
        assert!(Sigma::new(0.0).is_err() && Sensitivity::new(-2.0).is_err());
        assert_eq!(Delta::new(1e-5).unwrap().get(), 1e-5);
    }

    #[test]
    fn round_up_moves_up() {
        assert!(round_up(1.0, 2) > 1.0);
        assert_eq!(round_up(1.0, 0), 1.0);
    }
}
