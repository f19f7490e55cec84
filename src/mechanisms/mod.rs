//! Reference unlearning mechanisms. Each one is an unlearning procedure, *and* the reference
//! procedure its paper compares against (the distribution of the guarantee), *and* its
//! certificate. The Monte-Carlo runner ([`crate::sampling`]) calls [`Mechanism::unlearn`] and
//! [`Mechanism::reference`] once per run with that run's own random stream; data, splits and
//! deterministic pre-computations (unperturbed minimisers used as exact warm starts, spectral
//! norms) are fixed at construction, so the runs sample only the mechanism's own randomness
//! (references §4 "cross-cutting checks").
//!
//! Deliberately faulty variants break one promise each; see `docs/mechanisms.md` §4.
//! Definitions, sources and certificates: `docs/mechanisms.md`.

mod certificates;
mod d2d;
mod fisher;
mod guo;
mod koloskova;
mod linear;
mod model_clip;
mod options;
mod output_perturbation;
mod sekhari;
mod zhang;

pub use certificates::{Certificate, CertificateStatus};
pub use d2d::DescentToDelete;
pub use fisher::{Fisher, diagonal_fisher};
pub use guo::{Guo, GuoFault, GuoParams, Removal, perturbed_gradient_norm};
pub use koloskova::Koloskova;
pub use linear::{Retrain, RetrainFault, RetrainParams};
pub use model_clip::KoloskovaModelClip;
pub use options::MechanismOptions;
pub(crate) use options::mechanism_options;
pub use sekhari::{LOGISTIC_HESSIAN_LIPSCHITZ, Sekhari};
pub use zhang::{Zhang, ZhangParams};

use ndarray::Array1;
use rand_chacha::ChaCha8Rng;

use crate::models::{Dataset, Model, ModelError};

/// Errors of the mechanism layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MechanismError {
    /// No mechanism of this name.
    #[error("unknown mechanism `{name}`; known: {known}")]
    UnknownMechanism { name: String, known: String },
    /// A parameter is out of the range where the mechanism's theorem holds.
    #[error("mechanism `{mechanism}`: parameter `{parameter}` = {value}: {reason}")]
    Parameter {
        mechanism: String,
        parameter: String,
        value: String,
        reason: String,
    },
    /// The forget set is invalid (out of range, repeated, empty, everything).
    #[error("forget set: {0}")]
    ForgetSet(String),
    /// The model layer failed (training, solve).
    #[error("mechanism `{mechanism}`: {source}")]
    Model {
        mechanism: String,
        #[source]
        source: ModelError,
    },
}

impl MechanismError {
    pub(crate) fn parameter(
        mechanism: &str,
        parameter: &str,
        value: impl ToString,
        reason: impl Into<String>,
    ) -> Self {
        MechanismError::Parameter {
            mechanism: mechanism.to_string(),
            parameter: parameter.to_string(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }
}

/// An unlearning mechanism together with the reference procedure of its guarantee.
pub trait Mechanism: Send + Sync {
    /// Name as given on the command line (faulty variants included).
    fn name(&self) -> &str;
    /// The model whose parameters the runs return.
    fn model(&self) -> &dyn Model;
    /// The forget set (features scaled as the mechanism trains on them), for per-example scores.
    fn forget_set(&self) -> &Dataset;
    /// One run of "train on the full data, then unlearn the forget set", drawing all of its
    /// randomness from `rng`. Returns the published parameters.
    fn unlearn(&self, rng: &mut ChaCha8Rng) -> Result<Array1<f64>, MechanismError>;
    /// One run of the reference procedure the guarantee compares against (retraining without
    /// the forget set, as the paper defines it).
    fn reference(&self, rng: &mut ChaCha8Rng) -> Result<Array1<f64>, MechanismError>;
    /// The certified (ε, δ), or the reason there is none.
    fn certificate(&self) -> Certificate;
    /// The parameters, for the manifest.
    fn parameters(&self) -> serde_json::Value;
}

/// A data set split into the part kept and the part to forget, features scaled to the unit
/// ball (`docs/mechanisms.md` §1.3).
#[derive(Debug, Clone)]
pub struct Split {
    /// All rows, scaled.
    pub full: Dataset,
    /// Rows kept (original order, forget rows removed).
    pub retain: Dataset,
    /// Rows to forget, in the order given (sequential removals follow it).
    pub forget: Dataset,
    /// Indices of the forget rows in the original data.
    pub forget_indices: Vec<usize>,
    /// The divisor applied to every feature (largest row norm of the input).
    pub feature_scale: f64,
}

impl Split {
    /// Validates the forget indices (in range, distinct, not empty, not everything) and scales
    /// the features so that every row has norm at most 1.
    pub fn new(data: &Dataset, forget_indices: &[usize]) -> Result<Self, MechanismError> {
        let n = data.len();
        if forget_indices.is_empty() {
            return Err(MechanismError::ForgetSet("no examples to forget".into()));
        }
        let mut seen = vec![false; n];
        for &index in forget_indices {
            if index >= n {
                return Err(MechanismError::ForgetSet(format!(
                    "index {index} is out of range: the data has {n} rows (0..{n})"
                )));
            }
            if seen[index] {
                return Err(MechanismError::ForgetSet(format!(
                    "index {index} is repeated"
                )));
            }
            seen[index] = true;
        }
        if forget_indices.len() >= n {
            return Err(MechanismError::ForgetSet(format!(
                "forgetting all {n} rows leaves nothing to train on"
            )));
        }
        let (full, feature_scale) = data.scaled_to_unit_ball();
        let retain_indices: Vec<usize> = (0..n).filter(|&i| !seen[i]).collect();
        Ok(Split {
            retain: full.select(&retain_indices),
            forget: full.select(forget_indices),
            forget_indices: forget_indices.to_vec(),
            full,
            feature_scale,
        })
    }

    /// The forget set of `--forget-count N`: the first `count` rows of a seeded shuffle of
    /// `0..n` (ChaCha8 stream `u64::MAX` of `seed`, which no run uses).
    pub fn choose_forget_indices(n: usize, count: usize, seed: u64) -> Vec<usize> {
        use rand::SeedableRng;
        use rand::seq::SliceRandom;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        // Stream u64::MAX is reserved for this choice; runs use streams 2t and 2t + 1.
        rng.set_stream(u64::MAX);
        let mut indices: Vec<usize> = (0..n).collect();
        indices.shuffle(&mut rng);
        indices.truncate(count);
        indices
    }
}

/// Which reference model a mechanism trains (`--model`, plans' `model`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// Binary (2 classes) or one-vs-rest logistic regression.
    Logistic,
    /// Multinomial logistic regression.
    Softmax,
}

impl ModelKind {
    /// Parses `logistic` / `softmax`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "logistic" => Some(ModelKind::Logistic),
            "softmax" => Some(ModelKind::Softmax),
            _ => None,
        }
    }

    pub(crate) fn build(self, data: &Dataset) -> Box<dyn Model> {
        match self {
            ModelKind::Logistic => Box::new(crate::models::LogisticRegression::new(
                data.num_features(),
                data.num_classes,
            )),
            ModelKind::Softmax => Box::new(crate::models::SoftmaxRegression::new(
                data.num_features(),
                data.num_classes,
            )),
        }
    }
}

/// The mechanism names [`build`] accepts.
pub const MECHANISM_NAMES: &[&str] = &[
    "retrain",
    "retrain-no-removal",
    "retrain-reused-noise",
    "finetune",
    "fisher",
    "guo",
    "guo-small-noise",
    "guo-no-perturbation",
    "guo-no-removal",
    "guo-reused-noise",
    "sekhari",
    "sekhari-small-noise",
    "d2d",
    "d2d-small-noise",
    "d2d-reused-noise",
    "koloskova-gradient-clip",
    "koloskova-gradient-clip-small-noise",
    "koloskova-gradient-clip-reused-noise",
    "sekhari-reused-noise",
    "zhang",
    "zhang-small-noise",
    "zhang-reused-noise",
    "koloskova-model-clip",
    "koloskova-model-clip-small-noise",
    "koloskova-model-clip-reused-noise",
];

/// Builds the mechanism `name` on `split`.
pub fn build(
    name: &str,
    split: Split,
    options: &MechanismOptions,
) -> Result<Box<dyn Mechanism>, MechanismError> {
    let mechanism: Box<dyn Mechanism> = match name {
        "retrain" => Box::new(Retrain::new(
            split,
            RetrainParams::from_options(options, RetrainFault::None)?,
        )?),
        "retrain-no-removal" => Box::new(Retrain::new(
            split,
            RetrainParams::from_options(options, RetrainFault::ForgetSetKept)?,
        )?),
        "finetune" => Box::new(Retrain::new(
            split,
            RetrainParams::from_options(options, RetrainFault::FineTuneOnly)?,
        )?),
        "guo" => Box::new(Guo::new(
            split,
            GuoParams::from_options(options)?,
            GuoFault::None,
        )?),
        "guo-small-noise" => Box::new(Guo::new(
            split,
            GuoParams::from_options(options)?,
            GuoFault::NoiseTooSmall,
        )?),
        "guo-no-perturbation" => Box::new(Guo::new(
            split,
            GuoParams::from_options(options)?,
            GuoFault::PerturbationLeftOut,
        )?),
        "guo-no-removal" => Box::new(Guo::new(
            split,
            GuoParams::from_options(options)?,
            GuoFault::ForgetSetKept,
        )?),
        "d2d" => Box::new(DescentToDelete::new(split, options, false)?),
        "d2d-small-noise" => Box::new(DescentToDelete::new(split, options, true)?),
        "koloskova-gradient-clip" => Box::new(Koloskova::new(split, options, false)?),
        "koloskova-gradient-clip-small-noise" => Box::new(Koloskova::new(split, options, true)?),
        "koloskova-model-clip" => Box::new(KoloskovaModelClip::new(split, options, false)?),
        "koloskova-model-clip-small-noise" => {
            Box::new(KoloskovaModelClip::new(split, options, true)?)
        }
        "zhang" => Box::new(Zhang::new(split, options, false)?),
        "zhang-small-noise" => Box::new(Zhang::new(split, options, true)?),
        "fisher" => Box::new(Fisher::new(split, options)?),
        "sekhari" => Box::new(Sekhari::new(split, options, false)?),
        "sekhari-small-noise" => Box::new(Sekhari::new(split, options, true)?),
        other => {
            if let Some(base) = other.strip_suffix("-reused-noise")
                && base != other
                && MECHANISM_NAMES.contains(&other)
            {
                let inner = build(base, split, options)?;
                return Ok(Box::new(ReusedNoise {
                    name: other.to_string(),
                    inner,
                }));
            }
            return Err(MechanismError::UnknownMechanism {
                name: name.to_string(),
                known: MECHANISM_NAMES.join(", "),
            });
        }
    };
    Ok(mechanism)
}

/// Faulty wrapper: every unlearning run draws the same noise (the stream of run 0 is reused),
/// so the unlearned outputs are one point instead of a distribution. Breaks the promise that
/// each release draws fresh noise (`docs/mechanisms.md` §4).
pub struct ReusedNoise {
    name: String,
    inner: Box<dyn Mechanism>,
}

impl Mechanism for ReusedNoise {
    fn name(&self) -> &str {
        &self.name
    }
    fn model(&self) -> &dyn Model {
        self.inner.model()
    }
    fn forget_set(&self) -> &Dataset {
        self.inner.forget_set()
    }
    fn unlearn(&self, rng: &mut ChaCha8Rng) -> Result<Array1<f64>, MechanismError> {
        // The bug: the run's own stream is ignored and a fixed one is used instead.
        let mut fixed = rng.clone();
        fixed.set_stream(0);
        fixed.set_word_pos(0);
        self.inner.unlearn(&mut fixed)
    }
    fn reference(&self, rng: &mut ChaCha8Rng) -> Result<Array1<f64>, MechanismError> {
        self.inner.reference(rng)
    }
    fn certificate(&self) -> Certificate {
        self.inner
            .certificate()
            .as_claimed_by_faulty_variant("every run reuses the noise of run 0")
    }
    fn parameters(&self) -> serde_json::Value {
        self.inner.parameters()
    }
}

pub(crate) fn model_error(mechanism: &str) -> impl FnOnce(ModelError) -> MechanismError + '_ {
    move |source| MechanismError::Model {
        mechanism: mechanism.to_string(),
        source,
    }
}

#[cfg(test)]
mod send_sync {
    fn assert_send_sync<T: Send + Sync>() {}
    #[test]
    fn mechanisms_cross_threads() {
        assert_send_sync::<super::Guo>();
        assert_send_sync::<super::Retrain>();
        assert_send_sync::<super::Split>();
        assert_send_sync::<super::Zhang>();
        assert_send_sync::<super::KoloskovaModelClip>();
    }
}
