//! Overflow- and underflow-safe sums of squares and sums of norms (LAPACK `dnrm2`, Blue's
//! algorithm, as in LAPACK ≥ 3.10 `la_xnrm2.f90`). See `docs/metrics.md` §6.
//!
//! Squares of values of magnitude above 2^486 are accumulated scaled by 2^-538, squares of
//! values below 2^-511 scaled by 2^537, the rest unscaled. The scale factors are powers of two,
//! so scaling is exact, and for values in the middle range (everything an ordinary model
//! produces) the result is bit-identical to the plain sum `Σ x²`. The three partial sums are
//! additive, so chunks can be summed separately and merged in order (the determinism contract
//! of `docs/metrics.md` §6 is unchanged). A result that is still not finite is a value that
//! f64 cannot represent: callers turn it into an error naming the array.

/// 2^e for −1022 ≤ e ≤ 1023, as a constant.
const fn pow2(e: i32) -> f64 {
    f64::from_bits(((e + 1023) as u64) << 52)
}

/// Values above this magnitude are squared after scaling by [`SCALE_BIG`] (LAPACK `tbig`).
const T_BIG: f64 = pow2(486);
/// Values below this magnitude are squared after scaling by [`SCALE_SMALL`] (LAPACK `tsml`).
const T_SMALL: f64 = pow2(-511);
/// LAPACK `sbig`.
const SCALE_BIG: f64 = pow2(-538);
/// LAPACK `ssml`.
const SCALE_SMALL: f64 = pow2(537);

/// A sum of squares Σ x² kept as three exactly scaled partial sums (Blue's algorithm), so
/// that it neither overflows nor underflows. Additive: [`SumSquares::merge`] of two sums is
/// the sum over both sets of values.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SumSquares {
    /// Σ (x · 2^-538)² over |x| > 2^486.
    big: f64,
    /// Σ x² over the middle range.
    medium: f64,
    /// Σ (x · 2^537)² over |x| < 2^-511.
    small: f64,
}

impl SumSquares {
    /// Adds x².
    #[inline]
    pub fn add(&mut self, x: f64) {
        let a = x.abs();
        if a > T_BIG {
            let y = a * SCALE_BIG;
            self.big += y * y;
        } else if a < T_SMALL {
            let y = a * SCALE_SMALL;
            self.small += y * y;
        } else {
            self.medium += a * a;
        }
    }

    /// Adds another sum (merge chunks in order for reproducible bits).
    #[inline]
    pub fn merge(&mut self, other: &SumSquares) {
        self.big += other.big;
        self.medium += other.medium;
        self.small += other.small;
    }

    /// Whether nothing but zeros was added.
    pub fn is_zero(&self) -> bool {
        self.big == 0.0 && self.medium == 0.0 && self.small == 0.0
    }

    /// sqrt(Σ x² / divisor), computed without intermediate overflow or underflow. `divisor`
    /// = 1 gives the L2 norm; the number of rows gives the RMS. For middle-range values this is
    /// bit-identical to `(Σ x² / divisor).sqrt()`. May be `+inf` only when the true value
    /// exceeds `f64::MAX`.
    pub fn sqrt_of_mean(&self, divisor: f64) -> f64 {
        if self.big > 0.0 {
            // The middle and small sums are negligible next to a big one only in relative
            // terms; fold the middle one in (scaled twice to avoid overflow), drop the small.
            let sum = self.big + (self.medium * SCALE_BIG) * SCALE_BIG;
            (sum / divisor).sqrt() / SCALE_BIG
        } else if self.small > 0.0 {
            if self.medium > 0.0 {
                let medium = (self.medium / divisor).sqrt();
                let small = (self.small / divisor).sqrt() / SCALE_SMALL;
                let (low, high) = if small > medium {
                    (medium, small)
                } else {
                    (small, medium)
                };
                let ratio = low / high;
                high * (1.0 + ratio * ratio).sqrt()
            } else {
                (self.small / divisor).sqrt() / SCALE_SMALL
            }
        } else {
            (self.medium / divisor).sqrt()
        }
    }

    /// The L2 norm sqrt(Σ x²).
    pub fn norm(&self) -> f64 {
        self.sqrt_of_mean(1.0)
    }
}

/// Norms above this size are summed scaled by [`SUM_SCALE`], so that a sum of many norms
/// (each at most ~1.8e308) does not overflow on the way to its mean.
const SUM_THRESHOLD: f64 = pow2(600);
const SUM_SCALE: f64 = pow2(-600);

/// A sum of non-negative values (norms) whose mean is representable even when the sum is not.
/// Additive like [`SumSquares`]; for values below 2^600 bit-identical to the plain sum.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SumNorms {
    /// Σ v · 2^-600 over v ≥ 2^600.
    big: f64,
    /// Σ v over the rest.
    medium: f64,
}

impl SumNorms {
    /// Adds v (≥ 0).
    #[inline]
    pub fn add(&mut self, v: f64) {
        if v >= SUM_THRESHOLD {
            self.big += v * SUM_SCALE;
        } else {
            self.medium += v;
        }
    }

    /// Adds another sum.
    #[inline]
    pub fn merge(&mut self, other: &SumNorms) {
        self.big += other.big;
        self.medium += other.medium;
    }

    /// Σ v / divisor; `+inf` only when the mean itself exceeds `f64::MAX`.
    pub fn mean(&self, divisor: f64) -> f64 {
        if self.big > 0.0 {
            (self.big / divisor) / SUM_SCALE + self.medium / divisor
        } else {
            self.medium / divisor
        }
    }
}

/// The L2 norm of the element-wise difference of two slices, or `+inf` when a difference or
/// the norm is not representable.
pub fn distance(a: &[f64], b: &[f64]) -> f64 {
    let mut sum = SumSquares::default();
    for (&x, &y) in a.iter().zip(b) {
        sum.add(x - y);
    }
    sum.norm()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn middle_range_is_the_plain_sum() {
        let values = [0.1, -2.5, 3.0, 1e-3, 7.25];
        let mut sum = SumSquares::default();
        let mut plain = 0.0;
        for v in values {
            sum.add(v);
            plain += v * v;
        }
        assert_eq!(sum.norm(), plain.sqrt());
        assert_eq!(sum.sqrt_of_mean(5.0), (plain / 5.0).sqrt());
    }

    #[test]
    fn huge_and_tiny_values_keep_their_norm() {
        // 3-4-5 triangles at both ends of the range.
        let mut big = SumSquares::default();
        big.add(3e300);
        big.add(4e300);
        assert!((big.norm() / 5e300 - 1.0).abs() < 1e-15);
        let mut tiny = SumSquares::default();
        tiny.add(3e-300);
        tiny.add(4e-300);
        assert!((tiny.norm() / 5e-300 - 1.0).abs() < 1e-15);
        let mut mixed = SumSquares::default();
        mixed.add(1e-300);
        mixed.add(1.0);
        assert_eq!(mixed.norm(), 1.0);
        let mut overflow = SumSquares::default();
        overflow.add(f64::MAX);
        overflow.add(f64::MAX);
        assert_eq!(overflow.norm(), f64::INFINITY);
        assert!((distance(&[1e300, 0.0], &[-2e300, 4e300]) / 5e300 - 1.0).abs() < 1e-15);
    }

    #[test]
    fn sums_of_norms_have_representable_means() {
        let mut sum = SumNorms::default();
        for _ in 0..4 {
            sum.add(1e308);
        }
        assert!((sum.mean(4.0) / 1e308 - 1.0).abs() < 1e-15);
        let mut plain = SumNorms::default();
        plain.add(1.5);
        plain.add(2.0);
        assert_eq!(plain.mean(2.0), 3.5 / 2.0);
    }
}
