//! Checkpoints of in-process runs (`docs/sampling.md` §1.1): every finished run is persisted
//! atomically, so an interrupted `sample` resumes where it stopped and gives output
//! byte-identical to an uninterrupted run.
//!
//! Layout: `DIR/configuration.json` (the configuration the runs belong to: mechanism, its
//! parameters, record, seed and the caller's context such as the data digest and forget
//! indices) and one file per finished run, `DIR/<side>-<run:05>.run`:
//!
//! | bytes | content |
//! |---|---|
//! | 8 | magic `UACKPT01` |
//! | 32 | SHA-256 of the configuration (canonical JSON) |
//! | 8 | master seed, u64 little-endian |
//! | 8 | run index, u64 LE |
//! | 1 | side (0 unlearned, 1 retrained) |
//! | 8 | number of values `d`, u64 LE |
//! | 8·d | the recorded values, f64 LE (bit-exact) |
//! | 32 | SHA-256 of every byte above |
//!
//! Each file is written to a name unique to the process and renamed into place. On resume a
//! file whose checksum, magic or length is wrong (truncated, emptied, corrupted) is discarded
//! and its run recomputed; a file with a valid checksum but another configuration, seed, run or
//! side is refused (it belongs to another experiment), as is a `configuration.json` that differs
//! from the current one, naming the keys that differ.

use std::path::{Path, PathBuf};

use ndarray::Array1;
use sha2::{Digest, Sha256};

use super::{SamplingError, Side};

const MAGIC: &[u8; 8] = b"UACKPT01";
const HEADER: usize = 8 + 32 + 8 + 8 + 1 + 8;
/// Largest `d` a checkpoint may declare (2³² values, 32 GiB): a bound on the allocation made
/// from a header before its checksum is verified.
const MAX_VALUES: u64 = 1 << 32;

/// A checkpoint directory bound to one configuration.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    dir: PathBuf,
    digest: [u8; 32],
    configuration: serde_json::Value,
    token: String,
}

/// What reading a run's checkpoint found.
pub enum Stored {
    /// No file.
    Missing,
    /// A valid file of this configuration and run.
    Row(Array1<f64>),
    /// A damaged file (recompute the run): the reason.
    Damaged(String),
}

impl Checkpoint {
    /// Opens (creating) `dir` for `configuration`. Refuses, naming the differing keys, a
    /// directory whose `configuration.json` differs.
    pub fn open(dir: &Path, configuration: serde_json::Value) -> Result<Self, SamplingError> {
        let write_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| SamplingError::Write { path, source }
        };
        std::fs::create_dir_all(dir).map_err(write_err(dir))?;
        let text = serde_json::to_string(&configuration).expect("JSON values serialise");
        let digest: [u8; 32] = Sha256::digest(text.as_bytes()).into();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let token = format!("{}-{nanos:x}", std::process::id());
        let path = dir.join("configuration.json");
        match std::fs::read_to_string(&path) {
            Ok(stored) => {
                let stored: Option<serde_json::Value> = serde_json::from_str(&stored).ok();
                if stored.as_ref() != Some(&configuration) {
                    let differing = match (&stored, &configuration) {
                        (Some(serde_json::Value::Object(a)), serde_json::Value::Object(b)) => b
                            .keys()
                            .chain(a.keys())
                            .filter(|k| a.get(*k) != b.get(*k))
                            .map(String::as_str)
                            .collect::<std::collections::BTreeSet<_>>()
                            .into_iter()
                            .collect::<Vec<_>>()
                            .join(", "),
                        _ => "the file is not a JSON object".to_string(),
                    };
                    return Err(SamplingError::Options(format!(
                        "{}: the checkpoint belongs to another configuration (differs in: \
                         {differing}); run with the same arguments to resume it, or delete {} \
                         (or use another --out) to start afresh",
                        path.display(),
                        dir.display()
                    )));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let temp = dir.join(format!(".configuration.json.{token}.tmp"));
                let pretty = serde_json::to_string_pretty(&configuration).expect("serialises");
                std::fs::write(&temp, pretty)
                    .and_then(|()| std::fs::rename(&temp, &path))
                    .map_err(write_err(&path))?;
            }
            Err(source) => return Err(SamplingError::Write { path, source }),
        }
        Ok(Checkpoint {
            dir: dir.to_path_buf(),
            digest,
            configuration,
            token,
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The configuration the runs belong to.
    pub fn configuration(&self) -> &serde_json::Value {
        &self.configuration
    }

    /// The file of one run.
    pub fn run_path(&self, run: usize, side: Side) -> PathBuf {
        self.dir.join(format!("{}-{run:05}.run", side.as_str()))
    }

    /// Deletes the directory (after the outputs are safely written).
    pub fn remove(&self) -> Result<(), SamplingError> {
        std::fs::remove_dir_all(&self.dir).map_err(|source| SamplingError::Write {
            path: self.dir.clone(),
            source,
        })
    }

    fn encode(&self, seed: u64, run: usize, side: Side, row: &Array1<f64>) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(HEADER + 8 * row.len() + 32);
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&self.digest);
        bytes.extend_from_slice(&seed.to_le_bytes());
        bytes.extend_from_slice(&(run as u64).to_le_bytes());
        bytes.push(side as u8);
        bytes.extend_from_slice(&(row.len() as u64).to_le_bytes());
        for value in row {
            bytes.extend_from_slice(&value.to_bits().to_le_bytes());
        }
        let sum: [u8; 32] = Sha256::digest(&bytes).into();
        bytes.extend_from_slice(&sum);
        bytes
    }

    /// Persists one finished run: temp file + rename.
    pub(super) fn store(
        &self,
        seed: u64,
        run: usize,
        side: Side,
        row: &Array1<f64>,
    ) -> Result<(), SamplingError> {
        let path = self.run_path(run, side);
        let temp = self
            .dir
            .join(format!(".{}-{run:05}.{}.tmp", side.as_str(), self.token));
        std::fs::write(&temp, self.encode(seed, run, side, row))
            .and_then(|()| std::fs::rename(&temp, &path))
            .map_err(|source| SamplingError::Write { path, source })
    }

    /// Reads one run's file: missing, valid, or damaged. A valid file of another
    /// configuration, seed, run or side is an error.
    pub fn load(&self, seed: u64, run: usize, side: Side) -> Result<Stored, SamplingError> {
        let path = self.run_path(run, side);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Stored::Missing),
            Err(e) => return Ok(Stored::Damaged(format!("unreadable: {e}"))),
        };
        if bytes.len() < HEADER + 32 {
            return Ok(Stored::Damaged(format!(
                "{} bytes, shorter than any checkpoint",
                bytes.len()
            )));
        }
        if &bytes[..8] != MAGIC {
            return Ok(Stored::Damaged("not a checkpoint (wrong magic)".into()));
        }
        let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8"));
        let len = u64_at(57);
        if len > MAX_VALUES || bytes.len() as u64 != HEADER as u64 + 8 * len + 32 {
            return Ok(Stored::Damaged(format!(
                "{} bytes, but the header declares {len} values",
                bytes.len()
            )));
        }
        let body = bytes.len() - 32;
        let sum: [u8; 32] = Sha256::digest(&bytes[..body]).into();
        if sum[..] != bytes[body..] {
            return Ok(Stored::Damaged("checksum mismatch (corrupted)".into()));
        }
        let refuse = |what: &str| {
            SamplingError::Options(format!(
                "{}: the checkpoint holds {what}; it belongs to another experiment: delete it \
                 (or the checkpoint directory) to start afresh",
                path.display()
            ))
        };
        if bytes[8..40] != self.digest {
            return Err(refuse(
                "a run of another configuration (parameters digest differs)",
            ));
        }
        if u64_at(40) != seed {
            return Err(refuse(&format!("seed {}, not {seed}", u64_at(40))));
        }
        if u64_at(48) != run as u64 || bytes[56] != side as u8 {
            return Err(refuse(&format!(
                "run {} side {}, not run {run} side {side}",
                u64_at(48),
                bytes[56]
            )));
        }
        let values = bytes[HEADER..body]
            .chunks_exact(8)
            .map(|c| f64::from_bits(u64::from_le_bytes(c.try_into().expect("8"))))
            .collect::<Array1<f64>>();
        if let Some(v) = values.iter().find(|v| !v.is_finite()) {
            return Ok(Stored::Damaged(format!("holds the non-finite value {v}")));
        }
        Ok(Stored::Row(values))
    }
}
