//! Per-row divergences shared by the accumulators, and the pure (in-memory) metric functions,
//! including the published variants under their own names. See `docs/metrics.md` §2–§5.

use super::{MetricsError, ModelRole};
use crate::tolerance::PROBABILITY_ROW_SUM;
use ndarray::ArrayView2;
use std::f64::consts::LN_2;

/// One distribution prepared for the divergences: probabilities normalised to sum to one and
/// their natural logarithms (`-inf` where the probability is zero).
pub(crate) struct Prepared<'a> {
    pub probabilities: &'a [f64],
    pub log_probabilities: &'a [f64],
}

/// Softmax through the stable log-softmax `logit − logsumexp(logits)`. Writes into the two
/// output buffers. Fails on a non-finite logit.
pub(crate) fn prepare_logits(
    logits: impl Iterator<Item = f64> + Clone,
    probabilities: &mut [f64],
    log_probabilities: &mut [f64],
    model: ModelRole,
    row: usize,
) -> Result<(), MetricsError> {
    let mut maximum = f64::NEG_INFINITY;
    for (column, value) in logits.clone().enumerate() {
        if !value.is_finite() {
            return Err(MetricsError::NonFinite {
                model,
                row,
                column,
                value,
            });
        }
        maximum = maximum.max(value);
    }
    let mut sum = 0.0;
    for (column, ((value, p), lp)) in logits
        .zip(probabilities.iter_mut())
        .zip(log_probabilities.iter_mut())
        .enumerate()
    {
        let shifted = value - maximum;
        if shifted == f64::NEG_INFINITY {
            // Logits more than f64::MAX apart: the log-probability is not representable.
            return Err(MetricsError::Unrepresentable {
                model,
                row,
                column,
                what: format!(
                    "logit {value} is more than the largest f64 below the row's maximum \
                     {maximum}: its log-probability cannot be represented"
                ),
            });
        }
        *lp = shifted;
        *p = shifted.exp();
        sum += *p;
    }
    // sum >= 1 (the maximum contributes exp(0)), so the logarithm is finite.
    let log_sum = sum.ln();
    for (p, lp) in probabilities.iter_mut().zip(log_probabilities.iter_mut()) {
        *p /= sum;
        *lp -= log_sum;
    }
    Ok(())
}

/// Validates a probability row (finite, non-negative, sums to one within
/// [`PROBABILITY_ROW_SUM`]) and renormalises it so divergences are between true distributions.
pub(crate) fn prepare_probabilities(
    values: impl Iterator<Item = f64>,
    probabilities: &mut [f64],
    log_probabilities: &mut [f64],
    model: ModelRole,
    row: usize,
) -> Result<(), MetricsError> {
    let mut sum = 0.0;
    for ((column, value), p) in values.enumerate().zip(probabilities.iter_mut()) {
        if !value.is_finite() {
            return Err(MetricsError::NonFinite {
                model,
                row,
                column,
                value,
            });
        }
        if value < 0.0 {
            return Err(MetricsError::NegativeProbability {
                model,
                row,
                column,
                value,
            });
        }
        *p = value;
        sum += value;
    }
    if (sum - 1.0).abs() > PROBABILITY_ROW_SUM {
        return Err(MetricsError::RowSumNotOne {
            model,
            row,
            sum,
            tolerance: PROBABILITY_ROW_SUM,
        });
    }
    for (p, lp) in probabilities.iter_mut().zip(log_probabilities.iter_mut()) {
        *p /= sum;
        *lp = p.ln();
    }
    Ok(())
}

/// Divergences of one row between a reference distribution `a` (the retrained model) and
/// another `b`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PairRow {
    /// KL(a‖b); `+inf` when b has a zero where a has mass.
    pub kl_ab: f64,
    /// KL(b‖a).
    pub kl_ba: f64,
    pub js: f64,
    pub l2_squared: f64,
    pub l1: f64,
}

/// `Σ_{p_k > 0} p_k (ln p_k − ln q_k)`, with 0·ln 0 = 0; clamped at 0 because rounding can
/// leave −1e-17 for (nearly) equal rows, and KL ≥ 0 is what the reader relies on.
fn kl_row(p: &Prepared, q: &Prepared) -> f64 {
    let mut sum = 0.0;
    for ((&pk, &lpk), &lqk) in p
        .probabilities
        .iter()
        .zip(p.log_probabilities)
        .zip(q.log_probabilities)
    {
        if pk > 0.0 {
            sum += pk * (lpk - lqk);
        }
    }
    sum.max(0.0)
}

pub(crate) fn pair_row(a: &Prepared, b: &Prepared) -> PairRow {
    let mut js = 0.0;
    let mut l2_squared = 0.0;
    let mut l1 = 0.0;
    for k in 0..a.probabilities.len() {
        let pa = a.probabilities[k];
        let pb = b.probabilities[k];
        let mixture = 0.5 * (pa + pb);
        if mixture > 0.0 {
            let log_mixture = mixture.ln();
            if pa > 0.0 {
                js += pa * (a.log_probabilities[k] - log_mixture);
            }
            if pb > 0.0 {
                js += pb * (b.log_probabilities[k] - log_mixture);
            }
        }
        let difference = pa - pb;
        l2_squared += difference * difference;
        l1 += difference.abs();
    }
    PairRow {
        kl_ab: kl_row(a, b),
        kl_ba: kl_row(b, a),
        // JS ∈ [0, ln 2]; clamp rounding excursions so the documented bound holds exactly.
        js: (0.5 * js).clamp(0.0, LN_2),
        l2_squared,
        l1,
    }
}

/// Owned prepared rows for the pure functions.
struct PreparedRows {
    probabilities: Vec<f64>,
    log_probabilities: Vec<f64>,
    columns: usize,
}

impl PreparedRows {
    fn from_probabilities(rows: ArrayView2<f64>, model: ModelRole) -> Result<Self, MetricsError> {
        let (n, columns) = rows.dim();
        let mut probabilities = vec![0.0; n * columns];
        let mut log_probabilities = vec![0.0; n * columns];
        for (i, row) in rows.outer_iter().enumerate() {
            let span = i * columns..(i + 1) * columns;
            prepare_probabilities(
                row.iter().copied(),
                &mut probabilities[span.clone()],
                &mut log_probabilities[span],
                model,
                i,
            )?;
        }
        Ok(PreparedRows {
            probabilities,
            log_probabilities,
            columns,
        })
    }

    fn row(&self, i: usize) -> Prepared<'_> {
        let span = i * self.columns..(i + 1) * self.columns;
        Prepared {
            probabilities: &self.probabilities[span.clone()],
            log_probabilities: &self.log_probabilities[span],
        }
    }

    fn len(&self) -> usize {
        self.probabilities
            .len()
            .checked_div(self.columns)
            .unwrap_or(0)
    }
}

/// Validates two probability arrays of equal, non-empty shape and prepares them. The first
/// is labelled `first` in errors, the second `second`.
fn prepare_pair(
    p: ArrayView2<f64>,
    q: ArrayView2<f64>,
    what: &str,
    first: ModelRole,
    second: ModelRole,
) -> Result<(PreparedRows, PreparedRows), MetricsError> {
    if p.dim() != q.dim() {
        return Err(MetricsError::ShapeMismatch {
            what: what.to_string(),
            expected: format!("{:?}", p.dim()),
            found: format!("{:?}", q.dim()),
        });
    }
    if p.nrows() == 0 || p.ncols() == 0 {
        return Err(MetricsError::Empty {
            what: format!("{what} input (shape {:?})", p.dim()),
        });
    }
    Ok((
        PreparedRows::from_probabilities(p, first)?,
        PreparedRows::from_probabilities(q, second)?,
    ))
}

fn single_row(values: &[f64]) -> ArrayView2<'_, f64> {
    ArrayView2::from_shape((1, values.len()), values).expect("a slice is a 1 × len array")
}

/// KL(p‖q) = Σ_k p_k ln(p_k/q_k) in nats between two probability vectors; `+inf` when q has a
/// zero where p has mass. See `docs/metrics.md` §2.
pub fn kl_divergence(p: &[f64], q: &[f64]) -> Result<f64, MetricsError> {
    mean_kl(single_row(p), single_row(q))
}

/// Jensen–Shannon divergence ½KL(p‖m) + ½KL(q‖m), m = (p+q)/2, in nats (≤ ln 2).
/// See `docs/metrics.md` §3.
pub fn js_divergence(p: &[f64], q: &[f64]) -> Result<f64, MetricsError> {
    mean_js(single_row(p), single_row(q))
}

/// Mean over rows of KL(p_i‖q_i), rows = examples, columns = classes (probabilities).
/// `+inf` if any row's KL is infinite. See `docs/metrics.md` §2.
pub fn mean_kl(p: ArrayView2<f64>, q: ArrayView2<f64>) -> Result<f64, MetricsError> {
    let (p, q) = prepare_pair(p, q, "mean_kl", ModelRole::Retrained, ModelRole::Unlearned)?;
    let sum: f64 = (0..p.len()).map(|i| kl_row(&p.row(i), &q.row(i))).sum();
    Ok(sum / p.len() as f64)
}

/// Mean over rows of JS(p_i, q_i) in nats. See `docs/metrics.md` §3.
pub fn mean_js(p: ArrayView2<f64>, q: ArrayView2<f64>) -> Result<f64, MetricsError> {
    let (p, q) = prepare_pair(p, q, "mean_js", ModelRole::Retrained, ModelRole::Unlearned)?;
    let sum: f64 = (0..p.len())
        .map(|i| pair_row(&p.row(i), &q.row(i)).js)
        .sum();
    Ok(sum / p.len() as f64)
}

/// Activation distance (bad-teaching, Chundawat et al. 2023): mean over rows of the L2 norm
/// of the difference of probability vectors. See `docs/metrics.md` §4.
pub fn activation_distance(p: ArrayView2<f64>, q: ArrayView2<f64>) -> Result<f64, MetricsError> {
    let (p, q) = prepare_pair(
        p,
        q,
        "activation_distance",
        ModelRole::Unlearned,
        ModelRole::Retrained,
    )?;
    let sum: f64 = (0..p.len())
        .map(|i| pair_row(&p.row(i), &q.row(i)).l2_squared.sqrt())
        .sum();
    Ok(sum / p.len() as f64)
}

/// Golatkar et al.'s activation distance: mean over rows of the **L1** norm of the difference
/// of probability vectors (SelectiveForgetting `Forgetting.ipynb::activations_distance`).
/// See `docs/metrics.md` §4.
pub fn activation_distance_l1(p: ArrayView2<f64>, q: ArrayView2<f64>) -> Result<f64, MetricsError> {
    let (p, q) = prepare_pair(
        p,
        q,
        "activation_distance_l1",
        ModelRole::Unlearned,
        ModelRole::Retrained,
    )?;
    let sum: f64 = (0..p.len())
        .map(|i| pair_row(&p.row(i), &q.row(i)).l1)
        .sum();
    Ok(sum / p.len() as f64)
}

/// SUPREME's activation distance: sqrt of the mean over rows of the squared L2 norm (root
/// mean square; ≥ the mean of norms by Jensen). See `docs/metrics.md` §4.
pub fn activation_distance_rms(
    p: ArrayView2<f64>,
    q: ArrayView2<f64>,
) -> Result<f64, MetricsError> {
    let (p, q) = prepare_pair(
        p,
        q,
        "activation_distance_rms",
        ModelRole::Unlearned,
        ModelRole::Retrained,
    )?;
    let sum: f64 = (0..p.len())
        .map(|i| pair_row(&p.row(i), &q.row(i)).l2_squared)
        .sum();
    Ok((sum / p.len() as f64).sqrt())
}

/// The bad-teaching `JSDiv` as coded (vikram2000b/bad-teaching-unlearning `metrics.py`):
/// `0.5·F.kl_div(log p, m) + 0.5·F.kl_div(log q, m)` with `reduction='mean'`, i.e.
/// `(1/(N·K)) Σ_x Σ_k ½[m ln(m/p) + m ln(m/q)]` — reverse KL terms and a division by the
/// number of classes. Not bounded by ln 2; `+inf` when a probability is zero where the mixture
/// has mass (the original has no clipping). See `docs/metrics.md` §3.
pub fn js_badteaching_compat(p: ArrayView2<f64>, q: ArrayView2<f64>) -> Result<f64, MetricsError> {
    let (p, q) = prepare_pair(
        p,
        q,
        "js_badteaching_compat",
        ModelRole::Unlearned,
        ModelRole::Retrained,
    )?;
    let columns = p.columns;
    let mut sum = 0.0;
    for i in 0..p.len() {
        let (a, b) = (p.row(i), q.row(i));
        for k in 0..columns {
            let mixture = 0.5 * (a.probabilities[k] + b.probabilities[k]);
            if mixture > 0.0 {
                let log_mixture = mixture.ln();
                sum += 0.5 * mixture * (log_mixture - a.log_probabilities[k]);
                sum += 0.5 * mixture * (log_mixture - b.log_probabilities[k]);
            }
        }
    }
    Ok(sum / (p.len() * columns) as f64)
}

/// ZRF score (Chundawat et al. 2023), textbook form: `1 − mean_x JS(p_u(x), p_rand(x))` over
/// the forget set, against a randomly initialised model of the same architecture (its seed
/// determines the value). In nats: range [1 − ln 2, 1]. See `docs/metrics.md` §5.
pub fn zrf(unlearned: ArrayView2<f64>, random: ArrayView2<f64>) -> Result<f64, MetricsError> {
    Ok(1.0 - mean_js(unlearned, random)?)
}

/// ZRF as coded by bad-teaching (`UnLearningScore`): `1 − js_badteaching_compat`.
/// See `docs/metrics.md` §5.
pub fn zrf_badteaching_compat(
    unlearned: ArrayView2<f64>,
    random: ArrayView2<f64>,
) -> Result<f64, MetricsError> {
    Ok(1.0 - js_badteaching_compat(unlearned, random)?)
}

/// KLOM margin (Georgiev et al. 2024): `logit_y − logsumexp_{j≠y} logit_j`.
/// See `docs/metrics.md` §5.
pub fn margin(logits: &[f64], label: usize) -> Result<f64, MetricsError> {
    if label >= logits.len() {
        return Err(MetricsError::LabelOutOfRange {
            row: 0,
            label: label as i64,
            num_classes: logits.len(),
        });
    }
    if logits.len() < 2 {
        return Err(MetricsError::Undefined {
            metric: "margin",
            reason: "needs at least two classes".into(),
        });
    }
    if let Some((column, &value)) = logits.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(MetricsError::NonFinite {
            model: ModelRole::Unlearned,
            row: 0,
            column,
            value,
        });
    }
    let others = logits
        .iter()
        .enumerate()
        .filter(|&(j, _)| j != label)
        .map(|(_, &v)| v);
    let maximum = others.clone().fold(f64::NEG_INFINITY, f64::max);
    let log_sum_exp = maximum + others.map(|v| (v - maximum).exp()).sum::<f64>().ln();
    Ok(logits[label] - log_sum_exp)
}

/// Which KLOM binning to use. See `docs/metrics.md` §5.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KlomVariant {
    /// The intended histogram: the last bin is closed, so the maximum sample is counted.
    Intended,
    /// As coded in RoyRin/data-unlearning-bench `eval.py`: `np.digitize` with 21 edges puts
    /// samples equal to the maximum in index 21, which is not counted.
    Compat,
}

const KLOM_BINS: usize = 20;
const KLOM_CLIP: f64 = 100.0;
const KLOM_FLOOR: f64 = 1e-5;

/// KLOM for one example: KL(hist_u ‖ hist_r) of the margins of N unlearned models and N
/// oracle (retrained) models: margins clipped to [−100, 100], 20 equal-width bins over the
/// combined range (one unit wide if the range is empty), histograms normalised, q floored at
/// 1e-5 where p > 0, then both renormalised (as `scipy.stats.entropy` does). See
/// `docs/metrics.md` §5.
pub fn klom(
    unlearned_margins: &[f64],
    oracle_margins: &[f64],
    variant: KlomVariant,
) -> Result<f64, MetricsError> {
    for (samples, what) in [
        (unlearned_margins, "unlearned margins"),
        (oracle_margins, "oracle margins"),
    ] {
        if samples.is_empty() {
            return Err(MetricsError::Empty { what: what.into() });
        }
        if let Some((column, &value)) = samples.iter().enumerate().find(|(_, v)| v.is_nan()) {
            return Err(MetricsError::NonFinite {
                model: if what.starts_with("unlearned") {
                    ModelRole::Unlearned
                } else {
                    ModelRole::Retrained
                },
                row: 0,
                column,
                value,
            });
        }
    }
    let clip = |v: f64| v.clamp(-KLOM_CLIP, KLOM_CLIP);
    let all = || {
        unlearned_margins
            .iter()
            .chain(oracle_margins)
            .map(|&v| clip(v))
    };
    let start = all().fold(f64::INFINITY, f64::min);
    let mut end = all().fold(f64::NEG_INFINITY, f64::max);
    if start >= end {
        end = start + 1.0;
    }
    // numpy.linspace: edge_i = start + i·step, last edge set to `end` exactly.
    let step = (end - start) / KLOM_BINS as f64;
    let mut edges = [0.0; KLOM_BINS + 1];
    for (i, edge) in edges.iter_mut().enumerate() {
        *edge = i as f64 * step + start;
    }
    edges[KLOM_BINS] = end;
    let histogram = |samples: &[f64]| {
        let mut counts = [0u64; KLOM_BINS];
        for &sample in samples {
            // numpy.digitize (right=False): index = number of edges <= x, bins 1..=20 counted.
            let index = edges.iter().take_while(|&&e| e <= clip(sample)).count();
            match (index, variant) {
                (1..=KLOM_BINS, _) => counts[index - 1] += 1,
                (_, KlomVariant::Intended) if index > KLOM_BINS => counts[KLOM_BINS - 1] += 1,
                _ => {}
            }
        }
        counts
    };
    let p_counts = histogram(unlearned_margins);
    let q_counts = histogram(oracle_margins);
    let p_total: u64 = p_counts.iter().sum();
    let q_total: u64 = q_counts.iter().sum();
    if p_total == 0 {
        return Err(MetricsError::Undefined {
            metric: "klom",
            reason: "every unlearned margin falls outside the counted bins (compat binning drops \
                     samples equal to the maximum)"
                .into(),
        });
    }
    let p: Vec<f64> = p_counts
        .iter()
        .map(|&c| c as f64 / p_total as f64)
        .collect();
    let q: Vec<f64> = q_counts
        .iter()
        .zip(&p)
        .map(|(&c, &pk)| {
            let qk = if q_total > 0 {
                c as f64 / q_total as f64
            } else {
                0.0
            };
            if pk > 0.0 { qk.max(KLOM_FLOOR) } else { qk }
        })
        .collect();
    let q_sum: f64 = q.iter().sum();
    Ok(p.iter()
        .zip(&q)
        .filter(|&(&pk, _)| pk > 0.0)
        .map(|(&pk, &qk)| pk * (pk / (qk / q_sum)).ln())
        .sum())
}

fn gaussian_terms(
    mean_1: &[f64],
    variance_1: &[f64],
    mean_0: &[f64],
    variance_0: &[f64],
) -> Result<f64, MetricsError> {
    let n = mean_1.len();
    if variance_1.len() != n || mean_0.len() != n || variance_0.len() != n {
        return Err(MetricsError::ShapeMismatch {
            what: "gaussian_kl means and variances".into(),
            expected: format!("{n} values each"),
            found: format!(
                "{}, {}, {}",
                variance_1.len(),
                mean_0.len(),
                variance_0.len()
            ),
        });
    }
    let mut sum = 0.0;
    for i in 0..n {
        let (m1, v1, m0, v0) = (mean_1[i], variance_1[i], mean_0[i], variance_0[i]);
        for (parameter, value) in [("variance_1", v1), ("variance_0", v0)] {
            if !(value > 0.0 && value.is_finite()) {
                return Err(MetricsError::InvalidParameter {
                    parameter,
                    value,
                    reason: "variances must be finite and positive",
                });
            }
        }
        for (parameter, value) in [("mean_1", m1), ("mean_0", m0)] {
            if !value.is_finite() {
                return Err(MetricsError::InvalidParameter {
                    parameter,
                    value,
                    reason: "means must be finite",
                });
            }
        }
        let ratio = v1 / v0;
        let difference = m0 - m1;
        sum += ratio + difference * difference / v0 - 1.0 - ratio.ln();
    }
    Ok(sum)
}

/// KL(N(μ₁, diag v₁) ‖ N(μ₀, diag v₀)) = ½ Σ [v₁/v₀ + (μ₀−μ₁)²/v₀ − 1 + ln(v₀/v₁)] in nats
/// (Golatkar et al.'s "remaining information"). See `docs/metrics.md` §5.
pub fn gaussian_kl(
    mean_1: &[f64],
    variance_1: &[f64],
    mean_0: &[f64],
    variance_0: &[f64],
) -> Result<f64, MetricsError> {
    Ok(0.5 * gaussian_terms(mean_1, variance_1, mean_0, variance_0)?)
}

/// The same sum as coded in Golatkar's `Forgetting.ipynb::kl_divergence_fisher`, without the
/// ½: twice [`gaussian_kl`]. See `docs/metrics.md` §5.
pub fn gaussian_kl_golatkar_compat(
    mean_1: &[f64],
    variance_1: &[f64],
    mean_0: &[f64],
    variance_0: &[f64],
) -> Result<f64, MetricsError> {
    gaussian_terms(mean_1, variance_1, mean_0, variance_0)
}
