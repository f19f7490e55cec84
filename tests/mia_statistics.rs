//! Statistical validity of the ROC engine's intervals, by simulation with fixed seeds.
//!
//! Gaussian scores: non-members N(0, 1), members N(d, 1). True AUC = Φ(d/√2); true TPR at
//! FPR α = 1 − Φ(z_{1−α} − d); the true TPR of a threshold t is 1 − Φ(t − d).
//! The full 1000-simulation runs are `#[ignore]`d (figures in `docs/mia.md` §4.5); the small
//! seeded versions below run in CI.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use unlearn_audit::mia::roc::{FprConvention, Roc, RocConfig};
use unlearn_audit::stats::{normal_cdf, normal_quantile};

const SHIFT: f64 = 1.0;
const ALPHA: f64 = 0.01;

#[derive(Debug, Default)]
struct Coverage {
    simulations: usize,
    delong_auc: usize,
    bootstrap_auc: usize,
    clopper_pearson_tpr: usize,
    bootstrap_tpr: usize,
}

impl Coverage {
    fn rate(&self, hits: usize) -> f64 {
        hits as f64 / self.simulations as f64
    }
}

fn simulate(n: usize, simulations: usize, bootstrap: usize, seed: u64) -> Coverage {
    let true_auc = normal_cdf(SHIFT / 2f64.sqrt());
    let z_alpha = normal_quantile(1.0 - ALPHA).unwrap();
    let true_tpr_at_alpha = 1.0 - normal_cdf(z_alpha - SHIFT);
    let normal = Normal::new(0.0, 1.0).unwrap();
    let mut coverage = Coverage {
        simulations,
        ..Default::default()
    };
    for simulation in 0..simulations {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(simulation as u64);
        let members: Vec<f64> = (0..n).map(|_| SHIFT + normal.sample(&mut rng)).collect();
        let nonmembers: Vec<f64> = (0..n).map(|_| normal.sample(&mut rng)).collect();
        let roc = Roc::new(&members, &nonmembers).unwrap();
        let config = RocConfig {
            fprs: vec![ALPHA],
            confidence: 0.95,
            convention: FprConvention::AtMost,
            bootstrap_replicates: bootstrap,
            seed: 1000 + simulation as u64,
            curve: true,
        };
        let summary = roc.summary(&config).unwrap();
        let key = "0.01";
        coverage.delong_auc += summary.auc_ci.unwrap().contains(true_auc) as usize;
        coverage.bootstrap_auc += summary.auc_bootstrap_ci.unwrap().contains(true_auc) as usize;
        // The CP interval's estimand: the true TPR of the threshold the step rule picked.
        let curve = summary.curve.as_ref().unwrap();
        let chosen = curve
            .iter()
            .rev()
            .find(|p| p.fpr <= ALPHA)
            .expect("origin is always admissible");
        let true_tpr_of_threshold = 1.0 - normal_cdf(chosen.threshold - SHIFT);
        coverage.clopper_pearson_tpr +=
            summary.tpr_at_fpr_ci[key].contains(true_tpr_of_threshold) as usize;
        coverage.bootstrap_tpr += summary.tpr_at_fpr_bootstrap_ci.as_ref().unwrap()[key]
            .contains(true_tpr_at_alpha) as usize;
    }
    coverage
}

/// 300 simulations at n = 500 with 300 bootstrap replicates. If the true coverage is 95 %,
/// the observed rate lies outside [0.90, 0.99] with probability < 2·10⁻³ (binomial tails:
/// 0.90 is 3.97 sd below, 0.99 is 3.18 sd above); the seeds are fixed, so the test is
/// deterministic.
#[test]
fn nominal_95_percent_intervals_cover_about_95_percent() {
    let c = simulate(500, 300, 300, 7);
    for (name, hits) in [
        ("DeLong AUC", c.delong_auc),
        ("bootstrap AUC", c.bootstrap_auc),
        ("Clopper-Pearson TPR@1%", c.clopper_pearson_tpr),
    ] {
        let rate = c.rate(hits);
        assert!((0.90..=0.99).contains(&rate), "{name}: coverage {rate}");
    }
}

/// The full validation of `docs/mia.md` §4.5: 1000 simulations, n₁ = n₀ ∈ {500, 5000}.
/// Run with `cargo test --release --test mia_statistics -- --ignored --nocapture`.
#[test]
#[ignore = "full 1000-simulation validation (about a minute in release); figures in docs/mia.md"]
fn full_coverage_figures() {
    for n in [500, 5000] {
        let c = simulate(n, 1000, 1000, 11);
        println!(
            "n = {n}: DeLong AUC {:.3}, bootstrap AUC {:.3}, CP TPR@1% {:.3}, bootstrap TPR@1% {:.3}",
            c.rate(c.delong_auc),
            c.rate(c.bootstrap_auc),
            c.rate(c.clopper_pearson_tpr),
            c.rate(c.bootstrap_tpr)
        );
        for hits in [c.delong_auc, c.bootstrap_auc, c.clopper_pearson_tpr] {
            assert!((0.93..=0.97).contains(&c.rate(hits)), "{c:?}");
        }
    }
}
