//! Per-example signals computed in f64 from one row of logits and the true label.
//!
//! Everything goes through the log-softmax, so saturated probabilities (p_y = 1 in f32) keep
//! their order: φ = z_y − logsumexp_{j≠y} z_j stays finite where ln p_y − ln(1 − p_y) on
//! rounded probabilities would be +∞. Definitions and sources: `docs/mia.md` §1.

use ndarray::ArrayView2;
use rayon::prelude::*;

use super::MiaError;

/// Which direction of a signal indicates membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Orientation {
    /// Larger values mean member (confidence, φ).
    HigherIsMember,
    /// Smaller values mean member (loss, entropy, modified entropy).
    LowerIsMember,
}

impl Orientation {
    /// Maps a raw signal value to an attack score where higher means member.
    pub fn score(self, value: f64) -> f64 {
        match self {
            Orientation::HigherIsMember => value,
            Orientation::LowerIsMember => -value,
        }
    }
}

/// A scalar per-example signal of a classifier's output (STYLE habit 5).
pub trait Signal: Sync {
    /// Stable snake_case name, used as the attack name of the threshold attack on it.
    fn name(&self) -> &'static str;
    /// The direction that indicates membership.
    fn orientation(&self) -> Orientation;
    /// The signal's natural value (e.g. the loss in nats) for one row of logits and its label.
    /// `logits` has at least two entries, all finite or −∞ with a finite maximum; `label` is
    /// in range (callers validate).
    fn value(&self, logits: &[f64], label: usize) -> f64;
    /// The value oriented so that higher means member.
    fn score(&self, logits: &[f64], label: usize) -> f64 {
        self.orientation().score(self.value(logits, label))
    }
}

/// ln Σ exp(z_j) with the maximum shifted out.
fn log_sum_exp(logits: &[f64]) -> f64 {
    let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY {
        return max;
    }
    max + logits.iter().map(|&z| (z - max).exp()).sum::<f64>().ln()
}

/// ln Σ_{j≠skip} exp(z_j).
fn log_sum_exp_except(logits: &[f64], skip: usize) -> f64 {
    let max = logits
        .iter()
        .enumerate()
        .filter(|&(j, _)| j != skip)
        .map(|(_, &z)| z)
        .fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY {
        return max;
    }
    max + logits
        .iter()
        .enumerate()
        .filter(|&(j, _)| j != skip)
        .map(|(_, &z)| (z - max).exp())
        .sum::<f64>()
        .ln()
}

/// ln(1 − p_j) from logits: log1p(−p_j) while p_j is small, the complement's log-sum-exp
/// otherwise (where 1 − p_j would cancel).
fn log_one_minus_p(logits: &[f64], j: usize, log_normaliser: f64) -> f64 {
    let log_p = logits[j] - log_normaliser;
    if log_p < -std::f64::consts::LN_2 {
        (-log_p.exp()).ln_1p()
    } else {
        log_sum_exp_except(logits, j) - log_normaliser
    }
}

/// Cross-entropy loss ℓ = −ln p_y (Yeom et al. 2018). Lower means member.
#[derive(Debug, Clone, Copy, Default)]
pub struct Loss;

impl Signal for Loss {
    fn name(&self) -> &'static str {
        "loss"
    }
    fn orientation(&self) -> Orientation {
        Orientation::LowerIsMember
    }
    fn value(&self, logits: &[f64], label: usize) -> f64 {
        log_sum_exp(logits) - logits[label]
    }
}

/// True-class confidence p_y (Song & Mittal 2021). Higher means member.
#[derive(Debug, Clone, Copy, Default)]
pub struct Confidence;

impl Signal for Confidence {
    fn name(&self) -> &'static str {
        "confidence"
    }
    fn orientation(&self) -> Orientation {
        Orientation::HigherIsMember
    }
    fn value(&self, logits: &[f64], label: usize) -> f64 {
        (logits[label] - log_sum_exp(logits)).exp()
    }
}

/// Prediction entropy H(p) = −Σ p_j ln p_j in nats (Song & Mittal 2021). Lower means member.
#[derive(Debug, Clone, Copy, Default)]
pub struct Entropy;

impl Signal for Entropy {
    fn name(&self) -> &'static str {
        "entropy"
    }
    fn orientation(&self) -> Orientation {
        Orientation::LowerIsMember
    }
    fn value(&self, logits: &[f64], _label: usize) -> f64 {
        let normaliser = log_sum_exp(logits);
        -logits
            .iter()
            .map(|&z| {
                let log_p = z - normaliser;
                // p ln p → 0 as p → 0 (also for z = −∞).
                if log_p == f64::NEG_INFINITY {
                    0.0
                } else {
                    log_p.exp() * log_p
                }
            })
            .sum::<f64>()
    }
}

/// Modified entropy (Song & Mittal 2021, eq. 8), the correct form:
/// Mentr(p, y) = −(1 − p_y) ln p_y − Σ_{j≠y} p_j ln(1 − p_j). Lower means member.
/// (SalUn's `SVC_MIA.py` uses ln p_j for ln(1 − p_j) and indexes columns: `docs/mia.md` §1.4.)
#[derive(Debug, Clone, Copy, Default)]
pub struct ModifiedEntropy;

impl Signal for ModifiedEntropy {
    fn name(&self) -> &'static str {
        "modified_entropy"
    }
    fn orientation(&self) -> Orientation {
        Orientation::LowerIsMember
    }
    fn value(&self, logits: &[f64], label: usize) -> f64 {
        let normaliser = log_sum_exp(logits);
        let log_p_y = logits[label] - normaliser;
        let one_minus_p_y = log_one_minus_p(logits, label, normaliser).exp();
        let mut total = -one_minus_p_y * log_p_y;
        for (j, &z) in logits.iter().enumerate() {
            if j == label {
                continue;
            }
            let log_p = z - normaliser;
            if log_p == f64::NEG_INFINITY {
                continue;
            }
            total -= log_p.exp() * log_one_minus_p(logits, j, normaliser);
        }
        total
    }
}

/// Logit-scaled confidence φ = ln p_y − ln(1 − p_y) = z_y − logsumexp_{j≠y} z_j (Carlini et
/// al. 2022 §4; the signal of LiRA and U-LiRA). Higher means member.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScaledLogit;

impl Signal for ScaledLogit {
    fn name(&self) -> &'static str {
        "scaled_logit"
    }
    fn orientation(&self) -> Orientation {
        Orientation::HigherIsMember
    }
    fn value(&self, logits: &[f64], label: usize) -> f64 {
        logits[label] - log_sum_exp_except(logits, label)
    }
}

/// The five signals, in report order.
pub const ALL_SIGNALS: [&dyn Signal; 5] =
    [&Loss, &Confidence, &Entropy, &ModifiedEntropy, &ScaledLogit];

/// Checks a logits array and its labels: at least two classes, every row with a finite
/// maximum and no NaN or +∞, labels in range. `array` names the split for messages.
pub fn validate_logits(
    array: &str,
    logits: ArrayView2<'_, f64>,
    labels: &[usize],
) -> Result<(), MiaError> {
    let (n, k) = logits.dim();
    if k < 2 {
        return Err(MiaError::ShapeMismatch {
            array: array.to_string(),
            expected: vec![n, 2],
            found: vec![n, k],
        });
    }
    if labels.len() != n {
        return Err(MiaError::ShapeMismatch {
            array: format!("labels of {array}"),
            expected: vec![n],
            found: vec![labels.len()],
        });
    }
    for (row_index, row) in logits.rows().into_iter().enumerate() {
        let mut max = f64::NEG_INFINITY;
        for (j, &z) in row.iter().enumerate() {
            if z.is_nan() || z == f64::INFINITY {
                return Err(MiaError::NonFinite {
                    array: array.to_string(),
                    index: row_index * k + j,
                    value: z,
                });
            }
            max = max.max(z);
        }
        if max == f64::NEG_INFINITY {
            return Err(MiaError::NonFinite {
                array: array.to_string(),
                index: row_index * k,
                value: max,
            });
        }
    }
    Ok(())
}

/// Attack scores (higher = member) of a signal on every row, in row order. Inputs must have
/// passed [`validate_logits`].
pub fn signal_scores(
    signal: &dyn Signal,
    logits: ArrayView2<'_, f64>,
    labels: &[usize],
) -> Vec<f64> {
    let k = logits.ncols();
    match logits.as_slice() {
        Some(flat) => flat
            .par_chunks(k.max(1))
            .zip(labels.par_iter())
            .map(|(row, &label)| signal.score(row, label))
            .collect(),
        None => logits
            .rows()
            .into_iter()
            .zip(labels)
            .map(|(row, &label)| signal.score(&row.to_vec(), label))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saturated_confidence_keeps_its_order_in_scaled_logit() {
        // p_y rounds to 1 in f64 for both rows, φ still separates them.
        let a = ScaledLogit.value(&[60.0, 0.0], 0);
        let b = ScaledLogit.value(&[70.0, 0.0], 0);
        assert_eq!(a, 60.0);
        assert_eq!(b, 70.0);
        assert_eq!(Confidence.value(&[60.0, 0.0], 0), 1.0);
    }

    #[test]
    fn binary_identities_hold() {
        // Two classes: φ = z_y − z_other, loss = ln(1 + e^{−φ}).
        let logits = [0.3, -1.2];
        let phi = ScaledLogit.value(&logits, 0);
        assert!((phi - 1.5).abs() < 1e-15);
        assert!((Loss.value(&logits, 0) - (-phi).exp().ln_1p()).abs() < 1e-15);
        // Mentr with two classes: −(1−p) ln p − (1−p) ln p = −2(1−p) ln p.
        let p = Confidence.value(&logits, 0);
        let mentr = ModifiedEntropy.value(&logits, 0);
        assert!((mentr - (-2.0 * (1.0 - p) * p.ln())).abs() < 1e-14);
    }
}
