//! The unlearning view: the same attack on the unlearned and on the retrained model, on the
//! same members and non-members, and the AUC gap with a paired DeLong interval.
//!
//! The headline is "indistinguishable from retraining or not": [`Outcome::Pass`] when every
//! gap interval contains 0, [`Outcome::Fail`] when one excludes it, [`Outcome::Inconclusive`]
//! when an interval cannot be formed. With m attacks each interval is taken at confidence
//! 1 − (1 − c)/m (Bonferroni), so the family-wise confidence is at least c. `docs/mia.md` §4.4.

use serde::Serialize;

use super::MiaError;
use super::roc::{Interval, Roc};
use crate::report::Outcome;
use crate::stats;

/// One attack's gap to retraining.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttackGap {
    pub attack: String,
    pub unlearned_auc: f64,
    pub retrained_auc: f64,
    /// AUC(unlearned) − AUC(retrained).
    pub auc_gap: f64,
    /// Paired DeLong interval of the gap (at the Bonferroni-adjusted confidence).
    pub auc_gap_ci: Option<Interval>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auc_gap_ci_reason: Option<String>,
    /// Whether the interval contains 0; `null` when there is no interval.
    pub indistinguishable: Option<bool>,
}

/// The AUC gap between two ROCs on the same examples, with a paired DeLong interval.
pub fn auc_gap(
    attack: &str,
    unlearned: &Roc,
    retrained: &Roc,
    confidence: f64,
) -> Result<AttackGap, MiaError> {
    if !(confidence > 0.0 && confidence < 1.0) {
        return Err(MiaError::parameter("confidence", "must be in (0, 1)"));
    }
    let covariance = unlearned.delong_covariance(retrained)?;
    let gap = unlearned.auc() - retrained.auc();
    let (ci, reason) = match (
        unlearned.delong_variance(),
        retrained.delong_variance(),
        covariance,
    ) {
        (Some(a), Some(b), Some(c)) => {
            let se = (a + b - 2.0 * c).max(0.0).sqrt();
            let z = stats::normal_quantile_upper((1.0 - confidence) / 2.0)
                .map_err(|e| MiaError::parameter("confidence", e.to_string()))?;
            (
                Some(Interval {
                    lower: (gap - z * se).next_down().max(-1.0),
                    upper: (gap + z * se).next_up().min(1.0),
                    confidence,
                    method: "paired_delong",
                }),
                None,
            )
        }
        _ => (
            None,
            Some("DeLong needs at least two members and two non-members".to_string()),
        ),
    };
    Ok(AttackGap {
        attack: attack.to_string(),
        unlearned_auc: unlearned.auc(),
        retrained_auc: retrained.auc(),
        auc_gap: gap,
        indistinguishable: ci.map(|ci| ci.contains(0.0)),
        auc_gap_ci: ci,
        auc_gap_ci_reason: reason,
    })
}

/// Gaps of several attacks (pairs of ROCs on the same examples) and the combined outcome, at
/// family-wise confidence `confidence` (Bonferroni over the attacks).
pub fn compare_to_reference<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a Roc, &'a Roc)>,
    confidence: f64,
) -> Result<(Vec<AttackGap>, Outcome), MiaError> {
    let pairs: Vec<_> = pairs.into_iter().collect();
    if pairs.is_empty() {
        return Err(MiaError::Empty {
            what: "attacks to compare".into(),
        });
    }
    let per_attack = 1.0 - (1.0 - confidence) / pairs.len() as f64;
    let gaps = pairs
        .into_iter()
        .map(|(name, u, r)| auc_gap(name, u, r, per_attack))
        .collect::<Result<Vec<_>, _>>()?;
    let failed: Vec<&str> = gaps
        .iter()
        .filter(|g| g.indistinguishable == Some(false))
        .map(|g| g.attack.as_str())
        .collect();
    let outcome = if !failed.is_empty() {
        Outcome::Fail {
            reason: format!(
                "distinguishable from retraining: the AUC gap interval excludes 0 for {}",
                failed.join(", ")
            ),
        }
    } else if gaps.iter().any(|g| g.indistinguishable.is_none()) {
        Outcome::Inconclusive {
            reason: "some AUC gap has no interval (too few examples)".into(),
        }
    } else {
        Outcome::Pass
    };
    Ok((gaps, outcome))
}
