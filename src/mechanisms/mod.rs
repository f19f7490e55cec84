//! Reference unlearning mechanisms. Each one is an unlearning procedure, *and* the reference
//! procedure its paper compares against (the distribution of the guarantee), *and* its
//! certificate. The Monte-Carlo runner ([`crate::sampling`]) calls [`Mechanism::unlearn`] and
//! [`Mechanism::reference`] once per run with that run's own random stream; data, splits and
//! deterministic pre-computations (unperturbed minimisers used as exact warm starts, spectral
//! norms) are fixed at construction, so the runs sample only the mechanism's own randomness
//! (references §4 "cross-cutting checks").
//!
//! Deliberately faulty variants break one promise each; see `docs/mechanisms.md` §4.
//! Definitions, sources and certificates: `docs/mechanisms.md`. The [`REGISTRY`] is the one list
//! of mechanisms; parameters are declared once in `options.rs` (`docs/architecture.md`).

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

/// Builds one mechanism on a split from the generic options.
pub type BuildFn = fn(Split, &MechanismOptions) -> Result<Box<dyn Mechanism>, MechanismError>;

/// One entry of the mechanism registry: the name as given on the command line and in plans,
/// and how to build it (each mechanism reads and validates its parameters from
/// [`MechanismOptions`] and carries its own [`Certificate`]).
pub struct MechanismEntry {
    /// Name as given on the command line and in plans.
    pub name: &'static str,
    /// Builds the mechanism.
    pub build: BuildFn,
}

fn boxed(mechanism: impl Mechanism + 'static) -> Result<Box<dyn Mechanism>, MechanismError> {
    Ok(Box::new(mechanism))
}

fn reused_noise(
    name: &str,
    base: &str,
    split: Split,
    options: &MechanismOptions,
) -> Result<Box<dyn Mechanism>, MechanismError> {
    boxed(ReusedNoise {
        name: name.to_string(),
        inner: build(base, split, options)?,
    })
}

/// The registry: every mechanism [`build`] accepts, faulty variants included
/// (`docs/mechanisms.md`). `sample --help` and plan validation list names from it.
pub static REGISTRY: &[MechanismEntry] = &[
    MechanismEntry {
        name: "retrain",
        build: |s, o| {
            boxed(Retrain::new(
                s,
                RetrainParams::from_options(o, RetrainFault::None)?,
            )?)
        },
    },
    MechanismEntry {
        name: "retrain-no-removal",
        build: |s, o| {
            boxed(Retrain::new(
                s,
                RetrainParams::from_options(o, RetrainFault::ForgetSetKept)?,
            )?)
        },
    },
    MechanismEntry {
        name: "retrain-reused-noise",
        build: |s, o| reused_noise("retrain-reused-noise", "retrain", s, o),
    },
    MechanismEntry {
        name: "finetune",
        build: |s, o| {
            boxed(Retrain::new(
                s,
                RetrainParams::from_options(o, RetrainFault::FineTuneOnly)?,
            )?)
        },
    },
    MechanismEntry {
        name: "fisher",
        build: |s, o| boxed(Fisher::new(s, o)?),
    },
    MechanismEntry {
        name: "guo",
        build: |s, o| boxed(Guo::new(s, GuoParams::from_options(o)?, GuoFault::None)?),
    },
    MechanismEntry {
        name: "guo-small-noise",
        build: |s, o| {
            boxed(Guo::new(
                s,
                GuoParams::from_options(o)?,
                GuoFault::NoiseTooSmall,
            )?)
        },
    },
    MechanismEntry {
        name: "guo-no-perturbation",
        build: |s, o| {
            boxed(Guo::new(
                s,
                GuoParams::from_options(o)?,
                GuoFault::PerturbationLeftOut,
            )?)
        },
    },
    MechanismEntry {
        name: "guo-no-removal",
        build: |s, o| {
            boxed(Guo::new(
                s,
                GuoParams::from_options(o)?,
                GuoFault::ForgetSetKept,
            )?)
        },
    },
    MechanismEntry {
        name: "guo-reused-noise",
        build: |s, o| reused_noise("guo-reused-noise", "guo", s, o),
    },
    MechanismEntry {
        name: "sekhari",
        build: |s, o| boxed(Sekhari::new(s, o, false)?),
    },
    MechanismEntry {
        name: "sekhari-small-noise",
        build: |s, o| boxed(Sekhari::new(s, o, true)?),
    },
    MechanismEntry {
        name: "d2d",
        build: |s, o| boxed(DescentToDelete::new(s, o, false)?),
    },
    MechanismEntry {
        name: "d2d-small-noise",
        build: |s, o| boxed(DescentToDelete::new(s, o, true)?),
    },
    MechanismEntry {
        name: "d2d-reused-noise",
        build: |s, o| reused_noise("d2d-reused-noise", "d2d", s, o),
    },
    MechanismEntry {
        name: "koloskova-gradient-clip",
        build: |s, o| boxed(Koloskova::new(s, o, false)?),
    },
    MechanismEntry {
        name: "koloskova-gradient-clip-small-noise",
        build: |s, o| boxed(Koloskova::new(s, o, true)?),
    },
    MechanismEntry {
        name: "koloskova-gradient-clip-reused-noise",
        build: |s, o| {
            reused_noise(
                "koloskova-gradient-clip-reused-noise",
                "koloskova-gradient-clip",
                s,
                o,
            )
        },
    },
    MechanismEntry {
        name: "sekhari-reused-noise",
        build: |s, o| reused_noise("sekhari-reused-noise", "sekhari", s, o),
    },
    MechanismEntry {
        name: "zhang",
        build: |s, o| boxed(Zhang::new(s, o, false)?),
    },
    MechanismEntry {
        name: "zhang-small-noise",
        build: |s, o| boxed(Zhang::new(s, o, true)?),
    },
    MechanismEntry {
        name: "zhang-reused-noise",
        build: |s, o| reused_noise("zhang-reused-noise", "zhang", s, o),
    },
    MechanismEntry {
        name: "koloskova-model-clip",
        build: |s, o| boxed(KoloskovaModelClip::new(s, o, false)?),
    },
    MechanismEntry {
        name: "koloskova-model-clip-small-noise",
        build: |s, o| boxed(KoloskovaModelClip::new(s, o, true)?),
    },
    MechanismEntry {
        name: "koloskova-model-clip-reused-noise",
        build: |s, o| {
            reused_noise(
                "koloskova-model-clip-reused-noise",
                "koloskova-model-clip",
                s,
                o,
            )
        },
    },
];

/// The mechanism names [`build`] accepts, in registry order.
pub static MECHANISM_NAMES: std::sync::LazyLock<Vec<&'static str>> =
    std::sync::LazyLock::new(|| REGISTRY.iter().map(|entry| entry.name).collect());

/// Builds the mechanism `name` on `split` from the [`REGISTRY`].
pub fn build(
    name: &str,
    split: Split,
    options: &MechanismOptions,
) -> Result<Box<dyn Mechanism>, MechanismError> {
    match REGISTRY.iter().find(|entry| entry.name == name) {
        Some(entry) => (entry.build)(split, options),
        None => Err(MechanismError::UnknownMechanism {
            name: name.to_string(),
            known: MECHANISM_NAMES.join(", "),
        }),
    }
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

#[cfg(test)]
mod registry {
    #[test]
    fn names_are_unique_and_every_faulty_twin_has_its_base() {
        let names = &*super::MECHANISM_NAMES;
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len());
        for name in names {
            if let Some(base) = name.strip_suffix("-reused-noise") {
                assert!(names.contains(&base), "{name}");
            }
        }
        assert!(names.contains(&"zhang") && names.contains(&"koloskova-model-clip"));
    }
}
