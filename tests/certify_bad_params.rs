//! Every mechanism and certificate refuses the parameters it cannot compute with (issue 11):
//! exit 2 and a message naming the parameter and the reason, through the binary; and where a
//! capped computation still gives a value, the value is checked (`docs/certificates.md`,
//! `docs/mechanisms.md` §2, parameter caps).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_unlearn-audit"))
}

fn digits() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/mechanisms/digits.csv")
}

fn assert_refused(output: Output, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "`{needle}` not in: {stderr}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
}

fn certify(args: &[&str]) -> Output {
    binary().arg("certify").args(args).output().unwrap()
}

fn json(output: &Output) -> serde_json::Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn guo_certificate_refuses_a_sigma_whose_epsilon_overflows() {
    assert_refused(
        certify(&[
            "guo",
            "--sigma",
            "1e-308",
            "--delta",
            "1e-5",
            "--residual-bound",
            "1",
        ]),
        &["`sigma` = 1e-308", "overflows"],
    );
    // Known answer at an ordinary σ: ε = c·β/σ with c = √(2 ln(1.5/δ)), rounded up.
    let report = json(&certify(&[
        "guo",
        "--sigma",
        "2",
        "--delta",
        "1e-5",
        "--residual-bound",
        "1",
        "--json",
    ]));
    let c = (2.0 * (1.5f64 / 1e-5).ln()).sqrt();
    let epsilon = report["epsilon"].as_f64().unwrap();
    assert!(
        epsilon >= c / 2.0 && epsilon <= c / 2.0 * (1.0 + 1e-14),
        "{epsilon}"
    );
}

#[test]
fn gaussian_family_refuses_a_sigma_too_small_for_any_finite_epsilon() {
    for args in [
        &[
            "gaussian",
            "--sensitivity",
            "1",
            "--sigma",
            "1e-308",
            "--delta",
            "1e-5",
        ][..],
        &[
            "zhang",
            "--approximation-error",
            "1",
            "--sigma",
            "1e-308",
            "--delta",
            "1e-5",
        ],
        &[
            "output-perturbation",
            "--clip-radius",
            "1",
            "--sigma",
            "1e-300",
            "--delta",
            "1e-5",
        ],
    ] {
        assert_refused(certify(args), &["epsilon", "σ is too small"]);
    }
    assert_refused(
        certify(&[
            "koloskova-model-clip",
            "--model-clip",
            "1",
            "--projection-radius",
            "1",
            "--sigma",
            "1e-308",
            "--epsilon",
            "1",
            "--steps",
            "10",
        ]),
        &["`sigma`", "overflows"],
    );
}

#[test]
fn model_clip_accountant_runs_in_bounded_memory_for_any_step_count() {
    let run = |steps: &str, sigma: &str| {
        json(&certify(&[
            "koloskova-model-clip",
            "--model-clip",
            "1",
            "--projection-radius",
            "1",
            "--sigma",
            sigma,
            "--epsilon",
            "0.01",
            "--steps",
            steps,
            "--json",
        ]))
    };
    // σ = 0.2, ε = 0.01: δ_t decreases slowly (0.99999 after 10 steps, 0.56 after 10⁶), so T = 2⁶⁴ − 1 hits the recursion cap; δ after
    // the cap is reported, noted as an upper bound, and equals δ at exactly the cap.
    let huge = run("18446744073709551615", "0.2");
    let at_cap = run("1000000", "0.2");
    assert_eq!(huge["delta"], at_cap["delta"]);
    let notes = huge["notes"].to_string();
    assert!(
        notes.contains("upper bound") && notes.contains("1000000"),
        "{notes}"
    );
    assert!(
        at_cap["notes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| !n.as_str().unwrap().contains("upper bound"))
    );
    // δ never increases with T.
    let few = run("10", "0.2");
    let (d10, dcap) = (
        few["delta"].as_f64().unwrap(),
        huge["delta"].as_f64().unwrap(),
    );
    assert!(dcap < d10 && dcap > 0.5 && dcap < 0.6, "{dcap} vs {d10}");
    // A fast-decaying track stops at its fixed point (or below the smallest normal double)
    // without the note: δ ≤ 2.2250738585072014e-308 for every T past it.
    let fast = run("18446744073709551615", "0.5");
    assert_eq!(fast["delta"].as_f64().unwrap(), f64::MIN_POSITIVE);
    assert!(!fast["notes"].to_string().contains("upper bound"));
}

fn sample(mechanism: &str, extra: &[&str], data: &Path) -> Output {
    let out = tempfile::tempdir().unwrap();
    binary()
        .args(["sample", "--mechanism", mechanism, "--data"])
        .arg(data)
        .args(["--forget", "3,17", "--trials", "1", "--out"])
        .arg(out.path().join("o"))
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn mechanisms_refuse_a_perturbation_that_swamps_the_loss() {
    // The former hang (`guo --sigma 1e10`, and 1e7 which stalled L-BFGS): refused up front.
    for mechanism in ["guo", "retrain", "fisher"] {
        for sigma in ["1e7", "1e10"] {
            assert_refused(
                sample(mechanism, &["--sigma", sigma], &digits()),
                &["`sigma`", "σ·√p/(λn)", "swamps the loss"],
            );
        }
    }
    // The largest σ the message suggests: p = 640, n = 1795 retained rows, λ = 0.01.
    let largest = 1e6 * 0.01 * 1795.0 / 640f64.sqrt();
    let output = sample("guo", &["--sigma", "1e7"], &digits());
    assert!(String::from_utf8_lossy(&output.stderr).contains(&format!("{largest:.3e}")));
}

#[test]
fn mechanisms_refuse_step_counts_beyond_the_cap() {
    let cases: &[(&str, &[&str], &str)] = &[
        (
            "koloskova-model-clip",
            &["--steps", "18446744073709551615"],
            "`steps`",
        ),
        ("koloskova-gradient-clip", &["--steps", "100001"], "`steps`"),
        ("finetune", &["--steps", "1000000000"], "`steps`"),
        ("d2d", &["--steps", "1000000000"], "`steps`"),
        (
            "zhang",
            &["--approximation-error", "0.1", "--steps", "1000000000"],
            "`steps`",
        ),
        (
            "zhang",
            &[
                "--approximation-error",
                "0.1",
                "--lissa-steps",
                "1000000000",
            ],
            "`lissa_steps`",
        ),
        (
            "zhang",
            &["--approximation-error", "0.1", "--hidden", "1000000"],
            "`hidden`",
        ),
    ];
    for (mechanism, args, parameter) in cases {
        assert_refused(sample(mechanism, args, &digits()), &[parameter, "at most"]);
    }
}

#[test]
fn extreme_features_are_refused_naming_the_cell() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(digits()).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let original = lines[1].clone();
    // A cell of 1e308 (the case: every guo run recorded 0 and the certificate still
    // said certified).
    lines[1] = original.replacen("0,", "1e308,", 1);
    let huge = dir.path().join("huge.csv");
    std::fs::write(&huge, lines.join("\n") + "\n").unwrap();
    assert_refused(
        sample("guo", &[], &huge),
        &["huge.csv", "features[0, 0]", "1e308"],
    );
    // A finite but dominating row: every other row would scale to below 1e-12.
    lines[1] = original.replacen("0,", "1e40,", 1);
    let outlier = dir.path().join("outlier.csv");
    std::fs::write(&outlier, lines.join("\n") + "\n").unwrap();
    assert_refused(
        sample("guo", &[], &outlier),
        &["outlier.csv", "features[0, ..]", "median row norm"],
    );
}
