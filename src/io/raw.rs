//! Typed views over raw array bytes (memory-mapped or owned), decoded on demand into f64.
//!
//! A [`RawArray`] never copies the file: it holds a shared handle to the bytes (a memory map of
//! the file, or the inflated bytes of a deflated npz member), the dtype, byte order, shape,
//! memory order and the byte offset of the first element. Callers decode ranges of elements
//! into their own buffers, which is how `compare` streams files larger than memory in f64.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use memmap2::Mmap;
use ndarray::{ArrayD, IxDyn, ShapeBuilder};

use super::IoError;

/// Element type of an array on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Dtype {
    Bool,
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    U64,
    F16,
    BF16,
    F32,
    F64,
}

impl Dtype {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Dtype::Bool | Dtype::I8 | Dtype::U8 => 1,
            Dtype::I16 | Dtype::U16 | Dtype::F16 | Dtype::BF16 => 2,
            Dtype::I32 | Dtype::U32 | Dtype::F32 => 4,
            Dtype::I64 | Dtype::U64 | Dtype::F64 => 8,
        }
    }

    /// Whether the type is a floating-point type (the only ones that can hold NaN or Inf).
    pub fn is_float(self) -> bool {
        matches!(self, Dtype::F16 | Dtype::BF16 | Dtype::F32 | Dtype::F64)
    }

    /// Whether the type is an integer or boolean type.
    pub fn is_integer(self) -> bool {
        !self.is_float()
    }

    /// Lower-case name, as in the report (`f32`, `bf16`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Dtype::Bool => "bool",
            Dtype::I8 => "i8",
            Dtype::I16 => "i16",
            Dtype::I32 => "i32",
            Dtype::I64 => "i64",
            Dtype::U8 => "u8",
            Dtype::U16 => "u16",
            Dtype::U32 => "u32",
            Dtype::U64 => "u64",
            Dtype::F16 => "f16",
            Dtype::BF16 => "bf16",
            Dtype::F32 => "f32",
            Dtype::F64 => "f64",
        }
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Byte order of multi-byte elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ByteOrder {
    Little,
    Big,
}

/// Memory order of a multi-dimensional array.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MemoryOrder {
    /// Row-major: the last axis varies fastest.
    C,
    /// Column-major: the first axis varies fastest.
    Fortran,
}

/// Shared bytes behind one or more arrays: a read-only memory map of a file, or bytes held in
/// memory (an inflated npz member).
#[derive(Clone)]
pub(crate) enum Storage {
    Mapped(Arc<Mmap>),
    Owned(Arc<Vec<u8>>),
}

impl Storage {
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Storage::Mapped(map) => map,
            Storage::Owned(bytes) => bytes,
        }
    }

    pub(crate) fn is_mapped(&self) -> bool {
        matches!(self, Storage::Mapped(_))
    }

    /// Advises the OS that the whole pages inside `start .. start + len` will not be needed
    /// soon (a no-op for owned bytes; see [`RawArray::release`] for why this is safe).
    pub(crate) fn release_range(&self, start: usize, len: usize) {
        const PAGE: usize = 4096;
        let Storage::Mapped(map) = self else {
            return;
        };
        let first = start.div_ceil(PAGE) * PAGE;
        let end = (start.saturating_add(len) / PAGE) * PAGE;
        if end > first && end <= map.len() {
            // SAFETY: read-only shared file mapping; MADV_DONTNEED only drops page-table
            // entries and later reads fault the same file bytes back in.
            let _ = unsafe {
                map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, first, end - first)
            };
        }
    }
}

impl fmt::Debug for Storage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Storage::Mapped(map) => write!(f, "Mapped({} bytes)", map.len()),
            Storage::Owned(bytes) => write!(f, "Owned({} bytes)", bytes.len()),
        }
    }
}

/// Opens `path` for reading only if it is a regular file (after following symlinks).
///
/// FIFOs, sockets, character and block devices and directories are refused *before* they are
/// opened (opening a FIFO for reading blocks until a writer appears; a device can stream
/// forever), and the file is opened non-blocking on Unix so that a path swapped for a FIFO
/// between the check and the open cannot block either. Every loader opens its inputs here.
pub(crate) fn open_regular(path: &Path) -> Result<std::fs::File, IoError> {
    let metadata = std::fs::metadata(path).map_err(|source| IoError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    check_regular(path, &metadata)?;
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(O_NONBLOCK);
    }
    let file = options.open(path).map_err(|source| IoError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    let metadata = file.metadata().map_err(|source| IoError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    check_regular(path, &metadata)?;
    Ok(file)
}

#[cfg(all(unix, any(target_os = "linux", target_os = "android")))]
const O_NONBLOCK: i32 = 0o4000;
#[cfg(all(unix, not(any(target_os = "linux", target_os = "android"))))]
const O_NONBLOCK: i32 = 0x0004;

/// Refuses anything but a regular file, naming what the path is.
pub(crate) fn check_regular(path: &Path, metadata: &std::fs::Metadata) -> Result<(), IoError> {
    let kind = metadata.file_type();
    if kind.is_file() {
        return Ok(());
    }
    let what = if kind.is_dir() {
        "a directory"
    } else {
        special_kind(&kind)
    };
    Err(IoError::format(
        path,
        format!("is {what}, not a regular file (only regular files are read)"),
    ))
}

#[cfg(unix)]
fn special_kind(kind: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if kind.is_fifo() {
        "a FIFO (named pipe)"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else {
        "not a regular file"
    }
}

#[cfg(not(unix))]
fn special_kind(_kind: &std::fs::FileType) -> &'static str {
    "a special file"
}

/// Maps a whole file read-only. Empty files are refused (they cannot hold any array format),
/// and so is anything but a regular file ([`open_regular`]).
pub(crate) fn map_file(path: &Path) -> Result<Storage, IoError> {
    let file = open_regular(path)?;
    let len = file
        .metadata()
        .map_err(|source| IoError::Open {
            path: path.to_path_buf(),
            source,
        })?
        .len();
    if len == 0 {
        return Err(IoError::format(path, "file is empty"));
    }
    // SAFETY: the map is read-only. If another process truncates the file while we read it,
    // reads may fault (SIGBUS); this is the usual contract of memory-mapped readers and the
    // reason the inputs are documented as "must not change during the run".
    let map = unsafe { Mmap::map(&file) }.map_err(|source| IoError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(Storage::Mapped(Arc::new(map)))
}

/// A typed, lazily decoded view of one array stored in a file.
#[derive(Clone, Debug)]
pub struct RawArray {
    path: PathBuf,
    name: String,
    dtype: Dtype,
    byte_order: ByteOrder,
    shape: Vec<usize>,
    order: MemoryOrder,
    storage: Storage,
    offset: usize,
    len: usize,
}

impl RawArray {
    /// Builds a view after checking that `shape` fits in the bytes after `offset`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        path: &Path,
        name: &str,
        dtype: Dtype,
        byte_order: ByteOrder,
        shape: Vec<usize>,
        order: MemoryOrder,
        storage: Storage,
        offset: usize,
    ) -> Result<Self, IoError> {
        let len = shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| {
                IoError::invalid(
                    path,
                    name,
                    format!("shape {shape:?} overflows the address space"),
                )
            })?;
        let needed = len.checked_mul(dtype.size()).ok_or_else(|| {
            IoError::invalid(
                path,
                name,
                format!("shape {shape:?} overflows the address space"),
            )
        })?;
        let available = storage.bytes().len().saturating_sub(offset);
        if needed > available {
            return Err(IoError::invalid(
                path,
                name,
                format!(
                    "truncated: shape {shape:?} of {dtype} needs {needed} bytes but only {available} follow the header"
                ),
            ));
        }
        Ok(RawArray {
            path: path.to_path_buf(),
            name: name.to_string(),
            dtype,
            byte_order,
            shape,
            order,
            storage,
            offset,
            len,
        })
    }

    /// The file the array lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// The array's name (npz member without `.npy`, tensor name, or the file name for npy).
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn dtype(&self) -> Dtype {
        self.dtype
    }
    pub fn byte_order(&self) -> ByteOrder {
        self.byte_order
    }
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }
    pub fn order(&self) -> MemoryOrder {
        self.order
    }
    /// Byte offset of the first element within the mapped file (or inflated member).
    pub fn byte_offset(&self) -> usize {
        self.offset
    }
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Whether the bytes are memory-mapped from the file (false for inflated npz members).
    pub fn is_memory_mapped(&self) -> bool {
        self.storage.is_mapped()
    }

    fn data(&self) -> &[u8] {
        &self.storage.bytes()[self.offset..self.offset + self.len * self.dtype.size()]
    }

    /// Decodes the elements `first .. first + out.len()`, counted in **logical row-major (C)
    /// order** whatever the memory order, into `out`. C-ordered arrays decode straight from
    /// contiguous bytes; Fortran-ordered ones gather each element (slower, still correct).
    /// No finiteness check: the caller checks while it streams, so it can name the row.
    pub fn decode_into(&self, first: usize, out: &mut [f64]) -> Result<(), IoError> {
        let end = first
            .checked_add(out.len())
            .filter(|&e| e <= self.len)
            .ok_or_else(|| {
                IoError::invalid(
                    &self.path,
                    &self.name,
                    format!(
                        "elements {first}..{} requested from an array of {} elements",
                        first.saturating_add(out.len()),
                        self.len
                    ),
                )
            })?;
        if out.is_empty() {
            return Ok(());
        }
        let size = self.dtype.size();
        let data = self.data();
        if self.order == MemoryOrder::C || self.shape.len() <= 1 {
            decode_contiguous(
                self.dtype,
                self.byte_order,
                &data[first * size..end * size],
                out,
            );
        } else {
            // Fortran order: storage index = Σ i_a · stride_a with stride_0 = 1.
            let ndim = self.shape.len();
            let mut strides = vec![1usize; ndim];
            for axis in 1..ndim {
                strides[axis] = strides[axis - 1] * self.shape[axis - 1];
            }
            let mut index = vec![0usize; ndim];
            let mut rest = first;
            for axis in (0..ndim).rev() {
                index[axis] = rest % self.shape[axis];
                rest /= self.shape[axis];
            }
            for slot in out.iter_mut() {
                let position: usize = index.iter().zip(&strides).map(|(i, s)| i * s).sum();
                decode_contiguous(
                    self.dtype,
                    self.byte_order,
                    &data[position * size..(position + 1) * size],
                    std::slice::from_mut(slot),
                );
                for axis in (0..ndim).rev() {
                    index[axis] += 1;
                    if index[axis] < self.shape[axis] {
                        break;
                    }
                    index[axis] = 0;
                }
            }
        }
        Ok(())
    }

    /// Tells the OS that the elements `first .. first + count` (logical order) will not be read
    /// again soon, so their pages can leave this process's resident set. This is what keeps the
    /// peak memory of a streamed `compare` at a few chunks instead of the size of the inputs.
    /// A no-op for in-memory storage and for Fortran-ordered arrays (not contiguous by rows);
    /// only whole pages inside the range are released, and failures are ignored (it is advice).
    pub fn release(&self, first: usize, count: usize) {
        const PAGE: usize = 4096;
        let Storage::Mapped(map) = &self.storage else {
            return;
        };
        if self.order == MemoryOrder::Fortran && self.shape.len() > 1 {
            return;
        }
        let size = self.dtype.size();
        let start = self.offset + first.min(self.len) * size;
        let end = self.offset + first.saturating_add(count).min(self.len) * size;
        let start = start.div_ceil(PAGE) * PAGE;
        let end = (end / PAGE) * PAGE;
        if end > start && end <= map.len() {
            // SAFETY: the map is a read-only shared mapping of a file (`Mmap::map`). For such a
            // mapping MADV_DONTNEED only drops page-table entries: a later read faults the same
            // file bytes back in, so no view ever observes different data.
            let _ = unsafe {
                map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, start, end - start)
            };
        }
    }

    /// Decodes the whole array as f64 in its logical shape, NaN and Inf included (the caller
    /// checks, to word the message its own way).
    pub(crate) fn to_f64_unchecked(&self) -> Result<ArrayD<f64>, IoError> {
        let mut values = vec![0.0; self.len];
        self.decode_into(0, &mut values)?;
        ArrayD::from_shape_vec(IxDyn(&self.shape), values)
            .map_err(|e| IoError::invalid(&self.path, &self.name, e.to_string()))
    }

    /// Decodes the whole array as f64 in its logical shape (for small arrays). Refuses NaN/Inf.
    pub fn to_f64(&self) -> Result<ArrayD<f64>, IoError> {
        let mut values = vec![0.0; self.len];
        self.decode_into(0, &mut values)?;
        if let Some(index) = values.iter().position(|v| !v.is_finite()) {
            return Err(IoError::invalid(
                &self.path,
                &self.name,
                format!(
                    "non-finite value {} at flat index {index} (row-major)",
                    values[index]
                ),
            ));
        }
        ArrayD::from_shape_vec(IxDyn(&self.shape), values)
            .map_err(|e| IoError::invalid(&self.path, &self.name, e.to_string()))
    }

    /// Decodes an integer (or bool) array exactly as i64. Float arrays are refused, as are
    /// u64 values above `i64::MAX`.
    pub fn to_i64(&self) -> Result<ArrayD<i64>, IoError> {
        if self.dtype.is_float() {
            return Err(IoError::invalid(
                &self.path,
                &self.name,
                format!("expected an integer array, found dtype {}", self.dtype),
            ));
        }
        let data = self.data();
        let size = self.dtype.size();
        let mut values = Vec::with_capacity(self.len);
        for (position, bytes) in data.chunks_exact(size).enumerate() {
            let value = decode_integer(self.dtype, self.byte_order, bytes).ok_or_else(|| {
                IoError::invalid(
                    &self.path,
                    &self.name,
                    format!("value at storage index {position} does not fit in i64"),
                )
            })?;
            values.push(value);
        }
        self.shaped(values)
    }

    /// Decodes a boolean array (dtype bool, or an integer array holding only 0 and 1).
    pub fn to_bool(&self) -> Result<ArrayD<bool>, IoError> {
        let integers = self.to_i64()?;
        if let Some((index, value)) = integers
            .iter()
            .enumerate()
            .find(|(_, v)| **v != 0 && **v != 1)
        {
            return Err(IoError::invalid(
                &self.path,
                &self.name,
                format!("expected booleans, found {value} at flat index {index}"),
            ));
        }
        Ok(integers.mapv(|v| v == 1))
    }

    /// Arranges values read in storage order into the logical shape.
    fn shaped<T: Clone>(&self, values: Vec<T>) -> Result<ArrayD<T>, IoError> {
        let shape = IxDyn(&self.shape);
        let result = match self.order {
            MemoryOrder::C => ArrayD::from_shape_vec(shape, values),
            MemoryOrder::Fortran => ArrayD::from_shape_vec(shape.f(), values),
        };
        let array = result.map_err(|e| IoError::invalid(&self.path, &self.name, e.to_string()))?;
        Ok(if array.is_standard_layout() {
            array
        } else {
            array.as_standard_layout().into_owned()
        })
    }
}

macro_rules! decode_loop {
    ($ty:ty, $n:expr, $order:expr, $bytes:expr, $out:expr, $conv:expr) => {{
        let chunks = $bytes.chunks_exact($n);
        match $order {
            ByteOrder::Little => {
                for (slot, b) in $out.iter_mut().zip(chunks) {
                    let v = <$ty>::from_le_bytes(b.try_into().expect("chunk size"));
                    *slot = $conv(v);
                }
            }
            ByteOrder::Big => {
                for (slot, b) in $out.iter_mut().zip(chunks) {
                    let v = <$ty>::from_be_bytes(b.try_into().expect("chunk size"));
                    *slot = $conv(v);
                }
            }
        }
    }};
}

/// Decodes `out.len()` contiguous elements from `bytes` (exactly `out.len() * size` bytes).
fn decode_contiguous(dtype: Dtype, order: ByteOrder, bytes: &[u8], out: &mut [f64]) {
    debug_assert_eq!(bytes.len(), out.len() * dtype.size());
    match dtype {
        Dtype::Bool => {
            for (slot, &b) in out.iter_mut().zip(bytes) {
                *slot = if b != 0 { 1.0 } else { 0.0 };
            }
        }
        Dtype::U8 => {
            for (slot, &b) in out.iter_mut().zip(bytes) {
                *slot = f64::from(b);
            }
        }
        Dtype::I8 => {
            for (slot, &b) in out.iter_mut().zip(bytes) {
                *slot = f64::from(b as i8);
            }
        }
        Dtype::I16 => decode_loop!(i16, 2, order, bytes, out, f64::from),
        Dtype::U16 => decode_loop!(u16, 2, order, bytes, out, f64::from),
        Dtype::I32 => decode_loop!(i32, 4, order, bytes, out, f64::from),
        Dtype::U32 => decode_loop!(u32, 4, order, bytes, out, f64::from),
        // Integers above 2^53 round to the nearest f64, as numpy's astype(float64) does.
        Dtype::I64 => decode_loop!(i64, 8, order, bytes, out, |v: i64| v as f64),
        Dtype::U64 => decode_loop!(u64, 8, order, bytes, out, |v: u64| v as f64),
        Dtype::F16 => decode_loop!(u16, 2, order, bytes, out, |v: u16| f64::from(
            half::f16::from_bits(v)
        )),
        Dtype::BF16 => decode_loop!(u16, 2, order, bytes, out, |v: u16| f64::from(
            half::bf16::from_bits(v)
        )),
        Dtype::F32 => decode_loop!(f32, 4, order, bytes, out, f64::from),
        Dtype::F64 => decode_loop!(f64, 8, order, bytes, out, |v: f64| v),
    }
}

fn decode_integer(dtype: Dtype, order: ByteOrder, b: &[u8]) -> Option<i64> {
    macro_rules! read {
        ($ty:ty) => {{
            let arr = b.try_into().ok()?;
            match order {
                ByteOrder::Little => <$ty>::from_le_bytes(arr),
                ByteOrder::Big => <$ty>::from_be_bytes(arr),
            }
        }};
    }
    Some(match dtype {
        Dtype::Bool => i64::from(b[0] != 0),
        Dtype::U8 => i64::from(b[0]),
        Dtype::I8 => i64::from(b[0] as i8),
        Dtype::I16 => i64::from(read!(i16)),
        Dtype::U16 => i64::from(read!(u16)),
        Dtype::I32 => i64::from(read!(i32)),
        Dtype::U32 => i64::from(read!(u32)),
        Dtype::I64 => read!(i64),
        Dtype::U64 => i64::try_from(read!(u64)).ok()?,
        Dtype::F16 | Dtype::BF16 | Dtype::F32 | Dtype::F64 => return None,
    })
}
