//! `.safetensors` weight files: a little-endian u64 header length, a JSON header naming each
//! tensor's dtype, shape and byte range, then the raw data. The file is memory-mapped and each
//! tensor is a typed view at its offset; tensors need not be aligned (they are decoded byte by
//! byte, never reinterpreted in place).

use std::path::{Path, PathBuf};

use safetensors::SafeTensors;

use super::IoError;
use super::raw::{ByteOrder, Dtype, MemoryOrder, RawArray, Storage, map_file};

/// An open safetensors file: tensor views in name order.
#[derive(Debug, Clone)]
pub struct WeightsFile {
    path: PathBuf,
    /// Sorted by name: the verification error uses every tensor, in name order.
    tensors: Vec<RawArray>,
}

impl WeightsFile {
    /// Maps the file and validates its header (JSON, dtypes, offsets within the file).
    ///
    /// Beyond the `safetensors` crate's checks (JSON, dtypes, shapes against byte ranges,
    /// ranges contiguous from the start of the data and ending at the end of the file, so no
    /// overlap and no gap), a tensor name repeated in the JSON header is refused: JSON readers
    /// keep one of the two silently.
    pub fn open(path: &Path) -> Result<WeightsFile, IoError> {
        Self::from_storage(path, map_file(path)?)
    }

    /// [`WeightsFile::open`] over bytes already in memory or mapped (`path` names them).
    pub(crate) fn from_storage(path: &Path, storage: Storage) -> Result<WeightsFile, IoError> {
        let bytes = storage.bytes();
        if bytes.len() >= 8 {
            let header_len = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
            if header_len > bytes.len() as u64 - 8 {
                return Err(IoError::format(
                    path,
                    format!(
                        "corrupt safetensors header: header length {header_len} exceeds the file size {} (absurd or truncated)",
                        bytes.len()
                    ),
                ));
            }
        }
        if bytes.len() >= 8 {
            let header_len = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
            let header = &bytes[8..8 + header_len];
            if let Err(e) = serde_json::from_slice::<UniqueKeys>(header)
                && e.to_string().contains(DUPLICATE)
            {
                return Err(IoError::format(
                    path,
                    format!("corrupt safetensors header: {e}"),
                ));
            }
        }
        let parsed = SafeTensors::deserialize(bytes)
            .map_err(|e| IoError::format(path, format!("corrupt safetensors file: {e}")))?;
        let base = bytes.as_ptr() as usize;
        let mut tensors = Vec::with_capacity(parsed.len());
        let mut entries: Vec<_> = parsed.iter().collect();
        entries.sort_by(|a, b| a.0.cmp(b.0));
        for (name, view) in entries {
            let dtype = match view.dtype() {
                safetensors::Dtype::F64 => Dtype::F64,
                safetensors::Dtype::F32 => Dtype::F32,
                safetensors::Dtype::F16 => Dtype::F16,
                safetensors::Dtype::BF16 => Dtype::BF16,
                safetensors::Dtype::I64 => Dtype::I64,
                safetensors::Dtype::I32 => Dtype::I32,
                safetensors::Dtype::I16 => Dtype::I16,
                safetensors::Dtype::I8 => Dtype::I8,
                safetensors::Dtype::U64 => Dtype::U64,
                safetensors::Dtype::U32 => Dtype::U32,
                safetensors::Dtype::U16 => Dtype::U16,
                safetensors::Dtype::U8 => Dtype::U8,
                safetensors::Dtype::BOOL => Dtype::Bool,
                other => {
                    return Err(IoError::invalid(
                        path,
                        name,
                        format!(
                            "unsupported tensor dtype {other:?} (need F64, F32, F16, BF16 or an integer type)"
                        ),
                    ));
                }
            };
            let offset = view.data().as_ptr() as usize - base;
            tensors.push(RawArray::new(
                path,
                name,
                dtype,
                ByteOrder::Little,
                view.shape().to_vec(),
                MemoryOrder::C,
                storage.clone(),
                offset,
            )?);
        }
        Ok(WeightsFile {
            path: path.to_path_buf(),
            tensors,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Tensors sorted by name.
    pub fn tensors(&self) -> &[RawArray] {
        &self.tensors
    }

    /// Tensor names in name order.
    pub fn names(&self) -> Vec<&str> {
        self.tensors.iter().map(RawArray::name).collect()
    }

    /// The tensor called `name`.
    pub fn tensor(&self, name: &str) -> Option<&RawArray> {
        self.tensors.iter().find(|t| t.name() == name)
    }

    /// Total number of parameters.
    pub fn parameter_count(&self) -> usize {
        self.tensors.iter().map(RawArray::len).sum()
    }
}

const DUPLICATE: &str = "appears twice in the header";

/// Deserializes a JSON object only to check that no key appears twice (values are skipped).
struct UniqueKeys;

impl<'de> serde::Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = UniqueKeys;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<UniqueKeys, A::Error> {
                let mut seen = std::collections::HashSet::new();
                while let Some(key) = map.next_key::<String>()? {
                    map.next_value::<serde::de::IgnoredAny>()?;
                    if !seen.insert(key.clone()) {
                        return Err(serde::de::Error::custom(format!(
                            "tensor {key:?} {DUPLICATE}"
                        )));
                    }
                }
                Ok(UniqueKeys)
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}
