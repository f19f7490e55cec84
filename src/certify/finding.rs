//! [`Certificate`]: the one certificate type of the crate. A mechanism's certified (ε, δ) with
//! its status, its inputs and intermediate quantities, as a [`Finding`] (outcome Info) for the
//! report spine; [`Certificate::covers`] decides whether it covers a [`Claim`]
//! (`docs/verdicts.md` §Certificates and claims).

use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use crate::evidence::Claim;
use crate::report::{Finding, Outcome, Table, fmt_number};

/// What a certificate is worth. Only [`Exact`](CertificateStatus::Exact) and
/// [`Certified`](CertificateStatus::Certified) can cover a claim; each other status says why
/// not. Serialised as `exact`, `certified`, `none`, `assumption_violated`, `faulty` (the
/// `status` field; the reason is the certificate's `reason` field).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertificateStatus {
    /// Exact unlearning: the two distributions are identical, (0, 0).
    Exact,
    /// The theorem's assumptions hold on these inputs: the (ε, δ) is a guarantee.
    Certified,
    /// Not a certified mechanism (`none`).
    NotCertified {
        /// Why there is no certificate.
        reason: String,
    },
    /// The theorem's assumption is measurably false on this data: the (ε, δ) is only a claim.
    AssumptionViolated {
        /// The assumption and the measurement that refutes it.
        assumption: String,
    },
    /// A deliberately faulty variant claims the correct mechanism's (ε, δ) but breaks it.
    Faulty {
        /// What the variant breaks.
        breaks: String,
    },
}

impl CertificateStatus {
    /// The JSON word: `exact`, `certified`, `none`, `assumption_violated`, `faulty`.
    pub fn as_str(&self) -> &'static str {
        match self {
            CertificateStatus::Exact => "exact",
            CertificateStatus::Certified => "certified",
            CertificateStatus::NotCertified { .. } => "none",
            CertificateStatus::AssumptionViolated { .. } => "assumption_violated",
            CertificateStatus::Faulty { .. } => "faulty",
        }
    }
}

impl std::fmt::Display for CertificateStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for CertificateStatus {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// A theoretical certificate: what a mechanism's parameters guarantee, or why they guarantee
/// nothing.
///
/// JSON fields: `mechanism`, `calibration` (or `null`), `sigma` (or `null` when the mechanism
/// has no single noise scale), `epsilon`, `delta` (`null` when not certified), `status`
/// ([`CertificateStatus`]), `reason` (where the certificate comes from, or why it is void),
/// `parameters` (the inputs), `intermediate` (every quantity on the way, e.g. `alpha`, `c`,
/// `renyi_slope`), `notes`, `source` (the section of `docs/certificates.md`), `outcome`
/// (`info`). Rules: `docs/verdicts.md` §Certificates and claims.
#[derive(Debug, Clone, Serialize)]
pub struct Certificate {
    /// Mechanism name, e.g. `gaussian`, `guo`, `koloskova_gradient_clip` (empty for a
    /// mechanism's own certificate, which the manifest names beside it).
    pub mechanism: String,
    /// The Gaussian calibration behind the headline numbers, if one applies.
    pub calibration: Option<String>,
    /// Noise standard deviation, if the mechanism has one.
    pub sigma: Option<f64>,
    /// Certified ε (rounded up); `None` when not certified.
    pub epsilon: Option<f64>,
    /// Certified δ (rounded up); `None` when not certified.
    pub delta: Option<f64>,
    /// What the certificate is worth.
    pub status: CertificateStatus,
    /// Where the certificate comes from (theorem and `certify` function) or why it is void.
    pub reason: String,
    /// The inputs, in the order given.
    pub parameters: Map<String, Value>,
    /// Intermediate quantities, in computation order.
    pub intermediate: Map<String, Value>,
    /// Caveats worth reading beside the numbers.
    pub notes: Vec<String>,
    /// Where the theorem is written up, e.g. `docs/certificates.md §3`.
    pub source: String,
    #[serde(flatten)]
    outcome: Outcome,
}

fn number(value: f64) -> Value {
    serde_json::Number::from_f64(value)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

impl Certificate {
    fn blank(status: CertificateStatus, reason: String) -> Self {
        Certificate {
            mechanism: String::new(),
            calibration: None,
            sigma: None,
            epsilon: None,
            delta: None,
            status,
            reason,
            parameters: Map::new(),
            intermediate: Map::new(),
            notes: Vec::new(),
            source: String::new(),
            outcome: Outcome::Info,
        }
    }

    /// A certified (ε, δ) computed by `certify` for `mechanism`, with its documentation section.
    pub fn new(mechanism: &str, epsilon: f64, delta: f64, source: &str) -> Self {
        Certificate {
            mechanism: mechanism.to_string(),
            epsilon: Some(epsilon),
            delta: Some(delta),
            source: source.to_string(),
            ..Self::blank_certified(epsilon, delta, format!("certify: {source}"))
        }
    }

    /// A blank certificate with status `Certified`, or `NotCertified` when (ε, δ) is vacuous
    /// (then `reason` says so).
    fn blank_certified(epsilon: f64, delta: f64, reason: String) -> Self {
        match Self::certified_or_vacuous(epsilon, delta) {
            CertificateStatus::NotCertified { reason: vacuous } => Self::blank(
                CertificateStatus::NotCertified {
                    reason: vacuous.clone(),
                },
                format!("{vacuous} ({reason})"),
            ),
            status => Self::blank(status, reason),
        }
    }

    /// `Certified`, unless (ε, δ) guarantees nothing: δ ≥ 1 holds for every pair of
    /// distributions, and an infinite or undefined ε bounds nothing.
    fn certified_or_vacuous(epsilon: f64, delta: f64) -> CertificateStatus {
        if epsilon.is_nan() || epsilon == f64::INFINITY || delta.is_nan() || delta >= 1.0 {
            CertificateStatus::NotCertified {
                reason: format!(
                    "vacuous: (ε, δ) = ({epsilon}, {delta}) holds for every pair of \
                     distributions, so it certifies nothing"
                ),
            }
        } else {
            CertificateStatus::Certified
        }
    }

    /// Exact unlearning: the two distributions are identical, (0, 0).
    pub fn exact(reason: impl Into<String>) -> Self {
        Certificate {
            epsilon: Some(0.0),
            delta: Some(0.0),
            ..Self::blank(CertificateStatus::Exact, reason.into())
        }
    }

    /// A certified (ε, δ), with where it comes from.
    pub fn certified(epsilon: f64, delta: f64, reason: impl Into<String>) -> Self {
        Certificate {
            epsilon: Some(epsilon),
            delta: Some(delta),
            ..Self::blank_certified(epsilon, delta, reason.into())
        }
    }

    /// No certificate, and why.
    pub fn none(reason: impl Into<String>) -> Self {
        let reason = reason.into();
        Self::blank(
            CertificateStatus::NotCertified {
                reason: reason.clone(),
            },
            reason,
        )
    }

    /// The same (ε, δ), now claimed by a faulty variant that breaks `what`.
    pub fn as_claimed_by_faulty_variant(self, what: &str) -> Self {
        Certificate {
            status: CertificateStatus::Faulty {
                breaks: what.to_string(),
            },
            reason: format!("claims: {}; but {what}", self.reason),
            ..self
        }
    }

    /// The same (ε, δ), whose theorem's assumption `what` was measured to fail on this data:
    /// it is no longer a certificate, only the claim an audit should test.
    pub fn with_assumption_violated(self, what: &str) -> Self {
        Certificate {
            status: CertificateStatus::AssumptionViolated {
                assumption: what.to_string(),
            },
            reason: format!(
                "not certified: {what}; the theorem would give: {}",
                self.reason
            ),
            ..self
        }
    }

    /// Sets the reason (where the certificate comes from).
    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = reason.into();
        self
    }

    /// Whether this certificate covers `claim` (`docs/verdicts.md` §Certificates and claims):
    ///
    /// * `exact` passes;
    /// * `certified` passes when its ε ≤ the claim's ε and its δ ≤ the claim's δ, fails when
    ///   either is larger, and is inconclusive when the claim states no ε or the certified ε is
    ///   not finite;
    /// * `assumption_violated` and `faulty` fail: the (ε, δ) is a claim, not a guarantee;
    /// * `none` (not certified) is inconclusive: there is nothing to compare.
    pub fn covers(&self, claim: &Claim) -> Outcome {
        let described = |what: &str| {
            if self.mechanism.is_empty() {
                format!("the certificate {what}")
            } else {
                format!("the {} certificate {what}", self.mechanism)
            }
        };
        match &self.status {
            CertificateStatus::Exact => Outcome::Pass,
            CertificateStatus::NotCertified { reason } => Outcome::Inconclusive {
                reason: format!("no certificate: {reason}"),
            },
            CertificateStatus::AssumptionViolated { assumption } => Outcome::Fail {
                reason: described(&format!(
                    "does not hold: its assumption is violated ({assumption}), so its (ε, δ) \
                     covers nothing"
                )),
            },
            CertificateStatus::Faulty { breaks } => Outcome::Fail {
                reason: described(&format!(
                    "is claimed by a faulty mechanism ({breaks}), so its (ε, δ) covers nothing"
                )),
            },
            CertificateStatus::Certified => {
                let (Some(epsilon), Some(delta)) = (self.epsilon, self.delta) else {
                    return Outcome::Inconclusive {
                        reason: described("has no (ε, δ)"),
                    };
                };
                if !(epsilon.is_finite() && delta.is_finite()) {
                    return Outcome::Inconclusive {
                        reason: described(&format!("gives (ε, δ) = ({epsilon}, {delta})")),
                    };
                }
                let Some(claimed) = claim.epsilon() else {
                    return Outcome::Inconclusive {
                        reason: "the claim states no ε to cover".into(),
                    };
                };
                if epsilon <= claimed && delta <= claim.delta() {
                    Outcome::Pass
                } else {
                    Outcome::Fail {
                        // the certificate's (ε, δ) is an upper bound: rounded up
                        reason: described(&format!(
                            "gives (ε, δ) = ({}, {}), weaker than the claim ({claimed}, {})",
                            crate::report::fmt_up(epsilon),
                            crate::report::fmt_up(delta),
                            claim.delta()
                        )),
                    }
                }
            }
        }
    }

    /// Sets σ.
    pub fn with_sigma(mut self, sigma: f64) -> Self {
        self.sigma = Some(sigma);
        self
    }

    /// Sets the calibration name.
    pub fn with_calibration(mut self, calibration: &str) -> Self {
        self.calibration = Some(calibration.to_string());
        self
    }

    /// Records an input. A non-finite value becomes `null` with a note.
    pub fn parameter(mut self, name: &str, value: f64) -> Self {
        if !value.is_finite() {
            self.notes
                .push(format!("parameter `{name}` is undefined ({value})"));
        }
        self.parameters.insert(name.to_string(), number(value));
        self
    }

    /// Records an intermediate quantity. A non-finite value becomes `null` with a note.
    pub fn intermediate(mut self, name: &str, value: f64) -> Self {
        if !value.is_finite() {
            self.notes.push(format!("`{name}` is undefined ({value})"));
        }
        self.intermediate.insert(name.to_string(), number(value));
        self
    }

    /// Records a textual intermediate (e.g. which conversion).
    pub fn intermediate_text(mut self, name: &str, value: &str) -> Self {
        self.intermediate
            .insert(name.to_string(), Value::String(value.to_string()));
        self
    }

    /// Adds a note.
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }
}

fn cell(value: &Value) -> String {
    match value {
        Value::Number(n) => n.as_f64().map(fmt_number).unwrap_or_else(|| n.to_string()),
        Value::String(s) => s.clone(),
        Value::Null => "—".to_string(),
        other => other.to_string(),
    }
}

impl Finding for Certificate {
    fn title(&self) -> String {
        format!("Certificate: {}", self.mechanism)
    }

    fn outcome(&self) -> Outcome {
        self.outcome.clone()
    }

    fn markdown(&self) -> String {
        let mut table = Table::new(["quantity", "value", "kind"]);
        if let Some(sigma) = self.sigma {
            table.row(["sigma".to_string(), fmt_number(sigma), "result".into()]);
        }
        let optional = |value: Option<f64>| value.map(fmt_number).unwrap_or_else(|| "—".into());
        table.row([
            "epsilon".to_string(),
            optional(self.epsilon),
            "result".into(),
        ]);
        table.row(["delta".to_string(), optional(self.delta), "result".into()]);
        table.row([
            "status".to_string(),
            self.status.to_string(),
            "result".into(),
        ]);
        if let Some(calibration) = &self.calibration {
            table.row([
                "calibration".to_string(),
                calibration.clone(),
                "result".into(),
            ]);
        }
        for (name, value) in &self.intermediate {
            table.row([name.clone(), cell(value), "intermediate".into()]);
        }
        for (name, value) in &self.parameters {
            table.row([name.clone(), cell(value), "parameter".into()]);
        }
        let mut out = table.markdown();
        for note in &self.notes {
            out.push_str(&format!("\nNote: {note}\n"));
        }
        out.push_str(&format!("\nSource: {}\n", self.source));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(epsilon: f64, delta: f64) -> Claim {
        Claim::new(Some(epsilon), delta).unwrap()
    }

    fn is_pass(outcome: &Outcome) -> bool {
        matches!(outcome, Outcome::Pass)
    }

    #[test]
    fn only_exact_or_certified_within_the_claim_covers_it() {
        let claim = claim(1.0, 1e-5);
        assert!(is_pass(&Certificate::exact("retrain").covers(&claim)));
        assert!(is_pass(
            &Certificate::certified(1.0, 1e-5, "theorem").covers(&claim)
        ));
        assert!(is_pass(
            &Certificate::certified(0.5, 1e-6, "theorem").covers(&claim)
        ));
        // Weaker in ε or in δ: fail.
        for weaker in [
            Certificate::certified(1.0 + 1e-12, 1e-5, "theorem"),
            Certificate::certified(1.0, 2e-5, "theorem"),
        ] {
            assert!(matches!(weaker.covers(&claim), Outcome::Fail { .. }));
        }
    }

    #[test]
    fn void_certificates_never_pass_and_say_why() {
        let claim = claim(1.0, 1e-5);
        // The same (ε, δ) as a passing certificate, but its status voids it.
        let violated = Certificate::certified(0.5, 1e-6, "theorem")
            .with_assumption_violated("Δ is below the measured error");
        assert_eq!(violated.status.as_str(), "assumption_violated");
        match violated.covers(&claim) {
            Outcome::Fail { reason } => assert!(reason.contains("Δ is below"), "{reason}"),
            other => panic!("{other:?}"),
        }
        let faulty = Certificate::exact("exact retraining")
            .as_claimed_by_faulty_variant("the forget set is never removed");
        assert_eq!(faulty.status.as_str(), "faulty");
        match faulty.covers(&claim) {
            Outcome::Fail { reason } => assert!(reason.contains("never removed"), "{reason}"),
            other => panic!("{other:?}"),
        }
        let none = Certificate::none("not a certified mechanism");
        assert_eq!(none.status.as_str(), "none");
        assert_eq!(none.epsilon, None);
        match none.covers(&claim) {
            Outcome::Inconclusive { reason } => {
                assert!(reason.contains("not a certified mechanism"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        // A claim with no ε: nothing to cover, inconclusive.
        let no_epsilon = Claim::new(None, 1e-5).unwrap();
        assert!(matches!(
            Certificate::certified(0.5, 1e-6, "theorem").covers(&no_epsilon),
            Outcome::Inconclusive { .. }
        ));
        // A non-finite certified ε is inconclusive, never a pass.
        assert!(matches!(
            Certificate::certified(f64::INFINITY, 1e-6, "theorem").covers(&claim),
            Outcome::Inconclusive { .. }
        ));
    }

    #[test]
    fn status_serialises_to_the_contract_words() {
        let json = serde_json::to_value(
            Certificate::certified(0.5, 1e-6, "theorem").with_assumption_violated("x"),
        )
        .unwrap();
        assert_eq!(json["status"], "assumption_violated");
        assert_eq!(json["epsilon"], 0.5);
        assert!(
            json["reason"]
                .as_str()
                .unwrap()
                .starts_with("not certified: x")
        );
        let json = serde_json::to_value(Certificate::none("no")).unwrap();
        assert_eq!(json["status"], "none");
        assert!(json["epsilon"].is_null());
        assert!(json["delta"].is_null());
        let json = serde_json::to_value(Certificate::exact("same")).unwrap();
        assert_eq!(json["status"], "exact");
        assert_eq!(json["epsilon"], 0.0);
    }
}
