//! `unlearn-audit mia llm` and `forget-quality` end to end on the LLM fixture
//! (`fixtures/llm/make_fixture.py`) against `scripts/openunlearning_reference.py`'s goldens
//! (OpenUnlearning's formulas line by line): every per-example score, AUC and PrivLeak to
//! 1e-12, the KS p-value (forget_quality) to 1e-9; and the bad-input matrix (exit 2 naming the
//! file, the array and the row).

use std::fs::File;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use ndarray::{Array1, Array2};
use ndarray_npy::NpzWriter;
use serde_json::Value;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/llm")
}

fn goldens() -> Value {
    let text = std::fs::read_to_string(fixture().join("goldens.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn command() -> Command {
    Command::cargo_bin("unlearn-audit").unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn close(a: f64, b: f64, tol: f64, what: &str) {
    assert!(
        (a - b).abs() <= tol * b.abs().max(1.0),
        "{what}: {a} vs golden {b}"
    );
}

fn close_all(a: &[f64], b: &[f64], tol: f64, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        close(*x, *y, tol, &format!("{what}[{i}]"));
    }
}

const ATTACKS: [&str; 4] = ["loss", "zlib", "min_k", "min_k_plus_plus"];

fn run_json(args: &[&str]) -> (Value, i32) {
    let output = command().args(args).output().unwrap();
    let code = output.status.code().unwrap();
    assert!(
        code != 2,
        "exit 2: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    (serde_json::from_slice(&output.stdout).unwrap(), code)
}

#[test]
fn mia_llm_scores_aucs_and_privleak_equal_openunlearning() {
    let f = fixture();
    let g = goldens();
    let model = f.join("unlearned").display().to_string();
    let reference = f.join("retrained").display().to_string();
    let original = f.join("original").display().to_string();
    let (json, code) = run_json(&[
        "mia",
        "llm",
        "--model",
        &model,
        "--members",
        "forget",
        "--nonmembers",
        "holdout",
        "--reference",
        &reference,
        "--original",
        &original,
        "--k",
        "0.2",
        "--bootstrap",
        "0",
        "--json",
    ]);
    for attack in ATTACKS {
        let a = &json["attacks"][attack];
        let gold = &g["models"]["unlearned"][attack];
        close_all(
            &floats(&a["member_scores"]["scores"]),
            &floats(&gold["forget"]),
            1e-12,
            attack,
        );
        close_all(
            &floats(&a["nonmember_scores"]["scores"]),
            &floats(&gold["holdout"]),
            1e-12,
            attack,
        );
        close(
            a["auc"].as_f64().unwrap(),
            gold["auc"].as_f64().unwrap(),
            1e-12,
            attack,
        );
        assert!(a["auc_ci"]["lower"].as_f64().unwrap() <= a["auc"].as_f64().unwrap());
        assert!(a["tpr_at_fpr"]["0.1"].is_number());
        let r = &json["reference"]["attacks"][attack];
        let rg = &g["models"]["retrained"][attack];
        close_all(
            &floats(&r["member_scores"]["scores"]),
            &floats(&rg["forget"]),
            1e-12,
            attack,
        );
        close(
            r["auc"].as_f64().unwrap(),
            rg["auc"].as_f64().unwrap(),
            1e-12,
            attack,
        );
        close(
            json["privleak"][attack].as_f64().unwrap(),
            g["privleak"][attack].as_f64().unwrap(),
            1e-12,
            &format!("privleak.{attack}"),
        );
    }
    // Row 0 has one target token: Min-K's span is empty and OpenUnlearning scores it 0.
    assert_eq!(
        json["attacks"]["min_k"]["member_scores"]["empty_span_rows"][0],
        0
    );
    assert_eq!(
        json["attacks"]["min_k"]["member_scores"]["scores"][0].as_f64(),
        Some(0.0)
    );
    // The equivalence verdict (mia::unlearning::equivalence_to_reference): every gap carries its
    // positive control, the original's AUC (golden) against the retrained one.
    let gaps = json["reference"]["gaps"].as_array().unwrap();
    for (i, attack) in ATTACKS.iter().enumerate() {
        assert_eq!(gaps[i]["attack"], *attack);
        assert_eq!(gaps[i]["verdict_method"], "equivalence_margin");
        close(
            gaps[i]["positive_control"]["original_auc"]
                .as_f64()
                .unwrap(),
            g["models"]["original"][*attack]["auc"].as_f64().unwrap(),
            1e-12,
            attack,
        );
    }
    // LOSS has power on the original (AUC 0.91), but with 30 + 30 examples no gap interval fits
    // inside ±0.05: no Pass can be signed.
    assert_eq!(gaps[0]["positive_control"]["has_power"], true);
    assert_eq!(json["outcome"], "inconclusive");
    assert_eq!(code, 3);
    assert!(json["reason"].as_str().unwrap().contains("margin"));
}

#[test]
fn mia_llm_without_reference_is_a_measurement() {
    let f = fixture();
    let model = f.join("retrained").display().to_string();
    let (json, code) = run_json(&[
        "mia",
        "llm",
        "--model",
        &model,
        "--members",
        "forget",
        "--nonmembers",
        "holdout",
        "--attacks",
        "loss,min_k",
        "--k",
        "0.2",
        "--bootstrap",
        "0",
        "--json",
    ]);
    assert_eq!(code, 0);
    assert_eq!(json["outcome"], "info");
    assert!(json["attacks"]["zlib"].is_null());
    let g = goldens();
    close(
        json["attacks"]["loss"]["auc"].as_f64().unwrap(),
        g["models"]["retrained"]["loss"]["auc"].as_f64().unwrap(),
        1e-12,
        "loss",
    );
}

#[test]
fn forget_quality_equals_tofu_on_both_splits() {
    let f = fixture();
    let g = goldens();
    let u = f.join("unlearned").display().to_string();
    let r = f.join("retrained").display().to_string();
    for split in ["forget", "other"] {
        let (json, code) = run_json(&[
            "forget-quality",
            "--unlearned",
            &u,
            "--retrained",
            &r,
            "--split",
            split,
            "--json",
        ]);
        assert_eq!(code, 0);
        let gold = &g["forget_quality"][split];
        close_all(
            &floats(&json["truth_ratio"]["unlearned"]),
            &floats(&gold["truth_ratio_unlearned"]),
            1e-12,
            split,
        );
        close_all(
            &floats(&json["truth_ratio"]["retrained"]),
            &floats(&gold["truth_ratio_retrained"]),
            1e-12,
            split,
        );
        close(
            json["forget_quality"].as_f64().unwrap(),
            gold["forget_quality"].as_f64().unwrap(),
            1e-9,
            split,
        );
        close(
            json["ks"]["statistic"].as_f64().unwrap(),
            gold["ks_statistic"].as_f64().unwrap(),
            1e-12,
            split,
        );
        close(
            json["forget_truth_ratio"]["unlearned"].as_f64().unwrap(),
            gold["forget_truth_ratio_unlearned"].as_f64().unwrap(),
            1e-12,
            split,
        );
        if split == "forget" {
            let p = &json["paired_log_truth_ratio_difference"];
            assert_eq!(p["n"], 40);
            let ci = &p["ci"];
            assert!(ci["lower"].as_f64().unwrap() <= p["median"].as_f64().unwrap());
            assert!(p["median"].as_f64().unwrap() <= ci["upper"].as_f64().unwrap());
            assert!(ci["confidence"].as_f64().unwrap() >= 0.95);
        } else {
            // 25 vs 37 examples: no pairing, said so.
            assert!(json["paired_log_truth_ratio_difference"].is_null());
            assert!(
                json["paired_reason"]
                    .as_str()
                    .unwrap()
                    .contains("25 and 37")
            );
        }
    }
}

#[test]
fn forget_quality_with_two_runs_per_side_runs_the_epsilon_audit() {
    let f = fixture();
    let u1 = f.join("unlearned").display().to_string();
    let u2 = f.join("run2/unlearned").display().to_string();
    let r1 = f.join("retrained").display().to_string();
    let r2 = f.join("run2/retrained").display().to_string();
    let (json, _) = run_json(&[
        "forget-quality",
        "--unlearned",
        &u1,
        "--unlearned",
        &u2,
        "--retrained",
        &r1,
        "--retrained",
        &r2,
        "--json",
    ]);
    assert_eq!(json["runs"].as_array().unwrap().len(), 2);
    assert_eq!(json["epsilon"]["mode"], "per_example");
    assert_eq!(json["epsilon"]["n_unlearned"], 2);
    // Two runs per side cannot certify anything: the bound is 0.
    assert_eq!(json["epsilon"]["epsilon_lower_bound"].as_f64(), Some(0.0));
    let g = goldens();
    close(
        json["runs"][0]["forget_quality"].as_f64().unwrap(),
        g["forget_quality"]["forget"]["forget_quality"]
            .as_f64()
            .unwrap(),
        1e-9,
        "run 0",
    );
}

#[test]
fn ks_2samp_equals_scipy_on_ties_and_unequal_sizes() {
    let g = goldens();
    for (i, case) in g["ks_cases"].as_array().unwrap().iter().enumerate() {
        let t =
            unlearn_audit::mia::llm::ks_2samp(&floats(&case["x"]), &floats(&case["y"])).unwrap();
        close(
            t.statistic,
            case["statistic"].as_f64().unwrap(),
            1e-12,
            &format!("case {i} D"),
        );
        let p = t.p_value.unwrap();
        let gold = case["p_value"].as_f64().unwrap();
        assert!(
            (p - gold).abs() <= 1e-9 * gold.max(1e-300).max(1.0),
            "case {i}: {p} vs {gold}"
        );
        // relative agreement also for the tiny p-value
        assert!(
            (p - gold).abs() <= 1e-9 * gold.abs() + 1e-300,
            "case {i} relative: {p} vs {gold}"
        );
    }
}

// ------------------------------------------------------------------ bad input

struct Bad {
    dir: tempfile::TempDir,
}

/// A small valid bundle (2 rows × 4 tokens per split) that each test then breaks once.
fn bundle(logprobs: Array2<f64>, mask: Option<Array2<bool>>, var: Array2<f64>, zlib: bool) -> Bad {
    let dir = tempfile::tempdir().unwrap();
    let holdout =
        Array2::from_shape_vec((2, 4), vec![-0.1, -0.2, -0.3, -0.4, -1.0, -2.0, -0.5, 0.0])
            .unwrap();
    let mut w = NpzWriter::new(File::create(dir.path().join("token_logprobs.npz")).unwrap());
    w.add_array("forget", &logprobs).unwrap();
    w.add_array("holdout", &holdout).unwrap();
    w.finish().unwrap();
    let full = Array2::from_elem((2, 4), true);
    let mut w = NpzWriter::new(File::create(dir.path().join("token_mask.npz")).unwrap());
    w.add_array("forget", &mask.unwrap_or_else(|| full.clone()))
        .unwrap();
    w.add_array("holdout", &full).unwrap();
    w.finish().unwrap();
    let mean = Array2::from_elem((2, 4), -1.0);
    let mut w = NpzWriter::new(File::create(dir.path().join("token_vocab_stats.npz")).unwrap());
    w.add_array("forget_mean", &mean).unwrap();
    w.add_array("forget_var", &var).unwrap();
    w.add_array("holdout_mean", &mean).unwrap();
    w.add_array("holdout_var", &Array2::from_elem((2, 4), 1.0))
        .unwrap();
    w.finish().unwrap();
    if zlib {
        let mut w = NpzWriter::new(File::create(dir.path().join("text_zlib.npz")).unwrap());
        w.add_array("forget", &Array1::from(vec![10i64, 20]))
            .unwrap();
        w.add_array("holdout", &Array1::from(vec![10i64, 20]))
            .unwrap();
        w.finish().unwrap();
    }
    Bad { dir }
}

fn good_logprobs() -> Array2<f64> {
    Array2::from_shape_vec((2, 4), vec![-0.1, -0.5, -0.3, -0.2, -1.0, -0.7, -0.6, -0.9]).unwrap()
}

fn expect_exit_2(b: &Bad, attacks: &str, needles: &[&str]) {
    let output = command()
        .args(["mia", "llm", "--model"])
        .arg(b.dir.path())
        .args([
            "--members",
            "forget",
            "--nonmembers",
            "holdout",
            "--bootstrap",
            "0",
            "--attacks",
            attacks,
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "stderr: {stderr}");
    for n in needles {
        assert!(stderr.contains(n), "`{n}` missing from: {stderr}");
    }
}

#[test]
fn the_valid_small_bundle_is_accepted() {
    let b = bundle(good_logprobs(), None, Array2::from_elem((2, 4), 0.5), true);
    let output = command()
        .args(["mia", "llm", "--model"])
        .arg(b.dir.path())
        .args([
            "--members",
            "forget",
            "--nonmembers",
            "holdout",
            "--bootstrap",
            "0",
        ])
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn mask_and_logprob_shapes_differ() {
    let mask = Array2::from_elem((2, 3), true);
    let b = bundle(
        good_logprobs(),
        Some(mask),
        Array2::from_elem((2, 4), 0.5),
        true,
    );
    expect_exit_2(
        &b,
        "loss",
        &["token_mask.npz", "`forget`", "[2, 3]", "[2, 4]"],
    );
}

#[test]
fn positive_logprob_names_file_array_and_row() {
    let mut lp = good_logprobs();
    lp[[1, 2]] = 0.25;
    let b = bundle(lp, None, Array2::from_elem((2, 4), 0.5), true);
    expect_exit_2(
        &b,
        "loss",
        &[
            "token_logprobs.npz",
            "`forget`",
            "row 1",
            "positive log-probability",
        ],
    );
}

#[test]
fn nan_logprob_names_file_array_and_row() {
    let mut lp = good_logprobs();
    lp[[0, 1]] = f64::NAN;
    let b = bundle(lp, None, Array2::from_elem((2, 4), 0.5), true);
    expect_exit_2(
        &b,
        "min_k",
        &["token_logprobs.npz", "`forget`", "row 0", "non-finite"],
    );
}

#[test]
fn row_without_target_token() {
    let mut mask = Array2::from_elem((2, 4), true);
    mask.row_mut(1).fill(false);
    let b = bundle(
        good_logprobs(),
        Some(mask),
        Array2::from_elem((2, 4), 0.5),
        true,
    );
    expect_exit_2(
        &b,
        "loss",
        &["token_mask.npz", "`forget`", "row 1", "no target token"],
    );
}

#[test]
fn negative_variance() {
    let mut var = Array2::from_elem((2, 4), 0.5);
    var[[1, 0]] = -0.01;
    let b = bundle(good_logprobs(), None, var, true);
    expect_exit_2(
        &b,
        "min_k_plus_plus",
        &[
            "token_vocab_stats.npz",
            "`forget_var`",
            "row 1",
            "negative variance",
        ],
    );
}

#[test]
fn missing_optional_file_for_the_attack_asked() {
    let b = bundle(good_logprobs(), None, Array2::from_elem((2, 4), 0.5), false);
    expect_exit_2(&b, "zlib", &["text_zlib.npz", "missing", "zlib"]);
    // Not asked: the default attack list skips zlib and succeeds.
    let output = command()
        .args(["mia", "llm", "--model"])
        .arg(b.dir.path())
        .args([
            "--members",
            "forget",
            "--nonmembers",
            "holdout",
            "--bootstrap",
            "0",
            "--json",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(json["attacks"]["zlib"].is_null());
    assert!(json["attacks"]["min_k_plus_plus"].is_object());
}

#[test]
fn missing_answer_losses_for_forget_quality() {
    let b = bundle(good_logprobs(), None, Array2::from_elem((2, 4), 0.5), true);
    let output = command()
        .args(["forget-quality", "--unlearned"])
        .arg(b.dir.path())
        .arg("--retrained")
        .arg(b.dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr.contains("answer_losses.npz") && stderr.contains("missing"),
        "{stderr}"
    );
}
