//! L2-regularised logistic regression for attack models, fitted exactly by damped Newton.
//!
//! Objective (scikit-learn's `LogisticRegression`, penalty on the weights only, not the
//! intercept): ½‖w‖² + C Σᵢ sᵢ ℓ(yᵢ, wᵀxᵢ + b), with sᵢ = 1 or the "balanced" class weights
//! n / (2 n_class). With few features Newton converges to the optimum to machine precision,
//! where lbfgs stops at a tolerance. `docs/mia.md` §2.3.

use super::MiaError;

/// Parameters of the fit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogisticParams {
    /// Inverse regularisation strength C (scikit-learn default 1).
    pub inverse_regularisation: f64,
    /// Standardise features on the fitting data first (scikit-learn does not; the
    /// compatibility modes turn it off).
    pub standardise: bool,
    /// Weight classes by n / (2 n_class) (`class_weight='balanced'`).
    pub balanced: bool,
}

impl Default for LogisticParams {
    fn default() -> Self {
        LogisticParams {
            inverse_regularisation: 1.0,
            standardise: true,
            balanced: false,
        }
    }
}

/// A fitted model; `decision` is the log-odds of "member".
#[derive(Debug, Clone, PartialEq)]
pub struct LogisticModel {
    mean: Vec<f64>,
    scale: Vec<f64>,
    weights: Vec<f64>,
    intercept: f64,
}

impl LogisticModel {
    /// Log-odds of membership for one feature row.
    pub fn decision(&self, row: &[f64]) -> f64 {
        self.intercept
            + row
                .iter()
                .zip(&self.weights)
                .zip(self.mean.iter().zip(&self.scale))
                .map(|((x, w), (m, s))| w * (x - m) / s)
                .sum::<f64>()
    }
    /// Predicts member when the log-odds are positive (probability > ½, as `predict`).
    pub fn predict(&self, row: &[f64]) -> bool {
        self.decision(row) > 0.0
    }
}

fn log1p_exp(x: f64) -> f64 {
    if x > 0.0 {
        x + (-x).exp().ln_1p()
    } else {
        x.exp().ln_1p()
    }
}

fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// Fits the model on `rows` (row-major, `dim` features each) with labels `member`.
pub fn fit(
    rows: &[f64],
    dim: usize,
    member: &[bool],
    params: LogisticParams,
) -> Result<LogisticModel, MiaError> {
    let n = member.len();
    if dim == 0 || rows.len() != n * dim {
        return Err(MiaError::ShapeMismatch {
            array: "attack features".into(),
            expected: vec![n, dim],
            found: vec![rows.len() / dim.max(1), dim],
        });
    }
    let positives = member.iter().filter(|&&m| m).count();
    if positives == 0 || positives == n {
        return Err(MiaError::OneClass {
            array: "attack training labels".into(),
            present: if positives == 0 {
                "non-members"
            } else {
                "members"
            }
            .into(),
        });
    }
    if !(params.inverse_regularisation > 0.0 && params.inverse_regularisation.is_finite()) {
        return Err(MiaError::parameter("C", "must be positive and finite"));
    }
    super::check_finite("attack features", rows)?;
    let (mean, scale) = if params.standardise {
        let mut mean = vec![0.0; dim];
        for row in rows.chunks(dim) {
            for (m, x) in mean.iter_mut().zip(row) {
                *m += x;
            }
        }
        mean.iter_mut().for_each(|m| *m /= n as f64);
        let mut scale = vec![0.0; dim];
        for row in rows.chunks(dim) {
            for ((s, x), m) in scale.iter_mut().zip(row).zip(&mean) {
                *s += (x - m) * (x - m);
            }
        }
        // A constant feature keeps scale 1 (its weight is then driven to 0 by the penalty).
        scale.iter_mut().for_each(|s| {
            *s = if *s > 0.0 {
                (*s / n as f64).sqrt()
            } else {
                1.0
            }
        });
        (mean, scale)
    } else {
        (vec![0.0; dim], vec![1.0; dim])
    };
    let sample_weight = |is_member: bool| {
        if params.balanced {
            let count = if is_member { positives } else { n - positives };
            n as f64 / (2.0 * count as f64)
        } else {
            1.0
        }
    };
    let c = params.inverse_regularisation;
    let p = dim + 1; // weights then intercept
    let features = |row: &[f64], j: usize| -> f64 {
        if j == dim {
            1.0
        } else {
            (row[j] - mean[j]) / scale[j]
        }
    };
    let objective = |theta: &[f64]| -> f64 {
        let mut value = 0.5 * theta[..dim].iter().map(|w| w * w).sum::<f64>();
        for (row, &y) in rows.chunks(dim).zip(member) {
            let eta: f64 = (0..p).map(|j| theta[j] * features(row, j)).sum();
            let loss = if y { log1p_exp(-eta) } else { log1p_exp(eta) };
            value += c * sample_weight(y) * loss;
        }
        value
    };
    let mut theta = vec![0.0; p];
    let mut current = objective(&theta);
    for _ in 0..200 {
        let mut gradient = vec![0.0; p];
        let mut hessian = vec![0.0; p * p];
        for j in 0..dim {
            gradient[j] = theta[j];
            hessian[j * p + j] = 1.0;
        }
        for (row, &y) in rows.chunks(dim).zip(member) {
            let x: Vec<f64> = (0..p).map(|j| features(row, j)).collect();
            let eta: f64 = x.iter().zip(&theta).map(|(a, b)| a * b).sum();
            let prob = sigmoid(eta);
            let weight = c * sample_weight(y);
            let residual = prob - if y { 1.0 } else { 0.0 };
            let curvature = weight * prob * (1.0 - prob);
            for a in 0..p {
                gradient[a] += weight * residual * x[a];
                for b in 0..p {
                    hessian[a * p + b] += curvature * x[a] * x[b];
                }
            }
        }
        let step = solve(&mut hessian, &gradient, p);
        // Backtracking keeps every step a descent step.
        let mut t = 1.0;
        let mut accepted = None;
        while t > 1e-12 {
            let candidate: Vec<f64> = theta.iter().zip(&step).map(|(a, s)| a - t * s).collect();
            let value = objective(&candidate);
            if value <= current {
                accepted = Some((candidate, value));
                break;
            }
            t *= 0.5;
        }
        let Some((candidate, value)) = accepted else {
            break;
        };
        let change = candidate
            .iter()
            .zip(&theta)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        theta = candidate;
        current = value;
        if change < 1e-12 * (1.0 + theta.iter().map(|v| v.abs()).fold(0.0, f64::max)) {
            break;
        }
    }
    Ok(LogisticModel {
        mean,
        scale,
        weights: theta[..dim].to_vec(),
        intercept: theta[dim],
    })
}

/// Solves H x = g by Gaussian elimination with partial pivoting (H is positive definite).
fn solve(matrix: &mut [f64], rhs: &[f64], p: usize) -> Vec<f64> {
    let mut b = rhs.to_vec();
    for col in 0..p {
        let pivot = (col..p)
            .max_by(|&i, &j| {
                matrix[i * p + col]
                    .abs()
                    .total_cmp(&matrix[j * p + col].abs())
            })
            .unwrap_or(col);
        if pivot != col {
            for k in 0..p {
                matrix.swap(col * p + k, pivot * p + k);
            }
            b.swap(col, pivot);
        }
        let diagonal = matrix[col * p + col];
        for row in col + 1..p {
            let factor = matrix[row * p + col] / diagonal;
            for k in col..p {
                matrix[row * p + k] -= factor * matrix[col * p + k];
            }
            b[row] -= factor * b[col];
        }
    }
    let mut x = vec![0.0; p];
    for row in (0..p).rev() {
        let tail: f64 = (row + 1..p).map(|k| matrix[row * p + k] * x[k]).sum();
        x[row] = (b[row] - tail) / matrix[row * p + row];
    }
    x
}
