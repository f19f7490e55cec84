//! Standard normal CDF and its logarithm, accurate in both tails. Every certificate in this
//! module reduces to differences of Gaussian tail probabilities; computing them through
//! `ln Φ` keeps the relative accuracy when `e^ε` is huge or the tails are tiny.
//! See `docs/certificates.md` §1.

use libm::erfc;

const SQRT_2: f64 = std::f64::consts::SQRT_2;
/// ½ ln(2π).
const HALF_LN_TWO_PI: f64 = 0.918_938_533_204_672_8;

/// Φ(x), the standard normal CDF, with full relative accuracy in the lower tail.
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * erfc(-x / SQRT_2)
}

/// ln Φ(x), with full relative accuracy for every finite x (no underflow in the lower tail).
pub fn ln_normal_cdf(x: f64) -> f64 {
    if x > 0.0 {
        // Φ(x) = 1 − Φ(−x): log1p keeps the tiny upper-tail mass.
        (-0.5 * erfc(x / SQRT_2)).ln_1p()
    } else if x > -30.0 {
        (0.5 * erfc(-x / SQRT_2)).ln()
    } else {
        // Mills-ratio asymptotic series: Φ(x) = φ(x)/|x| · Σ_k (−1)^k (2k−1)!!/x^{2k};
        // at |x| ≥ 30 the 12th term is below 1e-25, far under double precision.
        let x2 = x * x;
        let mut term = 1.0;
        let mut sum = 1.0;
        for k in 1..=12 {
            term *= -((2 * k - 1) as f64) / x2;
            sum += term;
        }
        -0.5 * x2 - (-x).ln() - HALF_LN_TWO_PI + sum.ln()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cdf_at_zero_and_symmetry() {
        assert_eq!(normal_cdf(0.0), 0.5);
        assert!((normal_cdf(1.3) + normal_cdf(-1.3) - 1.0).abs() < 1e-15);
    }

    #[test]
    fn log_cdf_is_continuous_across_the_series_switch() {
        let below = ln_normal_cdf(-30.0 - 1e-9);
        let above = ln_normal_cdf(-30.0 + 1e-9);
        // d/dx ln Φ ≈ |x| = 30, so the two sides differ by about 6e-8.
        assert!((below - above).abs() < 1e-7, "{below} vs {above}");
    }
}
