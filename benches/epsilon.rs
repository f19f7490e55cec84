//! Speed of the ε audit (figures in docs/performance.md `## epsilon`):
//! scalar audit of 10⁶ runs per side (sort + tail-grid Bonferroni search, every threshold of
//! the grid bounded with exact Clopper–Pearson), and a per-example audit of 10⁴ examples × 512
//! runs per side; the Clopper–Pearson bounds of the 10⁶ grid alone, by the library's Newton
//! iteration and by the 64-step bit bisection it replaced (re-implemented here on the same
//! public forward tail). Run: `cargo bench --bench epsilon`.

use std::sync::OnceLock;

use ndarray::Array2;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use unlearn_audit::audit::threshold::tail_ranks;
use unlearn_audit::audit::{AuditOptions, Claim, Selection, audit_epsilon};
use unlearn_audit::io::SampleSet;
use unlearn_audit::stats::{binomial_cdf, clopper_pearson_upper};

fn main() {
    divan::main();
}

fn gaussian(n: usize, d: usize, shift: f64, seed: u64) -> SampleSet {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    SampleSet::new(
        "bench",
        Array2::from_shape_fn((n, d), |_| shift + rng.sample::<f64, _>(StandardNormal)),
    )
    .unwrap()
}

fn scalar_data() -> &'static (SampleSet, SampleSet) {
    static DATA: OnceLock<(SampleSet, SampleSet)> = OnceLock::new();
    DATA.get_or_init(|| {
        (
            gaussian(1_000_000, 1, 0.27, 1),
            gaussian(1_000_000, 1, 0.0, 2),
        )
    })
}

fn per_example_data() -> &'static (SampleSet, SampleSet) {
    static DATA: OnceLock<(SampleSet, SampleSet)> = OnceLock::new();
    DATA.get_or_init(|| (gaussian(512, 10_000, 0.1, 3), gaussian(512, 10_000, 0.0, 4)))
}

#[divan::bench(sample_count = 5)]
fn scalar_one_million_per_side() -> f64 {
    let (u, r) = scalar_data();
    let claim = Claim::new(Some(1.0), 1e-5).unwrap();
    audit_epsilon(u, r, &claim, &AuditOptions::default())
        .unwrap()
        .epsilon_lower_bound
}

/// `--selection bonferroni-all`: 4·10⁶ tests, exact bounds only where the pruning floor
/// cannot rule a test out.
#[divan::bench(sample_count = 5)]
fn scalar_all_thresholds_one_million_per_side() -> f64 {
    let (u, r) = scalar_data();
    let claim = Claim::new(Some(1.0), 1e-5).unwrap();
    let options = AuditOptions {
        selection: Selection::BonferroniAll,
        ..AuditOptions::default()
    };
    audit_epsilon(u, r, &claim, &options)
        .unwrap()
        .epsilon_lower_bound
}

fn lfp_data() -> &'static (SampleSet, SampleSet) {
    static DATA: OnceLock<(SampleSet, SampleSet)> = OnceLock::new();
    DATA.get_or_init(|| (gaussian(100_000, 1, 0.27, 5), gaussian(100_000, 1, 0.0, 6)))
}

fn lfp_audit_of(u: &SampleSet, r: &SampleSet) -> f64 {
    // No claim: the bound only (a claim adds the LFP ceiling, one more calibration).
    let claim = Claim::new(None, 1e-5).unwrap();
    let options = AuditOptions {
        selection: Selection::Lfp,
        ..AuditOptions::default()
    };
    audit_epsilon(u, r, &claim, &options)
        .unwrap()
        .epsilon_lower_bound
}

/// `--selection lfp` (least-favourable-pair calibration), 10⁵ runs per side.
#[divan::bench(sample_count = 3)]
fn scalar_lfp_hundred_thousand_per_side() -> f64 {
    let (u, r) = lfp_data();
    lfp_audit_of(u, r)
}

/// `--selection lfp`, 10⁶ runs per side.
#[divan::bench(sample_count = 3)]
fn scalar_lfp_one_million_per_side() -> f64 {
    let (u, r) = scalar_data();
    lfp_audit_of(u, r)
}

#[divan::bench(sample_count = 3)]
fn per_example_ten_thousand_by_512() -> f64 {
    let (u, r) = per_example_data();
    let claim = Claim::new(Some(1.0), 1e-5).unwrap();
    let options = AuditOptions {
        per_example: true,
        ..AuditOptions::default()
    };
    audit_epsilon(u, r, &claim, &options)
        .unwrap()
        .epsilon_lower_bound
}

/// The (k, n, α) of the FNR/FPR bounds of the default grid at 10⁶ per side.
fn grid_counts() -> (Vec<u64>, u64, f64) {
    let n = 1_000_000usize;
    let ranks = tail_ranks(n);
    let alpha_per_rate = 0.05 / (4 * ranks.len()) as f64 / 2.0;
    (
        ranks.iter().map(|&j| (j - 1) as u64).collect(),
        n as u64,
        alpha_per_rate,
    )
}

#[divan::bench(sample_count = 10)]
fn clopper_pearson_grid_newton() -> f64 {
    let (counts, n, alpha) = grid_counts();
    counts
        .iter()
        .map(|&k| clopper_pearson_upper(k, n, alpha).unwrap())
        .sum()
}

/// The pre-Newton algorithm: bisection on the f64 bit pattern over [k/n, 1], 64 evaluations.
#[divan::bench(sample_count = 10)]
fn clopper_pearson_grid_bit_bisection() -> f64 {
    let (counts, n, alpha) = grid_counts();
    counts
        .iter()
        .map(|&k| {
            let (mut lo, mut hi) = ((k as f64 / n as f64).to_bits(), 1.0f64.to_bits());
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                if binomial_cdf(k, n, f64::from_bits(mid)).unwrap() <= alpha {
                    hi = mid;
                } else {
                    lo = mid;
                }
            }
            f64::from_bits(hi).next_up()
        })
        .sum()
}
