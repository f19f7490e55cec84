//! Reference models for the in-process mechanisms: binary and one-vs-rest logistic regression,
//! multinomial logistic (softmax) regression and a small MLP. Each exposes, through the
//! [`Model`] trait, the summed loss, its gradient and Hessian-vector products, which is all the
//! certified mechanisms need (Newton steps by conjugate gradients, LiSSA, noisy descent).
//!
//! Conventions (derivations in `docs/mechanisms.md` §1):
//! * parameters are one flat `f64` vector; for the linear models it is the `[d, k]` weight
//!   matrix in row-major order (column `j` holds class `j`'s weights), no intercept;
//! * losses, gradients and HVPs are **sums** over examples (Guo et al.'s "sum form"); the
//!   regulariser and the objective perturbation live in [`Objective`].

mod logistic;
mod mlp;
mod softmax;
mod solve;

pub use logistic::LogisticRegression;
pub use mlp::Mlp;
pub use softmax::SoftmaxRegression;
pub use solve::{
    EXACT_SPECTRAL_NORM_MAX_DIM, TrainOptions, conjugate_gradient, lissa_inverse_hvp,
    project_to_ball, spectral_norm, train_gradient_descent, train_lbfgs,
};

use ndarray::{Array1, Array2, ArrayView2, Axis};

/// Errors of the model layer. Every variant names the model or the array involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// Arrays that must agree in shape do not.
    #[error("{what}: expected {expected}, found {found}")]
    Shape {
        what: String,
        expected: usize,
        found: usize,
    },
    /// A label is not below the number of classes.
    #[error("label {label} at row {row} is not below the number of classes {num_classes}")]
    Label {
        row: usize,
        label: usize,
        num_classes: usize,
    },
    /// A parameter is outside its valid range.
    #[error("parameter `{name}` = {}: {reason}", display_value(*.value))]
    Parameter {
        name: String,
        value: f64,
        reason: String,
    },
    /// The optimiser failed or did not reach its tolerance.
    #[error("training did not converge: {0}")]
    Training(String),
    /// An iterative solve (conjugate gradients, LiSSA) did not converge.
    #[error("{solver} did not converge: {reason}")]
    Solve {
        solver: &'static str,
        reason: String,
    },
}

/// Features, labels and class count: one data set (or a split of one) held in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// `[n, d]`, finite.
    pub features: Array2<f64>,
    /// `n` labels in `0..num_classes`.
    pub labels: Vec<usize>,
    /// Number of classes (at least 2).
    pub num_classes: usize,
}

/// Plain in the usual range, scientific when very large or small (`1e308`, not 309 digits).
fn display_value(value: f64) -> String {
    let magnitude = value.abs();
    if value.is_finite() && magnitude != 0.0 && !(1e-4..1e16).contains(&magnitude) {
        format!("{value:e}")
    } else {
        format!("{value}")
    }
}

/// Largest |feature| a [`Dataset`] accepts: squared row norms and gradients stay finite.
pub const MAX_FEATURE_MAGNITUDE: f64 = 1e150;

/// Largest ratio of the largest row norm to the median row norm: beyond it, scaling to the
/// unit ball (`docs/mechanisms.md` §1.3) leaves the other rows below 10⁻¹² and the runs
/// degenerate (every run records the same value whatever the mechanism does).
pub const MAX_ROW_NORM_RATIO: f64 = 1e12;

impl Dataset {
    /// Validates shapes and labels.
    pub fn new(
        features: Array2<f64>,
        labels: Vec<usize>,
        num_classes: usize,
    ) -> Result<Self, ModelError> {
        if labels.len() != features.nrows() {
            return Err(ModelError::Shape {
                what: "labels (one per feature row)".into(),
                expected: features.nrows(),
                found: labels.len(),
            });
        }
        if num_classes < 2 {
            return Err(ModelError::Parameter {
                name: "num_classes".into(),
                value: num_classes as f64,
                reason: "a classifier needs at least 2 classes".into(),
            });
        }
        if let Some((row, &label)) = labels.iter().enumerate().find(|(_, l)| **l >= num_classes) {
            return Err(ModelError::Label {
                row,
                label,
                num_classes,
            });
        }
        if let Some(position) = features.iter().position(|v| !v.is_finite()) {
            return Err(ModelError::Parameter {
                name: format!(
                    "features[{}, {}]",
                    position / features.ncols().max(1),
                    position % features.ncols().max(1)
                ),
                value: features.iter().nth(position).copied().unwrap_or(f64::NAN),
                reason: "features must be finite".into(),
            });
        }
        let cell = |position: usize| {
            format!(
                "features[{}, {}]",
                position / features.ncols().max(1),
                position % features.ncols().max(1)
            )
        };
        if let Some(position) = features
            .iter()
            .position(|v| v.abs() > MAX_FEATURE_MAGNITUDE)
        {
            return Err(ModelError::Parameter {
                name: cell(position),
                value: features.iter().nth(position).copied().unwrap_or(f64::NAN),
                reason: format!(
                    "|feature| must be at most {MAX_FEATURE_MAGNITUDE:e}: larger values overflow \
                     the squared row norms and the gradients (docs/mechanisms.md §1.3)"
                ),
            });
        }
        let mut norms: Vec<f64> = features
            .rows()
            .into_iter()
            .map(|r| r.dot(&r).sqrt())
            .collect();
        if let Some((row, &largest)) = norms.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)) {
            norms.sort_by(f64::total_cmp);
            let median = norms[norms.len() / 2];
            if median > 0.0 && largest > MAX_ROW_NORM_RATIO * median {
                return Err(ModelError::Parameter {
                    name: format!("features[{row}, ..]"),
                    value: largest,
                    reason: format!(
                        "this row's norm is more than {MAX_ROW_NORM_RATIO:e} times the median row \
                         norm {median:e}: scaling the features to the unit ball would make every \
                         other row numerically zero and every run degenerate; remove or rescale \
                         the outlier (docs/mechanisms.md §1.3)"
                    ),
                });
            }
        }
        Ok(Dataset {
            features,
            labels,
            num_classes,
        })
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when the data set has no rows.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Number of features.
    pub fn num_features(&self) -> usize {
        self.features.ncols()
    }

    /// The rows at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Dataset {
        Dataset {
            features: self.features.select(Axis(0), indices),
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            num_classes: self.num_classes,
        }
    }

    /// The largest Euclidean row norm.
    pub fn max_row_norm(&self) -> f64 {
        self.features
            .rows()
            .into_iter()
            .map(|row| row.dot(&row).sqrt())
            .fold(0.0, f64::max)
    }

    /// Divides every feature by the largest row norm, so that ‖x_i‖ ≤ 1 for every row (the
    /// certificates of Guo et al., Sekhari et al. and Neel et al. assume bounded features).
    /// Returns the scaled data and the divisor (1 when every row is zero).
    pub fn scaled_to_unit_ball(&self) -> (Dataset, f64) {
        let norm = self.max_row_norm();
        let divisor = if norm > 0.0 { norm } else { 1.0 };
        let mut scaled = self.clone();
        scaled.features.mapv_inplace(|v| v / divisor);
        (scaled, divisor)
    }
}

/// A differentiable classifier with flat `f64` parameters. Losses, gradients and
/// Hessian-vector products are sums over the examples of `data`.
pub trait Model: Send + Sync + std::fmt::Debug {
    /// Short stable name (`logistic`, `softmax`, `mlp`) for manifests.
    fn name(&self) -> &'static str;
    /// Length of the flat parameter vector.
    fn num_params(&self) -> usize;
    /// Logits `[n, k]` of `features` (k = 1 for binary logistic regression).
    fn logits(&self, params: &[f64], features: ArrayView2<'_, f64>) -> Array2<f64>;
    /// Summed loss and its gradient.
    fn loss_gradient(&self, params: &[f64], data: &Dataset) -> (f64, Array1<f64>);
    /// Summed Hessian times `direction`.
    fn hvp(&self, params: &[f64], direction: &[f64], data: &Dataset) -> Array1<f64>;
    /// Per-example loss `-ln p_y` (for one-vs-rest models: the sum of the binary losses).
    fn per_example_loss(&self, params: &[f64], data: &Dataset) -> Array1<f64>;
    /// Per-example logit-scaled confidence `ln p_y − ln(1 − p_y)`, computed from the logits
    /// without forming probabilities (`docs/mechanisms.md` §1.4).
    fn logit_confidence(&self, params: &[f64], data: &Dataset) -> Array1<f64>;
    /// Whether the summed loss is convex in the parameters (linear models).
    fn is_convex(&self) -> bool;
    /// Starting parameters: zeros for the convex models, a seeded initialisation for the MLP.
    fn initial_params(&self, rng: &mut rand_chacha::ChaCha8Rng) -> Array1<f64>;
}

/// `ln(1 + e^x)` without overflow or loss of precision.
pub(crate) fn softplus(x: f64) -> f64 {
    if x > 0.0 {
        x + (-x).exp().ln_1p()
    } else {
        x.exp().ln_1p()
    }
}

/// The logistic function `1 / (1 + e^{-x})`, stable for large |x|.
pub(crate) fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// `ln Σ_j e^{z_j}` with max subtraction.
pub(crate) fn log_sum_exp(values: impl Iterator<Item = f64> + Clone) -> f64 {
    let max = values.clone().fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY {
        return max;
    }
    max + values.map(|v| (v - max).exp()).sum::<f64>().ln()
}

/// Logit-scaled confidence from a softmax logit row: `z_y − logsumexp_{j≠y} z_j`, which equals
/// `ln p_y − ln(1 − p_y)` exactly and never forms `1 − p_y`.
pub(crate) fn softmax_logit_confidence(row: ndarray::ArrayView1<'_, f64>, label: usize) -> f64 {
    let others = row
        .iter()
        .enumerate()
        .filter(move |(j, _)| *j != label)
        .map(|(_, &z)| z);
    row[label] - log_sum_exp(others)
}

/// An L2-regularised, optionally perturbed training objective
/// `L(w) = Σ_i ℓ(w; x_i, y_i) + (l2/2)‖w‖² + bᵀw` (Guo et al. 2020, eq. for `L_b`).
#[derive(Debug, Clone, Copy)]
pub struct Objective<'a> {
    pub model: &'a dyn Model,
    pub data: &'a Dataset,
    /// Coefficient of `½‖w‖²` (already multiplied by n where a paper scales by n).
    pub l2: f64,
    /// The linear perturbation `b`, if any.
    pub linear: Option<&'a Array1<f64>>,
}

impl Objective<'_> {
    /// Objective value and gradient.
    pub fn value_gradient(&self, params: &[f64]) -> (f64, Array1<f64>) {
        let (mut value, mut gradient) = self.model.loss_gradient(params, self.data);
        let w = ndarray::ArrayView1::from(params);
        value += 0.5 * self.l2 * w.dot(&w);
        gradient.scaled_add(self.l2, &w);
        if let Some(b) = self.linear {
            value += b.dot(&w);
            gradient += b;
        }
        (value, gradient)
    }

    /// Hessian of the objective times `direction` (the linear term has no curvature).
    pub fn hvp(&self, params: &[f64], direction: &[f64]) -> Array1<f64> {
        let mut product = self.model.hvp(params, direction, self.data);
        product.scaled_add(self.l2, &ndarray::ArrayView1::from(direction));
        product
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_helpers_match_naive_formulas_in_range() {
        // ln(1 + e^-30) = e^-30 − e^-60/2 + …; ln(1 + e^30) = 30 + e^-30 − …
        assert!(crate::tolerance::relative_eq(
            softplus(-30.0),
            f64::exp(-30.0),
            1e-12
        ));
        assert!(crate::tolerance::relative_eq(
            softplus(30.0),
            30.0 + f64::exp(-30.0),
            1e-15
        ));
        for &x in &[-2.0, 0.0, 0.5, 3.0] {
            let naive_sp = (1.0 + f64::exp(x)).ln();
            assert!(crate::tolerance::relative_eq(softplus(x), naive_sp, 1e-12));
            let naive_sig = 1.0 / (1.0 + f64::exp(-x));
            assert!(crate::tolerance::relative_eq(sigmoid(x), naive_sig, 1e-12));
        }
        assert_eq!(softplus(-800.0), 0.0);
        assert_eq!(softplus(800.0), 800.0);
    }

    #[test]
    fn logit_confidence_equals_log_odds() {
        let row = ndarray::array![1.0, -0.5, 2.0];
        let p: Vec<f64> = {
            let s: f64 = row.iter().map(|z: &f64| z.exp()).sum();
            row.iter().map(|z| z.exp() / s).collect()
        };
        for label in 0..3 {
            let expected = p[label].ln() - (1.0 - p[label]).ln();
            let got = softmax_logit_confidence(row.view(), label);
            assert!((got - expected).abs() < 1e-12);
        }
        // Extreme logits: p_y rounds to 1 in f64 but the score stays finite and exact.
        let extreme = ndarray::array![60.0, 0.0];
        assert!((softmax_logit_confidence(extreme.view(), 0) - 60.0).abs() < 1e-12);
    }
}
