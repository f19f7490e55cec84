//! Koloskova, Allouah, Jha, Guerraoui & Koyejo, "Certified Unlearning for Neural Networks"
//! (ICML 2025): noisy fine-tuning on the retain data from the clipped model; the certificate
//! is privacy amplification by (stochastic) post-processing. Two accountants:
//!
//! * gradient clipping ([`GradientClipParams`]): a Rényi accountant, then the improved
//!   Rényi → (ε, δ) conversion with the order α;
//! * model clipping ([`ModelClipParams`]): the hockey-stick contraction recursion
//!   `δ_{t+1} = δ_t·θ_{ε̃_t}(2C2/σ)`.
//!
//! Where the authors' public code differs from the accountant (the λ = 0 σ formula uses half
//! the variance; the conversion drops the factor α) this module follows the accountant and
//! offers the code's variants only under `*_public_code_compat` names.
//! See `docs/certificates.md` §7.

use super::gaussian::hockey_stick_divergence;
use super::renyi::{self, AlphaRange, RenyiConversion, RenyiToDp};
use super::{
    Certificate, CertifyError, Delta, Epsilon, require_count, require_non_negative,
    require_positive, round_up,
};

/// Inputs of the gradient-clipping accountant (Variant A, "PABI").
#[derive(Debug, Clone, PartialEq)]
pub struct GradientClipParams {
    /// C0: clipping radius of the initial model.
    pub model_clip: f64,
    /// C1: gradient clipping norm.
    pub gradient_clip: f64,
    /// η: step size (constant).
    pub step_size: f64,
    /// λ: weight decay (≥ 0).
    pub weight_decay: f64,
    /// T: number of noisy steps.
    pub steps: u64,
}

/// Validated [`GradientClipParams`].
#[derive(Debug, Clone, PartialEq)]
pub struct GradientClip {
    params: GradientClipParams,
    shrinkage: f64,
}

impl GradientClipParams {
    /// Validates C0, C1, η > 0, λ ≥ 0, T ≥ 1 and `ηλ < 1` (the shrinkage `ρ = 1 − ηλ` of
    /// the weight decay must be positive for the accountant's contraction argument).
    pub fn check(&self) -> Result<GradientClip, CertifyError> {
        require_positive("model_clip", self.model_clip)?;
        require_positive("gradient_clip", self.gradient_clip)?;
        let step = require_positive("step_size", self.step_size)?;
        let decay = require_non_negative("weight_decay", self.weight_decay)?;
        require_count("steps", self.steps, 1)?;
        if step * decay >= 1.0 {
            return Err(CertifyError::invalid(
                "step_size",
                step,
                format!(
                    "the accountant needs η·λ < 1 (shrinkage ρ = 1 − ηλ > 0); with weight_decay \
                     λ = {decay} the step size must be < {}",
                    1.0 / decay
                ),
            ));
        }
        Ok(GradientClip {
            params: self.clone(),
            shrinkage: 1.0 - step * decay,
        })
    }
}

/// The public code's default number of noisy steps: `⌈C0/(C1η)⌉`, or with λ > 0
/// `⌈ln(2λC0/C1)/(ηλ)⌉` when that is smaller and positive (`src/training/trainer.py`).
pub fn default_noisy_steps(
    model_clip: f64,
    gradient_clip: f64,
    step_size: f64,
    weight_decay: f64,
) -> Result<u64, CertifyError> {
    let c0 = require_positive("model_clip", model_clip)?;
    let c1 = require_positive("gradient_clip", gradient_clip)?;
    let eta = require_positive("step_size", step_size)?;
    let lambda = require_non_negative("weight_decay", weight_decay)?;
    let mut steps = (c0 / (c1 * eta)).ceil();
    if lambda > 0.0 {
        let alternative = ((2.0 * lambda * c0 / c1).ln() / (eta * lambda)).ceil();
        if alternative > 0.0 && alternative < steps {
            steps = alternative;
        }
    }
    if !(steps.is_finite() && steps >= 1.0 && steps < 1e15) {
        return Err(CertifyError::invalid(
            "step_size",
            eta,
            "the default number of steps ⌈C0/(C1η)⌉ is not a usable count",
        ));
    }
    Ok(steps as u64)
}

impl GradientClip {
    /// ρ = 1 − ηλ.
    pub fn shrinkage(&self) -> f64 {
        self.shrinkage
    }

    /// The numerator `ρ^T·2C0 + Σ_{t<T} ρ^{T−1−t}·2ηC1` (the worst-case distance between
    /// the two coupled trajectories, contracted by the weight decay), rounded up.
    pub fn coupled_distance(&self) -> f64 {
        let p = &self.params;
        let rho = self.shrinkage;
        let t = p.steps as f64;
        let rho_t = rho.powf(t);
        // Σ_{k<T} ρ^k = (1 − ρ^T)/(1 − ρ), T when ρ = 1.
        let geometric = if rho < 1.0 {
            -(t * rho.ln()).exp_m1() / (p.step_size * p.weight_decay)
        } else {
            t
        };
        round_up(
            rho_t * 2.0 * p.model_clip + geometric * 2.0 * p.step_size * p.gradient_clip,
            16,
        )
    }

    /// `Σ_{k<T} ρ^{2k}` (constant noise), rounded down (it is a denominator).
    fn noise_weight(&self) -> f64 {
        let rho = self.shrinkage;
        let t = self.params.steps as f64;
        let value = if rho < 1.0 {
            -(2.0 * t * rho.ln()).exp_m1() / -(2.0 * rho.ln()).exp_m1()
        } else {
            t
        };
        (0..16).fold(value, |v, _| v.next_down())
    }

    /// The Rényi slope for constant noise σ:
    /// `ε_R = ½·(coupled distance)² / (σ² Σ_{k<T} ρ^{2k})`; the Rényi divergence of order α is
    /// at most α·ε_R. Rounded up.
    pub fn renyi_slope(&self, sigma: f64) -> Result<f64, CertifyError> {
        let sigma = require_positive("sigma", sigma)?;
        let distance = self.coupled_distance();
        Ok(round_up(
            0.5 * distance * distance / (sigma * sigma * self.noise_weight()),
            8,
        ))
    }

    /// The Rényi slope for per-step noises σ_t (`sigmas.len() == T`, σ_t applied at step t):
    /// `½·(distance)² / Σ_t ρ^{2(T−1−t)} σ_t²`. Rounded up.
    pub fn renyi_slope_schedule(&self, sigmas: &[f64]) -> Result<f64, CertifyError> {
        if sigmas.len() as u64 != self.params.steps {
            return Err(CertifyError::invalid(
                "sigmas",
                sigmas.len() as f64,
                format!("one σ per noisy step is needed (T = {})", self.params.steps),
            ));
        }
        let rho = self.shrinkage;
        let last = sigmas.len() - 1;
        let mut weight = 0.0;
        for (t, &sigma) in sigmas.iter().enumerate() {
            let sigma = require_positive("sigmas", sigma)?;
            weight += rho.powi(2 * (last - t) as i32) * sigma * sigma;
        }
        let weight = weight * (1.0 - (sigmas.len() as f64 + 4.0) * f64::EPSILON);
        let distance = self.coupled_distance();
        Ok(round_up(0.5 * distance * distance / weight, 8))
    }

    /// The constant σ that makes the Rényi slope equal `renyi_slope`:
    /// `σ² = (distance)² / (2 ε_R Σ_{k<T} ρ^{2k})`. Rounded up.
    pub fn sigma_for_renyi_slope(&self, renyi_slope: f64) -> Result<f64, CertifyError> {
        let slope = require_positive("renyi_slope", renyi_slope)?;
        let distance = self.coupled_distance();
        Ok(round_up(
            distance / (2.0 * slope * self.noise_weight()).sqrt(),
            8,
        ))
    }

    /// **Compat, not a certificate.** The public code's λ = 0 branch,
    /// `σ² = (2C0 + 2C1ηT)²/(4 ε_R T)`: half the variance the accountant needs (so its σ is
    /// √2 too small). Errors if λ ≠ 0.
    pub fn sigma_public_code_compat(&self, renyi_slope: f64) -> Result<f64, CertifyError> {
        let slope = require_positive("renyi_slope", renyi_slope)?;
        let p = &self.params;
        if p.weight_decay != 0.0 {
            return Err(CertifyError::invalid(
                "weight_decay",
                p.weight_decay,
                "the public code's λ = 0 branch applies only with weight_decay = 0",
            ));
        }
        let t = p.steps as f64;
        let numerator = 2.0 * p.model_clip + 2.0 * p.gradient_clip * p.step_size * t;
        Ok(numerator / (4.0 * slope * t).sqrt())
    }

    /// (ε, δ) for constant noise σ: α·ε_R converted by the improved conversion, α optimised
    /// over `range`.
    pub fn epsilon(
        &self,
        sigma: f64,
        delta: f64,
        range: AlphaRange,
    ) -> Result<RenyiToDp, CertifyError> {
        renyi::epsilon_from_rdp_slope(
            self.renyi_slope(sigma)?,
            delta,
            RenyiConversion::Improved,
            range,
        )
    }

    /// The smallest constant σ whose (ε, δ) (improved conversion over `range`) is at most ε:
    /// bisection on ε_R (the converted ε increases with it), then σ rounded up.
    pub fn sigma_for_epsilon(
        &self,
        epsilon: f64,
        delta: f64,
        range: AlphaRange,
    ) -> Result<f64, CertifyError> {
        let epsilon = Epsilon::new(epsilon)?.get();
        let delta = Delta::new(delta)?.get();
        let converted = |slope: f64| {
            renyi::epsilon_from_rdp_slope(slope, delta, RenyiConversion::Improved, range)
                .map(|r| r.epsilon)
        };
        let (mut low, mut high) = (epsilon, epsilon);
        while converted(low)? > epsilon {
            low /= 2.0;
            if low < 1e-300 {
                return Err(CertifyError::NoSolution {
                    quantity: "renyi_slope",
                    reason: format!("no Rényi slope reaches ε = {epsilon} at δ = {delta}"),
                });
            }
        }
        while converted(high)? <= epsilon {
            high *= 2.0;
        }
        for _ in 0..200 {
            let mid = low + (high - low) / 2.0;
            if mid <= low || mid >= high {
                break;
            }
            if converted(mid)? > epsilon {
                high = mid;
            } else {
                low = mid;
            }
        }
        // `low` is a slope whose converted ε is ≤ the target: the safe side.
        self.sigma_for_renyi_slope(low)
    }

    /// The certificate for constant noise σ at δ.
    pub fn certificate(
        &self,
        sigma: f64,
        delta: f64,
        range: AlphaRange,
    ) -> Result<Certificate, CertifyError> {
        let p = &self.params;
        let slope = self.renyi_slope(sigma)?;
        let converted = self.epsilon(sigma, delta, range)?;
        Ok(Certificate::new(
            "koloskova_gradient_clip",
            converted.epsilon,
            converted.delta,
            "docs/certificates.md §7.1",
        )
        .with_sigma(sigma)
        .parameter("model_clip", p.model_clip)
        .parameter("gradient_clip", p.gradient_clip)
        .parameter("step_size", p.step_size)
        .parameter("weight_decay", p.weight_decay)
        .parameter("steps", p.steps as f64)
        .parameter("sigma", sigma)
        .parameter("delta", delta)
        .intermediate("shrinkage", self.shrinkage)
        .intermediate("coupled_distance", self.coupled_distance())
        .intermediate("renyi_slope", slope)
        .intermediate("alpha", converted.alpha)
        .intermediate("alpha_min", range.min)
        .intermediate("alpha_max", range.max)
        .intermediate_text("conversion", converted.conversion.name())
        .intermediate(
            "epsilon_public_code_compat",
            epsilon_public_code_compat(slope, delta)?,
        ))
    }
}

/// **Compat, not a certificate.** The public code's conversion
/// `min_{α ∈ [1.001, 1000]} [ε_R + ln((α−1)/α) − (ln δ + ln α)/(α−1)]`, which drops the factor
/// α on ε_R and so under-reports ε (ε_R = 1, δ = 1e-5: 1.0036 instead of 7.077).
pub fn epsilon_public_code_compat(renyi_slope: f64, delta: f64) -> Result<f64, CertifyError> {
    let slope = require_positive("renyi_slope", renyi_slope)?;
    let delta = Delta::new(delta)?.get();
    let objective =
        |alpha: f64| renyi::conversion_epsilon(slope, alpha, delta, RenyiConversion::Improved);
    let (_, value) = renyi::minimise_over_alpha(&objective, AlphaRange::koloskova());
    Ok(value)
}

/// Most recursion steps the model-clipping accountant evaluates (about a second): beyond it
/// δ at the cap is reported as an upper bound (`docs/certificates.md` §7.2).
pub const MAX_TRAJECTORY_STEPS: u64 = 1_000_000;

/// Inputs of the model-clipping accountant (Variant B, "contractive coefficients").
#[derive(Debug, Clone, PartialEq)]
pub struct ModelClipParams {
    /// C0: clipping radius of the initial model.
    pub model_clip: f64,
    /// σ0: noise added to the clipped initial model (0 for none, then δ_0 = 1).
    pub initial_sigma: f64,
    /// C2: projection radius of every noisy step.
    pub projection_radius: f64,
    /// σ: noise of every step.
    pub sigma: f64,
    /// ε: the fixed ε of the (ε, δ_t) track.
    pub epsilon: f64,
    /// `Some((C1, η))` for the gradient-clipped variant with noise before the projection:
    /// the per-step shift becomes `2(C2 + ηC1)`.
    pub gradient_clip_and_step: Option<(f64, f64)>,
}

/// Validated [`ModelClipParams`].
#[derive(Debug, Clone, PartialEq)]
pub struct ModelClip {
    params: ModelClipParams,
    step_shift: f64,
}

impl ModelClipParams {
    /// Validates C0, C2, σ, ε > 0, σ0 ≥ 0, and C1, η > 0 when given.
    pub fn check(&self) -> Result<ModelClip, CertifyError> {
        require_positive("model_clip", self.model_clip)?;
        require_non_negative("initial_sigma", self.initial_sigma)?;
        let c2 = require_positive("projection_radius", self.projection_radius)?;
        let sigma = require_positive("sigma", self.sigma)?;
        Epsilon::new(self.epsilon)?;
        let radius = match self.gradient_clip_and_step {
            None => c2,
            Some((c1, eta)) => {
                c2 + require_positive("step_size", eta)? * require_positive("gradient_clip", c1)?
            }
        };
        let step_shift = round_up(2.0 * radius / sigma, 4);
        if !step_shift.is_finite() {
            return Err(CertifyError::invalid(
                "sigma",
                sigma,
                "2·C2/σ overflows: σ is too small for the projection radius",
            ));
        }
        Ok(ModelClip {
            params: self.clone(),
            step_shift,
        })
    }
}

impl ModelClip {
    /// `r = 2C2/σ` (or `2(C2 + ηC1)/σ`), the shift of one noisy step's kernel.
    pub fn step_shift(&self) -> f64 {
        self.step_shift
    }

    /// δ_0: `θ_ε(2C0/σ0)`, or 1 when σ0 = 0.
    pub fn initial_delta(&self) -> Result<f64, CertifyError> {
        let p = &self.params;
        if p.initial_sigma == 0.0 {
            return Ok(1.0);
        }
        let r = round_up(2.0 * p.model_clip / p.initial_sigma, 4);
        Ok(hockey_stick_divergence(p.epsilon, r)?.min(1.0))
    }

    /// One step of the recursion: `δ_{t+1} = δ_t·θ_{ε̃}(r)`, `ε̃ = ln(1 + (e^ε − 1)/δ_t)`;
    /// ε̃ rounded down and the product rounded up (θ decreases in ε).
    pub fn next_delta(&self, delta: f64) -> Result<f64, CertifyError> {
        let epsilon = self.params.epsilon;
        let effective = (epsilon.exp_m1() / delta).ln_1p();
        let effective = (0..8).fold(effective, |v, _| v.next_down()).max(0.0);
        let factor = hockey_stick_divergence(effective, self.step_shift)?;
        Ok(round_up(delta * factor, 2).min(1.0))
    }

    /// δ_0, δ_1, …, δ_T, for T ≤ [`MAX_TRAJECTORY_STEPS`] (the whole track is held in
    /// memory; [`ModelClip::certificate`] needs O(1) memory and no cap).
    pub fn delta_trajectory(&self, steps: u64) -> Result<Vec<f64>, CertifyError> {
        if steps > MAX_TRAJECTORY_STEPS {
            return Err(CertifyError::invalid(
                "steps",
                steps as f64,
                format!("the δ_t track is kept in memory for at most {MAX_TRAJECTORY_STEPS} steps"),
            ));
        }
        let mut deltas = vec![self.initial_delta()?];
        for _ in 0..steps {
            let last = *deltas.last().expect("non-empty");
            deltas.push(self.next_delta(last)?);
        }
        Ok(deltas)
    }

    /// The first T with δ_T ≤ `target_delta`, searching up to `max_steps`.
    pub fn steps_to_reach(&self, target_delta: f64, max_steps: u64) -> Result<u64, CertifyError> {
        let target = Delta::new(target_delta)?.get();
        let mut delta = self.initial_delta()?;
        for t in 0..=max_steps {
            if delta <= target {
                return Ok(t);
            }
            delta = self.next_delta(delta)?;
        }
        Err(CertifyError::NoSolution {
            quantity: "steps",
            reason: format!("δ stays above {target} after {max_steps} noisy steps"),
        })
    }

    /// δ_T after `steps` noisy steps in O(1) memory and at most [`MAX_TRAJECTORY_STEPS`]
    /// recursion steps: the recursion is a fixed function of δ_t, so once δ_{t+1} = δ_t (or
    /// δ_t = 0) every later δ is the same; and δ_t never increases (θ ≤ 1), so when `steps`
    /// exceeds the cap before that happens, δ at the cap is an upper bound on δ_T (the safe
    /// side). Returns (δ_0, δ_T or its bound, whether the cap was used).
    pub fn final_delta(&self, steps: u64) -> Result<(f64, f64, bool), CertifyError> {
        let initial = self.initial_delta()?;
        let mut delta = initial;
        let mut t = 0;
        while t < steps {
            if t == MAX_TRAJECTORY_STEPS {
                return Ok((initial, delta, true));
            }
            let next = self.next_delta(delta)?;
            // A fixed point, or δ below the smallest normal double (where rounding, not the
            // recursion, moves it): every later δ is at most this one.
            if next == delta || next < f64::MIN_POSITIVE {
                delta = next.max(f64::MIN_POSITIVE).min(delta);
                break;
            }
            delta = next;
            t += 1;
        }
        Ok((initial, delta, false))
    }

    /// The certificate (ε, δ_T) after `steps` noisy steps (any `steps`: bounded time and
    /// memory, see [`ModelClip::final_delta`]).
    pub fn certificate(&self, steps: u64) -> Result<Certificate, CertifyError> {
        let p = &self.params;
        let (initial_delta, delta, capped) = self.final_delta(steps)?;
        let mut certificate = Certificate::new(
            "koloskova_model_clip",
            p.epsilon,
            delta,
            "docs/certificates.md §7.2",
        )
        .with_sigma(p.sigma)
        .parameter("model_clip", p.model_clip)
        .parameter("initial_sigma", p.initial_sigma)
        .parameter("projection_radius", p.projection_radius)
        .parameter("sigma", p.sigma)
        .parameter("epsilon", p.epsilon)
        .parameter("steps", steps as f64);
        if let Some((c1, eta)) = p.gradient_clip_and_step {
            certificate = certificate
                .parameter("gradient_clip", c1)
                .parameter("step_size", eta);
        }
        certificate = certificate
            .intermediate("step_shift", self.step_shift)
            .intermediate("initial_delta", initial_delta);
        if capped {
            certificate = certificate.note(format!(
                "δ is the value after {MAX_TRAJECTORY_STEPS} steps, an upper bound for T = \
                 {steps} (δ_t never increases); the recursion is capped at \
                 {MAX_TRAJECTORY_STEPS} steps (docs/certificates.md §7.2)"
            ));
        }
        if delta >= 1.0 {
            certificate = certificate.note("δ = 1: the certificate is vacuous at these parameters");
        }
        Ok(certificate)
    }
}
