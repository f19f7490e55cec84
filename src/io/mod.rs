//! Reading and validating the files an audit consumes: npy, npz, safetensors, csv, model
//! bundles, labels files and sample sets. Every error names the file and the array (or
//! tensor) and says what is wrong. The formats are documented in `docs/formats.md`.
//!
//! Large files are memory-mapped and exposed as typed views ([`RawArray`]: dtype, byte order,
//! shape, memory order, byte offset) that decode ranges of elements into a caller's `f64`
//! buffer, so nothing is loaded twice or copied whole into f64. Small arrays (labels, score
//! matrices, masks) have fully decoding helpers ([`NpzFile::array_f64`], [`read_npy_f64`]).

mod bundle;
mod compare;
pub mod llm;
mod npy;
mod npz;
mod raw;
mod sample_set;
mod table;
mod weights;

pub use bundle::{
    ACTIVATIONS_FILE, LabelledLogits, Labels, ModelBundle, OUTPUTS_FILE, WEIGHTS_FILE, load_bundle,
    load_labelled_logits, load_labels,
};
pub use compare::{
    CompareError, CompareOptions, CompareProvenance, Comparison, InputFile, WeightDtypes,
    compare_bundles,
};
pub use npy::{open_npy, read_npy_f64};
pub use npz::NpzFile;
pub use raw::{ByteOrder, Dtype, MemoryOrder, RawArray};
pub use sample_set::{SampleSet, load_sample_set};
pub use table::{LabelledTable, read_labelled_csv};
pub use weights::WeightsFile;

use std::path::PathBuf;

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
    assert_send_sync::<CompareError>();
};
