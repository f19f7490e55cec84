//! Sample sets: one side of a repeated-sampling experiment, `[n_trials, d]`.

use std::path::{Path, PathBuf};

use ndarray::Array2;

use super::IoError;

/// One side of a repeated-sampling experiment: `n_trials` rows of `d` statistics each
/// (`d = 1` scalar statistic, `d` = forget examples, or `d` = parameter count).
#[derive(Debug, Clone, PartialEq)]
pub struct SampleSet {
    /// Where the samples came from (for messages and provenance).
    source: PathBuf,
    /// `[n_trials, d]`, every value finite.
    values: Array2<f64>,
}

impl SampleSet {
    /// A sample set from `[n_trials, d]` values, validated: at least one trial and one column,
    /// every value finite (the error names `source`, the trial and the column). The only way to
    /// build one, so every audit receives evidence it can use.
    pub fn new(source: impl Into<PathBuf>, values: Array2<f64>) -> Result<SampleSet, IoError> {
        let source = source.into();
        if values.nrows() == 0 || values.ncols() == 0 {
            return Err(IoError::invalid(
                &source,
                "samples",
                format!("empty sample set (shape {:?})", values.shape()),
            ));
        }
        if let Some((index, value)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            let (row, col) = (index / values.ncols(), index % values.ncols());
            return Err(IoError::invalid(
                &source,
                "samples",
                format!("non-finite value {value} at trial {row}, column {col}"),
            ));
        }
        Ok(SampleSet { source, values })
    }
    /// Where the samples came from.
    pub fn source(&self) -> &Path {
        &self.source
    }
    /// The `[n_trials, d]` values, every one finite.
    pub fn values(&self) -> &Array2<f64> {
        &self.values
    }
    /// Number of trials (rows).
    pub fn n_trials(&self) -> usize {
        self.values.nrows()
    }
    /// Dimension of one sample (columns).
    pub fn dim(&self) -> usize {
        self.values.ncols()
    }
}

/// Loads a sample set from an `.npy` file of shape `[n_trials, d]` (or `[n_trials]`, read as
/// `d = 1`), or from a directory of per-trial `.npy` files of shape `[d]` read in file-name
/// order. Values must be finite.
pub fn load_sample_set(path: &Path) -> Result<SampleSet, IoError> {
    let values = if path.is_dir() {
        load_directory(path)?
    } else {
        let array = read_f64_npy(path)?;
        match array.ndim() {
            1 => {
                let n = array.len();
                array
                    .into_shape_with_order((n, 1))
                    .map_err(|e| IoError::format(path, e.to_string()))?
            }
            2 => array
                .into_dimensionality()
                .map_err(|e| IoError::format(path, e.to_string()))?,
            k => {
                return Err(IoError::invalid(
                    path,
                    "samples",
                    format!("expected shape [n_trials, d], found {k} dimensions"),
                ));
            }
        }
    };
    SampleSet::new(path, values)
}

fn load_directory(dir: &Path) -> Result<Array2<f64>, IoError> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|source| IoError::Open {
            path: dir.to_path_buf(),
            source,
        })?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "npy"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(IoError::format(dir, "directory holds no .npy trial files"));
    }
    let mut rows: Vec<f64> = Vec::new();
    let mut dim = None;
    for file in &files {
        let trial = read_f64_npy(file)?;
        let flat: Vec<f64> = trial.iter().copied().collect();
        match dim {
            None => dim = Some(flat.len()),
            Some(d) if d != flat.len() => {
                return Err(IoError::invalid(
                    file,
                    "samples",
                    format!("trial has {} values, earlier trials have {d}", flat.len()),
                ));
            }
            Some(_) => {}
        }
        rows.extend(flat);
    }
    let d = dim.unwrap_or(0);
    Array2::from_shape_vec((files.len(), d), rows).map_err(|e| IoError::format(dir, e.to_string()))
}

/// Reads an `.npy` array of any supported dtype, byte order and memory order as f64
/// (finiteness is checked by the caller, which names the trial and column).
fn read_f64_npy(path: &Path) -> Result<ndarray::ArrayD<f64>, IoError> {
    super::npy::open_npy(path)?.to_f64_unchecked()
}
