//! Properties of the metrics (proptest): KL ≥ 0 (Pinsker) and zero only for equal inputs, JS
//! symmetric and within [0, ln 2], the triangle inequality of the weight distances, chunking
//! invariance of the accumulators, logits ≡ their softmax probabilities, scaled norms, and the
//! noise-floor decision.

use ndarray::{Array2, s};
use proptest::prelude::*;
use unlearn_audit::metrics::{
    self, ActivationAccumulator, OutputAccumulator, OutputKind, SplitMetrics, WeightSums,
    weight_distances,
};
use unlearn_audit::tolerance::relative_eq;

fn logits_strategy(max_rows: usize) -> impl Strategy<Value = (usize, usize, Vec<f64>)> {
    (1..max_rows, 2usize..6).prop_flat_map(|(rows, classes)| {
        (
            Just(rows),
            Just(classes),
            prop::collection::vec(-15.0f64..15.0, rows * classes * 3),
        )
    })
}

fn softmax(logits: &Array2<f64>) -> Array2<f64> {
    let mut out = logits.clone();
    for mut row in out.rows_mut() {
        let maximum = row.fold(f64::NEG_INFINITY, |a, &b| a.max(b));
        row.mapv_inplace(|v| (v - maximum).exp());
        let sum = row.sum();
        row.mapv_inplace(|v| v / sum);
    }
    out
}

fn split_three(rows: usize, classes: usize, values: &[f64]) -> [Array2<f64>; 3] {
    let size = rows * classes;
    [0, 1, 2].map(|i| {
        Array2::from_shape_vec((rows, classes), values[i * size..(i + 1) * size].to_vec()).unwrap()
    })
}

fn run(
    kind: OutputKind,
    [o, u, r]: &[Array2<f64>; 3],
    labels: &[i64],
    cuts: &[usize],
    separate: bool,
) -> SplitMetrics {
    let mut total = OutputAccumulator::new(o.ncols(), kind);
    let mut start = 0;
    let mut boundaries: Vec<usize> = cuts.iter().map(|&c| c % (o.nrows() + 1)).collect();
    boundaries.push(o.nrows());
    boundaries.sort_unstable();
    for end in boundaries {
        let range = s![start..end, ..];
        let chunk_labels = &labels[start..end];
        if separate {
            let mut chunk = OutputAccumulator::new(o.ncols(), kind);
            chunk
                .accumulate(
                    o.slice(range),
                    u.slice(range),
                    r.slice(range),
                    Some(chunk_labels),
                    start,
                )
                .unwrap();
            total.merge(chunk);
        } else {
            total
                .accumulate(
                    o.slice(range),
                    u.slice(range),
                    r.slice(range),
                    Some(chunk_labels),
                    start,
                )
                .unwrap();
        }
        start = end;
    }
    total.finish(o.nrows())
}

fn numbers(split: &SplitMetrics) -> Vec<Option<f64>> {
    let ovr = &split.original_vs_retrained;
    vec![
        split.kl_retrained_unlearned,
        split.kl_unlearned_retrained,
        split.js,
        split.activation_distance,
        split.activation_distance_l1,
        split.activation_distance_rms,
        ovr.kl_retrained_original,
        ovr.kl_original_retrained,
        ovr.js,
        ovr.activation_distance,
        ovr.activation_distance_l1,
        ovr.activation_distance_rms,
        split.accuracy.original,
        split.accuracy.unlearned,
        split.accuracy.retrained,
    ]
}

fn assert_all_close(a: &SplitMetrics, b: &SplitMetrics, tolerance: f64) {
    for (x, y) in numbers(a).into_iter().zip(numbers(b)) {
        let (x, y) = (x.unwrap(), y.unwrap());
        // absolute floor for values that are zero up to rounding (equal rows)
        assert!(
            relative_eq(x, y, tolerance) || (x - y).abs() < 1e-15,
            "{x:.17e} vs {y:.17e}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn kl_is_nonnegative_obeys_pinsker_and_vanishes_only_on_equal_rows(
        (rows, classes, values) in logits_strategy(8)
    ) {
        let [p, q, _] = split_three(rows, classes, &values).map(|a| softmax(&a));
        let kl = metrics::mean_kl(p.view(), q.view()).unwrap();
        let l1 = metrics::activation_distance_l1(p.view(), q.view()).unwrap();
        prop_assert!(kl >= 0.0);
        // Pinsker per row: KL ≥ ½‖p−q‖₁²; averaged with Jensen: mean KL ≥ ½ (mean ‖p−q‖₁)².
        prop_assert!(kl >= 0.5 * l1 * l1 * (1.0 - 1e-9) - 1e-15, "kl {} l1 {}", kl, l1);
        prop_assert_eq!(metrics::mean_kl(p.view(), p.view()).unwrap(), 0.0);
        if l1 > 1e-6 {
            prop_assert!(kl > 0.0);
        }
    }

    #[test]
    fn js_is_symmetric_and_bounded_by_ln2((rows, classes, values) in logits_strategy(8)) {
        let [p, q, _] = split_three(rows, classes, &values).map(|a| softmax(&a));
        let pq = metrics::mean_js(p.view(), q.view()).unwrap();
        let qp = metrics::mean_js(q.view(), p.view()).unwrap();
        prop_assert!(relative_eq(pq, qp, 1e-14) || (pq - qp).abs() < 1e-16, "{} {}", pq, qp);
        prop_assert!((0.0..=std::f64::consts::LN_2).contains(&pq));
        prop_assert_eq!(metrics::mean_js(p.view(), p.view()).unwrap(), 0.0);
    }

    #[test]
    fn weight_distances_obey_the_triangle_inequality(
        values in prop::collection::vec(-10.0f64..10.0, 3..60)
    ) {
        let n = values.len() / 3;
        let (o, rest) = values.split_at(n);
        let (u, r) = rest.split_at(n);
        let mut sums = WeightSums::default();
        sums.accumulate(o, u, &r[..n]);
        let d = weight_distances(vec![("w".into(), vec![n], sums)]);
        let slack = 1e-12 * (d.original_to_unlearned + d.original_to_retrained + d.verification_error);
        prop_assert!(d.verification_error <= d.original_to_unlearned + d.original_to_retrained + slack);
        prop_assert!(d.original_to_retrained <= d.original_to_unlearned + d.verification_error + slack);
        prop_assert!(d.original_to_unlearned <= d.original_to_retrained + d.verification_error + slack);
    }

    #[test]
    fn any_chunking_equals_one_shot(
        (rows, classes, values) in logits_strategy(40),
        cuts in prop::collection::vec(0usize..64, 0..5)
    ) {
        let arrays = split_three(rows, classes, &values);
        let labels: Vec<i64> = (0..rows as i64).map(|i| i % classes as i64).collect();
        let one_shot = run(OutputKind::Logits, &arrays, &labels, &[], false);
        // one accumulator fed in any chunks: blocks are counted by rows, so bit-identical
        prop_assert_eq!(&one_shot, &run(OutputKind::Logits, &arrays, &labels, &cuts, false));
        // separate accumulators merged in order at arbitrary boundaries: within 1e-12
        assert_all_close(&one_shot, &run(OutputKind::Logits, &arrays, &labels, &cuts, true), 1e-12);

        let [o, u, r] = &arrays;
        let mut whole = ActivationAccumulator::new(classes);
        whole.accumulate(o.view(), u.view(), r.view(), 0).unwrap();
        let mut pieces = ActivationAccumulator::new(classes);
        let middle = cuts.first().map_or(0, |c| c % (rows + 1));
        for (start, end) in [(0, middle), (middle, rows)] {
            pieces.accumulate(o.slice(s![start..end, ..]), u.slice(s![start..end, ..]), r.slice(s![start..end, ..]), start).unwrap();
        }
        prop_assert_eq!(whole.finish(rows), pieces.finish(rows));
    }

    #[test]
    fn logits_and_their_softmax_give_the_same_metrics((rows, classes, values) in logits_strategy(20)) {
        let logits = split_three(rows, classes, &values);
        let probabilities = logits.clone().map(|a| softmax(&a));
        let labels: Vec<i64> = (0..rows as i64).map(|i| (i * 7) % classes as i64).collect();
        let from_logits = run(OutputKind::Logits, &logits, &labels, &[], false);
        let from_probabilities = run(OutputKind::Probabilities, &probabilities, &labels, &[], false);
        assert_all_close(&from_logits, &from_probabilities, 1e-12);
    }
}

// Scaled sums of squares (docs/metrics.md §6) and the noise-floor decision
// (docs/verdicts.md §Distances and the noise floor).
proptest! {
    #[test]
    fn scaled_norm_is_the_plain_norm_in_the_middle_range(
        values in prop::collection::vec(-1e3f64..1e3, 0..200)
    ) {
        let mut sum = metrics::SumSquares::default();
        let mut plain = 0.0;
        for &v in &values {
            sum.add(v);
            plain += v * v;
        }
        prop_assert_eq!(sum.norm().to_bits(), plain.sqrt().to_bits());
    }

    #[test]
    fn scaled_norm_scales_exactly_with_powers_of_two(
        values in prop::collection::vec(1.0f64..2.0, 1..64),
        exponent in -1000i32..1000,
    ) {
        // x · 2^k is exact; the norm of the scaled vector is the scaled norm (to rounding),
        // at magnitudes where plain sums of squares overflow (k > 511) or underflow (k < -511).
        let scale = 2f64.powi(exponent);
        let mut sum = metrics::SumSquares::default();
        let mut reference = metrics::SumSquares::default();
        for &v in &values {
            sum.add(v * scale);
            reference.add(v);
        }
        let expected = reference.norm() * scale;
        prop_assert!(sum.norm().is_finite());
        prop_assert!((sum.norm() / expected - 1.0).abs() < 1e-14, "{} vs {}", sum.norm(), expected);
    }

    #[test]
    fn a_model_that_unlearned_nothing_is_never_closer(d in 0.0f64..1e6, floor in 0.0f64..1e6) {
        use unlearn_audit::metrics::compare::{Movement, fraction_moved};
        prop_assert_eq!(Movement::judge(Some(d), Some(d), Some(floor)), Movement::WithinNoiseFloor);
        prop_assert_eq!(Movement::judge(Some(d), Some(d), None), Movement::NoNoiseEstimate);
        if d > 0.0 {
            prop_assert_eq!(fraction_moved(Some(d), Some(d)), Ok(0.0));
        }
    }
}
