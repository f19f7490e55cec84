//! External runs: the user's own train-and-unlearn command, run once per run and side
//! (`docs/sampling.md` §3).
//!
//! The template may use `{seed}` (a per-run seed derived from the master seed: the first
//! `u64` of the run's own stream), `{run}` (0-based run index), `{side}` (`unlearned` or
//! `retrained`) and `{out}` (a path without extension: the command must write `{out}.npy`, a
//! 1-D array of the run's statistics). Each finished run is moved to
//! `DIR/<side>/<run:05>.npy`, the directory layout `io::load_sample_set` reads.
//!
//! Validation at collection (`docs/sampling.md` §3.1): every file must be a 1-D float array
//! of finite values with as many values as the first run (the lowest (run, side) on disk, or
//! the first file produced); a file that is not is refused (exit 2 naming the file and what is
//! wrong) and never moved into place. On resume every existing final file is validated again:
//! a valid one is skipped, a broken one (truncated, emptied, wrong shape) is re-run and
//! replaced. Partial files carry the process id and a per-process token in their name, so
//! several invocations over one directory (scheduler array tasks, or the same slice twice)
//! never write the same partial file; final files appear only by an atomic rename. When every
//! run `0..trials` is present, the runs are also stacked into `DIR/unlearned.npy` and
//! `DIR/retrained.npy` (`[trials, d]`, written to a temporary name and renamed), the layout
//! of in-process `sample`, so `mia ulira --samples DIR` and `epsilon` read them directly.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use rand::Rng;

use super::{Observer, SamplingError, Side, run_rng};

/// Options of [`run_external`].
#[derive(Debug, Clone)]
pub struct ExternalOptions {
    /// The command template, run with `sh -c`.
    pub command: String,
    /// Runs `first_run..trials` are this invocation's share (0 for all); lets several
    /// scheduler tasks fill one directory without overlapping.
    pub first_run: usize,
    pub trials: usize,
    pub seed: u64,
    /// Commands run at the same time (at least 1).
    pub jobs: usize,
    /// Output directory; `unlearned/` and `retrained/` are created inside.
    pub out_dir: PathBuf,
}

/// What an external experiment did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ExternalSummary {
    /// Runs executed now.
    pub executed: usize,
    /// Runs skipped because their file already existed and validated.
    pub skipped: usize,
    /// Runs whose existing final file did not validate (truncated, emptied, wrong shape or
    /// dtype, non-finite values) and was re-run; included in `executed`.
    pub replaced_invalid: usize,
    /// The number of values every run records (`None` when no run file exists yet).
    pub dimension: Option<usize>,
    /// Every run `0..trials` of both sides is present and validated, and the stacked
    /// `unlearned.npy` / `retrained.npy` were written.
    pub complete: bool,
}

/// The seed handed to the command as `{seed}` for a run: the first `u64` of the run's stream.
pub fn run_seed(seed: u64, run: usize, side: Side) -> u64 {
    run_rng(seed, run, side).next_u64()
}

/// The final file of a run.
pub fn run_file(out_dir: &Path, run: usize, side: Side) -> PathBuf {
    out_dir.join(side.as_str()).join(format!("{run:05}.npy"))
}

/// Single-quotes a string for `sh`.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// Fills the template for one run. `{out}` is shell-quoted.
pub fn render_command(template: &str, seed: u64, run: usize, side: Side, out: &Path) -> String {
    template
        .replace("{seed}", &seed.to_string())
        .replace("{run}", &run.to_string())
        .replace("{side}", side.as_str())
        .replace("{out}", &shell_quote(&out.to_string_lossy()))
}

/// Checks one run file: a readable `.npy`, 1-D, a float dtype, at least one value, every
/// value finite. Returns the number of values, or what is wrong (without the path).
pub fn validate_run_file(path: &Path) -> Result<usize, String> {
    let raw = crate::io::open_npy(path).map_err(|e| format!("not a usable .npy: {e}"))?;
    if raw.shape().len() != 1 {
        return Err(format!(
            "shape {:?}: a run must write a 1-D array of its recorded values",
            raw.shape()
        ));
    }
    if !raw.dtype().is_float() {
        return Err(format!(
            "dtype {}: a run must write floating-point values",
            raw.dtype().name()
        ));
    }
    if raw.is_empty() {
        return Err("shape [0]: a run must record at least one value".into());
    }
    let values = raw
        .to_f64()
        .map_err(|e| format!("values could not be read: {e}"))?;
    if let Some((position, value)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(format!(
            "value {value} at position {position}: every value must be finite"
        ));
    }
    Ok(values.len())
}

/// A token unique to this process among concurrent invocations on any machine sharing the
/// directory: process id and the start time in nanoseconds.
fn process_token() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{}-{nanos:x}", std::process::id())
}

/// The length every run must have: the first run on disk (in (run, side) order), or the first
/// file produced by this invocation.
struct Reference {
    inner: Mutex<Option<(usize, PathBuf)>>,
}

impl Reference {
    /// Checks `len` against the reference (setting it if unset).
    fn check(&self, path: &Path, len: usize) -> Result<(), String> {
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        match &*guard {
            None => {
                *guard = Some((len, path.to_path_buf()));
                Ok(())
            }
            Some((expected, _)) if *expected == len => Ok(()),
            Some((expected, first)) => Err(format!(
                "{len} values, but {} (the first run) has {expected}: every run must record \
                 the same number of values",
                first.display()
            )),
        }
    }
}

/// Runs the command for every (run, side) whose file is missing or does not validate, `jobs`
/// at a time. On the first failure no new run starts; the runs already finished stay on disk,
/// and the error names the lowest failing run and side.
pub fn run_external(
    options: &ExternalOptions,
    observer: &dyn Observer,
) -> Result<ExternalSummary, SamplingError> {
    if options.trials == 0 {
        return Err(SamplingError::Options("--trials must be at least 1".into()));
    }
    if options.jobs == 0 {
        return Err(SamplingError::Options("--jobs must be at least 1".into()));
    }
    if !options.command.contains("{out}") {
        return Err(SamplingError::Options(
            "--trial-command must contain {out}: the command writes {out}.npy".into(),
        ));
    }
    if options.first_run >= options.trials {
        return Err(SamplingError::Options(format!(
            "--first-trial {} must be below --trials {}",
            options.first_run, options.trials
        )));
    }
    let partial_dir = options.out_dir.join(".partial");
    for dir in [
        options.out_dir.join("unlearned"),
        options.out_dir.join("retrained"),
        partial_dir.clone(),
    ] {
        std::fs::create_dir_all(&dir).map_err(|source| SamplingError::Write {
            path: dir.clone(),
            source,
        })?;
    }
    let reference = Reference {
        inner: Mutex::new(None),
    };
    // The reference length: the first valid run on disk, whatever slice this invocation has.
    'outer: for run in 0..options.trials {
        for side in Side::BOTH {
            let path = run_file(&options.out_dir, run, side);
            if path.is_file()
                && let Ok(len) = validate_run_file(&path)
            {
                let _ = reference.check(&path, len);
                break 'outer;
            }
        }
    }
    let mut pending = Vec::new();
    let mut skipped = 0;
    let mut replaced_invalid = 0;
    for run in options.first_run..options.trials {
        for side in Side::BOTH {
            let path = run_file(&options.out_dir, run, side);
            if !path.exists() {
                pending.push((run, side));
                continue;
            }
            match validate_run_file(&path).and_then(|len| reference.check(&path, len)) {
                Ok(()) => skipped += 1,
                Err(_) => {
                    // Broken (truncated, emptied, wrong shape or length): re-run; the new
                    // file replaces it by an atomic rename.
                    replaced_invalid += 1;
                    pending.push((run, side));
                }
            }
        }
    }
    let token = process_token();
    observer.on_start(pending.len());
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let executed = AtomicUsize::new(0);
    let failures: Mutex<Vec<SamplingError>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..options.jobs.min(pending.len().max(1)) {
            scope.spawn(|| {
                while !stop.load(Ordering::SeqCst) {
                    let index = next.fetch_add(1, Ordering::SeqCst);
                    let Some(&(run, side)) = pending.get(index) else {
                        break;
                    };
                    match run_one(options, &partial_dir, &token, &reference, run, side) {
                        Ok(()) => {
                            executed.fetch_add(1, Ordering::SeqCst);
                            observer.on_run_finished(run, side);
                        }
                        Err(error) => {
                            stop.store(true, Ordering::SeqCst);
                            failures
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .push(error);
                        }
                    }
                }
            });
        }
    });
    observer.on_finish();
    let mut failures = failures.into_inner().unwrap_or_else(|e| e.into_inner());
    failures.sort_by_key(|e| match e {
        SamplingError::External { run, side, .. } => (*run, *side as usize),
        _ => (usize::MAX, 0),
    });
    if let Some(first) = failures.into_iter().next() {
        return Err(first);
    }
    let (dimension, complete) = collect(options, &token)?;
    Ok(ExternalSummary {
        executed: executed.into_inner(),
        skipped,
        replaced_invalid,
        dimension,
        complete,
    })
}

/// The final pass over every run file `0..trials` on disk (this invocation's and any other's):
/// each must be 1-D, finite and of the first run's length. When all are present, stacks them
/// into `unlearned.npy` / `retrained.npy`. Returns (the common length, complete).
fn collect(options: &ExternalOptions, token: &str) -> Result<(Option<usize>, bool), SamplingError> {
    let mut dimension: Option<(usize, PathBuf)> = None;
    let mut rows: [Vec<ndarray::Array1<f64>>; 2] = [Vec::new(), Vec::new()];
    let mut complete = true;
    for run in 0..options.trials {
        for side in Side::BOTH {
            let path = run_file(&options.out_dir, run, side);
            if !path.exists() {
                complete = false;
                continue;
            }
            let fail = |message: String| SamplingError::External {
                run,
                side,
                message: format!("{}: {message}", path.display()),
            };
            let len = validate_run_file(&path).map_err(fail)?;
            match &dimension {
                None => dimension = Some((len, path.clone())),
                Some((expected, first)) if *expected != len => {
                    return Err(fail(format!(
                        "{len} values, but {} (the first run) has {expected}: every run must \
                         record the same number of values",
                        first.display()
                    )));
                }
                Some(_) => {}
            }
            if complete {
                let values = crate::io::read_npy_f64(&path)
                    .map_err(|e| fail(format!("values could not be read: {e}")))?;
                rows[side as usize].push(values.iter().copied().collect());
            }
        }
    }
    let dimension = dimension.map(|(len, _)| len);
    if complete && let Some(d) = dimension {
        for side in Side::BOTH {
            let rows = &rows[side as usize];
            let mut stacked = ndarray::Array2::<f64>::zeros((rows.len(), d));
            for (mut target, row) in stacked.rows_mut().into_iter().zip(rows) {
                target.assign(row);
            }
            let target = options.out_dir.join(format!("{}.npy", side.as_str()));
            let temp = options
                .out_dir
                .join(format!(".{}.npy.{token}.tmp", side.as_str()));
            let write = |path: &Path| -> std::io::Result<()> {
                use ndarray_npy::WriteNpyExt;
                let file = std::fs::File::create(path)?;
                let mut writer = std::io::BufWriter::new(file);
                stacked
                    .write_npy(&mut writer)
                    .map_err(std::io::Error::other)?;
                use std::io::Write;
                writer.flush()?;
                writer.get_ref().sync_all()
            };
            write(&temp)
                .and_then(|()| std::fs::rename(&temp, &target))
                .map_err(|source| SamplingError::Write {
                    path: target.clone(),
                    source,
                })?;
        }
    }
    Ok((dimension, complete && dimension.is_some()))
}

fn run_one(
    options: &ExternalOptions,
    partial_dir: &Path,
    token: &str,
    reference: &Reference,
    run: usize,
    side: Side,
) -> Result<(), SamplingError> {
    let fail = |message: String| SamplingError::External { run, side, message };
    // Unique to this process: concurrent invocations never share a partial file.
    let out = partial_dir.join(format!("{}-{run:05}-{token}", side.as_str()));
    let produced = PathBuf::from(format!("{}.npy", out.display()));
    let _ = std::fs::remove_file(&produced);
    let command = render_command(
        &options.command,
        run_seed(options.seed, run, side),
        run,
        side,
        &out,
    );
    let output = Command::new("sh")
        .arg("-c")
        .arg(&command)
        .output()
        .map_err(|e| fail(format!("could not start `sh -c {command}`: {e}")))?;
    if !output.status.success() {
        let _ = std::fs::remove_file(&produced);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: String = stderr
            .lines()
            .rev()
            .take(5)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        return Err(fail(format!(
            "command `{command}` failed ({}){}",
            output.status,
            if tail.is_empty() {
                String::new()
            } else {
                format!(": {tail}")
            }
        )));
    }
    match std::fs::metadata(&produced) {
        Ok(meta) if meta.len() > 0 => {}
        _ => {
            return Err(fail(format!(
                "command `{command}` exited successfully but wrote no {}",
                produced.display()
            )));
        }
    }
    let target = run_file(&options.out_dir, run, side);
    // Validate before accepting: shape, dtype, finiteness and the first run's length.
    if let Err(message) = validate_run_file(&produced).and_then(|len| reference.check(&target, len))
    {
        let _ = std::fs::remove_file(&produced);
        return Err(fail(format!(
            "{} (written by `{command}`): {message}",
            target.display()
        )));
    }
    std::fs::rename(&produced, &target).map_err(|source| SamplingError::Write {
        path: target,
        source,
    })
}
