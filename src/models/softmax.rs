//! Multinomial logistic (softmax) regression (`docs/mechanisms.md` §1.2).

use ndarray::{Array1, Array2, ArrayView2, Axis};
use rand_chacha::ChaCha8Rng;

use super::{Dataset, Model, log_sum_exp, softmax_logit_confidence};

/// Softmax regression without intercept: logits `z = Wᵀx`, `W` of shape `[d, k]`, loss
/// `logsumexp(z) − z_y`. Convex; the Hessian of one example is `(diag p − ppᵀ) ⊗ xxᵀ`.
#[derive(Debug, Clone, PartialEq)]
pub struct SoftmaxRegression {
    num_features: usize,
    num_classes: usize,
}

impl SoftmaxRegression {
    /// A model for `num_features` inputs and `num_classes` classes.
    pub fn new(num_features: usize, num_classes: usize) -> Self {
        SoftmaxRegression {
            num_features,
            num_classes,
        }
    }

    fn weights<'a>(&self, params: &'a [f64]) -> ArrayView2<'a, f64> {
        ArrayView2::from_shape((self.num_features, self.num_classes), params)
            .expect("parameter length checked by the caller (num_params)")
    }
}

/// Replaces each logit row by its softmax probabilities (max subtraction), returning the
/// row's log-sum-exp.
fn softmax_rows_in_place(logits: &mut Array2<f64>) -> Array1<f64> {
    let mut lse = Array1::zeros(logits.nrows());
    for (mut row, out) in logits.axis_iter_mut(Axis(0)).zip(lse.iter_mut()) {
        let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut sum = 0.0;
        for z in row.iter_mut() {
            *z = (*z - max).exp();
            sum += *z;
        }
        row.mapv_inplace(|e| e / sum);
        *out = max + sum.ln();
    }
    lse
}

impl Model for SoftmaxRegression {
    fn name(&self) -> &'static str {
        "softmax"
    }

    fn num_params(&self) -> usize {
        self.num_features * self.num_classes
    }

    fn logits(&self, params: &[f64], features: ArrayView2<'_, f64>) -> Array2<f64> {
        features.dot(&self.weights(params))
    }

    fn loss_gradient(&self, params: &[f64], data: &Dataset) -> (f64, Array1<f64>) {
        let mut probabilities = self.logits(params, data.features.view());
        let label_logits: Vec<f64> = probabilities
            .rows()
            .into_iter()
            .zip(&data.labels)
            .map(|(row, &label)| row[label])
            .collect();
        let lse = softmax_rows_in_place(&mut probabilities);
        let mut loss = 0.0;
        for (i, &label) in data.labels.iter().enumerate() {
            loss += lse[i] - label_logits[i];
            probabilities[[i, label]] -= 1.0;
        }
        let gradient = data.features.t().dot(&probabilities);
        (
            loss,
            gradient
                .into_shape_with_order(self.num_params())
                .expect("contiguous"),
        )
    }

    fn hvp(&self, params: &[f64], direction: &[f64], data: &Dataset) -> Array1<f64> {
        let mut probabilities = self.logits(params, data.features.view());
        softmax_rows_in_place(&mut probabilities);
        let mut projected = data.features.dot(&self.weights(direction));
        for (mut u, p) in projected.rows_mut().into_iter().zip(probabilities.rows()) {
            let mean = p.dot(&u);
            u.zip_mut_with(&p, |u, &p| *u = p * (*u - mean));
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
            .map(|(row, &label)| log_sum_exp(row.iter().copied()) - row[label])
            .collect()
    }

    fn logit_confidence(&self, params: &[f64], data: &Dataset) -> Array1<f64> {
        let logits = self.logits(params, data.features.view());
        logits
            .rows()
            .into_iter()
            .zip(&data.labels)
            .map(|(row, &label)| softmax_logit_confidence(row, label))
            .collect()
    }

    fn is_convex(&self) -> bool {
        true
    }

    fn initial_params(&self, _rng: &mut ChaCha8Rng) -> Array1<f64> {
        Array1::zeros(self.num_params())
    }
}
