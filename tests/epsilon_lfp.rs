//! Validation of the least-favourable-pair audit (`--selection lfp`, `docs/epsilon.md` §3.7):
//! validity (how often the bound exceeds the true ε) on the least-favourable pair itself and on
//! Gaussian, Laplace, randomized-response and identical distributions; tightness on the
//! Gaussian mechanism and randomized response; determinism. CI runs small seeded versions with
//! their false-failure probabilities stated; the full figures come from the `#[ignore]`d
//! `full_*` tests (`cargo test --release --test epsilon_lfp -- --ignored --nocapture`).

use ndarray::Array2;
use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use unlearn_audit::audit::lfp::lfp_audit;
use unlearn_audit::audit::{AuditOptions, Claim, Selection, audit_epsilon};
use unlearn_audit::io::SampleSet;

/// σ/Δ of the analytic Gaussian mechanism for (ε, δ = 1e-5).
const SIGMA_EPSILON_1: f64 = 3.7306316;
const SIGMA_EPSILON_4: f64 = 1.081;
const DELTA: f64 = 1e-5;

#[derive(Clone, Copy, Debug)]
enum Family {
    /// Unlearned N(1/σ, 1) vs retrained N(0, 1) (Gaussian mechanism with σ/Δ = σ).
    Gaussian(f64),
    /// Laplace mechanism b = 1, Δ = 1: exactly 1-DP.
    Laplace,
    /// Randomized response with ε: scores in {0, 1}.
    RandomizedResponse(f64),
    /// The least-favourable pair of (ε, δ): unlearned U(0, 1), retrained V ~ h.
    LeastFavourable(f64, f64),
    /// Identical distributions.
    NullGaussian,
    NullTied,
    NullCauchy,
}

fn rr(rng: &mut impl Rng, p_one: f64) -> f64 {
    if rng.random::<f64>() < p_one {
        1.0
    } else {
        0.0
    }
}

fn laplace(rng: &mut impl Rng) -> f64 {
    let u: f64 = rng.random::<f64>() - 0.5;
    -u.signum() * (1.0 - 2.0 * u.abs()).ln()
}

/// Scores of one side (`unlearned`: the side that may differ).
fn sample(n: usize, family: Family, unlearned: bool, seed: u64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(if unlearned { 11 } else { 12 });
    (0..n)
        .map(|_| match family {
            Family::Gaussian(sigma) => {
                let z: f64 = rng.sample(StandardNormal);
                if unlearned { z + 1.0 / sigma } else { z }
            }
            Family::Laplace => laplace(&mut rng) + if unlearned { 1.0 } else { 0.0 },
            Family::RandomizedResponse(e) => {
                let p = e.exp() / (1.0 + e.exp());
                rr(&mut rng, if unlearned { p } else { 1.0 - p })
            }
            Family::LeastFavourable(e, d) => {
                let w: f64 = rng.random::<f64>();
                if unlearned {
                    w
                } else {
                    ((w - d) * (-e).exp())
                        .max(1.0 - d - e.exp() * (1.0 - w))
                        .max(0.0)
                }
            }
            Family::NullGaussian => rng.sample(StandardNormal),
            Family::NullTied => (0..4).filter(|_| rng.random::<bool>()).count() as f64,
            Family::NullCauchy => (std::f64::consts::PI * (rng.random::<f64>() - 0.5)).tan(),
        })
        .collect()
}

/// Bound of one LFP audit at 95 %.
fn bound(n_u: usize, n_r: usize, family: Family, seed: u64) -> f64 {
    let u = sample(n_u, family, true, seed);
    let r = sample(n_r, family, false, seed.wrapping_add(1 << 40));
    let delta = match family {
        Family::LeastFavourable(_, d) => d,
        _ => DELTA,
    };
    lfp_audit(&u, &r, delta, 0.05, seed).epsilon
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// Clopper–Pearson 95 % interval of k/n, for reporting.
fn interval(k: u64, n: u64) -> (f64, f64) {
    use unlearn_audit::stats::{clopper_pearson_lower, clopper_pearson_upper};
    (
        clopper_pearson_lower(k, n, 0.025).unwrap(),
        clopper_pearson_upper(k, n, 0.025).unwrap(),
    )
}

fn exceed_count(n_u: usize, n_r: usize, family: Family, truth: f64, audits: u64, base: u64) -> u64 {
    (0..audits)
        .filter(|&s| bound(n_u, n_r, family, base + s) > truth)
        .count() as u64
}

// --------------------------------------------------------------------------------------------
// CI-sized checks.

/// Validity on the least-favourable pair itself (the hardest case: the calibrated level is
/// attained) at ε = 1, δ = 1e-3, 400 vs 300 runs, 200 audits. If the true exceedance rate is
/// ≤ 5 %, P(≥ 20 of 200) ≤ 0.0016 (binomial tail): the false-failure probability.
#[test]
fn valid_on_least_favourable_pair() {
    let k = exceed_count(400, 300, Family::LeastFavourable(1.0, 1e-3), 1.0, 200, 100);
    assert!(k < 20, "{k} / 200 audits above the true ε");
}

/// Null (identical distributions): heavy ties and Cauchy, 10 vs 1000 runs and 200 vs 200,
/// 100 audits each; the truth is ε = 0. With a true rate ≤ 5 %, P(≥ 13 of 100) ≤ 0.0023 per
/// cell, ≤ 0.01 for the four cells together.
#[test]
fn valid_under_the_null() {
    for (family, n_u, n_r) in [
        (Family::NullTied, 200, 200),
        (Family::NullCauchy, 200, 200),
        (Family::NullTied, 10, 1000),
        (Family::NullGaussian, 1000, 10),
    ] {
        let k = exceed_count(n_u, n_r, family, 0.0, 100, 1000);
        assert!(k < 13, "{family:?} {n_u}/{n_r}: {k} / 100 above 0");
    }
}

/// Laplace, exactly 1-DP, 2000 per side, 100 audits: bound above 1 in < 13 (false failure
/// ≤ 0.0023 if the rate is ≤ 5 %); and the bound is informative (median > 0.3; at this N the
/// full-run median is ≈ 0.6, so a median ≤ 0.3 means the audit lost its power).
#[test]
fn laplace_valid_and_informative() {
    let bounds: Vec<f64> = (0..100)
        .map(|s| bound(2000, 2000, Family::Laplace, 500 + s))
        .collect();
    let above = bounds.iter().filter(|&&b| b > 1.0).count();
    assert!(above < 13, "{above} / 100 above 1");
    let m = median(bounds);
    assert!(m > 0.3, "median {m}");
}

/// Tightness at CI size: Gaussian ε = 4 at 10⁴ per side, 5 seeds: median above the grid's
/// figure at this N (≈ 1.56 for all-threshold Bonferroni, references §6.4). Measured medians
/// are ≈ 2.0 (see docs); a median ≤ 1.7 would be a lost-power regression. The seeds are fixed,
/// so this is deterministic.
#[test]
fn gaussian_epsilon_4_tight_at_ten_thousand() {
    let bounds: Vec<f64> = (0..5)
        .map(|s| bound(10_000, 10_000, Family::Gaussian(SIGMA_EPSILON_4), 70 + s))
        .collect();
    let m = median(bounds.clone());
    assert!(m > 1.7, "median {m} ({bounds:?})");
    assert!(bounds.iter().all(|&b| b < 4.0), "{bounds:?}");
}

/// The bound is a grid value (multiple of 2⁻¹²) and bit-identical whatever the thread count.
#[test]
fn deterministic_across_thread_counts() {
    let u = sample(3000, Family::Gaussian(SIGMA_EPSILON_4), true, 5);
    let r = sample(2500, Family::Gaussian(SIGMA_EPSILON_4), false, 6);
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| lfp_audit(&u, &r, DELTA, 0.05, 42).epsilon)
    };
    let one = run(1);
    assert_eq!(one.to_bits(), run(2).to_bits());
    assert_eq!(one.to_bits(), run(3).to_bits());
    assert_eq!((one * 4096.0).fract(), 0.0);
    assert!(one > 0.5, "{one}");
}

/// End to end through `audit_epsilon`: JSON fields present and meaningful.
#[test]
fn audit_epsilon_reports_lfp() {
    let to_set = |v: Vec<f64>| {
        SampleSet::new(
            "synthetic",
            Array2::from_shape_vec((v.len(), 1), v).unwrap(),
        )
        .unwrap()
    };
    let u = to_set(sample(2000, Family::Gaussian(SIGMA_EPSILON_4), true, 8));
    let r = to_set(sample(2000, Family::Gaussian(SIGMA_EPSILON_4), false, 9));
    let claim = Claim::new(Some(0.25), DELTA).unwrap();
    let options = AuditOptions {
        selection: Selection::Lfp,
        ..AuditOptions::default()
    };
    let a = audit_epsilon(&u, &r, &claim, &options).unwrap();
    assert_eq!(a.verdict, Some("violated"));
    let json = serde_json::to_value(&a).unwrap();
    assert_eq!(json["selection"]["strategy"], "lfp");
    assert_eq!(json["selection"]["lfp"]["draws"], 999);
    assert_eq!(
        json["test"]["epsilon"].as_f64().unwrap(),
        a.epsilon_lower_bound
    );
    assert_eq!(
        a.test.true_positives + a.test.false_negatives,
        2000,
        "counts of the deciding test"
    );
    assert!(a.epsilon_ceiling_corrected > a.epsilon_lower_bound);
}

// --------------------------------------------------------------------------------------------
// Full figures (docs/epsilon.md §9.1), run once.

fn report_validity(name: &str, n_u: usize, n_r: usize, family: Family, truth: f64, audits: u64) {
    let k = exceed_count(n_u, n_r, family, truth, audits, 10_000);
    let (lo, hi) = interval(k, audits);
    println!(
        "validity {name} n_u={n_u} n_r={n_r}: {k}/{audits} above {truth} = {:.2} % [{:.2}, {:.2}]",
        100.0 * k as f64 / audits as f64,
        100.0 * lo,
        100.0 * hi
    );
}

#[test]
#[ignore]
fn full_validity() {
    for e in [0.5, 1.0, 4.0] {
        let f = Family::LeastFavourable(e, 1e-5);
        report_validity("lfp", 1000, 1000, f, e, 200);
        report_validity(
            "lfp-delta",
            2000,
            500,
            Family::LeastFavourable(e, 1e-3),
            e,
            100,
        );
    }
    let g = Family::Gaussian(SIGMA_EPSILON_1);
    report_validity("gaussian eps1", 10_000, 10_000, g, 1.0, 30);
    report_validity("laplace", 10_000, 10_000, Family::Laplace, 1.0, 30);
    let rr = Family::RandomizedResponse(1.0);
    report_validity("rr eps1", 10_000, 10_000, rr, 1.0, 30);
    for (n_u, n_r) in [
        (10, 10),
        (100, 100),
        (10_000, 10_000),
        (10, 10_000),
        (10_000, 10),
    ] {
        for f in [Family::NullGaussian, Family::NullTied, Family::NullCauchy] {
            let audits = if n_u.min(n_r) >= 10_000 {
                20
            } else if n_u.max(n_r) >= 10_000 {
                100
            } else {
                200
            };
            report_validity(&format!("{f:?}"), n_u, n_r, f, 0.0, audits);
        }
    }
}

fn report_tightness(name: &str, n: usize, family: Family, seeds: u64) -> Vec<f64> {
    let bounds: Vec<f64> = (0..seeds)
        .map(|s| bound(n, n, family, 20_000 + s))
        .collect();
    let mut sorted = bounds.clone();
    sorted.sort_by(f64::total_cmp);
    println!(
        "tightness {name} n={n}: median {:.4} min {:.4} max {:.4}",
        median(bounds.clone()),
        sorted[0],
        sorted[sorted.len() - 1]
    );
    bounds
}

#[test]
#[ignore]
fn full_tightness() {
    report_tightness(
        "gaussian eps1",
        100_000,
        Family::Gaussian(SIGMA_EPSILON_1),
        25,
    );
    report_tightness(
        "gaussian eps4",
        100_000,
        Family::Gaussian(SIGMA_EPSILON_4),
        25,
    );
    report_tightness("rr eps1", 100_000, Family::RandomizedResponse(1.0), 25);
    let audits: u64 = std::env::var("LFP_LAPLACE_AUDITS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let laplace = report_tightness("laplace", 100_000, Family::Laplace, audits);
    let above = laplace.iter().filter(|&&b| b > 1.0).count() as u64;
    let (lo, hi) = interval(above, audits);
    println!(
        "laplace above 1: {above}/{audits} [{:.2} %, {:.2} %]",
        100.0 * lo,
        100.0 * hi
    );
}

/// Quick exploration: `LFP_EXPLORE=gauss1,100000,5`.
#[test]
#[ignore]
fn explore() {
    let spec = std::env::var("LFP_EXPLORE").unwrap_or_else(|_| "gauss1,100000,3".into());
    let parts: Vec<&str> = spec.split(',').collect();
    let family = match parts[0] {
        "gauss1" => Family::Gaussian(SIGMA_EPSILON_1),
        "gauss4" => Family::Gaussian(SIGMA_EPSILON_4),
        "rr" => Family::RandomizedResponse(1.0),
        "laplace" => Family::Laplace,
        "lfp1" => Family::LeastFavourable(1.0, 1e-5),
        "lfp4" => Family::LeastFavourable(4.0, 1e-5),
        _ => Family::NullGaussian,
    };
    let n: usize = parts[1].parse().unwrap();
    let seeds: u64 = parts[2].parse().unwrap();
    let t = std::time::Instant::now();
    let b = report_tightness(parts[0], n, family, seeds);
    println!("{:?} per audit", t.elapsed() / seeds as u32);
    let truth: f64 = parts.get(3).map_or(1.0, |s| s.parse().unwrap());
    println!(
        "above {truth}: {}",
        b.iter().filter(|&&x| x > truth).count()
    );
}

// --------------------------------------------------------------------------------------------
// Comparison on the same data (docs/epsilon.md §9.1): the default grid, the LFP audit, a
// pre-registered single threshold at the best threshold for the true distributions (the
// "oracle", not attainable without knowing them), and a small reference of jax_privacy's
// approach (Bonferroni over the vertices of the empirical ROC hull, whose vertices are chosen
// on the same data, so not formally valid). For comparison only.

/// jax_privacy-style bound: ROC hull of the rules "unlearned if score ≥ t" (and mirrored),
/// Clopper–Pearson at α / (2 V) per rate over the V hull vertices of both directions.
fn hull_bonferroni(u: &[f64], r: &[f64], delta: f64, alpha: f64) -> f64 {
    use unlearn_audit::audit::threshold::epsilon_from_rate_bounds;
    use unlearn_audit::stats::clopper_pearson_upper;
    let (mut u, mut r) = (u.to_vec(), r.to_vec());
    u.sort_by(f64::total_cmp);
    r.sort_by(f64::total_cmp);
    let (n_u, n_r) = (u.len(), r.len());
    // ROC points (FPR, TPR) for thresholds at every pooled value, "≥ t", plus (0,0).
    let mut pooled: Vec<f64> = u.iter().chain(&r).copied().collect();
    pooled.sort_by(f64::total_cmp);
    pooled.dedup();
    let mut points: Vec<(u64, u64)> = vec![(0, 0)]; // (fp, tp) counts
    for &t in pooled.iter().rev() {
        let tp = (n_u - u.partition_point(|&x| x < t)) as u64;
        let fp = (n_r - r.partition_point(|&x| x < t)) as u64;
        points.push((fp, tp));
    }
    // Upper hull (above the diagonal) and lower hull (the mirrored direction).
    let hull = |upper: bool| {
        let mut h: Vec<(f64, f64, u64, u64)> = Vec::new();
        for &(fp, tp) in &points {
            let p = (fp as f64 / n_r as f64, tp as f64 / n_u as f64, fp, tp);
            while h.len() >= 2 {
                let (a, b) = (h[h.len() - 2], h[h.len() - 1]);
                let cross = (b.0 - a.0) * (p.1 - a.1) - (b.1 - a.1) * (p.0 - a.0);
                if (upper && cross >= 0.0) || (!upper && cross <= 0.0) {
                    h.pop();
                } else {
                    break;
                }
            }
            h.push(p);
        }
        h
    };
    let vertices: Vec<(u64, u64)> = hull(true)
        .into_iter()
        .chain(hull(false))
        .map(|v| (v.2, v.3))
        .collect();
    let a = alpha / (2.0 * vertices.len() as f64);
    vertices
        .iter()
        .filter_map(|&(fp, tp)| {
            // Rule "unlearned if ≥ t": FPR = fp/n_r, FNR = (n_u − tp)/n_u; mirrored rule
            // "unlearned if < t": FPR = (n_r − fp)/n_r, FNR = tp/n_u.
            let one = |f: u64, m: u64| -> Option<f64> {
                let fu = clopper_pearson_upper(f, n_r as u64, a).ok()?;
                let mu = clopper_pearson_upper(m, n_u as u64, a).ok()?;
                epsilon_from_rate_bounds(fu, mu, delta)
            };
            let x = one(fp, n_u as u64 - tp);
            let y = one(n_r as u64 - fp, tp);
            match (x, y) {
                (Some(x), Some(y)) => Some(x.max(y)),
                (x, y) => x.or(y),
            }
        })
        .fold(0.0, f64::max)
}

/// The best pre-registered threshold for N(μ, 1) vs N(0, 1) at n per side: the one whose
/// audit at the expected counts is largest (upper tail, where ε is decided).
fn oracle_threshold(mu: f64, n: usize) -> f64 {
    use unlearn_audit::audit::threshold::epsilon_from_rate_bounds;
    use unlearn_audit::stats::{clopper_pearson_upper, normal_cdf};
    let mut best = (f64::NEG_INFINITY, 0.0);
    for i in 0..=600 {
        let t = i as f64 * 0.01;
        let fp = ((1.0 - normal_cdf(t)) * n as f64).round() as u64;
        let fnr = (normal_cdf(t - mu) * n as f64).round() as u64;
        let e = epsilon_from_rate_bounds(
            clopper_pearson_upper(fp, n as u64, 0.0125).unwrap(),
            clopper_pearson_upper(fnr, n as u64, 0.0125).unwrap(),
            DELTA,
        )
        .unwrap_or(0.0);
        if e > best.0 {
            best = (e, t);
        }
    }
    best.1
}

#[test]
#[ignore]
fn full_comparison() {
    let to_set = |v: &[f64]| {
        SampleSet::new(
            "synthetic",
            Array2::from_shape_vec((v.len(), 1), v.to_vec()).unwrap(),
        )
        .unwrap()
    };
    let seeds: u64 = std::env::var("LFP_COMPARE_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(25);
    for (name, sigma) in [("eps1", SIGMA_EPSILON_1), ("eps4", SIGMA_EPSILON_4)] {
        let n = 100_000;
        let t = oracle_threshold(1.0 / sigma, n);
        let mut rows: Vec<[f64; 4]> = Vec::new();
        for s in 0..seeds {
            let seed = 20_000 + s;
            let u = sample(n, Family::Gaussian(sigma), true, seed);
            let r = sample(
                n,
                Family::Gaussian(sigma),
                false,
                seed.wrapping_add(1 << 40),
            );
            let claim = Claim::new(None, DELTA).unwrap();
            let run = |selection| {
                let options = AuditOptions {
                    selection,
                    seed,
                    ..AuditOptions::default()
                };
                audit_epsilon(&to_set(&u), &to_set(&r), &claim, &options)
                    .unwrap()
                    .epsilon_lower_bound
            };
            rows.push([
                run(Selection::Bonferroni),
                lfp_audit(&u, &r, DELTA, 0.05, seed).epsilon,
                run(Selection::Threshold { threshold: t }),
                hull_bonferroni(&u, &r, DELTA, 0.05),
            ]);
        }
        let col = |i: usize| median(rows.iter().map(|r| r[i]).collect());
        println!(
            "comparison gaussian {name} n={n} seeds={seeds}: grid {:.4} | lfp {:.4} | oracle threshold {t:.2}: {:.4} | jax-style hull Bonferroni {:.4}",
            col(0),
            col(1),
            col(2),
            col(3)
        );
    }
}
