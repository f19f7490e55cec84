//! `compare`, the analysis: weight-space and output-space distances between an original, an
//! unlearned and a retrained model bundle, streamed chunk by chunk from memory-mapped files,
//! with the noise floor d(r, r′) of a second, independently retrained model when one is given.
//! [`compare_bundles`] is the one library function behind both `unlearn-audit compare` and
//! the `[compare]` section of plans.
//!
//! Weights are read in blocks of [`WEIGHT_CHUNK_ELEMENTS`] elements and outputs/activations in
//! chunks of at most [`CHUNK_ROWS`] rows and at most [`CHUNK_BYTES`] bytes of decoded f64,
//! processed in parallel with rayon and merged in chunk order, so the result is bit-identical
//! whatever the thread count, and memory is bounded whatever the row width. The metrics
//! themselves (definitions, sources) are in [`crate::metrics`] and `docs/metrics.md`; the
//! decision rule against the noise floor in `docs/verdicts.md` §Distances and the noise floor;
//! the JSON fields in `docs/formats.md` §compare.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ndarray::ArrayView2;
use rayon::prelude::*;
use serde::Serialize;

use crate::io::{
    ACTIVATIONS_FILE, IoError, Labels, ModelBundle, OUTPUTS_FILE, RawArray, WEIGHTS_FILE,
    WeightsFile, load_bundle, load_labels,
};
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
    /// A second model retrained without the forget set, independently of `retrained` (another
    /// seed): d(r, r′) is the noise floor every distance is judged against.
    pub retrained_again: Option<PathBuf>,
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
            retrained_again: None,
        }
    }
}

/// One input file of the comparison.
#[derive(Debug, Clone, Serialize)]
pub struct InputFile {
    /// `original`, `unlearned`, `retrained`, `retrained_again` or `labels`.
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
    /// Most bytes of decoded f64 per output/activation chunk and model: rows wider than
    /// `chunk_bytes / (8 · chunk_rows)` values are read in chunks of fewer rows.
    pub chunk_bytes: usize,
}

/// Dtypes of the weight tensors of each model, as stored (before widening to f64).
#[derive(Debug, Clone, Serialize)]
pub struct WeightDtypes {
    pub original: Vec<String>,
    pub unlearned: Vec<String>,
    pub retrained: Vec<String>,
}

/// The result of `compare` (`--json` prints it). Named `CompareFinding` (it was
/// `io::Comparison`) so that it does not clash with `audit::Comparison`; its JSON is unchanged
/// apart from the added `noise_floor`, `noise_floor_reason` and `ordering` fields.
#[derive(Debug, Clone, Serialize)]
pub struct CompareFinding {
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
    /// d(r, r′) beside every distance; `null` without a second retrained model.
    pub noise_floor: Option<NoiseFloor>,
    /// Why `noise_floor` is `null`, absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub noise_floor_reason: Option<String>,
    /// Every u-vs-r distance against its baseline d(o, r) and its noise floor d(r, r′), with
    /// the decision of `docs/verdicts.md` §Distances and the noise floor.
    pub ordering: Vec<OrderingRow>,
    pub provenance: CompareProvenance,
}

const ROLES: [ModelRole; 3] = [
    ModelRole::Original,
    ModelRole::Unlearned,
    ModelRole::Retrained,
];

/// Compares three bundles, and with `options.retrained_again` the second retrained model
/// against the first (the noise floor). Pure: reads the files, never prints. The one library
/// function of `compare`: the CLI and `[compare]` in plans both call it.
pub fn compare_bundles(options: &CompareOptions) -> Result<CompareFinding, CompareError> {
    let labels = options.labels.as_deref().map(load_labels).transpose()?;
    let bundles = [
        load_bundle(&options.original)?,
        load_bundle(&options.unlearned)?,
        load_bundle(&options.retrained)?,
    ];
    let main = compare_three(&bundles, labels.as_ref(), options.output_kind)?;
    let mut provenance = provenance(options, &bundles)?;
    drop(bundles);
    let (noise_floor, noise_floor_reason) = match &options.retrained_again {
        None => (None, Some(NO_NOISE_FLOOR.to_string())),
        Some(again) => {
            // d(r′, r): the same engine with r′ in the unlearned slot.
            let bundles = [
                load_bundle(&options.original)?,
                load_bundle(again)?,
                load_bundle(&options.retrained)?,
            ];
            let floor = compare_three(&bundles, labels.as_ref(), options.output_kind)?;
            provenance
                .inputs
                .extend(input_files(options.sha256, "retrained_again", &bundles[1])?);
            (Some(NoiseFloor::from_parts(again, floor)), None)
        }
    };
    let ordering = ordering_rows(&main, noise_floor.as_ref());
    Ok(CompareFinding {
        weights: main.weights,
        weights_reason: main.weights_reason,
        weight_dtypes: main.weight_dtypes,
        outputs: main.outputs,
        outputs_reason: main.outputs_reason,
        activations: main.activations,
        noise_floor,
        noise_floor_reason,
        ordering,
        provenance,
    })
}

/// The reason `noise_floor` is `null`.
pub const NO_NOISE_FLOOR: &str = "no second retrained model was given (--retrained-again / \
    evidence.retrained_again): no noise estimate d(r, r′) exists, so no distance check can pass";

/// The distances of one comparison of three bundles.
struct Parts {
    weights: Option<WeightDistances>,
    weights_reason: Option<String>,
    weight_dtypes: Option<WeightDtypes>,
    outputs: BTreeMap<String, SplitMetrics>,
    outputs_reason: Option<String>,
    activations: Option<BTreeMap<String, ActivationMetrics>>,
}

fn compare_three(
    bundles: &[ModelBundle; 3],
    labels: Option<&Labels>,
    kind: OutputKind,
) -> Result<Parts, CompareError> {
    let (weights, weights_reason, weight_dtypes) = compare_weights(bundles)?;
    let (outputs, outputs_reason) = compare_outputs(bundles, labels, kind)?;
    let activations = compare_activations(bundles)?;
    Ok(Parts {
        weights,
        weights_reason,
        weight_dtypes,
        outputs,
        outputs_reason,
        activations,
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
    let distances = weight_distances(named);
    // Scaled sums cannot overflow on the way; a distance that is still infinite is larger
    // than f64::MAX: an error naming the tensor, never a silent `inf` or `null`.
    let unrepresentable = |tensor: &str, what: &str, value: f64| {
        let (path, pair) = match what {
            "verification_error" => (files[1].path(), "‖θ_u − θ_r‖₂"),
            "original_to_retrained" => (files[0].path(), "‖θ_o − θ_r‖₂"),
            "original_to_unlearned" => (files[0].path(), "‖θ_o − θ_u‖₂"),
            _ => (files[2].path(), "‖θ_r‖₂"),
        };
        CompareError::InvalidValue {
            path: path.to_path_buf(),
            array: tensor.to_string(),
            message: format!(
                "{pair} = {value}: the weights are finite but the distance exceeds the largest \
                 f64 ({:e}), so it cannot be reported",
                f64::MAX
            ),
        }
    };
    for t in &distances.per_tensor {
        for (what, value) in [
            ("verification_error", t.verification_error),
            ("original_to_retrained", t.original_to_retrained),
            ("original_to_unlearned", t.original_to_unlearned),
            ("retrained_norm", t.retrained_norm),
        ] {
            if !value.is_finite() {
                return Err(unrepresentable(&t.name, what, value));
            }
        }
    }
    for (what, value) in [
        ("verification_error", distances.verification_error),
        ("original_to_retrained", distances.original_to_retrained),
        ("original_to_unlearned", distances.original_to_unlearned),
        ("retrained_norm", distances.retrained_norm),
    ] {
        if !value.is_finite() {
            return Err(unrepresentable("all tensors together", what, value));
        }
    }
    let dtypes = |file: &WeightsFile| {
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
        Some(distances),
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
        | MetricsError::Unrepresentable { model, .. }
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
        let chunk_rows = rows_per_chunk(classes, &views[2], &split)?;
        let chunks: Vec<usize> = (0..positions).step_by(chunk_rows).collect();
        let partial: Vec<Result<OutputAccumulator, CompareError>> = chunks
            .par_iter()
            .map_init(
                || vec![0.0; 3 * chunk_rows * classes],
                |buffer, &first_row| {
                    let rows = chunk_rows.min(positions - first_row);
                    let width = rows * classes;
                    let (o, rest) = buffer.split_at_mut(chunk_rows * classes);
                    let (u, r) = rest.split_at_mut(chunk_rows * classes);
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

/// Most bytes of decoded f64 per output/activation chunk and model (three such buffers per
/// worker thread). Chunks have [`CHUNK_ROWS`] rows unless the rows are wider than
/// `CHUNK_BYTES / (8 · CHUNK_ROWS)` = 256 values; then they have fewer rows, so memory stays
/// bounded whatever the width. See `docs/metrics.md` §6.
pub const CHUNK_BYTES: usize = 16 << 20;

/// The widest row `compare` reads: one row must fit in one chunk ([`CHUNK_BYTES`] / 8 =
/// 2 097 152 values). Wider rows are refused with an input error (exit 2).
pub const MAX_ROW_VALUES: usize = CHUNK_BYTES / 8;

/// Rows per chunk for rows of `width` values: as many as fit in [`CHUNK_BYTES`], at most
/// [`CHUNK_ROWS`]. A function of the width only, so the chunking (and the bits) never depend
/// on the thread count.
fn rows_per_chunk(width: usize, view: &RawArray, split: &str) -> Result<usize, CompareError> {
    if width > MAX_ROW_VALUES {
        return Err(mismatch(
            view.path(),
            split,
            format!(
                "rows of {width} values are wider than compare's cap of {MAX_ROW_VALUES} values \
                 per row (shape {:?}; docs/formats.md §compare)",
                view.shape()
            ),
        ));
    }
    Ok((MAX_ROW_VALUES / width.max(1)).clamp(1, CHUNK_ROWS))
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
        let chunk_rows = rows_per_chunk(dim, &views[2], &split)?;
        let chunks: Vec<usize> = (0..rows_total).step_by(chunk_rows).collect();
        let partial: Vec<Result<ActivationAccumulator, CompareError>> = chunks
            .par_iter()
            .map_init(
                || vec![0.0; 3 * chunk_rows * dim],
                |buffer, &first_row| {
                    let rows = chunk_rows.min(rows_total - first_row);
                    let width = rows * dim;
                    let (o, rest) = buffer.split_at_mut(chunk_rows * dim);
                    let (u, r) = rest.split_at_mut(chunk_rows * dim);
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
        let finished = total.finish(rows_total);
        for (pair, path, value) in [
            (
                "‖a_u − a_r‖₂",
                views[1].path(),
                finished.activation_distance,
            ),
            (
                "‖a_u − a_r‖₂ (RMS)",
                views[1].path(),
                finished.activation_distance_rms,
            ),
            (
                "‖a_o − a_r‖₂",
                views[0].path(),
                finished.original_vs_retrained.activation_distance,
            ),
            (
                "‖a_o − a_r‖₂ (RMS)",
                views[0].path(),
                finished.original_vs_retrained.activation_distance_rms,
            ),
        ] {
            if let Some(value) = value.filter(|v| !v.is_finite()) {
                return Err(CompareError::InvalidValue {
                    path: path.to_path_buf(),
                    array: split.clone(),
                    message: format!(
                        "mean {pair} = {value}: the activations are finite but the distance \
                         exceeds the largest f64, so it cannot be reported"
                    ),
                });
            }
        }
        results.insert(split.clone(), finished);
    }
    Ok(Some(results))
}

fn input_file(sha256: bool, role: &str, path: PathBuf) -> Result<InputFile, CompareError> {
    let open_error = |source| IoError::Open {
        path: path.clone(),
        source,
    };
    let bytes = std::fs::metadata(&path).map_err(open_error)?.len();
    let sha256 = if sha256 {
        Some(crate::report::sha256_file(&path).map_err(open_error)?)
    } else {
        None
    };
    Ok(InputFile {
        role: role.to_string(),
        path: path.display().to_string(),
        bytes,
        sha256,
    })
}

/// The bundle files of one model that exist, in a fixed order.
fn input_files(
    sha256: bool,
    role: &str,
    bundle: &ModelBundle,
) -> Result<Vec<InputFile>, CompareError> {
    [WEIGHTS_FILE, OUTPUTS_FILE, ACTIVATIONS_FILE]
        .into_iter()
        .map(|name| bundle.dir.join(name))
        .filter(|path| path.exists())
        .map(|path| input_file(sha256, role, path))
        .collect()
}

fn provenance(
    options: &CompareOptions,
    bundles: &[ModelBundle; 3],
) -> Result<CompareProvenance, CompareError> {
    let mut inputs = Vec::new();
    for (role, bundle) in ["original", "unlearned", "retrained"].iter().zip(bundles) {
        inputs.extend(input_files(options.sha256, role, bundle)?);
    }
    if let Some(labels) = &options.labels {
        inputs.push(input_file(options.sha256, "labels", labels.clone())?);
    }
    Ok(CompareProvenance {
        tool: env!("CARGO_PKG_NAME"),
        version: env!("CARGO_PKG_VERSION"),
        inputs,
        chunk_rows: CHUNK_ROWS,
        weight_chunk_elements: WEIGHT_CHUNK_ELEMENTS,
        chunk_bytes: CHUNK_BYTES,
    })
}

/// d(r′, r) for the weights: the second retraining against the first.
#[derive(Debug, Clone, Serialize)]
pub struct NoiseFloorWeights {
    /// ‖θ_r′ − θ_r‖₂, beside `weights.verification_error`.
    pub verification_error: f64,
    /// ‖θ_r′ − θ_r‖₂ / ‖θ_r‖₂, beside `weights.verification_error_relative`.
    pub verification_error_relative: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relative_reason: Option<String>,
    /// Per tensor, in name order: (name, ‖θ_r′ − θ_r‖₂).
    pub per_tensor: BTreeMap<String, f64>,
}

/// d(r′, r) of the outputs of one split, under the names of the u-vs-r fields they sit beside.
#[derive(Debug, Clone, Serialize)]
pub struct NoiseFloorOutputs {
    /// KL(P_r‖P_r′), beside `kl_retrained_unlearned`.
    pub kl_retrained_unlearned: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kl_retrained_unlearned_reason: Option<String>,
    /// KL(P_r′‖P_r), beside `kl_unlearned_retrained`.
    pub kl_unlearned_retrained: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kl_unlearned_retrained_reason: Option<String>,
    /// JS(P_r′, P_r).
    pub js: Option<f64>,
    /// Mean ‖P_r′ − P_r‖₂.
    pub activation_distance: Option<f64>,
    pub activation_distance_l1: Option<f64>,
    pub activation_distance_rms: Option<f64>,
    /// Accuracy of r′ (with labels), for `accuracy_gap` rules: |acc(r′) − acc(r)|.
    pub accuracy_retrained_again: Option<f64>,
    /// |acc(r′) − acc(r)|; `null` without labels.
    pub accuracy_gap: Option<f64>,
}

/// d(r′, r) of the hidden activations of one split.
#[derive(Debug, Clone, Serialize)]
pub struct NoiseFloorActivations {
    pub activation_distance: Option<f64>,
    pub activation_distance_rms: Option<f64>,
}

/// The noise floor: every distance of `compare` between the retrained model r and a second,
/// independently retrained model r′ (`noise_floor` in the JSON). One draw of the
/// retrain-to-retrain distance, not an interval. See `docs/verdicts.md` §Distances and the
/// noise floor.
#[derive(Debug, Clone, Serialize)]
pub struct NoiseFloor {
    /// The bundle directory of r′.
    pub retrained_again: String,
    pub weights: Option<NoiseFloorWeights>,
    /// Per output split.
    pub outputs: BTreeMap<String, NoiseFloorOutputs>,
    /// Per activation split; absent without activations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activations: Option<BTreeMap<String, NoiseFloorActivations>>,
}

impl NoiseFloor {
    fn from_parts(dir: &Path, parts: Parts) -> Self {
        NoiseFloor {
            retrained_again: dir.display().to_string(),
            weights: parts.weights.map(|w| NoiseFloorWeights {
                verification_error: w.verification_error,
                verification_error_relative: w.verification_error_relative,
                relative_reason: w.relative_reason,
                per_tensor: w
                    .per_tensor
                    .into_iter()
                    .map(|t| (t.name, t.verification_error))
                    .collect(),
            }),
            outputs: parts
                .outputs
                .into_iter()
                .map(|(split, m)| {
                    let gap = m
                        .accuracy
                        .unlearned
                        .zip(m.accuracy.retrained)
                        .map(|(a, r)| (a - r).abs());
                    (
                        split,
                        NoiseFloorOutputs {
                            kl_retrained_unlearned: m.kl_retrained_unlearned,
                            kl_retrained_unlearned_reason: m.kl_retrained_unlearned_reason,
                            kl_unlearned_retrained: m.kl_unlearned_retrained,
                            kl_unlearned_retrained_reason: m.kl_unlearned_retrained_reason,
                            js: m.js,
                            activation_distance: m.activation_distance,
                            activation_distance_l1: m.activation_distance_l1,
                            activation_distance_rms: m.activation_distance_rms,
                            accuracy_retrained_again: m.accuracy.unlearned,
                            accuracy_gap: gap,
                        },
                    )
                })
                .collect(),
            activations: parts.activations.map(|a| {
                a.into_iter()
                    .map(|(split, m)| {
                        (
                            split,
                            NoiseFloorActivations {
                                activation_distance: m.activation_distance,
                                activation_distance_rms: m.activation_distance_rms,
                            },
                        )
                    })
                    .collect()
            }),
        }
    }
}

/// How d(u, r) compares with d(o, r) given the noise floor f = d(r, r′). The rule
/// (`docs/verdicts.md` §Distances and the noise floor): `closer` when d(o, r) − d(u, r) > f,
/// `farther` when d(u, r) − d(o, r) > f, `within_noise_floor` otherwise; without r′
/// `no_noise_estimate`; `undefined` when a distance is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Movement {
    Closer,
    Farther,
    WithinNoiseFloor,
    NoNoiseEstimate,
    Undefined,
}

impl Movement {
    /// Judges d(u, r) = `unlearned` against d(o, r) = `original` with the noise floor
    /// d(r, r′) = `floor`. Strict inequalities: a difference equal to the floor is within it,
    /// and a model that unlearned nothing (d(u, r) = d(o, r)) is never `closer`.
    pub fn judge(unlearned: Option<f64>, original: Option<f64>, floor: Option<f64>) -> Self {
        match (unlearned, original) {
            (Some(u), Some(o)) if u.is_finite() && o.is_finite() => match floor {
                Some(f) if f.is_finite() && f >= 0.0 => {
                    if o - u > f {
                        Movement::Closer
                    } else if u - o > f {
                        Movement::Farther
                    } else {
                        Movement::WithinNoiseFloor
                    }
                }
                _ => Movement::NoNoiseEstimate,
            },
            _ => Movement::Undefined,
        }
    }

    /// The word used in JSON and tables.
    pub fn word(self) -> &'static str {
        match self {
            Movement::Closer => "closer",
            Movement::Farther => "farther",
            Movement::WithinNoiseFloor => "within_noise_floor",
            Movement::NoNoiseEstimate => "no_noise_estimate",
            Movement::Undefined => "undefined",
        }
    }
}

/// 1 − d(u, r) / d(o, r): how far the unlearned model moved from the original toward the
/// retrained one, along this distance. 0 for a model that unlearned nothing, 1 when d(u, r) = 0;
/// negative when it moved away. An estimate, not a bound: see the caveat in
/// `docs/verdicts.md` §Distances and the noise floor. `Err` with the reason when undefined.
pub fn fraction_moved(unlearned: Option<f64>, original: Option<f64>) -> Result<f64, String> {
    match (unlearned, original) {
        (Some(u), Some(o)) if o > 0.0 && u.is_finite() && o.is_finite() => Ok(1.0 - u / o),
        (Some(_), Some(0.0)) => {
            Err("d(o, r) = 0: the original already equals the retrained model".into())
        }
        _ => Err("a distance is undefined".into()),
    }
}

/// One distance, its baseline and its noise floor (`ordering` in `compare` JSON,
/// `sanity_ordering.rows` in plan reports).
#[derive(Debug, Clone, Serialize)]
pub struct OrderingRow {
    /// `verification_error` (weights, ℓ2), `kl.<split>`, `js.<split>` or
    /// `activation_distance.<split>` (outputs), `hidden_activation_distance.<split>`.
    pub distance: String,
    /// d(r, r′): two retrainings, the noise floor; `null` without a second retrained model.
    pub retrained_again_to_retrained: Option<f64>,
    pub unlearned_to_retrained: Option<f64>,
    pub original_to_retrained: Option<f64>,
    /// d(u, r) ≤ d(o, r) as raw numbers, whatever the noise; `null` when a distance is
    /// undefined. Not a verdict: see `movement`.
    pub unlearned_closer_than_original: Option<bool>,
    /// d(u, r) ≤ d(r, r′): the unlearned model is as close as a second retraining.
    pub within_noise_floor: Option<bool>,
    /// The decision against the noise floor ([`Movement`]).
    pub movement: Movement,
    /// 1 − d(u, r) / d(o, r) ([`fraction_moved`]); `null` with `fraction_moved_reason`.
    pub fraction_moved: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fraction_moved_reason: Option<String>,
}

impl OrderingRow {
    /// A row from the three distances.
    pub fn new(distance: String, u: Option<f64>, o: Option<f64>, again: Option<f64>) -> Self {
        let fraction = fraction_moved(u, o);
        OrderingRow {
            unlearned_closer_than_original: u.zip(o).map(|(u, o)| u <= o),
            within_noise_floor: u.zip(again).map(|(u, a)| u <= a),
            movement: Movement::judge(u, o, again),
            fraction_moved: fraction.as_ref().ok().copied(),
            fraction_moved_reason: fraction.err(),
            distance,
            retrained_again_to_retrained: again,
            unlearned_to_retrained: u,
            original_to_retrained: o,
        }
    }
}

fn ordering_rows(parts: &Parts, floor: Option<&NoiseFloor>) -> Vec<OrderingRow> {
    let mut rows = Vec::new();
    if let Some(w) = &parts.weights {
        let again = floor
            .and_then(|f| f.weights.as_ref())
            .map(|w| w.verification_error);
        rows.push(OrderingRow::new(
            "verification_error".into(),
            Some(w.verification_error),
            Some(w.original_to_retrained),
            again,
        ));
    }
    for (split, m) in &parts.outputs {
        let f = floor.and_then(|f| f.outputs.get(split));
        let o = &m.original_vs_retrained;
        rows.push(OrderingRow::new(
            format!("kl.{split}"),
            m.kl_retrained_unlearned,
            o.kl_retrained_original,
            f.and_then(|f| f.kl_retrained_unlearned),
        ));
        rows.push(OrderingRow::new(
            format!("js.{split}"),
            m.js,
            o.js,
            f.and_then(|f| f.js),
        ));
        rows.push(OrderingRow::new(
            format!("activation_distance.{split}"),
            m.activation_distance,
            o.activation_distance,
            f.and_then(|f| f.activation_distance),
        ));
    }
    if let Some(activations) = &parts.activations {
        for (split, m) in activations {
            let f = floor
                .and_then(|f| f.activations.as_ref())
                .and_then(|a| a.get(split));
            rows.push(OrderingRow::new(
                format!("hidden_activation_distance.{split}"),
                m.activation_distance,
                m.original_vs_retrained.activation_distance,
                f.and_then(|f| f.activation_distance),
            ));
        }
    }
    rows
}

impl CompareFinding {
    /// The ordering row of a distance (`verification_error`, `js.forget`, ...).
    pub fn ordering_row(&self, distance: &str) -> Option<&OrderingRow> {
        self.ordering.iter().find(|r| r.distance == distance)
    }
}

/// The ordering rows as a table (`compare` Markdown, plan reports).
pub fn ordering_table<'a>(rows: impl IntoIterator<Item = &'a OrderingRow>) -> Table {
    let mut table = Table::new(vec![
        "distance",
        "d(r, r′) noise floor",
        "d(u, r)",
        "d(o, r)",
        "decision",
        "fraction moved 1 − d(u,r)/d(o,r)",
    ]);
    for row in rows {
        table.row(vec![
            row.distance.clone(),
            fmt_optional(row.retrained_again_to_retrained),
            fmt_optional(row.unlearned_to_retrained),
            fmt_optional(row.original_to_retrained),
            row.movement.word().replace('_', " "),
            fmt_optional(row.fraction_moved),
        ]);
    }
    table
}

impl Finding for CompareFinding {
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
                match self.noise_floor.as_ref().and_then(|f| f.weights.as_ref()) {
                    Some(f) => table.row([
                        "noise floor ‖θ_r′ − θ_r‖".to_string(),
                        fmt_number(f.verification_error),
                        fmt_optional(f.verification_error_relative),
                    ]),
                    None => table.row([
                        "noise floor ‖θ_r′ − θ_r‖".to_string(),
                        "— (no r′)".to_string(),
                        "—".to_string(),
                    ]),
                };
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
                "KL(r‖r′)",
                "JS(r′,r)",
                "act. dist (r′,r)",
                "acc o / u / r",
            ]);
            for (split, m) in &self.outputs {
                let floor = self.noise_floor.as_ref().and_then(|f| f.outputs.get(split));
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
                    fmt_optional(floor.and_then(|f| f.kl_retrained_unlearned)),
                    fmt_optional(floor.and_then(|f| f.js)),
                    fmt_optional(floor.and_then(|f| f.activation_distance)),
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
                "noise floor r′ vs retrained",
            ]);
            for (split, m) in activations {
                let floor = self
                    .noise_floor
                    .as_ref()
                    .and_then(|f| f.activations.as_ref())
                    .and_then(|a| a.get(split));
                table.row([
                    split.clone(),
                    m.n.to_string(),
                    m.dim.to_string(),
                    fmt_optional(m.activation_distance),
                    fmt_optional(m.original_vs_retrained.activation_distance),
                    fmt_optional(floor.and_then(|f| f.activation_distance)),
                ]);
            }
            out.push_str(&table.markdown());
            out.push('\n');
        }
        out.push_str("## Against the noise floor d(r, r′)\n\n");
        match &self.noise_floor_reason {
            Some(reason) => out.push_str(&format!("{reason}.\n\n")),
            None => out.push_str(
                "closer: d(o, r) − d(u, r) > d(r, r′); farther: d(u, r) − d(o, r) > d(r, r′); \
                 otherwise within the noise floor (docs/verdicts.md). The fraction moved is an \
                 estimate along one distance, not a bound.\n\n",
            ),
        }
        out.push_str(&ordering_table(&self.ordering).markdown());
        out.push('\n');
        out
    }
}
