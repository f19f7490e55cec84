//! Model bundles and labels files (ARCHITECTURE.md "Contracts"; `docs/formats.md`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ndarray::ArrayD;

use super::IoError;
use super::npz::NpzFile;
use super::raw::RawArray;
use super::weights::WeightsFile;

/// File names inside a bundle directory.
pub const WEIGHTS_FILE: &str = "weights.safetensors";
pub const OUTPUTS_FILE: &str = "outputs.npz";
pub const ACTIVATIONS_FILE: &str = "activations.npz";

/// One exported model: any of weights, outputs per split, activations per split. Files are
/// memory-mapped and their headers validated when the bundle is loaded; values are decoded
/// only when read.
#[derive(Debug)]
pub struct ModelBundle {
    pub dir: PathBuf,
    /// `weights.safetensors`: named tensors.
    pub weights: Option<WeightsFile>,
    /// `outputs.npz`: one `[n, k]` or `[n, ..., k]` array per split (class axis last).
    pub outputs: Option<NpzFile>,
    /// `activations.npz`: one `[n, d]` array per split.
    pub activations: Option<NpzFile>,
}

/// Loads a bundle directory. At least one of the three files must be present.
pub fn load_bundle(dir: &Path) -> Result<ModelBundle, IoError> {
    let metadata = std::fs::metadata(dir).map_err(|source| IoError::Open {
        path: dir.to_path_buf(),
        source,
    })?;
    if !metadata.is_dir() {
        return Err(IoError::format(
            dir,
            "a model bundle must be a directory (with weights.safetensors, outputs.npz and/or activations.npz)",
        ));
    }
    let weights_path = dir.join(WEIGHTS_FILE);
    let outputs_path = dir.join(OUTPUTS_FILE);
    let activations_path = dir.join(ACTIVATIONS_FILE);
    let weights = weights_path
        .exists()
        .then(|| WeightsFile::open(&weights_path))
        .transpose()?;
    let outputs = outputs_path
        .exists()
        .then(|| NpzFile::open(&outputs_path))
        .transpose()?;
    let activations = activations_path
        .exists()
        .then(|| NpzFile::open(&activations_path))
        .transpose()?;
    if weights.is_none() && outputs.is_none() && activations.is_none() {
        return Err(IoError::format(
            dir,
            format!("bundle holds none of {WEIGHTS_FILE}, {OUTPUTS_FILE}, {ACTIVATIONS_FILE}"),
        ));
    }
    Ok(ModelBundle {
        dir: dir.to_path_buf(),
        weights,
        outputs,
        activations,
    })
}

impl ModelBundle {
    /// Split names in `outputs.npz` (archive order), empty without outputs.
    pub fn output_splits(&self) -> Vec<String> {
        self.outputs
            .as_ref()
            .map(|o| o.names().to_vec())
            .unwrap_or_default()
    }

    /// Split names in `activations.npz`, empty without activations.
    pub fn activation_splits(&self) -> Vec<String> {
        self.activations
            .as_ref()
            .map(|o| o.names().to_vec())
            .unwrap_or_default()
    }

    /// The outputs of one split as a typed view.
    pub fn output(&self, split: &str) -> Result<RawArray, IoError> {
        match &self.outputs {
            Some(file) => file.array(split),
            None => Err(IoError::format(
                self.dir.join(OUTPUTS_FILE),
                "file not found in the bundle",
            )),
        }
    }

    /// The activations of one split as a typed view.
    pub fn activation(&self, split: &str) -> Result<RawArray, IoError> {
        match &self.activations {
            Some(file) => file.array(split),
            None => Err(IoError::format(
                self.dir.join(ACTIVATIONS_FILE),
                "file not found in the bundle",
            )),
        }
    }
}

/// Labels per split: one integer array per split (`[n]`, or `[n, ...]` for per-pixel labels).
#[derive(Debug, Clone)]
pub struct Labels {
    pub path: PathBuf,
    /// Split name → labels in logical row-major order with their shape.
    pub splits: BTreeMap<String, ArrayD<i64>>,
}

impl Labels {
    /// Labels of one split, if present.
    pub fn get(&self, split: &str) -> Option<&ArrayD<i64>> {
        self.splits.get(split)
    }

    /// Split names in sorted order.
    pub fn names(&self) -> Vec<&str> {
        self.splits.keys().map(String::as_str).collect()
    }
}

/// Reads a labels `.npz`: every array must have an integer (or bool) dtype.
pub fn load_labels(path: &Path) -> Result<Labels, IoError> {
    let file = NpzFile::open(path)?;
    let mut splits = BTreeMap::new();
    for name in file.names() {
        splits.insert(name.clone(), file.array_i64(name)?);
    }
    Ok(Labels {
        path: path.to_path_buf(),
        splits,
    })
}

/// One split of a bundle as `[rows, k]` logits with one class label per row: what attacks on
/// a single model consume. Per-pixel outputs `[n, ..., k]` are flattened to rows.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledLogits {
    /// `[rows, k]`; for probability outputs, their logarithms (logits up to a per-row constant).
    pub logits: ndarray::Array2<f64>,
    /// One label in `0..k` per row.
    pub labels: Vec<usize>,
}

/// Reads split `split` of the bundle in `bundle_dir` with its labels from `labels` (read from
/// `labels_path`, named in errors). Labels must match every output axis but the last and lie
/// in `0..k`; probability outputs must be finite, non-negative rows summing to one within
/// [`crate::tolerance::PROBABILITY_ROW_SUM`]. See `docs/formats.md`.
pub fn load_labelled_logits(
    bundle_dir: &Path,
    labels_path: &Path,
    labels: &Labels,
    split: &str,
    kind: super::OutputKind,
) -> Result<LabelledLogits, IoError> {
    let outputs_path = bundle_dir.join(OUTPUTS_FILE);
    let raw = load_bundle(bundle_dir)?.output(split)?.to_f64()?;
    let shape = raw.shape().to_vec();
    if shape.len() < 2 {
        return Err(IoError::invalid(
            &outputs_path,
            split,
            format!("shape {shape:?}, expected [n, k] or [n, ..., k] (class axis last)"),
        ));
    }
    let k = shape[shape.len() - 1];
    let rows = raw.len() / k.max(1);
    let split_labels = labels.get(split).ok_or_else(|| {
        IoError::invalid(
            labels_path,
            split,
            format!(
                "no labels for this split (the file holds {:?})",
                labels.names()
            ),
        )
    })?;
    if split_labels.shape() != &shape[..shape.len() - 1] {
        return Err(IoError::invalid(
            labels_path,
            split,
            format!(
                "labels have shape {:?}, but the outputs in {} have shape {shape:?} (labels must \
                 match every axis but the last)",
                split_labels.shape(),
                outputs_path.display()
            ),
        ));
    }
    let mut logits = raw
        .into_shape_with_order((rows, k))
        .map_err(|e| IoError::invalid(&outputs_path, split, e.to_string()))?;
    if kind == super::OutputKind::Logits {
        let mut detector = super::ProbabilityLikeRows::new(k);
        if let Some(values) = logits.as_slice() {
            detector.observe(values);
        }
        detector.finish(&outputs_path, split)?;
    }
    if kind == super::OutputKind::Probabilities {
        for (row_index, mut row) in logits.rows_mut().into_iter().enumerate() {
            if let Some(p) = row.iter().find(|p| !(p.is_finite() && **p >= 0.0)) {
                return Err(IoError::invalid(
                    &outputs_path,
                    split,
                    format!("row {row_index} holds {p}, not a probability"),
                ));
            }
            let sum: f64 = row.sum();
            if (sum - 1.0).abs() > crate::tolerance::PROBABILITY_ROW_SUM {
                return Err(IoError::invalid(
                    &outputs_path,
                    split,
                    format!("row {row_index} sums to {sum}, not 1 (probabilities expected)"),
                ));
            }
            row.mapv_inplace(f64::ln);
        }
    }
    let labels = split_labels
        .iter()
        .enumerate()
        .map(|(index, &label)| {
            usize::try_from(label)
                .ok()
                .filter(|&class| class < k)
                .ok_or_else(|| {
                    IoError::invalid(
                        labels_path,
                        split,
                        format!("label {label} at index {index} is out of range 0..{k}"),
                    )
                })
        })
        .collect::<Result<Vec<usize>, IoError>>()?;
    Ok(LabelledLogits { logits, labels })
}
