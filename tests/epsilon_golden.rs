//! The default audit against an independent numpy/scipy re-implementation of the tail grid
//! (`fixtures/epsilon/make_grid_golden.py`, which also wrote the two sample sets).

use std::path::Path;

use unlearn_audit::audit::{AuditOptions, Claim, audit_epsilon};
use unlearn_audit::io::load_sample_set;
use unlearn_audit::tolerance::relative_eq;

#[test]
fn tail_grid_bound_matches_scipy_reimplementation() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/epsilon");
    let golden: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("grid_golden.json")).unwrap())
            .unwrap();
    let u = load_sample_set(&dir.join("unlearned.npy")).unwrap();
    let r = load_sample_set(&dir.join("retrained.npy")).unwrap();
    let claim = Claim::new(None, 1e-5).unwrap();
    let result = audit_epsilon(&u, &r, &claim, &AuditOptions::default()).unwrap();
    let best = &golden["best"];
    assert_eq!(
        result.error_budget.tests_per_example as u64,
        golden["tests"].as_u64().unwrap()
    );
    assert!(relative_eq(
        result.error_budget.alpha_per_rate,
        golden["alpha_per_rate"].as_f64().unwrap(),
        1e-15
    ));
    assert_eq!(result.test.threshold, best["threshold"].as_f64().unwrap());
    assert_eq!(
        result.test.false_positives,
        best["false_positives"].as_u64().unwrap()
    );
    assert_eq!(
        result.test.false_negatives,
        best["false_negatives"].as_u64().unwrap()
    );
    // scipy's beta.ppf is good to ~1e-11 here; ours rounds outward by an ulp.
    assert!(relative_eq(
        result.test.fpr_upper,
        best["fpr_upper"].as_f64().unwrap(),
        1e-10
    ));
    assert!(relative_eq(
        result.test.fnr_upper,
        best["fnr_upper"].as_f64().unwrap(),
        1e-10
    ));
    assert!(relative_eq(
        result.epsilon_lower_bound,
        best["epsilon"].as_f64().unwrap(),
        1e-9
    ));
    assert!(result.epsilon_lower_bound <= best["epsilon"].as_f64().unwrap() + 1e-12);
}

#[test]
fn neurips_2023_score_matches_numpy_port_of_released_metric() {
    // fixtures/epsilon/make_neurips_golden.py: null, mild shift, perfect separation (∞ → 50),
    // peaky unlearner (cap 50), tied scores, null. float32 rates: compare to 1e-5 relative.
    use unlearn_audit::audit::{neurips_2023_epsilons, neurips_2023_forget_score};
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/epsilon");
    let golden: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("neurips_golden.json")).unwrap())
            .unwrap();
    let u = load_sample_set(&dir.join("neurips_unlearned.npy")).unwrap();
    let r = load_sample_set(&dir.join("neurips_retrained.npy")).unwrap();
    let eps = neurips_2023_epsilons(u.values().view(), r.values().view());
    let want: Vec<f64> = golden["per_example_epsilon"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(eps.len(), want.len());
    for (e, (ours, theirs)) in eps.iter().zip(&want).enumerate() {
        assert!(
            relative_eq(*ours, *theirs, 1e-5),
            "example {e}: {ours} vs {theirs}"
        );
    }
    let score = neurips_2023_forget_score(&eps, u.n_trials());
    assert_eq!(score, golden["forget_score"].as_f64().unwrap());
}

#[test]
fn all_threshold_bound_matches_exhaustive_scipy_reimplementation() {
    // fixtures/epsilon/make_all_threshold_golden.py evaluates all 2 (n_u + n_r) tests with
    // scipy's beta.ppf and no pruning; the pruned search must find the same best test.
    use unlearn_audit::audit::Selection;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/epsilon");
    let golden: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("all_threshold_golden.json")).unwrap(),
    )
    .unwrap();
    let u = load_sample_set(&dir.join("unlearned.npy")).unwrap();
    let r = load_sample_set(&dir.join("retrained.npy")).unwrap();
    let claim = Claim::new(None, 1e-5).unwrap();
    let options = AuditOptions {
        selection: Selection::BonferroniAll,
        ..AuditOptions::default()
    };
    let result = audit_epsilon(&u, &r, &claim, &options).unwrap();
    assert_eq!(result.error_budget.tests_per_example, 11_000);
    assert_eq!(golden["tests"].as_u64().unwrap(), 11_000);
    assert!(relative_eq(
        result.error_budget.alpha_per_rate,
        golden["alpha_per_rate"].as_f64().unwrap(),
        1e-15
    ));
    assert_eq!(result.test.threshold, golden["threshold"].as_f64().unwrap());
    assert_eq!(
        result.test.false_positives_for_bound,
        golden["false_positives_for_bound"].as_u64().unwrap()
    );
    assert_eq!(
        result.test.false_negatives_for_bound,
        golden["false_negatives_for_bound"].as_u64().unwrap()
    );
    for (ours, key) in [
        (result.test.fpr_upper, "fpr_upper"),
        (result.test.fnr_upper, "fnr_upper"),
    ] {
        assert!(
            relative_eq(ours, golden[key].as_f64().unwrap(), 1e-10),
            "{key}"
        );
    }
    let want = golden["epsilon"].as_f64().unwrap();
    assert!(relative_eq(result.epsilon_lower_bound, want, 1e-9));
    // The all-threshold family contains the grid's tests at a smaller α: on this data the
    // tail grid is tighter (references §6.4: the grid beats all-threshold Bonferroni).
    let grid = audit_epsilon(&u, &r, &claim, &AuditOptions::default()).unwrap();
    assert!(grid.epsilon_lower_bound > result.epsilon_lower_bound);
    assert!(result.selection.exact_evaluations.unwrap() < 11_000);
}
