//! Membership inference: signals → attacks → one ROC engine.
//!
//! * [`signals`]: per-example signals computed in f64 from logits (loss, confidence, entropy,
//!   modified entropy, logit-scaled confidence φ), behind the small [`Signal`] trait.
//! * [`roc`]: the one ROC engine every attack reports through: exact ROC with tie blocks, AUC
//!   (Mann–Whitney), DeLong and stratified-bootstrap intervals, TPR at a list of FPRs with
//!   Clopper–Pearson intervals and the resolution of the data, attacker advantage, the curve.
//! * [`population`]: attacks on one model from members vs non-members (threshold attacks,
//!   class-conditional thresholds, logistic regression fitted on a held-out part) and the
//!   published unlearning MIAs as named compatibility modes.
//! * [`shadow`]: shadow-model attacks from score matrices `[n_points, n_models]` with
//!   membership masks: LiRA (online/offline, per-example/fixed variance), RMIA in
//!   O((n_x + n_z) log n_z), U-LiRA.
//! * [`svm`] and [`salun`]: an exact libsvm-style RBF C-SVC and the SalUn / Jia et al.
//!   "MIA-Efficacy" compatibility mode built on it.
//! * [`unlearning`]: the same attack on the unlearned and on the retrained model, and the gap
//!   with a paired interval; the verdict is an equivalence test with a margin and the original
//!   model as positive control (`docs/verdicts.md`, "Membership inference").
//! * [`analysis`]: one function per analysis (population MIA, LiRA, RMIA, U-LiRA) returning its
//!   typed finding, called by both the CLI and the plan runner.
//!
//! Every score is oriented so that **higher means member**. Definitions, sources and the
//! deviations of published code are written in `docs/mia.md`.

pub mod analysis;
pub mod llm;
pub mod logistic;
pub mod population;
pub mod roc;
pub mod salun;
pub mod shadow;
pub mod signals;
pub mod svm;
pub mod unlearning;

pub use population::{
    AttackOutcome, Compatibility, EvaluatedRate, PopulationConfig, SplitOutputs,
    compatibility_modes, population_attacks,
};
pub use roc::{FprConvention, Interval, Roc, RocConfig, RocSummary};
pub use salun::{SALUN_FEATURES, SalunEntry, SalunMiaEfficacy, salun_mia_efficacy};
pub use shadow::{
    LiraConfig, LiraMode, LiraVariance, OfflineTest, RmiaConfig, RmiaInput, RunsInput, RunsScores,
    ShadowMatrix, UnlearningState, lira_scores, rmia_scores, ulira_runs_scores, ulira_scores,
};
pub use signals::{
    ALL_SIGNALS, Confidence, Entropy, Loss, ModifiedEntropy, Orientation, ScaledLogit, Signal,
};
pub use svm::{RbfSvc, SvcParams};
pub use unlearning::{
    AttackGap, DEFAULT_MARGIN, EquivalenceAttack, PositiveControl, SamplesNeeded,
    compare_to_chance, compare_to_reference, equivalence_to_chance, equivalence_to_reference,
    gap_to_chance,
};

/// Errors raised by membership-inference analyses. Each names the array or parameter at fault;
/// the CLI adds the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MiaError {
    /// A set that must hold at least one example is empty.
    #[error("`{what}` is empty")]
    Empty { what: String },
    /// A score, logit or probability is NaN or infinite.
    #[error("`{array}` holds a non-finite value ({value}) at index {index}")]
    NonFinite {
        array: String,
        index: usize,
        value: f64,
    },
    /// Two arrays that must agree in shape do not.
    #[error("shape mismatch: `{array}` has shape {found:?}, expected {expected:?}")]
    ShapeMismatch {
        array: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    /// A class label is negative or not below the number of classes.
    #[error("`{array}`: label {label} at index {index} is out of range 0..{n_classes}")]
    LabelOutOfRange {
        array: String,
        index: usize,
        label: i64,
        n_classes: usize,
    },
    /// A membership mask (or a member / non-member pair of sets) holds one class only.
    #[error("`{array}` holds only {present}: an attack needs both members and non-members")]
    OneClass { array: String, present: String },
    /// A point has too few shadow models of a kind to fit its distribution.
    #[error(
        "point {point} has {found} {kind} shadow model(s), at least {needed} needed \
         (use more shadow models, or the fixed-variance / offline variant)"
    )]
    TooFewModels {
        point: usize,
        kind: &'static str,
        found: usize,
        needed: usize,
    },
    /// A value that must be a probability is outside its range.
    #[error("`{array}` holds {value} at index {index}, {expected}")]
    OutOfRange {
        array: String,
        index: usize,
        value: f64,
        expected: &'static str,
    },
    /// A parameter is outside its domain.
    #[error("parameter `{name}`: {message}")]
    InvalidParameter { name: &'static str, message: String },
}

impl MiaError {
    pub(crate) fn parameter(name: &'static str, message: impl Into<String>) -> Self {
        MiaError::InvalidParameter {
            name,
            message: message.into(),
        }
    }
}

/// Checks that every value is finite.
pub(crate) fn check_finite(array: &str, values: &[f64]) -> Result<(), MiaError> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(MiaError::NonFinite {
            array: array.to_string(),
            index,
            value: values[index],
        }),
        None => Ok(()),
    }
}

/// Converts integer labels to class indices, checking `0 <= label < n_classes`.
pub fn validate_labels(
    array: &str,
    labels: &[i64],
    n_classes: usize,
) -> Result<Vec<usize>, MiaError> {
    labels
        .iter()
        .enumerate()
        .map(|(index, &label)| {
            if label < 0 || label as u64 >= n_classes as u64 {
                Err(MiaError::LabelOutOfRange {
                    array: array.to_string(),
                    index,
                    label,
                    n_classes,
                })
            } else {
                Ok(label as usize)
            }
        })
        .collect()
}
