//! Benchmark of Min-K %++ (`mia::llm::min_k_plus_plus_scores`) over 10⁵ sequences × 512
//! tokens (issue 14: under a second). Arrays are generated in memory (seeded ChaCha8): log p,
//! vocabulary mean and variance per position, and a right-padded mask with lengths 64..=512.
//! Figures: `docs/performance.md` § llm. Run: `cargo bench --bench llm`.

use std::sync::OnceLock;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

const ROWS: usize = 100_000;
const T: usize = 512;

struct Data {
    logprobs: Vec<f64>,
    mask: Vec<bool>,
    mean: Vec<f64>,
    var: Vec<f64>,
}

fn data() -> &'static Data {
    static DATA: OnceLock<Data> = OnceLock::new();
    DATA.get_or_init(|| {
        let mut rng = ChaCha8Rng::seed_from_u64(14);
        let n = ROWS * T;
        let mut logprobs = Vec::with_capacity(n);
        let mut mean = Vec::with_capacity(n);
        let mut var = Vec::with_capacity(n);
        let mut mask = Vec::with_capacity(n);
        for _ in 0..ROWS {
            let len = rng.random_range(64..=T);
            for j in 0..T {
                let u: f64 = rng.random();
                logprobs.push(-(-u.max(1e-12).ln()) * 2.0);
                mean.push(-1.5 - rng.random::<f64>());
                var.push(0.5 + rng.random::<f64>());
                mask.push(j < len);
            }
        }
        Data {
            logprobs,
            mask,
            mean,
            var,
        }
    })
}

fn main() {
    let _ = data();
    divan::main();
}

/// Min-K %++ scores of 10⁵ × 512 tokens, k = 0.2.
#[divan::bench(sample_count = 5, sample_size = 1)]
fn min_k_plus_plus_1e5_by_512() -> Vec<f64> {
    let d = data();
    unlearn_audit::mia::llm::min_k_plus_plus_scores(&d.logprobs, &d.mask, &d.mean, &d.var, T, 0.2)
}

/// Min-K % scores of the same arrays, k = 0.2.
#[divan::bench(sample_count = 5, sample_size = 1)]
fn min_k_1e5_by_512() -> Vec<f64> {
    let d = data();
    unlearn_audit::mia::llm::min_k_scores(&d.logprobs, &d.mask, T, 0.2)
}
