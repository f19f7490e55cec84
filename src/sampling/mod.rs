//! The trial runner: runs a mechanism and its reference procedure many times, on all cores,
//! reproducibly, and records what the audit needs from each run; or drives a user's command
//! once per run ([`external`]). See `docs/sampling.md`.
//!
//! Reproducibility: run `t`, side `s` (0 unlearned, 1 retrained) draws all of its randomness
//! from `ChaCha8Rng::seed_from_u64(seed)` with `set_stream(2t + s)`, and every run is computed
//! serially on one thread; runs are collected in order. The output is therefore bit-identical
//! whatever the number of threads.

pub mod checkpoint;
pub mod external;
pub mod pipeline;
pub mod shadow;

pub use checkpoint::Checkpoint;

pub use shadow::{ShadowWorlds, scaled_logit_scores, shadow_worlds};

use ndarray::{Array1, Array2};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::mechanisms::{Mechanism, MechanismError};

/// Errors of the runner.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SamplingError {
    /// The options are unusable.
    #[error("{0}")]
    Options(String),
    /// A run failed inside the mechanism.
    #[error("run {run}, side {side}: {source}")]
    Run {
        run: usize,
        side: Side,
        #[source]
        source: MechanismError,
    },
    /// A run produced a non-finite value.
    #[error("run {run}, side {side}: the recorded values contain {value} at position {position}")]
    NonFinite {
        run: usize,
        side: Side,
        position: usize,
        value: f64,
    },
    /// An external command failed or wrote nothing.
    #[error("run {run}, side {side}: {message}")]
    External {
        run: usize,
        side: Side,
        message: String,
    },
    /// A file or directory could not be written.
    #[error("{path}: {source}")]
    Write {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The two sides of a repeated-sampling experiment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// Train, then unlearn.
    Unlearned = 0,
    /// The reference procedure (retrain without the forget set).
    Retrained = 1,
}

impl Side {
    /// Both sides, in stream order.
    pub const BOTH: [Side; 2] = [Side::Unlearned, Side::Retrained];

    /// `unlearned` / `retrained`, as used in file names and `{side}`.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Unlearned => "unlearned",
            Side::Retrained => "retrained",
        }
    }
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The random stream of run `run`, side `side`.
pub fn run_rng(seed: u64, run: usize, side: Side) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(2 * run as u64 + side as u64);
    rng
}

/// What each run records (plans spell it in snake_case, the CLI in kebab-case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Record {
    /// The flattened parameters (`d` = parameter count).
    Weights,
    /// Per forget example, the logit-scaled confidence `ln p_y − ln(1 − p_y)` (`d` = forget
    /// set size).
    ForgetScores,
    /// Per forget example, the loss `−ln p_y` (`d` = forget set size).
    ForgetLosses,
    /// One scalar: the mean logit-scaled confidence over the forget set (`d` = 1).
    Statistic,
}

impl Record {
    /// Parses `weights`, `forget-scores`, `forget-losses`, `statistic`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "weights" => Some(Record::Weights),
            "forget-scores" => Some(Record::ForgetScores),
            "forget-losses" => Some(Record::ForgetLosses),
            "statistic" => Some(Record::Statistic),
            _ => None,
        }
    }

    /// What one recorded row holds given the published parameters.
    pub fn extract(self, mechanism: &dyn Mechanism, params: &Array1<f64>) -> Array1<f64> {
        let model = mechanism.model();
        let w = params
            .as_slice()
            .expect("mechanisms return contiguous parameters");
        match self {
            Record::Weights => params.clone(),
            Record::ForgetScores => model.logit_confidence(w, mechanism.forget_set()),
            Record::ForgetLosses => model.per_example_loss(w, mechanism.forget_set()),
            Record::Statistic => {
                let scores = model.logit_confidence(w, mechanism.forget_set());
                // Serial, fixed-order sum: independent of threads.
                let mean = scores.iter().sum::<f64>() / scores.len() as f64;
                Array1::from_elem(1, mean)
            }
        }
    }
}

/// Progress callbacks. All methods have no-op defaults; implementations must be `Sync`
/// because runs finish on many threads.
pub trait Observer: Sync {
    /// Called once before the first run with the number of runs (trials × 2 sides).
    fn on_start(&self, _total_runs: usize) {}
    /// Called when a run finishes (in completion order, not run order).
    fn on_run_finished(&self, _run: usize, _side: Side) {}
    /// Called once after the last run.
    fn on_finish(&self) {}
}

/// An observer that does nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;
impl Observer for NoProgress {}

/// The two sample sets of an experiment, `[trials, d]` each.
#[derive(Debug, Clone, PartialEq)]
pub struct Samples {
    pub unlearned: Array2<f64>,
    pub retrained: Array2<f64>,
}

/// Runs `mechanism` `trials` times on each side, in parallel over runs (rayon's current pool),
/// recording `record` from each. Bit-identical for a given `seed` whatever the thread count.
pub fn run_trials(
    mechanism: &dyn Mechanism,
    trials: usize,
    seed: u64,
    record: Record,
    observer: &dyn Observer,
) -> Result<Samples, SamplingError> {
    run_trials_checkpointed(mechanism, trials, seed, record, observer, None)
}

/// The configuration a checkpoint of these runs belongs to: the mechanism's name and
/// parameters, the record and the seed, plus the caller's `context` (e.g. the data digest and
/// the forget indices). The number of trials is not part of it, so a checkpoint also serves a
/// later call with more trials.
pub fn checkpoint_configuration(
    mechanism: &dyn Mechanism,
    seed: u64,
    record: Record,
    context: serde_json::Value,
) -> serde_json::Value {
    serde_json::json!({
        "mechanism": mechanism.name(),
        "parameters": mechanism.parameters(),
        "record": record,
        "seed": seed,
        "context": context,
    })
}

/// [`run_trials`] with every finished run persisted to `checkpoint` (`docs/sampling.md` §1.1)
/// and the runs already there reloaded instead of recomputed. Each run is a pure function of
/// (seed, run, side) and is stored bit-exactly, so the result is bit-identical to an
/// uninterrupted [`run_trials`] whatever the thread count and wherever it was interrupted.
/// A damaged file is recomputed; a file of another configuration is refused.
pub fn run_trials_checkpointed(
    mechanism: &dyn Mechanism,
    trials: usize,
    seed: u64,
    record: Record,
    observer: &dyn Observer,
    checkpoint: Option<&Checkpoint>,
) -> Result<Samples, SamplingError> {
    if trials == 0 {
        return Err(SamplingError::Options("--trials must be at least 1".into()));
    }
    observer.on_start(2 * trials);
    let rows: Vec<Result<Array1<f64>, SamplingError>> = (0..2 * trials)
        .into_par_iter()
        .map(|index| {
            let (run, side) = (index / 2, Side::BOTH[index % 2]);
            if let Some(checkpoint) = checkpoint
                && let checkpoint::Stored::Row(row) = checkpoint.load(seed, run, side)?
            {
                observer.on_run_finished(run, side);
                return Ok(row);
            }
            let mut rng = run_rng(seed, run, side);
            let params = match side {
                Side::Unlearned => mechanism.unlearn(&mut rng),
                Side::Retrained => mechanism.reference(&mut rng),
            }
            .map_err(|source| SamplingError::Run { run, side, source })?;
            let row = record.extract(mechanism, &params);
            if let Some((position, &value)) = row.iter().enumerate().find(|(_, v)| !v.is_finite()) {
                return Err(SamplingError::NonFinite {
                    run,
                    side,
                    position,
                    value,
                });
            }
            if let Some(checkpoint) = checkpoint {
                checkpoint.store(seed, run, side, &row)?;
            }
            observer.on_run_finished(run, side);
            Ok(row)
        })
        .collect();
    observer.on_finish();
    let mut unlearned = Vec::with_capacity(trials);
    let mut retrained = Vec::with_capacity(trials);
    for (index, row) in rows.into_iter().enumerate() {
        let row = row?;
        if let Some(first) = unlearned.first().or(retrained.first())
            && Array1::len(first) != row.len()
        {
            return Err(SamplingError::Options(format!(
                "run {}, side {}: {} recorded values, but run 0 has {}",
                index / 2,
                Side::BOTH[index % 2],
                row.len(),
                Array1::len(first)
            )));
        }
        if index % 2 == 0 {
            unlearned.push(row);
        } else {
            retrained.push(row);
        }
    }
    Ok(Samples {
        unlearned: stack(&unlearned),
        retrained: stack(&retrained),
    })
}

fn stack(rows: &[Array1<f64>]) -> Array2<f64> {
    let d = rows.first().map_or(0, |r| r.len());
    let mut out = Array2::zeros((rows.len(), d));
    for (mut target, row) in out.rows_mut().into_iter().zip(rows) {
        target.assign(row);
    }
    out
}
