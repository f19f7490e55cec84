//! Golden values from `fixtures/mia/make_goldens.py` (sklearn, scipy, numpy reference
//! formulas). Python is not needed to run these: the JSON is committed.

use ndarray::Array2;
use serde_json::Value;
use unlearn_audit::mia::roc::{FprConvention, Roc};
use unlearn_audit::mia::shadow::{
    LiraConfig, LiraMode, LiraVariance, OfflineTest, RmiaConfig, RmiaInput, ShadowMatrix,
    lira_scores, rmia_scores,
};
use unlearn_audit::mia::signals::ALL_SIGNALS;

fn goldens() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/mia/goldens.json"
    ))
    .expect("fixtures/mia/goldens.json");
    serde_json::from_str(&text).expect("valid JSON")
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn matrix<T>(v: &Value, f: impl Fn(&Value) -> T) -> Array2<T> {
    let rows = v.as_array().unwrap();
    let ncols = rows[0].as_array().unwrap().len();
    let flat: Vec<T> = rows
        .iter()
        .flat_map(|r| r.as_array().unwrap().iter().map(&f).collect::<Vec<_>>())
        .collect();
    Array2::from_shape_vec((rows.len(), ncols), flat).unwrap()
}

/// |a − b| ≤ tol · max(|a|, |b|, 1): relative for large values, absolute near 0 (an LRT score
/// is a difference of two log-densities and may cancel to ~0).
fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * a.abs().max(b.abs()).max(1.0)
}

#[test]
fn auc_equals_sklearn_on_every_golden_case() {
    let g = goldens();
    let cases = g["roc_cases"].as_array().unwrap();
    assert!(cases.len() >= 20);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let roc = Roc::new(&floats(&case["members"]), &floats(&case["nonmembers"])).unwrap();
        let expected = case["auc"].as_f64().unwrap();
        assert!(
            (roc.auc() - expected).abs() <= 1e-12,
            "{name}: auc {} vs sklearn {expected}",
            roc.auc()
        );
    }
}

#[test]
fn tpr_at_fpr_matches_the_step_conventions() {
    let g = goldens();
    for case in g["roc_cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let roc = Roc::new(&floats(&case["members"]), &floats(&case["nonmembers"])).unwrap();
        for (key, convention) in [
            ("tpr_at_fpr_at_most", FprConvention::AtMost),
            ("tpr_at_fpr_below", FprConvention::Below),
        ] {
            for (alpha, expected) in case[key].as_object().unwrap() {
                let alpha: f64 = alpha.parse().unwrap();
                let got = roc.tpr_at_fpr(alpha, convention);
                assert_eq!(got, expected.as_f64().unwrap(), "{name} {key} α={alpha}");
            }
        }
        let advantage = case["advantage"].as_f64().unwrap();
        assert!(
            (roc.advantage() - advantage).abs() < 1e-15,
            "{name} advantage"
        );
    }
}

#[test]
fn delong_variance_matches_the_textbook_definition() {
    let g = goldens();
    for case in g["roc_cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let roc = Roc::new(&floats(&case["members"]), &floats(&case["nonmembers"])).unwrap();
        match case["delong_variance"].as_f64() {
            Some(expected) => {
                let got = roc.delong_variance().unwrap();
                assert!(
                    (got - expected).abs() <= 1e-12 * expected.abs().max(1e-6),
                    "{name}: {got} vs {expected}"
                );
            }
            None => assert!(roc.delong_variance().is_none(), "{name}"),
        }
    }
}

#[test]
fn signals_match_scipy() {
    let g = goldens();
    for row in g["signals"].as_array().unwrap() {
        let logits = floats(&row["logits"]);
        let label = row["label"].as_u64().unwrap() as usize;
        for signal in ALL_SIGNALS {
            let expected = row[signal.name()].as_f64().unwrap();
            let got = signal.value(&logits, label);
            assert!(
                (got - expected).abs() <= 1e-12 * expected.abs().max(1e-3),
                "{} on {logits:?} y={label}: {got} vs {expected}",
                signal.name()
            );
        }
    }
}

#[test]
fn lira_scores_equal_the_reference_formulas() {
    let g = goldens();
    let lira = &g["lira"];
    let scores = matrix(&lira["scores"], |v| v.as_f64().unwrap());
    let keep = matrix(&lira["keep"], |v| v.as_bool().unwrap());
    let target = floats(&lira["target"]);
    let shadow = ShadowMatrix {
        scores: scores.view(),
        membership: keep.view(),
    };
    let results = lira["results"].as_object().unwrap();
    assert_eq!(results.len(), 9);
    for (key, expected) in results {
        let variance = if key.contains("fixed_carlini") {
            LiraVariance::FixedCarlini
        } else if key.contains("fixed") {
            LiraVariance::Fixed
        } else {
            LiraVariance::PerExample
        };
        let mode = if key.starts_with("online") {
            LiraMode::Online
        } else if key.ends_with("one_sided") {
            LiraMode::Offline(OfflineTest::OneSided)
        } else {
            LiraMode::Offline(OfflineTest::TwoSidedLogpdf)
        };
        let got = lira_scores(&shadow, &target, LiraConfig { mode, variance }).unwrap();
        for (i, (a, b)) in got.iter().zip(floats(expected)).enumerate() {
            assert!(close(*a, b, 1e-9), "{key} point {i}: {a} vs {b}");
        }
    }
}

#[test]
fn rmia_scores_equal_the_dense_reference() {
    let g = goldens();
    let rmia = &g["rmia"];
    let reference_x = matrix(&rmia["reference_x"], |v| v.as_f64().unwrap());
    let reference_x_in = matrix(&rmia["reference_x_in"], |v| v.as_bool().unwrap());
    let reference_z = matrix(&rmia["reference_z"], |v| v.as_f64().unwrap());
    let target_x = floats(&rmia["target_x"]);
    let target_z = floats(&rmia["target_z"]);
    let input = RmiaInput {
        target_x: &target_x,
        reference_x: ShadowMatrix {
            scores: reference_x.view(),
            membership: reference_x_in.view(),
        },
        target_z: &target_z,
        reference_z: reference_z.view(),
    };
    let results = rmia["results"].as_object().unwrap();
    for (key, expected) in results {
        // key: {online|offline}_a{a}_g{gamma}
        let parts: Vec<&str> = key.split('_').collect();
        let config = RmiaConfig {
            online: parts[0] == "online",
            offline_a: parts[1][1..].parse().unwrap(),
            gamma: parts[2][1..].parse().unwrap(),
        };
        let got = rmia_scores(&input, config).unwrap();
        assert_eq!(got, floats(expected), "{key}");
    }
}
