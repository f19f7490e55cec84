//! The certificate a mechanism carries into the manifest.

use serde::Serialize;

/// The (ε, δ) a mechanism is certified for, or why it has none. Faulty variants carry the
/// certificate of the mechanism they imitate (that is the claim an audit should refute) and
/// say what they break.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Certificate {
    /// Certified ε (nats); `null` when the mechanism is not certified.
    pub epsilon: Option<f64>,
    /// Certified δ; `null` when the mechanism is not certified.
    pub delta: Option<f64>,
    /// `exact`, `certified`, `none` (not a certified mechanism) or `faulty` (claims the
    /// certificate of the correct mechanism but breaks it).
    pub status: &'static str,
    /// Where the certificate comes from (theorem and `certify` function) or why there is none.
    pub reason: String,
}

impl Certificate {
    /// Exact unlearning: the two distributions are identical, (0, 0).
    pub fn exact(reason: impl Into<String>) -> Self {
        Certificate {
            epsilon: Some(0.0),
            delta: Some(0.0),
            status: "exact",
            reason: reason.into(),
        }
    }

    /// A certified (ε, δ).
    pub fn certified(epsilon: f64, delta: f64, reason: impl Into<String>) -> Self {
        Certificate {
            epsilon: Some(epsilon),
            delta: Some(delta),
            status: "certified",
            reason: reason.into(),
        }
    }

    /// No certificate.
    pub fn none(reason: impl Into<String>) -> Self {
        Certificate {
            epsilon: None,
            delta: None,
            status: "none",
            reason: reason.into(),
        }
    }

    /// The same (ε, δ), now claimed by a faulty variant that breaks `what`.
    pub fn as_claimed_by_faulty_variant(self, what: &str) -> Self {
        Certificate {
            status: "faulty",
            reason: format!("claims: {}; but {what}", self.reason),
            ..self
        }
    }
}
