//! Speed of the ε audit (figures in docs/performance.md `## epsilon`):
//! scalar audit of 10⁶ runs per side (sort + tail-grid Bonferroni search, every threshold of
//! the grid bounded with exact Clopper–Pearson), and a per-example audit of 10⁴ examples × 512
//! runs per side. Run: `cargo bench --bench epsilon`.

use std::sync::OnceLock;

use ndarray::Array2;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use unlearn_audit::audit::{AuditOptions, Claim, audit_epsilon};
use unlearn_audit::io::SampleSet;

fn main() {
    divan::main();
}

fn gaussian(n: usize, d: usize, shift: f64, seed: u64) -> SampleSet {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    SampleSet {
        source: "bench".into(),
        values: Array2::from_shape_fn((n, d), |_| shift + rng.sample::<f64, _>(StandardNormal)),
    }
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
