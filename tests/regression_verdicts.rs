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

/// Cases 3 (overflow) and 4 (no noise floor): bundles generated here, judged by `compare` and
/// by a plan's `unlearned_closer_than_original` check.
mod distances {
    use std::path::{Path, PathBuf};
    use std::process::Command;

    /// A safetensors file of f64 tensors via the official serializer.
    pub fn write_f64_safetensors(path: &Path, tensors: &[(&str, Vec<f64>)]) {
        let bytes: Vec<(String, usize, Vec<u8>)> = tensors
            .iter()
            .map(|(n, v)| {
                (
                    n.to_string(),
                    v.len(),
                    v.iter().flat_map(|x| x.to_le_bytes()).collect(),
                )
            })
            .collect();
        let views: Vec<(String, safetensors::tensor::TensorView)> = bytes
            .iter()
            .map(|(n, len, b)| {
                (
                    n.clone(),
                    safetensors::tensor::TensorView::new(safetensors::Dtype::F64, vec![*len], b)
                        .unwrap(),
                )
            })
            .collect();
        safetensors::serialize_to_file(views, None, path).unwrap();
    }

    /// Bundles `original`, `unlearned`, `retrained`, `retrained_again` under `root`, each with
    /// only a weights file holding the given tensors.
    pub fn bundles(root: &Path, weights: [Vec<(&str, Vec<f64>)>; 4]) -> [PathBuf; 4] {
        let names = ["original", "unlearned", "retrained", "retrained_again"];
        let mut dirs = names.map(|n| root.join(n));
        for (dir, tensors) in dirs.iter_mut().zip(weights) {
            std::fs::create_dir_all(&*dir).unwrap();
            write_f64_safetensors(&dir.join("weights.safetensors"), &tensors);
        }
        dirs
    }

    pub fn binary() -> Command {
        Command::new(env!("CARGO_BIN_EXE_unlearn-audit"))
    }

    /// `compare --json` over the four bundles (r′ only when `with_again`): (exit, JSON or
    /// stderr).
    pub fn compare(dirs: &[PathBuf; 4], with_again: bool) -> (i32, String, String) {
        let mut command = binary();
        command
            .arg("compare")
            .arg("--original")
            .arg(&dirs[0])
            .arg("--unlearned")
            .arg(&dirs[1])
            .arg("--retrained")
            .arg(&dirs[2])
            .arg("--json");
        if with_again {
            command.arg("--retrained-again").arg(&dirs[3]);
        }
        let output = command.output().unwrap();
        (
            output.status.code().unwrap(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    /// Runs a plan with `[compare]` and the `unlearned_closer_than_original` check (and
    /// `extra` rules): (exit code, report.json).
    pub fn plan(
        root: &Path,
        dirs: &[PathBuf; 4],
        with_again: bool,
        extra: &str,
    ) -> (i32, serde_json::Value) {
        let again = if with_again {
            format!("retrained_again = {:?}\n", dirs[3].display().to_string())
        } else {
            String::new()
        };
        let text = format!(
            "[plan]\nname = \"distances\"\n\n[evidence]\noriginal = {:?}\nunlearned = {:?}\n\
             retrained = {:?}\n{again}\n[compare]\n\n[[rule]]\n\
             check = \"unlearned_closer_than_original\"\n{extra}",
            dirs[0].display().to_string(),
            dirs[1].display().to_string(),
            dirs[2].display().to_string(),
        );
        let path = root.join(format!("plan-{with_again}.toml"));
        std::fs::write(&path, text).unwrap();
        let out = root.join(format!("out-{with_again}"));
        let output = binary()
            .arg("run")
            .arg(&path)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        let code = output.status.code().unwrap();
        let json = std::fs::read_to_string(out.join("report.json")).unwrap_or_else(|_| {
            panic!(
                "no report (exit {code}): {}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
        (code, serde_json::from_str(&json).unwrap())
    }

    pub fn close(value: &serde_json::Value, expected: f64) {
        let actual = value
            .as_f64()
            .unwrap_or_else(|| panic!("not a number: {value}"));
        assert!(
            (actual / expected - 1.0).abs() < 1e-12,
            "{actual} vs expected {expected}"
        );
    }

    pub fn check<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
        report["rules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["check"] == name || r["metric"] == name)
            .unwrap_or_else(|| panic!("no rule {name}: {report:#}"))
    }
}

/// Case 3: weights of magnitude 1e300 overflowed the sums of squares to inf; `compare` printed
/// `null` without a reason and `unlearned_closer_than_original` passed although
/// d(u, r) = 3·10¹⁶¹ > d(o, r) = 3·10¹⁵⁶. With scaled sums every distance is finite and exact,
/// and the check fails; a distance that f64 cannot hold is exit 2 naming the file and tensor.
#[test]
fn false_pass_distance_overflow() {
    use distances::*;
    let temp = tempfile::tempdir().unwrap();
    let big: Vec<f64> = vec![1e300; 4];
    let w = |v: f64| vec![v; 9];
    let dirs = bundles(
        temp.path(),
        [
            vec![("big", big.clone()), ("w", w(1e156))],
            vec![("big", big.clone()), ("w", w(1e161))],
            vec![("big", big.clone()), ("w", w(0.0))],
            vec![("big", big.clone()), ("w", w(1e150))],
        ],
    );
    let (code, stdout, stderr) = compare(&dirs, true);
    assert_eq!(code, 0, "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let weights = &json["weights"];
    close(&weights["verification_error"], 3e161);
    close(&weights["original_to_retrained"], 3e156);
    close(&weights["original_to_unlearned"], 3e161 * (1.0 - 1e-5));
    close(&weights["retrained_norm"], 2e300);
    close(&weights["verification_error_relative"], 1.5e-139);
    close(&json["noise_floor"]["weights"]["verification_error"], 3e150);
    let row = &json["ordering"][0];
    assert_eq!(row["distance"], "verification_error");
    assert_eq!(row["unlearned_closer_than_original"], false);
    assert_eq!(row["movement"], "farther");

    let (code, report) = plan(temp.path(), &dirs, true, "");
    assert_eq!(code, 1, "{report:#}");
    let rule = check(&report, "unlearned_closer_than_original");
    assert_eq!(rule["outcome"], "fail", "{rule:#}");
    close(&rule["value"], 3e161);
    // Without r′ nothing can pass either way: inconclusive, never a pass.
    let (code, report) = plan(temp.path(), &dirs, false, "");
    assert_eq!(code, 3, "{report:#}");
    assert_eq!(
        check(&report, "unlearned_closer_than_original")["outcome"],
        "inconclusive"
    );

    // A difference that f64 cannot hold (1e308 − (−1e308)): exit 2 naming file and tensor.
    let temp = tempfile::tempdir().unwrap();
    let dirs = bundles(
        temp.path(),
        [
            vec![("layer.weight", vec![0.0, 1e308])],
            vec![("layer.weight", vec![0.0, 1e308])],
            vec![("layer.weight", vec![0.0, -1e308])],
            vec![("layer.weight", vec![0.0, -1e308])],
        ],
    );
    let (code, stdout, stderr) = compare(&dirs, false);
    assert_eq!(code, 2, "{stdout}");
    assert!(stderr.contains("layer.weight"), "{stderr}");
    assert!(stderr.contains("weights.safetensors"), "{stderr}");
    assert!(stderr.contains("exceeds the largest f64"), "{stderr}");
    assert!(stdout.is_empty(), "no JSON for an unrepresentable distance");
}

/// Case 4: models trained independently sit at the noise floor: d(u, r) = 25.7,
/// d(o, r) = 25.4 and d(r, r′) = 25.1. "Unlearning did not move the model towards retraining"
/// was reported as a failure; the difference (0.3) is far inside the noise floor, so the check
/// is inconclusive, and so is every distance rule.
#[test]
fn false_fail_no_noise_floor() {
    use distances::*;
    let temp = tempfile::tempdir().unwrap();
    let dirs = bundles(
        temp.path(),
        [
            vec![("w", vec![0.0, 25.4, 0.0])],
            vec![("w", vec![25.7, 0.0, 0.0])],
            vec![("w", vec![0.0, 0.0, 0.0])],
            vec![("w", vec![0.0, 0.0, 25.1])],
        ],
    );
    let (code, stdout, stderr) = compare(&dirs, true);
    assert_eq!(code, 0, "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    close(&json["weights"]["verification_error"], 25.7);
    close(&json["weights"]["original_to_retrained"], 25.4);
    close(&json["noise_floor"]["weights"]["verification_error"], 25.1);
    let row = &json["ordering"][0];
    assert_eq!(row["movement"], "within_noise_floor");
    close(&row["fraction_moved"], 1.0 - 25.7 / 25.4);
    close(&row["retrained_again_to_retrained"], 25.1);

    let (code, report) = plan(
        temp.path(),
        &dirs,
        true,
        "\n[[rule]]\nmetric = \"verification_error\"\nat_most = 100.0\n",
    );
    assert_eq!(code, 3, "{report:#}");
    let rule = check(&report, "unlearned_closer_than_original");
    assert_eq!(rule["outcome"], "inconclusive", "{rule:#}");
    assert!(
        rule["reason"].as_str().unwrap().contains("noise floor"),
        "{rule:#}"
    );
    // The original satisfies the bound too: a generous threshold cannot pass.
    assert_eq!(
        check(&report, "verification_error")["outcome"],
        "inconclusive"
    );
    assert_eq!(
        report["sanity_ordering"]["rows"][0]["movement"],
        "within_noise_floor"
    );

    // The same distances without r′: no noise estimate, still inconclusive (never a fail).
    let (code, report) = plan(temp.path(), &dirs, false, "");
    assert_eq!(code, 3, "{report:#}");
    let rule = check(&report, "unlearned_closer_than_original");
    assert_eq!(rule["outcome"], "inconclusive", "{rule:#}");
    assert!(
        rule["reason"]
            .as_str()
            .unwrap()
            .contains("no noise estimate"),
        "{rule:#}"
    );
    assert!(
        report["compare"]["noise_floor"].is_null()
            && report["compare"]["noise_floor_reason"].is_string(),
        "{:#}",
        report["compare"]
    );
}

/// Case 2: an attack without power never passes (its own helpers, hence a module).
mod mia_power {

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
        // The issue's command, verbatim but for --json and --bootstrap 0 (which change no verdict).
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
}
