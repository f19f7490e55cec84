//! Training and linear-algebra routines shared by the mechanisms: L-BFGS training (argmin),
//! conjugate gradients and LiSSA for inverse-Hessian-vector products, and the spectral norm of
//! a data matrix (`docs/mechanisms.md` §1.5).

use std::sync::Mutex;

use argmin::core::{CostFunction, Executor, Gradient, State};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;
use ndarray::{Array1, Array2};

use super::{ModelError, Objective};

/// Options of [`train_lbfgs`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainOptions {
    /// Stop when ‖∇L‖ ≤ `gradient_tolerance · max(1, n)` (the objective is a sum over n).
    pub gradient_tolerance: f64,
    /// Iteration cap of L-BFGS.
    pub max_iterations: u64,
    /// L-BFGS memory.
    pub memory: usize,
    /// L-BFGS stops at ‖∇L‖ ≤ `lbfgs_tolerance · max(1, n)`; Newton-CG polishing (convex
    /// models) then reaches `gradient_tolerance` in a few quadratically convergent steps.
    pub lbfgs_tolerance: f64,
    /// After L-BFGS, Newton steps by conjugate gradients until the gradient tolerance holds
    /// (convex models only; makes the minimiser exact to rounding, which the Newton-step
    /// certificates assume).
    pub newton_polish_steps: usize,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            gradient_tolerance: 1e-10,
            max_iterations: 1000,
            memory: 10,
            lbfgs_tolerance: 1e-6,
            newton_polish_steps: 6,
        }
    }
}

/// Objective evaluations allowed per L-BFGS iteration of [`TrainOptions::max_iterations`]
/// (line searches included). A healthy run uses one to three; argmin's More–Thuente line
/// search has no iteration cap of its own and can stall on a saturated or badly scaled
/// objective (e.g. `sample --mechanism guo --sigma 1e7`), so the total is capped here and
/// exceeding it is a training error, never a hang (`docs/mechanisms.md` §1.5).
pub const MAX_EVALUATIONS_PER_ITERATION: u64 = 10;

/// argmin adapter that evaluates value and gradient together once per point.
struct Problem<'a> {
    objective: Objective<'a>,
    cache: Mutex<Option<(Array1<f64>, f64, Array1<f64>)>>,
    evaluations: std::sync::atomic::AtomicU64,
    max_evaluations: u64,
}

impl Problem<'_> {
    fn checked(&self, params: &Array1<f64>) -> Result<(f64, Array1<f64>), argmin::core::Error> {
        let count = self
            .evaluations
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if count >= self.max_evaluations {
            return Err(argmin::core::Error::msg(format!(
                "L-BFGS did not converge within {} objective evaluations (the line search \
                 stalled: the objective is saturated or badly scaled at these parameters)",
                self.max_evaluations
            )));
        }
        Ok(self.evaluate(params))
    }

    fn evaluate(&self, params: &Array1<f64>) -> (f64, Array1<f64>) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((p, v, g)) = cache.as_ref()
            && p == params
        {
            return (*v, g.clone());
        }
        let slice = params
            .as_slice()
            .map(<[f64]>::to_vec)
            .unwrap_or_else(|| params.to_vec());
        let (value, gradient) = self.objective.value_gradient(&slice);
        *cache = Some((params.clone(), value, gradient.clone()));
        (value, gradient)
    }
}

impl CostFunction for Problem<'_> {
    type Param = Array1<f64>;
    type Output = f64;
    fn cost(&self, param: &Self::Param) -> Result<f64, argmin::core::Error> {
        Ok(self.checked(param)?.0)
    }
}

impl Gradient for Problem<'_> {
    type Param = Array1<f64>;
    type Gradient = Array1<f64>;
    fn gradient(&self, param: &Self::Param) -> Result<Array1<f64>, argmin::core::Error> {
        Ok(self.checked(param)?.1)
    }
}

/// Minimises `objective` from `start` with argmin's L-BFGS (More–Thuente line search), then,
/// for convex models, polishes with Newton-CG steps. Returns the minimiser; errors if the
/// gradient tolerance is not met.
pub fn train_lbfgs(
    objective: &Objective<'_>,
    start: Array1<f64>,
    options: &TrainOptions,
) -> Result<Array1<f64>, ModelError> {
    let scale = (objective.data.len() as f64).max(1.0);
    let tolerance = options.gradient_tolerance * scale;
    let (_, start_gradient) = objective.value_gradient(start.as_slice().unwrap_or(&start.to_vec()));
    let lbfgs_tolerance = if objective.model.is_convex() && options.newton_polish_steps > 0 {
        options.lbfgs_tolerance.max(options.gradient_tolerance) * scale
    } else {
        tolerance
    };
    let mut params = if l2_norm(&start_gradient) <= lbfgs_tolerance {
        start
    } else {
        let problem = Problem {
            objective: *objective,
            cache: Mutex::new(None),
            evaluations: std::sync::atomic::AtomicU64::new(0),
            max_evaluations: options
                .max_iterations
                .saturating_mul(MAX_EVALUATIONS_PER_ITERATION)
                .max(100),
        };
        let solver = LBFGS::new(MoreThuenteLineSearch::new(), options.memory)
            .with_tolerance_grad(lbfgs_tolerance)
            .and_then(|s| s.with_tolerance_cost(0.0))
            .map_err(|e| ModelError::Training(e.to_string()))?;
        let result = Executor::new(problem, solver)
            .configure(|state| state.param(start).max_iters(options.max_iterations))
            .run()
            .map_err(|e| ModelError::Training(e.to_string()))?;
        let state = result.state();
        state
            .get_best_param()
            .or_else(|| state.get_param())
            .cloned()
            .ok_or_else(|| ModelError::Training("L-BFGS returned no parameters".into()))?
    };
    let mut gradient = objective.value_gradient(as_slice(&params)).1;
    if objective.model.is_convex() {
        for _ in 0..options.newton_polish_steps {
            if l2_norm(&gradient) <= tolerance {
                break;
            }
            let step = conjugate_gradient(
                |v| objective.hvp(as_slice(&params), v),
                &gradient,
                1e-10,
                500,
            )?;
            params -= &step;
            gradient = objective.value_gradient(as_slice(&params)).1;
        }
    }
    let norm = l2_norm(&gradient);
    if !norm.is_finite() || norm > tolerance.max(1e-6 * scale) {
        return Err(ModelError::Training(format!(
            "gradient norm {norm:.3e} above tolerance {tolerance:.3e} after training"
        )));
    }
    Ok(params)
}

pub(crate) fn as_slice(array: &Array1<f64>) -> &[f64] {
    array
        .as_slice()
        .expect("owned 1-D arrays built here are contiguous")
}

pub(crate) fn l2_norm(v: &Array1<f64>) -> f64 {
    v.dot(v).sqrt()
}

/// Solves `A x = rhs` for a symmetric positive definite `A` given as a product `apply(v) = Av`,
/// to relative residual `tolerance`. Errors on negative curvature or no convergence.
pub fn conjugate_gradient(
    apply: impl Fn(&[f64]) -> Array1<f64>,
    rhs: &Array1<f64>,
    tolerance: f64,
    max_iterations: usize,
) -> Result<Array1<f64>, ModelError> {
    let mut x = Array1::<f64>::zeros(rhs.len());
    let rhs_norm = l2_norm(rhs);
    if rhs_norm == 0.0 {
        return Ok(x);
    }
    let mut residual = rhs.clone();
    let mut direction = rhs.clone();
    let mut residual_sq = residual.dot(&residual);
    for _ in 0..max_iterations {
        let product = apply(as_slice(&direction));
        let curvature = direction.dot(&product);
        if curvature <= 0.0 || !curvature.is_finite() {
            return Err(ModelError::Solve {
                solver: "conjugate gradients",
                reason: format!(
                    "non-positive curvature {curvature:.3e}: matrix not positive definite"
                ),
            });
        }
        let alpha = residual_sq / curvature;
        x.scaled_add(alpha, &direction);
        residual.scaled_add(-alpha, &product);
        let next_sq = residual.dot(&residual);
        if next_sq.sqrt() <= tolerance * rhs_norm {
            return Ok(x);
        }
        let beta = next_sq / residual_sq;
        residual_sq = next_sq;
        direction *= beta;
        direction += &residual;
    }
    if residual_sq.sqrt() <= 1e-8 * rhs_norm {
        return Ok(x);
    }
    Err(ModelError::Solve {
        solver: "conjugate gradients",
        reason: format!(
            "relative residual {:.3e} after {max_iterations} iterations",
            residual_sq.sqrt() / rhs_norm
        ),
    })
}

/// LiSSA estimate of `H⁻¹g` (Agarwal, Bullins, Hazan 2017; as used by Zhang et al. 2024):
/// the recursion `h ← g + h − (H h)/scale` converges to `scale·H⁻¹g` when the eigenvalues of
/// `H/scale` lie in (0, 2); the estimate is `h/scale`. `apply` may be a stochastic
/// (mini-batch) Hessian product; the recursion stops after `max_steps` steps or when
/// ‖Δh‖ < `tolerance`. Returns the estimate and the number of steps taken.
pub fn lissa_inverse_hvp(
    mut apply: impl FnMut(&[f64], usize) -> Array1<f64>,
    gradient: &Array1<f64>,
    scale: f64,
    max_steps: usize,
    tolerance: f64,
) -> Result<(Array1<f64>, usize), ModelError> {
    if !(scale > 0.0 && scale.is_finite()) {
        return Err(ModelError::Parameter {
            name: "lissa_scale".into(),
            value: scale,
            reason: "must be positive and finite".into(),
        });
    }
    let mut h = gradient.clone();
    for step in 0..max_steps {
        let product = apply(as_slice(&h), step);
        let mut next = gradient + &h;
        next.scaled_add(-1.0 / scale, &product);
        let change = l2_norm(&(&next - &h));
        h = next;
        if !change.is_finite() {
            return Err(ModelError::Solve {
                solver: "LiSSA",
                reason: "recursion diverged: scale too small for the Hessian's largest eigenvalue"
                    .into(),
            });
        }
        if change < tolerance {
            return Ok((h / scale, step + 1));
        }
    }
    Ok((h / scale, max_steps))
}

/// Largest dimension for which [`spectral_norm`] runs the exact Jacobi eigensolver on `XᵀX`
/// (O(d³) per sweep); above it the Frobenius norm is returned.
pub const EXACT_SPECTRAL_NORM_MAX_DIM: usize = 512;

/// A guaranteed upper bound on the spectral norm ‖X‖₂ (largest singular value), tight to
/// rounding for `d ≤ EXACT_SPECTRAL_NORM_MAX_DIM` (`docs/mechanisms.md` §1.5).
///
/// For small d: cyclic Jacobi rotations diagonalise `A = XᵀX`; by Weyl's inequality
/// `λ_max(A) ≤ max_i a_ii + ‖off(A)‖_F` for the final rotated matrix, and a rounding pad
/// `(n + 64d)·u·‖X‖_F²` covers the rounding of forming `XᵀX` and of the rotations. The result
/// is `min(sqrt(that), ‖X‖_F)` rounded up, so it is never below ‖X‖₂ (the Frobenius norm is
/// always an upper bound). For large d the Frobenius norm alone is returned (looser by at most
/// √rank). Power iteration is not used: it approaches ‖X‖₂ from below.
pub fn spectral_norm(features: &Array2<f64>) -> f64 {
    let (n, d) = features.dim();
    if d == 0 || n == 0 {
        return 0.0;
    }
    let frobenius_sq: f64 = features.iter().map(|v| v * v).sum();
    // Summing n·d squares has relative rounding error below (n·d)·u; pad generously.
    let frobenius_sq_up = frobenius_sq * (1.0 + 2.0 * (n * d) as f64 * f64::EPSILON);
    let frobenius = frobenius_sq_up.sqrt().next_up();
    if d > EXACT_SPECTRAL_NORM_MAX_DIM {
        return frobenius;
    }
    let mut gram = features.t().dot(features);
    let off_diagonal_sq = |a: &Array2<f64>| {
        let mut sum = 0.0;
        for i in 0..d {
            for j in 0..d {
                if i != j {
                    sum += a[[i, j]] * a[[i, j]];
                }
            }
        }
        sum
    };
    for _sweep in 0..100 {
        if off_diagonal_sq(&gram).sqrt() <= 1e-16 * frobenius_sq {
            break;
        }
        for p in 0..d {
            for q in (p + 1)..d {
                let apq = gram[[p, q]];
                if apq == 0.0 {
                    continue;
                }
                // Classic symmetric Schur rotation (Golub & Van Loan Alg. 8.5.1).
                let tau = (gram[[q, q]] - gram[[p, p]]) / (2.0 * apq);
                let t = tau.signum() / (tau.abs() + (1.0 + tau * tau).sqrt());
                let t = if tau == 0.0 { 1.0 } else { t };
                let c = 1.0 / (1.0 + t * t).sqrt();
                let s = t * c;
                for k in 0..d {
                    let akp = gram[[k, p]];
                    let akq = gram[[k, q]];
                    gram[[k, p]] = c * akp - s * akq;
                    gram[[k, q]] = s * akp + c * akq;
                }
                for k in 0..d {
                    let apk = gram[[p, k]];
                    let aqk = gram[[q, k]];
                    gram[[p, k]] = c * apk - s * aqk;
                    gram[[q, k]] = s * apk + c * aqk;
                }
            }
        }
    }
    let largest_diagonal = (0..d)
        .map(|i| gram[[i, i]])
        .fold(f64::NEG_INFINITY, f64::max);
    let residual = off_diagonal_sq(&gram).sqrt();
    let rounding = (n + 64 * d) as f64 * f64::EPSILON * frobenius_sq_up;
    let eigen_bound = (largest_diagonal + residual + rounding).max(0.0);
    let bound = eigen_bound.sqrt().next_up().next_up();
    bound.min(frobenius)
}

/// `v` scaled onto the ball ‖v‖ ≤ `radius` if it lies outside (Euclidean projection).
pub fn project_to_ball(mut v: Array1<f64>, radius: f64) -> Array1<f64> {
    let norm = l2_norm(&v);
    if norm > radius {
        v *= radius / norm;
    }
    v
}

/// Full-batch gradient descent on the **mean** objective `L/n` (L a sum over the n rows of
/// `objective.data`): `θ ← Π_C(θ − η∇L(θ)/n)` for `steps` steps, with the projection onto
/// ‖θ‖ ≤ C after every step when `radius = Some(C)` (Zhang et al. 2024's norm-constrained
/// training). Deterministic given `start`. Errors on a non-finite iterate.
pub fn train_gradient_descent(
    objective: &Objective<'_>,
    start: Array1<f64>,
    step_size: f64,
    steps: usize,
    radius: Option<f64>,
) -> Result<Array1<f64>, ModelError> {
    if !(step_size > 0.0 && step_size.is_finite()) {
        return Err(ModelError::Parameter {
            name: "step_size".into(),
            value: step_size,
            reason: "must be positive and finite".into(),
        });
    }
    if let Some(r) = radius
        && !(r > 0.0 && r.is_finite())
    {
        return Err(ModelError::Parameter {
            name: "projection_radius".into(),
            value: r,
            reason: "must be positive and finite".into(),
        });
    }
    let n = (objective.data.len() as f64).max(1.0);
    let mut params = match radius {
        Some(r) => project_to_ball(start, r),
        None => start,
    };
    for step in 0..steps {
        let (_, gradient) = objective.value_gradient(as_slice(&params));
        params.scaled_add(-step_size / n, &gradient);
        if let Some(r) = radius {
            params = project_to_ball(params, r);
        }
        if params.iter().any(|v| !v.is_finite()) {
            return Err(ModelError::Training(format!(
                "gradient descent diverged at step {step} (step size {step_size} too large)"
            )));
        }
    }
    Ok(params)
}
