//! Throughput of the metrics accumulators (`cargo bench --bench metrics`). Figures and the
//! numpy/scipy comparison (`scripts/compare_reference.py` on the same sizes) are in
//! `docs/performance.md` under "metrics".

use ndarray::Array2;
use unlearn_audit::metrics::{
    ActivationAccumulator, CHUNK_ROWS, OutputAccumulator, OutputKind, WeightSums,
};

fn main() {
    divan::main();
}

const ROWS: usize = 100_000;
const CLASSES: usize = 10;

fn pseudo_random(rows: usize, columns: usize, seed: u64) -> Array2<f64> {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    Array2::from_shape_fn((rows, columns), |_| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 8.0
    })
}

/// 100 000 rows × 10 classes of logits for the three models, with labels, one thread, fed in
/// contract-sized chunks (the serial work `compare` spreads over cores).
#[divan::bench(sample_count = 10)]
fn outputs_100k_rows_10_classes(bencher: divan::Bencher) {
    let [o, u, r] = [1, 2, 3].map(|seed| pseudo_random(ROWS, CLASSES, seed));
    let labels: Vec<i64> = (0..ROWS as i64).map(|i| i % CLASSES as i64).collect();
    bencher.bench(|| {
        let mut total = OutputAccumulator::new(CLASSES, OutputKind::Logits);
        for start in (0..ROWS).step_by(CHUNK_ROWS) {
            let end = (start + CHUNK_ROWS).min(ROWS);
            let s = ndarray::s![start..end, ..];
            let mut chunk = OutputAccumulator::new(CLASSES, OutputKind::Logits);
            chunk
                .accumulate(
                    o.slice(s),
                    u.slice(s),
                    r.slice(s),
                    Some(&labels[start..end]),
                    start,
                )
                .unwrap();
            total.merge(chunk);
        }
        divan::black_box(total.finish(ROWS))
    });
}

/// 100 000 rows × 64 features of activations.
#[divan::bench(sample_count = 10)]
fn activations_100k_rows_64_features(bencher: divan::Bencher) {
    let [o, u, r] = [4, 5, 6].map(|seed| pseudo_random(ROWS, 64, seed));
    bencher.bench(|| {
        let mut accumulator = ActivationAccumulator::new(64);
        accumulator
            .accumulate(o.view(), u.view(), r.view(), 0)
            .unwrap();
        divan::black_box(accumulator.finish(ROWS))
    });
}

/// 10 million weights of three models.
#[divan::bench(sample_count = 10)]
fn weights_10m(bencher: divan::Bencher) {
    let n = 10_000_000;
    let [o, u, r] = [7, 8, 9].map(|seed| pseudo_random(1, n, seed).into_raw_vec_and_offset().0);
    bencher.bench(|| {
        let mut sums = WeightSums::default();
        sums.accumulate(&o, &u, &r);
        divan::black_box(sums)
    });
}
