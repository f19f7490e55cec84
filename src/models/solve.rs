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

/// argmin adapter that evaluates value and gradient together once per point.
struct Problem<'a> {
    objective: Objective<'a>,
    cache: Mutex<Option<(Array1<f64>, f64, Array1<f64>)>>,
}

impl Problem<'_> {
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
        Ok(self.evaluate(param).0)
    }
}

impl Gradient for Problem<'_> {
    type Param = Array1<f64>;
    type Gradient = Array1<f64>;
    fn gradient(&self, param: &Self::Param) -> Result<Array1<f64>, argmin::core::Error> {
        Ok(self.evaluate(param).1)
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

/// Spectral norm ‖X‖₂ (largest singular value) by power iteration on `XᵀX`, started from the
/// all-ones vector and run until the estimate changes by less than 1e-14 relative (at most
/// 10 000 iterations). The result is rounded up slightly so that bounds using it stay upper
/// bounds.
pub fn spectral_norm(features: &Array2<f64>) -> f64 {
    let d = features.ncols();
    if d == 0 || features.nrows() == 0 {
        return 0.0;
    }
    let gram = features.t().dot(features);
    let mut v = Array1::from_elem(d, 1.0 / (d as f64).sqrt());
    let mut estimate = 0.0;
    for _ in 0..10_000 {
        let w = gram.dot(&v);
        let norm = l2_norm(&w);
        if norm == 0.0 {
            return 0.0;
        }
        v = w / norm;
        let converged = (norm - estimate).abs() <= 1e-14 * norm;
        estimate = norm;
        if converged {
            break;
        }
    }
    // Power iteration approaches the top eigenvalue from below; pad by 1e-9 relative.
    (estimate * (1.0 + 1e-9)).sqrt()
}
