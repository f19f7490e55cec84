//! Distances between hidden-layer activation vectors. See `docs/metrics.md` §4.

use super::norm::{SumNorms, SumSquares};
use super::{CHUNK_ROWS, MetricsError, ModelRole};
use ndarray::ArrayView2;
use serde::Serialize;

/// Overflow-safe sums (`docs/metrics.md` §6): activations of any finite magnitude give their
/// true distances, bit-identical to plain sums for ordinary values.
#[derive(Debug, Clone, Copy, Default)]
struct Sums {
    l2_unlearned_retrained: SumNorms,
    l2_squared_unlearned_retrained: SumSquares,
    l2_original_retrained: SumNorms,
    l2_squared_original_retrained: SumSquares,
    rows: u64,
}

impl Sums {
    fn merge(&mut self, other: &Sums) {
        self.l2_unlearned_retrained
            .merge(&other.l2_unlearned_retrained);
        self.l2_squared_unlearned_retrained
            .merge(&other.l2_squared_unlearned_retrained);
        self.l2_original_retrained
            .merge(&other.l2_original_retrained);
        self.l2_squared_original_retrained
            .merge(&other.l2_squared_original_retrained);
        self.rows += other.rows;
    }
}

/// (‖u − r‖², ‖o − r‖²) of one row as scaled sums; generic so contiguous rows run over plain
/// slices.
fn squared_distances<'a>(
    original: impl Iterator<Item = &'a f64>,
    unlearned: impl Iterator<Item = &'a f64>,
    retrained: impl Iterator<Item = &'a f64>,
) -> (SumSquares, SumSquares) {
    let mut squared_ur = SumSquares::default();
    let mut squared_or = SumSquares::default();
    for ((&o, &u), &r) in original.zip(unlearned).zip(retrained) {
        squared_ur.add(u - r);
        squared_or.add(o - r);
    }
    (squared_ur, squared_or)
}

/// Mean L2 distance between activation vectors (rows = examples, columns = features):
/// unlearned vs retrained, original vs retrained. Sums in blocks of [`CHUNK_ROWS`] rows like
/// [`super::OutputAccumulator`]. See `docs/metrics.md` §4 and §6.
#[derive(Debug, Clone)]
pub struct ActivationAccumulator {
    dim: usize,
    total: Sums,
    block: Sums,
    rows_in_block: usize,
}

impl ActivationAccumulator {
    /// An empty accumulator for activation vectors of `dim` features.
    pub fn new(dim: usize) -> Self {
        ActivationAccumulator {
            dim,
            total: Sums::default(),
            block: Sums::default(),
            rows_in_block: 0,
        }
    }

    /// Adds one chunk of rows; `first_row` is the global index of its first row.
    pub fn accumulate(
        &mut self,
        original: ArrayView2<f64>,
        unlearned: ArrayView2<f64>,
        retrained: ArrayView2<f64>,
        first_row: usize,
    ) -> Result<(), MetricsError> {
        let expected = (retrained.nrows(), self.dim);
        for (model, array) in [
            (ModelRole::Original, original.view()),
            (ModelRole::Unlearned, unlearned.view()),
            (ModelRole::Retrained, retrained.view()),
        ] {
            if array.dim() != expected {
                return Err(MetricsError::ShapeMismatch {
                    what: format!("{model} activations (rows from {first_row})"),
                    expected: format!("{} rows × {} features", expected.0, expected.1),
                    found: format!("{} rows × {} features", array.nrows(), array.ncols()),
                });
            }
            // iterate in memory order (fast), locate the culprit only on failure
            if array.iter().any(|v| !v.is_finite())
                && let Some(((i, column), &value)) =
                    array.indexed_iter().find(|(_, v)| !v.is_finite())
            {
                return Err(MetricsError::NonFinite {
                    model,
                    row: first_row + i,
                    column,
                    value,
                });
            }
        }
        for i in 0..expected.0 {
            let (o, u, r) = (original.row(i), unlearned.row(i), retrained.row(i));
            let (squared_ur, squared_or) = match (o.as_slice(), u.as_slice(), r.as_slice()) {
                (Some(o), Some(u), Some(r)) => squared_distances(o.iter(), u.iter(), r.iter()),
                _ => squared_distances(o.iter(), u.iter(), r.iter()),
            };
            self.block.l2_unlearned_retrained.add(squared_ur.norm());
            self.block.l2_squared_unlearned_retrained.merge(&squared_ur);
            self.block.l2_original_retrained.add(squared_or.norm());
            self.block.l2_squared_original_retrained.merge(&squared_or);
            self.block.rows += 1;
            self.rows_in_block += 1;
            if self.rows_in_block == CHUNK_ROWS {
                self.flush();
            }
        }
        Ok(())
    }

    fn flush(&mut self) {
        if self.rows_in_block > 0 {
            self.total.merge(&self.block);
            self.block = Sums::default();
            self.rows_in_block = 0;
        }
    }

    /// Adds another accumulator's rows after this one's (merge chunks in order).
    ///
    /// # Panics
    /// If the two accumulators were built for different dimensions (a programming error).
    pub fn merge(&mut self, mut other: ActivationAccumulator) {
        assert_eq!(
            self.dim, other.dim,
            "ActivationAccumulator::merge: accumulators of different dimensions"
        );
        self.flush();
        other.flush();
        self.total.merge(&other.total);
    }

    /// Finishes into the split's activation metrics; `n_examples` is reported as `n`.
    pub fn finish(mut self, n_examples: usize) -> ActivationMetrics {
        self.flush();
        let rows = self.total.rows;
        // Means of norms and RMS of norms; may be +inf only when the true value exceeds
        // f64::MAX (`compare` reports that as an error naming the split).
        let mean = |sum: &SumNorms| (rows > 0).then(|| sum.mean(rows as f64));
        let rms = |sum: &SumSquares| (rows > 0).then(|| sum.sqrt_of_mean(rows as f64));
        ActivationMetrics {
            n: n_examples as u64,
            rows,
            dim: self.dim,
            activation_distance: mean(&self.total.l2_unlearned_retrained),
            activation_distance_rms: rms(&self.total.l2_squared_unlearned_retrained),
            reason: (rows == 0).then(|| "the split has no rows".to_string()),
            original_vs_retrained: OriginalVsRetrainedActivations {
                activation_distance: mean(&self.total.l2_original_retrained),
                activation_distance_rms: rms(&self.total.l2_squared_original_retrained),
            },
        }
    }
}

/// Activation distances of one split (`activations.<split>` in the JSON).
/// See `docs/metrics.md` §4.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActivationMetrics {
    pub n: u64,
    pub rows: u64,
    pub dim: usize,
    /// Mean over rows of ‖a_u − a_r‖₂.
    pub activation_distance: Option<f64>,
    /// sqrt(mean over rows of ‖a_u − a_r‖₂²).
    pub activation_distance_rms: Option<f64>,
    /// Why the means are `null` (an empty split), absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub original_vs_retrained: OriginalVsRetrainedActivations,
}

/// The baseline: original vs retrained activations. See `docs/metrics.md` §4.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OriginalVsRetrainedActivations {
    /// Mean over rows of ‖a_o − a_r‖₂.
    pub activation_distance: Option<f64>,
    /// sqrt(mean over rows of ‖a_o − a_r‖₂²).
    pub activation_distance_rms: Option<f64>,
}
