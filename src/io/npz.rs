//! `.npz` archives (numpy `savez` / `savez_compressed`): a zip of `.npy` members.
//!
//! A *stored* (uncompressed) member is read in place: the whole archive is memory-mapped and
//! the member's array is a view at its offset inside the zip. A *deflated* member cannot be
//! mapped; it is inflated once, into memory, the first time it is asked for, and kept (so it
//! is never inflated twice). Its header is checked when the archive is opened by inflating
//! only the first bytes.

use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use ndarray::ArrayD;
use zip::{CompressionMethod, ZipArchive};

use super::IoError;
use super::npy::{parse_header, raw_from_storage};
use super::raw::{RawArray, Storage, map_file};

/// Adapter so a zip reader can own a shared handle to the mapped bytes.
#[derive(Clone)]
struct SharedBytes(Storage);

impl AsRef<[u8]> for SharedBytes {
    fn as_ref(&self) -> &[u8] {
        self.0.bytes()
    }
}

#[derive(Debug)]
enum Member {
    /// Stored member: a view straight into the map.
    Stored(RawArray),
    /// Deflated member: index in the zip, and the inflated array once someone asked for it.
    Deflated {
        index: usize,
        inflated: OnceLock<RawArray>,
    },
}

/// An open `.npz` archive: array names, and typed views of each array.
pub struct NpzFile {
    path: PathBuf,
    names: Vec<String>,
    members: Vec<Member>,
    archive: Mutex<ZipArchive<Cursor<SharedBytes>>>,
}

impl std::fmt::Debug for NpzFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NpzFile")
            .field("path", &self.path)
            .field("names", &self.names)
            .field("members", &self.members)
            .finish()
    }
}

impl NpzFile {
    /// Opens and maps an archive, and validates every member's npy header and size.
    pub fn open(path: &Path) -> Result<NpzFile, IoError> {
        let storage = map_file(path)?;
        let mut archive =
            ZipArchive::new(Cursor::new(SharedBytes(storage.clone()))).map_err(|e| {
                IoError::format(
                    path,
                    format!("not a valid .npz (zip) archive, truncated or corrupt: {e}"),
                )
            })?;
        let mut names = Vec::with_capacity(archive.len());
        let mut members = Vec::with_capacity(archive.len());
        for index in 0..archive.len() {
            let zip_error = |e: zip::result::ZipError| {
                IoError::format(
                    path,
                    format!("member {index} of the archive is unreadable: {e}"),
                )
            };
            let (member_name, method, data_start, compressed, size) = {
                let entry = archive.by_index_raw(index).map_err(zip_error)?;
                (
                    entry.name().to_string(),
                    entry.compression(),
                    entry.data_start(),
                    entry.compressed_size(),
                    entry.size(),
                )
            };
            if member_name.ends_with('/') {
                continue;
            }
            let name = member_name
                .strip_suffix(".npy")
                .unwrap_or(&member_name)
                .to_string();
            let member = match method {
                CompressionMethod::Stored => {
                    let start = usize::try_from(data_start)
                        .ok()
                        .filter(|&s| {
                            s.checked_add(size as usize)
                                .is_some_and(|end| end <= storage.bytes().len())
                        })
                        .ok_or_else(|| {
                            IoError::invalid(
                                path,
                                &name,
                                "member extends past the end of the file (truncated)",
                            )
                        })?;
                    let member_bytes = &storage.bytes()[start..start + size as usize];
                    let header = parse_header(member_bytes, path, &name)?;
                    check_member_size(path, &name, &header, size)?;
                    Member::Stored(raw_from_storage(path, &name, storage.clone(), start)?)
                }
                CompressionMethod::Deflated => {
                    if data_start.saturating_add(compressed) > storage.bytes().len() as u64 {
                        return Err(IoError::invalid(
                            path,
                            &name,
                            "member extends past the end of the file (truncated)",
                        ));
                    }
                    // Inflate just enough to read the header.
                    let mut entry = archive.by_index(index).map_err(zip_error)?;
                    let mut prefix = Vec::new();
                    (&mut entry)
                        .take(4096)
                        .read_to_end(&mut prefix)
                        .map_err(|e| {
                            IoError::invalid(path, &name, format!("cannot inflate: {e}"))
                        })?;
                    let header = match parse_header(&prefix, path, &name) {
                        // A header longer than 4 KiB is legal but rare: read it whole.
                        Err(_) if prefix.len() == 4096 => {
                            let mut whole = prefix;
                            entry.read_to_end(&mut whole).map_err(|e| {
                                IoError::invalid(path, &name, format!("cannot inflate: {e}"))
                            })?;
                            parse_header(&whole, path, &name)?
                        }
                        other => other?,
                    };
                    check_member_size(path, &name, &header, size)?;
                    Member::Deflated {
                        index,
                        inflated: OnceLock::new(),
                    }
                }
                other => {
                    return Err(IoError::invalid(
                        path,
                        &name,
                        format!("unsupported zip compression {other} (need stored or deflated)"),
                    ));
                }
            };
            if names.contains(&name) {
                return Err(IoError::invalid(path, &name, "array name appears twice"));
            }
            names.push(name);
            members.push(member);
        }
        Ok(NpzFile {
            path: path.to_path_buf(),
            names,
            members,
            archive: Mutex::new(archive),
        })
    }

    /// The file this archive was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Array names in archive order (member names without `.npy`).
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Whether the archive holds an array called `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.names.iter().any(|n| n == name)
    }

    /// A typed view of the array `name`. Stored members are views into the map; a deflated
    /// member is inflated into memory on the first call and shared afterwards.
    pub fn array(&self, name: &str) -> Result<RawArray, IoError> {
        let position = self.names.iter().position(|n| n == name).ok_or_else(|| {
            IoError::invalid(
                &self.path,
                name,
                format!("no such array (the archive holds {:?})", self.names),
            )
        })?;
        match &self.members[position] {
            Member::Stored(raw) => Ok(raw.clone()),
            Member::Deflated { index, inflated } => {
                if let Some(raw) = inflated.get() {
                    return Ok(raw.clone());
                }
                let raw = self.inflate(*index, name)?;
                Ok(inflated.get_or_init(|| raw).clone())
            }
        }
    }

    fn inflate(&self, index: usize, name: &str) -> Result<RawArray, IoError> {
        let mut archive = self
            .archive
            .lock()
            .map_err(|_| IoError::invalid(&self.path, name, "archive lock poisoned"))?;
        let mut entry = archive
            .by_index(index)
            .map_err(|e| IoError::invalid(&self.path, name, format!("cannot inflate: {e}")))?;
        let mut bytes = Vec::with_capacity(entry.size() as usize);
        // The zip reader checks the CRC-32 at the end of the member.
        entry.read_to_end(&mut bytes).map_err(|e| {
            IoError::invalid(
                &self.path,
                name,
                format!("cannot inflate (corrupt or truncated): {e}"),
            )
        })?;
        raw_from_storage(&self.path, name, Storage::Owned(Arc::new(bytes)), 0)
    }

    /// The array `name` fully decoded as f64 (small arrays). Refuses NaN and Inf.
    pub fn array_f64(&self, name: &str) -> Result<ArrayD<f64>, IoError> {
        self.array(name)?.to_f64()
    }

    /// The integer (or bool) array `name` decoded exactly as i64.
    pub fn array_i64(&self, name: &str) -> Result<ArrayD<i64>, IoError> {
        self.array(name)?.to_i64()
    }

    /// The boolean array `name` (dtype bool, or integers that are all 0 or 1).
    pub fn array_bool(&self, name: &str) -> Result<ArrayD<bool>, IoError> {
        self.array(name)?.to_bool()
    }
}

fn check_member_size(
    path: &Path,
    name: &str,
    header: &super::npy::NpyHeader,
    member_size: u64,
) -> Result<(), IoError> {
    let elements = header
        .shape
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64));
    let needed = elements
        .and_then(|e| e.checked_mul(header.dtype.size() as u64))
        .and_then(|b| b.checked_add(header.data_offset as u64));
    match needed {
        Some(needed) if needed <= member_size => Ok(()),
        Some(needed) => Err(IoError::invalid(
            path,
            name,
            format!(
                "truncated: shape {:?} of {} needs {needed} bytes but the member holds {member_size}",
                header.shape, header.dtype
            ),
        )),
        None => Err(IoError::invalid(
            path,
            name,
            format!("shape {:?} overflows the address space", header.shape),
        )),
    }
}
