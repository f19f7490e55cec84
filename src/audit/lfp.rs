//! The least-favourable-pair (LFP) audit (`--selection lfp`, `docs/epsilon.md` §3.7).
//!
//! For each direction of separation, a statistic T over all thresholds among the K most
//! extreme pooled points of each tail (a Wilson-score lower bound on the conditional share of
//! the "excess" side, converted to an ε scale) is calibrated by a Monte-Carlo p-value under
//! the least-favourable pair of the claim H_ε: U ~ Uniform(0, 1) on the side claimed higher,
//! V with CDF h(u) = min(1, δ + e^ε u, 1 − e^(−ε)(1 − u − δ)) on the other. T is monotone
//! (it cannot decrease when a point of the higher side moves right or one of the lower side
//! moves left), so by the quantile coupling P(T ≥ c) under any (ε, δ)-indistinguishable pair
//! is at most its value under the LFP: the test is exactly valid for the whole composite null.
//! The draws of each LFP sample are generated from exponential spacings (K at each end, a
//! Gamma variable for the middle), so a draw costs O(K), not O(n). With the same draws for
//! every ε (common random numbers) each draw's T is non-decreasing in ε, so rejection is
//! monotone in ε and the inversion over a dyadic grid of ε is exact: the reported bound is the
//! largest grid value at which H_ε was rejected (every grid value below it was rejected too).

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp1, Gamma};
use rayon::prelude::*;

/// Monte-Carlo draws per direction (the p-value is `(1 + #{T_b ≥ T_obs}) / (B + 1)`).
pub const LFP_DRAWS: usize = 999;
/// Most extreme pooled points per tail scanned by the statistic (also ≤ half the pool).
pub const LFP_MAX_EXTREME: usize = 20_000;
/// z of the Wilson-score lower bound inside the statistic (a shape parameter of T only;
/// validity never depends on it).
pub const LFP_WILSON_Z: f64 = 2.75;
fn wilson_z() -> f64 {
    LFP_WILSON_Z
}

/// Step of the ε grid of the inversion: 2⁻¹⁰ (grid values are exact in f64).
pub const LFP_GRID_STEP: f64 = 1.0 / 1024.0;
/// Largest grid index: ε up to 32 are tested.
pub const LFP_GRID_POINTS: u32 = 32 * 1024;

/// RNG streams of the LFP audit (above the audit's other streams).
const STREAM_TIES_UNLEARNED: u64 = 6;
const STREAM_TIES_RETRAINED: u64 = 7;
const STREAM_DRAWS: u64 = 1 << 32;

/// Number of pooled extreme points per tail for these side sizes (fixed before the data).
pub fn extreme_count(n_a: usize, n_b: usize) -> usize {
    LFP_MAX_EXTREME.min((n_a + n_b) / 2).max(1)
}

/// Monte-Carlo draws for a per-direction level `alpha_direction`: at least [`LFP_DRAWS`], and
/// enough that at least 10 exceedances are allowed (`(1 + c) ≤ α (B + 1)` with c = 9).
pub fn draws_for(alpha_direction: f64) -> usize {
    let needed = (10.0 / alpha_direction).ceil() - 1.0;
    if needed.is_finite() && needed > LFP_DRAWS as f64 {
        needed.min(1e8) as usize
    } else {
        LFP_DRAWS
    }
}

/// A score with its random tie-breaking key (post-processing: ties between the sides are
/// broken uniformly at random, `docs/epsilon.md` §3.7).
#[derive(Debug, Clone, Copy)]
struct Keyed {
    value: f64,
    key: u64,
}

fn keyed_sorted(values: &[f64], seed: u64, stream: u64) -> Vec<Keyed> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    let mut v: Vec<Keyed> = values
        .iter()
        .map(|&value| Keyed {
            value,
            key: rng.random::<u64>(),
        })
        .collect();
    v.sort_unstable_by(|a, b| a.value.total_cmp(&b.value).then(a.key.cmp(&b.key)));
    v
}

fn keyed_less(a: &Keyed, b: &Keyed) -> bool {
    match a.value.total_cmp(&b.value) {
        std::cmp::Ordering::Less => true,
        std::cmp::Ordering::Greater => false,
        std::cmp::Ordering::Equal => a.key < b.key,
    }
}

/// The per-threshold statistic: ε̂ = logit(π_lb) + offset, where π_lb is the Wilson lower
/// bound (z = [`LFP_WILSON_Z`]) of `count − d` successes in `k − d` trials; −∞ when
/// `k − d ≤ 0` or `count − d ≤ 0`.
fn epsilon_hat(count: f64, k: f64, d: f64, offset: f64) -> f64 {
    let (x, t) = (count - d, k - d);
    if t <= 0.0 || x <= 0.0 {
        return f64::NEG_INFINITY;
    }
    let z = wilson_z();
    let p = x / t;
    let z2 = z * z;
    let centre = p + z2 / (2.0 * t);
    let half = z * (p * (1.0 - p) / t + z2 / (4.0 * t * t)).sqrt();
    let lb = (centre - half) / (1.0 + z2 / t);
    if lb <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if lb >= 1.0 {
        return f64::INFINITY;
    }
    (lb / (1.0 - lb)).ln() + offset
}

/// What the statistic of one direction needs: the sizes of the higher side A and the lower
/// side B, δ, and K.
#[derive(Debug, Clone, Copy)]
struct Shape {
    n_a: usize,
    n_b: usize,
    delta: f64,
    k: usize,
}

impl Shape {
    /// Offsets and δ-counts of the two tails: upper (count of A among the top k pooled),
    /// lower (count of B among the bottom k pooled).
    fn upper(&self) -> (f64, f64) {
        (
            self.delta * self.n_a as f64,
            (self.n_b as f64 / self.n_a as f64).ln(),
        )
    }
    fn lower(&self) -> (f64, f64) {
        (
            self.delta * self.n_b as f64,
            (self.n_a as f64 / self.n_b as f64).ln(),
        )
    }
    /// Smallest count at pooled depth k (1-based) that makes ε̂ ≥ level, for both tails:
    /// `count − d ≥ (k − d) p₀ + z √((k − d) p₀ (1 − p₀))`, p₀ = logistic(level − offset)
    /// (the Wilson lower bound is ≥ p₀ exactly when the score statistic at p₀ is ≥ z).
    fn needs(&self, level: f64) -> (Vec<f64>, Vec<f64>) {
        let one = |(d, offset): (f64, f64)| -> Vec<f64> {
            let x = level - offset;
            let p0 = if x.is_nan() {
                0.0
            } else {
                1.0 / (1.0 + (-x).exp())
            };
            (1..=self.k)
                .map(|k| {
                    let t = k as f64 - d;
                    if t <= 0.0 || level == f64::INFINITY {
                        f64::INFINITY
                    } else if level == f64::NEG_INFINITY {
                        f64::NEG_INFINITY
                    } else {
                        d + t * p0 + wilson_z() * (t * p0 * (1.0 - p0)).sqrt()
                    }
                })
                .collect()
        };
        (one(self.upper()), one(self.lower()))
    }
}

/// Statistic of one direction on data: max over both tails and depths of ε̂, and where.
#[derive(Debug, Clone, Copy)]
struct Observed {
    value: f64,
    upper_tail: bool,
    depth: usize,
}

/// Observed statistic from the flags "is A" of the top-K pooled (upper tail, most extreme
/// first) and "is B" of the bottom-K pooled (lower tail, most extreme first).
fn observed(shape: &Shape, upper_is_a: &[bool], lower_is_b: &[bool]) -> Observed {
    let mut best = Observed {
        value: f64::NEG_INFINITY,
        upper_tail: true,
        depth: 1,
    };
    for (flags, (d, offset), upper_tail) in [
        (upper_is_a, shape.upper(), true),
        (lower_is_b, shape.lower(), false),
    ] {
        let mut count = 0u64;
        for (i, &f) in flags.iter().enumerate() {
            count += f as u64;
            let e = epsilon_hat(count as f64, (i + 1) as f64, d, offset);
            if e > best.value {
                best = Observed {
                    value: e,
                    upper_tail,
                    depth: i + 1,
                };
            }
        }
    }
    best
}

/// Extremes of one uniform sample of size n: `lower[i]` = U_(i+1) and `upper[i]` = 1 − U_(n−i),
/// both ascending, each of length min(n, k), from exponential spacings (and one Gamma for the
/// middle when 2k < n). Exact in distribution (Rényi's representation).
fn uniform_extremes(n: usize, k: usize, rng: &mut ChaCha8Rng) -> (Vec<f64>, Vec<f64>) {
    let cumulative = |count: usize, rng: &mut ChaCha8Rng| {
        let mut s = 0.0;
        (0..count)
            .map(|_| {
                let e: f64 = Exp1.sample(rng);
                s += e;
                s
            })
            .collect::<Vec<f64>>()
    };
    if 2 * k >= n {
        // All n + 1 spacings: lower from the bottom, upper from the top.
        let spacings: Vec<f64> = (0..=n).map(|_| Exp1.sample(rng)).collect();
        let total: f64 = spacings.iter().sum();
        let mut lower = Vec::with_capacity(n);
        let mut s = 0.0;
        for e in &spacings[..n] {
            s += e;
            lower.push(s / total);
        }
        let mut upper = Vec::with_capacity(n);
        let mut s = 0.0;
        for e in spacings[1..].iter().rev() {
            s += e;
            upper.push(s / total);
        }
        (lower, upper)
    } else {
        let lower = cumulative(k, rng);
        let upper = cumulative(k, rng);
        let middle: f64 = Gamma::new((n + 1 - 2 * k) as f64, 1.0)
            .expect("shape ≥ 1")
            .sample(rng);
        let total = lower[k - 1] + upper[k - 1] + middle;
        (
            lower.iter().map(|s| s / total).collect(),
            upper.iter().map(|s| s / total).collect(),
        )
    }
}

/// One LFP draw of a direction: the uniform side A's extremes and the uniform W's extremes
/// that become V = h⁻¹(W) on side B for any ε.
struct Draw {
    a_lower: Vec<f64>,
    a_upper: Vec<f64>,
    w_lower: Vec<f64>,
    w_upper: Vec<f64>,
}

impl Draw {
    fn new(shape: &Shape, seed: u64, stream: u64) -> Draw {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(stream);
        let (a_lower, a_upper) = uniform_extremes(shape.n_a, shape.k, &mut rng);
        let (w_lower, w_upper) = uniform_extremes(shape.n_b, shape.k, &mut rng);
        Draw {
            a_lower,
            a_upper,
            w_lower,
            w_upper,
        }
    }

    /// Whether this draw's statistic under the LFP at ε reaches the level whose per-depth
    /// counts are `needs`. Non-decreasing in ε: V = h_ε⁻¹(W) decreases in ε for every W.
    fn exceeds(&self, shape: &Shape, epsilon: f64, needs: &(Vec<f64>, Vec<f64>)) -> bool {
        let (grow, shrink) = (epsilon.exp(), (-epsilon).exp());
        let delta = shape.delta;
        // Upper tail, in distances from 1: 1 − V = min(1, 1 − (1 − s − δ)e^(−ε), δ + e^ε s).
        let v_upper = |s: f64| {
            (1.0 - (1.0 - s - delta) * shrink)
                .min(delta + grow * s)
                .min(1.0)
        };
        // Lower tail: V = max(0, (w − δ)e^(−ε), 1 − δ − e^ε (1 − w)).
        let v_lower = |w: f64| {
            ((w - delta) * shrink)
                .max(1.0 - delta - grow * (1.0 - w))
                .max(0.0)
        };
        // Walk the pooled extremes (smaller = more extreme in both tails' coordinates),
        // counting A (upper tail) or B (lower tail), until a depth meets its need.
        fn scan(
            a: &[f64],
            b: &[f64],
            map: impl Fn(f64) -> f64,
            count_a: bool,
            need: &[f64],
        ) -> bool {
            let (mut i, mut j, mut count) = (0usize, 0usize, 0f64);
            let mut next_b = b.first().map_or(f64::INFINITY, |&w| map(w));
            for need_k in need {
                let take_a = j >= b.len() || (i < a.len() && a[i] < next_b);
                if take_a {
                    if i >= a.len() {
                        break;
                    }
                    i += 1;
                    count += count_a as u8 as f64;
                } else {
                    j += 1;
                    next_b = b.get(j).map_or(f64::INFINITY, |&w| map(w));
                    count += !count_a as u8 as f64;
                }
                if count >= *need_k {
                    return true;
                }
            }
            false
        }
        scan(&self.a_upper, &self.w_upper, v_upper, true, &needs.0)
            || scan(&self.a_lower, &self.w_lower, v_lower, false, &needs.1)
    }
}

fn grid_epsilon(g: u32) -> f64 {
    g as f64 * LFP_GRID_STEP
}

/// τ = the smallest grid index at which the draw exceeds the level, if it is ≤ `bound`.
fn first_exceedance(
    draw: &Draw,
    shape: &Shape,
    needs: &(Vec<f64>, Vec<f64>),
    bound: u32,
) -> Option<u32> {
    if !draw.exceeds(shape, grid_epsilon(bound), needs) {
        return None;
    }
    // Invariant: exceeds at hi, not at lo.
    let (mut lo, mut hi) = (0u32, bound);
    if bound == 0 || draw.exceeds(shape, 0.0, needs) {
        return Some(0);
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if draw.exceeds(shape, grid_epsilon(mid), needs) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(hi)
}

/// The bound of one direction: the largest grid ε at which H_ε is rejected at level
/// `alpha_direction` (0 when none is), from `draws` Monte-Carlo draws.
fn invert(
    shape: &Shape,
    level: f64,
    alpha_direction: f64,
    draws: usize,
    seed: u64,
    direction: u64,
) -> f64 {
    // Reject at g iff (1 + #{τ_b ≤ g}) ≤ α (B + 1), i.e. #{τ_b ≤ g} ≤ c.
    let budget = alpha_direction * (draws as f64 + 1.0);
    if budget < 1.0 {
        return 0.0;
    }
    let c = (budget.floor() as usize).saturating_sub(1);
    // Tiny downward margin: the draws' predicate is the score form of the Wilson bound; a
    // lower level only lets more draws exceed it (conservative).
    let level = level - 1e-9 * level.abs().max(1.0);
    let needs = shape.needs(level);
    // The (c+1) smallest τ, found with a first guess of the answer (just above the observed
    // statistic, which is on the ε scale): draws whose τ exceeds the running bound are
    // skipped. If fewer than c + 1 draws reach the guess, the answer is above it and the
    // search is repeated without it. The result never depends on the guess or the order.
    let guess = if level.is_finite() {
        (((level.max(0.0) + 0.5) / LFP_GRID_STEP).ceil() as u32).min(LFP_GRID_POINTS)
    } else {
        LFP_GRID_POINTS
    };
    let search = |initial: u32| -> Vec<u32> {
        let mut smallest: Vec<u32> = Vec::with_capacity(c + 2);
        let chunk = 64usize;
        let mut start = 0usize;
        while start < draws {
            let end = (start + chunk).min(draws);
            let bound = if smallest.len() > c {
                smallest[c]
            } else {
                initial
            };
            let found: Vec<Option<u32>> = (start..end)
                .into_par_iter()
                .map(|b| {
                    let stream = STREAM_DRAWS + 2 * b as u64 + direction;
                    let draw = Draw::new(shape, seed, stream);
                    first_exceedance(&draw, shape, &needs, bound)
                })
                .collect();
            smallest.extend(found.into_iter().flatten());
            smallest.sort_unstable();
            smallest.truncate(c + 1);
            start = end;
        }
        smallest
    };
    let mut smallest = search(guess);
    if smallest.len() <= c && guess < LFP_GRID_POINTS {
        smallest = search(LFP_GRID_POINTS);
    }
    // q = (c+1)-th smallest τ; H is rejected at every grid g < q.
    let q = if smallest.len() > c {
        smallest[c]
    } else {
        LFP_GRID_POINTS + 1
    };
    if q == 0 { 0.0 } else { grid_epsilon(q - 1) }
}

/// Result of the LFP audit of one scalar statistic.
#[derive(Debug, Clone)]
pub struct LfpOutcome {
    /// Certified ε lower bound (max over the two directions, each at α/2).
    pub epsilon: f64,
    /// The deciding direction: `true` when the unlearned side is the higher one.
    pub unlearned_higher: bool,
    /// The deciding threshold and the rule it defines.
    pub threshold: f64,
    pub comparison: super::Comparison,
    /// Observed statistic of the deciding direction.
    pub statistic: f64,
    pub draws: usize,
    pub extreme: usize,
}

/// Flags of the pooled extremes: is the point from `a`? For the upper tail (most extreme =
/// largest first) and the lower tail (smallest first), up to `k` each, with the pooled value.
fn pooled_flags(a: &[Keyed], b: &[Keyed], k: usize, upper: bool) -> (Vec<bool>, Vec<f64>) {
    let (mut i, mut j) = (0usize, 0usize);
    let mut flags = Vec::with_capacity(k);
    let mut values = Vec::with_capacity(k);
    let (na, nb) = (a.len(), b.len());
    while flags.len() < k && (i < na || j < nb) {
        let take_a = if upper {
            j >= nb || (i < na && keyed_less(&b[nb - 1 - j], &a[na - 1 - i]))
        } else {
            j >= nb || (i < na && keyed_less(&a[i], &b[j]))
        };
        if take_a {
            values.push(if upper {
                a[na - 1 - i].value
            } else {
                a[i].value
            });
            i += 1;
        } else {
            values.push(if upper {
                b[nb - 1 - j].value
            } else {
                b[j].value
            });
            j += 1;
        }
        flags.push(take_a);
    }
    (flags, values)
}

/// The LFP audit (`docs/epsilon.md` §3.7) of unlearned vs retrained scores at error budget
/// `alpha` (α/2 per direction) and δ; deterministic in `seed` whatever the thread count.
pub fn lfp_audit(
    unlearned: &[f64],
    retrained: &[f64],
    delta: f64,
    alpha: f64,
    seed: u64,
) -> LfpOutcome {
    let u = keyed_sorted(unlearned, seed, STREAM_TIES_UNLEARNED);
    let r = keyed_sorted(retrained, seed, STREAM_TIES_RETRAINED);
    lfp_from_keyed(&u, &r, delta, alpha, seed, None)
}

/// The bound a perfectly separated sample of these sizes would give (the LFP ceiling).
pub fn lfp_ceiling(
    n_unlearned: usize,
    n_retrained: usize,
    delta: f64,
    alpha: f64,
    seed: u64,
) -> f64 {
    let shape = Shape {
        n_a: n_unlearned,
        n_b: n_retrained,
        delta,
        k: extreme_count(n_unlearned, n_retrained),
    };
    let upper: Vec<bool> = (0..shape.k).map(|i| i < n_unlearned).collect();
    let lower: Vec<bool> = (0..shape.k).map(|i| i < n_retrained).collect();
    let obs = observed(&shape, &upper, &lower);
    let draws = draws_for(alpha / 2.0);
    invert(&shape, obs.value, alpha / 2.0, draws, seed, 0)
}

fn lfp_from_keyed(
    u: &[Keyed],
    r: &[Keyed],
    delta: f64,
    alpha: f64,
    seed: u64,
    draws: Option<usize>,
) -> LfpOutcome {
    use super::Comparison;
    let alpha_direction = alpha / 2.0;
    let draws = draws.unwrap_or_else(|| draws_for(alpha_direction));
    let k = extreme_count(u.len(), r.len());
    // Direction 0: unlearned higher (A = unlearned, B = retrained). Direction 1: swapped.
    let run = |direction: u64| {
        let (a, b) = if direction == 0 { (u, r) } else { (r, u) };
        let shape = Shape {
            n_a: a.len(),
            n_b: b.len(),
            delta,
            k,
        };
        let (upper, upper_values) = pooled_flags(a, b, k, true);
        let (lower_a, lower_values) = pooled_flags(a, b, k, false);
        let lower: Vec<bool> = lower_a.iter().map(|&f| !f).collect();
        let obs = observed(&shape, &upper, &lower);
        let epsilon = if obs.value == f64::NEG_INFINITY {
            0.0
        } else {
            invert(&shape, obs.value, alpha_direction, draws, seed, direction)
        };
        let threshold = if obs.upper_tail {
            upper_values[obs.depth - 1]
        } else {
            lower_values[obs.depth - 1]
        };
        (epsilon, obs, threshold)
    };
    let ((e0, o0, t0), (e1, o1, t1)) = rayon::join(|| run(0), || run(1));
    let (epsilon, obs, threshold, unlearned_higher) =
        if e1 > e0 || (e1 == e0 && o1.value > o0.value) {
            (e1, o1, t1, false)
        } else {
            (e0, o0, t0, true)
        };
    // The deciding rule: the top-`depth` pooled points (upper tail) or the bottom ones.
    let comparison = match (unlearned_higher, obs.upper_tail) {
        (true, true) => Comparison::GreaterEqual,
        (true, false) => Comparison::Greater,
        (false, true) => Comparison::Less,
        (false, false) => Comparison::LessEqual,
    };
    LfpOutcome {
        epsilon,
        unlearned_higher,
        threshold,
        comparison,
        statistic: obs.value,
        draws,
        extreme: k,
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn wilson_needs_match_statistic() {
        let shape = Shape {
            n_a: 1000,
            n_b: 800,
            delta: 1e-3,
            k: 200,
        };
        let level = 0.7;
        let (up, low) = shape.needs(level);
        let (d, off) = shape.upper();
        for k in 1..=200usize {
            // The smallest integer count meeting the need has ε̂ ≥ level (up to rounding).
            let c = up[k - 1].ceil();
            if c <= k as f64 {
                assert!(epsilon_hat(c, k as f64, d, off) >= level - 1e-9, "{k}");
                if c - 1.0 >= 0.0 {
                    assert!(epsilon_hat(c - 1.0, k as f64, d, off) < level + 1e-9, "{k}");
                }
            }
        }
        assert_eq!(low.len(), 200);
    }

    #[test]
    fn uniform_extremes_have_uniform_means() {
        // E[U_(1)] = 1/(n+1) for both constructions (all spacings, and spacings + Gamma).
        for &(n, k) in &[(50usize, 40usize), (10_000, 20)] {
            let mut rng = ChaCha8Rng::seed_from_u64(3);
            let reps = 4000;
            let (mut lo, mut hi) = (0.0, 0.0);
            for _ in 0..reps {
                let (l, u) = uniform_extremes(n, k, &mut rng);
                lo += l[0];
                hi += u[0];
            }
            let want = 1.0 / (n as f64 + 1.0);
            // sd of the mean of U_(1) ≈ want / √reps; 5 sd: false failure < 1e-6.
            let tol = 5.0 * want / (reps as f64).sqrt();
            assert!((lo / reps as f64 - want).abs() < tol, "{n} lower");
            assert!((hi / reps as f64 - want).abs() < tol, "{n} upper");
        }
    }

    #[test]
    fn exceedance_is_monotone_in_epsilon() {
        let shape = Shape {
            n_a: 300,
            n_b: 200,
            delta: 1e-3,
            k: extreme_count(300, 200),
        };
        let needs = shape.needs(1.0);
        for b in 0..20u64 {
            let draw = Draw::new(&shape, 9, b);
            let mut seen = false;
            for g in 0..200u32 {
                let e = draw.exceeds(&shape, g as f64 * 0.02, &needs);
                assert!(!seen || e, "draw {b} not monotone at {g}");
                seen |= e;
            }
        }
    }
}
