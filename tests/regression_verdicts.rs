//! Regression tests for the verdict layer (issue 10), each named after the case it guards and
//! run through the binary on real files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run_plan(plan: &Path, out: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_unlearn-audit"))
        .args(["run"])
        .arg(plan)
        .arg("--out")
        .arg(out)
        .output()
        .expect("the binary runs")
}

fn report(out: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap()
}

/// Case 1: a mechanism certificate whose theorem's assumption is measured false (zhang with an
/// approximation-error bound Δ = 0.5 below the measured ‖w̃ − w̃*‖ ≈ 2.9) claims (0.5, 1e-5),
/// exactly the plan's claim. It used to pass `certificate_covers_claim` (the status string was
/// read by no rule) and the whole plan passed. Now the check fails, naming the assumption, and
/// the plan fails (exit 1).
#[test]
fn false_pass_certificate_assumption_violated() {
    let dir = tempfile::tempdir().unwrap();
    let data = repo().join("fixtures/digits/digits.csv");
    let plan = dir.path().join("zhang.toml");
    std::fs::write(
        &plan,
        format!(
            r#"[plan]
name = "zhang with a false approximation-error bound"
seed = 5

[claim]
epsilon = 0.5
delta = 1e-5
space = "weights"

[evidence.mechanism]
name = "zhang"
data = "{}"
forget = [3, 17]
trials = 10
record = "weights"
approximation_error = 0.5
epsilon = 0.5
hidden = 4

[epsilon]

[[rule]]
check = "certificate_covers_claim"
"#,
            data.display().to_string().replace('\\', "\\\\")
        ),
    )
    .unwrap();
    let out = dir.path().join("out");
    let output = run_plan(&plan, &out);
    assert_eq!(
        output.status.code(),
        Some(1),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = report(&out);
    assert_eq!(
        report["mechanism"]["certificate"]["status"],
        "assumption_violated"
    );
    // The certificate's numbers alone would cover the claim: only its status refuses it.
    assert_eq!(report["mechanism"]["certificate"]["epsilon"], 0.5);
    let rule = &report["rules"][0];
    assert_eq!(rule["check"], "certificate_covers_claim");
    assert_eq!(rule["outcome"], "fail");
    let reason = rule["reason"].as_str().unwrap();
    assert!(reason.contains("assumption is violated"), "{reason}");
    assert!(reason.contains("approximation-error bound"), "{reason}");
    assert_eq!(report["verdict"]["outcome"], "fail");
}

/// Case 5: a rule on a misspelled split (`js.forgt`) used to compute every analysis and exit 3.
/// It is now a plan error before anything runs: exit 2, naming the key, its line and the
/// splits the bundles have.
#[test]
fn rule_on_misspelled_metric_is_exit_2_at_validation() {
    let dir = tempfile::tempdir().unwrap();
    let bundles = repo().join("fixtures/digits");
    let plan = dir.path().join("typo.toml");
    let text = format!(
        r#"[plan]
name = "typo"

[evidence]
original = "{0}/original"
unlearned = "{0}/unlearned"
retrained = "{0}/retrained"

[compare]

[[rule]]
metric = "js.forgt"
at_most = 0.02
"#,
        bundles.display().to_string().replace('\\', "\\\\")
    );
    std::fs::write(&plan, &text).unwrap();
    let out = dir.path().join("out");
    let output = run_plan(&plan, &out);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "stderr: {stderr}");
    assert!(stderr.contains("rule[0].metric"), "{stderr}");
    assert!(stderr.contains("typo.toml:12:"), "{stderr}");
    assert!(stderr.contains("no split `forgt`"), "{stderr}");
    assert!(stderr.contains("forget"), "{stderr}");
    // Nothing ran: no report was written.
    assert!(!out.join("report.json").exists());

    // accuracy_gap needs labels: without evidence.labels it is a plan error too.
    std::fs::write(&plan, text.replace("js.forgt", "accuracy_gap.forget")).unwrap();
    let output = run_plan(&plan, &out);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "stderr: {stderr}");
    assert!(stderr.contains("evidence.labels"), "{stderr}");

    // The correctly spelled split validates (whatever the verdict, it is not exit 2).
    std::fs::write(&plan, text.replace("js.forgt", "js.forget")).unwrap();
    let output = run_plan(&plan, &out);
    assert_ne!(
        output.status.code(),
        Some(2),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
