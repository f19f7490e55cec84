//! `unlearn-audit mia` end to end: the JSON contract on the digits fixture, determinism across
//! thread counts, and the bad-input matrix (exit 2 with a message naming the file and array).

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use ndarray::{Array1, Array2};
use ndarray_npy::NpzWriter;
use serde_json::Value;

fn digits() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/digits")
}

fn command() -> Command {
    Command::cargo_bin("unlearn-audit").unwrap()
}

fn population_args(extra: &[&str]) -> Vec<String> {
    let d = digits();
    let mut args: Vec<String> = vec![
        "mia".into(),
        "--model".into(),
        d.join("unlearned").display().to_string(),
        "--labels".into(),
        d.join("labels.npz").display().to_string(),
        "--members".into(),
        "forget".into(),
        "--nonmembers".into(),
        "test".into(),
        "--bootstrap".into(),
        "200".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

#[test]
fn population_json_has_the_contract_fields() {
    let output = command()
        .args(population_args(&["--evaluate", "forget", "--json"]))
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    let loss = &json["attacks"]["loss"];
    let auc = loss["auc"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&auc));
    assert_eq!(loss["auc_ci"]["confidence"].as_f64(), Some(0.95));
    assert!(loss["auc_ci"]["lower"].as_f64().unwrap() <= auc);
    assert!(loss["auc_ci"]["upper"].as_f64().unwrap() >= auc);
    for key in ["0.001", "0.01", "0.1"] {
        let tpr = loss["tpr_at_fpr"][key].as_f64().unwrap();
        let ci = &loss["tpr_at_fpr_ci"][key];
        assert!(ci["lower"].as_f64().unwrap() <= tpr && tpr <= ci["upper"].as_f64().unwrap());
    }
    // 359 non-members cannot resolve FPR 0.001.
    assert_eq!(loss["tpr_at_fpr_resolved"]["0.001"], Value::Bool(false));
    assert_eq!(loss["n_members"].as_u64(), Some(50));
    assert_eq!(loss["n_nonmembers"].as_u64(), Some(359));
    assert!(loss["advantage"].as_f64().unwrap() >= 0.0);
    let rate = loss["evaluated"]["member_rate"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&rate));
    assert_eq!(json["outcome"], "info");
    for attack in [
        "confidence",
        "entropy",
        "modified_entropy",
        "scaled_logit",
        "class_threshold_modified_entropy",
        "logistic_regression",
    ] {
        assert!(json["attacks"][attack]["auc"].is_f64(), "{attack}");
    }
    assert!(json["compatibility"]["neurips23_simple_mia"]["value"].is_f64());
}

#[test]
fn reference_gives_a_verdict_and_the_same_seed_the_same_json_on_any_thread_count() {
    let d = digits();
    let reference = d.join("retrained").display().to_string();
    let run = |threads: &str| {
        let mut args = vec!["--threads".to_string(), threads.to_string()];
        args.extend(population_args(&[
            "--reference",
            &reference,
            "--json",
            "--seed",
            "3",
        ]));
        command().args(args).output().unwrap()
    };
    let one = run("1");
    let two = run("2");
    // Fine-tuning on the digits fixture: the population attacks see no significant gap, but
    // without the original as positive control (and with 50 forget examples) that is absence
    // of evidence: inconclusive (exit 3), never pass. (It used to pass: issue 10, case 2.)
    assert_eq!(
        one.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&one.stderr)
    );
    assert_eq!(one.stdout, two.stdout);
    let json: Value = serde_json::from_slice(&one.stdout).unwrap();
    assert_eq!(json["outcome"], "inconclusive");
    assert!(
        json["reason"]
            .as_str()
            .unwrap()
            .contains("no positive control")
    );
    assert_eq!(json["margin"].as_f64(), Some(0.05));
    let gaps = json["reference"]["gaps"].as_array().unwrap();
    assert_eq!(gaps.len(), 9);
    for gap in gaps {
        assert_eq!(gap["verdict"], "inconclusive");
        assert_eq!(gap["indistinguishable"], Value::Null);
        assert_eq!(gap["difference_detected"], Value::Bool(false));
    }
}

fn write_npz(path: &Path, build: impl FnOnce(&mut NpzWriter<std::fs::File>)) {
    let mut npz = NpzWriter::new(std::fs::File::create(path).unwrap());
    build(&mut npz);
    npz.finish().unwrap();
}

fn lira_file(dir: &Path, build: impl FnOnce(&mut NpzWriter<std::fs::File>)) -> PathBuf {
    let path = dir.join("scores.npz");
    write_npz(&path, build);
    path
}

fn expect_exit_2(args: &[&str], needles: &[&str]) {
    let output = command().args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "stderr: {stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "`{needle}` not in: {stderr}");
    }
}

fn shadow_arrays(n: usize, m: usize) -> (Array2<f64>, Array2<bool>, Array1<f64>, Array1<bool>) {
    let scores = Array2::from_shape_fn((n, m), |(i, j)| {
        (i * 7 + j * 3) as f64 % 5.0 + (j % 2) as f64
    });
    let keep = Array2::from_shape_fn((n, m), |(_, j)| j % 2 == 0);
    let target = Array1::from_shape_fn(n, |i| (i % 3) as f64);
    let target_in = Array1::from_shape_fn(n, |i| i % 2 == 0);
    (scores, keep, target, target_in)
}

#[test]
fn lira_runs_on_a_written_npz() {
    let dir = tempfile::tempdir().unwrap();
    let (scores, keep, target, target_in) = shadow_arrays(20, 8);
    let file = lira_file(dir.path(), |npz| {
        npz.add_array("shadow_scores", &scores).unwrap();
        npz.add_array("shadow_in", &keep).unwrap();
        npz.add_array("target_scores", &target).unwrap();
        npz.add_array("target_in", &target_in).unwrap();
    });
    let output = command()
        .args(["mia", "lira", "--scores", file.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        json["attacks"]["lira_online"]["n_members"].as_u64(),
        Some(10)
    );
    assert!(json["attacks"]["lira_offline"]["auc"].is_f64());
}

#[test]
fn mask_and_scores_of_different_shapes_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let (scores, _, target, target_in) = shadow_arrays(20, 8);
    let keep = Array2::from_elem((20, 7), true);
    let file = lira_file(dir.path(), |npz| {
        npz.add_array("shadow_scores", &scores).unwrap();
        npz.add_array("shadow_in", &keep).unwrap();
        npz.add_array("target_scores", &target).unwrap();
        npz.add_array("target_in", &target_in).unwrap();
    });
    expect_exit_2(
        &["mia", "lira", "--scores", file.to_str().unwrap()],
        &["scores.npz", "shadow_in", "[20, 7]", "shadow_scores"],
    );
}

#[test]
fn a_membership_mask_with_one_class_only_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let (scores, keep, target, _) = shadow_arrays(20, 8);
    let all_members = Array1::from_elem(20, true);
    let file = lira_file(dir.path(), |npz| {
        npz.add_array("shadow_scores", &scores).unwrap();
        npz.add_array("shadow_in", &keep).unwrap();
        npz.add_array("target_scores", &target).unwrap();
        npz.add_array("target_in", &all_members).unwrap();
    });
    expect_exit_2(
        &["mia", "lira", "--scores", file.to_str().unwrap()],
        &["scores.npz", "target_in", "only"],
    );
}

#[test]
fn nan_scores_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let (scores, keep, mut target, target_in) = shadow_arrays(20, 8);
    target[3] = f64::NAN;
    let file = lira_file(dir.path(), |npz| {
        npz.add_array("shadow_scores", &scores).unwrap();
        npz.add_array("shadow_in", &keep).unwrap();
        npz.add_array("target_scores", &target).unwrap();
        npz.add_array("target_in", &target_in).unwrap();
    });
    expect_exit_2(
        &["mia", "lira", "--scores", file.to_str().unwrap()],
        &["scores.npz", "target_scores", "NaN"],
    );
}

fn small_bundle(dir: &Path, labels: Array1<i64>) -> (PathBuf, PathBuf) {
    let model = dir.join("model");
    std::fs::create_dir_all(&model).unwrap();
    let logits = Array2::from_shape_fn((6, 3), |(i, j)| ((i * 5 + j * 2) % 7) as f32);
    write_npz(&model.join("outputs.npz"), |npz| {
        npz.add_array("train", &logits).unwrap();
        npz.add_array("test", &logits).unwrap();
    });
    let labels_path = dir.join("labels.npz");
    write_npz(&labels_path, |npz| {
        npz.add_array("train", &labels).unwrap();
        npz.add_array("test", &Array1::from_elem(6, 0i64)).unwrap();
    });
    (model, labels_path)
}

#[test]
fn labels_out_of_range_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let (model, labels) = small_bundle(dir.path(), Array1::from(vec![0i64, 1, 2, 3, 0, 1]));
    expect_exit_2(
        &[
            "mia",
            "--model",
            model.to_str().unwrap(),
            "--labels",
            labels.to_str().unwrap(),
            "--members",
            "train",
            "--nonmembers",
            "test",
        ],
        &["labels.npz", "array `train`", "label 3", "0..3"],
    );
}

#[test]
fn the_same_split_as_members_and_nonmembers_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let (model, labels) = small_bundle(dir.path(), Array1::from(vec![0i64, 1, 2, 1, 0, 1]));
    expect_exit_2(
        &[
            "mia",
            "--model",
            model.to_str().unwrap(),
            "--labels",
            labels.to_str().unwrap(),
            "--members",
            "train",
            "--nonmembers",
            "train",
        ],
        &["same split"],
    );
}

#[test]
fn population_arguments_are_required_without_a_subcommand() {
    let output = command()
        .args(["mia", "--members", "forget"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn ulira_state_codes_out_of_range_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let (scores, _, target, _) = shadow_arrays(20, 8);
    let mut states = Array2::from_shape_fn((20, 8), |(_, j)| (j % 3) as i64);
    states[[4, 2]] = 7;
    let target_state = Array1::from_shape_fn(20, |i| if i % 2 == 0 { 2i64 } else { 0 });
    let file = lira_file(dir.path(), |npz| {
        npz.add_array("shadow_scores", &scores).unwrap();
        npz.add_array("shadow_state", &states).unwrap();
        npz.add_array("target_scores", &target).unwrap();
        npz.add_array("target_state", &target_state).unwrap();
    });
    expect_exit_2(
        &["mia", "ulira", "--scores", file.to_str().unwrap()],
        &["scores.npz", "shadow_state", "7"],
    );
}

/// Writes a `sample`-style directory: `[runs, d]` φ matrices and a manifest.
fn write_samples(dir: &Path, shift: f64, record: &str) {
    use ndarray_npy::WriteNpyExt;
    // Per-example offsets dominate (a population threshold cannot use them); the unlearned
    // runs sit `shift` above the retrained runs on every example.
    let runs = 20;
    let d = 8;
    let noise = |t: usize, i: usize, side: usize| {
        // A fixed, deterministic pseudo-noise in [-0.5, 0.5).
        (((t * 31 + i * 17 + side * 7) * 2654435761usize) % 1000) as f64 / 1000.0 - 0.5
    };
    let unlearned =
        Array2::from_shape_fn((runs, d), |(t, i)| 3.0 * i as f64 + shift + noise(t, i, 0));
    let retrained = Array2::from_shape_fn((runs, d), |(t, i)| 3.0 * i as f64 + noise(t, i, 1));
    unlearned
        .write_npy(std::fs::File::create(dir.join("unlearned.npy")).unwrap())
        .unwrap();
    retrained
        .write_npy(std::fs::File::create(dir.join("retrained.npy")).unwrap())
        .unwrap();
    std::fs::write(
        dir.join("manifest.json"),
        format!(r#"{{"mechanism": "finetune", "record": "{record}", "trials": {runs}}}"#),
    )
    .unwrap();
}

#[test]
fn ulira_reads_a_sample_directory() {
    let dir = tempfile::tempdir().unwrap();
    write_samples(dir.path(), 1.0, "forget_scores");
    let output = command()
        .args(["mia", "ulira", "--samples"])
        .arg(dir.path())
        .args(["--holdout", "5", "--bootstrap", "0", "--json"])
        .output()
        .unwrap();
    // A shift of 1 against per-example noise of ±0.5 is plain to U-LiRA: exit 1 (fail).
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["samples"]["holdout"].as_u64(), Some(5));
    assert_eq!(json["samples"]["shadow_unlearned_runs"].as_u64(), Some(15));
    assert_eq!(json["samples"]["forget_examples"].as_u64(), Some(8));
    assert_eq!(json["attacks"]["ulira"]["n_members"].as_u64(), Some(40));
    assert_eq!(json["attacks"]["ulira"]["n_nonmembers"].as_u64(), Some(40));
    assert!(json["attacks"]["ulira"]["auc"].as_f64().unwrap() > 0.95);
    let gaps = json["reference"]["gaps"].as_array().unwrap();
    assert_eq!(gaps[0]["attack"], "ulira");
    assert_eq!(gaps[0]["indistinguishable"], Value::Bool(false));
    assert_eq!(gaps[0]["retrained_auc"].as_f64(), Some(0.5));

    // No shift: exchangeable runs, no difference detected; but 40 runs per side cannot show
    // equivalence within ±0.05 and there is no positive control: inconclusive (exit 3; it
    // used to pass, the false PASS of issue 10). The pseudo-noise is fixed, so this cannot flip.
    let same = tempfile::tempdir().unwrap();
    write_samples(same.path(), 0.0, "forget_scores");
    let output = command()
        .args(["mia", "ulira", "--samples"])
        .arg(same.path())
        .args(["--holdout", "5", "--bootstrap", "0", "--json"])
        .output()
        .unwrap();
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(output.status.code(), Some(3), "{json}");
    assert_eq!(json["reference"]["gaps"][0]["difference_detected"], false);

    // A target file of the wrong length, and a manifest recording weights: exit 2, named.
    let target = dir.path().join("target.npy");
    {
        use ndarray_npy::WriteNpyExt;
        Array1::<f64>::zeros(3)
            .write_npy(std::fs::File::create(&target).unwrap())
            .unwrap();
    }
    let output = command()
        .args(["mia", "ulira", "--samples"])
        .arg(dir.path())
        .arg("--target")
        .arg(&target)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("target.npy"));
    let weights = tempfile::tempdir().unwrap();
    write_samples(weights.path(), 0.0, "weights");
    let output = command()
        .args(["mia", "ulira", "--samples"])
        .arg(weights.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("forget-scores"));
}
