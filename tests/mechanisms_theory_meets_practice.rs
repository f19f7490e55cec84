//! Theory meets practice on digits: at its certified parameters the certified mechanism's
//! empirical ε lower bound (from `audit::audit_epsilon`, 95% confidence) stays at or below its
//! certified ε, and faulty variants are caught (`violated`) within the stated number of runs.
//!
//! CI size: 200 runs per side, record = `statistic` (mean logit-scaled confidence on the
//! forget set), forget rows 3 and 17, λ = 0.01, σ = 1, claimed (ε, δ) = (1, 1e-5).
//! False-failure probability: the certified side fails only if the audit's 95% bound is wrong
//! (≤ 5% for a fixed seed; the seed is fixed, so the outcome is deterministic), and the faulty
//! sides' verdicts are deterministic given the seed. Full figures: docs/mechanisms.md §5.

use unlearn_audit::audit::{AuditOptions, Claim, audit_epsilon};
use unlearn_audit::io::{SampleSet, read_labelled_csv};
use unlearn_audit::mechanisms::{self, MechanismOptions, Split};
use unlearn_audit::models::Dataset;
use unlearn_audit::sampling::{NoProgress, Record, run_trials};

const TRIALS: usize = 200;
const ZHANG_TRIALS: usize = 100;

fn audit(name: &str) -> (f64, &'static str, Option<f64>) {
    audit_with(name, 1.0, Record::Statistic)
}

fn audit_with(name: &str, sigma: f64, record: Record) -> (f64, &'static str, Option<f64>) {
    let options = MechanismOptions {
        lambda: Some(0.01),
        sigma: Some(sigma),
        epsilon: Some(1.0),
        delta: Some(1e-5),
        ..Default::default()
    };
    audit_options(name, &options, record, TRIALS)
}

/// Zhang et al. at its defaults (MLP, 16 tanh units, 300 projected steps, C = 20, LiSSA
/// scale 10 × 1000 steps), target (ε, δ) = (1, 1e-5), Δ = 3: the measured ‖w̃ − w̃*‖ on
/// these rows is 2.17 (manifest `measured_approximation_error`), so Δ is a valid bound here.
fn zhang_options() -> MechanismOptions {
    MechanismOptions {
        epsilon: Some(1.0),
        delta: Some(1e-5),
        approximation_error: Some(3.0),
        ..Default::default()
    }
}

fn audit_options(
    name: &str,
    options: &MechanismOptions,
    record: Record,
    trials: usize,
) -> (f64, &'static str, Option<f64>) {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/mechanisms/digits.csv");
    let table = read_labelled_csv(&path, "label").unwrap();
    let data = Dataset::new(table.features, table.labels, table.num_classes).unwrap();
    let split = Split::new(&data, &[3, 17]).unwrap();
    let mechanism = mechanisms::build(name, split, options).unwrap();
    let certificate = mechanism.certificate();
    let samples = run_trials(mechanism.as_ref(), trials, 7, record, &NoProgress).unwrap();
    // An exact certificate (0, 0) is audited as the weaker claim (0.01, 1e-5): refuting that
    // refutes exactness too (the audit needs ε > 0 and δ > 0).
    let claim = Claim::new(
        certificate.epsilon.map(|e| e.max(0.01)),
        certificate.delta.unwrap().max(1e-5),
    )
    .unwrap();
    let report = audit_epsilon(
        &SampleSet::new("unlearned", samples.unlearned).unwrap(),
        &SampleSet::new("retrained", samples.retrained).unwrap(),
        &claim,
        &AuditOptions::default(),
    )
    .unwrap();
    (
        report.epsilon_lower_bound,
        report.verdict.unwrap_or("none"),
        certificate.epsilon,
    )
}

#[test]
fn certified_mechanisms_stay_within_their_certificates() {
    for name in [
        "guo",
        "sekhari",
        "d2d",
        "koloskova-gradient-clip",
        "koloskova-model-clip",
    ] {
        let (bound, verdict, certified) = audit(name);
        assert!(
            bound <= certified.unwrap(),
            "{name}: bound {bound} above certified {certified:?}"
        );
        assert_ne!(verdict, "violated", "{name}");
    }
}

#[test]
fn faulty_variants_are_caught() {
    for name in [
        "guo-small-noise",
        "guo-no-perturbation",
        "guo-reused-noise",
        "sekhari-small-noise",
        "sekhari-reused-noise",
        "d2d-small-noise",
        "d2d-reused-noise",
        "koloskova-gradient-clip-small-noise",
        "koloskova-gradient-clip-reused-noise",
        "koloskova-model-clip-small-noise",
        "koloskova-model-clip-reused-noise",
    ] {
        let (bound, verdict, certified) = audit(name);
        assert_eq!(
            verdict, "violated",
            "{name}: bound {bound}, certified {certified:?}"
        );
    }
}

/// "Forget set never removed" moves the model by about one removal's Newton step, which the
/// scalar statistic at σ = 1 does not resolve in 200 runs; with σ = 0.1 and the per-example
/// forget scores (d = 2, multivariate audit) it is caught, while `guo` at the same parameters
/// stays consistent.
#[test]
fn forget_set_kept_is_caught_on_forget_scores() {
    let (bound, verdict, certified) = audit_with("guo", 0.1, Record::ForgetScores);
    assert!(
        bound <= certified.unwrap(),
        "guo: bound {bound} above certified {certified:?}"
    );
    assert_ne!(verdict, "violated");
    for name in ["guo-no-removal", "retrain-no-removal"] {
        let (bound, verdict, certified) = audit_with(name, 0.1, Record::ForgetScores);
        assert_eq!(
            verdict, "violated",
            "{name}: bound {bound}, certified {certified:?}"
        );
    }
}

/// Zhang et al. on the MLP: the certified mechanism stays within its certificate and both
/// twins are caught, at ZHANG_TRIALS runs per side.
#[test]
fn zhang_within_certificate_and_twins_caught() {
    let (bound, verdict, certified) =
        audit_options("zhang", &zhang_options(), Record::Statistic, ZHANG_TRIALS);
    assert!(
        bound <= certified.unwrap(),
        "zhang: bound {bound} above certified {certified:?}"
    );
    assert_ne!(verdict, "violated");
    for name in ["zhang-small-noise", "zhang-reused-noise"] {
        let (bound, verdict, certified) =
            audit_options(name, &zhang_options(), Record::Statistic, ZHANG_TRIALS);
        assert_eq!(
            verdict, "violated",
            "{name}: bound {bound}, certified {certified:?}"
        );
    }
}

/// By hand (`cargo test --release --test mechanisms_theory_meets_practice -- --ignored
/// --nocapture`): the figures of docs/mechanisms.md §5 for the Zhang and model-clipping
/// mechanisms, at 100, 200 and 300 runs per side. Asserts only what the CI tests assert.
#[test]
#[ignore]
fn figures_for_zhang_and_model_clip() {
    let clip = MechanismOptions {
        lambda: Some(0.01),
        sigma: Some(1.0),
        epsilon: Some(1.0),
        delta: Some(1e-5),
        ..Default::default()
    };
    for trials in [100, 200, 300] {
        for (name, options) in [
            ("zhang", zhang_options()),
            ("zhang-small-noise", zhang_options()),
            ("zhang-reused-noise", zhang_options()),
            ("koloskova-model-clip", clip.clone()),
            ("koloskova-model-clip-small-noise", clip.clone()),
            ("koloskova-model-clip-reused-noise", clip.clone()),
        ] {
            let start = std::time::Instant::now();
            let (bound, verdict, certified) =
                audit_options(name, &options, Record::Statistic, trials);
            eprintln!(
                "{trials} {name}: bound {bound:.3} verdict {verdict} certified {certified:?} ({:.1} s)",
                start.elapsed().as_secs_f64()
            );
            if name.ends_with("noise") {
                assert_eq!(verdict, "violated");
            } else {
                assert!(bound <= certified.unwrap());
            }
        }
    }
}
