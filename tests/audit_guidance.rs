//! Guidance figures checked against brute force: the audit's samples-needed figure in every
//! mode, the planner's per-mode runs, the point estimate at zero rates and the mode guidance.

use ndarray::Array2;
use unlearn_audit::audit::{
    AuditOptions, Claim, EpsilonAudit, PlannerMode, audit_epsilon, plan_samples_for,
};
use unlearn_audit::io::SampleSet;
use unlearn_audit::stats::normal_quantile;

fn set(values: Array2<f64>) -> SampleSet {
    SampleSet::new("test", values).unwrap()
}

/// Perfectly separated runs: every unlearned value far above every retrained one (distinct
/// values, so no ties), `d` columns.
fn separated(n: usize, d: usize) -> (SampleSet, SampleSet) {
    let u = Array2::from_shape_fn((n, d), |(i, j)| 100.0 + i as f64 * 1e-3 + j as f64 * 1e-4);
    let r = Array2::from_shape_fn((n, d), |(i, j)| i as f64 * 1e-3 + j as f64 * 1e-4);
    (set(u), set(r))
}

fn audit(u: &SampleSet, r: &SampleSet, claim: f64, per_example: bool) -> EpsilonAudit {
    let options = AuditOptions {
        per_example,
        ..AuditOptions::default()
    };
    audit_epsilon(u, r, &Claim::new(Some(claim), 1e-5).unwrap(), &options).unwrap()
}

/// The samples-needed figure of an inconclusive audit equals the smallest N at which the same
/// audit on perfectly separated runs (the figure's stated assumption: zero errors) refutes the
/// claim, in scalar, multivariate (where only the certify half counts) and per-example modes.
#[test]
fn samples_needed_matches_brute_force_in_every_mode() {
    for (d, per_example, claim) in [
        (1, false, 1.0),
        (3, false, 1.0),
        (4, true, 1.0),
        (1, false, 2.0),
        (3, false, 2.0),
    ] {
        let (u, r) = separated(8, d);
        let small = audit(&u, &r, claim, per_example);
        assert_eq!(small.verdict, Some("inconclusive"), "d = {d}");
        let figure = small.samples_needed_per_side.expect("a figure") as usize;
        let brute = (8..2000)
            .find(|&n| {
                let (u, r) = separated(n, d);
                audit(&u, &r, claim, per_example).verdict == Some("violated")
            })
            .expect("refuted below 2000 runs");
        assert_eq!(
            figure, brute,
            "d = {d}, per_example = {per_example}, claim = {claim}"
        );
    }
    // The multivariate figure is about twice the scalar one (half the runs fit the projection).
    let (u1, r1) = separated(8, 1);
    let (u3, r3) = separated(8, 3);
    let scalar = audit(&u1, &r1, 1.0, false).samples_needed_per_side.unwrap();
    let multi = audit(&u3, &r3, 1.0, false).samples_needed_per_side.unwrap();
    assert!(
        multi >= 2 * scalar - 2 && multi <= 2 * scalar + 2,
        "{scalar} vs {multi}"
    );
}

/// Typical-sample data as the planner states it: order statistics at their expected quantiles.
fn typical(n: usize, mu: f64) -> (SampleSet, SampleSet) {
    let q = |i: usize| normal_quantile((i + 1) as f64 / (n + 1) as f64).unwrap();
    let u = Array2::from_shape_fn((n, 1), |(i, _)| mu + q(i));
    let r = Array2::from_shape_fn((n, 1), |(i, _)| q(i));
    (set(u), set(r))
}

/// The scalar planner agrees with running the real audit on the typical sample at increasing N:
/// it never plans fewer runs than the audit needs there, and at most 20 % more (the planner
/// evaluates one tail's tests with expected counts rounded, the audit both tails).
#[test]
fn scalar_planner_matches_audit_on_typical_samples() {
    for (mu, claim) in [(2.0, 1.0), (3.0, 2.0)] {
        let claim_ = Claim::new(Some(claim), 1e-5).unwrap();
        let planned = plan_samples_for(&claim_, mu, 0.95, PlannerMode::Scalar)
            .unwrap()
            .runs_per_side
            .unwrap() as f64;
        let brute = (4..5000)
            .find(|&n| {
                let (u, r) = typical(n, mu);
                audit(&u, &r, claim, false).verdict == Some("violated")
            })
            .unwrap() as f64;
        assert!(
            planned >= brute && planned <= 1.2 * brute,
            "mu {mu}: planned {planned}, brute {brute}"
        );
    }
}

/// The multivariate plan certifies on the runs left after the fit; the per-example plan is the
/// scalar plan at alpha / examples.
#[test]
fn planner_modes_split_runs_and_alpha() {
    let claim = Claim::new(Some(1.0), 1e-5).unwrap();
    let scalar = plan_samples_for(&claim, 2.0, 0.95, PlannerMode::Scalar).unwrap();
    let multi = plan_samples_for(
        &claim,
        2.0,
        0.95,
        PlannerMode::Multivariate { fit_fraction: 0.5 },
    )
    .unwrap();
    let (s, m) = (scalar.runs_per_side.unwrap(), multi.runs_per_side.unwrap());
    assert!(
        m.abs_diff(2 * s) <= 2 + s / 50,
        "scalar {s}, multivariate {m}"
    );
    let per =
        plan_samples_for(&claim, 2.0, 0.95, PlannerMode::PerExample { examples: 10 }).unwrap();
    let scalar_at = plan_samples_for(&claim, 2.0, 1.0 - 0.05 / 10.0, PlannerMode::Scalar).unwrap();
    assert_eq!(per.runs_per_side, scalar_at.runs_per_side);
    assert!(per.runs_per_side.unwrap() > s);
}

/// Perfectly separated runs get a finite, positive point estimate (half-count rates), labelled
/// as an estimate with a note; it equals the two-branch formula at rates 1/2 / (n + 1).
#[test]
fn point_estimate_is_defined_at_zero_rates_and_labelled() {
    let (u, r) = separated(50, 1);
    let a = audit(&u, &r, 1.0, false);
    let rate: f64 = 0.5 / 51.0;
    let want = ((1.0 - 1e-5 - rate) / rate).ln();
    let got = a.point_estimate.value.expect("defined");
    assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    let json = serde_json::to_value(&a).unwrap();
    assert_eq!(json["point_estimate"]["kind"], "estimate, not a bound");
    assert!(
        json["point_estimate"]["note"]
            .as_str()
            .unwrap()
            .contains("exceed")
    );
}

/// Guidance: with the signal spread thinly over many columns the scalar mean needs the fewest
/// runs; with the signal in one column of many, per-example or multivariate beats the mean.
#[test]
fn mode_guidance_follows_where_the_signal_is() {
    let n = 40;
    let d = 20;
    let noise = |i: usize, j: usize| {
        normal_quantile(((i * 7 + j * 13) % n + 1) as f64 / (n + 1) as f64).unwrap()
    };
    let spread_u = Array2::from_shape_fn((n, d), |(i, j)| 0.8 + noise(i, j));
    let spread_r = Array2::from_shape_fn((n, d), |(i, j)| noise((i + 3) % n, j));
    let a = audit(&set(spread_u), &set(spread_r), 1.0, false);
    let g = a.mode_guidance.expect("guidance with several columns");
    assert_eq!(g.kind, "guidance, not a bound");
    assert_eq!(g.recommended, Some("scalar_mean"), "{}", g.note);
    let one_u = Array2::from_shape_fn(
        (n, d),
        |(i, j)| if j == 0 { 6.0 } else { 0.0 } + noise(i, j),
    );
    let one_r = Array2::from_shape_fn((n, d), |(i, j)| noise((i + 3) % n, j));
    let b = audit(&set(one_u), &set(one_r), 1.0, false);
    let g = b.mode_guidance.unwrap();
    assert_ne!(g.recommended, Some("scalar_mean"), "{}", g.note);
    assert!(g.recommended.is_some());
    // One column: no guidance.
    let (u, r) = separated(10, 1);
    assert!(audit(&u, &r, 1.0, false).mode_guidance.is_none());
}
