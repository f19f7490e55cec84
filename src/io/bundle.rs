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
