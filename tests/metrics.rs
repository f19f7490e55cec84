//! Known answers of the metrics (references `metrics-and-mechanisms.md` §4 M1–M5, M8, M9),
//! bad-input errors, infinite-KL reporting and the bit-identical chunking contract.
//! Full-precision expected values were recomputed with scipy 1.17 (`scipy.stats.entropy`,
//! `scipy.spatial.distance.jensenshannon(...)**2`, numpy norms); the 7-digit values quoted in
//! the references agree with them to within 1e-6 relative.

use ndarray::{Array2, array};
use serde_json::Value;
use unlearn_audit::metrics::{
    self, ActivationAccumulator, CHUNK_ROWS, KlomVariant, MetricsError, ModelRole,
    OutputAccumulator, OutputKind, WEIGHT_CHUNK_ELEMENTS, WeightSums, weight_distances,
};
use unlearn_audit::tolerance::relative_eq;

const TIGHT: f64 = 1e-12;

fn assert_close(actual: f64, expected: f64, tolerance: f64, what: &str) {
    assert!(
        relative_eq(actual, expected, tolerance),
        "{what}: got {actual:.17e}, expected {expected:.17e}"
    );
}

fn batch_p() -> Array2<f64> {
    array![[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]]
}

fn batch_q() -> Array2<f64> {
    array![[0.2, 0.3, 0.5], [1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0]]
}

#[test]
fn m1_verification_error_is_three() {
    let mut sums = WeightSums::default();
    sums.accumulate(&[5.0, 5.0, 5.0], &[1.0, 2.0, 2.0], &[0.0, 0.0, 0.0]);
    let distances = weight_distances(vec![("theta".into(), vec![3], sums)]);
    assert_eq!(distances.verification_error, 3.0);
    assert_close(
        distances.original_to_retrained,
        75f64.sqrt(),
        TIGHT,
        "‖θo−θr‖",
    );
    assert_close(
        distances.original_to_unlearned,
        34f64.sqrt(),
        TIGHT,
        "‖θo−θu‖",
    );
}

#[test]
fn m2_kl_known_answers() {
    let single = metrics::kl_divergence(&[0.5, 0.5], &[0.9, 0.1]).unwrap();
    assert_close(single, 0.5108256237659906, TIGHT, "KL((.5,.5)‖(.9,.1))");
    assert_close(
        single / std::f64::consts::LN_2,
        0.7369656,
        1e-6,
        "KL in bits",
    );
    let (p, q) = (batch_p(), batch_q());
    assert_close(
        metrics::mean_kl(p.view(), q.view()).unwrap(),
        0.5472388470498238,
        TIGHT,
        "mean KL(P‖Q)",
    );
    assert_close(
        metrics::mean_kl(q.view(), p.view()).unwrap(),
        0.5933157593582081,
        TIGHT,
        "mean KL(Q‖P)",
    );
}

#[test]
fn m3_js_known_answers() {
    assert_eq!(
        metrics::js_divergence(&[1.0, 0.0], &[0.0, 1.0]).unwrap(),
        std::f64::consts::LN_2
    );
    let single = metrics::js_divergence(&[0.5, 0.5], &[0.9, 0.1]).unwrap();
    assert_close(single, 0.10174922507919676, TIGHT, "JS");
    assert_close(
        single / std::f64::consts::LN_2,
        0.1467931,
        1e-6,
        "JS in bits",
    );
    assert_close(single.sqrt(), 0.3189815, 1e-6, "JS distance");
    let (p, q) = (batch_p(), batch_q());
    assert_close(
        metrics::mean_js(p.view(), q.view()).unwrap(),
        0.13356579039279762,
        TIGHT,
        "batch JS",
    );
}

#[test]
fn m3_badteaching_js_compat_known_answers() {
    let single =
        metrics::js_badteaching_compat(array![[0.5, 0.5]].view(), array![[0.9, 0.1]].view())
            .unwrap();
    assert_close(
        single,
        0.058986616327212575,
        TIGHT,
        "bad-teaching JSDiv single",
    );
    let (p, q) = (batch_p(), batch_q());
    assert_close(
        metrics::js_badteaching_compat(p.view(), q.view()).unwrap(),
        0.05052428706973677,
        TIGHT,
        "bad-teaching JSDiv batch",
    );
}

#[test]
fn m4_activation_distance_known_answers() {
    let (p, q) = (batch_p(), batch_q());
    assert_close(
        metrics::activation_distance(p.view(), q.view()).unwrap(),
        0.6098108382450971,
        TIGHT,
        "AD",
    );
    assert_close(
        metrics::activation_distance_rms(p.view(), q.view()).unwrap(),
        0.6110100926607787,
        TIGHT,
        "AD rms",
    );
    assert_close(
        metrics::activation_distance_l1(p.view(), q.view()).unwrap(),
        0.9666666666666666,
        TIGHT,
        "AD L1",
    );
    // per-example L2 norms (0.6480741, 0.5715476) of the reference
    assert_close(
        metrics::activation_distance(
            p.slice(ndarray::s![0..1, ..]),
            q.slice(ndarray::s![0..1, ..]),
        )
        .unwrap(),
        0.648074069840786,
        TIGHT,
        "L2 row 0",
    );
    assert_close(
        metrics::activation_distance(
            p.slice(ndarray::s![1..2, ..]),
            q.slice(ndarray::s![1..2, ..]),
        )
        .unwrap(),
        0.5715476066494083,
        TIGHT,
        "L2 row 1",
    );
}

#[test]
fn m5_zrf_known_answers() {
    let (p, q) = (batch_p(), batch_q());
    assert_close(
        metrics::zrf(p.view(), q.view()).unwrap(),
        0.8664342096072024,
        TIGHT,
        "ZRF",
    );
    assert_close(
        metrics::zrf_badteaching_compat(p.view(), q.view()).unwrap(),
        0.9494757129302632,
        TIGHT,
        "ZRF compat",
    );
}

#[test]
fn m8_klom_known_answers() {
    let unlearned = [0.0, 0.1, 0.2, 0.3, 2.0];
    let oracle = [0.0, 0.5, 1.0, 1.5, 1.9];
    // references §4 M8 (compat drops the maximum sample): 7.9973528.
    assert_close(
        metrics::klom(&unlearned, &oracle, KlomVariant::Compat).unwrap(),
        7.9973528057962815,
        TIGHT,
        "KLOM compat",
    );
    // intended (last bin closed), from the same scipy code with np.minimum(index, 20).
    assert_close(
        metrics::klom(&unlearned, &oracle, KlomVariant::Intended).unwrap(),
        8.20007891380289,
        TIGHT,
        "KLOM intended",
    );
    // clipping to ±100 (scipy: 5.409899142155142) and an empty range (every sample equal) → 0.
    assert_close(
        metrics::klom(&[-300.0, 5.0], &[0.0, 200.0], KlomVariant::Intended).unwrap(),
        5.409899142155142,
        TIGHT,
        "KLOM clipped",
    );
    assert_eq!(
        metrics::klom(&[1.0, 1.0, 1.0], &[1.0, 1.0], KlomVariant::Compat).unwrap(),
        0.0
    );
    assert!(matches!(
        metrics::klom(&[], &[1.0], KlomVariant::Compat),
        Err(MetricsError::Empty { .. })
    ));
}

#[test]
fn klom_margin_is_label_logit_minus_logsumexp_of_others() {
    let margin = metrics::margin(&[2.0, 0.0, 0.0], 0).unwrap();
    assert_close(margin, 2.0 - 2f64.ln(), TIGHT, "margin");
    assert!(matches!(
        metrics::margin(&[1.0, 2.0], 2),
        Err(MetricsError::LabelOutOfRange { .. })
    ));
}

#[test]
fn m9_gaussian_kl_known_answers() {
    assert_close(
        metrics::gaussian_kl(&[1.0], &[2.0], &[0.0], &[1.0]).unwrap(),
        0.6534264097200273,
        TIGHT,
        "Gaussian KL",
    );
    assert_close(
        metrics::gaussian_kl_golatkar_compat(&[1.0], &[2.0], &[0.0], &[1.0]).unwrap(),
        1.3068528194400546,
        TIGHT,
        "Golatkar compat",
    );
    assert!(matches!(
        metrics::gaussian_kl(&[1.0], &[0.0], &[0.0], &[1.0]),
        Err(MetricsError::InvalidParameter {
            parameter: "variance_1",
            ..
        })
    ));
}

/// The accumulator on the M2–M4 batch, with P as the retrained model and Q as the unlearned
/// one: every field matches the pure functions' known answers.
#[test]
fn accumulator_reproduces_batch_known_answers_and_accuracy() {
    let (p, q) = (batch_p(), batch_q());
    let original = array![[0.1, 0.8, 0.1], [0.1, 0.1, 0.8]];
    let mut accumulator = OutputAccumulator::new(3, OutputKind::Probabilities);
    accumulator
        .accumulate(original.view(), q.view(), p.view(), Some(&[0, 2]), 0)
        .unwrap();
    let split = accumulator.finish(2);
    assert_eq!((split.n, split.positions), (2, 2));
    assert_close(
        split.kl_retrained_unlearned.unwrap(),
        0.5472388470498238,
        TIGHT,
        "KL(r‖u)",
    );
    assert_close(
        split.kl_unlearned_retrained.unwrap(),
        0.5933157593582081,
        TIGHT,
        "KL(u‖r)",
    );
    assert_close(split.js.unwrap(), 0.13356579039279762, TIGHT, "JS");
    assert_close(
        split.activation_distance.unwrap(),
        0.6098108382450971,
        TIGHT,
        "AD",
    );
    assert_close(
        split.activation_distance_rms.unwrap(),
        0.6110100926607787,
        TIGHT,
        "AD rms",
    );
    assert_close(
        split.activation_distance_l1.unwrap(),
        0.9666666666666666,
        TIGHT,
        "AD L1",
    );
    // argmax: original (1, 2), unlearned (2, 0 — first of the ties), retrained (0, 2).
    assert_eq!(split.accuracy.original, Some(0.5));
    assert_eq!(split.accuracy.unlearned, Some(0.0));
    assert_eq!(split.accuracy.retrained, Some(1.0));
    assert_eq!(
        split
            .original_vs_retrained
            .kl_retrained_original_infinite_rows,
        0
    );
    let json = serde_json::to_value(&split).unwrap();
    for field in [
        "n",
        "positions",
        "kl_retrained_unlearned",
        "kl_unlearned_retrained",
        "js",
        "activation_distance",
        "activation_distance_l1",
        "activation_distance_rms",
    ] {
        assert!(json[field].is_number(), "field {field} missing: {json}");
    }
    for field in [
        "kl_retrained_original",
        "kl_original_retrained",
        "js",
        "activation_distance",
    ] {
        assert!(json["original_vs_retrained"][field].is_number(), "{field}");
    }
    assert!(json["accuracy"]["original"].is_number());
}

#[test]
fn infinite_kl_is_null_with_reason_and_row_count() {
    let retrained = array![[0.5, 0.5], [0.5, 0.5], [0.9, 0.1]];
    let unlearned = array![[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]];
    let mut accumulator = OutputAccumulator::new(2, OutputKind::Probabilities);
    accumulator
        .accumulate(
            retrained.view(),
            unlearned.view(),
            retrained.view(),
            None,
            0,
        )
        .unwrap();
    let split = accumulator.finish(3);
    assert_eq!(split.kl_retrained_unlearned, None);
    assert_eq!(split.kl_retrained_unlearned_infinite_rows, 2);
    assert!(
        split
            .kl_retrained_unlearned_reason
            .as_deref()
            .unwrap()
            .contains("2 of 3")
    );
    // KL(u‖r) is finite: ln 2 + 0 + ln 10, averaged.
    assert_close(
        split.kl_unlearned_retrained.unwrap(),
        (2f64.ln() + 10f64.ln()) / 3.0,
        TIGHT,
        "KL(u‖r)",
    );
    assert!(split.js.unwrap() <= std::f64::consts::LN_2);
    assert_eq!(split.accuracy.original, None);
    let json = serde_json::to_value(&split).unwrap();
    assert_eq!(json["kl_retrained_unlearned"], Value::Null);
    assert!(json["kl_retrained_unlearned_reason"].is_string());
    assert_eq!(json["kl_retrained_unlearned_infinite_rows"], 2);
    assert!(json["accuracy"]["reason"].is_string());
    // the pure function reports +inf rather than a huge finite number
    assert_eq!(
        metrics::kl_divergence(&[0.5, 0.5], &[1.0, 0.0]).unwrap(),
        f64::INFINITY
    );
    assert_eq!(
        metrics::kl_divergence(&[1.0, 0.0], &[0.5, 0.5]).unwrap(),
        2f64.ln()
    );
}

#[test]
fn logits_far_apart_do_not_overflow() {
    // log-softmax keeps KL finite and exact where exp would overflow.
    let retrained = array![[1000.0, 0.0]];
    let unlearned = array![[0.0, 1000.0]];
    let mut accumulator = OutputAccumulator::new(2, OutputKind::Logits);
    accumulator
        .accumulate(
            retrained.view(),
            unlearned.view(),
            retrained.view(),
            None,
            0,
        )
        .unwrap();
    let split = accumulator.finish(1);
    assert_close(
        split.kl_retrained_unlearned.unwrap(),
        1000.0,
        1e-12,
        "KL of far logits",
    );
    assert_close(
        split.js.unwrap(),
        std::f64::consts::LN_2,
        1e-12,
        "JS saturates at ln 2",
    );
    assert_eq!(split.original_vs_retrained.kl_retrained_original, Some(0.0));
}

#[test]
fn empty_split_gives_null_with_reason() {
    let accumulator = OutputAccumulator::new(3, OutputKind::Logits);
    let split = accumulator.finish(0);
    assert_eq!(split.js, None);
    assert!(split.reason.is_some());
    assert!(split.kl_retrained_unlearned_reason.is_some());
    let json = unlearn_audit::report::to_json(&split).unwrap();
    assert!(!json.contains("NaN"));
}

#[test]
fn bad_inputs_name_model_row_and_problem() {
    let good = array![[0.0, 1.0], [1.0, 0.0]];
    let with_nan = array![[0.0, 1.0], [f64::NAN, 0.0]];
    let mut accumulator = OutputAccumulator::new(2, OutputKind::Logits);
    let error = accumulator
        .accumulate(good.view(), with_nan.view(), good.view(), None, 100)
        .unwrap_err();
    assert!(
        matches!(
            error,
            MetricsError::NonFinite {
                model: ModelRole::Unlearned,
                row: 101,
                column: 0,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("unlearned model, row 101"));

    let probabilities = array![[0.5, 0.5]];
    let negative = array![[1.5, -0.5]];
    let not_normalised = array![[0.5, 0.6]];
    let mut accumulator = OutputAccumulator::new(2, OutputKind::Probabilities);
    let error = accumulator
        .accumulate(
            negative.view(),
            probabilities.view(),
            probabilities.view(),
            None,
            0,
        )
        .unwrap_err();
    assert!(matches!(
        error,
        MetricsError::NegativeProbability {
            model: ModelRole::Original,
            column: 1,
            ..
        }
    ));
    let error = accumulator
        .accumulate(
            probabilities.view(),
            probabilities.view(),
            not_normalised.view(),
            None,
            7,
        )
        .unwrap_err();
    assert!(matches!(
        error,
        MetricsError::RowSumNotOne {
            model: ModelRole::Retrained,
            row: 7,
            ..
        }
    ));
    assert!(error.to_string().contains("logits passed as probabilities"));

    let error = accumulator
        .accumulate(
            probabilities.view(),
            probabilities.view(),
            probabilities.view(),
            Some(&[2]),
            3,
        )
        .unwrap_err();
    assert_eq!(
        error,
        MetricsError::LabelOutOfRange {
            row: 3,
            label: 2,
            num_classes: 2
        }
    );
    let error = accumulator
        .accumulate(
            probabilities.view(),
            probabilities.view(),
            probabilities.view(),
            Some(&[0, 1]),
            0,
        )
        .unwrap_err();
    assert!(matches!(error, MetricsError::ShapeMismatch { .. }));
    let three_classes = array![[0.2, 0.3, 0.5]];
    let error = accumulator
        .accumulate(
            three_classes.view(),
            probabilities.view(),
            probabilities.view(),
            None,
            0,
        )
        .unwrap_err();
    assert!(matches!(error, MetricsError::ShapeMismatch { .. }));
    assert!(error.to_string().contains("original"));

    let mut activations = ActivationAccumulator::new(2);
    let error = activations
        .accumulate(good.view(), good.view(), with_nan.view(), 10)
        .unwrap_err();
    assert!(matches!(
        error,
        MetricsError::NonFinite {
            model: ModelRole::Retrained,
            row: 11,
            ..
        }
    ));
    assert!(matches!(
        metrics::mean_kl(array![[0.5, 0.5]].view(), array![[0.2, 0.3, 0.5]].view()),
        Err(MetricsError::ShapeMismatch { .. })
    ));
    assert!(matches!(
        metrics::mean_js(
            Array2::<f64>::zeros((0, 2)).view(),
            Array2::<f64>::zeros((0, 2)).view()
        ),
        Err(MetricsError::Empty { .. })
    ));
}

/// Deterministic pseudo-random logits (a fixed linear congruential sequence; no RNG crate
/// needed for a shape test).
fn pseudo_random(rows: usize, columns: usize, seed: u64) -> Array2<f64> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    Array2::from_shape_fn((rows, columns), |_| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 8.0
    })
}

/// The streaming contract: chunks of exactly CHUNK_ROWS rows in separate accumulators merged
/// in order are bit-identical to one accumulator fed everything at once.
#[test]
fn contract_chunks_merged_in_order_are_bit_identical() {
    let rows = 2 * CHUNK_ROWS + 37;
    let (o, u, r) = (
        pseudo_random(rows, 3, 1),
        pseudo_random(rows, 3, 2),
        pseudo_random(rows, 3, 3),
    );
    let labels: Vec<i64> = (0..rows as i64).map(|i| i % 3).collect();
    let mut one_shot = OutputAccumulator::new(3, OutputKind::Logits);
    one_shot
        .accumulate(o.view(), u.view(), r.view(), Some(&labels), 0)
        .unwrap();
    let mut merged = OutputAccumulator::new(3, OutputKind::Logits);
    let mut activation_one_shot = ActivationAccumulator::new(3);
    activation_one_shot
        .accumulate(o.view(), u.view(), r.view(), 0)
        .unwrap();
    let mut activation_merged = ActivationAccumulator::new(3);
    for start in (0..rows).step_by(CHUNK_ROWS) {
        let end = (start + CHUNK_ROWS).min(rows);
        let s = ndarray::s![start..end, ..];
        let mut chunk = OutputAccumulator::new(3, OutputKind::Logits);
        chunk
            .accumulate(
                o.slice(s),
                u.slice(s),
                r.slice(s),
                Some(&labels[start..end]),
                start,
            )
            .unwrap();
        merged.merge(chunk);
        let mut activation_chunk = ActivationAccumulator::new(3);
        activation_chunk
            .accumulate(o.slice(s), u.slice(s), r.slice(s), start)
            .unwrap();
        activation_merged.merge(activation_chunk);
    }
    assert_eq!(one_shot.finish(rows), merged.finish(rows));
    assert_eq!(
        activation_one_shot.finish(rows),
        activation_merged.finish(rows)
    );

    let elements = 2 * WEIGHT_CHUNK_ELEMENTS + 5;
    let weights = pseudo_random(3, elements, 4);
    let (wo, wu, wr) = (
        weights.row(0).to_vec(),
        weights.row(1).to_vec(),
        weights.row(2).to_vec(),
    );
    let mut weights_one_shot = WeightSums::default();
    weights_one_shot.accumulate(&wo, &wu, &wr);
    let mut weights_merged = WeightSums::default();
    for start in (0..elements).step_by(WEIGHT_CHUNK_ELEMENTS) {
        let end = (start + WEIGHT_CHUNK_ELEMENTS).min(elements);
        let mut chunk = WeightSums::default();
        chunk.accumulate(&wo[start..end], &wu[start..end], &wr[start..end]);
        weights_merged.merge(&chunk);
    }
    assert_eq!(weights_one_shot, weights_merged);
}

#[test]
fn activation_distances_known_values() {
    let original = array![[0.0, 0.0], [1.0, 1.0]];
    let unlearned = array![[3.0, 4.0], [1.0, 1.0]];
    let retrained = array![[0.0, 0.0], [1.0, 2.0]];
    let mut accumulator = ActivationAccumulator::new(2);
    accumulator
        .accumulate(original.view(), unlearned.view(), retrained.view(), 0)
        .unwrap();
    let result = accumulator.finish(2);
    assert_eq!(result.activation_distance, Some(3.0)); // (5 + 1) / 2
    assert_eq!(result.activation_distance_rms, Some(13f64.sqrt())); // sqrt((25 + 1) / 2)
    assert_eq!(result.original_vs_retrained.activation_distance, Some(0.5));
}
