//! Language-model unlearning figures as OpenUnlearning (locuslab/open-unlearning) computes
//! them, with our statistics beside them. Definitions, sources and quirks: `docs/llm.md`.
//!
//! * attacks `loss`, `zlib`, `min_k`, `min_k_plus_plus` — the per-example score exactly as
//!   OpenUnlearning's `compute_score` (higher = *non*-member, their sign); the ROC engine gets
//!   the negated score (higher = member), whose AUC equals their `mia_auc` (labels forget 0,
//!   holdout 1) — `docs/llm.md` §2;
//! * [`privleak`] — MUSE's PrivLeak as OpenUnlearning's `privacy.py: privleak`;
//! * [`truth_ratios`], [`closer_to_1_better`] — TOFU's truth ratio (`memorization.py`);
//! * [`ks_2samp`] — scipy's two-sided `ks_2samp` p-value (method `auto`: exact for
//!   max(n₁, n₂) ≤ 10 000), TOFU's `forget_quality`;
//! * [`paired_median_difference`] — what the KS p-value cannot say: the median of the paired
//!   per-example log truth-ratio differences with an exact distribution-free interval.

use rayon::prelude::*;
use serde::Serialize;

use super::MiaError;
use super::roc::{Interval, clopper_pearson};
use crate::stats;

/// The four attacks, in report order.
pub const LLM_ATTACKS: [&str; 4] = ["loss", "zlib", "min_k", "min_k_plus_plus"];

/// OpenUnlearning's `num_k = max(1, int(len * k))` (Python truncation of the f64 product).
pub fn num_k(len: usize, k: f64) -> usize {
    ((len as f64 * k) as usize).max(1)
}

/// Checks `k` ∈ (0, 1].
pub fn check_k(k: f64) -> Result<(), MiaError> {
    if !(k > 0.0 && k <= 1.0) {
        return Err(MiaError::parameter("k", format!("{k} is not in (0, 1]")));
    }
    Ok(())
}

/// The Min-K span of a mask row: first masked column .. second-to-last masked column
/// (inclusive), as `tokenwise_logprobs` slices it (the last target token is dropped, unmasked
/// columns in between are kept). Empty for a row with one target token.
pub fn min_k_span(mask: &[bool]) -> (usize, usize) {
    let Some(first) = mask.iter().position(|&m| m) else {
        return (0, 0);
    };
    let last = mask.iter().rposition(|&m| m).unwrap_or(first);
    match mask[..last].iter().rposition(|&m| m) {
        Some(j) => (first, j + 1),
        None => (first, first),
    }
}

/// LOSS: average negative log-likelihood over the masked tokens (`evaluate_probability`'s
/// `avg_loss`: CrossEntropy summed over non-ignored labels / their count).
pub fn loss_score(logprobs: &[f64], mask: &[bool]) -> f64 {
    let (mut sum, mut count) = (0.0, 0usize);
    for (&lp, &m) in logprobs.iter().zip(mask) {
        if m {
            sum += -lp;
            count += 1;
        }
    }
    sum / count as f64
}

/// Mean of the `num_k` smallest values, negated: `-np.mean(sorted(v)[:num_k])`; 0 for an
/// empty span (OpenUnlearning returns 0 there).
fn min_k_mean(values: &mut [f64], k: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let m = num_k(values.len(), k).min(values.len());
    if m < values.len() {
        values.select_nth_unstable_by(m - 1, f64::total_cmp);
    }
    let smallest = &mut values[..m];
    smallest.sort_unstable_by(f64::total_cmp);
    -(smallest.iter().sum::<f64>() / m as f64)
}

/// Min-K % (Shi et al. 2024): −mean of the ⌊k·L⌋ (at least 1) smallest log-probs of the span.
pub fn min_k_score(logprobs: &[f64], mask: &[bool], k: f64, buffer: &mut Vec<f64>) -> f64 {
    let (start, end) = min_k_span(mask);
    buffer.clear();
    buffer.extend_from_slice(&logprobs[start..end]);
    min_k_mean(buffer, k)
}

/// Min-K %++ (Zhang et al. 2025): z = (log p − μ)/√max(σ², 10⁻⁶) on the span, −mean of the
/// ⌊k·L⌋ (at least 1) smallest.
pub fn min_k_plus_plus_score(
    logprobs: &[f64],
    mask: &[bool],
    mean: &[f64],
    var: &[f64],
    k: f64,
    buffer: &mut Vec<f64>,
) -> f64 {
    let (start, end) = min_k_span(mask);
    buffer.clear();
    buffer.extend((start..end).map(|j| (logprobs[j] - mean[j]) / var[j].max(1e-6).sqrt()));
    min_k_mean(buffer, k)
}

/// Per-row scores over an `[n, T]` row-major block, in parallel (each row is computed
/// sequentially, so the result does not depend on the thread count).
pub fn scores_by_row<F>(n: usize, t: usize, f: F) -> Vec<f64>
where
    F: Fn(usize, &mut Vec<f64>) -> f64 + Sync,
{
    let _ = t;
    (0..n)
        .into_par_iter()
        .map_init(|| Vec::with_capacity(t), |buffer, i| f(i, buffer))
        .collect()
}

/// Min-K %++ scores of every row of an `[n, T]` block (the benchmarked kernel).
pub fn min_k_plus_plus_scores(
    logprobs: &[f64],
    mask: &[bool],
    mean: &[f64],
    var: &[f64],
    t: usize,
    k: f64,
) -> Vec<f64> {
    let n = logprobs.len() / t.max(1);
    scores_by_row(n, t, |i, buffer| {
        let r = i * t..(i + 1) * t;
        min_k_plus_plus_score(
            &logprobs[r.clone()],
            &mask[r.clone()],
            &mean[r.clone()],
            &var[r],
            k,
            buffer,
        )
    })
}

/// Min-K % scores of every row.
pub fn min_k_scores(logprobs: &[f64], mask: &[bool], t: usize, k: f64) -> Vec<f64> {
    let n = logprobs.len() / t.max(1);
    scores_by_row(n, t, |i, buffer| {
        let r = i * t..(i + 1) * t;
        min_k_score(&logprobs[r.clone()], &mask[r], k, buffer)
    })
}

/// LOSS scores of every row.
pub fn loss_scores(logprobs: &[f64], mask: &[bool], t: usize) -> Vec<f64> {
    let n = logprobs.len() / t.max(1);
    scores_by_row(n, t, |i, _| {
        let r = i * t..(i + 1) * t;
        loss_score(&logprobs[r.clone()], &mask[r])
    })
}

/// zlib: LOSS / zlib length (Carlini et al. 2021; `zlib.py`).
pub fn zlib_scores(loss: &[f64], zlib_lengths: &[f64]) -> Vec<f64> {
    loss.iter().zip(zlib_lengths).map(|(l, z)| l / z).collect()
}

/// Rows whose Min-K span is empty (one target token): OpenUnlearning scores them 0.
pub fn empty_span_rows(mask: &[bool], t: usize) -> Vec<usize> {
    mask.chunks(t.max(1))
        .enumerate()
        .filter(|(_, row)| {
            let (a, b) = min_k_span(row);
            a == b
        })
        .map(|(i, _)| i)
        .collect()
}

/// MUSE PrivLeak as OpenUnlearning's `privleak`: with AUC in OpenUnlearning's convention
/// (AUC 1 = forget data much more likely than holdout; equal to ours),
/// `((1 − auc_u) − (1 − auc_r)) / ((1 − auc_r) + 1e-10) · 100`.
pub fn privleak(auc_unlearned: f64, auc_retrained: f64) -> f64 {
    let score = 1.0 - auc_unlearned;
    let reference = 1.0 - auc_retrained;
    (score - reference) / (reference + 1e-10) * 100.0
}

/// Row means (`aggregate_to_1D`: `np.mean` over the answers).
fn row_means(a: &ndarray::Array2<f64>) -> Vec<f64> {
    a.rows()
        .into_iter()
        .map(|r| r.iter().sum::<f64>() / r.len() as f64)
        .collect()
}

/// TOFU's truth ratio as `memorization.py: truth_ratio` (aggregators other than `prob_mean`):
/// `exp(−mean wrong loss) / (exp(−mean correct loss) + 1e-10)` per example.
pub fn truth_ratios(correct: &ndarray::Array2<f64>, wrong: &ndarray::Array2<f64>) -> Vec<f64> {
    let c = row_means(correct);
    let w = row_means(wrong);
    c.iter()
        .zip(&w)
        .map(|(c, w)| (-w).exp() / ((-c).exp() + 1e-10))
        .collect()
}

/// ln of the truth ratio, computed without underflow: −mean wrong − ln(exp(−mean correct) +
/// 1e-10). Used for the paired comparison (finite even where the ratio underflows to 0).
pub fn log_truth_ratios(correct: &ndarray::Array2<f64>, wrong: &ndarray::Array2<f64>) -> Vec<f64> {
    let c = row_means(correct);
    let w = row_means(wrong);
    c.iter()
        .zip(&w)
        .map(|(c, w)| -w - ((-c).exp() + 1e-10).ln())
        .collect()
}

/// `closer_to_1_better`: `mean(min(tr, 1/(tr + 1e-10)))` (TOFU's forget truth-ratio value).
pub fn closer_to_1_better(tr: &[f64]) -> f64 {
    tr.iter().map(|&t| t.min(1.0 / (t + 1e-10))).sum::<f64>() / tr.len() as f64
}

/// A two-sample KS test as scipy's `ks_2samp(x, y)` (two-sided, method `auto`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KsTest {
    pub statistic: f64,
    /// scipy's p-value; `null` where scipy would use its asymptotic `kstwo` branch
    /// (max(n₁, n₂) > 10 000 or the exact recursion failing), which is not reproduced.
    pub p_value: Option<f64>,
    pub method: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub n1: usize,
    pub n2: usize,
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Number of sorted values ≤ x (`np.searchsorted(side='right')`).
fn count_at_most(sorted: &[f64], x: f64) -> usize {
    sorted.partition_point(|&v| v <= x)
}

/// scipy's `_compute_prob_outside_square(n, h)`: P(D_{n,n} ≥ h/n), Horner form.
fn prob_outside_square(n: u64, h: u64) -> f64 {
    let mut p = 0.0f64;
    let mut k = (n / h) as i64;
    while k >= 0 {
        let ku = k as u64;
        let mut p1 = 1.0f64;
        for j in 0..h {
            // n − k·h − j may be negative in scipy's Python integers.
            let num = n as i64 - (ku * h) as i64 - j as i64;
            let den = n + ku * h + j + 1;
            p1 = num as f64 * p1 / den as f64;
        }
        p = p1 * (1.0 - p);
        k -= 1;
    }
    2.0 * p
}

/// scipy's `_compute_outer_prob_inside_method(m, n, g, h)` (Hodges' inside method with
/// Viehmann's recursion for 1 − p). `None` if an index leaves the window (never expected).
fn outer_prob_inside(m: u64, n: u64, g: u64, h: u64) -> Option<f64> {
    let (m, n) = if m < n { (n, m) } else { (m, n) };
    let (m, n, g, h) = (m as i64, n as i64, g as i64, h as i64);
    let mg = m / g;
    let ng = n / g;
    let mut minj: i64 = 0;
    let mut maxj: i64 = ((h as f64 / mg as f64).ceil() as i64).min(n + 1);
    let mut curlen = maxj - minj;
    let len_a = (2 * maxj + 2).min(n + 1) as usize;
    let mut a = vec![1.0f64; len_a];
    for v in a.iter_mut().take(maxj as usize).skip(minj as usize) {
        *v = 0.0;
    }
    for i in 1..=m {
        let (lastminj, lastlen) = (minj, curlen);
        minj = ((((ng * i - h) as f64) / mg as f64).floor() as i64 + 1).max(0);
        minj = minj.min(n);
        maxj = ((((ng * i + h) as f64) / mg as f64).ceil() as i64).min(n + 1);
        if maxj <= minj {
            return Some(1.0);
        }
        let mut val = if minj == 0 { 0.0 } else { 1.0 };
        for jj in 0..(maxj - minj) {
            let j = jj + minj;
            let src = usize::try_from(jj + minj - lastminj).ok()?;
            val = (*a.get(src)? * i as f64 + val * j as f64) / (i + j) as f64;
            *a.get_mut(jj as usize)? = val;
        }
        curlen = maxj - minj;
        if lastlen > curlen {
            let from = (maxj - minj) as usize;
            let to = ((maxj - minj + (lastlen - curlen)) as usize).min(a.len());
            for v in a.iter_mut().take(to).skip(from) {
                *v = 1.0;
            }
        }
    }
    a.get(usize::try_from(maxj - minj - 1).ok()?).copied()
}

/// scipy's largest sample size for the exact branch of `method='auto'`.
pub const KS_MAX_AUTO_N: usize = 10_000;

/// `scipy.stats.ks_2samp(x, y)` (two-sided, `method='auto'`): statistic and p-value, the exact
/// branch reproduced operation by operation (`docs/llm.md` §4). Inputs must be finite and
/// non-empty.
pub fn ks_2samp(x: &[f64], y: &[f64]) -> Result<KsTest, MiaError> {
    if x.is_empty() || y.is_empty() {
        return Err(MiaError::Empty {
            what: "a KS sample".into(),
        });
    }
    super::check_finite("KS sample 1", x)?;
    super::check_finite("KS sample 2", y)?;
    let mut a = x.to_vec();
    let mut b = y.to_vec();
    a.sort_by(f64::total_cmp);
    b.sort_by(f64::total_cmp);
    let (n1, n2) = (a.len(), b.len());
    let (mut max_s, mut min_diff) = (f64::NEG_INFINITY, f64::INFINITY);
    for &v in a.iter().chain(&b) {
        let diff =
            count_at_most(&a, v) as f64 / n1 as f64 - count_at_most(&b, v) as f64 / n2 as f64;
        max_s = max_s.max(diff);
        min_diff = min_diff.min(diff);
    }
    let min_s = (-min_diff).clamp(0.0, 1.0);
    let d = if min_s > max_s { min_s } else { max_s };
    let base = KsTest {
        statistic: d,
        p_value: None,
        method: "exact",
        reason: None,
        n1,
        n2,
    };
    if n1.max(n2) > KS_MAX_AUTO_N {
        return Ok(KsTest {
            method: "asymptotic_not_reproduced",
            reason: Some(format!(
                "max(n1, n2) > {KS_MAX_AUTO_N}: scipy switches to the asymptotic kstwo \
                 distribution, which is not reproduced here"
            )),
            ..base
        });
    }
    let g = gcd(n1 as u64, n2 as u64);
    let lcm = (n1 as u64 / g) * n2 as u64;
    let h = (d * lcm as f64).round_ties_even() as u64;
    let d = h as f64 / lcm as f64;
    if h == 0 {
        return Ok(KsTest {
            statistic: d,
            p_value: Some(1.0),
            ..base
        });
    }
    let prob = if n1 == n2 {
        Some(prob_outside_square(n1 as u64, h))
    } else {
        outer_prob_inside(n1 as u64, n2 as u64, g, h)
    };
    match prob {
        Some(p) if p.is_finite() && (0.0..=1.0).contains(&p) => Ok(KsTest {
            statistic: d,
            p_value: Some(p),
            ..base
        }),
        _ => Ok(KsTest {
            statistic: d,
            method: "asymptotic_not_reproduced",
            reason: Some(
                "the exact recursion failed; scipy would switch to the asymptotic kstwo \
                 distribution, which is not reproduced here"
                    .into(),
            ),
            ..base
        }),
    }
}

/// The median of paired differences with an exact distribution-free interval.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairedMedian {
    pub n: usize,
    /// Sample median of the differences (mean of the two middle values when n is even).
    pub median: f64,
    /// [d₍ₗ₎, d₍ₙ₊₁₋ₗ₎] for the largest l with 2·P(Bin(n, ½) ≤ l − 1) ≤ 1 − confidence: covers
    /// the population median with probability ≥ confidence for any continuous distribution
    /// of i.i.d. differences (order-statistic / sign-test interval). `null` when n is too small.
    pub ci: Option<Interval>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ci_reason: Option<String>,
    /// Share of examples with a positive difference, Clopper–Pearson interval.
    pub share_positive: f64,
    pub share_positive_ci: Interval,
}

/// [`PairedMedian`] of `a[i] − b[i]`.
pub fn paired_median_difference(
    a: &[f64],
    b: &[f64],
    confidence: f64,
) -> Result<PairedMedian, MiaError> {
    if a.len() != b.len() {
        return Err(MiaError::ShapeMismatch {
            array: "paired samples".into(),
            expected: vec![a.len()],
            found: vec![b.len()],
        });
    }
    if a.is_empty() {
        return Err(MiaError::Empty {
            what: "paired samples".into(),
        });
    }
    if !(confidence > 0.0 && confidence < 1.0) {
        return Err(MiaError::parameter("confidence", "must be in (0, 1)"));
    }
    let mut d: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    super::check_finite("paired differences", &d)?;
    d.sort_by(f64::total_cmp);
    let n = d.len();
    let median = if n % 2 == 1 {
        d[n / 2]
    } else {
        0.5 * (d[n / 2 - 1] + d[n / 2])
    };
    let alpha = 1.0 - confidence;
    // Largest l (1-based) with 2·P(Bin ≤ l − 1) ≤ α.
    let mut l = 0u64;
    for cand in 1..=(n as u64).div_ceil(2) {
        let tail = stats::binomial_cdf(cand - 1, n as u64, 0.5)
            .map_err(|e| MiaError::parameter("confidence", e.to_string()))?;
        if 2.0 * tail <= alpha {
            l = cand;
        } else {
            break;
        }
    }
    let (ci, ci_reason) = if l == 0 {
        (
            None,
            Some(format!(
                "{n} examples are too few for a distribution-free interval at confidence {confidence}"
            )),
        )
    } else {
        let l = l as usize;
        let achieved = 1.0
            - 2.0
                * stats::binomial_cdf(l as u64 - 1, n as u64, 0.5)
                    .map_err(|e| MiaError::parameter("confidence", e.to_string()))?;
        (
            Some(Interval {
                lower: d[l - 1],
                upper: d[n - l],
                confidence: achieved.max(confidence),
                method: "order_statistic_sign_test",
            }),
            None,
        )
    };
    let positive = d.iter().filter(|&&v| v > 0.0).count() as u64;
    Ok(PairedMedian {
        n,
        median,
        ci,
        ci_reason,
        share_positive: positive as f64 / n as f64,
        share_positive_ci: clopper_pearson(positive, n as u64, confidence)?,
    })
}

/// Errors of the bundle-level functions: reading (exit 2, naming file, array, row) or analysis.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error(transparent)]
    Io(#[from] crate::io::IoError),
    #[error(transparent)]
    Mia(#[from] MiaError),
    #[error("unknown language-model attack `{0}` (known: loss, zlib, min_k, min_k_plus_plus)")]
    UnknownAttack(String),
}

/// One attack's per-example scores on one split, in OpenUnlearning's sign (higher = non-member).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SplitScores {
    pub scores: Vec<f64>,
    /// Rows whose Min-K span is empty (one target token), scored 0 as OpenUnlearning does.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub empty_span_rows: Vec<usize>,
}

/// Whether `attack` can run on `bundle` (its optional file is present).
pub fn attack_available(bundle: &crate::io::llm::LlmBundle, attack: &str) -> bool {
    use crate::io::llm::{TEXT_ZLIB, TOKEN_VOCAB_STATS};
    match attack {
        "zlib" => bundle.dir.join(TEXT_ZLIB).exists(),
        "min_k_plus_plus" => bundle.dir.join(TOKEN_VOCAB_STATS).exists(),
        _ => true,
    }
}

/// The scores of `attacks` on `split` of an LLM bundle, every input validated.
pub fn bundle_scores(
    bundle: &crate::io::llm::LlmBundle,
    split: &str,
    attacks: &[String],
    k: f64,
) -> Result<Vec<SplitScores>, LlmError> {
    check_k(k)?;
    let tokens = bundle.tokens(split)?;
    let t = tokens.t;
    let loss = loss_scores(&tokens.logprobs, &tokens.mask, t);
    let empty = empty_span_rows(&tokens.mask, t);
    attacks
        .iter()
        .map(|attack| {
            Ok(match attack.as_str() {
                "loss" => SplitScores {
                    scores: loss.clone(),
                    empty_span_rows: Vec::new(),
                },
                "zlib" => {
                    let z = bundle.zlib_lengths(&tokens)?;
                    SplitScores {
                        scores: zlib_scores(&loss, &z),
                        empty_span_rows: Vec::new(),
                    }
                }
                "min_k" => SplitScores {
                    scores: min_k_scores(&tokens.logprobs, &tokens.mask, t, k),
                    empty_span_rows: empty.clone(),
                },
                "min_k_plus_plus" => {
                    let (mean, var) = bundle.vocab_stats(&tokens)?;
                    SplitScores {
                        scores: min_k_plus_plus_scores(
                            &tokens.logprobs,
                            &tokens.mask,
                            &mean,
                            &var,
                            t,
                            k,
                        ),
                        empty_span_rows: empty.clone(),
                    }
                }
                other => return Err(LlmError::UnknownAttack(other.to_string())),
            })
        })
        .collect()
}

/// The ROC of one attack: members = the forget split, non-members = the holdout split, with
/// the negated score (higher = member), so that its AUC equals OpenUnlearning's `mia_auc`.
pub fn attack_roc(
    members: &SplitScores,
    nonmembers: &SplitScores,
) -> Result<super::roc::Roc, MiaError> {
    let m: Vec<f64> = members.scores.iter().map(|s| -s).collect();
    let n: Vec<f64> = nonmembers.scores.iter().map(|s| -s).collect();
    super::roc::Roc::new(&m, &n)
}

/// The gap of each attack to the retrained model and the verdict (`docs/llm.md` §3): the
/// crate's one equivalence rule, `mia::unlearning::equivalence_to_reference` (margin in AUC,
/// Bonferroni over the attacks, the original model as positive control — without it the verdict
/// cannot pass), on the paired ROCs of each attack.
pub fn llm_gap_verdict(
    names: &[String],
    unlearned: &[super::roc::Roc],
    retrained: &[super::roc::Roc],
    original: Option<&[super::roc::Roc]>,
    confidence: f64,
    margin: f64,
) -> Result<(Vec<super::unlearning::AttackGap>, crate::report::Outcome), MiaError> {
    let attacks: Vec<super::unlearning::EquivalenceAttack<'_>> = names
        .iter()
        .enumerate()
        .map(|(i, name)| super::unlearning::EquivalenceAttack {
            name,
            unlearned: &unlearned[i],
            retrained: &retrained[i],
            original: original.map(|o| &o[i]),
        })
        .collect();
    super::unlearning::equivalence_to_reference(&attacks, confidence, margin)
}

/// One run's answer losses (`answer_losses.npz`): `[n, a]` correct, `[n, w]` wrong.
#[derive(Debug, Clone)]
pub struct AnswerLosses {
    /// Where they came from (for messages and reports).
    pub source: std::path::PathBuf,
    pub correct: ndarray::Array2<f64>,
    pub wrong: ndarray::Array2<f64>,
}

/// `forget_quality` of one unlearned run against the first retrained run.
#[derive(Debug, Clone, Serialize)]
pub struct RunQuality {
    pub unlearned: String,
    pub retrained: String,
    pub forget_quality: Option<f64>,
    pub ks: KsTest,
}

/// Per-example truth ratios of the first run of each side.
#[derive(Debug, Clone, Serialize)]
pub struct TruthRatios {
    pub unlearned: Vec<f64>,
    pub retrained: Vec<f64>,
}

/// TOFU's forget truth-ratio value of each model.
#[derive(Debug, Clone, Serialize)]
pub struct ForgetTruthRatio {
    pub unlearned: f64,
    pub retrained: f64,
}

/// Everything `forget-quality` reports (`docs/llm.md` §4–§5).
#[derive(Debug, Clone, Serialize)]
pub struct ForgetQuality {
    pub split: String,
    pub truth_ratio: TruthRatios,
    pub forget_truth_ratio: ForgetTruthRatio,
    /// TOFU's forget quality: scipy's `ks_2samp` p-value (first runs); `null` with `ks.reason`
    /// where scipy's asymptotic branch would be used.
    pub forget_quality: Option<f64>,
    pub ks: KsTest,
    /// Median of ln TR(unlearned) − ln TR(retrained) per example with an exact
    /// distribution-free interval; `null` with `paired_reason` when the sizes differ.
    pub paired_log_truth_ratio_difference: Option<PairedMedian>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paired_reason: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub runs: Vec<RunQuality>,
    /// Per-example ε audit of the ln truth ratios across runs (at least two per side).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epsilon: Option<crate::audit::EpsilonAudit>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epsilon_reason: Option<String>,
    /// Per-example ln truth ratios of the first runs (for plots).
    #[serde(skip)]
    pub log_truth_ratio: (Vec<f64>, Vec<f64>),
}

/// Settings of [`forget_quality`].
#[derive(Debug, Clone)]
pub struct ForgetQualityOptions {
    pub split: String,
    pub confidence: f64,
    /// Claim of the per-example ε audit (ε may be `None`: bound only).
    pub claim: crate::evidence::Claim,
    pub seed: u64,
}

/// Errors of [`forget_quality`].
#[derive(Debug, thiserror::Error)]
pub enum ForgetQualityError {
    #[error(transparent)]
    Mia(#[from] MiaError),
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditError),
    #[error("{0}")]
    Runs(String),
}

/// TOFU's truth ratio and forget quality with the paired interval and, with at least two runs
/// per side, the per-example ε audit (`docs/llm.md` §4).
pub fn forget_quality(
    unlearned: &[AnswerLosses],
    retrained: &[AnswerLosses],
    options: &ForgetQualityOptions,
) -> Result<ForgetQuality, ForgetQualityError> {
    if unlearned.is_empty() || retrained.is_empty() {
        return Err(ForgetQualityError::Runs(
            "forget quality needs at least one unlearned and one retrained run".into(),
        ));
    }
    if !(options.confidence > 0.0 && options.confidence < 1.0) {
        return Err(MiaError::parameter("confidence", "must be in (0, 1)").into());
    }
    let side = |runs: &[AnswerLosses]| -> Vec<(Vec<f64>, Vec<f64>)> {
        runs.iter()
            .map(|r| {
                (
                    truth_ratios(&r.correct, &r.wrong),
                    log_truth_ratios(&r.correct, &r.wrong),
                )
            })
            .collect()
    };
    let u = side(unlearned);
    let r = side(retrained);
    let (tr_u, ltr_u) = &u[0];
    let (tr_r, ltr_r) = &r[0];
    let ks = ks_2samp(tr_u, tr_r)?;
    let (paired, paired_reason) = if tr_u.len() == tr_r.len() {
        (
            Some(paired_median_difference(ltr_u, ltr_r, options.confidence)?),
            None,
        )
    } else {
        (
            None,
            Some(format!(
                "the runs have {} and {} examples: no pairing",
                tr_u.len(),
                tr_r.len()
            )),
        )
    };
    let runs = if unlearned.len() > 1 {
        u.iter()
            .zip(unlearned)
            .map(|((tr, _), run)| {
                let ks = ks_2samp(tr, tr_r)?;
                Ok(RunQuality {
                    unlearned: run.source.display().to_string(),
                    retrained: retrained[0].source.display().to_string(),
                    forget_quality: ks.p_value,
                    ks,
                })
            })
            .collect::<Result<Vec<_>, MiaError>>()?
    } else {
        Vec::new()
    };
    let (epsilon, epsilon_reason) = if u.len() >= 2 && r.len() >= 2 {
        let n = ltr_u.len();
        if let Some(bad) = unlearned
            .iter()
            .zip(&u)
            .chain(retrained.iter().zip(&r))
            .find(|(_, x)| x.1.len() != n)
        {
            return Err(ForgetQualityError::Runs(format!(
                "{}: {} `{}` examples where the first unlearned run has {n}; the ε audit needs \
                 the same examples in every run",
                bad.0.source.display(),
                bad.1.1.len(),
                options.split
            )));
        }
        let matrix = |side: &[(Vec<f64>, Vec<f64>)], source: &std::path::Path| {
            crate::io::SampleSet::new(
                source,
                ndarray::Array2::from_shape_fn((side.len(), n), |(run, i)| side[run].1[i]),
            )
            .map_err(|e| ForgetQualityError::Runs(e.to_string()))
        };
        let audit_options = crate::audit::AuditOptions {
            confidence: options.confidence,
            per_example: true,
            seed: options.seed,
            ..crate::audit::AuditOptions::default()
        };
        let audit = crate::audit::audit_epsilon(
            &matrix(&u, &unlearned[0].source)?,
            &matrix(&r, &retrained[0].source)?,
            &options.claim,
            &audit_options,
        )?;
        (Some(audit), None)
    } else {
        (
            None,
            Some(
                "the ε audit needs at least two runs per side (repeat --unlearned and --retrained)"
                    .to_string(),
            ),
        )
    };
    Ok(ForgetQuality {
        split: options.split.clone(),
        truth_ratio: TruthRatios {
            unlearned: tr_u.clone(),
            retrained: tr_r.clone(),
        },
        forget_truth_ratio: ForgetTruthRatio {
            unlearned: closer_to_1_better(tr_u),
            retrained: closer_to_1_better(tr_r),
        },
        forget_quality: ks.p_value,
        ks,
        paired_log_truth_ratio_difference: paired,
        paired_reason,
        runs,
        epsilon,
        epsilon_reason,
        log_truth_ratio: (ltr_u.clone(), ltr_r.clone()),
    })
}

/// The outcome of a forget-quality finding: the ε audit's verdict when a claim was judged
/// (violated → Fail, inconclusive → Inconclusive), otherwise a measurement (Info).
pub fn forget_quality_outcome(fq: &ForgetQuality) -> crate::report::Outcome {
    use crate::report::Outcome;
    match &fq.epsilon {
        Some(audit) => match audit.verdict {
            Some("violated") => Outcome::Fail {
                reason: audit.reason.clone(),
            },
            Some("inconclusive") => Outcome::Inconclusive {
                reason: audit.reason.clone(),
            },
            _ => Outcome::Info,
        },
        None => Outcome::Info,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn num_k_truncates_like_python() {
        assert_eq!(num_k(100, 0.29), 28); // 100 * 0.29 = 28.999999999999996
        assert_eq!(num_k(3, 0.2), 1);
        assert_eq!(num_k(10, 0.2), 2);
    }

    #[test]
    fn span_drops_last_target_and_keeps_holes() {
        assert_eq!(min_k_span(&[false, true, false, true, true, false]), (1, 4));
        assert_eq!(min_k_span(&[false, true, false]), (1, 1));
    }

    #[test]
    fn ks_small_exact_values() {
        // scipy.stats.ks_2samp([1,2,3], [4,5,6]).pvalue = 0.1
        let t = ks_2samp(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]).unwrap();
        assert_eq!(t.statistic, 1.0);
        assert!((t.p_value.unwrap() - 0.1).abs() < 1e-15);
        // scipy.stats.ks_2samp([1,2], [3,4,5]).pvalue = 0.2 (= 2/C(5,2))
        let t = ks_2samp(&[1.0, 2.0], &[3.0, 4.0, 5.0]).unwrap();
        assert!((t.p_value.unwrap() - 0.2).abs() < 1e-15);
    }
}
