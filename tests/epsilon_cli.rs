//! `unlearn-audit epsilon` end to end: JSON contract, verdict exit codes, per-example and
//! multivariate modes, the planner, determinism, and the bad-input matrix (exit 2).

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use ndarray::Array2;
use ndarray_npy::WriteNpyExt;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

fn cmd() -> Command {
    Command::new(assert_cmd::cargo::cargo_bin!("unlearn-audit"))
}

fn write(dir: &Path, name: &str, values: Array2<f64>) -> PathBuf {
    let path = dir.join(name);
    values
        .write_npy(std::fs::File::create(&path).unwrap())
        .unwrap();
    path
}

fn gaussian(n: usize, d: usize, shift: f64, seed: u64) -> Array2<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Array2::from_shape_fn((n, d), |_| shift + rng.sample::<f64, _>(StandardNormal))
}

fn json_of(output: &[u8]) -> serde_json::Value {
    serde_json::from_slice(output).expect("valid JSON on stdout")
}

#[test]
fn violated_claim_exits_1_with_contract_fields() {
    let dir = tempfile::tempdir().unwrap();
    let u = write(dir.path(), "u.npy", gaussian(2000, 1, 3.0, 1));
    let r = write(dir.path(), "r.npy", gaussian(2000, 1, 0.0, 2));
    let out = cmd()
        .args(["epsilon", "--unlearned"])
        .arg(&u)
        .arg("--retrained")
        .arg(&r)
        .args(["--delta", "1e-5", "--claim-epsilon", "0.5", "--json"])
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let j = json_of(&out);
    for key in [
        "epsilon_lower_bound",
        "confidence",
        "delta",
        "verdict",
        "reason",
        "n_unlearned",
        "n_retrained",
        "epsilon_ceiling",
    ] {
        assert!(!j[key].is_null(), "{key} present");
    }
    assert_eq!(j["verdict"], "violated");
    assert_eq!(j["claim"]["epsilon"], 0.5);
    assert_eq!(j["claim"]["delta"], 1e-5);
    assert_eq!(j["n_unlearned"], 2000);
    for key in [
        "direction",
        "threshold",
        "true_positives",
        "false_positives",
        "true_negatives",
        "false_negatives",
        "fpr_upper",
        "fnr_upper",
    ] {
        assert!(!j["test"][key].is_null(), "test.{key} present");
    }
    assert_eq!(j["test"]["direction"], "unlearned_higher");
    let bound = j["epsilon_lower_bound"].as_f64().unwrap();
    assert!(bound > 0.5 && bound <= j["epsilon_ceiling"].as_f64().unwrap());
    // The reported bound is recomputable from the reported rate bounds.
    let (fpr, fnr) = (
        j["test"]["fpr_upper"].as_f64().unwrap(),
        j["test"]["fnr_upper"].as_f64().unwrap(),
    );
    let recomputed = ((1.0 - 1e-5 - fpr) / fnr)
        .ln()
        .max(((1.0 - 1e-5 - fnr) / fpr).ln());
    assert!((recomputed - bound).abs() < 1e-12);
}

#[test]
fn null_data_is_consistent_and_no_claim_has_no_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let u = write(dir.path(), "u.npy", gaussian(500, 1, 0.0, 3));
    let r = write(dir.path(), "r.npy", gaussian(700, 1, 0.0, 4));
    let out = cmd()
        .args(["epsilon", "--unlearned"])
        .arg(&u)
        .arg("--retrained")
        .arg(&r)
        .args([
            "--delta",
            "1e-5",
            "--claim-epsilon",
            "2",
            "--json",
            "--null-calibration",
        ])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let j = json_of(&out);
    assert_eq!(j["verdict"], "consistent");
    assert_eq!(j["epsilon_lower_bound"], 0.0);
    assert_eq!(j["null_calibration"]["n_first_half"], 350);
    let out = cmd()
        .args(["epsilon", "--unlearned"])
        .arg(&u)
        .arg("--retrained")
        .arg(&r)
        .args(["--delta", "1e-5", "--json"])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    assert!(json_of(&out)["verdict"].is_null());
}

#[test]
fn unreachable_claim_is_inconclusive_with_runs_needed() {
    let dir = tempfile::tempdir().unwrap();
    let u = write(dir.path(), "u.npy", gaussian(64, 1, 0.0, 5));
    let r = write(dir.path(), "r.npy", gaussian(64, 1, 0.0, 6));
    let out = cmd()
        .args(["epsilon", "--unlearned"])
        .arg(&u)
        .arg("--retrained")
        .arg(&r)
        .args(["--delta", "1e-5", "--claim-epsilon", "6", "--json"])
        .assert()
        .code(3)
        .get_output()
        .stdout
        .clone();
    let j = json_of(&out);
    assert_eq!(j["verdict"], "inconclusive");
    let needed = j["samples_needed_per_side"].as_u64().unwrap();
    assert!(needed > 64, "{needed}");
}

#[test]
fn per_example_mode_lists_exceeding_examples() {
    let dir = tempfile::tempdir().unwrap();
    let mut u = gaussian(512, 5, 0.0, 7);
    u.column_mut(3).mapv_inplace(|x| x + 4.0); // example 3 leaks
    let u = write(dir.path(), "u.npy", u);
    let r = write(dir.path(), "r.npy", gaussian(512, 5, 0.0, 8));
    let out = cmd()
        .args(["epsilon", "--per-example", "--neurips-score", "--unlearned"])
        .arg(&u)
        .arg("--retrained")
        .arg(&r)
        .args(["--delta", "1e-5", "--claim-epsilon", "1", "--json"])
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let j = json_of(&out);
    assert_eq!(j["per_example"]["examples"], 5);
    assert_eq!(
        j["per_example"]["examples_exceeding_claim"],
        serde_json::json!([3])
    );
    assert_eq!(j["per_example"]["worst_example"], 3);
    assert_eq!(
        j["error_budget"]["alpha_per_example"].as_f64().unwrap(),
        (1.0 - 0.95) / 5.0
    );
    let neurips = &j["per_example"]["neurips_2023"];
    assert_eq!(
        neurips["label"].as_str().unwrap().split(',').next(),
        Some("estimate")
    );
    assert!(neurips["per_example_epsilon"][3].as_f64().unwrap() > 3.0);
    // Per-example audits run on rayon: bit-identical JSON for any thread count.
    let run = |threads: &str| {
        cmd()
            .args([
                "--threads",
                threads,
                "epsilon",
                "--per-example",
                "--unlearned",
            ])
            .arg(&u)
            .arg("--retrained")
            .arg(&r)
            .args([
                "--delta",
                "1e-5",
                "--claim-epsilon",
                "1",
                "--json",
                "--null-calibration",
            ])
            .assert()
            .code(1)
            .get_output()
            .stdout
            .clone()
    };
    assert_eq!(run("1"), run("2"));
}

#[test]
fn multivariate_mode_projects_and_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let u = write(dir.path(), "u.npy", gaussian(400, 20, 0.3, 9));
    let r = write(dir.path(), "r.npy", gaussian(400, 20, 0.0, 10));
    let run = |threads: &str| {
        cmd()
            .args(["--threads", threads, "epsilon", "--unlearned"])
            .arg(&u)
            .arg("--retrained")
            .arg(&r)
            .args([
                "--delta",
                "1e-5",
                "--seed",
                "11",
                "--json",
                "--selection",
                "split:0.5",
            ])
            .assert()
            .code(0)
            .get_output()
            .stdout
            .clone()
    };
    let one = run("1");
    assert_eq!(one, run("2"), "bit-identical across thread counts");
    let j = json_of(&one);
    assert_eq!(j["mode"], "multivariate");
    assert_eq!(j["projection"]["n_certify_unlearned"], 200);
    assert!(
        j["epsilon_lower_bound"].as_f64().unwrap() > 0.5,
        "a 20-d shift of 0.3 is visible"
    );
}

#[test]
fn gdp_is_labelled_unless_the_claim_is_gaussian() {
    let dir = tempfile::tempdir().unwrap();
    let u = write(dir.path(), "u.npy", gaussian(5000, 1, 1.0, 12));
    let r = write(dir.path(), "r.npy", gaussian(5000, 1, 0.0, 13));
    let base = |family: &str| {
        let out = cmd()
            .args(["epsilon", "--gdp", "--claim-family", family, "--unlearned"])
            .arg(&u)
            .arg("--retrained")
            .arg(&r)
            .args(["--delta", "1e-5", "--json"])
            .assert()
            .code(0)
            .get_output()
            .stdout
            .clone();
        json_of(&out)
    };
    assert_eq!(base("generic")["gdp"]["status"], "estimate, not a bound");
    let g = base("gaussian");
    assert_eq!(g["gdp"]["status"], "bound");
    assert!(g["gdp"]["epsilon"].as_f64().unwrap() > g["epsilon_lower_bound"].as_f64().unwrap());
}

#[test]
fn planner_reports_runs_per_side() {
    let out = cmd()
        .args([
            "epsilon",
            "plan",
            "--claim-epsilon",
            "0.25",
            "--delta",
            "1e-5",
            "--true-mu",
            "0.268",
            "--json",
        ])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let j = json_of(&out);
    let n = j["runs_per_side"].as_u64().unwrap();
    // The ε = 1 mechanism is refuted at claim 0.25 with 1e5 runs in practice, not with 1e3.
    assert!((1_000..100_000).contains(&n), "{n}");
}

#[test]
fn bad_inputs_exit_2_with_clear_messages() {
    let dir = tempfile::tempdir().unwrap();
    let u1 = write(dir.path(), "u1.npy", gaussian(50, 1, 0.0, 1));
    let r3 = write(dir.path(), "r3.npy", gaussian(50, 3, 0.0, 2));
    let tiny = write(dir.path(), "tiny.npy", gaussian(1, 1, 0.0, 3));
    let mut with_nan = gaussian(50, 1, 0.0, 4);
    with_nan[[7, 0]] = f64::NAN;
    let nan = write(dir.path(), "nan.npy", with_nan);
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                u1.display().to_string(),
                r3.display().to_string(),
                "1e-5".into(),
                "0.95".into(),
            ],
            "dimension",
        ),
        (
            vec![
                nan.display().to_string(),
                u1.display().to_string(),
                "1e-5".into(),
                "0.95".into(),
            ],
            "non-finite",
        ),
        (
            vec![
                tiny.display().to_string(),
                u1.display().to_string(),
                "1e-5".into(),
                "0.95".into(),
            ],
            "at least 2",
        ),
        (
            vec![
                u1.display().to_string(),
                u1.display().to_string(),
                "0".into(),
                "0.95".into(),
            ],
            "delta",
        ),
        (
            vec![
                u1.display().to_string(),
                u1.display().to_string(),
                "1.5".into(),
                "0.95".into(),
            ],
            "delta",
        ),
        (
            vec![
                u1.display().to_string(),
                u1.display().to_string(),
                "1e-5".into(),
                "1".into(),
            ],
            "confidence",
        ),
        (
            vec![
                u1.display().to_string(),
                u1.display().to_string(),
                "1e-5".into(),
                "0".into(),
            ],
            "confidence",
        ),
    ];
    for (args, message) in cases {
        let out = cmd()
            .args([
                "epsilon",
                "--unlearned",
                &args[0],
                "--retrained",
                &args[1],
                "--delta",
                &args[2],
                "--confidence",
                &args[3],
            ])
            .assert()
            .code(2)
            .get_output()
            .stderr
            .clone();
        let text = String::from_utf8_lossy(&out);
        assert!(text.contains(message), "expected `{message}` in: {text}");
    }
}

#[test]
fn all_threshold_selection_reports_its_family_and_is_looser_than_the_grid() {
    let dir = tempfile::tempdir().unwrap();
    let u = write(dir.path(), "u.npy", gaussian(2000, 1, 1.5, 11));
    let r = write(dir.path(), "r.npy", gaussian(1500, 1, 0.0, 12));
    let run = |selection: &str| {
        let out = cmd()
            .args(["epsilon", "--unlearned"])
            .arg(&u)
            .arg("--retrained")
            .arg(&r)
            .args(["--delta", "1e-5", "--selection", selection, "--json"])
            .assert()
            .code(0)
            .get_output()
            .stdout
            .clone();
        json_of(&out)
    };
    let all = run("bonferroni-all");
    assert_eq!(all["selection"]["strategy"], "bonferroni_all");
    assert_eq!(all["error_budget"]["tests_per_example"], 7000);
    let exact = all["selection"]["exact_evaluations"].as_u64().unwrap();
    assert!(exact > 0 && exact < 7000, "{exact}");
    let bound = all["epsilon_lower_bound"].as_f64().unwrap();
    // A 1.5σ shift is about ε ≈ 6.7 at δ = 1e-5: both audits certify well above 0.
    assert!(bound > 1.0, "{bound}");
    let grid = run("bonferroni");
    assert!(grid["epsilon_lower_bound"].as_f64().unwrap() >= bound);
    cmd()
        .args(["epsilon", "--unlearned"])
        .arg(&u)
        .arg("--retrained")
        .arg(&r)
        .args(["--delta", "1e-5", "--selection", "bonferroni-every"])
        .assert()
        .code(2);
}

#[test]
fn holm_correction_flag_reports_its_procedure_and_is_thread_independent() {
    let dir = tempfile::tempdir().unwrap();
    let mut u = gaussian(400, 6, 0.0, 21);
    u.column_mut(1).mapv_inplace(|x| x + 4.0); // examples 1 and 4 leak
    u.column_mut(4).mapv_inplace(|x| x + 4.0);
    let u = write(dir.path(), "u.npy", u);
    let r = write(dir.path(), "r.npy", gaussian(400, 6, 0.0, 22));
    let run = |threads: &str, correction: &str| {
        cmd()
            .args([
                "--threads",
                threads,
                "epsilon",
                "--per-example",
                "--unlearned",
            ])
            .arg(&u)
            .arg("--retrained")
            .arg(&r)
            .args(["--delta", "1e-5", "--claim-epsilon", "1", "--json"])
            .args([
                "--example-correction",
                correction,
                "--selection",
                "bonferroni-all",
            ])
            .assert()
            .code(1)
            .get_output()
            .stdout
            .clone()
    };
    let holm = run("2", "holm");
    assert_eq!(holm, run("1", "holm"));
    let j = json_of(&holm);
    assert_eq!(j["per_example"]["exceeding_claim_correction"], "holm");
    assert_eq!(
        j["per_example"]["examples_exceeding_claim"],
        serde_json::json!([1, 4])
    );
    assert_eq!(j["per_example"]["holm_rounds"], 2);
    assert_eq!(j["selection"]["strategy"], "bonferroni_all");
    let bonferroni = json_of(&run("2", "bonferroni"));
    assert_eq!(
        bonferroni["per_example"]["exceeding_claim_correction"],
        "bonferroni"
    );
    assert!(bonferroni["per_example"]["holm_rounds"].is_null());
    cmd()
        .args(["epsilon", "--per-example", "--unlearned"])
        .arg(&u)
        .arg("--retrained")
        .arg(&r)
        .args(["--delta", "1e-5", "--example-correction", "hochberg"])
        .assert()
        .code(2);
}

/// `--selection lfp` end to end in the three modes: scalar (violated, exit 1, LFP fields),
/// per-example (simultaneous over examples) and multivariate (projection then LFP); Holm with
/// lfp is refused (exit 2). Deterministic (fixed seeds), so this cannot fail by chance.
#[test]
fn lfp_selection_runs_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let run = |u: &Path, r: &Path, extra: &[&str]| {
        cmd()
            .args(["epsilon", "--selection", "lfp", "--unlearned"])
            .arg(u)
            .arg("--retrained")
            .arg(r)
            .args(["--delta", "1e-5", "--json"])
            .args(extra)
            .assert()
    };
    let u = write(dir.path(), "u.npy", gaussian(2000, 1, 1.0, 1));
    let r = write(dir.path(), "r.npy", gaussian(2000, 1, 0.0, 2));
    let out = run(&u, &r, &["--claim-epsilon", "0.5"])
        .code(1)
        .get_output()
        .stdout
        .clone();
    let j = json_of(&out);
    assert_eq!(j["verdict"], "violated");
    assert_eq!(j["selection"]["strategy"], "lfp");
    assert_eq!(
        j["selection"]["lfp"]["deciding_direction"],
        "unlearned_higher"
    );
    assert_eq!(j["test"]["epsilon"], j["epsilon_lower_bound"]);
    assert!(j["epsilon_lower_bound"].as_f64().unwrap() > 0.5);

    let u = write(dir.path(), "pu.npy", gaussian(300, 3, 0.0, 3));
    let r = write(dir.path(), "pr.npy", gaussian(300, 3, 0.0, 4));
    let out = run(&u, &r, &["--per-example"])
        .code(0)
        .get_output()
        .stdout
        .clone();
    let j = json_of(&out);
    assert_eq!(j["mode"], "per_example");
    assert_eq!(
        j["per_example"]["epsilon_lower_bounds"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    // α/3 per example, α/6 per direction: at least 10/α_direction − 1 draws.
    assert!(j["selection"]["lfp"]["draws"].as_u64().unwrap() >= 1199);

    let u = write(dir.path(), "mu.npy", gaussian(400, 5, 0.8, 5));
    let r = write(dir.path(), "mr.npy", gaussian(400, 5, 0.0, 6));
    let out = run(&u, &r, &[]).code(0).get_output().stdout.clone();
    let j = json_of(&out);
    assert_eq!(j["mode"], "multivariate");
    assert!(j["epsilon_lower_bound"].as_f64().unwrap() > 0.0);

    run(
        &u,
        &r,
        &[
            "--per-example",
            "--example-correction",
            "holm",
            "--claim-epsilon",
            "1",
        ],
    )
    .code(2);
}
