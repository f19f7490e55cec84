//! Reading and validating the files an audit consumes: npy, npz, safetensors, csv, model
//! bundles, labels files and sample sets. Every error names the file and the array (or
//! tensor) and says what is wrong. The formats are documented in `docs/formats.md`.
//!
//! Large files are memory-mapped and exposed as typed views ([`RawArray`]: dtype, byte order,
//! shape, memory order, byte offset) that decode ranges of elements into a caller's `f64`
//! buffer, so nothing is loaded twice or copied whole into f64. What each reader refuses, and
//! the caps that bound time and memory, are in `docs/robustness.md`. Small arrays (labels, score
//! matrices, masks) have fully decoding helpers ([`NpzFile::array_f64`], [`read_npy_f64`]).

mod bundle;
pub mod llm;
mod npy;
mod npz;
mod probabilities;
mod raw;
mod sample_set;
mod table;
mod weights;

pub use bundle::{
    ACTIVATIONS_FILE, LabelledLogits, Labels, ModelBundle, OUTPUTS_FILE, WEIGHTS_FILE, load_bundle,
    load_labelled_logits, load_labels,
};
pub use npy::{open_npy, read_npy_f64};
pub use npz::NpzFile;
pub use probabilities::ProbabilityLikeRows;
pub use raw::{ByteOrder, Dtype, MemoryOrder, RawArray};
pub use sample_set::{SampleSet, load_sample_set};
pub use table::{LabelledTable, MAX_CLASSES, MAX_FEATURE_ABS, read_labelled_csv};
pub use weights::WeightsFile;

use std::path::PathBuf;

/// Whether an output array holds logits (softmax is applied) or probabilities (validated:
/// finite, non-negative, rows summing to one within [`crate::tolerance::PROBABILITY_ROW_SUM`]).
/// A property of the files, so it lives in `io`; `metrics` re-exports it. See
/// `docs/metrics.md` §2.
/// Declared once for the CLI (`--outputs-are`, via `clap::ValueEnum`) and for plans
/// (`outputs_are`, via serde): the words are `logits` (the default) and `probabilities`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum OutputKind {
    /// Unnormalised scores; softmax is applied.
    #[default]
    Logits,
    /// Rows are probability vectors (validated: non-negative, summing to one).
    Probabilities,
}

/// Errors raised while reading evidence from files. Every variant carries the file, and the
/// array or tensor where one is involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IoError {
    /// The file or directory could not be opened or read. The OS reason is the `source`
    /// (shown after the message by `{:#}` / error-chain printers).
    #[error("{path}: cannot open or read")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not a valid file of its format (truncated, corrupt header, ...).
    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },
    /// An array in the file is readable but its content is invalid (NaN, wrong shape, ...).
    #[error("{path}: array `{array}`: {message}")]
    Invalid {
        path: PathBuf,
        array: String,
        message: String,
    },
}

impl IoError {
    pub(crate) fn format(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        IoError::Format {
            path: path.into(),
            message: message.into(),
        }
    }

    pub(crate) fn invalid(
        path: impl Into<PathBuf>,
        array: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        IoError::Invalid {
            path: path.into(),
            array: array.into(),
            message: message.into(),
        }
    }
}

// Views and open files cross rayon threads in `compare` (one chunk per task).
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<RawArray>();
    assert_send_sync::<NpzFile>();
    assert_send_sync::<WeightsFile>();
    assert_send_sync::<ModelBundle>();
    assert_send_sync::<Labels>();
    assert_send_sync::<IoError>();
};

/// Entry points for the fuzz targets in `fuzz/` (`docs/robustness.md`): each runs a loader over
/// bytes in memory exactly as over a file, then decodes every array it accepted. Not part of
/// the supported API.
#[doc(hidden)]
pub mod fuzzing {
    use std::path::Path;
    use std::sync::Arc;

    use super::raw::Storage;
    use super::{IoError, NpzFile, WeightsFile};

    fn owned(data: &[u8]) -> Storage {
        Storage::Owned(Arc::new(data.to_vec()))
    }

    /// An `.npy` file's bytes: parse, then decode as f64, i64 and bool.
    pub fn npy(data: &[u8]) -> Result<(), IoError> {
        let path = Path::new("fuzz.npy");
        if data.is_empty() {
            return Err(IoError::format(path, "file is empty"));
        }
        let raw = super::npy::raw_from_storage(path, "fuzz", owned(data), 0)?;
        let _ = raw.to_f64_unchecked();
        let _ = raw.to_i64();
        let _ = raw.to_bool();
        Ok(())
    }

    /// An `.npz` archive's bytes: open, then read every member.
    pub fn npz(data: &[u8]) -> Result<(), IoError> {
        let file = NpzFile::from_storage(Path::new("fuzz.npz"), owned(data))?;
        for name in file.names().to_vec() {
            if let Ok(raw) = file.array(&name) {
                let _ = raw.to_f64_unchecked();
                let _ = raw.to_i64();
            }
        }
        Ok(())
    }

    /// A `.safetensors` file's bytes: open, then decode every tensor.
    pub fn safetensors(data: &[u8]) -> Result<(), IoError> {
        let path = Path::new("fuzz.safetensors");
        if data.is_empty() {
            return Err(IoError::format(path, "file is empty"));
        }
        let file = WeightsFile::from_storage(path, owned(data))?;
        for tensor in file.tensors() {
            let mut out = vec![0.0; tensor.len().min(1 << 16)];
            tensor.decode_into(0, &mut out)?;
        }
        Ok(())
    }

    /// A labelled CSV's bytes, label column `label`.
    pub fn csv(data: &[u8]) -> Result<(), IoError> {
        super::table::read_labelled_csv_from(Path::new("fuzz.csv"), "label", data).map(|_| ())
    }
}
