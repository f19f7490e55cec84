//! Membership-inference benchmarks (`cargo bench --bench mia`); figures in
//! `docs/performance.md` § mia.
//!
//! * LiRA online, 256 shadow models × 50 000 points (target: < 2 s);
//! * RMIA offline, 50 000 targets × 25 000 population points × 4 reference models
//!   (target: < 2 s and < 1 GiB; ML Privacy Meter's dense ratio matrix is ~10 GB);
//! * the ROC summary of 60 000 scores with 2000 stratified bootstrap replicates (< 10 s).

use ndarray::Array2;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal, Uniform};
use unlearn_audit::mia::roc::{Roc, RocConfig};
use unlearn_audit::mia::shadow::{
    LiraConfig, RmiaConfig, RmiaInput, ShadowMatrix, lira_scores, rmia_scores,
};

fn main() {
    divan::main();
}

struct LiraData {
    scores: Array2<f64>,
    membership: Array2<bool>,
    target: Vec<f64>,
}

fn lira_data(points: usize, models: usize) -> LiraData {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let normal = Normal::new(0.0, 1.0).unwrap();
    let uniform = Uniform::new(0.0, 1.0).unwrap();
    let membership = Array2::from_shape_fn((points, models), |_| uniform.sample(&mut rng) < 0.5);
    let scores = Array2::from_shape_fn((points, models), |(i, m)| {
        (i % 97) as f64 / 20.0
            + normal.sample(&mut rng)
            + if membership[[i, m]] { 1.0 } else { 0.0 }
    });
    let target = (0..points).map(|_| normal.sample(&mut rng)).collect();
    LiraData {
        scores,
        membership,
        target,
    }
}

#[divan::bench(sample_count = 5)]
fn lira_online_256_models_50k_points(bencher: divan::Bencher) {
    let data = lira_data(50_000, 256);
    bencher.bench(|| {
        lira_scores(
            &ShadowMatrix {
                scores: data.scores.view(),
                membership: data.membership.view(),
            },
            &data.target,
            LiraConfig::default(),
        )
        .unwrap()
    });
}

#[divan::bench(sample_count = 5)]
fn rmia_offline_50k_targets_25k_population_4_models(bencher: divan::Bencher) {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let uniform = Uniform::new(0.01, 1.0).unwrap();
    let (n_x, n_z, n_ref) = (50_000, 25_000, 4);
    let reference_x = Array2::from_shape_fn((n_x, n_ref), |_| uniform.sample(&mut rng));
    let membership = Array2::from_shape_fn((n_x, n_ref), |(i, j)| (i + j) % 2 == 0);
    let reference_z = Array2::from_shape_fn((n_z, n_ref), |_| uniform.sample(&mut rng));
    let target_x: Vec<f64> = (0..n_x).map(|_| uniform.sample(&mut rng)).collect();
    let target_z: Vec<f64> = (0..n_z).map(|_| uniform.sample(&mut rng)).collect();
    bencher.bench(|| {
        rmia_scores(
            &RmiaInput {
                target_x: &target_x,
                reference_x: ShadowMatrix {
                    scores: reference_x.view(),
                    membership: membership.view(),
                },
                target_z: &target_z,
                reference_z: reference_z.view(),
            },
            RmiaConfig::default(),
        )
        .unwrap()
    });
}

#[divan::bench(sample_count = 3)]
fn roc_summary_60k_scores_2000_bootstrap(bencher: divan::Bencher) {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let normal = Normal::new(0.0, 1.0).unwrap();
    let members: Vec<f64> = (0..30_000).map(|_| 0.3 + normal.sample(&mut rng)).collect();
    let nonmembers: Vec<f64> = (0..30_000).map(|_| normal.sample(&mut rng)).collect();
    let config = RocConfig {
        bootstrap_replicates: 2000,
        ..RocConfig::default()
    };
    bencher.bench(|| {
        Roc::new(&members, &nonmembers)
            .unwrap()
            .summary(&config)
            .unwrap()
    });
}
