//! Holm's step-down for the per-example list of examples exceeding the claim
//! (`docs/epsilon.md` §4.1): never fewer than Bonferroni, the same verdict, nothing under the
//! null, and each extra example justified by its own audit at the step-down level.

use ndarray::Array2;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use unlearn_audit::audit::{AuditOptions, Claim, ExampleCorrection, audit_epsilon};
use unlearn_audit::io::SampleSet;

/// `n` runs × one column per shift: column e is N(shifts[e], 1).
fn runs(n: usize, shifts: &[f64], seed: u64) -> SampleSet {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    SampleSet::new(
        format!("synthetic-{seed}"),
        Array2::from_shape_fn((n, shifts.len()), |(_, e)| {
            shifts[e] + rng.sample::<f64, _>(StandardNormal)
        }),
    )
    .unwrap()
}

fn options(correction: ExampleCorrection) -> AuditOptions {
    AuditOptions {
        per_example: true,
        example_correction: correction,
        ..AuditOptions::default()
    }
}

#[test]
fn holm_finds_at_least_bonferroni_and_each_extra_example_is_justified() {
    // 90 strongly leaking examples (shift 2.5σ) and 10 borderline ones (shift 1.2σ), 400
    // runs per side; claim ε = 1. Once the strong ones are rejected, the borderline ones are
    // re-audited at about α/10 instead of α/100.
    let shifts: Vec<f64> = (0..100).map(|e| if e < 90 { 2.5 } else { 1.2 }).collect();
    let zeros = vec![0.0; 100];
    let u = runs(400, &shifts, 1);
    let r = runs(400, &zeros, 2);
    let claim = Claim::new(Some(1.0), 1e-5).unwrap();
    let bonferroni = audit_epsilon(&u, &r, &claim, &options(ExampleCorrection::Bonferroni))
        .unwrap()
        .per_example
        .unwrap();
    let holm_audit = audit_epsilon(&u, &r, &claim, &options(ExampleCorrection::Holm)).unwrap();
    let holm = holm_audit.per_example.clone().unwrap();
    let (b_list, h_list) = (
        bonferroni.examples_exceeding_claim.unwrap(),
        holm.examples_exceeding_claim.unwrap(),
    );
    assert!(
        b_list.iter().all(|e| h_list.contains(e)),
        "Holm ⊇ Bonferroni"
    );
    assert!(
        h_list.len() > b_list.len(),
        "this configuration needs the step-down"
    );
    assert_eq!(holm.epsilon_lower_bounds, bonferroni.epsilon_lower_bounds);
    assert_eq!(holm_audit.verdict, Some("violated"));
    assert!(holm.holm_rounds.unwrap() >= 2);
    // Consistency with the procedure, each example audited alone (a one-column audit at
    // confidence 1 − a has exactly the per-example budget a): every example Holm adds was
    // rejected at a level ≤ α/(d − |Holm| + 1), so it must exceed the claim there; the final
    // round ran at α/(d − |Holm|) and rejected nothing, so no remaining example exceeds it.
    let alone = |e: usize, level: f64| {
        let column = |s: &SampleSet| {
            SampleSet::new(
                s.source(),
                s.values().slice(ndarray::s![.., e..e + 1]).to_owned(),
            )
            .unwrap()
        };
        let options = AuditOptions {
            confidence: 1.0 - level,
            ..AuditOptions::default()
        };
        audit_epsilon(&column(&u), &column(&r), &claim, &options)
            .unwrap()
            .epsilon_lower_bound
    };
    let d = 100usize;
    for e in 0..d {
        if h_list.contains(&e) && !b_list.contains(&e) {
            assert!(
                alone(e, 0.05 / (d - h_list.len() + 1) as f64) > 1.0,
                "example {e}"
            );
        } else if !h_list.contains(&e) {
            assert!(
                alone(e, 0.05 / (d - h_list.len()) as f64) <= 1.0,
                "example {e}"
            );
        }
    }
}

#[test]
fn holm_rejects_nothing_under_the_null() {
    // Identical distributions: any rejection is a family-wise error, probability ≤ 5 %
    // for this fixed seed's draw; in fact the bounds are all 0 here (deterministic seed).
    let zeros = vec![0.0; 30];
    let u = runs(300, &zeros, 3);
    let r = runs(300, &zeros, 4);
    let claim = Claim::new(Some(0.1), 1e-5).unwrap();
    let holm = audit_epsilon(&u, &r, &claim, &options(ExampleCorrection::Holm)).unwrap();
    let report = holm.per_example.unwrap();
    assert_eq!(report.count_exceeding_claim, Some(0));
    assert_eq!(report.holm_rounds, Some(1));
}

#[test]
fn holm_with_split_selection_is_refused() {
    // Split selection maximises a bound computed at the level, so rejection is not monotone
    // in the level and Holm's step-down would lose its family-wise guarantee.
    let u = runs(40, &[0.0, 0.0], 3);
    let r = runs(40, &[0.0, 0.0], 4);
    let claim = Claim::new(Some(1.0), 1e-5).unwrap();
    let options = AuditOptions {
        selection: unlearn_audit::audit::Selection::Split { fraction: 0.5 },
        ..options(ExampleCorrection::Holm)
    };
    let error = audit_epsilon(&u, &r, &claim, &options)
        .unwrap_err()
        .to_string();
    assert!(error.contains("Holm"), "{error}");
    assert!(error.contains("split"), "{error}");
}
