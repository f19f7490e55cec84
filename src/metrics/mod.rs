//! Distances and divergences between an original model (`M_o`), an unlearned model (`M_u`)
//! and the retrained-from-scratch reference (`M_r`): verification error in weight space,
//! KL / JS divergence, activation distance and accuracy in output space, and the published
//! variants of these metrics under their own explicit names.
//!
//! The definitions, their sources, their conventions (direction, nats, averaging) and the
//! known answers the tests check are written in `docs/metrics.md`.
//!
//! Everything is `f64` and in nats. Large inputs are streamed: the accumulators
//! ([`WeightSums`], [`OutputAccumulator`], [`ActivationAccumulator`]) are fed chunk by chunk,
//! merged in chunk order, then finished. Each accumulator sums in blocks of a fixed size
//! ([`CHUNK_ROWS`] rows, [`WEIGHT_CHUNK_ELEMENTS`] weights), so feeding chunks of exactly that
//! size to separate accumulators (one per thread) and merging them in order gives a result
//! bit-identical to one accumulator fed everything, whatever the thread count.

mod activations;
pub mod compare;
mod divergence;
mod norm;
mod outputs;
mod weights;

pub use activations::{ActivationAccumulator, ActivationMetrics, OriginalVsRetrainedActivations};
pub use divergence::{
    KlomVariant, activation_distance, activation_distance_l1, activation_distance_rms, gaussian_kl,
    gaussian_kl_golatkar_compat, js_badteaching_compat, js_divergence, kl_divergence, klom, margin,
    mean_js, mean_kl, zrf, zrf_badteaching_compat,
};
pub use norm::{SumNorms, SumSquares, distance as l2_distance};
pub use outputs::{Accuracy, OriginalVsRetrained, OutputAccumulator, SplitMetrics};
pub use weights::{TensorDistances, WeightDistances, WeightSums, weight_distances};

/// Rows per chunk in the streaming contract with `compare`: output and activation arrays are
/// fed in chunks of at most this many rows, and the accumulators sum in blocks of this size.
/// See `docs/metrics.md` §6.
pub const CHUNK_ROWS: usize = 8192;

/// Weights per block in [`WeightSums::accumulate`]: feeding tensors in chunks of exactly this
/// many elements (the last one shorter) to separate [`WeightSums`] and merging them in order is
/// bit-identical to one call on the whole tensor. See `docs/metrics.md` §6.
pub const WEIGHT_CHUNK_ELEMENTS: usize = 1 << 16;

/// Whether an output array holds logits or probabilities; defined in [`crate::io`] (a property
/// of the files), re-exported here so `metrics::OutputKind` keeps working.
pub use crate::io::OutputKind;

/// Which of the three models an array belongs to; named in every error. See `docs/metrics.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelRole {
    Original,
    Unlearned,
    Retrained,
}

impl std::fmt::Display for ModelRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ModelRole::Original => "original",
            ModelRole::Unlearned => "unlearned",
            ModelRole::Retrained => "retrained",
        })
    }
}

/// Errors of the metrics. They carry the model and the global row; the caller (`compare`)
/// adds the file and the split/array name. Input rules are in `docs/metrics.md` §2 and §4.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum MetricsError {
    /// A logit, probability or activation is NaN or infinite.
    #[error("{model} model, row {row}, column {column}: value {value} is not finite")]
    NonFinite {
        model: ModelRole,
        row: usize,
        column: usize,
        value: f64,
    },
    /// A value is finite but a quantity derived from it is not representable in f64
    /// (e.g. logits more than `f64::MAX` apart).
    #[error("{model} model, row {row}, column {column}: {what}")]
    Unrepresentable {
        model: ModelRole,
        row: usize,
        column: usize,
        what: String,
    },
    /// A probability is negative.
    #[error("{model} model, row {row}, column {column}: probability {value} is negative")]
    NegativeProbability {
        model: ModelRole,
        row: usize,
        column: usize,
        value: f64,
    },
    /// A probability row does not sum to one within the tolerance.
    #[error(
        "{model} model, row {row}: probabilities sum to {sum}, not 1 (tolerance {tolerance}); \
         were logits passed as probabilities?"
    )]
    RowSumNotOne {
        model: ModelRole,
        row: usize,
        sum: f64,
        tolerance: f64,
    },
    /// A label is negative or not smaller than the number of classes.
    #[error("row {row}: label {label} is outside 0..{num_classes}")]
    LabelOutOfRange {
        row: usize,
        label: i64,
        num_classes: usize,
    },
    /// Arrays that must have the same shape do not.
    #[error("shape mismatch in {what}: expected {expected}, found {found}")]
    ShapeMismatch {
        what: String,
        expected: String,
        found: String,
    },
    /// An input that must not be empty is empty.
    #[error("{what} is empty")]
    Empty { what: String },
    /// A parameter is outside its domain.
    #[error("parameter `{parameter}` = {value}: {reason}")]
    InvalidParameter {
        parameter: &'static str,
        value: f64,
        reason: &'static str,
    },
    /// The metric is undefined for these inputs (e.g. an empty histogram in a compat variant).
    #[error("{metric} is undefined: {reason}")]
    Undefined {
        metric: &'static str,
        reason: String,
    },
}

// The accumulators cross threads in `compare` (one per chunk, merged in order).
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<WeightSums>();
    assert_send_sync::<OutputAccumulator>();
    assert_send_sync::<ActivationAccumulator>();
    assert_send_sync::<SplitMetrics>();
    assert_send_sync::<WeightDistances>();
    assert_send_sync::<ActivationMetrics>();
    assert_send_sync::<MetricsError>();
    assert_send_sync::<compare::CompareFinding>();
    assert_send_sync::<compare::CompareError>();
};
