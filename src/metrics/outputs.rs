//! Output-space metrics of one split, accumulated chunk by chunk. See `docs/metrics.md` §2–§4
//! (definitions) and §6 (streaming and determinism).

use super::divergence::{PairRow, Prepared, pair_row, prepare_logits, prepare_probabilities};
use super::{CHUNK_ROWS, MetricsError, ModelRole, OutputKind};
use ndarray::{ArrayView1, ArrayView2};
use serde::Serialize;

/// Sums over rows for one pair (retrained vs another model).
#[derive(Debug, Clone, Copy, Default)]
struct PairSums {
    /// Σ KL(retrained‖other) over rows where it is finite.
    kl_from_retrained: f64,
    kl_from_retrained_infinite_rows: u64,
    /// Σ KL(other‖retrained) over rows where it is finite.
    kl_to_retrained: f64,
    kl_to_retrained_infinite_rows: u64,
    js: f64,
    l2: f64,
    l1: f64,
    l2_squared: f64,
}

impl PairSums {
    fn add_row(&mut self, row: &PairRow) {
        if row.kl_ab.is_finite() {
            self.kl_from_retrained += row.kl_ab;
        } else {
            self.kl_from_retrained_infinite_rows += 1;
        }
        if row.kl_ba.is_finite() {
            self.kl_to_retrained += row.kl_ba;
        } else {
            self.kl_to_retrained_infinite_rows += 1;
        }
        self.js += row.js;
        self.l2 += row.l2_squared.sqrt();
        self.l1 += row.l1;
        self.l2_squared += row.l2_squared;
    }

    fn merge(&mut self, other: &PairSums) {
        self.kl_from_retrained += other.kl_from_retrained;
        self.kl_from_retrained_infinite_rows += other.kl_from_retrained_infinite_rows;
        self.kl_to_retrained += other.kl_to_retrained;
        self.kl_to_retrained_infinite_rows += other.kl_to_retrained_infinite_rows;
        self.js += other.js;
        self.l2 += other.l2;
        self.l1 += other.l1;
        self.l2_squared += other.l2_squared;
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Sums {
    unlearned: PairSums,
    original: PairSums,
    rows: u64,
    labelled_rows: u64,
    correct_original: u64,
    correct_unlearned: u64,
    correct_retrained: u64,
}

impl Sums {
    fn merge(&mut self, other: &Sums) {
        self.unlearned.merge(&other.unlearned);
        self.original.merge(&other.original);
        self.rows += other.rows;
        self.labelled_rows += other.labelled_rows;
        self.correct_original += other.correct_original;
        self.correct_unlearned += other.correct_unlearned;
        self.correct_retrained += other.correct_retrained;
    }
}

/// Output-space metrics of one split. Rows are positions (examples, or examples × pixels
/// flattened for per-pixel outputs), columns are the K classes (class axis last).
///
/// Rows are summed in blocks of [`CHUNK_ROWS`] counted from the accumulator's first row; a
/// full block is added to the totals. Hence any sequence of `accumulate` calls on one
/// accumulator, and chunks of exactly [`CHUNK_ROWS`] rows fed to separate accumulators merged
/// in order, give bit-identical results. See `docs/metrics.md` §6.
#[derive(Debug, Clone)]
pub struct OutputAccumulator {
    num_classes: usize,
    kind: OutputKind,
    total: Sums,
    block: Sums,
    rows_in_block: usize,
    /// probabilities and log-probabilities of the three models for the current row.
    scratch: Vec<f64>,
}

fn prepare_row(
    kind: OutputKind,
    values: ArrayView1<f64>,
    probabilities: &mut [f64],
    log_probabilities: &mut [f64],
    model: ModelRole,
    row: usize,
) -> Result<(), MetricsError> {
    // contiguous rows (the usual case) run over plain slices, which optimise better
    match (kind, values.as_slice()) {
        (OutputKind::Logits, Some(slice)) => prepare_logits(
            slice.iter().copied(),
            probabilities,
            log_probabilities,
            model,
            row,
        ),
        (OutputKind::Logits, None) => prepare_logits(
            values.iter().copied(),
            probabilities,
            log_probabilities,
            model,
            row,
        ),
        (OutputKind::Probabilities, Some(slice)) => prepare_probabilities(
            slice.iter().copied(),
            probabilities,
            log_probabilities,
            model,
            row,
        ),
        (OutputKind::Probabilities, None) => prepare_probabilities(
            values.iter().copied(),
            probabilities,
            log_probabilities,
            model,
            row,
        ),
    }
}

/// Index of the first maximum, as `numpy.argmax`.
fn argmax(values: impl Iterator<Item = f64>) -> usize {
    let mut best = 0;
    let mut best_value = f64::NEG_INFINITY;
    for (i, v) in values.enumerate() {
        if v > best_value {
            best = i;
            best_value = v;
        }
    }
    best
}

impl OutputAccumulator {
    /// An empty accumulator for outputs with `num_classes` columns.
    pub fn new(num_classes: usize, kind: OutputKind) -> Self {
        OutputAccumulator {
            num_classes,
            kind,
            total: Sums::default(),
            block: Sums::default(),
            rows_in_block: 0,
            scratch: vec![0.0; 6 * num_classes],
        }
    }

    /// Adds one chunk of rows of the three models' outputs.
    ///
    /// `first_row` is the global index of the chunk's first row (for error messages).
    /// `labels`: one class index per row, if a labels file was given.
    pub fn accumulate(
        &mut self,
        original: ArrayView2<f64>,
        unlearned: ArrayView2<f64>,
        retrained: ArrayView2<f64>,
        labels: Option<&[i64]>,
        first_row: usize,
    ) -> Result<(), MetricsError> {
        let expected = (retrained.nrows(), self.num_classes);
        for (model, array) in [
            (ModelRole::Original, original.view()),
            (ModelRole::Unlearned, unlearned.view()),
            (ModelRole::Retrained, retrained.view()),
        ] {
            if array.dim() != expected {
                return Err(MetricsError::ShapeMismatch {
                    what: format!("{model} outputs (rows from {first_row})"),
                    expected: format!("{} rows × {} classes", expected.0, expected.1),
                    found: format!("{} rows × {} classes", array.nrows(), array.ncols()),
                });
            }
        }
        if self.num_classes == 0 && expected.0 > 0 {
            return Err(MetricsError::Empty {
                what: "the class axis of the outputs".into(),
            });
        }
        if let Some(labels) = labels
            && labels.len() != expected.0
        {
            return Err(MetricsError::ShapeMismatch {
                what: format!("labels (rows from {first_row})"),
                expected: format!("{} labels", expected.0),
                found: format!("{} labels", labels.len()),
            });
        }
        let k = self.num_classes;
        for i in 0..expected.0 {
            let row = first_row + i;
            let (original_p, rest) = self.scratch.split_at_mut(k);
            let (original_lp, rest) = rest.split_at_mut(k);
            let (unlearned_p, rest) = rest.split_at_mut(k);
            let (unlearned_lp, rest) = rest.split_at_mut(k);
            let (retrained_p, retrained_lp) = rest.split_at_mut(k);
            let kind = self.kind;
            prepare_row(
                kind,
                original.row(i),
                original_p,
                original_lp,
                ModelRole::Original,
                row,
            )?;
            prepare_row(
                kind,
                unlearned.row(i),
                unlearned_p,
                unlearned_lp,
                ModelRole::Unlearned,
                row,
            )?;
            prepare_row(
                kind,
                retrained.row(i),
                retrained_p,
                retrained_lp,
                ModelRole::Retrained,
                row,
            )?;
            let retrained_row = Prepared {
                probabilities: retrained_p,
                log_probabilities: retrained_lp,
            };
            let unlearned_row = Prepared {
                probabilities: unlearned_p,
                log_probabilities: unlearned_lp,
            };
            let original_row = Prepared {
                probabilities: original_p,
                log_probabilities: original_lp,
            };
            if let Some(labels) = labels {
                let label = labels[i];
                if label < 0 || label as u64 >= k as u64 {
                    return Err(MetricsError::LabelOutOfRange {
                        row,
                        label,
                        num_classes: k,
                    });
                }
                let label = label as usize;
                // argmax of the inputs themselves (logits or probabilities), as numpy would.
                self.block.labelled_rows += 1;
                self.block.correct_original +=
                    u64::from(argmax(original.row(i).iter().copied()) == label);
                self.block.correct_unlearned +=
                    u64::from(argmax(unlearned.row(i).iter().copied()) == label);
                self.block.correct_retrained +=
                    u64::from(argmax(retrained.row(i).iter().copied()) == label);
            }
            self.block
                .unlearned
                .add_row(&pair_row(&retrained_row, &unlearned_row));
            self.block
                .original
                .add_row(&pair_row(&retrained_row, &original_row));
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
    /// If the two accumulators were built for different class counts or kinds (a programming
    /// error: every chunk of a split comes from the same arrays).
    pub fn merge(&mut self, mut other: OutputAccumulator) {
        assert!(
            self.num_classes == other.num_classes && self.kind == other.kind,
            "OutputAccumulator::merge: accumulators of different shapes"
        );
        self.flush();
        other.flush();
        self.total.merge(&other.total);
    }

    /// Rows (positions) accumulated so far.
    pub fn positions(&self) -> u64 {
        self.total.rows + self.block.rows
    }

    /// Finishes into the split's metrics. `n_examples`: examples in the split
    /// (positions / positions-per-example).
    pub fn finish(mut self, n_examples: usize) -> SplitMetrics {
        self.flush();
        let sums = self.total;
        let rows = sums.rows;
        let unlearned = finish_pair(&sums.unlearned, rows);
        let original = finish_pair(&sums.original, rows);
        let accuracy = if rows == 0 {
            Accuracy::undefined(0, EMPTY_REASON)
        } else if sums.labelled_rows == 0 {
            Accuracy::undefined(0, "no labels were given")
        } else if sums.labelled_rows != rows {
            Accuracy::undefined(sums.labelled_rows, "labels were given for only some rows")
        } else {
            let rate = |correct: u64| Some(correct as f64 / rows as f64);
            Accuracy {
                original: rate(sums.correct_original),
                unlearned: rate(sums.correct_unlearned),
                retrained: rate(sums.correct_retrained),
                labelled_positions: rows,
                reason: None,
            }
        };
        SplitMetrics {
            n: n_examples as u64,
            positions: rows,
            num_classes: self.num_classes,
            kind: self.kind,
            kl_retrained_unlearned: unlearned.kl_from_retrained.value,
            kl_retrained_unlearned_reason: unlearned.kl_from_retrained.reason,
            kl_retrained_unlearned_infinite_rows: unlearned.kl_from_retrained.infinite_rows,
            kl_unlearned_retrained: unlearned.kl_to_retrained.value,
            kl_unlearned_retrained_reason: unlearned.kl_to_retrained.reason,
            kl_unlearned_retrained_infinite_rows: unlearned.kl_to_retrained.infinite_rows,
            js: unlearned.js,
            activation_distance: unlearned.activation_distance,
            activation_distance_l1: unlearned.activation_distance_l1,
            activation_distance_rms: unlearned.activation_distance_rms,
            reason: (rows == 0).then(|| EMPTY_REASON.to_string()),
            accuracy,
            original_vs_retrained: OriginalVsRetrained {
                kl_retrained_original: original.kl_from_retrained.value,
                kl_retrained_original_reason: original.kl_from_retrained.reason,
                kl_retrained_original_infinite_rows: original.kl_from_retrained.infinite_rows,
                kl_original_retrained: original.kl_to_retrained.value,
                kl_original_retrained_reason: original.kl_to_retrained.reason,
                kl_original_retrained_infinite_rows: original.kl_to_retrained.infinite_rows,
                js: original.js,
                activation_distance: original.activation_distance,
                activation_distance_l1: original.activation_distance_l1,
                activation_distance_rms: original.activation_distance_rms,
            },
        }
    }
}

const EMPTY_REASON: &str = "the split has no rows";

struct FinishedKl {
    value: Option<f64>,
    reason: Option<String>,
    infinite_rows: u64,
}

struct FinishedPair {
    kl_from_retrained: FinishedKl,
    kl_to_retrained: FinishedKl,
    js: Option<f64>,
    activation_distance: Option<f64>,
    activation_distance_l1: Option<f64>,
    activation_distance_rms: Option<f64>,
}

fn finish_kl(sum: f64, infinite_rows: u64, rows: u64, direction: &str) -> FinishedKl {
    let (value, reason) = if rows == 0 {
        (None, Some(EMPTY_REASON.to_string()))
    } else if infinite_rows > 0 {
        (
            None,
            Some(format!(
                "infinite: in {infinite_rows} of {rows} rows the {direction} has probability \
                 zero for a class the other model gives mass to"
            )),
        )
    } else {
        (Some(sum / rows as f64), None)
    };
    FinishedKl {
        value,
        reason,
        infinite_rows,
    }
}

fn finish_pair(sums: &PairSums, rows: u64) -> FinishedPair {
    let mean = |sum: f64| (rows > 0).then(|| sum / rows as f64);
    FinishedPair {
        kl_from_retrained: finish_kl(
            sums.kl_from_retrained,
            sums.kl_from_retrained_infinite_rows,
            rows,
            "second model",
        ),
        kl_to_retrained: finish_kl(
            sums.kl_to_retrained,
            sums.kl_to_retrained_infinite_rows,
            rows,
            "retrained model",
        ),
        js: mean(sums.js),
        activation_distance: mean(sums.l2),
        activation_distance_l1: mean(sums.l1),
        activation_distance_rms: mean(sums.l2_squared).map(f64::sqrt),
    }
}

/// Accuracy of each model (argmax vs label) over the split's positions; `null` with a reason
/// without labels. See `docs/metrics.md` §4.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Accuracy {
    pub original: Option<f64>,
    pub unlearned: Option<f64>,
    pub retrained: Option<f64>,
    pub labelled_positions: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Accuracy {
    fn undefined(labelled_positions: u64, reason: &str) -> Self {
        Accuracy {
            original: None,
            unlearned: None,
            retrained: None,
            labelled_positions,
            reason: Some(reason.to_string()),
        }
    }
}

/// The same divergences for the original model against the retrained one: the baseline an
/// unlearned model should beat. See `docs/metrics.md` §2–§4.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OriginalVsRetrained {
    /// Mean KL(P_r‖P_o) in nats.
    pub kl_retrained_original: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kl_retrained_original_reason: Option<String>,
    pub kl_retrained_original_infinite_rows: u64,
    /// Mean KL(P_o‖P_r) in nats.
    pub kl_original_retrained: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kl_original_retrained_reason: Option<String>,
    pub kl_original_retrained_infinite_rows: u64,
    /// Mean JS(P_o, P_r) in nats.
    pub js: Option<f64>,
    /// Mean ‖P_o − P_r‖₂.
    pub activation_distance: Option<f64>,
    /// Mean ‖P_o − P_r‖₁ (Golatkar).
    pub activation_distance_l1: Option<f64>,
    /// sqrt(mean ‖P_o − P_r‖₂²) (SUPREME).
    pub activation_distance_rms: Option<f64>,
}

/// Finished output-space metrics of one split (`outputs.<split>` in the JSON). Divergences in
/// nats, means over positions. See `docs/metrics.md` §2–§4.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SplitMetrics {
    /// Examples in the split.
    pub n: u64,
    /// Rows compared: examples, or examples × pixels for per-pixel outputs.
    pub positions: u64,
    pub num_classes: usize,
    pub kind: OutputKind,
    /// Mean KL(P_r‖P_u) in nats (reference first; the default direction).
    pub kl_retrained_unlearned: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kl_retrained_unlearned_reason: Option<String>,
    pub kl_retrained_unlearned_infinite_rows: u64,
    /// Mean KL(P_u‖P_r) in nats.
    pub kl_unlearned_retrained: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kl_unlearned_retrained_reason: Option<String>,
    pub kl_unlearned_retrained_infinite_rows: u64,
    /// Mean JS(P_u, P_r) in nats (≤ ln 2).
    pub js: Option<f64>,
    /// Mean ‖P_u − P_r‖₂ (bad-teaching `actv_dist`).
    pub activation_distance: Option<f64>,
    /// Mean ‖P_u − P_r‖₁ (Golatkar).
    pub activation_distance_l1: Option<f64>,
    /// sqrt(mean ‖P_u − P_r‖₂²) (SUPREME).
    pub activation_distance_rms: Option<f64>,
    /// Why the means are `null` (an empty split), absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub accuracy: Accuracy,
    pub original_vs_retrained: OriginalVsRetrained,
}
