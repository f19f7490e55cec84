//! `unlearn-audit certify` end to end: outputs and the bad-input matrix (exit 2, the
//! parameter and the assumption named, no number printed).

use assert_cmd::Command;
use predicates::prelude::*;

fn certify(args: &[&str]) -> assert_cmd::assert::Assert {
    Command::cargo_bin("unlearn-audit")
        .unwrap()
        .arg("certify")
        .args(args)
        .assert()
}

#[test]
fn gaussian_json_has_contract_fields() {
    let output = certify(&[
        "gaussian",
        "--sensitivity",
        "1",
        "--epsilon",
        "1",
        "--delta",
        "1e-5",
        "--json",
    ])
    .success()
    .get_output()
    .stdout
    .clone();
    let value: serde_json::Value = serde_json::from_slice(&output).unwrap();
    let sigma = value["sigma"].as_f64().unwrap();
    assert!((sigma / 3.7306316 - 1.0).abs() < 1e-6, "{value}");
    assert_eq!(value["epsilon"].as_f64(), Some(1.0));
    assert_eq!(value["delta"].as_f64(), Some(1e-5));
    assert_eq!(value["calibration"], "analytic");
    assert_eq!(value["outcome"], "info");
}

#[test]
fn gaussian_classical_table() {
    certify(&[
        "gaussian",
        "--sensitivity",
        "1",
        "--epsilon",
        "1",
        "--delta",
        "1e-5",
        "--calibration",
        "classical",
    ])
    .success()
    .stdout(predicate::str::contains("| sigma").and(predicate::str::contains("4.845")))
    .stdout(predicate::str::contains("classical"));
}

#[test]
fn mechanisms_print_epsilon_and_delta() {
    let cases: [&[&str]; 8] = [
        &[
            "guo",
            "--residual-bound",
            "0.1426799",
            "--sigma",
            "1",
            "--delta",
            "1e-4",
        ],
        &[
            "guo",
            "--lambda",
            "0.1",
            "--n",
            "4",
            "--epsilon",
            "1",
            "--delta",
            "1e-4",
        ],
        &[
            "d2d",
            "--n",
            "1000",
            "--iterations",
            "25",
            "--lipschitz",
            "1.05",
            "--strong-convexity",
            "0.05",
            "--smoothness",
            "3.95",
            "--epsilon",
            "5",
            "--delta",
            "1e-6",
            "--calibration",
            "zcdp",
        ],
        &[
            "sekhari",
            "--hessian-lipschitz",
            "1",
            "--lipschitz",
            "1",
            "--strong-convexity",
            "0.1",
            "--deletions",
            "10",
            "--n",
            "10000",
            "--epsilon",
            "1",
            "--delta",
            "1e-5",
        ],
        &[
            "zhang",
            "--approximation-error",
            "0.5",
            "--sigma",
            "0.001",
            "--delta",
            "1e-5",
        ],
        &[
            "koloskova-gradient-clip",
            "--model-clip",
            "1",
            "--gradient-clip",
            "1",
            "--step-size",
            "0.1",
            "--steps",
            "10",
            "--sigma",
            "0.8944272",
            "--delta",
            "1e-5",
        ],
        &[
            "koloskova-model-clip",
            "--model-clip",
            "7",
            "--projection-radius",
            "1",
            "--sigma",
            "1",
            "--epsilon",
            "1",
            "--steps",
            "5",
        ],
        &[
            "output-perturbation",
            "--clip-radius",
            "1",
            "--epsilon",
            "1",
            "--delta",
            "1e-5",
        ],
    ];
    for args in cases {
        let mut full = args.to_vec();
        full.push("--json");
        let output = certify(&full).success().get_output().stdout.clone();
        let value: serde_json::Value = serde_json::from_slice(&output).unwrap();
        assert!(value["epsilon"].as_f64().is_some(), "{args:?}: {value}");
        assert!(value["delta"].as_f64().is_some(), "{args:?}: {value}");
    }
    let output = certify(&[
        "koloskova-gradient-clip",
        "--model-clip",
        "1",
        "--gradient-clip",
        "1",
        "--step-size",
        "0.1",
        "--steps",
        "10",
        "--sigma",
        "0.8944272",
        "--delta",
        "1e-5",
        "--alpha-min",
        "1.001",
        "--alpha-max",
        "1000",
        "--json",
    ])
    .success()
    .get_output()
    .stdout
    .clone();
    let value: serde_json::Value = serde_json::from_slice(&output).unwrap();
    let epsilon = value["epsilon"].as_f64().unwrap();
    assert!((epsilon / 7.0771966958 - 1.0).abs() < 1e-6, "{value}");
    assert!(value["intermediate"]["alpha"].as_f64().is_some());
}

#[test]
fn invalid_parameters_exit_2_naming_parameter_and_assumption() {
    let cases: [(&[&str], &str, &str); 8] = [
        (
            &[
                "gaussian",
                "--sensitivity",
                "1",
                "--epsilon",
                "0",
                "--delta",
                "1e-5",
            ],
            "epsilon",
            "> 0",
        ),
        (
            &[
                "gaussian",
                "--sensitivity",
                "1",
                "--epsilon=-1",
                "--delta",
                "1e-5",
            ],
            "epsilon",
            "> 0",
        ),
        (
            &[
                "gaussian",
                "--sensitivity",
                "1",
                "--epsilon",
                "1",
                "--delta",
                "1",
            ],
            "delta",
            "(0, 1)",
        ),
        (
            &[
                "gaussian",
                "--sensitivity",
                "1",
                "--epsilon",
                "1",
                "--delta",
                "0",
            ],
            "delta",
            "(0, 1)",
        ),
        (
            &[
                "gaussian",
                "--sensitivity",
                "1",
                "--sigma",
                "0",
                "--delta",
                "1e-5",
            ],
            "sigma",
            "> 0",
        ),
        (
            &[
                "d2d",
                "--n",
                "1000",
                "--iterations",
                "10",
                "--lipschitz",
                "1",
                "--strong-convexity",
                "1",
                "--smoothness",
                "3",
                "--step-size",
                "0.6",
                "--epsilon",
                "1",
                "--delta",
                "1e-5",
            ],
            "step_size",
            "2/(m + M)",
        ),
        (
            &[
                "koloskova-gradient-clip",
                "--model-clip",
                "1",
                "--gradient-clip",
                "1",
                "--step-size",
                "2",
                "--weight-decay",
                "0.5",
                "--steps",
                "10",
                "--sigma",
                "1",
                "--delta",
                "1e-5",
            ],
            "step_size",
            "ηλ",
        ),
        (
            &[
                "sekhari",
                "--hessian-lipschitz",
                "1",
                "--lipschitz",
                "1",
                "--strong-convexity",
                "0.1",
                "--deletions",
                "10",
                "--n",
                "10",
                "--epsilon",
                "1",
                "--delta",
                "1e-5",
            ],
            "deletions",
            "< n",
        ),
    ];
    for (args, parameter, assumption) in cases {
        certify(args)
            .code(2)
            .stdout(predicate::str::is_empty())
            .stderr(predicate::str::contains(format!("`{parameter}`")))
            .stderr(predicate::str::contains(assumption));
    }
    // Both --epsilon and --sigma: a usage error.
    certify(&[
        "gaussian",
        "--sensitivity",
        "1",
        "--epsilon",
        "1",
        "--sigma",
        "1",
        "--delta",
        "1e-5",
    ])
    .code(2);
}
