//! Known answers of references §4 (G1 Guo et al. worked example, G4 LiSSA on a 2×2 system)
//! and finite-difference checks of the models' gradients and Hessian-vector products.

use ndarray::{Array1, Array2, array};
use unlearn_audit::mechanisms::{
    Guo, GuoFault, GuoParams, MechanismOptions, Split, perturbed_gradient_norm,
};
use unlearn_audit::models::{
    Dataset, LogisticRegression, Mlp, Model, Objective, SoftmaxRegression, lissa_inverse_hvp,
    spectral_norm, train_gradient_descent,
};

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

fn guo_example() -> Guo {
    // Rows X = [(1,0),(0,1),(0.6,0.8),(−0.8,0.6)], y = (1,1,−1,1): labels 1,1,0,1.
    let features = array![[1.0, 0.0], [0.0, 1.0], [0.6, 0.8], [-0.8, 0.6]];
    let data = Dataset::new(features, vec![1, 1, 0, 1], 2).unwrap();
    let split = Split::new(&data, &[3]).unwrap();
    assert_eq!(split.feature_scale, 1.0);
    let params = GuoParams::from_options(&MechanismOptions {
        lambda: Some(0.1),
        sigma: Some(1.0),
        epsilon: Some(1.0),
        delta: Some(1e-4),
        ..Default::default()
    })
    .unwrap();
    Guo::new(split, params, GuoFault::None).unwrap()
}

#[test]
fn guo_worked_example_g1() {
    let guo = guo_example();
    let w_star = guo.train_full(None).unwrap();
    assert!(
        close(w_star[0], -0.2239571, 1e-7) && close(w_star[1], 0.4479143, 1e-7),
        "{w_star}"
    );
    let removal = guo.remove(w_star, false).unwrap();
    let w_minus = &removal.params;
    assert!(
        close(w_minus[0], 0.2986262, 1e-7) && close(w_minus[1], 0.0871434, 1e-7),
        "{w_minus}"
    );
    assert!(
        close(removal.residual_bounds[0], 0.1426799, 1e-6),
        "{:?}",
        removal.residual_bounds
    );
    let model = LogisticRegression::new(2, 2);
    let retain =
        Dataset::new(array![[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]], vec![1, 1, 0], 2).unwrap();
    let true_residual = perturbed_gradient_norm(&model, &retain, 0.1, None, w_minus);
    assert!(close(true_residual, 0.0026953, 1e-7), "{true_residual}");
    // The data-dependent bound really bounds the true residual.
    assert!(true_residual <= removal.residual_bounds[0]);
    let w_retrain = guo.train_retain(None).unwrap();
    assert!(close(w_retrain[0], 0.2965645, 1e-7) && close(w_retrain[1], 0.0911118, 1e-7));
    let gap = (w_minus - &w_retrain).mapv(|v| v * v).sum().sqrt();
    assert!(close(gap, 0.0044720, 1e-7), "{gap}");
    assert!(close(guo.worst_case_bound().unwrap(), 100.0 / 3.0, 1e-6));
    // ε = c(1e-4)·β/σ = 4.3853861 × 0.1426799 (certify rounds up).
    let epsilon = guo.params().certified_epsilon(0.1426799).unwrap();
    assert!(close(epsilon, 4.3853861 * 0.1426799, 1e-6), "{epsilon}");
}

#[test]
fn guo_delta_of_the_example_g1() {
    // Δ = λw* + ∇ℓ(w*; x_4, y_4) = (0.2894897, −0.1891226).
    let guo = guo_example();
    let w_star = guo.train_full(None).unwrap();
    let model = LogisticRegression::new(2, 2);
    let point = Dataset::new(array![[-0.8, 0.6]], vec![1], 2).unwrap();
    let mut delta = model.loss_gradient(w_star.as_slice().unwrap(), &point).1;
    delta.scaled_add(0.1, &w_star);
    assert!(
        close(delta[0], 0.2894897, 1e-7) && close(delta[1], -0.1891226, 1e-7),
        "{delta}"
    );
}

#[test]
fn lissa_on_a_2x2_system_g4() {
    let h = array![[2.0, 0.0], [0.0, 4.0]];
    let g = array![1.0, 1.0];
    let (estimate, steps) = lissa_inverse_hvp(
        |v: &[f64], _| h.dot(&Array1::from(v.to_vec())),
        &g,
        10.0,
        100_000,
        1e-12,
    )
    .unwrap();
    assert!(steps < 100_000);
    assert!(
        close(estimate[0], 0.5, 1e-10) && close(estimate[1], 0.25, 1e-10),
        "{estimate}"
    );
}

#[test]
fn spectral_norm_of_a_diagonal_matrix() {
    let x = array![[3.0, 0.0], [0.0, 4.0], [0.0, 0.0]];
    let norm = spectral_norm(&x);
    assert!(norm >= 4.0 && norm < 4.0 + 1e-12);
    // [[1, 1], [0, 1]]: singular values are the golden ratio and its inverse.
    let golden = (1.0 + 5f64.sqrt()) / 2.0;
    let norm = spectral_norm(&array![[1.0, 1.0], [0.0, 1.0]]);
    assert!(norm >= golden && norm < golden * (1.0 + 1e-13), "{norm}");
    // A dense 40 × 30 matrix: never below the Rayleigh quotient of any vector (a lower bound
    // on ‖X‖₂), never above the Frobenius norm, and within 1e-12 of the converged power
    // iteration (the exact value to rounding).
    let x = Array2::from_shape_fn((40, 30), |(i, j)| {
        ((i * 31 + j * 17) % 23) as f64 / 23.0 - 0.3
    });
    let norm = spectral_norm(&x);
    let gram = x.t().dot(&x);
    let mut v = ndarray::Array1::from_elem(30, 1.0);
    for _ in 0..2000 {
        let w = gram.dot(&v);
        v = &w / w.dot(&w).sqrt();
    }
    let power = gram.dot(&v).dot(&v).sqrt();
    let frobenius = x.iter().map(|a| a * a).sum::<f64>().sqrt();
    assert!(
        norm >= power && norm <= power * (1.0 + 1e-12),
        "{norm} vs {power}"
    );
    assert!(norm <= frobenius * (1.0 + 1e-15));
}

/// A small deterministic data set with bounded rows.
fn small_data(num_classes: usize) -> Dataset {
    let n = 12;
    let d = 3;
    let features =
        Array2::from_shape_fn((n, d), |(i, j)| ((i * 7 + j * 3) % 11) as f64 / 11.0 - 0.4);
    let labels = (0..n).map(|i| (i * 5 + 1) % num_classes).collect();
    Dataset::new(features, labels, num_classes).unwrap()
}

fn check_derivatives(model: &dyn Model, data: &Dataset) {
    let p = model.num_params();
    let w: Vec<f64> = (0..p).map(|i| 0.3 * ((i as f64) * 1.7).sin()).collect();
    let v: Vec<f64> = (0..p).map(|i| ((i as f64) * 0.9).cos()).collect();
    let h = 1e-6;
    let (_, gradient) = model.loss_gradient(&w, data);
    for i in 0..p {
        let mut plus = w.clone();
        plus[i] += h;
        let mut minus = w.clone();
        minus[i] -= h;
        let fd =
            (model.loss_gradient(&plus, data).0 - model.loss_gradient(&minus, data).0) / (2.0 * h);
        assert!(
            close(gradient[i], fd, 1e-6),
            "{} gradient[{i}]: {} vs {fd}",
            model.name(),
            gradient[i]
        );
    }
    let hv = model.hvp(&w, &v, data);
    let shifted = |sign: f64| -> Array1<f64> {
        let moved: Vec<f64> = w.iter().zip(&v).map(|(a, b)| a + sign * h * b).collect();
        model.loss_gradient(&moved, data).1
    };
    let fd = (shifted(1.0) - shifted(-1.0)) / (2.0 * h);
    for i in 0..p {
        assert!(
            close(hv[i], fd[i], 1e-5),
            "{} hvp[{i}]: {} vs {}",
            model.name(),
            hv[i],
            fd[i]
        );
    }
    // The summed loss equals the sum of the per-example losses.
    let total: f64 = model.per_example_loss(&w, data).sum();
    assert!(close(total, model.loss_gradient(&w, data).0, 1e-10));
}

#[test]
fn gradients_and_hvps_match_finite_differences() {
    let binary = small_data(2);
    check_derivatives(&LogisticRegression::new(3, 2), &binary);
    let multi = small_data(4);
    check_derivatives(&LogisticRegression::new(3, 4), &multi);
    check_derivatives(&SoftmaxRegression::new(3, 4), &multi);
    // The MLP's HVP is the exact R-operator product: it matches central differences of the
    // gradient to the finite-difference error O(h²).
    check_derivatives(&Mlp::new(3, 5, 4), &multi);
    check_derivatives(&Mlp::new(3, 2, 2), &binary);
}

#[test]
fn mlp_known_answer_and_projected_descent() {
    // One example x = (1, 0), label 0, one hidden unit: W1 = (0.5, 0), b1 = 0, W2 = (1, −1),
    // b2 = (0, 0). a = tanh(0.5), z = (a, −a), loss = ln(1 + e^{−2a}).
    let model = Mlp::new(2, 1, 2);
    let data = Dataset::new(array![[1.0, 0.0]], vec![0], 2).unwrap();
    let params = [0.5, 0.0, 0.0, 1.0, -1.0, 0.0, 0.0];
    let a = 0.5f64.tanh();
    let (loss, _) = model.loss_gradient(&params, &data);
    assert!(close(loss, (1.0 + (-2.0 * a).exp()).ln(), 1e-14), "{loss}");
    // Projected gradient descent keeps ‖θ‖ ≤ C after every step and lowers the loss.
    let data = small_data(4);
    let model = Mlp::new(3, 5, 4);
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(1);
    let start = model.initial_params(&mut rng);
    let objective = Objective {
        model: &model,
        data: &data,
        l2: 0.0,
        linear: None,
    };
    let start_loss = objective.value_gradient(start.as_slice().unwrap()).0;
    let trained = train_gradient_descent(&objective, start, 0.5, 200, Some(2.0)).unwrap();
    assert!(trained.dot(&trained).sqrt() <= 2.0 * (1.0 + 1e-15));
    assert!(objective.value_gradient(trained.as_slice().unwrap()).0 < start_loss);
}

#[test]
fn logit_confidence_is_log_odds_of_the_softmax() {
    let data = small_data(4);
    let model = SoftmaxRegression::new(3, 4);
    let w: Vec<f64> = (0..12).map(|i| (i as f64 * 0.37).sin()).collect();
    let scores = model.logit_confidence(&w, &data);
    let losses = model.per_example_loss(&w, &data);
    for (score, loss) in scores.iter().zip(&losses) {
        let p = (-loss).exp();
        assert!(close(*score, p.ln() - (1.0 - p).ln(), 1e-10));
    }
}

#[test]
fn diagonal_fisher_equals_the_expectation_over_model_labels() {
    use unlearn_audit::mechanisms::{ModelKind, diagonal_fisher};
    let data = small_data(3);
    let model = SoftmaxRegression::new(3, 3);
    let w: Vec<f64> = (0..9).map(|i| (i as f64 * 0.61).cos()).collect();
    let fisher = diagonal_fisher(&model, ModelKind::Softmax, &w, &data);
    // Explicit: F[j, c] = mean_i Σ_k p_k (x_ij (1[c = k] − p_c))².
    let logits = model.logits(&w, data.features.view());
    let mut explicit = Array2::<f64>::zeros((3, 3));
    for (i, row) in logits.rows().into_iter().enumerate() {
        let total: f64 = row.iter().map(|z| z.exp()).sum();
        let p: Vec<f64> = row.iter().map(|z| z.exp() / total).collect();
        for j in 0..3 {
            for c in 0..3 {
                for k in 0..3 {
                    let indicator = if c == k { 1.0 } else { 0.0 };
                    let g = data.features[[i, j]] * (indicator - p[c]);
                    explicit[[j, c]] += p[k] * g * g / data.len() as f64;
                }
            }
        }
    }
    for (a, b) in fisher.iter().zip(explicit.iter()) {
        assert!(close(*a, *b, 1e-12), "{a} vs {b}");
    }
}
