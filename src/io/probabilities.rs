//! Detecting probabilities passed where logits are expected (`docs/formats.md` §2).
//!
//! Rule: an output array read as **logits** is refused when it has at least two classes and
//! *every* row lies in `[0, 1]` and sums to one within [`crate::tolerance::PROBABILITY_ROW_SUM`].
//! Softmax is shift-invariant, so such logits are legal in principle, but a model whose logits
//! on every example happen to form a probability vector does not occur in practice, whereas
//! passing `predict_proba` output without `--outputs-are probabilities` is a common mistake
//! that silently changes every divergence (JS moved from 0.015 to 0.39 in issue 11).
//! Arrays with a single row are judged like any other.

use std::path::Path;

use super::IoError;

/// Streaming check: feed the rows of one output array (in any number of chunks), then call
/// [`ProbabilityLikeRows::finish`].
#[derive(Debug, Clone)]
pub struct ProbabilityLikeRows {
    num_classes: usize,
    rows: usize,
    all_probability_like: bool,
}

impl ProbabilityLikeRows {
    /// A detector for rows of `num_classes` values.
    pub fn new(num_classes: usize) -> Self {
        ProbabilityLikeRows {
            num_classes,
            rows: 0,
            all_probability_like: true,
        }
    }

    /// Observes whole rows (`values.len()` a multiple of the class count).
    pub fn observe(&mut self, values: &[f64]) {
        if !self.all_probability_like || self.num_classes == 0 {
            return;
        }
        for row in values.chunks_exact(self.num_classes) {
            self.rows += 1;
            let in_unit = row.iter().all(|v| (0.0..=1.0).contains(v));
            let sum: f64 = row.iter().sum();
            if !in_unit || (sum - 1.0).abs() > crate::tolerance::PROBABILITY_ROW_SUM {
                self.all_probability_like = false;
                return;
            }
        }
    }

    /// Whether every observed row is a probability vector (and there were rows to judge, with
    /// at least two classes).
    pub fn looks_like_probabilities(&self) -> bool {
        self.all_probability_like && self.rows > 0 && self.num_classes >= 2
    }

    /// Refuses the array `array` of `path` (read as logits) when every row is a probability
    /// vector, naming the flag to use.
    pub fn finish(&self, path: &Path, array: &str) -> Result<(), IoError> {
        if self.looks_like_probabilities() {
            return Err(IoError::invalid(
                path,
                array,
                format!(
                    "read as logits, but all {} rows lie in [0, 1] and sum to 1: these look like \
                     probabilities; pass `--outputs-are probabilities` (plans: \
                     `outputs_are = \"probabilities\"`) if they are",
                    self.rows
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_probability_rows_only() {
        let mut probs = ProbabilityLikeRows::new(3);
        probs.observe(&[0.2, 0.3, 0.5]);
        probs.observe(&[1.0, 0.0, 0.0, 0.1, 0.1, 0.8]);
        assert!(probs.looks_like_probabilities());
        assert!(probs.finish(Path::new("o.npz"), "forget").is_err());
        let mut logits = ProbabilityLikeRows::new(3);
        logits.observe(&[0.2, 0.3, 0.5, 2.0, -1.0, 0.0]);
        assert!(!logits.looks_like_probabilities());
        assert!(logits.finish(Path::new("o.npz"), "forget").is_ok());
        let mut near = ProbabilityLikeRows::new(2);
        near.observe(&[0.5, 0.49]);
        assert!(!near.looks_like_probabilities());
        assert!(!ProbabilityLikeRows::new(1).looks_like_probabilities());
        assert!(!ProbabilityLikeRows::new(3).looks_like_probabilities());
    }
}
