//! External runs: the user's own train-and-unlearn command, run once per run and side
//! (`docs/sampling.md` §3).
//!
//! The template may use `{seed}` (a per-run seed derived from the master seed: the first
//! `u64` of the run's own stream), `{run}` (0-based run index), `{side}` (`unlearned` or
//! `retrained`) and `{out}` (a path without extension: the command must write `{out}.npy`, a
//! 1-D array of the run's statistics). Each finished run is moved to
//! `DIR/<side>/<run:05>.npy`, the directory layout `io::load_sample_set` reads; a run whose
//! file exists is skipped, so an interrupted experiment resumes where it stopped.

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
    /// Runs skipped because their file already existed.
    pub skipped: usize,
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

/// Runs the command for every (run, side) whose file is missing, `jobs` at a time. On the
/// first failure no new run starts; the runs already finished stay on disk, and the error
/// names the lowest failing run and side.
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
    let mut pending = Vec::new();
    let mut skipped = 0;
    if options.first_run >= options.trials {
        return Err(SamplingError::Options(format!(
            "--first-trial {} must be below --trials {}",
            options.first_run, options.trials
        )));
    }
    for run in options.first_run..options.trials {
        for side in Side::BOTH {
            if run_file(&options.out_dir, run, side).is_file() {
                skipped += 1;
            } else {
                pending.push((run, side));
            }
        }
    }
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
                    match run_one(options, &partial_dir, run, side) {
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
    Ok(ExternalSummary {
        executed: executed.into_inner(),
        skipped,
    })
}

fn run_one(
    options: &ExternalOptions,
    partial_dir: &Path,
    run: usize,
    side: Side,
) -> Result<(), SamplingError> {
    let fail = |message: String| SamplingError::External { run, side, message };
    let out = partial_dir.join(format!("{}-{run:05}", side.as_str()));
    let produced = out.with_extension("npy");
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
    // Validate before accepting: a broken file would otherwise be skipped on resume.
    crate::io::load_sample_set(&produced)
        .map_err(|e| fail(format!("output is not a usable .npy: {e}")))?;
    let target = run_file(&options.out_dir, run, side);
    std::fs::rename(&produced, &target).map_err(|source| SamplingError::Write {
        path: target,
        source,
    })
}
