//! A small multilayer perceptron: one tanh hidden layer, softmax output
//! (`docs/mechanisms.md` §1.6). tanh is smooth everywhere, so the Hessian exists at every
//! parameter (ReLU's does not at its kinks) and Zhang et al.'s Hessian-Lipschitz assumption
//! can hold on a bounded set.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use super::{Dataset, Model, log_sum_exp, softmax_logit_confidence};

/// `x ↦ softmax(W2ᵀ tanh(W1ᵀx + b1) + b2)`. Flat parameters, in order: `W1` `[d, h]`
/// row-major, `b1` `[h]`, `W2` `[h, k]` row-major, `b2` `[k]`. Loss `logsumexp(z) − z_y`.
/// Not convex.
#[derive(Debug, Clone, PartialEq)]
pub struct Mlp {
    num_features: usize,
    hidden: usize,
    num_classes: usize,
}

/// Views of the four parameter blocks.
struct Blocks<'a> {
    w1: ArrayView2<'a, f64>,
    b1: ArrayView1<'a, f64>,
    w2: ArrayView2<'a, f64>,
    b2: ArrayView1<'a, f64>,
}

/// Hidden activations and output probabilities of a batch.
struct Forward {
    hidden: Array2<f64>,
    /// Summed loss `Σ logsumexp(z_i) − z_{i,y_i}` (from the logits, never from ln p).
    loss: f64,
    probabilities: Array2<f64>,
}

impl Mlp {
    /// A network with `hidden` tanh units.
    pub fn new(num_features: usize, hidden: usize, num_classes: usize) -> Self {
        Mlp {
            num_features,
            hidden,
            num_classes,
        }
    }

    /// Number of hidden units.
    pub fn hidden(&self) -> usize {
        self.hidden
    }

    fn blocks<'a>(&self, params: &'a [f64]) -> Blocks<'a> {
        let (d, h, k) = (self.num_features, self.hidden, self.num_classes);
        let (w1, rest) = params.split_at(d * h);
        let (b1, rest) = rest.split_at(h);
        let (w2, b2) = rest.split_at(h * k);
        Blocks {
            w1: ArrayView2::from_shape((d, h), w1).expect("num_params checked by the caller"),
            b1: ArrayView1::from(b1),
            w2: ArrayView2::from_shape((h, k), w2).expect("num_params checked by the caller"),
            b2: ArrayView1::from(b2),
        }
    }

    fn forward(&self, params: &[f64], features: ArrayView2<'_, f64>, labels: &[usize]) -> Forward {
        let b = self.blocks(params);
        let hidden = self.hidden_activations(params, features);
        let mut probabilities = hidden.dot(&b.w2);
        probabilities += &b.b2;
        let mut loss = 0.0;
        for (mut row, &y) in probabilities.axis_iter_mut(Axis(0)).zip(labels) {
            let value = log_sum_exp(row.iter().copied());
            loss += value - row[y];
            row.mapv_inplace(|z| (z - value).exp());
        }
        Forward {
            hidden,
            loss,
            probabilities,
        }
    }

    fn hidden_activations(&self, params: &[f64], features: ArrayView2<'_, f64>) -> Array2<f64> {
        let b = self.blocks(params);
        let mut pre = features.dot(&b.w1);
        pre += &b.b1;
        pre.mapv_inplace(f64::tanh);
        pre
    }

    /// Concatenates the four blocks' gradients in parameter order.
    fn flatten(
        g_w1: Array2<f64>,
        g_b1: Array1<f64>,
        g_w2: Array2<f64>,
        g_b2: Array1<f64>,
    ) -> Array1<f64> {
        g_w1.iter()
            .chain(g_b1.iter())
            .chain(g_w2.iter())
            .chain(g_b2.iter())
            .copied()
            .collect()
    }

    /// One-hot labels.
    fn one_hot(&self, labels: &[usize]) -> Array2<f64> {
        let mut y = Array2::zeros((labels.len(), self.num_classes));
        for (i, &label) in labels.iter().enumerate() {
            y[[i, label]] = 1.0;
        }
        y
    }
}

impl Model for Mlp {
    fn name(&self) -> &'static str {
        "mlp"
    }

    fn num_params(&self) -> usize {
        (self.num_features + 1) * self.hidden + (self.hidden + 1) * self.num_classes
    }

    fn logits(&self, params: &[f64], features: ArrayView2<'_, f64>) -> Array2<f64> {
        let b = self.blocks(params);
        let hidden = self.hidden_activations(params, features);
        let mut logits = hidden.dot(&b.w2);
        logits += &b.b2;
        logits
    }

    fn loss_gradient(&self, params: &[f64], data: &Dataset) -> (f64, Array1<f64>) {
        let b = self.blocks(params);
        let forward = self.forward(params, data.features.view(), &data.labels);
        let loss = forward.loss;
        // dL/dz = P − Y; back through W2 and tanh' = 1 − a².
        let output_error = &forward.probabilities - &self.one_hot(&data.labels);
        let g_w2 = forward.hidden.t().dot(&output_error);
        let g_b2 = output_error.sum_axis(Axis(0));
        let mut hidden_error = output_error.dot(&b.w2.t());
        hidden_error.zip_mut_with(&forward.hidden, |e, &a| *e *= 1.0 - a * a);
        let g_w1 = data.features.t().dot(&hidden_error);
        let g_b1 = hidden_error.sum_axis(Axis(0));
        (loss, Self::flatten(g_w1, g_b1, g_w2, g_b2))
    }

    /// Exact Hessian-vector product by Pearlmutter's R-operator (forward-mode derivative of
    /// the reverse pass along `direction`); derivation in `docs/mechanisms.md` §1.6.
    fn hvp(&self, params: &[f64], direction: &[f64], data: &Dataset) -> Array1<f64> {
        let b = self.blocks(params);
        let v = self.blocks(direction);
        let x = &data.features;
        let forward = self.forward(params, x.view(), &data.labels);
        let a = &forward.hidden;
        let p = &forward.probabilities;
        let tanh_slope = a.mapv(|a| 1.0 - a * a);
        // Forward R-pass: R(u) = X V1 + c1, R(a) = (1 − a²) ⊙ R(u), R(z) = R(a) W2 + a V2 + c2.
        let mut r_pre = x.dot(&v.w1);
        r_pre += &v.b1;
        let r_hidden = &tanh_slope * &r_pre;
        let mut r_logits = r_hidden.dot(&b.w2) + a.dot(&v.w2);
        r_logits += &v.b2;
        // R(P − Y) = R(p) = p ⊙ (R(z) − pᵀR(z)) row-wise.
        let mut r_error = Array2::zeros(p.raw_dim());
        for ((p_row, rz_row), mut out) in p
            .axis_iter(Axis(0))
            .zip(r_logits.axis_iter(Axis(0)))
            .zip(r_error.axis_iter_mut(Axis(0)))
        {
            let mean = p_row.dot(&rz_row);
            for ((o, &pj), &rzj) in out.iter_mut().zip(p_row.iter()).zip(rz_row.iter()) {
                *o = pj * (rzj - mean);
            }
        }
        let output_error = p - &self.one_hot(&data.labels);
        // Backward R-pass.
        let h_w2 = r_hidden.t().dot(&output_error) + a.t().dot(&r_error);
        let h_b2 = r_error.sum_axis(Axis(0));
        let hidden_error_pre = output_error.dot(&b.w2.t());
        let r_hidden_error_pre = r_error.dot(&b.w2.t()) + output_error.dot(&v.w2.t());
        // δ = e ⊙ (1 − a²); R(δ) = R(e) ⊙ (1 − a²) − 2 e ⊙ a ⊙ R(a).
        let mut r_delta = &r_hidden_error_pre * &tanh_slope;
        ndarray::Zip::from(&mut r_delta)
            .and(&hidden_error_pre)
            .and(a)
            .and(&r_hidden)
            .for_each(|r, &e, &a, &ra| *r -= 2.0 * e * a * ra);
        let h_w1 = x.t().dot(&r_delta);
        let h_b1 = r_delta.sum_axis(Axis(0));
        Self::flatten(h_w1, h_b1, h_w2, h_b2)
    }

    fn per_example_loss(&self, params: &[f64], data: &Dataset) -> Array1<f64> {
        let logits = self.logits(params, data.features.view());
        Array1::from_iter(
            logits
                .axis_iter(Axis(0))
                .zip(&data.labels)
                .map(|(row, &y)| log_sum_exp(row.iter().copied()) - row[y]),
        )
    }

    fn logit_confidence(&self, params: &[f64], data: &Dataset) -> Array1<f64> {
        let logits = self.logits(params, data.features.view());
        Array1::from_iter(
            logits
                .axis_iter(Axis(0))
                .zip(&data.labels)
                .map(|(row, &y)| softmax_logit_confidence(row, y)),
        )
    }

    fn is_convex(&self) -> bool {
        false
    }

    /// Glorot-style: `W1 ~ N(0, 1/d)`, `W2 ~ N(0, 1/h)`, biases 0.
    fn initial_params(&self, rng: &mut ChaCha8Rng) -> Array1<f64> {
        let (d, h, k) = (self.num_features, self.hidden, self.num_classes);
        let mut params = Array1::zeros(self.num_params());
        let first = 1.0 / (d.max(1) as f64).sqrt();
        let second = 1.0 / (h.max(1) as f64).sqrt();
        for i in 0..d * h {
            let z: f64 = StandardNormal.sample(rng);
            params[i] = first * z;
        }
        let offset = d * h + h;
        for i in 0..h * k {
            let z: f64 = StandardNormal.sample(rng);
            params[offset + i] = second * z;
        }
        params
    }
}
