//! Regression tests of issue 10's five false verdicts, each named after its case and run
//! through the binary. (Shared file: each helper adds its own test functions.)

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn command() -> Command {
    Command::cargo_bin("unlearn-audit").unwrap()
}

/// Case 2: `mia --model original --reference retrained` said "indistinguishable from
/// retraining" for the original model, which never unlearned anything (50 forget examples, a
/// gap interval containing 0: absence of evidence). Now: never exit 0; without a positive
/// control the verdict is inconclusive; with the original as its own control the attacks are
/// shown to have no power, still inconclusive. The exported-bundles plan no longer passes
/// `mia_indistinguishable`.
#[test]
fn false_pass_mia_without_power() {
    let d = repo().join("fixtures/digits");
    let base = |model: &str| -> Vec<String> {
        vec![
            "mia".into(),
            "--model".into(),
            d.join(model).display().to_string(),
            "--reference".into(),
            d.join("retrained").display().to_string(),
            "--labels".into(),
            d.join("labels.npz").display().to_string(),
            "--members".into(),
            "forget".into(),
            "--nonmembers".into(),
            "test".into(),
            "--bootstrap".into(),
            "0".into(),
            "--json".into(),
        ]
    };
    // The command, verbatim but for --json and --bootstrap 0 (which change no verdict).
    let output = command().args(base("original")).output().unwrap();
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(output.status.code(), Some(3), "{json:#}");
    assert_eq!(json["outcome"], "inconclusive");
    assert!(
        json["reason"]
            .as_str()
            .unwrap()
            .contains("no positive control"),
        "{json:#}"
    );
    assert!(!String::from_utf8_lossy(&output.stdout).contains("\"pass\""));
    // The text form no longer says "indistinguishable from retraining" as a conclusion.
    let mut text_args = base("original");
    text_args.retain(|a| a != "--json");
    let text = command().args(&text_args).output().unwrap();
    assert_eq!(text.status.code(), Some(3));
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(stdout.contains("Outcome: inconclusive"), "{stdout}");

    // With the original as positive control: the attacks cannot tell the original from the
    // retrained model on these 50 examples, so nothing can pass.
    let mut args = base("unlearned");
    args.extend([
        "--original".into(),
        d.join("original").display().to_string(),
    ]);
    let output = command().args(&args).output().unwrap();
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_ne!(output.status.code(), Some(0), "{json:#}");
    assert_eq!(json["outcome"], "inconclusive");
    let gaps = json["reference"]["gaps"].as_array().unwrap();
    assert!(gaps.iter().all(|g| g["verdict"] != "pass"), "{gaps:#?}");
    assert!(
        gaps.iter()
            .all(|g| g["positive_control"]["has_power"] != Value::Bool(true)),
        "{gaps:#?}"
    );
    assert!(
        json["reason"].as_str().unwrap().contains("no power"),
        "{json:#}"
    );

    // The shipped plan over the exported bundles: `mia_indistinguishable` does not pass.
    let out = tempfile::tempdir().unwrap();
    let plan = command()
        .current_dir(repo())
        .args(["run", "audits/digits-finetune-bundles.toml", "--out"])
        .arg(out.path())
        .output()
        .unwrap();
    assert_ne!(plan.status.code(), Some(0));
    assert_ne!(plan.status.code(), Some(2));
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("report.json")).unwrap())
            .unwrap();
    let rule = report["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| {
            r["rule"]
                .as_str()
                .is_some_and(|s| s.contains("mia_indistinguishable"))
        })
        .unwrap_or_else(|| panic!("{:#}", report["rules"]));
    assert_eq!(rule["outcome"], "inconclusive", "{rule:#}");
    assert!(
        rule["reason"].as_str().unwrap().contains("no power"),
        "{rule:#}"
    );
    // The control beside the verdict, in JSON, Markdown and HTML.
    assert_eq!(
        report["mia"]["positive_control"],
        "../fixtures/digits/original"
    );
    assert_eq!(report["mia"]["margin"].as_f64(), Some(0.05));
    let markdown = std::fs::read_to_string(out.path().join("report.md")).unwrap();
    assert!(markdown.contains("Positive control"), "{markdown}");
    let html = std::fs::read_to_string(out.path().join("report.html")).unwrap();
    assert!(html.contains("Positive control") && html.contains("power"));
}
