//! Evidence types, validated once: the [`Claim`] under audit, carried unchanged to every
//! judgment (the ε audit, the certificate check, the report).
//!
//! A claim is built through [`Claim::new`] (and the `with_*` refinements), which validates that
//! its pieces fit; nothing unvalidated can be built. The plan runner builds it once from the
//! validated plan (`plan::Plan::claim`); the `epsilon` command builds it from its flags.
//! How claims and certificates decide verdicts: `docs/verdicts.md` §Certificates and claims;
//! where this module sits: `docs/architecture.md`.

use serde::{Deserialize, Serialize};

/// Errors of evidence constructors: a value that cannot belong to a claim.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum EvidenceError {
    /// A claim parameter is out of range.
    #[error("invalid {parameter} = {value}: {message}")]
    InvalidClaim {
        /// The parameter, as the CLI and plans spell it.
        parameter: &'static str,
        /// The offending value.
        value: String,
        /// What it must be.
        message: &'static str,
    },
}

/// Which family the claimed guarantee belongs to; decides whether the Gaussian-DP conversion
/// may be reported as a bound (`docs/epsilon.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ClaimFamily {
    /// Any (ε, δ) mechanism: only nonparametric bounds are certified.
    #[default]
    Generic,
    /// The mechanism is claimed to be Gaussian (μ-GDP); a GDP lower bound on μ converted to ε
    /// is then a valid bound against the claim.
    Gaussian,
}

/// The space a claim is measured in: what one release of the mechanism is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Space {
    /// The model's parameters.
    Weights,
    /// The model's outputs (or per-example scores derived from them).
    Outputs,
}

impl Space {
    /// `weight` / `output`, for sentences ("measured in weight space").
    pub fn adjective(self) -> &'static str {
        match self {
            Space::Weights => "weight",
            Space::Outputs => "output",
        }
    }
}

/// The neighbouring relation of the claim: what the unlearned and the retrained data sets
/// differ by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Neighbouring {
    /// The two data sets differ by one removed example.
    RemoveOne,
    /// The two data sets differ by a removed set; `size` when it is known (a plan's
    /// mechanism), `None` when the evidence does not say (exported bundles, sample sets).
    RemoveSet {
        /// Number of removed examples, when known.
        size: Option<usize>,
    },
}

impl Default for Neighbouring {
    /// A removed set of unknown size.
    fn default() -> Self {
        Neighbouring::RemoveSet { size: None }
    }
}

impl Neighbouring {
    /// The relation for a forget set of `size` examples.
    pub fn remove(size: usize) -> Self {
        if size == 1 {
            Neighbouring::RemoveOne
        } else {
            Neighbouring::RemoveSet { size: Some(size) }
        }
    }
}

/// A validated (ε, δ)-unlearning claim: ε > 0 finite (or absent: report the bound only, a pure
/// measurement), δ ∈ (0, 1), the space it is measured in (when stated), the neighbouring
/// relation and the mechanism family. See `docs/verdicts.md` §Certificates and claims.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Claim {
    epsilon: Option<f64>,
    delta: f64,
    space: Option<Space>,
    neighbouring: Neighbouring,
    family: ClaimFamily,
}

impl Claim {
    /// A claim of (ε, δ)-unlearning (ε absent: a measurement with no claimed ε), generic family,
    /// space unstated, neighbouring relation "a removed set of unknown size".
    pub fn new(epsilon: Option<f64>, delta: f64) -> Result<Self, EvidenceError> {
        if let Some(e) = epsilon
            && !(e.is_finite() && e > 0.0)
        {
            return Err(EvidenceError::InvalidClaim {
                parameter: "claim epsilon",
                value: e.to_string(),
                message: "must be finite and > 0",
            });
        }
        if !(delta.is_finite() && delta > 0.0 && delta < 1.0) {
            return Err(EvidenceError::InvalidClaim {
                parameter: "delta",
                value: delta.to_string(),
                message: "must lie strictly between 0 and 1",
            });
        }
        Ok(Claim {
            epsilon,
            delta,
            space: None,
            neighbouring: Neighbouring::default(),
            family: ClaimFamily::Generic,
        })
    }

    /// The same claim in the family `family`.
    pub fn with_family(mut self, family: ClaimFamily) -> Self {
        self.family = family;
        self
    }

    /// The same claim, measured in `space`.
    pub fn with_space(mut self, space: Space) -> Self {
        self.space = Some(space);
        self
    }

    /// The same claim for the neighbouring relation `neighbouring`.
    pub fn with_neighbouring(mut self, neighbouring: Neighbouring) -> Self {
        self.neighbouring = neighbouring;
        self
    }

    /// The claimed ε, if any.
    pub fn epsilon(&self) -> Option<f64> {
        self.epsilon
    }

    /// The claimed δ.
    pub fn delta(&self) -> f64 {
        self.delta
    }

    /// The space the claim is measured in, when stated.
    pub fn space(&self) -> Option<Space> {
        self.space
    }

    /// The neighbouring relation.
    pub fn neighbouring(&self) -> Neighbouring {
        self.neighbouring
    }

    /// The mechanism family.
    pub fn family(&self) -> ClaimFamily {
        self.family
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_are_validated() {
        assert!(Claim::new(Some(1.0), 1e-5).is_ok());
        assert!(Claim::new(None, 1e-5).is_ok());
        assert!(Claim::new(Some(0.0), 1e-5).is_err());
        assert!(Claim::new(Some(f64::INFINITY), 1e-5).is_err());
        assert!(Claim::new(Some(f64::NAN), 1e-5).is_err());
        assert!(Claim::new(Some(1.0), 0.0).is_err());
        assert!(Claim::new(Some(1.0), 1.0).is_err());
        assert!(Claim::new(Some(1.0), f64::NAN).is_err());
    }

    #[test]
    fn refinements_keep_the_numbers() {
        let claim = Claim::new(Some(0.5), 1e-6)
            .unwrap()
            .with_space(Space::Weights)
            .with_neighbouring(Neighbouring::remove(3))
            .with_family(ClaimFamily::Gaussian);
        assert_eq!(claim.epsilon(), Some(0.5));
        assert_eq!(claim.delta(), 1e-6);
        assert_eq!(claim.space(), Some(Space::Weights));
        assert_eq!(
            claim.neighbouring(),
            Neighbouring::RemoveSet { size: Some(3) }
        );
        assert_eq!(Neighbouring::remove(1), Neighbouring::RemoveOne);
        assert_eq!(claim.family(), ClaimFamily::Gaussian);
    }
}
