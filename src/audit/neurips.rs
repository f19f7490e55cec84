//! The NeurIPS 2023 Machine Unlearning Challenge forget score, as the released scoring code
//! computes it (google-deepmind/unlearning_evaluation, `metric.py`): per forget example, the
//! max over ~10⁵ single- and double-threshold rules of the two-branch ε with *empirical*
//! rates (no confidence intervals), then 0.5-wide buckets worth 1, ½, ¼, …
//!
//! An **estimate, not a bound**: it is biased upward and scores exact retraining at ε ≈ 1.6
//! (`docs/epsilon.md` §6). Reproduced faithfully, including its float32 rate arithmetic,
//! torch's float32 and numpy's float64 `linspace` formulas, the "peaky" cap and the
//! discarding of rules with exactly one zero rate. `np.log` on float32 may differ from
//! `f32::ln` by one ulp (`docs/epsilon.md` §6).

use ndarray::ArrayView2;
use rayon::prelude::*;

const DELTA: f64 = 1e-5;
const EPSILON_CAP: f64 = 50.0;
const THRESHOLDS_PER_UNIT: f64 = 100.0;

/// `torch.linspace(min_val, max_val, steps)` as `metric.py` calls it: no dtype is given, so
/// the grid is built in float32 (torch's default dtype) by the CPU kernel
/// (`aten/src/ATen/native/cpu/RangeFactoriesKernel.cpp`, scalar loop): start and end are
/// rounded to float32, `step = (end − start) / (steps − 1)` in float32, element i is
/// `start + step·i` for i < steps/2 and `end − step·(steps − 1 − i)` otherwise, each a float32
/// product then a float32 sum (Rust never fuses them into an FMA). The values are returned
/// widened to f64, as the comparison with the float64 scores promotes them.
fn torch_linspace(start: f64, end: f64, steps: usize) -> Vec<f64> {
    match steps {
        0 => Vec::new(),
        1 => vec![f64::from(start as f32)],
        _ => {
            let (start, end) = (start as f32, end as f32);
            let step = (end - start) / (steps - 1) as f32;
            let halfway = steps / 2;
            (0..steps)
                .map(|i| {
                    f64::from(if i < halfway {
                        start + step * i as f32
                    } else {
                        end - step * (steps - i - 1) as f32
                    })
                })
                .collect()
        }
    }
}

/// numpy.linspace: `i * step + start`, last element set to `stop`.
fn numpy_linspace(start: f64, stop: f64, num: usize) -> Vec<f64> {
    match num {
        0 => Vec::new(),
        1 => vec![start],
        _ => {
            let div = (num - 1) as f64;
            let step = (stop - start) / div;
            let mut y: Vec<f64> = if step != 0.0 {
                (0..num).map(|i| i as f64 * step + start).collect()
            } else {
                (0..num)
                    .map(|i| i as f64 / div * (stop - start) + start)
                    .collect()
            };
            y[num - 1] = stop;
            y
        }
    }
}

/// Rates of one rule as float32 means, the way `torch.mean` of a float32 0/1 tensor gives them.
fn rate(count: usize, n: usize) -> f32 {
    count as f32 / n as f32
}

/// ε of one rule from float32 rates, or `None` when the released code discards the rule
/// (exactly one of FPR, FNR is zero, or both branches are undefined); `Some(∞)` for perfect
/// separation.
pub fn neurips_rule_epsilon(tpr: f32, fnr: f32, fpr: f32, tnr: f32) -> Option<f32> {
    if fpr + fnr == 0.0 && tpr + tnr == 2.0 {
        return Some(f32::INFINITY);
    }
    if fpr * fnr == 0.0 {
        return None;
    }
    // `1 - delta - fpr` with a Python float and a float32 array is float32 arithmetic.
    let one_minus_delta = (1.0 - DELTA) as f32;
    let a = (one_minus_delta - fpr).ln() - fnr.ln();
    let b = (one_minus_delta - fnr).ln() - fpr.ln();
    let best = match (a.is_nan(), b.is_nan()) {
        (true, true) => return None,
        (true, false) => b,
        (false, true) => a,
        (false, false) => a.max(b),
    };
    Some(best.max(0.0))
}

fn count_le(sorted: &[f64], t: f64) -> usize {
    sorted.partition_point(|&x| x <= t)
}
fn count_lt(sorted: &[f64], t: f64) -> usize {
    sorted.partition_point(|&x| x < t)
}

fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        0.5 * (sorted[n / 2 - 1] + sorted[n / 2])
    }
}

/// Per-example ε of one example; `pos` and `neg` as in `_get_epsilons` (sorted ascending).
fn example_epsilon(pos: &[f64], neg: &[f64]) -> f64 {
    let range = |s: &[f64]| s[s.len() - 1] - s[0];
    let (pos_diff, neg_diff) = (range(pos), range(neg));
    let largest = if pos_diff > neg_diff {
        pos_diff
    } else {
        neg_diff
    };
    let smallest = if pos_diff > neg_diff {
        neg_diff
    } else {
        pos_diff
    };
    if smallest / largest < 0.01 {
        return EPSILON_CAP;
    }
    let mut best: Option<f32> = None;
    let mut consider = |e: Option<f32>| {
        if let Some(e) = e {
            best = Some(best.map_or(e, |b| b.max(e)));
        }
    };

    // Double-threshold family: predicts the peakier distribution inside [left, right].
    {
        let (peaky, other) = if pos_diff >= neg_diff {
            (neg, pos)
        } else {
            (pos, neg)
        };
        let buffer = 2.0;
        let width = smallest;
        let min_ = peaky[0] + width - buffer;
        let max_ = peaky[peaky.len() - 1] + buffer;
        let num_right = ((max_ - min_) * THRESHOLDS_PER_UNIT).ceil() as usize;
        let num_left = (2.0 * buffer * THRESHOLDS_PER_UNIT).ceil() as usize;
        for right in numpy_linspace(min_, max_, num_right) {
            for left in numpy_linspace(right - width - buffer, right - width + buffer, num_left) {
                let inside = |s: &[f64]| count_le(s, right).saturating_sub(count_lt(s, left));
                let (pp_pos, pp_neg) = (inside(peaky), inside(other));
                let (np_, nn) = (peaky.len(), other.len());
                consider(neurips_rule_epsilon(
                    rate(pp_pos, np_),
                    rate(np_ - pp_pos, np_),
                    rate(pp_neg, nn),
                    rate(nn - pp_neg, nn),
                ));
            }
        }
    }
    // Single-threshold family: predicts positive at or above t.
    {
        let min_val = pos[0].min(neg[0]);
        let max_val = pos[pos.len() - 1].max(neg[neg.len() - 1]);
        let num = ((max_val - min_val) * THRESHOLDS_PER_UNIT).ceil() as usize;
        for t in torch_linspace(min_val, max_val, num) {
            let (np_, nn) = (pos.len(), neg.len());
            let tp = np_ - count_lt(pos, t);
            let fp = nn - count_lt(neg, t);
            consider(neurips_rule_epsilon(
                rate(tp, np_),
                rate(np_ - tp, np_),
                rate(fp, nn),
                rate(nn - fp, nn),
            ));
        }
    }
    // The released code asserts at least one rule survives; with none we report the cap.
    let e = best.map_or(EPSILON_CAP, f64::from);
    e.clamp(0.0, EPSILON_CAP)
}

/// Per-example ε of every column, exactly as `compute_forget_score_from_confs` computes them
/// before bucketing (positive class: the side with the larger median).
pub fn neurips_2023_epsilons(unlearned: ArrayView2<f64>, retrained: ArrayView2<f64>) -> Vec<f64> {
    (0..unlearned.ncols())
        .into_par_iter()
        .map(|e| {
            let mut u = unlearned.column(e).to_vec();
            let mut r = retrained.column(e).to_vec();
            u.sort_by(f64::total_cmp);
            r.sort_by(f64::total_cmp);
            if median(&r) > median(&u) {
                example_epsilon(&r, &u)
            } else {
                example_epsilon(&u, &r)
            }
        })
        .collect()
}

/// The forget score: buckets of width 0.5 up to `ceil(ln(num_models − 1))` worth 1, ½, ¼, …,
/// averaged over examples (`compute_forget_score_from_confs`).
pub fn neurips_2023_forget_score(epsilons: &[f64], num_models: usize) -> f64 {
    let max_epsilon = ((num_models as f64) - 1.0).ln().ceil();
    let mut buckets = Vec::new();
    let (mut start, mut points) = (0.0f64, 1.0f64);
    while start + 0.5 <= max_epsilon {
        buckets.push((start, points));
        points /= 2.0;
        start += 0.5;
    }
    let total: f64 = epsilons
        .iter()
        .map(|&e| {
            buckets
                .iter()
                .find(|(s, _)| e < s + 0.5)
                .map_or(0.0, |&(_, p)| p)
        })
        .sum();
    total / epsilons.len() as f64
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn known_answers_m6() {
        // metrics-and-mechanisms.md M6: FPR 0.1, FNR 0.2, δ = 1e-5 → 2.0794290.
        let e = neurips_rule_epsilon(0.8, 0.2, 0.1, 0.9).unwrap();
        assert!((f64::from(e) - 2.0794290).abs() < 1e-5, "{e}");
        // N = 512: buckets up to 7; ε = (0.2, 0.7, 3.0, 50) → 0.37890625.
        assert_eq!(
            neurips_2023_forget_score(&[0.2, 0.7, 3.0, 50.0], 512),
            0.37890625
        );
        assert_eq!(
            neurips_rule_epsilon(1.0, 0.0, 0.0, 1.0),
            Some(f32::INFINITY)
        );
        assert_eq!(neurips_rule_epsilon(0.5, 0.5, 0.0, 1.0), None);
    }

    #[test]
    fn linspaces_match_their_libraries() {
        // numpy.linspace(0, 1, 5) and torch.linspace(0, 1, 5).
        assert_eq!(numpy_linspace(0.0, 1.0, 5), vec![0.0, 0.25, 0.5, 0.75, 1.0]);
        assert_eq!(torch_linspace(0.0, 1.0, 5), vec![0.0, 0.25, 0.5, 0.75, 1.0]);
        // float32 grid: 0.1 is not representable; element 1 of linspace(0, 0.3, 4) is the
        // float32 value nearest 0.1 widened, not the float64 0.1.
        let g = torch_linspace(0.0, 0.3, 4);
        assert_eq!(g[1], f64::from(0.1f32));
        assert_ne!(g[1], 0.1);
    }

    #[test]
    fn float32_grid_decides_a_score_between_the_two_grids() {
        // Pooled range [0, 0.3]: 30 single thresholds. Threshold 10 on the float32 grid and on
        // a float64 grid differ; a score strictly between them is counted by `pos >= t` on
        // one grid and not on the other, so the rule's rates (and ε) differ.
        let g32 = torch_linspace(0.0, 0.3, 31)[10];
        let g64 = (0.3 - 0.0) / 30.0 * 10.0;
        assert_ne!(g32, g64);
        assert_eq!(g32, f64::from(0.3f32 / 30.0 * 10.0));
        let between = 0.5 * (g32 + g64);
        assert!(between != g32 && between != g64);
        assert_ne!(between >= g32, between >= g64);
    }
}
