//! `compare`: weight-space and output-space distances between an original, an unlearned and a
//! retrained model bundle, streamed chunk by chunk from memory-mapped files.
//!
//! Weights are read in blocks of [`WEIGHT_CHUNK_ELEMENTS`] elements and outputs/activations in
//! blocks of [`CHUNK_ROWS`] rows, decoded into f64 buffers, processed in parallel with rayon and
//! merged in block order, so the result is bit-identical whatever the thread count. Memory use
//! is a few blocks per thread plus the mapped pages of the inputs. The metrics themselves
//! (definitions, sources) are in [`crate::metrics`] and `docs/metrics.md`; the JSON fields are
//! listed in `docs/formats.md` §compare.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ndarray::ArrayView2;
use rayon::prelude::*;
use serde::Serialize;

use super::bundle::{ACTIVATIONS_FILE, Labels, ModelBundle, OUTPUTS_FILE, WEIGHTS_FILE};
use super::raw::RawArray;
use super::{IoError, load_bundle, load_labels};
use crate::metrics::{
    ActivationAccumulator, ActivationMetrics, CHUNK_ROWS, MetricsError, ModelRole,
    OutputAccumulator, OutputKind, SplitMetrics, WEIGHT_CHUNK_ELEMENTS, WeightDistances,
    WeightSums, weight_distances,
};
use crate::report::{Finding, Table, fmt_number, fmt_optional};

/// Errors of `compare`: unreadable files, inputs that do not fit together, and invalid values.
/// Every variant names the file and the array (split or tensor).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CompareError {
    /// A file could not be read or is malformed.
    #[error(transparent)]
    Io(#[from] IoError),
    /// The bundles do not fit together (missing split, different shapes, ...).
    #[error("{path}: `{array}`: {message}")]
    Mismatch {
        path: PathBuf,
        array: String,
        message: String,
    },
    /// A weight is NaN or infinite.
    #[error("{path}: `{array}`: {message}")]
    InvalidValue {
        path: PathBuf,
        array: String,
        message: String,
    },
    /// A value is invalid (NaN, probabilities that do not sum to one, label out of range...).
    #[error("{path}: `{array}`")]
    Metrics {
        path: PathBuf,
        array: String,
        #[source]
        source: MetricsError,
    },
}

fn mismatch(path: &Path, array: &str, message: impl Into<String>) -> CompareError {
    CompareError::Mismatch {
        path: path.to_path_buf(),
        array: array.to_string(),
        message: message.into(),
    }
}

/// What to compare and how.
#[derive(Debug, Clone)]
pub struct CompareOptions {
    pub original: PathBuf,
    pub unlearned: PathBuf,
    pub retrained: PathBuf,
    /// A labels `.npz` with one integer array per output split.
    pub labels: Option<PathBuf>,
    /// Whether `outputs.npz` holds logits (default) or probabilities.
    pub output_kind: OutputKind,
    /// Record the SHA-256 of every input file in the provenance (costs a full read).
    pub sha256: bool,
}

impl CompareOptions {
    /// Options with logits, no labels, no hashing.
    pub fn new(original: &Path, unlearned: &Path, retrained: &Path) -> Self {
        CompareOptions {
            original: original.to_path_buf(),
            unlearned: unlearned.to_path_buf(),
            retrained: retrained.to_path_buf(),
            labels: None,
            output_kind: OutputKind::Logits,
            sha256: false,
        }
    }
}

/// One input file of the comparison.
#[derive(Debug, Clone, Serialize)]
pub struct InputFile {
    /// `original`, `unlearned`, `retrained` or `labels`.
    pub role: String,
    pub path: String,
    pub bytes: u64,
    /// Lowercase hex SHA-256, `null` unless `--sha256` was given.
    pub sha256: Option<String>,
}

/// Where the numbers came from.
#[derive(Debug, Clone, Serialize)]
pub struct CompareProvenance {
    pub tool: &'static str,
    pub version: &'static str,
    pub inputs: Vec<InputFile>,
    /// Rows per output/activation chunk and weights per weight chunk (fix the summation order).
    pub chunk_rows: usize,
    pub weight_chunk_elements: usize,
}

/// Dtypes of the weight tensors of each model, as stored (before widening to f64).
#[derive(Debug, Clone, Serialize)]
pub struct WeightDtypes {
    pub original: Vec<String>,
    pub unlearned: Vec<String>,
    pub retrained: Vec<String>,
}

/// The result of `compare` (`--json` prints it).
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// Weight-space distances; `null` when the bundles have no `weights.safetensors`.
    pub weights: Option<WeightDistances>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weights_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight_dtypes: Option<WeightDtypes>,
    /// Output-space metrics per split, in split-name order.
    pub outputs: BTreeMap<String, SplitMetrics>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outputs_reason: Option<String>,
    /// Activation distances per split; present only when the bundles have activations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activations: Option<BTreeMap<String, ActivationMetrics>>,
    pub provenance: CompareProvenance,
}

const ROLES: [ModelRole; 3] = [
    ModelRole::Original,
    ModelRole::Unlearned,
    ModelRole::Retrained,
];

/// Compares three bundles. Pure: reads the files, never prints.
pub fn compare_bundles(options: &CompareOptions) -> Result<Comparison, CompareError> {
    let bundles = [
        load_bundle(&options.original)?,
        load_bundle(&options.unlearned)?,
        load_bundle(&options.retrained)?,
    ];
    let labels = options.labels.as_deref().map(load_labels).transpose()?;

    let (weights, weights_reason, weight_dtypes) = compare_weights(&bundles)?;
    let (outputs, outputs_reason) =
        compare_outputs(&bundles, labels.as_ref(), options.output_kind)?;
    let activations = compare_activations(&bundles)?;
    let provenance = provenance(options, &bundles)?;
    Ok(Comparison {
        weights,
        weights_reason,
        weight_dtypes,
        outputs,
        outputs_reason,
        activations,
        provenance,
    })
}

/// The bundle file of one kind, or `None` in every bundle; an error if only some have it.
fn present_in_all<'a, T>(
    bundles: &'a [ModelBundle; 3],
    file: &str,
    get: impl Fn(&'a ModelBundle) -> Option<&'a T>,
) -> Result<Option<[&'a T; 3]>, CompareError> {
    let found: Vec<Option<&T>> = bundles.iter().map(&get).collect();
    if found.iter().all(Option::is_none) {
        return Ok(None);
    }
    for (bundle, item) in bundles.iter().zip(&found) {
        if item.is_none() {
            let other = bundles
                .iter()
                .zip(&found)
                .find(|(_, i)| i.is_some())
                .map(|(b, _)| b.dir.display().to_string())
                .unwrap_or_default();
            return Err(mismatch(
                &bundle.dir.join(file),
                file,
                format!(
                    "file is missing, but {other} has one: all three bundles must have it or none"
                ),
            ));
        }
    }
    Ok(Some([
        found[0].expect("checked"),
        found[1].expect("checked"),
        found[2].expect("checked"),
    ]))
}

type WeightsResult = (
    Option<WeightDistances>,
    Option<String>,
    Option<WeightDtypes>,
);

fn compare_weights(bundles: &[ModelBundle; 3]) -> Result<WeightsResult, CompareError> {
    let Some(files) = present_in_all(bundles, WEIGHTS_FILE, |b| b.weights.as_ref())? else {
        return Ok((
            None,
            Some(format!("the bundles have no {WEIGHTS_FILE}")),
            None,
        ));
    };
    let retrained = files[2];
    for file in files {
        // Same tensor names in both directions, then same shapes.
        for tensor in file.tensors() {
            if retrained.tensor(tensor.name()).is_none() {
                return Err(mismatch(
                    file.path(),
                    tensor.name(),
                    format!("tensor is not in {}", retrained.path().display()),
                ));
            }
        }
        for tensor in retrained.tensors() {
            let Some(own) = file.tensor(tensor.name()) else {
                return Err(mismatch(
                    file.path(),
                    tensor.name(),
                    format!(
                        "tensor is missing (it is in {})",
                        retrained.path().display()
                    ),
                ));
            };
            if own.shape() != tensor.shape() {
                return Err(mismatch(
                    file.path(),
                    tensor.name(),
                    format!(
                        "shape {:?} differs from {:?} in {}",
                        own.shape(),
                        tensor.shape(),
                        retrained.path().display()
                    ),
                ));
            }
        }
    }
    // One job per (tensor, block of WEIGHT_CHUNK_ELEMENTS); tensors in name order.
    let tensors: Vec<[&RawArray; 3]> = retrained
        .tensors()
        .iter()
        .map(|t| {
            [
                files[0].tensor(t.name()).expect("checked"),
                files[1].tensor(t.name()).expect("checked"),
                t,
            ]
        })
        .collect();
    let jobs: Vec<(usize, usize, usize)> = tensors
        .iter()
        .enumerate()
        .flat_map(|(index, t)| {
            let len = t[2].len();
            (0..len)
                .step_by(WEIGHT_CHUNK_ELEMENTS)
                .map(move |first| (index, first, WEIGHT_CHUNK_ELEMENTS.min(len - first)))
        })
        .collect();
    let sums: Vec<Result<WeightSums, CompareError>> = jobs
        .par_iter()
        .map_init(
            || vec![0.0; 3 * WEIGHT_CHUNK_ELEMENTS],
            |buffer, &(index, first, len)| {
                let (o, rest) = buffer.split_at_mut(WEIGHT_CHUNK_ELEMENTS);
                let (u, r) = rest.split_at_mut(WEIGHT_CHUNK_ELEMENTS);
                let slices = [&mut o[..len], &mut u[..len], &mut r[..len]];
                for (tensor, slice) in tensors[index].iter().zip(slices) {
                    tensor.decode_into(first, slice)?;
                    if let Some(at) = slice.iter().position(|v| !v.is_finite()) {
                        return Err(CompareError::InvalidValue {
                            path: tensor.path().to_path_buf(),
                            array: tensor.name().to_string(),
                            message: format!(
                                "non-finite weight {} at flat index {}",
                                slice[at],
                                first + at
                            ),
                        });
                    }
                }
                for tensor in tensors[index] {
                    tensor.release(first, len);
                }
                let mut sums = WeightSums::default();
                sums.accumulate(&o[..len], &u[..len], &r[..len]);
                Ok(sums)
            },
        )
        .collect();
    let mut per_tensor: Vec<WeightSums> = vec![WeightSums::default(); tensors.len()];
    for ((index, _, _), result) in jobs.iter().zip(sums) {
        per_tensor[*index].merge(&result?);
    }
    let named = tensors
        .iter()
        .zip(per_tensor)
        .map(|(t, sums)| (t[2].name().to_string(), t[2].shape().to_vec(), sums))
        .collect();
    let dtypes = |file: &super::WeightsFile| {
        let mut names: Vec<String> = file
            .tensors()
            .iter()
            .map(|t| t.dtype().name().to_string())
            .collect();
        names.sort();
        names.dedup();
        names
    };
    Ok((
        Some(weight_distances(named)),
        None,
        Some(WeightDtypes {
            original: dtypes(files[0]),
            unlearned: dtypes(files[1]),
            retrained: dtypes(files[2]),
        }),
    ))
}

/// Checks that a split exists in all three archives with one shape, and returns the views.
fn split_views(
    bundles: &[ModelBundle; 3],
    file: &str,
    split: &str,
    get: impl Fn(&ModelBundle, &str) -> Result<RawArray, IoError>,
    has: impl Fn(&ModelBundle, &str) -> bool,
) -> Result<[RawArray; 3], CompareError> {
    for bundle in bundles {
        if !has(bundle, split) {
            let holder = bundles
                .iter()
                .find(|b| has(b, split))
                .expect("split from some bundle");
            return Err(mismatch(
                &bundle.dir.join(file),
                split,
                format!(
                    "split is missing (it is in {})",
                    holder.dir.join(file).display()
                ),
            ));
        }
    }
    let views = [
        get(&bundles[0], split)?,
        get(&bundles[1], split)?,
        get(&bundles[2], split)?,
    ];
    for view in &views[..2] {
        if view.shape() != views[2].shape() {
            return Err(mismatch(
                view.path(),
                split,
                format!(
                    "shape {:?} differs from {:?} in {}",
                    view.shape(),
                    views[2].shape(),
                    views[2].path().display()
                ),
            ));
        }
    }
    if views[2].is_empty() {
        return Err(mismatch(
            views[2].path(),
            split,
            format!("empty split (shape {:?})", views[2].shape()),
        ));
    }
    Ok(views)
}

/// Sorted union of the split names of one archive kind.
fn split_names(
    bundles: &[ModelBundle; 3],
    names: impl Fn(&ModelBundle) -> Vec<String>,
) -> Vec<String> {
    let mut all: Vec<String> = bundles.iter().flat_map(names).collect();
    all.sort();
    all.dedup();
    all
}

/// Converts a metrics error to one naming the file of the model concerned.
fn metrics_error(
    error: MetricsError,
    views: &[RawArray; 3],
    labels_path: Option<&Path>,
    split: &str,
) -> CompareError {
    let path = match &error {
        MetricsError::NonFinite { model, .. }
        | MetricsError::NegativeProbability { model, .. }
        | MetricsError::RowSumNotOne { model, .. } => {
            let index = ROLES.iter().position(|r| r == model).unwrap_or(2);
            views[index].path().to_path_buf()
        }
        MetricsError::LabelOutOfRange { .. } => labels_path
            .map(Path::to_path_buf)
            .unwrap_or_else(|| views[2].path().to_path_buf()),
        _ => views[2].path().to_path_buf(),
    };
    CompareError::Metrics {
        path,
        array: split.to_string(),
        source: error,
    }
}

type OutputsResult = (BTreeMap<String, SplitMetrics>, Option<String>);

fn compare_outputs(
    bundles: &[ModelBundle; 3],
    labels: Option<&Labels>,
    kind: OutputKind,
) -> Result<OutputsResult, CompareError> {
    if present_in_all(bundles, OUTPUTS_FILE, |b| b.outputs.as_ref())?.is_none() {
        return Ok((
            BTreeMap::new(),
            Some(format!("the bundles have no {OUTPUTS_FILE}")),
        ));
    }
    let mut results = BTreeMap::new();
    for split in split_names(bundles, ModelBundle::output_splits) {
        let views = split_views(
            bundles,
            OUTPUTS_FILE,
            &split,
            |b, s| b.output(s),
            |b, s| b.outputs.as_ref().is_some_and(|o| o.contains(s)),
        )?;
        let shape = views[2].shape().to_vec();
        if shape.len() < 2 {
            return Err(mismatch(
                views[2].path(),
                &split,
                format!(
                    "outputs must be [n, k] or [n, ..., k] (class axis last); found shape {shape:?}"
                ),
            ));
        }
        let classes = shape[shape.len() - 1];
        let positions = views[2].len() / classes;
        let n_examples = shape[0];
        let split_labels: Option<Vec<i64>> = match labels {
            None => None,
            Some(labels) => {
                let Some(array) = labels.get(&split) else {
                    return Err(mismatch(
                        &labels.path,
                        &split,
                        format!(
                            "labels file has no array for split `{split}` (it has {:?})",
                            labels.names()
                        ),
                    ));
                };
                let expected = &shape[..shape.len() - 1];
                if array.shape() != expected {
                    return Err(mismatch(
                        &labels.path,
                        &split,
                        format!(
                            "labels have shape {:?}, the outputs {shape:?} need {expected:?} (one label per example{})",
                            array.shape(),
                            if expected.len() > 1 {
                                " and position"
                            } else {
                                ""
                            }
                        ),
                    ));
                }
                Some(array.iter().copied().collect())
            }
        };
        let chunks: Vec<usize> = (0..positions).step_by(CHUNK_ROWS).collect();
        let partial: Vec<Result<OutputAccumulator, CompareError>> = chunks
            .par_iter()
            .map_init(
                || vec![0.0; 3 * CHUNK_ROWS * classes],
                |buffer, &first_row| {
                    let rows = CHUNK_ROWS.min(positions - first_row);
                    let width = rows * classes;
                    let (o, rest) = buffer.split_at_mut(CHUNK_ROWS * classes);
                    let (u, r) = rest.split_at_mut(CHUNK_ROWS * classes);
                    views[0].decode_into(first_row * classes, &mut o[..width])?;
                    views[1].decode_into(first_row * classes, &mut u[..width])?;
                    views[2].decode_into(first_row * classes, &mut r[..width])?;
                    for view in &views {
                        view.release(first_row * classes, width);
                    }
                    let view = |s| rows_view(rows, classes, s);
                    let mut accumulator = OutputAccumulator::new(classes, kind);
                    accumulator
                        .accumulate(
                            view(&o[..width]),
                            view(&u[..width]),
                            view(&r[..width]),
                            split_labels
                                .as_deref()
                                .map(|l| &l[first_row..first_row + rows]),
                            first_row,
                        )
                        .map_err(|e| {
                            metrics_error(e, &views, labels.map(|l| l.path.as_path()), &split)
                        })?;
                    Ok(accumulator)
                },
            )
            .collect();
        let mut total = OutputAccumulator::new(classes, kind);
        for accumulator in partial {
            total.merge(accumulator?);
        }
        results.insert(split.clone(), total.finish(n_examples));
    }
    Ok((results, None))
}

fn rows_view(rows: usize, columns: usize, values: &[f64]) -> ArrayView2<'_, f64> {
    ArrayView2::from_shape((rows, columns), values).expect("buffer sized to the chunk")
}

fn compare_activations(
    bundles: &[ModelBundle; 3],
) -> Result<Option<BTreeMap<String, ActivationMetrics>>, CompareError> {
    if present_in_all(bundles, ACTIVATIONS_FILE, |b| b.activations.as_ref())?.is_none() {
        return Ok(None);
    }
    let mut results = BTreeMap::new();
    for split in split_names(bundles, ModelBundle::activation_splits) {
        let views = split_views(
            bundles,
            ACTIVATIONS_FILE,
            &split,
            |b, s| b.activation(s),
            |b, s| b.activations.as_ref().is_some_and(|o| o.contains(s)),
        )?;
        let shape = views[2].shape().to_vec();
        if shape.len() != 2 {
            return Err(mismatch(
                views[2].path(),
                &split,
                format!("activations must be [n, d]; found shape {shape:?}"),
            ));
        }
        let (rows_total, dim) = (shape[0], shape[1]);
        let chunks: Vec<usize> = (0..rows_total).step_by(CHUNK_ROWS).collect();
        let partial: Vec<Result<ActivationAccumulator, CompareError>> = chunks
            .par_iter()
            .map_init(
                || vec![0.0; 3 * CHUNK_ROWS * dim],
                |buffer, &first_row| {
                    let rows = CHUNK_ROWS.min(rows_total - first_row);
                    let width = rows * dim;
                    let (o, rest) = buffer.split_at_mut(CHUNK_ROWS * dim);
                    let (u, r) = rest.split_at_mut(CHUNK_ROWS * dim);
                    views[0].decode_into(first_row * dim, &mut o[..width])?;
                    views[1].decode_into(first_row * dim, &mut u[..width])?;
                    views[2].decode_into(first_row * dim, &mut r[..width])?;
                    for view in &views {
                        view.release(first_row * dim, width);
                    }
                    let view = |s| rows_view(rows, dim, s);
                    let mut accumulator = ActivationAccumulator::new(dim);
                    accumulator
                        .accumulate(
                            view(&o[..width]),
                            view(&u[..width]),
                            view(&r[..width]),
                            first_row,
                        )
                        .map_err(|e| metrics_error(e, &views, None, &split))?;
                    Ok(accumulator)
                },
            )
            .collect();
        let mut total = ActivationAccumulator::new(dim);
        for accumulator in partial {
            total.merge(accumulator?);
        }
        results.insert(split.clone(), total.finish(rows_total));
    }
    Ok(Some(results))
}

fn provenance(
    options: &CompareOptions,
    bundles: &[ModelBundle; 3],
) -> Result<CompareProvenance, CompareError> {
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    for (role, bundle) in ["original", "unlearned", "retrained"].iter().zip(bundles) {
        for name in [WEIGHTS_FILE, OUTPUTS_FILE, ACTIVATIONS_FILE] {
            let path = bundle.dir.join(name);
            if path.exists() {
                files.push((role.to_string(), path));
            }
        }
    }
    if let Some(labels) = &options.labels {
        files.push(("labels".to_string(), labels.clone()));
    }
    let inputs = files
        .into_iter()
        .map(|(role, path)| {
            let open_error = |source| IoError::Open {
                path: path.clone(),
                source,
            };
            let bytes = std::fs::metadata(&path).map_err(open_error)?.len();
            let sha256 = if options.sha256 {
                Some(crate::report::sha256_file(&path).map_err(open_error)?)
            } else {
                None
            };
            Ok(InputFile {
                role,
                path: path.display().to_string(),
                bytes,
                sha256,
            })
        })
        .collect::<Result<Vec<_>, CompareError>>()?;
    Ok(CompareProvenance {
        tool: env!("CARGO_PKG_NAME"),
        version: env!("CARGO_PKG_VERSION"),
        inputs,
        chunk_rows: CHUNK_ROWS,
        weight_chunk_elements: WEIGHT_CHUNK_ELEMENTS,
    })
}

impl Finding for Comparison {
    fn title(&self) -> String {
        "Indistinguishability metrics (original / unlearned / retrained)".to_string()
    }

    fn markdown(&self) -> String {
        let mut out = String::new();
        out.push_str("## Weights\n\n");
        match &self.weights {
            Some(w) => {
                let mut table = Table::new(["distance", "absolute (L2)", "relative to ‖θ_r‖"]);
                table
                    .row([
                        "verification error ‖θ_u − θ_r‖".to_string(),
                        fmt_number(w.verification_error),
                        fmt_optional(w.verification_error_relative),
                    ])
                    .row([
                        "baseline ‖θ_o − θ_r‖".to_string(),
                        fmt_number(w.original_to_retrained),
                        fmt_optional(w.original_to_retrained_relative),
                    ])
                    .row([
                        "moved ‖θ_o − θ_u‖".to_string(),
                        fmt_number(w.original_to_unlearned),
                        fmt_optional(w.original_to_unlearned_relative),
                    ]);
                out.push_str(&table.markdown());
                out.push_str(&format!(
                    "\n{} parameters in {} tensors.\n\n",
                    w.parameter_count,
                    w.per_tensor.len()
                ));
            }
            None => out.push_str(&format!(
                "{}\n\n",
                self.weights_reason.as_deref().unwrap_or("no weights")
            )),
        }
        out.push_str("## Outputs (divergences in nats)\n\n");
        if self.outputs.is_empty() {
            out.push_str(&format!(
                "{}\n\n",
                self.outputs_reason.as_deref().unwrap_or("no outputs")
            ));
        } else {
            let mut table = Table::new([
                "split",
                "n",
                "KL(r‖u)",
                "KL(u‖r)",
                "JS(u,r)",
                "act. dist (u,r)",
                "KL(r‖o)",
                "JS(o,r)",
                "act. dist (o,r)",
                "acc o / u / r",
            ]);
            for (split, m) in &self.outputs {
                let accuracy = if m.accuracy.original.is_some() {
                    format!(
                        "{} / {} / {}",
                        fmt_optional(m.accuracy.original),
                        fmt_optional(m.accuracy.unlearned),
                        fmt_optional(m.accuracy.retrained)
                    )
                } else {
                    "—".to_string()
                };
                table.row([
                    split.clone(),
                    m.n.to_string(),
                    fmt_optional(m.kl_retrained_unlearned),
                    fmt_optional(m.kl_unlearned_retrained),
                    fmt_optional(m.js),
                    fmt_optional(m.activation_distance),
                    fmt_optional(m.original_vs_retrained.kl_retrained_original),
                    fmt_optional(m.original_vs_retrained.js),
                    fmt_optional(m.original_vs_retrained.activation_distance),
                    accuracy,
                ]);
            }
            out.push_str(&table.markdown());
            out.push('\n');
        }
        if let Some(activations) = &self.activations {
            out.push_str("## Activations (mean L2 distance)\n\n");
            let mut table = Table::new([
                "split",
                "n",
                "dim",
                "unlearned vs retrained",
                "original vs retrained",
            ]);
            for (split, m) in activations {
                table.row([
                    split.clone(),
                    m.n.to_string(),
                    m.dim.to_string(),
                    fmt_optional(m.activation_distance),
                    fmt_optional(m.original_vs_retrained.activation_distance),
                ]);
            }
            out.push_str(&table.markdown());
            out.push('\n');
        }
        out
    }
}
