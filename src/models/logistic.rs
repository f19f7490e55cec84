//! Binary and one-vs-rest logistic regression (`docs/mechanisms.md` §1.1).

use ndarray::{Array1, Array2, ArrayView2};
use rand_chacha::ChaCha8Rng;

use super::{Dataset, Model, sigmoid, softplus};

/// Logistic regression without intercept. With 2 classes it is the usual binary model
/// (one weight vector, `y = +1` for class 1, `−1` for class 0); with `k > 2` classes it is
/// one-vs-rest: `k` independent binary models, one per class, whose losses add up. The
/// per-example loss is `Σ_j ln(1 + e^{−y_j z_j})`, whose second derivative is 1/4-Lipschitz
/// (γ = 1/4 in Guo et al. 2020).
#[derive(Debug, Clone, PartialEq)]
pub struct LogisticRegression {
    num_features: usize,
    num_classes: usize,
}

impl LogisticRegression {
    /// A model for `num_features` inputs and `num_classes` (≥ 2) classes.
    pub fn new(num_features: usize, num_classes: usize) -> Self {
        LogisticRegression {
            num_features,
            num_classes,
        }
    }

    /// Number of weight columns: 1 for binary, `k` for one-vs-rest.
    pub fn num_outputs(&self) -> usize {
        if self.num_classes == 2 {
            1
        } else {
            self.num_classes
        }
    }

    /// Lipschitz constant of the second derivative of the binary logistic loss in the margin.
    pub const CURVATURE_LIPSCHITZ: f64 = 0.25;

    /// The ±1 target of output column `column` for `label`.
    pub fn sign(&self, label: usize, column: usize) -> f64 {
        let positive = if self.num_classes == 2 {
            label == 1
        } else {
            label == column
        };
        if positive { 1.0 } else { -1.0 }
    }

    fn weights<'a>(&self, params: &'a [f64]) -> ArrayView2<'a, f64> {
        ArrayView2::from_shape((self.num_features, self.num_outputs()), params)
            .expect("parameter length checked by the caller (num_params)")
    }
}

impl Model for LogisticRegression {
    fn name(&self) -> &'static str {
        "logistic"
    }

    fn num_params(&self) -> usize {
        self.num_features * self.num_outputs()
    }

    fn logits(&self, params: &[f64], features: ArrayView2<'_, f64>) -> Array2<f64> {
        features.dot(&self.weights(params))
    }

    fn loss_gradient(&self, params: &[f64], data: &Dataset) -> (f64, Array1<f64>) {
        let mut residual = self.logits(params, data.features.view());
        let mut loss = 0.0;
        for (mut row, &label) in residual.rows_mut().into_iter().zip(&data.labels) {
            for (column, z) in row.iter_mut().enumerate() {
                let y = self.sign(label, column);
                let margin = y * *z;
                loss += softplus(-margin);
                *z = -y * sigmoid(-margin);
            }
        }
        let gradient = data.features.t().dot(&residual);
        (
            loss,
            gradient
                .into_shape_with_order(self.num_params())
                .expect("contiguous"),
        )
    }

    fn hvp(&self, params: &[f64], direction: &[f64], data: &Dataset) -> Array1<f64> {
        let logits = self.logits(params, data.features.view());
        let mut projected = data.features.dot(&self.weights(direction));
        for (u, &z) in projected.iter_mut().zip(logits.iter()) {
            let s = sigmoid(z);
            *u *= s * (1.0 - s);
        }
        let product = data.features.t().dot(&projected);
        product
            .into_shape_with_order(self.num_params())
            .expect("contiguous")
    }

    fn per_example_loss(&self, params: &[f64], data: &Dataset) -> Array1<f64> {
        let logits = self.logits(params, data.features.view());
        logits
            .rows()
            .into_iter()
            .zip(&data.labels)
            .map(|(row, &label)| {
                row.iter()
                    .enumerate()
                    .map(|(column, &z)| softplus(-self.sign(label, column) * z))
                    .sum()
            })
            .collect()
    }

    /// Binary: `ln p_y − ln(1 − p_y) = y·z`. One-vs-rest: the log-odds of the true class's own
    /// binary model, `z_y`.
    fn logit_confidence(&self, params: &[f64], data: &Dataset) -> Array1<f64> {
        let logits = self.logits(params, data.features.view());
        logits
            .rows()
            .into_iter()
            .zip(&data.labels)
            .map(|(row, &label)| {
                if self.num_classes == 2 {
                    self.sign(label, 0) * row[0]
                } else {
                    row[label]
                }
            })
            .collect()
    }

    fn is_convex(&self) -> bool {
        true
    }

    fn initial_params(&self, _rng: &mut ChaCha8Rng) -> Array1<f64> {
        Array1::zeros(self.num_params())
    }
}
