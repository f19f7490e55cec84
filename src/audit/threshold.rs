//! Threshold tests on one scalar statistic: the tail-focused Bonferroni grid, the split
//! strategy and the pre-registered threshold. Every test yields upper confidence bounds on its
//! FPR and FNR, and the two-branch ε bound of `docs/epsilon.md` §1.

use serde::Serialize;

use crate::stats::{StatsError, clopper_pearson_upper, normal_quantile, normal_quantile_upper};

/// Which way a test reads the score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Predicts "unlearned" for scores above the threshold.
    UnlearnedHigher,
    /// Predicts "unlearned" for scores below the threshold.
    UnlearnedLower,
}

/// The comparison a rule makes against its threshold to predict "unlearned".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Comparison {
    Greater,
    GreaterEqual,
    Less,
    LessEqual,
}

impl Comparison {
    pub fn direction(self) -> Direction {
        match self {
            Comparison::Greater | Comparison::GreaterEqual => Direction::UnlearnedHigher,
            Comparison::Less | Comparison::LessEqual => Direction::UnlearnedLower,
        }
    }
    fn rule(self) -> &'static str {
        match self {
            Comparison::Greater => "unlearned if score > threshold",
            Comparison::GreaterEqual => "unlearned if score >= threshold",
            Comparison::Less => "unlearned if score < threshold",
            Comparison::LessEqual => "unlearned if score <= threshold",
        }
    }
    /// Number of values in an ascending slice that the rule calls "unlearned".
    fn count_predicted(self, sorted: &[f64], threshold: f64) -> u64 {
        let below = sorted.partition_point(|&x| x < threshold);
        let at_or_below = sorted.partition_point(|&x| x <= threshold);
        let n = sorted.len();
        (match self {
            Comparison::Greater => n - at_or_below,
            Comparison::GreaterEqual => n - below,
            Comparison::Less => below,
            Comparison::LessEqual => at_or_below,
        }) as u64
    }
}

/// One threshold test with its confusion counts, the counts its bounds were computed from,
/// and its rate bounds. "Positive" means "predicted unlearned".
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThresholdTest {
    pub direction: Direction,
    pub comparison: Comparison,
    pub rule: &'static str,
    pub threshold: f64,
    pub true_positives: u64,
    pub false_positives: u64,
    pub true_negatives: u64,
    pub false_negatives: u64,
    /// The count the FPR bound uses: equals `false_positives`, or the rank j − 1 when the
    /// threshold is the j-th order statistic of the retrained side (`docs/epsilon.md` §3.1).
    pub false_positives_for_bound: u64,
    /// As `false_positives_for_bound`, for the FNR.
    pub false_negatives_for_bound: u64,
    /// One-sided Clopper–Pearson upper bound on the FPR at `alpha_per_rate`.
    pub fpr_upper: f64,
    /// One-sided Clopper–Pearson upper bound on the FNR at `alpha_per_rate`.
    pub fnr_upper: f64,
    pub alpha_per_rate: f64,
    /// `max(ln((1−δ−FPR_ub)/FNR_ub), ln((1−δ−FNR_ub)/FPR_ub))`, rounded down; `None` when
    /// both numerators are ≤ 0.
    pub epsilon: Option<f64>,
    /// Gaussian-DP μ this test certifies: `max(Φ⁻¹(1−FPR_ub) − Φ⁻¹(FNR_ub), mirrored)`.
    #[serde(skip)]
    pub gdp_mu: f64,
    /// The empirical ε of this test from raw rates (an estimate), `None` if a rate is 0.
    #[serde(skip)]
    pub point_epsilon: Option<f64>,
}

/// Two-branch ε lower bound from upper bounds on FPR and FNR, rounded down.
pub fn epsilon_from_rate_bounds(fpr_upper: f64, fnr_upper: f64, delta: f64) -> Option<f64> {
    let branch = |num_rate: f64, den_rate: f64| {
        let numerator = 1.0 - delta - num_rate;
        (numerator > 0.0 && den_rate > 0.0).then(|| numerator.ln() - den_rate.ln())
    };
    let best = match (branch(fpr_upper, fnr_upper), branch(fnr_upper, fpr_upper)) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    // Two ulps down covers the rounding of the subtraction and the logarithms.
    best.map(|e| e.next_down().next_down())
}

fn gdp_mu(fpr_upper: f64, fnr_upper: f64) -> f64 {
    let one = |a: f64, b: f64| match (normal_quantile_upper(a), normal_quantile(b)) {
        (Ok(x), Ok(y)) if (x - y).is_finite() => x - y,
        _ => f64::NEG_INFINITY,
    };
    one(fpr_upper, fnr_upper)
        .max(one(fnr_upper, fpr_upper))
        .next_down()
}

/// Source of upper rate bounds at a fixed α per rate: direct computation, or a table for
/// every count (per-example audits reuse it across thousands of examples).
#[derive(Debug, Clone)]
pub struct RateBounds {
    pub alpha_per_rate: f64,
    table_unlearned: Option<Vec<f64>>,
    table_retrained: Option<Vec<f64>>,
}

impl RateBounds {
    pub fn direct(alpha_per_rate: f64) -> Self {
        RateBounds {
            alpha_per_rate,
            table_unlearned: None,
            table_retrained: None,
        }
    }

    /// Precomputes the bound for every count 0..=n on both sides.
    pub fn tabulated(
        alpha_per_rate: f64,
        n_unlearned: u64,
        n_retrained: u64,
    ) -> Result<Self, StatsError> {
        let table = |n: u64| -> Result<Vec<f64>, StatsError> {
            use rayon::prelude::*;
            (0..=n)
                .into_par_iter()
                .map(|k| clopper_pearson_upper(k, n, alpha_per_rate))
                .collect()
        };
        Ok(RateBounds {
            alpha_per_rate,
            table_unlearned: Some(table(n_unlearned)?),
            table_retrained: Some(table(n_retrained)?),
        })
    }

    fn unlearned(&self, k: u64, n: u64) -> Result<f64, StatsError> {
        match &self.table_unlearned {
            Some(t) if t.len() as u64 == n + 1 => Ok(t[k as usize]),
            _ => clopper_pearson_upper(k, n, self.alpha_per_rate),
        }
    }
    fn retrained(&self, k: u64, n: u64) -> Result<f64, StatsError> {
        match &self.table_retrained {
            Some(t) if t.len() as u64 == n + 1 => Ok(t[k as usize]),
            _ => clopper_pearson_upper(k, n, self.alpha_per_rate),
        }
    }
}

/// Both sides of a scalar audit, sorted ascending.
#[derive(Debug, Clone)]
pub struct SortedSides {
    pub unlearned: Vec<f64>,
    pub retrained: Vec<f64>,
}

impl SortedSides {
    pub fn new(mut unlearned: Vec<f64>, mut retrained: Vec<f64>) -> Self {
        // Unstable sort is deterministic here: elements equal under total_cmp are bit-identical.
        use rayon::slice::ParallelSliceMut;
        unlearned.par_sort_unstable_by(f64::total_cmp);
        retrained.par_sort_unstable_by(f64::total_cmp);
        SortedSides {
            unlearned,
            retrained,
        }
    }

    /// Evaluates one rule; `rank_bound` gives the rank-derived count for one side (see
    /// `ThresholdTest::false_positives_for_bound`).
    pub fn evaluate(
        &self,
        comparison: Comparison,
        threshold: f64,
        rank_bound: RankBound,
        bounds: &RateBounds,
        delta: f64,
    ) -> Result<ThresholdTest, StatsError> {
        let n_u = self.unlearned.len() as u64;
        let n_r = self.retrained.len() as u64;
        let true_positives = comparison.count_predicted(&self.unlearned, threshold);
        let false_positives = comparison.count_predicted(&self.retrained, threshold);
        let false_negatives = n_u - true_positives;
        let true_negatives = n_r - false_positives;
        let (fp_bound, fn_bound) = match rank_bound {
            RankBound::None => (false_positives, false_negatives),
            RankBound::FalsePositives(k) => (false_positives.max(k), false_negatives),
            RankBound::FalseNegatives(k) => (false_positives, false_negatives.max(k)),
        };
        let fpr_upper = bounds.retrained(fp_bound, n_r)?;
        let fnr_upper = bounds.unlearned(fn_bound, n_u)?;
        let point_epsilon = {
            let fpr = false_positives as f64 / n_r as f64;
            let fnr = false_negatives as f64 / n_u as f64;
            let a =
                (fnr > 0.0 && 1.0 - delta - fpr > 0.0).then(|| (1.0 - delta - fpr).ln() - fnr.ln());
            let b =
                (fpr > 0.0 && 1.0 - delta - fnr > 0.0).then(|| (1.0 - delta - fnr).ln() - fpr.ln());
            if fpr == 0.0 || fnr == 0.0 {
                None
            } else {
                match (a, b) {
                    (Some(a), Some(b)) => Some(a.max(b).max(0.0)),
                    (a, b) => a.or(b).map(|v| v.max(0.0)),
                }
            }
        };
        Ok(ThresholdTest {
            direction: comparison.direction(),
            comparison,
            rule: comparison.rule(),
            threshold,
            true_positives,
            false_positives,
            true_negatives,
            false_negatives,
            false_positives_for_bound: fp_bound,
            false_negatives_for_bound: fn_bound,
            fpr_upper,
            fnr_upper,
            alpha_per_rate: bounds.alpha_per_rate,
            epsilon: epsilon_from_rate_bounds(fpr_upper, fnr_upper, delta),
            gdp_mu: gdp_mu(fpr_upper, fnr_upper),
            point_epsilon,
        })
    }
}

/// Which side's count is fixed by the threshold's rank.
#[derive(Debug, Clone, Copy)]
pub enum RankBound {
    None,
    FalsePositives(u64),
    FalseNegatives(u64),
}

/// Growth factor of the tail grid: ranks 1, 2, 3, 4, 5, 6, 8, 11, 16, 23, … (ratio √2).
pub const GRID_RATIO: f64 = std::f64::consts::SQRT_2;

/// Ranks j (1-based, counted from one end of a side of size n) of the tail-focused grid:
/// geometric from 1 up to n/2, so most tests sit in the tails where the ε bound is decided.
/// Depends only on n, never on the data (`docs/epsilon.md` §3.1).
pub fn tail_ranks(n: usize) -> Vec<usize> {
    let max_rank = (n / 2).max(1);
    let mut ranks = Vec::new();
    let mut j = 1usize;
    let mut x = 1.0f64;
    while j <= max_rank {
        ranks.push(j);
        x *= GRID_RATIO;
        j = (j + 1).max(x.round() as usize);
    }
    ranks
}

/// Number of tests the Bonferroni grid runs for these side sizes.
pub fn grid_test_count(n_unlearned: usize, n_retrained: usize) -> usize {
    2 * tail_ranks(n_unlearned).len() + 2 * tail_ranks(n_retrained).len()
}

/// Result of a search over tests.
#[derive(Debug, Clone)]
pub struct SearchOutcome {
    pub best: ThresholdTest,
    pub tests: usize,
    pub gdp_mu_lower: f64,
    pub point_estimate: Option<f64>,
}

fn better(candidate: &ThresholdTest, incumbent: &ThresholdTest) -> bool {
    let key = |t: &ThresholdTest| t.epsilon.unwrap_or(f64::NEG_INFINITY);
    key(candidate) > key(incumbent)
}

fn fold(tests: Vec<ThresholdTest>) -> SearchOutcome {
    let count = tests.len();
    let mut gdp = f64::NEG_INFINITY;
    let mut point: Option<f64> = None;
    let mut best: Option<ThresholdTest> = None;
    for t in tests {
        gdp = gdp.max(t.gdp_mu);
        if let Some(p) = t.point_epsilon {
            point = Some(point.map_or(p, |q| q.max(p)));
        }
        if best.as_ref().is_none_or(|b| better(&t, b)) {
            best = Some(t);
        }
    }
    SearchOutcome {
        best: best.expect("at least one test"),
        tests: count,
        gdp_mu_lower: gdp.max(0.0),
        point_estimate: point,
    }
}

/// Bonferroni over the tail grid: for each rank j of each side and each tail, the threshold
/// is that side's j-th order statistic, so that side's count beyond it is bounded through its
/// rank (distribution-free), and the other side's count is conditionally binomial.
pub fn grid_search(
    sides: &SortedSides,
    bounds: &RateBounds,
    delta: f64,
) -> Result<SearchOutcome, StatsError> {
    let n_u = sides.unlearned.len();
    let n_r = sides.retrained.len();
    let mut tests = Vec::with_capacity(grid_test_count(n_u, n_r));
    for j in tail_ranks(n_r) {
        let k = (j - 1) as u64;
        // Upper tail of the retrained side: few retrained above t.
        let t = sides.retrained[n_r - j];
        tests.push(sides.evaluate(
            Comparison::Greater,
            t,
            RankBound::FalsePositives(k),
            bounds,
            delta,
        )?);
        // Lower tail of the retrained side.
        let t = sides.retrained[j - 1];
        tests.push(sides.evaluate(
            Comparison::Less,
            t,
            RankBound::FalsePositives(k),
            bounds,
            delta,
        )?);
    }
    for j in tail_ranks(n_u) {
        let k = (j - 1) as u64;
        // Upper tail of the unlearned side: few unlearned above t, so "unlearned if ≤ t".
        let t = sides.unlearned[n_u - j];
        tests.push(sides.evaluate(
            Comparison::LessEqual,
            t,
            RankBound::FalseNegatives(k),
            bounds,
            delta,
        )?);
        // Lower tail of the unlearned side: "unlearned if ≥ t".
        let t = sides.unlearned[j - 1];
        tests.push(sides.evaluate(
            Comparison::GreaterEqual,
            t,
            RankBound::FalseNegatives(k),
            bounds,
            delta,
        )?);
    }
    Ok(fold(tests))
}

/// Every distinct threshold (both rule directions), bounded with plain Clopper–Pearson at the
/// given α: used to *choose* a test on the selection half of a split, never to certify.
pub fn best_on_selection(
    sides: &SortedSides,
    bounds: &RateBounds,
    delta: f64,
) -> Result<SearchOutcome, StatsError> {
    let mut tests = Vec::new();
    let n_u = sides.unlearned.len();
    let n_r = sides.retrained.len();
    for j in tail_ranks(n_r) {
        tests.push(sides.evaluate(
            Comparison::Greater,
            sides.retrained[n_r - j],
            RankBound::None,
            bounds,
            delta,
        )?);
        tests.push(sides.evaluate(
            Comparison::Less,
            sides.retrained[j - 1],
            RankBound::None,
            bounds,
            delta,
        )?);
    }
    for j in tail_ranks(n_u) {
        tests.push(sides.evaluate(
            Comparison::LessEqual,
            sides.unlearned[n_u - j],
            RankBound::None,
            bounds,
            delta,
        )?);
        tests.push(sides.evaluate(
            Comparison::GreaterEqual,
            sides.unlearned[j - 1],
            RankBound::None,
            bounds,
            delta,
        )?);
    }
    Ok(fold(tests))
}

/// A pre-registered threshold in both directions (two tests).
pub fn fixed_threshold(
    sides: &SortedSides,
    threshold: f64,
    bounds: &RateBounds,
    delta: f64,
) -> Result<SearchOutcome, StatsError> {
    let tests = vec![
        sides.evaluate(
            Comparison::Greater,
            threshold,
            RankBound::None,
            bounds,
            delta,
        )?,
        sides.evaluate(Comparison::Less, threshold, RankBound::None, bounds, delta)?,
    ];
    Ok(fold(tests))
}

/// The largest ε any single test can certify at this α per rate: zero errors on both sides.
pub fn ceiling(
    n_unlearned: u64,
    n_retrained: u64,
    alpha_per_rate: f64,
    delta: f64,
) -> Result<f64, StatsError> {
    let fpr = clopper_pearson_upper(0, n_retrained, alpha_per_rate)?;
    let fnr = clopper_pearson_upper(0, n_unlearned, alpha_per_rate)?;
    Ok(epsilon_from_rate_bounds(fpr, fnr, delta)
        .unwrap_or(0.0)
        .max(0.0))
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn grid_is_geometric_and_data_free() {
        assert_eq!(&tail_ranks(100)[..10], &[1, 2, 3, 4, 5, 6, 8, 11, 16, 23]);
        assert!(tail_ranks(100).iter().all(|&j| j <= 50));
        assert_eq!(tail_ranks(2), vec![1]);
    }

    #[test]
    fn zero_error_ceiling_matches_reference() {
        // epsilon-auditing.md §6.3: 4.93 (512), 5.60 (1e3), 7.90 (1e4) at α/2 = 0.025.
        for &(n, want) in &[(512u64, 4.93), (1000, 5.60), (10_000, 7.90)] {
            let c = ceiling(n, n, 0.025, 1e-5).unwrap();
            assert!((c - want).abs() < 0.01, "{n}: {c}");
        }
    }
}
