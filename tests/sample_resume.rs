//! Resumable sampling (issue 11, `docs/sampling.md` §1.1 and §3): in-process and external
//! `sample` killed (SIGKILL) at seeded random points and resumed give output byte-identical to
//! an uninterrupted run; damaged checkpoints and run files are detected on resume; checkpoints
//! of another configuration are refused; concurrent external invocations are safe; external
//! run files of the wrong shape or length are refused at collection; `--record` is honoured
//! for external runs and `mia ulira --samples` uses the user's own runs.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_unlearn-audit"))
}

fn digits() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/mechanisms/digits.csv")
}

const TRIALS: &str = "10";

fn in_process(out: &Path, threads: &str) -> Command {
    let mut command = binary();
    command
        .args([
            "--threads",
            threads,
            "sample",
            "--mechanism",
            "guo",
            "--data",
        ])
        .arg(digits())
        .args([
            "--forget",
            "3,17",
            "--trials",
            TRIALS,
            "--seed",
            "5",
            "--record",
            "forget-scores",
            "--out",
        ])
        .arg(out);
    command
}

fn files_in(dir: &Path, ext: &str) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == ext))
            .count()
    })
}

/// Waits until `dir` holds at least `count` files of extension `ext` (or the child exits, or
/// 60 s pass), then SIGKILLs the child. Returns whether the kill came before the child ended.
fn kill_after_files(mut child: Child, dir: &Path, ext: &str, count: usize) -> bool {
    for _ in 0..6000 {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        if files_in(dir, ext) >= count {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let killed = child.try_wait().unwrap().is_none();
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    killed
}

fn assert_same_files(reference: &Path, resumed: &Path, names: &[&str]) {
    for name in names {
        let a = std::fs::read(reference.join(name)).unwrap();
        let b = std::fs::read(resumed.join(name))
            .unwrap_or_else(|e| panic!("{}: {e}", resumed.join(name).display()));
        assert!(a == b, "{name} differs after kill and resume");
    }
}

#[test]
fn in_process_kill_and_resume_is_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let reference = dir.path().join("reference");
    let status = in_process(&reference, "2").output().unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    assert!(
        !reference.join(".checkpoint").exists(),
        "checkpoint removed after success"
    );
    // Seeded kill points: after k finished runs, k drawn from 1..2·TRIALS.
    let mut rng = ChaCha8Rng::seed_from_u64(2026);
    let mut interrupted = 0;
    for attempt in 0..3 {
        let out = dir.path().join(format!("killed-{attempt}"));
        let k = rng.random_range(1..20);
        let child = in_process(&out, "2").spawn().unwrap();
        if kill_after_files(child, &out.join(".checkpoint"), "run", k) {
            interrupted += 1;
            assert!(
                out.join(".checkpoint").is_dir(),
                "finished runs kept after SIGKILL"
            );
        }
        // Resume with another thread count: still byte-identical.
        let resumed = in_process(&out, "1").output().unwrap();
        assert!(
            resumed.status.success(),
            "{}",
            String::from_utf8_lossy(&resumed.stderr)
        );
        assert_same_files(
            &reference,
            &out,
            &["unlearned.npy", "retrained.npy", "manifest.json"],
        );
    }
    // The kills must mostly land mid-run (each run is ~0.1 s of work here); at least one did.
    assert!(interrupted >= 1, "no kill landed before the run finished");
}

/// Runs `trials` of guo in the library with a checkpoint, keeping the directory.
fn library_run(
    dir: &Path,
    seed: u64,
    trials: usize,
) -> Result<unlearn_audit::sampling::Samples, unlearn_audit::sampling::SamplingError> {
    use unlearn_audit::mechanisms::{self, MechanismOptions, Split};
    use unlearn_audit::sampling::{
        Checkpoint, NoProgress, Record, checkpoint_configuration, run_trials_checkpointed,
    };
    let table = unlearn_audit::io::read_labelled_csv(&digits(), "label").unwrap();
    let data = unlearn_audit::models::Dataset::new(table.features, table.labels, 10).unwrap();
    let split = Split::new(&data, &[3, 17]).unwrap();
    let mechanism = mechanisms::build("guo", split, &MechanismOptions::default()).unwrap();
    let config = checkpoint_configuration(
        mechanism.as_ref(),
        seed,
        Record::ForgetScores,
        serde_json::json!({"test": true}),
    );
    let checkpoint = Checkpoint::open(dir, config)?;
    run_trials_checkpointed(
        mechanism.as_ref(),
        trials,
        seed,
        Record::ForgetScores,
        &NoProgress,
        Some(&checkpoint),
    )
}

#[test]
fn damaged_checkpoints_are_recomputed_and_foreign_ones_refused() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    let full = library_run(&a, 3, 4).unwrap();
    // Every run was checkpointed.
    assert_eq!(files_in(&a, "run"), 8);
    // Truncate one, empty one, flip a value bit in a third, delete a fourth: all recomputed,
    // result bit-identical.
    let truncate = a.join("unlearned-00001.run");
    let bytes = std::fs::read(&truncate).unwrap();
    std::fs::write(&truncate, &bytes[..bytes.len() / 2]).unwrap();
    std::fs::write(a.join("retrained-00002.run"), b"").unwrap();
    let flip = a.join("retrained-00000.run");
    let mut bytes = std::fs::read(&flip).unwrap();
    bytes[70] ^= 1;
    std::fs::write(&flip, &bytes).unwrap();
    std::fs::remove_file(a.join("unlearned-00003.run")).unwrap();
    let again = library_run(&a, 3, 4).unwrap();
    assert_eq!(again, full);
    // A flipped value bit is caught by the checksum, not reused: the result above equals the
    // uninterrupted one, and the file was rewritten.
    assert_eq!(std::fs::read(&flip).unwrap().len(), bytes.len());
    assert_ne!(std::fs::read(&flip).unwrap(), bytes);
    // More trials reuse the checkpoint: the first 4 rows are the same.
    let more = library_run(&a, 3, 6).unwrap();
    assert_eq!(more.unlearned.slice(ndarray::s![..4, ..]), full.unlearned);
    // Another configuration (seed 4) over the same directory: refused, naming the key.
    let error = library_run(&a, 4, 4).unwrap_err().to_string();
    assert!(
        error.contains("another configuration") && error.contains("seed"),
        "{error}"
    );
    // A run file of another configuration copied in: refused, naming the file.
    let b = dir.path().join("b");
    library_run(&b, 4, 1).unwrap();
    std::fs::copy(b.join("unlearned-00000.run"), a.join("unlearned-00000.run")).unwrap();
    let error = library_run(&a, 3, 4).unwrap_err().to_string();
    assert!(
        error.contains("unlearned-00000.run") && error.contains("another configuration"),
        "{error}"
    );
}

/// Minimal little-endian f64 `.npy` writer (1-D or 2-D).
fn write_npy(path: &Path, shape: &[usize], values: &[f64]) {
    let shape_text = match shape {
        [n] => format!("({n},)"),
        dims => format!(
            "({})",
            dims.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {shape_text}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for v in values {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::write(path, bytes).unwrap();
}

/// Prepares `src/<side>-<run>.npy` for every run: `d` pseudo-random values, the unlearned
/// side shifted by `shift`.
fn prepare_sources(src: &Path, trials: usize, d: usize, shift: f64) {
    std::fs::create_dir_all(src).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(17);
    for run in 0..trials {
        for (side, offset) in [("unlearned", shift), ("retrained", 0.0)] {
            let values: Vec<f64> = (0..d)
                .map(|j| offset + j as f64 + rng.random_range(-1.0..1.0))
                .collect();
            write_npy(&src.join(format!("{side}-{run}.npy")), &[d], &values);
        }
    }
}

fn external(out: &Path, command: &str, trials: usize, jobs: &str, extra: &[&str]) -> Command {
    let mut cmd = binary();
    cmd.args([
        "sample",
        "--trials",
        &trials.to_string(),
        "--seed",
        "9",
        "--jobs",
        jobs,
        "--trial-command",
        command,
        "--out",
    ])
    .arg(out)
    .args(extra);
    cmd
}

fn copy_command(src: &Path, sleep: &str) -> String {
    format!(
        "sleep {sleep}; cp '{}'/{{side}}-{{run}}.npy {{out}}.npy",
        src.display()
    )
}

/// The manifest without the per-invocation counters (how many runs this call executed or
/// skipped), which differ between an interrupted and an uninterrupted experiment.
fn manifest_without_counters(dir: &Path) -> serde_json::Value {
    let mut value: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let object = value.as_object_mut().unwrap();
    for key in [
        "runs_executed",
        "runs_skipped_existing",
        "runs_replaced_invalid",
    ] {
        assert!(object.remove(key).is_some(), "{key} missing");
    }
    value
}

fn run_names(trials: usize) -> Vec<String> {
    let mut names = vec!["unlearned.npy".to_string(), "retrained.npy".to_string()];
    for run in 0..trials {
        names.push(format!("unlearned/{run:05}.npy"));
        names.push(format!("retrained/{run:05}.npy"));
    }
    names
}

#[test]
fn external_kill_resume_corruption_and_concurrency() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let trials = 6;
    prepare_sources(&src, trials, 3, 0.5);
    let command = copy_command(&src, "0.05");
    let reference = dir.path().join("reference");
    let output = external(&reference, &command, trials, "2", &[])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let names = run_names(trials);
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let reference_manifest = manifest_without_counters(&reference);
    assert_eq!(reference_manifest["record_dimension"], 3);
    assert_eq!(
        reference_manifest["stacked_files"]["unlearned"],
        "unlearned.npy"
    );
    // Stacked [trials, d] file equals the run files in order.
    let stacked = unlearn_audit::io::read_npy_f64(&reference.join("unlearned.npy")).unwrap();
    assert_eq!(stacked.shape(), &[trials, 3]);

    // Kill at seeded points (after k final run files exist), resume, compare.
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    for attempt in 0..2 {
        let out = dir.path().join(format!("killed-{attempt}"));
        let k = rng.random_range(1..trials);
        let child = external(&out, &command, trials, "2", &[]).spawn().unwrap();
        kill_after_files(child, &out.join("unlearned"), "npy", k);
        let resumed = external(&out, &command, trials, "2", &[]).output().unwrap();
        assert!(
            resumed.status.success(),
            "{}",
            String::from_utf8_lossy(&resumed.stderr)
        );
        assert_same_files(&reference, &out, &names);
        assert_eq!(manifest_without_counters(&out), reference_manifest);
    }

    // A final file truncated to 100 bytes and one emptied: detected on resume and re-run.
    let out = dir.path().join("killed-0");
    let truncated = out.join("unlearned/00002.npy");
    let bytes = std::fs::read(&truncated).unwrap();
    std::fs::write(&truncated, &bytes[..100]).unwrap();
    std::fs::write(out.join("retrained/00004.npy"), b"").unwrap();
    let resumed = external(&out, &command, trials, "2", &[]).output().unwrap();
    assert!(resumed.status.success());
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["runs_replaced_invalid"], 2);
    assert_eq!(manifest["runs_executed"], 2);
    assert_eq!(manifest["runs_skipped_existing"], 2 * trials - 2);
    assert_same_files(&reference, &out, &names);

    // Two invocations over the same directory at once (same trials): both succeed, every
    // file is the reference's, no partial file is left behind by either.
    let out = dir.path().join("concurrent");
    let first = external(&out, &command, trials, "2", &[]).spawn().unwrap();
    let second = external(&out, &command, trials, "2", &[]).spawn().unwrap();
    for child in [first, second] {
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert_same_files(&reference, &out, &names);
    assert_eq!(files_in(&out.join(".partial"), "npy"), 0);
}

#[test]
fn external_files_of_the_wrong_shape_or_length_are_refused_at_collection() {
    let dir = tempfile::tempdir().unwrap();
    let matrix = dir.path().join("m.npy");
    write_npy(&matrix, &[2, 3], &[1.0; 6]);
    let out = dir.path().join("matrix");
    let command = format!("cp '{}' {{out}}.npy", matrix.display());
    let output = external(&out, &command, 2, "1", &[]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("unlearned/00000.npy") && stderr.contains("shape [2, 3]"),
        "{stderr}"
    );
    assert!(
        !out.join("unlearned/00000.npy").exists(),
        "a refused file is never moved in"
    );

    // Runs of different lengths: run 1 writes 2 values where run 0 wrote 3.
    let three = dir.path().join("three.npy");
    let two = dir.path().join("two.npy");
    write_npy(&three, &[3], &[1.0, 2.0, 3.0]);
    write_npy(&two, &[2], &[1.0, 2.0]);
    let out = dir.path().join("lengths");
    let command = format!(
        "if [ {{run}} = 1 ]; then cp '{}' {{out}}.npy; else cp '{}' {{out}}.npy; fi",
        two.display(),
        three.display()
    );
    let output = external(&out, &command, 2, "1", &[]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("unlearned/00001.npy")
            && stderr.contains("2 values")
            && stderr.contains("has 3"),
        "{stderr}"
    );
    // A non-finite value.
    let nan = dir.path().join("nan.npy");
    write_npy(&nan, &[2], &[1.0, f64::NAN]);
    let out = dir.path().join("nan");
    let output = external(
        &out,
        &format!("cp '{}' {{out}}.npy", nan.display()),
        1,
        "1",
        &[],
    )
    .output()
    .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("unlearned/00000.npy") && stderr.contains("non-finite"),
        "{stderr}"
    );
}

#[test]
fn external_record_is_written_and_ulira_uses_the_users_runs() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let trials = 16;
    // Per forget example φ: the unlearned runs sit 3 above the retrained ones, so U-LiRA
    // must separate the target runs from the held-out retrained runs.
    prepare_sources(&src, trials, 5, 3.0);
    let out = dir.path().join("mine");
    let command = copy_command(&src, "0");
    let output = external(&out, &command, trials, "2", &["--record", "forget-scores"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["record"], "forget_scores");
    assert_eq!(manifest["record_dimension"], 5);
    // Without --record the manifest says nothing was declared.
    let undeclared = dir.path().join("undeclared");
    assert!(
        external(&undeclared, &command, 2, "1", &[])
            .output()
            .unwrap()
            .status
            .success()
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(undeclared.join("manifest.json")).unwrap()).unwrap();
    assert!(manifest["record"].is_null());

    let output = binary()
        .args(["mia", "ulira", "--samples"])
        .arg(&out)
        .arg("--json")
        .output()
        .unwrap();
    assert_ne!(
        output.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["samples"]["forget_examples"], 5);
    assert_eq!(report["samples"]["unlearned_runs"], trials);
    assert_eq!(report["samples"]["retrained_runs"], trials);
    // The per-example ε audit reads the stacked files of the user's runs.
    let output = binary()
        .args(["epsilon", "--unlearned"])
        .arg(out.join("unlearned.npy"))
        .arg("--retrained")
        .arg(out.join("retrained.npy"))
        .args(["--delta", "1e-5", "--per-example", "--json"])
        .output()
        .unwrap();
    assert_ne!(
        output.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let audit: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(audit.to_string().contains("epsilon"), "{audit}");
    // Fully separated: every target run scores above every held-out retrained run.
    let auc = report["attacks"]["ulira"]["auc"].as_f64().unwrap();
    assert_eq!(auc, 1.0, "{report}");
}
