//! Certificates: the analytic Gaussian mechanism solved in each direction and the Rényi
//! conversion with α optimised. Compared with `scripts/certify_reference.py` (the Balle & Wang
//! reference algorithm in numpy/scipy) in `docs/performance.md` § certify.

use divan::black_box;
use unlearn_audit::certify::gaussian::{delta_analytic, epsilon_analytic, sigma_analytic};
use unlearn_audit::certify::renyi::{AlphaRange, RenyiConversion, epsilon_from_rdp_slope};

fn main() {
    divan::main();
}

/// The (ε, δ) grid both tools solve: 100 points, ε in [0.1, 10], δ in {1e-5, 1e-6, 1e-8, 1e-10}.
fn grid() -> Vec<(f64, f64)> {
    let deltas = [1e-5, 1e-6, 1e-8, 1e-10];
    (0..100)
        .map(|i| {
            let epsilon = 0.1 * (100f64).powf(i as f64 / 99.0);
            (epsilon, deltas[i % deltas.len()])
        })
        .collect()
}

#[divan::bench]
fn sigma_analytic_100_points() -> f64 {
    grid()
        .into_iter()
        .map(|(epsilon, delta)| sigma_analytic(1.0, black_box(epsilon), delta).unwrap())
        .sum()
}

#[divan::bench]
fn epsilon_analytic_100_points() -> f64 {
    grid()
        .into_iter()
        .map(|(epsilon, delta)| epsilon_analytic(1.0, black_box(1.0 / epsilon), delta).unwrap())
        .sum()
}

#[divan::bench]
fn delta_analytic_100_points() -> f64 {
    grid()
        .into_iter()
        .map(|(epsilon, _)| delta_analytic(1.0, black_box(2.0), epsilon).unwrap())
        .sum()
}

#[divan::bench]
fn renyi_conversion_improved_100_slopes() -> f64 {
    (1..=100)
        .map(|i| {
            epsilon_from_rdp_slope(
                black_box(0.01 * i as f64),
                1e-5,
                RenyiConversion::Improved,
                AlphaRange::default(),
            )
            .unwrap()
            .epsilon
        })
        .sum()
}
