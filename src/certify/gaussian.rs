//! The Gaussian mechanism `M(D) = f(D) + N(0, σ² I)` for an L2 sensitivity Δ: the classical
//! calibration (Dwork & Roth 2014, Thm A.1), the analytic Gaussian mechanism (Balle & Wang,
//! ICML 2018, Thm 8) in all three directions, zCDP (Bun & Steinke 2016) and the exact
//! composition of Gaussians. See `docs/certificates.md` §1.
//!
//! Every result is rounded toward the certified side: σ up, ε up, δ up.

use super::{CertifyError, Delta, Epsilon, Sensitivity, Sigma, round_up};
use crate::stats::ln_normal_cdf;

/// Ulps added on top of the error model of [`hockey_stick_upper`] for the last few
/// correctly rounded operations (exp, expm1, products), each ≤ 1 ulp.
const FINAL_ROUNDING_ULPS: u32 = 16;

/// Classical calibration `σ = Δ·√(2 ln(1.25/δ))/ε` (Dwork & Roth, Thm A.1). The theorem
/// is proven for ε < 1 only; beyond that the σ is certified only if it is at least
/// [`sigma_analytic`] (which [`Certificate`](super::Certificate)s report).
/// See `docs/certificates.md` §1.1.
pub fn sigma_classical(sensitivity: f64, epsilon: f64, delta: f64) -> Result<f64, CertifyError> {
    let sensitivity = Sensitivity::new(sensitivity)?.get();
    let epsilon = Epsilon::new(epsilon)?.get();
    let delta = Delta::new(delta)?.get();
    Ok(round_up(sensitivity * classical_factor(delta) / epsilon, 4))
}

/// The ε that the classical formula assigns to σ: `ε = Δ·√(2 ln(1.25/δ))/σ` (the inverse of
/// [`sigma_classical`]; the same ε < 1 caveat applies). See `docs/certificates.md` §1.1.
pub fn epsilon_classical(sensitivity: f64, sigma: f64, delta: f64) -> Result<f64, CertifyError> {
    let sensitivity = Sensitivity::new(sensitivity)?.get();
    let sigma = Sigma::new(sigma)?.get();
    let delta = Delta::new(delta)?.get();
    Ok(round_up(sensitivity * classical_factor(delta) / sigma, 4))
}

/// `√(2 ln(1.25/δ))`.
pub(crate) fn classical_factor(delta: f64) -> f64 {
    (2.0 * (1.25 / delta).ln()).sqrt()
}

/// The exact privacy profile of the Gaussian mechanism (Balle & Wang 2018, Thm 8), i.e. the
/// hockey-stick divergence between `N(0, 1)` and `N(r, 1)` with `r = Δ/σ`:
/// `δ(ε) = Φ(r/2 − ε/r) − e^ε Φ(−r/2 − ε/r)`. Koloskova et al. call it `θ_ε(r)`.
/// Takes ε ≥ 0 (ε = 0 gives the total-variation distance `2Φ(r/2) − 1`) and r > 0.
/// Rounded up. See `docs/certificates.md` §1.2.
pub fn hockey_stick_divergence(epsilon: f64, r: f64) -> Result<f64, CertifyError> {
    if !(epsilon.is_finite() && epsilon >= 0.0) {
        return Err(CertifyError::invalid(
            "epsilon",
            epsilon,
            "ε must be a finite number >= 0",
        ));
    }
    if !(r.is_finite() && r > 0.0) {
        return Err(CertifyError::invalid(
            "r",
            r,
            "the mean shift r = Δ/σ must be a finite number > 0",
        ));
    }
    Ok(hockey_stick_upper(epsilon, r))
}

/// A rigorous upper bound on `θ_ε(r)` (Balle & Wang 2018, Thm 8), the value every solver
/// decides with. δ is evaluated as `Φ(a)·(−expm1(x))` with `x = ε + ln Φ(b) − ln Φ(a) < 0`,
/// `a = r/2 − t`, `b = −r/2 − t`, `t = ε/r`. The computed `x̂` carries an absolute error `E`
/// (u = 2⁻⁵²) made of: (i) the rounding of t, shared by a and b, moves `ln Φ(b) − ln Φ(a)`
/// by ≤ `u·t·r = u·ε` (the inverse Mills ratio `φ/Φ` has slope in (−1, 0)); (ii) the
/// subtractions forming a and b, ≤ `u·|a|` each, times the slope `|d ln Φ/dx| ≤ |x| + 1`;
/// (iii) each `ln Φ` evaluation, ≤ `4u·(1 + |ln Φ|)` (its own argument scaling, erfc and ln:
/// `|ln Φ(x)| ≥ x²/2` bounds the argument term); (iv) the two additions, ≤
/// `u·(ε + |ln Φ(a)| + |ln Φ(b)|)`. Since `−expm1` decreases,
/// `δ ≤ Φ(a)·(−expm1(min(x̂, 0) − E))`; `Φ(a)` is moved up by the error of `ln Φ(a)` and the
/// result by [`FINAL_ROUNDING_ULPS`]. The bound's relative excess is ≈ `E/|x|`: negligible
/// when `|x| ~ 1`, up to ~1e-10 when `|ln Φ(a)| ≫ |x|` (small ε at small δ).
/// See `docs/certificates.md` §1.2.
pub(crate) fn hockey_stick_upper(epsilon: f64, r: f64) -> f64 {
    let unit = f64::EPSILON;
    if epsilon == 0.0 {
        // erf of an argument with ≤ 1 ulp error, erf itself within 1 ulp: ≤ 3 ulps.
        return round_up(hockey_stick_raw(0.0, r), FINAL_ROUNDING_ULPS).min(1.0);
    }
    let shift = epsilon / r;
    let a = r / 2.0 - shift;
    let b = -r / 2.0 - shift;
    let (ln_phi_a, ln_phi_b) = (ln_normal_cdf(a), ln_normal_cdf(b));
    let ln_phi_a_error = unit * (a.abs() * (a.abs() + 1.0) + 4.0 * (1.0 + ln_phi_a.abs()));
    let ln_phi_b_error = unit * (b.abs() * (b.abs() + 1.0) + 4.0 * (1.0 + ln_phi_b.abs()));
    let shared_error = unit * epsilon;
    let addition_error = unit * (epsilon + ln_phi_a.abs() + ln_phi_b.abs());
    let exponent_error = ln_phi_a_error + ln_phi_b_error + shared_error + addition_error;
    let exponent = epsilon + ln_phi_b - ln_phi_a;
    let lowest_exponent = exponent.min(0.0) - exponent_error;
    let phi_a_upper = ln_phi_a.exp() * (1.0 + ln_phi_a_error + shared_error + 4.0 * unit);
    let value = phi_a_upper * -lowest_exponent.exp_m1();
    round_up(value, FINAL_ROUNDING_ULPS).min(1.0)
}

/// `Φ(a) − e^ε Φ(b)` with `a = r/2 − ε/r`, `b = −r/2 − ε/r`, evaluated as
/// `−Φ(a)·expm1(ε + ln Φ(b) − ln Φ(a))` so that neither `e^ε` overflows nor the difference
/// of two nearly equal tails loses its digits. Not rounded.
pub(crate) fn hockey_stick_raw(epsilon: f64, r: f64) -> f64 {
    if epsilon == 0.0 {
        return libm::erf(r / (2.0 * std::f64::consts::SQRT_2));
    }
    let a = r / 2.0 - epsilon / r;
    let b = -r / 2.0 - epsilon / r;
    let ln_phi_a = ln_normal_cdf(a);
    let exponent = epsilon + ln_normal_cdf(b) - ln_phi_a;
    if exponent >= 0.0 {
        // Mathematically the exponent is < 0; ≥ 0 only by rounding when δ ≪ 1e-16·Φ(a).
        return 0.0;
    }
    (-ln_phi_a.exp() * exponent.exp_m1()).max(0.0)
}

/// `δ` of the Gaussian mechanism with noise σ at ε, exactly (Balle & Wang 2018, Thm 8):
/// [`hockey_stick_divergence`] at `r = Δ/σ`. Rounded up. See `docs/certificates.md` §1.2.
pub fn delta_analytic(sensitivity: f64, sigma: f64, epsilon: f64) -> Result<f64, CertifyError> {
    let sensitivity = Sensitivity::new(sensitivity)?.get();
    let sigma = Sigma::new(sigma)?.get();
    let epsilon = Epsilon::new(epsilon)?.get();
    hockey_stick_divergence(epsilon, sensitivity / sigma)
}

/// `δ0 = Φ(0) − e^ε Φ(−√(2ε))`, the δ at which Balle & Wang's Algorithm 1 switches branch
/// (the point where `Δ/(2σ) = εσ/Δ`). Rounded up. See `docs/certificates.md` §1.2.
pub fn analytic_branch_delta(epsilon: f64) -> Result<f64, CertifyError> {
    let epsilon = Epsilon::new(epsilon)?.get();
    hockey_stick_divergence(epsilon, (2.0 * epsilon).sqrt())
}

/// The smallest σ with `δ_AGM(Δ, σ, ε) ≤ δ` (the analytic Gaussian mechanism, Balle & Wang
/// 2018, Thm 8 + Alg 1), solved by bisection on σ to adjacent doubles and rounded up.
/// Valid for every ε > 0. See `docs/certificates.md` §1.2.
pub fn sigma_analytic(sensitivity: f64, epsilon: f64, delta: f64) -> Result<f64, CertifyError> {
    let sensitivity = Sensitivity::new(sensitivity)?.get();
    let epsilon = Epsilon::new(epsilon)?.get();
    let delta = Delta::new(delta)?.get();
    // Solve in s = σ/Δ, since δ_AGM depends on σ and Δ only through r = Δ/σ = 1/s.
    // Decide with the rigorous upper bound of δ, at an r = Δ/σ rounded up: the returned σ
    // then certifies δ whatever the evaluation error (docs/certificates.md §1.2).
    let exceeds = |s: f64| hockey_stick_upper(epsilon, (1.0 / s).next_up()) > delta;
    let (mut low, mut high) = (1.0, 1.0);
    let mut guard = 0;
    while exceeds(high) {
        high *= 2.0;
        guard += 1;
        if guard > 2000 || !high.is_finite() {
            return Err(CertifyError::NoSolution {
                quantity: "sigma",
                reason: format!("σ/Δ exceeds {high:e} for ε = {epsilon}, δ = {delta}"),
            });
        }
    }
    guard = 0;
    while !exceeds(low) {
        low /= 2.0;
        guard += 1;
        if guard > 2000 || low == 0.0 {
            return Err(CertifyError::NoSolution {
                quantity: "sigma",
                reason: format!("σ/Δ below {low:e} for ε = {epsilon}, δ = {delta}"),
            });
        }
    }
    let s = bisect(low, high, exceeds);
    // δ(ε, 1/s) ≤ δ is certified at s; σ = s·Δ rounded up keeps Δ/σ ≤ 1/s.
    Ok(round_up(s * sensitivity, 1))
}

/// The smallest ε ≥ 0 with `δ_AGM(Δ, σ, ε) ≤ δ` (the exact ε of a Gaussian mechanism with
/// noise σ), solved by bisection on ε and rounded up; 0 when even ε = 0 meets δ.
/// See `docs/certificates.md` §1.2.
pub fn epsilon_analytic(sensitivity: f64, sigma: f64, delta: f64) -> Result<f64, CertifyError> {
    let sensitivity = Sensitivity::new(sensitivity)?.get();
    let sigma = Sigma::new(sigma)?.get();
    let delta = Delta::new(delta)?.get();
    // r rounded up: δ grows with r, so the ε solved at it also holds at the exact Δ/σ.
    epsilon_for_shift((sensitivity / sigma).next_up(), delta)
}

/// The smallest ε ≥ 0 whose rigorous upper bound [`hockey_stick_upper`] of `θ_ε(r)` is ≤ δ,
/// for a validated δ and a finite r > 0 (already rounded up by the caller).
pub(crate) fn epsilon_for_shift(r: f64, delta: f64) -> Result<f64, CertifyError> {
    let exceeds = |epsilon: f64| hockey_stick_upper(epsilon, r) > delta;
    if !exceeds(0.0) {
        return Ok(0.0);
    }
    let mut high = 1.0;
    let mut guard = 0;
    while exceeds(high) {
        high *= 2.0;
        guard += 1;
        if guard > 1100 || !high.is_finite() {
            return Err(CertifyError::NoSolution {
                quantity: "epsilon",
                reason: format!(
                    "ε exceeds every double for Δ/σ = {r:e}, δ = {delta}: σ is too small \
                     (or Δ too large) for any finite certificate"
                ),
            });
        }
    }
    // The bisection returns an ε at which the upper bound of δ(ε) is ≤ δ: certified as is.
    Ok(bisect(0.0, high, exceeds))
}

/// Bisection to adjacent doubles for a predicate that is true on `low` and false on `high`
/// (a decreasing function above its target); returns the `high` (safe) end.
pub(crate) fn bisect(mut low: f64, mut high: f64, exceeds: impl Fn(f64) -> bool) -> f64 {
    for _ in 0..2200 {
        let mid = low + (high - low) / 2.0;
        if mid <= low || mid >= high {
            break;
        }
        if exceeds(mid) {
            low = mid;
        } else {
            high = mid;
        }
    }
    high
}

/// zCDP calibration `σ = Δ / (√2 (√(ln(1/δ) + ε) − √(ln(1/δ))))`: the σ with
/// `ρ + 2√(ρ ln(1/δ)) = ε` for `ρ = Δ²/(2σ²)` (Bun & Steinke 2016, Prop 1.3 + Lemma 2.4);
/// the route Neel et al. use. Rounded up. See `docs/certificates.md` §1.3.
pub fn sigma_zcdp(sensitivity: f64, epsilon: f64, delta: f64) -> Result<f64, CertifyError> {
    let sensitivity = Sensitivity::new(sensitivity)?.get();
    let epsilon = Epsilon::new(epsilon)?.get();
    let delta = Delta::new(delta)?.get();
    let log_inverse_delta = -delta.ln();
    // √(l+ε) − √l written as ε/(√(l+ε) + √l) to avoid cancellation when ε ≪ l.
    let gap = epsilon / ((log_inverse_delta + epsilon).sqrt() + log_inverse_delta.sqrt());
    Ok(round_up(sensitivity / (std::f64::consts::SQRT_2 * gap), 6))
}

/// ρ of the Gaussian mechanism in zCDP: `ρ = Δ²/(2σ²)` (Bun & Steinke 2016, Prop 1.6).
/// Rounded up. See `docs/certificates.md` §1.3.
pub fn zcdp_rho(sensitivity: f64, sigma: f64) -> Result<f64, CertifyError> {
    let sensitivity = Sensitivity::new(sensitivity)?.get();
    let sigma = Sigma::new(sigma)?.get();
    let r = sensitivity / sigma;
    Ok(round_up(r * r / 2.0, 4))
}

/// The (ε, δ) guarantee of ρ-zCDP: `ε = ρ + 2√(ρ ln(1/δ))` (Bun & Steinke 2016, Prop 1.3).
/// Rounded up. See `docs/certificates.md` §1.3.
pub fn epsilon_from_zcdp(rho: f64, delta: f64) -> Result<f64, CertifyError> {
    if !(rho.is_finite() && rho > 0.0) {
        return Err(CertifyError::invalid(
            "rho",
            rho,
            "the zCDP parameter ρ must be a finite number > 0",
        ));
    }
    let delta = Delta::new(delta)?.get();
    Ok(round_up(rho + 2.0 * (rho * (-delta.ln())).sqrt(), 6))
}

/// The ε of the Gaussian mechanism through zCDP (the inverse of [`sigma_zcdp`]).
/// See `docs/certificates.md` §1.3.
pub fn epsilon_zcdp(sensitivity: f64, sigma: f64, delta: f64) -> Result<f64, CertifyError> {
    epsilon_from_zcdp(zcdp_rho(sensitivity, sigma)?, delta)
}

/// Exact composition of Gaussian mechanisms: running mechanisms with sensitivities `Δ_t` and
/// noises `σ_t` is exactly as private as one Gaussian mechanism with shift
/// `r = √(Σ_t Δ_t²/σ_t²)` (the privacy-loss random variables are Gaussian and add; Dong, Roth &
/// Su 2022, Cor 3.3). Returns r, rounded up; feed it to [`hockey_stick_divergence`] or use
/// [`epsilon_composed`]. See `docs/certificates.md` §1.4.
pub fn composed_shift(steps: &[(f64, f64)]) -> Result<f64, CertifyError> {
    if steps.is_empty() {
        return Err(CertifyError::invalid(
            "steps",
            0.0,
            "the composition needs at least one (sensitivity, sigma) step",
        ));
    }
    let mut sum = 0.0;
    for &(sensitivity, sigma) in steps {
        let r = Sensitivity::new(sensitivity)?.get() / Sigma::new(sigma)?.get();
        sum += r * r;
    }
    // Each square and add contributes ≲ 1 ulp of relative error; 8 ulps cover short sums,
    // and long ones are dominated by the running sum's own rounding (≤ n·2⁻⁵³ relative).
    let margin = 1.0 + (steps.len() as f64 + 8.0) * f64::EPSILON;
    Ok((sum * margin).sqrt().next_up())
}

/// The exact ε of T identical Gaussian steps (Δ, σ) at δ: [`epsilon_analytic`] at
/// `r = √T·Δ/σ`. See `docs/certificates.md` §1.4.
pub fn epsilon_composed(
    sensitivity: f64,
    sigma: f64,
    steps: u64,
    delta: f64,
) -> Result<f64, CertifyError> {
    let steps = super::require_count("steps", steps, 1)?;
    let r = composed_shift(&[(sensitivity, sigma)])? * (steps as f64).sqrt();
    let delta = Delta::new(delta)?.get();
    epsilon_for_shift(round_up(r, 2), delta)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tolerance::{KNOWN_ANSWER_RELATIVE, relative_eq};

    fn close(a: f64, b: f64) -> bool {
        relative_eq(a, b, KNOWN_ANSWER_RELATIVE)
    }

    #[test]
    fn known_answers_g0() {
        assert!(close(sigma_classical(1.0, 1.0, 1e-5).unwrap(), 4.8448053));
        assert!(close(sigma_analytic(1.0, 1.0, 1e-5).unwrap(), 3.7306316));
        assert!(close(sigma_analytic(1.0, 0.5, 1e-5).unwrap(), 7.0318267));
        assert!(close(sigma_analytic(1.0, 2.0, 1e-6).unwrap(), 2.2304763));
        assert!(close(sigma_analytic(1.0, 8.0, 1e-5).unwrap(), 0.6002291));
        assert!(close(sigma_analytic(1.0, 0.1, 1e-5).unwrap(), 30.749566));
        let delta = delta_analytic(1.0, 4.8448053, 1.0).unwrap();
        assert!(relative_eq(delta, 4.1137e-8, 1e-4), "{delta}");
        assert!(close(analytic_branch_delta(1.0).unwrap(), 0.2862082));
    }

    #[test]
    fn round_trip_sigma_epsilon() {
        let sigma = sigma_analytic(2.0, 1.3, 1e-6).unwrap();
        let epsilon = epsilon_analytic(2.0, sigma, 1e-6).unwrap();
        assert!(relative_eq(epsilon, 1.3, 1e-12), "{epsilon}");
    }
}

/// Which Gaussian calibration gives a certificate's headline numbers: one type for the CLI
/// (`--calibration`) and plans (`certify.calibration`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum Calibration {
    /// Balle & Wang 2018: exact, every ε > 0 (the default).
    #[default]
    Analytic,
    /// Dwork & Roth Thm A.1: proven for ε < 1 only.
    Classical,
    /// Through ρ-zCDP (Bun & Steinke 2016): valid, looser than analytic.
    Zcdp,
}

impl Calibration {
    /// The snake_case name used in reports and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Calibration::Analytic => "analytic",
            Calibration::Classical => "classical",
            Calibration::Zcdp => "zcdp",
        }
    }
}

/// What the caller fixes: the privacy target (solve for σ) or the noise (solve for ε).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum GaussianTarget {
    /// Solve σ for this ε.
    Epsilon(f64),
    /// Solve ε for this σ.
    Sigma(f64),
}

/// The certificate of a Gaussian mechanism with sensitivity Δ, in the chosen calibration,
/// with the other calibrations as intermediate quantities (`sigma_analytic`,
/// `sigma_classical`, `sigma_zcdp` or `epsilon_*`) so they can be compared. A classical σ is
/// also checked against the exact analytic profile, so the report says whether it really
/// certifies its ε (`classical_certified`). See `docs/certificates.md` §1.
pub fn gaussian_certificate(
    mechanism: &str,
    sensitivity: f64,
    target: GaussianTarget,
    delta: f64,
    calibration: Calibration,
    source: &str,
) -> Result<super::Certificate, CertifyError> {
    use super::Certificate;
    Sensitivity::new(sensitivity)?;
    Delta::new(delta)?;
    match target {
        GaussianTarget::Epsilon(epsilon) => {
            Epsilon::new(epsilon)?;
            let analytic = sigma_analytic(sensitivity, epsilon, delta)?;
            let classical = sigma_classical(sensitivity, epsilon, delta)?;
            let zcdp = sigma_zcdp(sensitivity, epsilon, delta)?;
            let sigma = match calibration {
                Calibration::Analytic => analytic,
                Calibration::Classical => classical,
                Calibration::Zcdp => zcdp,
            };
            let mut certificate = Certificate::new(mechanism, epsilon, delta, source)
                .with_sigma(sigma)
                .with_calibration(calibration.name())
                .intermediate("sensitivity", sensitivity)
                .intermediate("sigma_analytic", analytic)
                .intermediate("sigma_classical", classical)
                .intermediate("sigma_zcdp", zcdp)
                .intermediate_text(
                    "classical_certified",
                    if classical >= analytic {
                        "true"
                    } else {
                        "false"
                    },
                );
            if classical < analytic {
                certificate = certificate.note(format!(
                    "the classical σ = {classical} is below the exact analytic σ = {analytic}: \
                     at ε = {epsilon} (≥ 1, outside Dwork & Roth Thm A.1) it does not certify \
                     (ε, δ)"
                ));
            }
            Ok(certificate)
        }
        GaussianTarget::Sigma(sigma) => {
            Sigma::new(sigma)?;
            let analytic = epsilon_analytic(sensitivity, sigma, delta)?;
            let classical = epsilon_classical(sensitivity, sigma, delta)?;
            let zcdp = epsilon_zcdp(sensitivity, sigma, delta)?;
            let epsilon = match calibration {
                Calibration::Analytic => analytic,
                Calibration::Classical => classical,
                Calibration::Zcdp => zcdp,
            };
            let mut certificate = Certificate::new(mechanism, epsilon, delta, source)
                .with_sigma(sigma)
                .with_calibration(calibration.name())
                .intermediate("sensitivity", sensitivity)
                .intermediate("epsilon_analytic", analytic)
                .intermediate("epsilon_classical", classical)
                .intermediate("epsilon_zcdp", zcdp)
                .intermediate_text(
                    "classical_certified",
                    if classical >= analytic {
                        "true"
                    } else {
                        "false"
                    },
                );
            if classical < analytic {
                certificate = certificate.note(format!(
                    "the classical formula's ε = {classical} is below the exact ε = {analytic}: \
                     outside ε < 1 it is not a certificate"
                ));
            }
            Ok(certificate)
        }
    }
}
