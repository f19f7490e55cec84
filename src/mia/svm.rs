//! A small, exact RBF-kernel C-SVC: libsvm's SMO solver, as scikit-learn's `SVC` runs it.
//!
//! Written for the SalUn / Jia et al. "MIA-Efficacy" compatibility mode, which fits
//! `sklearn.svm.SVC(C=3, gamma='auto', kernel='rbf')`. The solver follows libsvm 3.x
//! (`svm.cpp`, `Solver::Solve`, `select_working_set` = WSS3 of Fan, Chen & Lin 2005,
//! `calculate_rho`) step for step, including its single-precision kernel rows (`Qfloat`),
//! TAU = 1e-12, and scikit-learn's class handling (labels sorted, class 0 solved as +1, the
//! binary decision function negated). Shrinking is not implemented: it changes the iteration
//! path but not the stopping criterion, so the solution agrees with `shrinking=True` within
//! the tolerance, and bit-for-bit-path with `shrinking=False`. Derivation and parity figures:
//! `docs/mia.md` §2.5.

use super::MiaError;

/// libsvm's lower bound on the curvature of a working-set pair.
const TAU: f64 = 1e-12;

/// Checked settings of [`RbfSvc::fit`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SvcParams {
    /// Box constraint C (> 0).
    pub c: f64,
    /// RBF width γ in exp(−γ‖x − x'‖²); `None` = scikit-learn's `gamma='auto'` = 1/n_features.
    pub gamma: Option<f64>,
    /// Stopping tolerance on the maximal violating pair (libsvm `eps`, scikit-learn `tol`).
    pub tolerance: f64,
}

impl Default for SvcParams {
    /// `SVC(C=3, gamma='auto', kernel='rbf')` as in SalUn; tol = scikit-learn's 1e-3.
    fn default() -> Self {
        SvcParams {
            c: 3.0,
            gamma: None,
            tolerance: 1e-3,
        }
    }
}

/// A fitted binary RBF C-SVC. Positive decision values mean class `true`.
#[derive(Debug, Clone)]
pub struct RbfSvc {
    dim: usize,
    gamma: f64,
    /// Support vectors, row-major `[n_sv, dim]`.
    support_vectors: Vec<f64>,
    /// Dual coefficients in scikit-learn's binary orientation (α_i times +1 for class `true`).
    dual_coefficients: Vec<f64>,
    /// scikit-learn's binary `intercept_`: libsvm's ρ of the class-0-positive problem (the
    /// decision Σ α_i y_i K − ρ is negated by scikit-learn).
    intercept: f64,
    /// Solver iterations used.
    pub iterations: usize,
}

/// Kernel rows of the training problem, computed on demand and cached (bounded memory).
struct KernelRows<'a> {
    rows: &'a [f64],
    dim: usize,
    gamma: f64,
    /// Squared norms, as libsvm's `x_square`.
    squared_norms: Vec<f64>,
    /// y_i ∈ {+1, −1} of libsvm's problem.
    signs: &'a [f64],
    cache: Vec<Option<Vec<f32>>>,
    order: std::collections::VecDeque<usize>,
    capacity: usize,
}

impl KernelRows<'_> {
    fn dot(&self, i: usize, j: usize) -> f64 {
        let a = &self.rows[i * self.dim..(i + 1) * self.dim];
        let b = &self.rows[j * self.dim..(j + 1) * self.dim];
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    /// libsvm's `kernel_rbf`: exp(−γ(‖x_i‖² + ‖x_j‖² − 2⟨x_i, x_j⟩)).
    fn kernel(&self, i: usize, j: usize) -> f64 {
        (-self.gamma * (self.squared_norms[i] + self.squared_norms[j] - 2.0 * self.dot(i, j))).exp()
    }

    /// Row i of Q_ij = y_i y_j K(x_i, x_j), in single precision as libsvm's `Qfloat`.
    fn row(&mut self, i: usize) -> &[f32] {
        if self.cache[i].is_none() {
            if self.order.len() >= self.capacity
                && let Some(evicted) = self.order.pop_front()
            {
                self.cache[evicted] = None;
            }
            let n = self.signs.len();
            let row: Vec<f32> = (0..n)
                .map(|j| (self.signs[i] * self.signs[j] * self.kernel(i, j)) as f32)
                .collect();
            self.cache[i] = Some(row);
            self.order.push_back(i);
        }
        self.cache[i].as_deref().expect("filled above")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bound {
    Lower,
    Upper,
    Free,
}

impl RbfSvc {
    /// Fits on `rows` (row-major `[n, dim]`) with labels (`true` = class 1 of scikit-learn).
    ///
    /// Errors on empty or ragged input, non-finite values, a single class, or bad parameters.
    pub fn fit(
        rows: &[f64],
        dim: usize,
        labels: &[bool],
        params: SvcParams,
    ) -> Result<Self, MiaError> {
        if !(params.c > 0.0 && params.c.is_finite()) {
            return Err(MiaError::parameter("c", format!("{} is not > 0", params.c)));
        }
        if !(params.tolerance > 0.0 && params.tolerance.is_finite()) {
            return Err(MiaError::parameter(
                "tolerance",
                format!("{} is not > 0", params.tolerance),
            ));
        }
        if dim == 0 || labels.is_empty() {
            return Err(MiaError::Empty {
                what: "SVC training rows".into(),
            });
        }
        if rows.len() != labels.len() * dim {
            return Err(MiaError::ShapeMismatch {
                array: "SVC training rows".into(),
                expected: vec![labels.len(), dim],
                found: vec![rows.len() / dim, dim],
            });
        }
        super::check_finite("SVC training rows", rows)?;
        let gamma = params.gamma.unwrap_or(1.0 / dim as f64);
        if !(gamma > 0.0 && gamma.is_finite()) {
            return Err(MiaError::parameter("gamma", format!("{gamma} is not > 0")));
        }
        let positives = labels.iter().filter(|&&l| l).count();
        if positives == 0 || positives == labels.len() {
            return Err(MiaError::OneClass {
                array: "SVC training labels".into(),
                present: if positives == 0 {
                    "class 0".into()
                } else {
                    "class 1".into()
                },
            });
        }
        // scikit-learn sorts the labels, and libsvm groups the rows by class in input order:
        // class 0 (`false`) first, solved as y = +1, then class 1 as y = −1.
        let permutation: Vec<usize> = (0..labels.len())
            .filter(|&i| !labels[i])
            .chain((0..labels.len()).filter(|&i| labels[i]))
            .collect();
        let grouped: Vec<f64> = permutation
            .iter()
            .flat_map(|&i| rows[i * dim..(i + 1) * dim].iter().copied())
            .collect();
        let signs: Vec<f64> = permutation
            .iter()
            .map(|&i| if labels[i] { -1.0 } else { 1.0 })
            .collect();
        let n = signs.len();
        let squared_norms: Vec<f64> = grouped
            .chunks(dim)
            .map(|r| r.iter().map(|v| v * v).sum())
            .collect();
        // Cache up to 256 MiB of kernel rows (the whole matrix for n up to ~8000).
        let capacity = ((256usize << 20) / (4 * n)).max(2);
        let mut kernel = KernelRows {
            rows: &grouped,
            dim,
            gamma,
            squared_norms,
            signs: &signs,
            cache: vec![None; n],
            order: std::collections::VecDeque::new(),
            capacity,
        };
        // Q_ii = K(x_i, x_i) in double, as libsvm's QD.
        let diagonal: Vec<f64> = (0..n).map(|i| kernel.kernel(i, i)).collect();
        let c = params.c;
        let mut alpha = vec![0.0f64; n];
        let mut status = vec![Bound::Lower; n];
        // Gradient of ½αᵀQα − eᵀα at α = 0.
        let mut gradient = vec![-1.0f64; n];
        let bound = |a: f64| {
            if a >= c {
                Bound::Upper
            } else if a <= 0.0 {
                Bound::Lower
            } else {
                Bound::Free
            }
        };
        let max_iterations = 10_000_000usize.max(if n > i32::MAX as usize / 100 {
            i32::MAX as usize
        } else {
            100 * n
        });
        let mut iterations = 0usize;
        while iterations < max_iterations {
            // WSS3: i maximises −y_t ∇f(α)_t over I_up; j minimises the second-order decrease.
            let mut gmax = f64::NEG_INFINITY;
            let mut gmax2 = f64::NEG_INFINITY;
            let mut gmax_index: Option<usize> = None;
            let mut gmin_index: Option<usize> = None;
            let mut objective_diff_min = f64::INFINITY;
            for t in 0..n {
                if signs[t] > 0.0 {
                    if status[t] != Bound::Upper && -gradient[t] >= gmax {
                        gmax = -gradient[t];
                        gmax_index = Some(t);
                    }
                } else if status[t] != Bound::Lower && gradient[t] >= gmax {
                    gmax = gradient[t];
                    gmax_index = Some(t);
                }
            }
            let Some(i) = gmax_index else { break };
            let q_i: Vec<f32> = kernel.row(i).to_vec();
            for j in 0..n {
                if signs[j] > 0.0 {
                    if status[j] != Bound::Lower {
                        let grad_diff = gmax + gradient[j];
                        if gradient[j] >= gmax2 {
                            gmax2 = gradient[j];
                        }
                        if grad_diff > 0.0 {
                            let quad =
                                diagonal[i] + diagonal[j] - 2.0 * signs[i] * f64::from(q_i[j]);
                            let diff =
                                -(grad_diff * grad_diff) / if quad > 0.0 { quad } else { TAU };
                            if diff <= objective_diff_min {
                                gmin_index = Some(j);
                                objective_diff_min = diff;
                            }
                        }
                    }
                } else if status[j] != Bound::Upper {
                    let grad_diff = gmax - gradient[j];
                    if -gradient[j] >= gmax2 {
                        gmax2 = -gradient[j];
                    }
                    if grad_diff > 0.0 {
                        let quad = diagonal[i] + diagonal[j] + 2.0 * signs[i] * f64::from(q_i[j]);
                        let diff = -(grad_diff * grad_diff) / if quad > 0.0 { quad } else { TAU };
                        if diff <= objective_diff_min {
                            gmin_index = Some(j);
                            objective_diff_min = diff;
                        }
                    }
                }
            }
            let Some(j) = gmin_index else { break };
            if gmax + gmax2 < params.tolerance {
                break;
            }
            iterations += 1;
            let q_j: Vec<f32> = kernel.row(j).to_vec();
            let (old_i, old_j) = (alpha[i], alpha[j]);
            let q_ij = f64::from(q_i[j]);
            if signs[i] != signs[j] {
                let mut quad = diagonal[i] + diagonal[j] + 2.0 * q_ij;
                if quad <= 0.0 {
                    quad = TAU;
                }
                let delta = (-gradient[i] - gradient[j]) / quad;
                let diff = alpha[i] - alpha[j];
                alpha[i] += delta;
                alpha[j] += delta;
                if diff > 0.0 {
                    if alpha[j] < 0.0 {
                        alpha[j] = 0.0;
                        alpha[i] = diff;
                    }
                } else if alpha[i] < 0.0 {
                    alpha[i] = 0.0;
                    alpha[j] = -diff;
                }
                // C_i = C_j = C, so libsvm's `diff > C_i - C_j` is `diff > 0`.
                if diff > 0.0 {
                    if alpha[i] > c {
                        alpha[i] = c;
                        alpha[j] = c - diff;
                    }
                } else if alpha[j] > c {
                    alpha[j] = c;
                    alpha[i] = c + diff;
                }
            } else {
                let mut quad = diagonal[i] + diagonal[j] - 2.0 * q_ij;
                if quad <= 0.0 {
                    quad = TAU;
                }
                let delta = (gradient[i] - gradient[j]) / quad;
                let sum = alpha[i] + alpha[j];
                alpha[i] -= delta;
                alpha[j] += delta;
                if sum > c {
                    if alpha[i] > c {
                        alpha[i] = c;
                        alpha[j] = sum - c;
                    }
                } else if alpha[j] < 0.0 {
                    alpha[j] = 0.0;
                    alpha[i] = sum;
                }
                if sum > c {
                    if alpha[j] > c {
                        alpha[j] = c;
                        alpha[i] = sum - c;
                    }
                } else if alpha[i] < 0.0 {
                    alpha[i] = 0.0;
                    alpha[j] = sum;
                }
            }
            let (delta_i, delta_j) = (alpha[i] - old_i, alpha[j] - old_j);
            for k in 0..n {
                gradient[k] += f64::from(q_i[k]) * delta_i + f64::from(q_j[k]) * delta_j;
            }
            status[i] = bound(alpha[i]);
            status[j] = bound(alpha[j]);
        }
        // libsvm's calculate_rho: mean of y∇f over free variables, else the midpoint.
        let (mut upper, mut lower) = (f64::INFINITY, f64::NEG_INFINITY);
        let (mut free, mut free_sum) = (0usize, 0.0f64);
        for t in 0..n {
            let y_gradient = signs[t] * gradient[t];
            match status[t] {
                Bound::Upper => {
                    if signs[t] < 0.0 {
                        upper = upper.min(y_gradient);
                    } else {
                        lower = lower.max(y_gradient);
                    }
                }
                Bound::Lower => {
                    if signs[t] > 0.0 {
                        upper = upper.min(y_gradient);
                    } else {
                        lower = lower.max(y_gradient);
                    }
                }
                Bound::Free => {
                    free += 1;
                    free_sum += y_gradient;
                }
            }
        }
        let rho = if free > 0 {
            free_sum / free as f64
        } else {
            (upper + lower) / 2.0
        };
        let mut support_vectors = Vec::new();
        let mut dual_coefficients = Vec::new();
        for t in 0..n {
            if alpha[t] > 0.0 {
                support_vectors.extend_from_slice(&grouped[t * dim..(t + 1) * dim]);
                // scikit-learn negates libsvm's binary coefficients so that + means class 1.
                dual_coefficients.push(-signs[t] * alpha[t]);
            }
        }
        Ok(RbfSvc {
            dim,
            gamma,
            support_vectors,
            dual_coefficients,
            intercept: rho,
            iterations,
        })
    }

    /// scikit-learn's `decision_function`: Σ coef_i K(sv_i, x) + intercept; > 0 favours class 1.
    pub fn decision(&self, x: &[f64]) -> f64 {
        debug_assert_eq!(x.len(), self.dim);
        // libsvm's k_function: exp(−γ Σ (x_k − y_k)²) summed in place.
        let kernel_sum: f64 = self
            .support_vectors
            .chunks(self.dim)
            .zip(&self.dual_coefficients)
            .map(|(sv, coefficient)| {
                let distance: f64 = sv.iter().zip(x).map(|(a, b)| (a - b) * (a - b)).sum();
                coefficient * (-self.gamma * distance).exp()
            })
            .sum();
        kernel_sum + self.intercept
    }

    /// scikit-learn's `predict`: libsvm votes class 0 when its own decision value is > 0, so
    /// class 1 (`true`) when this decision value is ≥ 0.
    pub fn predict(&self, x: &[f64]) -> bool {
        self.decision(x) >= 0.0
    }

    /// Number of support vectors (scikit-learn `n_support_.sum()`).
    pub fn support_vector_count(&self) -> usize {
        self.dual_coefficients.len()
    }

    /// scikit-learn's `intercept_` in its binary orientation.
    pub fn intercept(&self) -> f64 {
        self.intercept
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two separable points: α = (a, a) with the margin solution K-independent in sign.
    #[test]
    fn two_points_are_separated_symmetrically() {
        let svc = RbfSvc::fit(&[0.0, 1.0], 1, &[false, true], SvcParams::default()).unwrap();
        assert!(svc.decision(&[1.0]) > 0.0 && svc.decision(&[0.0]) < 0.0);
        // Symmetry: the midpoint is on the boundary.
        assert!(svc.decision(&[0.5]).abs() < 1e-12);
        assert!((svc.decision(&[1.0]) + svc.decision(&[0.0])).abs() < 1e-12);
    }

    #[test]
    fn one_class_is_refused() {
        assert!(matches!(
            RbfSvc::fit(&[0.0, 1.0], 1, &[true, true], SvcParams::default()),
            Err(MiaError::OneClass { .. })
        ));
    }
}
