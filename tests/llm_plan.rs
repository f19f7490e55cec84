//! `[llm_mia]` and `[forget_quality]` in plans (`fixtures/llm/llm-plan.toml`) through the
//! binary: the same figures as the goldens of `scripts/openunlearning_reference.py`, the
//! verdict (the equivalence rule with the original as positive control: inconclusive at 30 + 30
//! examples, exit 3), thread-independent JSON, the
//! HTML figures, and plan errors (exit 2 naming the key).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(plan: &Path, threads: usize, out: &Path) -> (i32, String, Option<Value>) {
    let output = Command::new(env!("CARGO_BIN_EXE_unlearn-audit"))
        .current_dir(repo())
        .args(["--threads", &threads.to_string(), "run"])
        .arg(plan)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    let code = output.status.code().unwrap();
    let json = std::fs::read_to_string(out.join("report.json"))
        .ok()
        .map(|t| serde_json::from_str(&t).unwrap());
    (
        code,
        String::from_utf8_lossy(&output.stderr).into_owned(),
        json,
    )
}

fn goldens() -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(repo().join("fixtures/llm/goldens.json")).unwrap(),
    )
    .unwrap()
}

#[test]
fn llm_plan_reproduces_the_goldens_and_signs_no_pass_it_cannot_support() {
    let temp = tempfile::tempdir().unwrap();
    let plan = repo().join("fixtures/llm/llm-plan.toml");
    let (code, stderr, report) = run(&plan, 2, &temp.path().join("t2"));
    let report = report.unwrap_or_else(|| panic!("no report: {stderr}"));
    assert_eq!(code, 3, "{stderr}");
    assert_eq!(report["verdict"]["outcome"], "inconclusive");
    let g = goldens();
    for attack in ["loss", "zlib", "min_k", "min_k_plus_plus"] {
        let ours = report["llm_mia"]["privleak"][attack].as_f64().unwrap();
        let gold = g["privleak"][attack].as_f64().unwrap();
        assert!(
            (ours - gold).abs() <= 1e-12 * gold.abs().max(1.0),
            "{attack}: {ours} vs {gold}"
        );
    }
    let fq = report["forget_quality"]["forget_quality"].as_f64().unwrap();
    let gold = g["forget_quality"]["forget"]["forget_quality"]
        .as_f64()
        .unwrap();
    assert!((fq - gold).abs() <= 1e-9, "{fq} vs {gold}");
    // forget_quality ≥ 0.05 passes; the LLM MIA check is inconclusive (intervals too wide).
    let rules = report["rules"].as_array().unwrap();
    assert_eq!(rules[0]["outcome"], "inconclusive");
    assert_eq!(rules[1]["outcome"], "pass");
    assert_eq!(report["forget_quality"]["epsilon"]["n_unlearned"], 2);
    assert_eq!(report["llm_mia"]["positive_control"], "original");
    assert_eq!(report["llm_mia"]["margin"].as_f64(), Some(0.05));
    assert!(report["llm_mia"]["gaps"][0]["positive_control"]["original_auc"].is_number());
    assert!(report["llm_mia"]["attacks"][0]["original"]["auc"].is_number());
    // The report draws the ROC and the score distributions of the LLM attack and the truth
    // ratios.
    let html = std::fs::read_to_string(temp.path().join("t2/report.html")).unwrap();
    assert!(html.contains("Truth ratio on"), "truth-ratio histogram");
    assert!(html.contains("score on `forget`"), "LLM score histogram");
    assert!(html.contains("<svg"), "figures");
    // Same JSON with one thread (apart from wall times).
    let (_, _, report1) = run(&plan, 1, &temp.path().join("t1"));
    let strip = |mut r: Value| {
        r.as_object_mut().unwrap().remove("wall_times_seconds");
        serde_json::to_string(&r).unwrap()
    };
    assert_eq!(strip(report1.unwrap()), strip(report));
}

fn bad_plan(body: &str, needle: &[&str]) {
    let temp = tempfile::tempdir().unwrap();
    let plan = temp.path().join("plan.toml");
    let fixtures = repo().join("fixtures/llm");
    let text = format!(
        "[plan]\nname = \"bad\"\n\n{}\n",
        body.replace("FIX", &fixtures.display().to_string())
    );
    std::fs::write(&plan, text).unwrap();
    let (code, stderr, _) = run(&plan, 1, &temp.path().join("out"));
    assert_eq!(code, 2, "{stderr}");
    for n in needle {
        assert!(stderr.contains(n), "`{n}` missing from: {stderr}");
    }
}

#[test]
fn bad_llm_plans_exit_2_naming_the_key() {
    bad_plan(
        "[llm_mia]\nunlearned = \"FIX/unlearned\"\nretrained = \"FIX/retrained\"\nk = 0\n",
        &["llm_mia.k"],
    );
    bad_plan(
        "[llm_mia]\nunlearned = \"FIX/unlearned\"\nretrained = \"FIX/retrained\"\nmargin = 0.7\n",
        &["llm_mia.margin"],
    );
    bad_plan(
        "[llm_mia]\nunlearned = \"FIX/nowhere\"\nretrained = \"FIX/retrained\"\n",
        &["llm_mia.unlearned", "nowhere"],
    );
    bad_plan(
        "[llm_mia]\nunlearned = \"FIX/unlearned\"\nretrained = \"FIX/retrained\"\nattacks = [\"gradnorm\"]\n",
        &["llm_mia.attacks", "gradnorm"],
    );
    bad_plan(
        "[forget_quality]\nunlearned = \"FIX/unlearned\"\nretrained = \"FIX/retrained\"\ndelta = 2\n",
        &["forget_quality.delta"],
    );
    // A rule on forget_quality without [forget_quality].
    bad_plan(
        "[llm_mia]\nunlearned = \"FIX/unlearned\"\nretrained = \"FIX/retrained\"\n\n[[rule]]\nmetric = \"forget_quality\"\nat_least = 0.05\n",
        &["forget_quality"],
    );
    // Input errors inside the bundles are exit 2 with the file and the array.
    bad_plan(
        "[forget_quality]\nunlearned = \"FIX/unlearned\"\nretrained = \"FIX/retrained\"\nsplit = \"nosuch\"\n",
        &["answer_losses.npz", "nosuch_correct"],
    );
}
