//! The in-process sampling pipeline, one path for `unlearn-audit sample` and a plan's
//! `[evidence.mechanism]`: load the labelled CSV, choose the forget set, build the mechanism
//! from the registry, run the trials ([`super::run_trials`]), and (for `sample`) write the two
//! sample sets and the typed [`Manifest`]. See `docs/sampling.md` and `docs/architecture.md`.

use std::path::{Path, PathBuf};

use ndarray::Array2;
use ndarray_npy::WriteNpyExt;
use serde::Serialize;

use super::external::ExternalSummary;
use super::{Checkpoint, Observer, Record, SamplingError, checkpoint_configuration, run_trials_checkpointed};
use crate::certify::Certificate;
use crate::mechanisms::{self, MechanismError, MechanismOptions, Split};
use crate::models::Dataset;

/// Errors of the pipeline, each naming the file or the parameter.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// The labelled CSV could not be read.
    #[error(transparent)]
    Data(#[from] crate::io::IoError),
    /// The CSV's rows do not form a data set.
    #[error("{path}: {source}")]
    Dataset {
        path: PathBuf,
        #[source]
        source: crate::models::ModelError,
    },
    /// The forget count is out of range.
    #[error("forget count {count}: must lie in 1..{rows} (the data has {rows} rows)")]
    ForgetCount { count: usize, rows: usize },
    /// The mechanism could not be built (unknown name, bad parameter, bad forget set).
    #[error(transparent)]
    Mechanism(#[from] MechanismError),
    /// A run failed.
    #[error(transparent)]
    Sampling(#[from] SamplingError),
    /// An input file could not be read (for its digest).
    #[error("could not read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// An output file could not be written.
    #[error("could not write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// How the forget set is chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForgetSelection {
    /// This many rows, the first of a seeded shuffle ([`Split::choose_forget_indices`]).
    Count(usize),
    /// These row indices, removed in this order.
    Indices(Vec<usize>),
}

/// One in-process sampling experiment.
#[derive(Debug, Clone)]
pub struct SampleRequest {
    /// Mechanism name from the registry (`mechanisms::MECHANISM_NAMES`).
    pub mechanism: String,
    /// Labelled CSV with a header row.
    pub data: PathBuf,
    pub label_column: String,
    pub forget: ForgetSelection,
    /// Runs per side.
    pub trials: usize,
    pub seed: u64,
    pub record: Record,
    pub options: MechanismOptions,
    /// Where finished runs are checkpointed and reloaded on resume (`OUT/.checkpoint` for
    /// `sample`; `None`: nothing is persisted). See `docs/sampling.md` §1.1.
    pub checkpoint: Option<PathBuf>,
}

/// The labelled CSV as the manifest describes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DataSummary {
    pub file: Option<String>,
    pub sha256: String,
    pub rows: usize,
    pub features: usize,
    pub num_classes: usize,
    pub label_column: String,
}

/// What an in-process experiment produced.
#[derive(Debug, Clone)]
pub struct SampledRuns {
    pub unlearned: Array2<f64>,
    pub retrained: Array2<f64>,
    pub forget_indices: Vec<usize>,
    /// The mechanism's parameters, as it reports them.
    pub parameters: serde_json::Value,
    /// The mechanism's own certificate.
    pub certificate: Certificate,
    /// What one recorded row holds.
    pub record_description: &'static str,
    pub data: DataSummary,
}

/// Reads a labelled CSV into a data set (at least two classes).
pub fn load_dataset(path: &Path, label_column: &str) -> Result<Dataset, PipelineError> {
    let table = crate::io::read_labelled_csv(path, label_column)?;
    let num_classes = table.num_classes.max(2);
    Dataset::new(table.features, table.labels, num_classes).map_err(|source| {
        PipelineError::Dataset {
            path: path.to_path_buf(),
            source,
        }
    })
}

/// Runs the request: data, forget set, mechanism, `trials` runs per side.
pub fn sample_in_process(
    request: &SampleRequest,
    observer: &dyn Observer,
) -> Result<SampledRuns, PipelineError> {
    let data = load_dataset(&request.data, &request.label_column)?;
    let forget = match &request.forget {
        ForgetSelection::Indices(indices) => indices.clone(),
        ForgetSelection::Count(count) => {
            if *count == 0 || *count >= data.len() {
                return Err(PipelineError::ForgetCount {
                    count: *count,
                    rows: data.len(),
                });
            }
            Split::choose_forget_indices(data.len(), *count, request.seed)
        }
    };
    let split = Split::new(&data, &forget)?;
    let mechanism = mechanisms::build(&request.mechanism, split, &request.options)?;
    let sha256 =
        crate::report::sha256_file(&request.data).map_err(|source| PipelineError::Read {
            path: request.data.clone(),
            source,
        })?;
    // A checkpoint is bound to everything that decides a run's output, so a checkpoint of
    // another configuration is refused rather than reused.
    let checkpoint = match &request.checkpoint {
        Some(dir) => Some(Checkpoint::open(
            dir,
            checkpoint_configuration(
                mechanism.as_ref(),
                request.seed,
                request.record,
                serde_json::json!({
                    "data_sha256": sha256,
                    "label_column": request.label_column,
                    "forget_indices": forget,
                }),
            ),
        )?),
        None => None,
    };
    let samples = run_trials_checkpointed(
        mechanism.as_ref(),
        request.trials,
        request.seed,
        request.record,
        observer,
        checkpoint.as_ref(),
    )?;
    Ok(SampledRuns {
        parameters: mechanism.parameters(),
        certificate: mechanism.certificate(),
        record_description: record_description(request.record, mechanism.model().name()),
        unlearned: samples.unlearned,
        retrained: samples.retrained,
        forget_indices: forget,
        data: DataSummary {
            file: request
                .data
                .file_name()
                .map(|n| n.to_string_lossy().into_owned()),
            sha256,
            rows: data.len(),
            features: data.num_features(),
            num_classes: data.num_classes,
            label_column: request.label_column.clone(),
        },
    })
}

/// What one recorded row holds, for the manifest.
pub fn record_description(record: Record, model: &str) -> &'static str {
    match record {
        Record::Weights if model == "mlp" => {
            "flattened MLP parameters: W1 [d, h], b1 [h], W2 [h, k], b2 [k], row-major \
             (docs/mechanisms.md §1.6)"
        }
        Record::Weights => "flattened parameters, [d, k] row-major (docs/mechanisms.md §1)",
        Record::ForgetScores => {
            "per forget example: logit-scaled confidence ln p_y − ln(1 − p_y), nats"
        }
        Record::ForgetLosses => "per forget example: loss −ln p_y, nats",
        Record::Statistic => "mean logit-scaled confidence over the forget set",
    }
}

/// The sample-set file names of a manifest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ManifestFiles {
    pub unlearned: String,
    pub retrained: String,
}

/// `manifest.json` of an in-process experiment (field names are a contract).
#[derive(Debug, Clone, Serialize)]
pub struct InProcessManifest {
    pub tool: &'static str,
    pub version: &'static str,
    pub mechanism: String,
    pub parameters: serde_json::Value,
    pub certified_epsilon: Option<f64>,
    pub certified_delta: Option<f64>,
    pub certificate: Certificate,
    pub seed: u64,
    pub trials: usize,
    pub record: Record,
    pub record_dimension: usize,
    pub record_description: &'static str,
    pub data: DataSummary,
    pub forget_indices: Vec<usize>,
    pub files: ManifestFiles,
    pub rng: &'static str,
}

/// `manifest.json` of an external experiment (`--trial-command`).
#[derive(Debug, Clone, Serialize)]
pub struct ExternalManifest {
    pub tool: &'static str,
    pub version: &'static str,
    /// Always `external`.
    pub mechanism: &'static str,
    pub trial_command: String,
    pub seed: u64,
    pub trials: usize,
    pub first_trial: usize,
    /// What each run's file records, when given (`--record`); `null` when not said.
    pub record: Option<Record>,
    pub files: ManifestFiles,
    pub seed_rule: &'static str,
    pub runs_executed: usize,
    pub runs_skipped_existing: usize,
    /// Existing run files that did not validate and were re-run (included in `runs_executed`).
    pub runs_replaced_invalid: usize,
    /// Values per run (`null` when no run file exists yet).
    pub record_dimension: Option<usize>,
    /// What one run's file holds, as declared by `--record`.
    pub record_description: Option<&'static str>,
    /// `unlearned.npy` / `retrained.npy` (`[trials, d]`), written once every run is present.
    pub stacked_files: Option<ManifestFiles>,
}

/// The manifest written beside the sample sets.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Manifest {
    InProcess(Box<InProcessManifest>),
    External(ExternalManifest),
}

impl Manifest {
    /// The manifest of an in-process experiment.
    pub fn in_process(request: &SampleRequest, runs: &SampledRuns) -> Self {
        Manifest::InProcess(Box::new(InProcessManifest {
            tool: env!("CARGO_PKG_NAME"),
            version: env!("CARGO_PKG_VERSION"),
            mechanism: request.mechanism.clone(),
            parameters: runs.parameters.clone(),
            certified_epsilon: runs.certificate.epsilon,
            certified_delta: runs.certificate.delta,
            certificate: runs.certificate.clone(),
            seed: request.seed,
            trials: request.trials,
            record: request.record,
            record_dimension: runs.unlearned.ncols(),
            record_description: runs.record_description,
            data: runs.data.clone(),
            forget_indices: runs.forget_indices.clone(),
            files: ManifestFiles {
                unlearned: "unlearned.npy".into(),
                retrained: "retrained.npy".into(),
            },
            rng: "ChaCha8Rng::seed_from_u64(seed), set_stream(2 * run + side), side 0 = unlearned, 1 = retrained",
        }))
    }

    /// The manifest of an external experiment.
    pub fn external(
        options: &super::external::ExternalOptions,
        record: Option<Record>,
        summary: &ExternalSummary,
    ) -> Self {
        Manifest::External(ExternalManifest {
            tool: env!("CARGO_PKG_NAME"),
            version: env!("CARGO_PKG_VERSION"),
            mechanism: "external",
            trial_command: options.command.clone(),
            seed: options.seed,
            trials: options.trials,
            first_trial: options.first_run,
            record,
            files: ManifestFiles {
                unlearned: "unlearned/".into(),
                retrained: "retrained/".into(),
            },
            seed_rule: "{seed} = first u64 of ChaCha8Rng::seed_from_u64(seed) with set_stream(2 * run + side)",
            runs_executed: summary.executed,
            runs_skipped_existing: summary.skipped,
            runs_replaced_invalid: summary.replaced_invalid,
            record_dimension: summary.dimension,
            record_description: record.map(|r| match r {
                Record::Weights => {
                    "parameters as flattened by the trial command (declared with --record)"
                }
                r => record_description(r, "external"),
            }),
            stacked_files: summary.complete.then(|| ManifestFiles {
                unlearned: "unlearned.npy".into(),
                retrained: "retrained.npy".into(),
            }),
        })
    }

    /// Writes `manifest.json` into `dir`.
    pub fn write(&self, dir: &Path) -> Result<(), PipelineError> {
        let path = dir.join("manifest.json");
        let text = crate::report::to_json(self).map_err(|e| PipelineError::Write {
            path: path.clone(),
            source: std::io::Error::other(e.to_string()),
        })?;
        std::fs::write(&path, text).map_err(|source| PipelineError::Write { path, source })
    }
}

/// Writes `unlearned.npy`, `retrained.npy` and `manifest.json` of an in-process experiment
/// into `dir`, and returns the manifest.
pub fn write_in_process(
    dir: &Path,
    request: &SampleRequest,
    runs: &SampledRuns,
) -> Result<Manifest, PipelineError> {
    write_npy(&dir.join("unlearned.npy"), &runs.unlearned)?;
    write_npy(&dir.join("retrained.npy"), &runs.retrained)?;
    let manifest = Manifest::in_process(request, runs);
    manifest.write(dir)?;
    // Every run is in the outputs now; the checkpoint has done its work.
    if let Some(checkpoint) = &request.checkpoint {
        match std::fs::remove_dir_all(checkpoint) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(PipelineError::Write {
                    path: checkpoint.clone(),
                    source,
                });
            }
        }
    }
    Ok(manifest)
}

fn write_npy(path: &Path, array: &Array2<f64>) -> Result<(), PipelineError> {
    let error = |source| PipelineError::Write {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::create(path).map_err(error)?;
    array
        .write_npy(std::io::BufWriter::new(file))
        .map_err(|e| error(std::io::Error::other(e.to_string())))
}
