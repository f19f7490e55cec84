//! Accurate tail probabilities and confidence bounds: the binomial tail, the regularised
//! incomplete beta function and its inverse, exact Clopper–Pearson bounds, and Gaussian tail
//! helpers. Every ε check in the crate goes through [`clopper_pearson_upper`] and
//! [`clopper_pearson_lower`] (one binomial-bound routine under every check).
//!
//! Why not `statrs::Beta::inverse_cdf`: it loses up to 3e-4 relative for the shapes that
//! Clopper–Pearson bounds need (small k, n ≈ 10⁶), and `statrs::function::beta::beta_reg` is
//! off by 2e-3 for large balanced shapes (statrs-dev/statrs#434). Here the binomial tail is
//! summed directly in floating point from the tail edge outward, with each probability-mass
//! term computed by Loader's saddle-point formula (the `dbinom` of R), which is accurate to a
//! few ulps for every n up to 2⁵³. Clopper–Pearson roots are found by a safeguarded Newton
//! iteration on the logarithm of that forward tail (Wilson start, bracket kept, bisection
//! fallback), finished by a bracket check on the bit pattern of the f64 argument, so they are
//! the root of the forward function to one ulp as with plain bisection but in 5–9 instead of
//! 64 evaluations; bounds are then rounded outward by one more ulp. Other beta quantiles use
//! plain bit bisection. The derivation is in `docs/epsilon.md` §2.

use statrs::distribution::{ContinuousCDF, Normal};

/// Errors from the statistical routines; every variant names the parameter at fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum StatsError {
    /// A parameter is outside its domain.
    #[error("parameter `{parameter}` = {value}: {message}")]
    Domain {
        parameter: &'static str,
        value: f64,
        message: &'static str,
    },
    /// The requested shapes are outside the range where the forward function is known to be
    /// accurate; an error rather than a silently wrong number.
    #[error("beta shapes a = {a}, b = {b}: {message}")]
    Inaccurate {
        a: f64,
        b: f64,
        message: &'static str,
    },
}

fn domain(parameter: &'static str, value: f64, message: &'static str) -> StatsError {
    StatsError::Domain {
        parameter,
        value,
        message,
    }
}

fn check_probability_open(parameter: &'static str, value: f64) -> Result<(), StatsError> {
    if value.is_finite() && value > 0.0 && value < 1.0 {
        Ok(())
    } else {
        Err(domain(
            parameter,
            value,
            "must lie strictly between 0 and 1",
        ))
    }
}

fn check_counts(successes: u64, trials: u64) -> Result<(), StatsError> {
    if trials == 0 {
        return Err(domain("trials", 0.0, "must be at least 1"));
    }
    if successes > trials {
        return Err(domain(
            "successes",
            successes as f64,
            "must not exceed the number of trials",
        ));
    }
    if trials > (1u64 << 53) {
        return Err(domain(
            "trials",
            trials as f64,
            "must be at most 2^53 (exactly representable)",
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Binomial probability mass (Loader 2000, "Fast and accurate computation of binomial
// probabilities"; the algorithm of R's dbinom_raw).

/// `ln(n!) − ln(√(2πn) (n/e)ⁿ)` for integers 0..=15, computed with mpmath at 40 digits.
#[allow(clippy::excessive_precision)]
const STIRLING_ERROR_TABLE: [f64; 16] = [
    0.0,
    0.08106146679532725821967,
    0.04134069595540929409382,
    0.02767792568499833914879,
    0.02079067210376509311152,
    0.01664469118982119216319,
    0.01387612882307074799875,
    0.01189670994589177009506,
    0.01041126526197209649748,
    0.009255462182712732917729,
    0.008330563433362871256469,
    0.007573675487951840794972,
    0.006942840107209529865664,
    0.00640899418800420706844,
    0.005951370112758847735624,
    0.005554733551962801371039,
];

/// Error of Stirling's formula for ln(n!), integer n.
fn stirling_error(n: f64) -> f64 {
    const S0: f64 = 1.0 / 12.0;
    const S1: f64 = 1.0 / 360.0;
    const S2: f64 = 1.0 / 1260.0;
    const S3: f64 = 1.0 / 1680.0;
    const S4: f64 = 1.0 / 1188.0;
    if n <= 15.0 {
        return STIRLING_ERROR_TABLE[n as usize];
    }
    let nn = n * n;
    if n > 500.0 {
        (S0 - S1 / nn) / n
    } else if n > 80.0 {
        (S0 - (S1 - S2 / nn) / nn) / n
    } else if n > 35.0 {
        (S0 - (S1 - (S2 - S3 / nn) / nn) / nn) / n
    } else {
        (S0 - (S1 - (S2 - (S3 - S4 / nn) / nn) / nn) / nn) / n
    }
}

/// Deviance term `x ln(x/np) + np − x`, computed without cancellation near x = np.
fn deviance(x: f64, np: f64) -> f64 {
    if (x - np).abs() < 0.1 * (x + np) {
        let v = (x - np) / (x + np);
        let mut sum = (x - np) * v;
        let mut term = 2.0 * x * v;
        let v2 = v * v;
        for j in 1..1000 {
            term *= v2;
            let next = sum + term / f64::from(2 * j + 1);
            if next == sum {
                return next;
            }
            sum = next;
        }
        sum
    } else {
        x * (x / np).ln() + np - x
    }
}

/// `P[Bin(n, p) = k]` with `q = 1 − p` supplied separately (so that tiny q is exact).
fn binomial_pmf(k: f64, n: f64, p: f64, q: f64) -> f64 {
    if p == 0.0 {
        return if k == 0.0 { 1.0 } else { 0.0 };
    }
    if q == 0.0 {
        return if k == n { 1.0 } else { 0.0 };
    }
    if k == 0.0 {
        let log_mass = if p < 0.1 {
            -deviance(n, n * q) - n * p
        } else {
            n * q.ln()
        };
        return log_mass.exp();
    }
    if k == n {
        let log_mass = if q < 0.1 {
            -deviance(n, n * p) - n * q
        } else {
            n * p.ln()
        };
        return log_mass.exp();
    }
    let log_core = stirling_error(n)
        - stirling_error(k)
        - stirling_error(n - k)
        - deviance(k, n * p)
        - deviance(n - k, n * q);
    let log_scale = (2.0 * std::f64::consts::PI).ln() + k.ln() + (-k / n).ln_1p();
    (log_core - 0.5 * log_scale).exp()
}

/// Sums pmf terms from `start` moving by `step` (±1) while they stay relevant. The caller
/// guarantees the terms decrease from `start` on (it starts on the far side of the mode).
fn sum_tail_from(start: f64, step: f64, n: f64, p: f64, q: f64) -> f64 {
    let mut term = binomial_pmf(start, n, p, q);
    let mut sum = term;
    let mut i = start;
    while term > 0.0 {
        // Ratio of consecutive pmf terms: moving down from i, P(i−1)/P(i) = i q /((n−i+1) p);
        // moving up, P(i+1)/P(i) = (n−i) p /((i+1) q).
        let ratio = if step < 0.0 {
            if i <= 0.0 {
                break;
            }
            i * q / ((n - i + 1.0) * p)
        } else {
            if i >= n {
                break;
            }
            (n - i) * p / ((i + 1.0) * q)
        };
        term *= ratio;
        i += step;
        sum += term;
        if term <= sum * 1e-18 {
            break;
        }
    }
    sum
}

/// Lower tail `P[Bin(n, p) ≤ k]`, accurate to about 1e-13 relative for every n ≤ 2⁵³
/// (log-space terms, summed from the tail edge outward). See `docs/epsilon.md` §2.1.
pub fn binomial_cdf(k: u64, n: u64, p: f64) -> Result<f64, StatsError> {
    check_counts(k, n.max(1))?;
    if !(0.0..=1.0).contains(&p) {
        return Err(domain("p", p, "must lie in [0, 1]"));
    }
    Ok(binomial_cdf_unchecked(k as f64, n as f64, p, 1.0 - p))
}

fn binomial_cdf_unchecked(k: f64, n: f64, p: f64, q: f64) -> f64 {
    if k >= n {
        return 1.0;
    }
    if p == 0.0 {
        return 1.0;
    }
    if q == 0.0 {
        return 0.0;
    }
    // Sum the side that does not contain the mode, so that terms decrease from the start.
    if k * q <= (n - k + 1.0) * p {
        sum_tail_from(k, -1.0, n, p, q).min(1.0)
    } else {
        (1.0 - sum_tail_from(k + 1.0, 1.0, n, p, q)).max(0.0)
    }
}

/// Upper tail `P[Bin(n, p) ≥ k]` (1 when k = 0).
pub fn binomial_tail(k: u64, n: u64, p: f64) -> Result<f64, StatsError> {
    check_counts(k, n.max(1))?;
    if !(0.0..=1.0).contains(&p) {
        return Err(domain("p", p, "must lie in [0, 1]"));
    }
    Ok(binomial_sf_unchecked(k as f64, n as f64, p, 1.0 - p))
}

fn binomial_sf_unchecked(k: f64, n: f64, p: f64, q: f64) -> f64 {
    if k <= 0.0 {
        return 1.0;
    }
    if p == 0.0 {
        return 0.0;
    }
    if q == 0.0 {
        return 1.0;
    }
    // P[X ≥ k] = 1 − P[X ≤ k−1]; sum whichever side excludes the mode.
    let below = k - 1.0;
    if below * q <= (n - below + 1.0) * p {
        (1.0 - sum_tail_from(below, -1.0, n, p, q)).max(0.0)
    } else {
        sum_tail_from(k, 1.0, n, p, q).min(1.0)
    }
}

// ---------------------------------------------------------------------------------------------
// Regularised incomplete beta and its inverse.

fn is_integer_shape(value: f64) -> bool {
    value.fract() == 0.0 && (1.0..=9.0e15).contains(&value)
}

/// Regularised incomplete beta `I_x(a, b)`, the CDF of Beta(a, b) at x.
///
/// Integer shapes (the Clopper–Pearson case) use the exact identity
/// `I_x(a, b) = P[Bin(a + b − 1, x) ≥ a]` and the accurate binomial tail. Other shapes use
/// `statrs::function::beta::beta_reg`, which is accurate to ≲1e-9 relative while
/// `min(a, b) ≤ 10⁴`; beyond that an error is returned (statrs-dev/statrs#434).
pub fn beta_cdf(x: f64, a: f64, b: f64) -> Result<f64, StatsError> {
    if !(a.is_finite() && a > 0.0) {
        return Err(domain("a", a, "beta shape must be finite and positive"));
    }
    if !(b.is_finite() && b > 0.0) {
        return Err(domain("b", b, "beta shape must be finite and positive"));
    }
    if !(0.0..=1.0).contains(&x) {
        return Err(domain("x", x, "must lie in [0, 1]"));
    }
    if x == 0.0 {
        return Ok(0.0);
    }
    if x == 1.0 {
        return Ok(1.0);
    }
    if is_integer_shape(a) && is_integer_shape(b) {
        let n = a + b - 1.0;
        return Ok(binomial_sf_unchecked(a, n, x, 1.0 - x));
    }
    if a.min(b) > 1e4 {
        return Err(StatsError::Inaccurate {
            a,
            b,
            message: "non-integer shapes above 1e4 are outside the accurate range",
        });
    }
    Ok(statrs::function::beta::beta_reg(a, b, x))
}

/// Bisection on the bit patterns of non-negative doubles: returns the smallest x in
/// [lo, hi] with `above(x)` true, given `above` monotone (false … true) and `above(hi)`.
/// At most 64 evaluations; the result is exact to one ulp of the forward function's root.
fn bisect_bits(lo: f64, hi: f64, mut above: impl FnMut(f64) -> bool) -> f64 {
    if above(lo) {
        return lo;
    }
    bisect_open_bits(lo.to_bits(), hi.to_bits(), above)
}

/// Bisection between bit patterns `lo_bits` (known false) and `hi_bits` (known true): the
/// smallest double in (lo, hi] where `above` is true.
fn bisect_open_bits(mut lo_bits: u64, mut hi_bits: u64, mut above: impl FnMut(f64) -> bool) -> f64 {
    while hi_bits - lo_bits > 1 {
        let mid_bits = lo_bits + (hi_bits - lo_bits) / 2;
        if above(f64::from_bits(mid_bits)) {
            hi_bits = mid_bits;
        } else {
            lo_bits = mid_bits;
        }
    }
    f64::from_bits(hi_bits)
}

/// The same answer as [`bisect_bits`] (the smallest x in [lo, hi] with `above(x)`, given
/// `above` monotone and `above(hi)` true), found from a close `guess`: the bracket is grown
/// from the guess in steps of 2, 16, 128, … ulps until the predicate changes, then bisected.
/// With the guess within a few ulps of the root this costs about 2 + log₂(distance)
/// evaluations instead of 64. `lo_known_false` says that `above(lo)` is already known false.
fn bisect_bits_near(
    guess: f64,
    lo: f64,
    hi: f64,
    lo_known_false: bool,
    mut above: impl FnMut(f64) -> bool,
) -> f64 {
    let (lo_bits, hi_bits) = (lo.to_bits(), hi.to_bits());
    let guess_bits = guess.clamp(lo, hi).to_bits();
    let mut step = 2u64;
    if guess_bits < hi_bits && !(guess_bits == lo_bits && lo_known_false) && above(guess) {
        // Root at or below the guess: walk down until the predicate is false.
        let mut true_bits = guess_bits;
        loop {
            if true_bits - lo_bits <= step {
                return if lo_known_false {
                    bisect_open_bits(lo_bits, true_bits, above)
                } else {
                    bisect_bits(lo, f64::from_bits(true_bits), above)
                };
            }
            let probe = true_bits - step;
            if above(f64::from_bits(probe)) {
                true_bits = probe;
                step = step.saturating_mul(8);
            } else {
                return bisect_open_bits(probe, true_bits, above);
            }
        }
    }
    if guess_bits == hi_bits {
        // The guess is the bracket end, true by assumption: search down from it.
        return bisect_bits_near(f64::from_bits(hi_bits - 1), lo, hi, lo_known_false, above);
    }
    // Root above the guess (the guess is false, or is `lo` and known false).
    let mut false_bits = guess_bits;
    loop {
        if hi_bits - false_bits <= step {
            return bisect_open_bits(false_bits, hi_bits, above);
        }
        let probe = false_bits + step;
        if above(f64::from_bits(probe)) {
            return bisect_open_bits(false_bits, probe, above);
        }
        false_bits = probe;
        step = step.saturating_mul(8);
    }
}

/// Safeguarded Newton iteration for the root of `ln F(p) = ln α` on [lo, hi], where
/// `forward(p)` returns F(p) and F'(p), F is monotone with `F(lo)` on the opposite side of α
/// from `F(hi)` (`increasing` says which), and F is log-concave in p (true for the binomial
/// tails in p: they are Beta survival/distribution functions with shapes ≥ 1, whose densities
/// are log-concave). On a concave function Newton converges monotonically after its first
/// step; any step leaving the current bracket is replaced by a bisection of the bracket (on
/// the bit pattern, i.e. geometric for small p). Returns an approximate root and the bracket
/// (lo with the predicate false, hi with it true) it established. `docs/epsilon.md` §2.2.
fn newton_log_root(
    guess: f64,
    mut lo: f64,
    mut hi: f64,
    alpha: f64,
    increasing: bool,
    mut forward: impl FnMut(f64) -> (f64, f64),
) -> (f64, f64, f64, bool) {
    let ln_alpha = alpha.ln();
    let mut lo_known_false = false;
    let mut x = if guess > lo && guess < hi {
        guess
    } else {
        f64::from_bits(lo.to_bits() + (hi.to_bits() - lo.to_bits()) / 2)
    };
    for _ in 0..100 {
        let (value, slope) = forward(x);
        // The predicate of the final bracket check: upper bound F(p) ≤ α, lower F(p) ≥ α.
        let above = if increasing {
            value >= alpha
        } else {
            value <= alpha
        };
        if above {
            hi = x;
        } else {
            lo = x;
            lo_known_false = true;
        }
        let h = value.ln() - ln_alpha;
        let dh = slope / value;
        let newton = x - h / dh;
        // A step of a few ulps is below the forward function's rounding noise: done (the
        // final bracket check settles the last ulps).
        if newton.is_finite() && (newton - x).abs() <= 4.0 * f64::EPSILON * x {
            x = newton.clamp(lo, hi);
            break;
        }
        x = if newton.is_finite() && newton > lo && newton < hi {
            newton
        } else {
            f64::from_bits(lo.to_bits() + (hi.to_bits() - lo.to_bits()) / 2)
        };
        if hi.to_bits() - lo.to_bits() <= 4 {
            break;
        }
    }
    (x, lo, hi, lo_known_false)
}

/// Quantile of Beta(a, b): the x with `I_x(a, b) = p`, found by bisection on the accurate
/// forward [`beta_cdf`] (so its accuracy is the forward function's, to one ulp).
pub fn beta_quantile(p: f64, a: f64, b: f64) -> Result<f64, StatsError> {
    if !(0.0..=1.0).contains(&p) {
        return Err(domain("p", p, "must lie in [0, 1]"));
    }
    beta_cdf(0.5, a, b)?; // validates the shapes once
    if p == 0.0 {
        return Ok(0.0);
    }
    if p == 1.0 {
        return Ok(1.0);
    }
    let mut failure = None;
    let root = bisect_bits(0.0, 1.0, |x| match beta_cdf(x, a, b) {
        Ok(value) => value >= p,
        Err(e) => {
            failure = Some(e);
            true
        }
    });
    match failure {
        Some(e) => Err(e),
        None => Ok(root),
    }
}

/// Starting point of the Newton iteration: the Wilson score limit at z = Φ⁻¹(1 − α) for the
/// (continuity-shifted) count `x`, upper (`side` = 1) or lower (−1). Only a guess: the
/// result's accuracy never depends on it.
fn wilson_guess(x: f64, n: f64, alpha: f64, side: f64) -> f64 {
    let z = normal_quantile_upper(alpha).unwrap_or(0.0).max(0.0);
    let z2 = z * z;
    let denominator = n + z2;
    let centre = (x + z2 / 2.0) / denominator;
    let half_width = z * (x * (1.0 - x / n) + z2 / 4.0).max(0.0).sqrt() / denominator;
    centre + side * half_width
}

// ---------------------------------------------------------------------------------------------
// Clopper–Pearson.

/// One-sided Clopper–Pearson upper bound at confidence 1 − α on a binomial proportion:
/// `Beta(k + 1, n − k).ppf(1 − α)`, i.e. the p with `P[Bin(n, p) ≤ k] = α`; 1 when k = n.
/// Rounded up by one ulp. See `docs/epsilon.md` §2.2.
pub fn clopper_pearson_upper(successes: u64, trials: u64, alpha: f64) -> Result<f64, StatsError> {
    check_counts(successes, trials)?;
    check_probability_open("alpha", alpha)?;
    if successes == trials {
        return Ok(1.0);
    }
    let n = trials as f64;
    if successes == 0 {
        // Closed form: (1 − p)ⁿ = α.
        return Ok((-(alpha.ln() / n).exp_m1()).next_up().min(1.0));
    }
    let k = successes as f64;
    // P[Bin(n, p) ≤ k] decreases in p; at p = k/n it is at least ½ > α (binomial median).
    // d/dp P[Bin(n, p) ≤ k] = −n P[Bin(n − 1, p) = k].
    let (guess, lo, hi, lo_known_false) = newton_log_root(
        wilson_guess(k + 0.5, n, alpha, 1.0),
        k / n,
        1.0,
        alpha,
        false,
        |p| {
            let q = 1.0 - p;
            (
                binomial_cdf_unchecked(k, n, p, q),
                -n * binomial_pmf(k, n - 1.0, p, q),
            )
        },
    );
    let root = bisect_bits_near(guess, lo, hi, lo_known_false, |p| {
        binomial_cdf_unchecked(k, n, p, 1.0 - p) <= alpha
    });
    Ok(root.next_up().min(1.0))
}

/// One-sided Clopper–Pearson lower bound at confidence 1 − α: `Beta(k, n − k + 1).ppf(α)`,
/// i.e. the p with `P[Bin(n, p) ≥ k] = α`; 0 when k = 0. Rounded down by one ulp.
pub fn clopper_pearson_lower(successes: u64, trials: u64, alpha: f64) -> Result<f64, StatsError> {
    check_counts(successes, trials)?;
    check_probability_open("alpha", alpha)?;
    if successes == 0 {
        return Ok(0.0);
    }
    let n = trials as f64;
    if successes == trials {
        return Ok((alpha.ln() / n).exp().next_down().max(0.0));
    }
    let k = successes as f64;
    // P[Bin(n, p) ≥ k] increases in p; at p = k/n it is at least ½ > α.
    // d/dp P[Bin(n, p) ≥ k] = n P[Bin(n − 1, p) = k − 1].
    let (guess, lo, hi, lo_known_false) = newton_log_root(
        wilson_guess(k - 0.5, n, alpha, -1.0),
        0.0,
        k / n,
        alpha,
        true,
        |p| {
            let q = 1.0 - p;
            (
                binomial_sf_unchecked(k, n, p, q),
                n * binomial_pmf(k - 1.0, n - 1.0, p, q),
            )
        },
    );
    let root = bisect_bits_near(guess, lo, hi, lo_known_false, |p| {
        binomial_sf_unchecked(k, n, p, 1.0 - p) >= alpha
    });
    // `root` is the smallest p with tail ≥ α; the bound is the largest p with tail ≤ α,
    // which is at most one ulp below; step down twice to round toward safety.
    Ok(root.next_down().next_down().max(0.0))
}

/// Two-sided Clopper–Pearson interval at the given confidence (α/2 on each side).
pub fn clopper_pearson_interval(
    successes: u64,
    trials: u64,
    confidence: f64,
) -> Result<(f64, f64), StatsError> {
    check_probability_open("confidence", confidence)?;
    let alpha = 1.0 - confidence;
    Ok((
        clopper_pearson_lower(successes, trials, alpha / 2.0)?,
        clopper_pearson_upper(successes, trials, alpha / 2.0)?,
    ))
}

// ---------------------------------------------------------------------------------------------
// Gaussian helpers (statrs's normal is accurate to ~1e-16 relative in the quantile).

fn standard_normal() -> Normal {
    Normal::standard()
}

/// Standard normal CDF Φ(x).
pub fn normal_cdf(x: f64) -> f64 {
    standard_normal().cdf(x)
}

/// Standard normal survival function 1 − Φ(x), accurate in the upper tail.
pub fn normal_sf(x: f64) -> f64 {
    standard_normal().sf(x)
}

/// Standard normal quantile Φ⁻¹(p); for p > ½ computed through symmetry from the upper-tail
/// mass so that it keeps its accuracy. ±∞ at p = 0 or 1.
pub fn normal_quantile(p: f64) -> Result<f64, StatsError> {
    if !(0.0..=1.0).contains(&p) {
        return Err(domain("p", p, "must lie in [0, 1]"));
    }
    if p == 0.0 {
        return Ok(f64::NEG_INFINITY);
    }
    if p == 1.0 {
        return Ok(f64::INFINITY);
    }
    let normal = standard_normal();
    Ok(if p > 0.5 {
        -normal.inverse_cdf(1.0 - p)
    } else {
        normal.inverse_cdf(p)
    })
}

/// Standard normal quantile of an upper-tail mass q: Φ⁻¹(1 − q) without forming 1 − q.
pub fn normal_quantile_upper(q: f64) -> Result<f64, StatsError> {
    Ok(-normal_quantile(q)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tolerance::relative_eq;

    #[test]
    fn binomial_tails_sum_to_one() {
        for &(k, n, p) in &[
            (3u64, 10u64, 0.3),
            (500, 1000, 0.5),
            (0, 5, 0.2),
            (7, 7, 0.9),
        ] {
            let lower = binomial_cdf(k, n, p).unwrap();
            let upper = if k < n {
                binomial_tail(k + 1, n, p).unwrap()
            } else {
                0.0
            };
            assert!((lower + upper - 1.0).abs() < 1e-14, "{k} {n} {p}");
        }
    }

    #[test]
    fn clopper_pearson_known_answer() {
        // scipy: beta.ppf(0.025, 5, 96), beta.ppf(0.975, 6, 95) (reference B2 appendix).
        let (lo, hi) = clopper_pearson_interval(5, 100, 0.95).unwrap();
        assert!(relative_eq(lo, 0.016431879182051023, 1e-12), "{lo}");
        assert!(relative_eq(hi, 0.1128349111054654, 1e-12), "{hi}");
    }

    #[test]
    fn closed_forms_at_edges() {
        assert_eq!(clopper_pearson_upper(10, 10, 0.05).unwrap(), 1.0);
        assert_eq!(clopper_pearson_lower(0, 10, 0.05).unwrap(), 0.0);
        let u = clopper_pearson_upper(0, 1000, 0.025).unwrap();
        assert!(relative_eq(u, 1.0 - 0.025f64.powf(1e-3), 1e-12));
    }

    #[test]
    fn quantile_inverts_cdf() {
        for &(a, b, p) in &[(0.5, 0.5, 1e-12), (2.5, 7.0, 0.3), (3.0, 99998.0, 0.025)] {
            let x = beta_quantile(p, a, b).unwrap();
            let back = beta_cdf(x, a, b).unwrap();
            assert!(relative_eq(back, p, 1e-9), "{a} {b} {p}: {back}");
        }
    }

    /// The Newton path must land on the same double as the plain 64-step bit bisection of
    /// the same forward function (the pre-Newton implementation), across regimes: tiny and
    /// large k, n from 2 to 10⁷, α from 0.4 down to 10⁻¹².
    #[test]
    fn newton_matches_plain_bisection_bit_for_bit() {
        let mut evaluations = 0usize;
        let mut cells = 0usize;
        let mut identical = 0usize;
        for &n in &[2u64, 7, 100, 513, 10_000, 999_983, 10_000_000] {
            for &k in &[1u64, 2, 3, 17, n / 100, n / 10, n / 2, n - 2, n - 1] {
                if k == 0 || k >= n {
                    continue;
                }
                for &alpha in &[0.4, 0.025, 1.6e-4, 1e-6, 1e-12] {
                    let (kf, nf) = (k as f64, n as f64);
                    let upper = bisect_bits(kf / nf, 1.0, |p| {
                        binomial_cdf_unchecked(kf, nf, p, 1.0 - p) <= alpha
                    })
                    .next_up()
                    .min(1.0);
                    let lower = bisect_bits(0.0, kf / nf, |p| {
                        evaluations += 1;
                        binomial_sf_unchecked(kf, nf, p, 1.0 - p) >= alpha
                    })
                    .next_down()
                    .next_down()
                    .max(0.0);
                    let (ours_upper, ours_lower) = (
                        clopper_pearson_upper(k, n, alpha).unwrap(),
                        clopper_pearson_lower(k, n, alpha).unwrap(),
                    );
                    // Safe side: one ulp inside the bound the forward tail is already past α.
                    let inside_upper = ours_upper.next_down();
                    assert!(
                        ours_upper == 1.0
                            || binomial_cdf_unchecked(kf, nf, inside_upper, 1.0 - inside_upper)
                                <= alpha,
                        "safe upper k={k} n={n} alpha={alpha} {ours_upper} {upper}"
                    );
                    let inside_lower = ours_lower.next_up().next_up();
                    assert!(
                        ours_lower == 0.0
                            || binomial_sf_unchecked(kf, nf, inside_lower, 1.0 - inside_lower)
                                >= alpha,
                        "safe lower k={k} n={n} alpha={alpha}"
                    );
                    // Where the computed tail is not monotone at the ulp level (rounding noise,
                    // ~1e-15 relative) the two searches may pick different crossings.
                    assert!(
                        relative_eq(ours_upper, upper, 1e-13),
                        "upper k={k} n={n} alpha={alpha}"
                    );
                    assert!(
                        relative_eq(ours_lower, lower, 1e-13),
                        "lower k={k} n={n} alpha={alpha}"
                    );
                    identical +=
                        usize::from(ours_upper == upper) + usize::from(ours_lower == lower);
                    cells += 1;
                }
            }
        }
        assert!(cells > 250 && evaluations > 60 * cells);
        // Almost always the very same double.
        assert!(
            identical * 100 >= 2 * cells * 95,
            "{identical} of {}",
            2 * cells
        );
    }

    #[test]
    fn bad_parameters_are_errors() {
        assert!(clopper_pearson_upper(11, 10, 0.05).is_err());
        assert!(clopper_pearson_upper(1, 10, 1.5).is_err());
        assert!(clopper_pearson_upper(1, 0, 0.05).is_err());
        assert!(beta_cdf(0.5, -1.0, 2.0).is_err());
        assert!(normal_quantile(2.0).is_err());
    }
}
