//! Regression tests for the independent review of issues 10 and 11 (false passes, aborts and
//! vacuous certificates found by trying to break the binary), each named after its finding and
//! run through the binary on files generated here or shipped in `fixtures/`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(path: &str) -> String {
    repo().join(path).display().to_string()
}

fn binary(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_unlearn-audit"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn run_plan(dir: &Path, text: &str) -> (Output, Option<serde_json::Value>) {
    let plan = dir.join("plan.toml");
    std::fs::write(&plan, text).unwrap();
    let out = dir.join("out");
    let output = binary(&[
        "run",
        plan.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let report = std::fs::read_to_string(out.join("report.json"))
        .ok()
        .map(|t| serde_json::from_str(&t).unwrap());
    (output, report)
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn rule_outcome(report: &serde_json::Value, index: usize) -> String {
    report["rules"][index]["outcome"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// A `[certify]` block used to replace the mechanism's own certificate: a faulty mechanism
/// (`guo-no-perturbation`) plus a Gaussian certificate at σ = 100 passed
/// `certificate_covers_claim`. The mechanism's own status must be judged too.
#[test]
fn certify_block_does_not_mask_a_faulty_mechanism() {
    let dir = tempfile::tempdir().unwrap();
    let data = fixture("fixtures/digits/digits.csv");
    let plan = format!(
        r#"[plan]
name = "faulty mechanism behind a certify block"
seed = 11
[claim]
epsilon = 1.0
delta = 1e-5
space = "outputs"
[evidence.mechanism]
name = "guo-no-perturbation"
data = "{data}"
forget_count = 10
trials = 2
record = "statistic"
sigma = 1.0
epsilon = 1.0
delta = 1e-5
[epsilon]
[certify]
mechanism = "gaussian"
sigma = 100.0
sensitivity = 1.0
[[rule]]
check = "certificate_covers_claim"
"#
    );
    let (output, report) = run_plan(dir.path(), &plan);
    let report = report.expect("a report");
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(rule_outcome(&report, 0), "fail", "{:#}", report["rules"]);
    let reason = report["rules"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("faulty"), "{reason}");
}

/// `mia.max_auc_gap ≤ 0.1` passed for the original model submitted as the unlearned one: the
/// attacks have no power on the digits fixture, so a small gap shows nothing.
#[test]
fn mia_gap_rule_without_power_is_not_a_pass() {
    let dir = tempfile::tempdir().unwrap();
    let plan = format!(
        r#"[plan]
name = "do-nothing model, gap rule"
seed = 1
[evidence]
original = "{original}"
unlearned = "{original}"
retrained = "{retrained}"
labels = "{labels}"
[mia]
[[rule]]
metric = "mia.max_auc_gap"
at_most = 0.1
"#,
        original = fixture("fixtures/digits/original"),
        retrained = fixture("fixtures/digits/retrained"),
        labels = fixture("fixtures/digits/labels.npz"),
    );
    let (output, report) = run_plan(dir.path(), &plan);
    let report = report.expect("a report");
    assert_ne!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        rule_outcome(&report, 0),
        "inconclusive",
        "{:#}",
        report["rules"]
    );
}

/// `epsilon.lower_bound ≤ 1` passed on 2 runs per side, whose audit cannot certify anything
/// (its ceiling is 0): a bound that could not have exceeded the threshold shows nothing.
#[test]
fn epsilon_bound_rule_without_power_is_not_a_pass() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, values: &[f64]| {
        let path = dir.path().join(name);
        let array = ndarray::Array2::from_shape_vec((values.len(), 1), values.to_vec()).unwrap();
        ndarray_npy::write_npy(&path, &array).unwrap();
        path.display().to_string()
    };
    let unlearned = write("u.npy", &[0.0, 1.0]);
    let retrained = write("r.npy", &[50.0, 51.0]);
    let plan = format!(
        r#"[plan]
name = "two runs"
seed = 1
[claim]
epsilon = 1.0
delta = 1e-5
space = "outputs"
[evidence]
unlearned_samples = "{unlearned}"
retrained_samples = "{retrained}"
[epsilon]
[[rule]]
metric = "epsilon.lower_bound"
at_most = 1.0
"#
    );
    let (output, report) = run_plan(dir.path(), &plan);
    let report = report.expect("a report");
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert_eq!(
        rule_outcome(&report, 0),
        "inconclusive",
        "{:#}",
        report["rules"]
    );
}

/// r′ = r gave a noise floor of 0, and every distance rule passed on any movement.
#[test]
fn retrained_again_that_is_the_retrained_bundle_is_refused() {
    let retrained = fixture("fixtures/digits/retrained");
    let base = [
        "compare",
        "--original",
        &fixture("fixtures/digits/original"),
        "--unlearned",
        &fixture("fixtures/digits/unlearned"),
        "--retrained",
    ];
    let mut args = base.to_vec();
    args.extend([retrained.as_str(), "--retrained-again", retrained.as_str()]);
    let output = binary(&args);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("independent"),
        "{}",
        stderr(&output)
    );

    // A byte-identical copy in another directory is refused too (d(r′, r) = 0 everywhere).
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy");
    std::fs::create_dir(&copy).unwrap();
    for entry in std::fs::read_dir(&retrained).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), copy.join(entry.file_name())).unwrap();
    }
    let mut args = base.to_vec();
    let copy = copy.display().to_string();
    args.extend([retrained.as_str(), "--retrained-again", copy.as_str()]);
    let output = binary(&args);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("identical"), "{}", stderr(&output));
}

/// `--confidence 1e-9` turned an inconclusive MIA check into a pass.
#[test]
fn mia_confidence_below_the_verdict_floor_is_refused() {
    let output = binary(&[
        "mia",
        "--model",
        &fixture("fixtures/digits/unlearned"),
        "--reference",
        &fixture("fixtures/digits/retrained"),
        "--original",
        &fixture("fixtures/digits/original"),
        "--labels",
        &fixture("fixtures/digits/labels.npz"),
        "--members",
        "forget",
        "--nonmembers",
        "test",
        "--confidence",
        "1e-9",
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("confidence"),
        "{}",
        stderr(&output)
    );
}

/// `--trials 10¹²` aborted with a 224 TB allocation (exit 134); now exit 2 naming the flag.
#[test]
fn huge_trial_count_is_refused_before_allocating() {
    let dir = tempfile::tempdir().unwrap();
    let output = binary(&[
        "sample",
        "--mechanism",
        "guo",
        "--data",
        &fixture("fixtures/digits/digits.csv"),
        "--forget-count",
        "10",
        "--trials",
        "1000000000000",
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("--trials"), "{}", stderr(&output));
}

/// `--threads 100000` hung spawning threads; now exit 2 naming the flag.
#[test]
fn absurd_thread_count_is_refused() {
    let output = binary(&[
        "--threads",
        "100000",
        "certify",
        "gaussian",
        "--sensitivity",
        "1",
        "--epsilon",
        "1",
        "--delta",
        "1e-5",
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("--threads"), "{}", stderr(&output));
}

/// σ overflowing to infinity was `certified` with `sigma: null`.
#[test]
fn gaussian_sigma_beyond_f64_is_an_error() {
    let output = binary(&[
        "certify",
        "gaussian",
        "--sensitivity",
        "1e308",
        "--epsilon",
        "1e-300",
        "--delta",
        "1e-300",
        "--json",
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("sigma"), "{}", stderr(&output));
}

/// A certificate with δ = 1 holds for every pair of distributions: it is not `certified`.
#[test]
fn vacuous_certificate_is_not_certified() {
    let certificate = unlearn_audit::certify::Certificate::certified(1.0, 1.0, "test");
    let json = serde_json::to_value(&certificate).unwrap();
    assert_eq!(json["status"], "none", "{json:#}");
    assert!(json["reason"].as_str().unwrap().contains("vacuous"));
    let claim = unlearn_audit::evidence::Claim::new(Some(1.0), 1e-5).unwrap();
    assert!(matches!(
        certificate.covers(&claim),
        unlearn_audit::report::Outcome::Inconclusive { .. }
    ));
    let sound = unlearn_audit::certify::Certificate::certified(1.0, 1e-6, "test");
    assert_eq!(serde_json::to_value(&sound).unwrap()["status"], "certified");
}

/// A plan whose only rule is `claim_not_violated` passed on a consistent audit: a lower bound
/// can refute a claim, never establish it, so such a plan is inconclusive. With a rule that
/// shows the property beside it (here a covering certificate) it can pass.
#[test]
fn plan_of_refutation_only_rules_is_not_a_pass() {
    let dir = tempfile::tempdir().unwrap();
    // 400 runs per side from one distribution (a deterministic quantile grid): the audit is
    // consistent with ε = 1 and has the power to refute it (ceiling above 1).
    let grid: Vec<f64> = (0..400).map(|i| (i as f64 + 0.5) / 400.0).collect();
    let write = |name: &str| {
        let path = dir.path().join(name);
        let array = ndarray::Array2::from_shape_vec((grid.len(), 1), grid.clone()).unwrap();
        ndarray_npy::write_npy(&path, &array).unwrap();
        path.display().to_string()
    };
    let (unlearned, retrained) = (write("u.npy"), write("r.npy"));
    let base = format!(
        r#"[plan]
name = "not refuted"
seed = 1
[claim]
epsilon = 1.0
delta = 1e-5
space = "outputs"
[evidence]
unlearned_samples = "{unlearned}"
retrained_samples = "{retrained}"
[epsilon]
[[rule]]
check = "claim_not_violated"
"#
    );
    let (output, report) = run_plan(dir.path(), &base);
    let report = report.expect("a report");
    assert_eq!(rule_outcome(&report, 0), "pass", "{:#}", report["rules"]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let reason = report["verdict"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("refute"), "{:#}", report["verdict"]);

    let with_certificate = format!(
        "{base}[certify]\nmechanism = \"gaussian\"\nsigma = 10.0\nsensitivity = 1.0\n\
         [[rule]]\ncheck = \"certificate_covers_claim\"\n"
    );
    let (output, report) = run_plan(dir.path(), &with_certificate);
    let report = report.expect("a report");
    assert_eq!(output.status.code(), Some(0), "{:#}", report["rules"]);
}
