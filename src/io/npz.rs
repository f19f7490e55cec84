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

/// Deflate cannot compress better than 1032:1 (RFC 1951: a 258-byte match costs at least two
/// bits). A member declaring more than this many bytes per compressed byte (plus a small
/// allowance for tiny members) is lying about its size and refused before anything is inflated.
pub(crate) const MAX_DEFLATE_RATIO: u64 = 1032;
const DEFLATE_SLACK: u64 = 4096;

/// Initial buffer for inflating a member; it grows as real bytes arrive, so a lying declared
/// size never turns into an allocation on its own.
const INITIAL_INFLATE_CAPACITY: u64 = 64 << 20;

/// Bytes hashed between two page releases while checking a stored member's CRC-32.
const CRC_BLOCK: usize = 64 << 20;

impl NpzFile {
    /// Opens and maps an archive, and validates every member: its npy header against its
    /// declared size, the CRC-32 of stored members (one pass over the mapped bytes, pages
    /// released as they are hashed), deflated members' declared sizes against what their
    /// compressed bytes can hold, and that no member name appears twice.
    pub fn open(path: &Path) -> Result<NpzFile, IoError> {
        Self::from_storage(path, map_file(path)?)
    }

    /// [`NpzFile::open`] over bytes already in memory or mapped (`path` names them in errors).
    pub(crate) fn from_storage(path: &Path, storage: Storage) -> Result<NpzFile, IoError> {
        let mut archive =
            ZipArchive::new(Cursor::new(SharedBytes(storage.clone()))).map_err(|e| {
                IoError::format(
                    path,
                    format!("not a valid .npz (zip) archive, truncated or corrupt: {e}"),
                )
            })?;
        check_no_duplicate_entries(path, storage.bytes(), &archive)?;
        let mut names = Vec::with_capacity(archive.len());
        let mut members = Vec::with_capacity(archive.len());
        for index in 0..archive.len() {
            let zip_error = |e: zip::result::ZipError| {
                IoError::format(
                    path,
                    format!("member {index} of the archive is unreadable: {e}"),
                )
            };
            let (member_name, method, data_start, compressed, size, crc) = {
                let entry = archive.by_index_raw(index).map_err(zip_error)?;
                (
                    entry.name().to_string(),
                    entry.compression(),
                    entry.data_start(),
                    entry.compressed_size(),
                    entry.size(),
                    entry.crc32(),
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
                    if compressed != size {
                        return Err(IoError::invalid(
                            path,
                            &name,
                            format!(
                                "stored member declares {size} bytes but occupies {compressed} (corrupt archive)"
                            ),
                        ));
                    }
                    let range = usize::try_from(data_start).ok().and_then(|s| {
                        let len = usize::try_from(size).ok()?;
                        let end = s.checked_add(len)?;
                        (end <= storage.bytes().len()).then_some((s, len))
                    });
                    let (start, len) = range.ok_or_else(|| {
                        IoError::invalid(
                            path,
                            &name,
                            "member extends past the end of the file (truncated)",
                        )
                    })?;
                    let member_bytes = &storage.bytes()[start..start + len];
                    let header = parse_header(member_bytes, path, &name)?;
                    check_member_size(path, &name, &header, size)?;
                    let actual = crc32_released(&storage, start, len);
                    if actual != crc {
                        return Err(IoError::invalid(
                            path,
                            &name,
                            format!(
                                "CRC-32 mismatch: the archive records {crc:08x}, the member's bytes give {actual:08x} (corrupt file)"
                            ),
                        ));
                    }
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
                    let limit = compressed
                        .saturating_mul(MAX_DEFLATE_RATIO)
                        .saturating_add(DEFLATE_SLACK);
                    if size > limit {
                        return Err(IoError::invalid(
                            path,
                            &name,
                            format!(
                                "member declares {size} inflated bytes from {compressed} compressed bytes; deflate cannot expand more than {MAX_DEFLATE_RATIO}:1 (corrupt or malicious archive)"
                            ),
                        ));
                    }
                    // Inflate just enough to read the header (never more than it can span).
                    let mut entry = archive.by_index(index).map_err(zip_error)?;
                    let mut prefix = Vec::new();
                    (&mut entry)
                        .take(4096.min(size))
                        .read_to_end(&mut prefix)
                        .map_err(|e| {
                            IoError::invalid(path, &name, format!("cannot inflate: {e}"))
                        })?;
                    let header = match parse_header(&prefix, path, &name) {
                        // A header longer than 4 KiB is legal but rare: read the longest
                        // legal header.
                        Err(_) if prefix.len() == 4096 => {
                            let mut whole = prefix;
                            let cap = (super::npy::MAX_HEADER_LEN as u64 + 12).min(size);
                            (&mut entry)
                                .take(cap.saturating_sub(4096))
                                .read_to_end(&mut whole)
                                .map_err(|e| {
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
        let declared = entry.size();
        let mut bytes = Vec::with_capacity(declared.min(INITIAL_INFLATE_CAPACITY) as usize);
        // Inflate at most one byte past the declared size: a member that inflates further is
        // stopped there (a zip bomb never gets to expand). When the member ends at its declared
        // size, the zip reader checks the CRC-32 at the end.
        (&mut entry)
            .take(declared.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|e| {
                IoError::invalid(
                    &self.path,
                    name,
                    format!("cannot inflate (corrupt or truncated): {e}"),
                )
            })?;
        if bytes.len() as u64 != declared {
            return Err(IoError::invalid(
                &self.path,
                name,
                if bytes.len() as u64 > declared {
                    format!(
                        "inflates past its declared size of {declared} bytes (corrupt or malicious archive); stopped"
                    )
                } else {
                    format!(
                        "inflates to {} bytes, its declared size is {declared} (corrupt archive)",
                        bytes.len()
                    )
                },
            ));
        }
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

/// CRC-32 of `len` bytes at `start`, hashed in blocks whose pages are released afterwards when
/// the bytes are memory-mapped (so checking a large stored member does not leave it resident).
fn crc32_released(storage: &Storage, start: usize, len: usize) -> u32 {
    let bytes = &storage.bytes()[start..start + len];
    let mut hasher = crc32fast::Hasher::new();
    for (block_index, block) in bytes.chunks(CRC_BLOCK).enumerate() {
        hasher.update(block);
        storage.release_range(start + block_index * CRC_BLOCK, block.len());
    }
    hasher.finalize()
}

/// zip readers keep one entry per name (the last one wins), so a duplicated member would be
/// used silently. Walks the central directory itself and refuses any name seen twice, and any
/// directory holding more records than the reader kept.
fn check_no_duplicate_entries<R: std::io::Read + std::io::Seek>(
    path: &Path,
    bytes: &[u8],
    archive: &ZipArchive<R>,
) -> Result<(), IoError> {
    let starts = [
        archive.central_directory_start(),
        archive
            .central_directory_start()
            .saturating_add(archive.offset()),
    ];
    for start in starts {
        let Ok(mut at) = usize::try_from(start) else {
            continue;
        };
        if bytes.get(at..at + 4) != Some(&[0x50, 0x4b, 0x01, 0x02][..]) {
            continue;
        }
        let mut seen: std::collections::HashSet<&[u8]> = std::collections::HashSet::new();
        let mut records = 0usize;
        while bytes.get(at..at + 4) == Some(&[0x50, 0x4b, 0x01, 0x02][..]) {
            let Some(fixed) = bytes.get(at..at + 46) else {
                break;
            };
            let u16_at = |o: usize| usize::from(u16::from_le_bytes([fixed[o], fixed[o + 1]]));
            let (name_len, extra_len, comment_len) = (u16_at(28), u16_at(30), u16_at(32));
            let Some(name) = bytes.get(at + 46..at + 46 + name_len) else {
                break;
            };
            if !seen.insert(name) {
                let name = String::from_utf8_lossy(name);
                let array = name.strip_suffix(".npy").unwrap_or(&name).to_string();
                return Err(IoError::invalid(
                    path,
                    array,
                    format!(
                        "member {name:?} appears twice in the archive (refused: which copy is meant is ambiguous)"
                    ),
                ));
            }
            records += 1;
            at += 46 + name_len + extra_len + comment_len;
        }
        if records > archive.len() {
            return Err(IoError::format(
                path,
                format!(
                    "the zip directory holds {records} records for {} distinct members (duplicated members are refused)",
                    archive.len()
                ),
            ));
        }
        return Ok(());
    }
    Ok(())
}
