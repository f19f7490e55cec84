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
        // `1 − δ − rate` carries an absolute rounding error below 2·2⁻⁵³ (two subtractions of
        // numbers ≤ 1); taking 4·EPSILON off makes it a lower bound even when it nearly cancels.
        let numerator = 1.0 - delta - num_rate - 4.0 * f64::EPSILON;
        (numerator > 0.0 && den_rate > 0.0).then(|| {
            let (ln_numerator, ln_denominator) = (numerator.ln(), den_rate.ln());
            let value = ln_numerator - ln_denominator;
            // Each logarithm and the difference are correctly rounded to within an ulp of
            // their magnitude, so the absolute error is below 2·EPSILON·(|ln a| + |ln b| + |v|):
            // an ε near 0 from rates near 1e-6 needs this absolute margin, not a few ulps of v.
            value - 2.0 * f64::EPSILON * (ln_numerator.abs() + ln_denominator.abs() + value.abs())
        })
    };
    let best = match (branch(fpr_upper, fnr_upper), branch(fnr_upper, fpr_upper)) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    best.map(f64::next_down)
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
        // The two sides are sorted concurrently, each by one thread: as fast as two parallel
        // sorts one after the other on an idle machine, less synchronisation on a busy one.
        rayon::join(
            || unlearned.sort_unstable_by(f64::total_cmp),
            || retrained.sort_unstable_by(f64::total_cmp),
        );
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
        let point_epsilon = point_epsilon(false_positives, n_r, false_negatives, n_u, delta);
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

/// Haldane–Anscombe rate `(k + ½) / (n + 1)`: half a count added to each cell of the 2 × 2
/// table (Haldane 1956, Anscombe 1956), so a zero count gives a finite, positive rate.
pub fn half_count_rate(count: u64, n: f64) -> f64 {
    (count as f64 + 0.5) / (n + 1.0)
}

/// Point estimate of ε at one test: the two-branch formula with half-count (Haldane–Anscombe)
/// rates, floored at 0; defined at zero counts (perfect separation), never a bound
/// (`docs/epsilon.md` §5).
pub fn point_epsilon(
    false_positives: u64,
    n_retrained: u64,
    false_negatives: u64,
    n_unlearned: u64,
    delta: f64,
) -> Option<f64> {
    let fpr = half_count_rate(false_positives, n_retrained as f64);
    let fnr = half_count_rate(false_negatives, n_unlearned as f64);
    let a = (1.0 - delta - fpr > 0.0).then(|| (1.0 - delta - fpr).ln() - fnr.ln());
    let b = (1.0 - delta - fnr > 0.0).then(|| (1.0 - delta - fnr).ln() - fpr.ln());
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b).max(0.0)),
        (a, b) => a.or(b).map(|v| v.max(0.0)),
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
    tail_grid(sides, bounds, delta, true)
}

/// The tail grid's thresholds (both rule directions), bounded with plain Clopper–Pearson at the
/// given α: used to *choose* a test on the selection half of a split, never to certify.
pub fn best_on_selection(
    sides: &SortedSides,
    bounds: &RateBounds,
    delta: f64,
) -> Result<SearchOutcome, StatsError> {
    tail_grid(sides, bounds, delta, false)
}

/// The four tests per rank of the tail grid; `rank_bounds` bounds the threshold's own side
/// through its rank (certification) or by its plain count (selection).
fn tail_grid(
    sides: &SortedSides,
    bounds: &RateBounds,
    delta: f64,
    rank_bounds: bool,
) -> Result<SearchOutcome, StatsError> {
    let n_u = sides.unlearned.len();
    let n_r = sides.retrained.len();
    let rank = |bound: fn(u64) -> RankBound, j: usize| {
        if rank_bounds {
            bound((j - 1) as u64)
        } else {
            RankBound::None
        }
    };
    let mut tests = Vec::with_capacity(grid_test_count(n_u, n_r));
    for j in tail_ranks(n_r) {
        let bound = rank(RankBound::FalsePositives, j);
        // Upper tail of the retrained side: few retrained above t.
        let t = sides.retrained[n_r - j];
        tests.push(sides.evaluate(Comparison::Greater, t, bound, bounds, delta)?);
        // Lower tail of the retrained side.
        let t = sides.retrained[j - 1];
        tests.push(sides.evaluate(Comparison::Less, t, bound, bounds, delta)?);
    }
    for j in tail_ranks(n_u) {
        let bound = rank(RankBound::FalseNegatives, j);
        // Upper tail of the unlearned side: few unlearned above t, so "unlearned if ≤ t".
        let t = sides.unlearned[n_u - j];
        tests.push(sides.evaluate(Comparison::LessEqual, t, bound, bounds, delta)?);
        // Lower tail of the unlearned side: "unlearned if ≥ t".
        let t = sides.unlearned[j - 1];
        tests.push(sides.evaluate(Comparison::GreaterEqual, t, bound, bounds, delta)?);
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

/// Number of tests of the all-threshold family: every order statistic of each side (so every
/// pooled value) in both rule directions, `2 (n_u + n_r)`. Ties are counted, so the number
/// depends only on the side sizes, never on the data (`docs/epsilon.md` §3.5).
pub fn all_threshold_test_count(n_unlearned: usize, n_retrained: usize) -> usize {
    2 * (n_unlearned + n_retrained)
}

/// Counts at which a pruning level evaluates the exact bound: every count up to 64 from
/// either end, then geometric with ratio `ratio` in k from the bottom and in n − k from the
/// top (rates near 1 matter through 1 − rate, so both ends need fine anchors). Sorted.
fn anchor_counts(n: u64, ratio: f64) -> Vec<u64> {
    let mut low = Vec::new();
    let mut k = 0u64;
    while k <= n / 2 {
        low.push(k);
        k = if k < 64 {
            k + 1
        } else {
            ((k as f64 * ratio) as u64).max(k + 1)
        };
    }
    let mut anchors: Vec<u64> = low
        .iter()
        .copied()
        .chain(low.iter().map(|&a| n - a))
        .collect();
    anchors.sort_unstable();
    anchors.dedup();
    anchors
}

/// Exact Clopper–Pearson upper bounds of one side, computed once per count on demand (with
/// Φ⁻¹(1 − bound) and Φ⁻¹(bound) for the GDP pruning), and the anchor sets of the pruning
/// levels: a count's floor at a level is the exact bound at the largest anchor ≤ it, a lower
/// bound because the Clopper–Pearson upper bound increases in k (`docs/epsilon.md` §3.5).
struct ExactRates<'a> {
    bounds: &'a RateBounds,
    n: u64,
    retrained: bool,
    cache: Vec<f64>,
    quantile_upper: Vec<f64>,
    quantile_lower: Vec<f64>,
    /// Coarse (ratio 1.01) and fine (ratio 1.001) anchors; empty when the bounds are
    /// tabulated (every count is then exact and free).
    levels: [Vec<u64>; 2],
}

impl<'a> ExactRates<'a> {
    fn new(bounds: &'a RateBounds, n: u64, retrained: bool, gdp: bool) -> Self {
        let tabulated = bounds.table_unlearned.is_some() && bounds.table_retrained.is_some();
        let size = n as usize + 1;
        ExactRates {
            bounds,
            n,
            retrained,
            cache: vec![f64::NAN; size],
            quantile_upper: if gdp {
                vec![f64::NAN; size]
            } else {
                Vec::new()
            },
            quantile_lower: if gdp {
                vec![f64::NAN; size]
            } else {
                Vec::new()
            },
            levels: if tabulated {
                [Vec::new(), Vec::new()]
            } else {
                [anchor_counts(n, 1.01), anchor_counts(n, 1.001)]
            },
        }
    }

    fn get(&mut self, k: u64) -> Result<f64, StatsError> {
        let slot = &mut self.cache[k as usize];
        if slot.is_nan() {
            *slot = if self.retrained {
                self.bounds.retrained(k, self.n)?
            } else {
                self.bounds.unlearned(k, self.n)?
            };
        }
        Ok(*slot)
    }

    /// (Φ⁻¹(1 − u_k), Φ⁻¹(u_k)) for the exact bound u_k; −∞ where undefined.
    fn quantiles(&mut self, k: u64) -> Result<(f64, f64), StatsError> {
        let i = k as usize;
        if self.quantile_upper[i].is_nan() {
            let rate = self.get(k)?;
            self.quantile_upper[i] = normal_quantile_upper(rate).unwrap_or(f64::NEG_INFINITY);
            self.quantile_lower[i] = normal_quantile(rate).unwrap_or(f64::NEG_INFINITY);
        }
        Ok((self.quantile_upper[i], self.quantile_lower[i]))
    }

    /// The count whose exact bound is the floor of count `k` at `level`.
    fn anchor(&self, level: usize, k: u64) -> u64 {
        let anchors = &self.levels[level];
        anchors[anchors.partition_point(|&a| a <= k) - 1]
    }
}

/// One member of the all-threshold family: the rule and the threshold's position in the
/// sorted side it is taken from (retrained for `>`/`<`, unlearned for `≤`/`≥`).
#[derive(Debug, Clone, Copy)]
struct FamilyTest {
    comparison: Comparison,
    index: usize,
}

/// State of the pruned all-threshold search.
struct PrunedSearch<'a> {
    exact_unlearned: ExactRates<'a>,
    exact_retrained: ExactRates<'a>,
    n_unlearned: f64,
    n_retrained: f64,
    one_minus_delta: f64,
    delta: f64,
    gdp: bool,
    best: Option<FamilyTest>,
    best_epsilon: f64,
    /// e^best_epsilon, for comparisons without a logarithm per test.
    best_ratio: f64,
    best_mu: f64,
    /// Largest raw-rate ratio (1 − δ − rate)/(other rate) over tests with no zero rate.
    point_ratio: f64,
    exact_evaluations: usize,
}

impl PrunedSearch<'_> {
    /// One test: `fp_bound`/`fn_bound` are the counts its bounds use, `fp`/`fn_` the raw
    /// counts (different only under ties on the threshold's own side).
    fn consider(
        &mut self,
        test: FamilyTest,
        fp_bound: u64,
        fn_bound: u64,
        fp: u64,
        fn_: u64,
    ) -> Result<(), StatsError> {
        {
            let (fpr, fnr) = (
                half_count_rate(fp, self.n_retrained),
                half_count_rate(fn_, self.n_unlearned),
            );
            self.point_ratio = self
                .point_ratio
                .max((self.one_minus_delta - fpr) / fnr)
                .max((self.one_minus_delta - fnr) / fpr);
        }
        // Level 0: the raw-rate floors k/n (the Clopper–Pearson upper bound is ≥ k/n);
        // levels 1 and 2: exact bounds at the coarse and fine anchors below the counts.
        // A test survives a level when its floor ε (both branches decrease in each rate) or
        // floor μ reaches the best so far; only survivors of every level are computed exactly.
        let levels = self.exact_retrained.levels[0].len().min(1) * 2;
        for level in 0..=levels {
            let (fpr_floor, fnr_floor, fp_anchor, fn_anchor) = if level == 0 {
                (
                    fp_bound as f64 / self.n_retrained,
                    fn_bound as f64 / self.n_unlearned,
                    None,
                    None,
                )
            } else {
                let fp_anchor = self.exact_retrained.anchor(level - 1, fp_bound);
                let fn_anchor = self.exact_unlearned.anchor(level - 1, fn_bound);
                (
                    self.exact_retrained.get(fp_anchor)?,
                    self.exact_unlearned.get(fn_anchor)?,
                    Some(fp_anchor),
                    Some(fn_anchor),
                )
            };
            // Ratio space (no logarithm per test), with a 1e-12 relative margin for rounding;
            // a zero floor (count 0 at level 0) gives an infinite ratio: never pruned.
            let ratio_floor = ((self.one_minus_delta - fpr_floor) / fnr_floor)
                .max((self.one_minus_delta - fnr_floor) / fpr_floor);
            let epsilon_may_beat = self.best.is_none()
                || ratio_floor.is_nan()
                || ratio_floor * (1.0 + 1e-12) >= self.best_ratio;
            // The μ floor needs Φ⁻¹ of the floors: only at the anchor levels (cached per
            // count); level 0 never prunes a test when μ is wanted.
            let mu_may_beat = self.gdp
                && match (fp_anchor, fn_anchor) {
                    (Some(a), Some(b)) => {
                        let (ru, rl) = self.exact_retrained.quantiles(a)?;
                        let (uu, ul) = self.exact_unlearned.quantiles(b)?;
                        let mu_floor = (ru - ul).max(uu - rl);
                        mu_floor.is_nan() || mu_floor + 1e-9 >= self.best_mu
                    }
                    _ => true,
                };
            if !(epsilon_may_beat || mu_may_beat) {
                return Ok(());
            }
        }
        self.exact_evaluations += 1;
        let fpr_upper = self.exact_retrained.get(fp_bound)?;
        let fnr_upper = self.exact_unlearned.get(fn_bound)?;
        let epsilon =
            epsilon_from_rate_bounds(fpr_upper, fnr_upper, self.delta).unwrap_or(f64::NEG_INFINITY);
        if self.best.is_none() || epsilon > self.best_epsilon {
            self.best = Some(test);
            self.best_epsilon = epsilon;
            self.best_ratio = epsilon.exp();
        }
        if self.gdp {
            // `gdp_mu` from per-count cached quantiles (same arithmetic, no repeated Φ⁻¹).
            let (ru, rl) = self.exact_retrained.quantiles(fp_bound)?;
            let (uu, ul) = self.exact_unlearned.quantiles(fn_bound)?;
            let one = |x: f64, y: f64| {
                let d = x - y;
                if d.is_finite() { d } else { f64::NEG_INFINITY }
            };
            self.best_mu = self.best_mu.max(one(ru, ul).max(one(uu, rl)).next_down());
        }
        Ok(())
    }
}

/// For each value of an ascending slice: its index, the numbers of values of the same slice
/// strictly below and strictly above it (ties), and of `other` strictly below and at or
/// below it (two pointers, O(n + m)).
fn sweep(
    values: &[f64],
    other: &[f64],
    mut visit: impl FnMut(usize, u64, u64, u64, u64) -> Result<(), StatsError>,
) -> Result<(), StatsError> {
    let (mut below, mut at_or_below) = (0usize, 0usize);
    let mut run_start = 0usize;
    let mut run_end = 0usize; // one past the last index equal to values[run_start]
    for (i, &t) in values.iter().enumerate() {
        if i >= run_end {
            run_start = i;
            run_end = i + 1;
            while run_end < values.len() && values[run_end] <= t {
                run_end += 1;
            }
        }
        while below < other.len() && other[below] < t {
            below += 1;
        }
        at_or_below = at_or_below.max(below);
        while at_or_below < other.len() && other[at_or_below] <= t {
            at_or_below += 1;
        }
        visit(
            i,
            run_start as u64,
            (values.len() - run_end) as u64,
            below as u64,
            at_or_below as u64,
        )?;
    }
    Ok(())
}

/// Bonferroni over every threshold (`--selection bonferroni-all`): each order statistic of
/// each side in both rule directions, `2 (n_u + n_r)` tests at `bounds.alpha_per_rate`, with
/// the rank argument of the grid on the threshold's own side (so the union bound runs over a
/// family fixed in advance). Exact Clopper–Pearson bounds are computed only for tests whose
/// cheap upper bound on ε (or on μ, when `gdp`) reaches the best so far; the certified result
/// equals the exhaustive search's (`docs/epsilon.md` §3.5). `gdp_mu_lower` is the maximum
/// over the tests evaluated exactly, which is the maximum over all tests when `gdp`.
pub fn all_threshold_search(
    sides: &SortedSides,
    bounds: &RateBounds,
    delta: f64,
    gdp: bool,
) -> Result<AllThresholdOutcome, StatsError> {
    let (u, r) = (&sides.unlearned, &sides.retrained);
    let (n_u, n_r) = (u.len() as u64, r.len() as u64);
    let mut search = PrunedSearch {
        exact_unlearned: ExactRates::new(bounds, n_u, false, gdp),
        exact_retrained: ExactRates::new(bounds, n_r, true, gdp),
        n_unlearned: n_u as f64,
        n_retrained: n_r as f64,
        one_minus_delta: 1.0 - delta,
        delta,
        gdp,
        best: None,
        best_epsilon: f64::NEG_INFINITY,
        best_ratio: 0.0,
        best_mu: f64::NEG_INFINITY,
        point_ratio: f64::NEG_INFINITY,
        exact_evaluations: 0,
    };
    // Thresholds at retrained order statistics. "> r[i]": the retrained count above is bounded
    // by its rank from the top (n_r − 1 − i); "< r[i]": by its rank from the bottom (i). The
    // unlearned count is the observed one (conditionally binomial).
    let retrained_visit = |search: &mut PrunedSearch,
                           i: usize,
                           same_below: u64,
                           same_above: u64,
                           other_below: u64,
                           other_at_or_below: u64|
     -> Result<(), StatsError> {
        let i = i as u64;
        search.consider(
            FamilyTest {
                comparison: Comparison::Greater,
                index: i as usize,
            },
            same_above.max(n_r - 1 - i),
            other_at_or_below,
            same_above,
            other_at_or_below,
        )?;
        search.consider(
            FamilyTest {
                comparison: Comparison::Less,
                index: i as usize,
            },
            same_below.max(i),
            n_u - other_below,
            same_below,
            n_u - other_below,
        )
    };
    // Thresholds at unlearned order statistics: "≤ u[i]" (unlearned above bounded by rank
    // n_u − 1 − i) and "≥ u[i]" (unlearned below bounded by rank i).
    let unlearned_visit = |search: &mut PrunedSearch,
                           i: usize,
                           same_below: u64,
                           same_above: u64,
                           other_below: u64,
                           other_at_or_below: u64|
     -> Result<(), StatsError> {
        let i = i as u64;
        search.consider(
            FamilyTest {
                comparison: Comparison::LessEqual,
                index: i as usize,
            },
            other_at_or_below,
            same_above.max(n_u - 1 - i),
            other_at_or_below,
            same_above,
        )?;
        search.consider(
            FamilyTest {
                comparison: Comparison::GreaterEqual,
                index: i as usize,
            },
            n_r - other_below,
            same_below.max(i),
            n_r - other_below,
            same_below,
        )
    };
    // A strong incumbent first: the members at the tail-grid ranks (where the best test
    // usually is), then every member in sweep order.
    {
        let mut visit_ranks =
            |values: &[f64], other: &[f64], retrained_side: bool| -> Result<(), StatsError> {
                let n = values.len();
                for j in tail_ranks(n) {
                    for i in [j - 1, n - j] {
                        let t = values[i];
                        let same_below = values.partition_point(|&x| x < t) as u64;
                        let same_above = (n - values.partition_point(|&x| x <= t)) as u64;
                        let other_below = other.partition_point(|&x| x < t) as u64;
                        let other_at_or_below = other.partition_point(|&x| x <= t) as u64;
                        if retrained_side {
                            retrained_visit(
                                &mut search,
                                i,
                                same_below,
                                same_above,
                                other_below,
                                other_at_or_below,
                            )?;
                        } else {
                            unlearned_visit(
                                &mut search,
                                i,
                                same_below,
                                same_above,
                                other_below,
                                other_at_or_below,
                            )?;
                        }
                    }
                }
                Ok(())
            };
        visit_ranks(r, u, true)?;
        visit_ranks(u, r, false)?;
    }
    sweep(r, u, |i, sb, sa, ob, oab| {
        retrained_visit(&mut search, i, sb, sa, ob, oab)
    })?;
    sweep(u, r, |i, sb, sa, ob, oab| {
        unlearned_visit(&mut search, i, sb, sa, ob, oab)
    })?;

    let chosen = search.best.expect("every side has at least one value");
    let (threshold, rank_bound) = match chosen.comparison {
        Comparison::Greater => (
            r[chosen.index],
            RankBound::FalsePositives(n_r - 1 - chosen.index as u64),
        ),
        Comparison::Less => (
            r[chosen.index],
            RankBound::FalsePositives(chosen.index as u64),
        ),
        Comparison::LessEqual => (
            u[chosen.index],
            RankBound::FalseNegatives(n_u - 1 - chosen.index as u64),
        ),
        Comparison::GreaterEqual => (
            u[chosen.index],
            RankBound::FalseNegatives(chosen.index as u64),
        ),
    };
    let best = sides.evaluate(chosen.comparison, threshold, rank_bound, bounds, delta)?;
    let point_estimate = (search.point_ratio > 0.0).then(|| search.point_ratio.ln().max(0.0));
    let gdp_mu_lower = search.best_mu.max(best.gdp_mu).max(0.0);
    Ok(AllThresholdOutcome {
        search: SearchOutcome {
            best,
            tests: all_threshold_test_count(u.len(), r.len()),
            gdp_mu_lower,
            point_estimate,
        },
        exact_evaluations: search.exact_evaluations,
    })
}

/// Result of [`all_threshold_search`], with how many of the `2 (n_u + n_r)` tests needed
/// exact Clopper–Pearson bounds after pruning.
#[derive(Debug, Clone)]
pub struct AllThresholdOutcome {
    pub search: SearchOutcome,
    pub exact_evaluations: usize,
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

    /// Exhaustive reference: every member of the all-threshold family evaluated exactly.
    #[allow(clippy::needless_range_loop)]
    fn exhaustive_all(sides: &SortedSides, bounds: &RateBounds, delta: f64) -> SearchOutcome {
        let (u, r) = (&sides.unlearned, &sides.retrained);
        let (n_u, n_r) = (u.len() as u64, r.len() as u64);
        let mut tests = Vec::new();
        for i in 0..r.len() {
            let k = i as u64;
            tests.push(
                sides
                    .evaluate(
                        Comparison::Greater,
                        r[i],
                        RankBound::FalsePositives(n_r - 1 - k),
                        bounds,
                        delta,
                    )
                    .unwrap(),
            );
            tests.push(
                sides
                    .evaluate(
                        Comparison::Less,
                        r[i],
                        RankBound::FalsePositives(k),
                        bounds,
                        delta,
                    )
                    .unwrap(),
            );
        }
        for i in 0..u.len() {
            let k = i as u64;
            tests.push(
                sides
                    .evaluate(
                        Comparison::LessEqual,
                        u[i],
                        RankBound::FalseNegatives(n_u - 1 - k),
                        bounds,
                        delta,
                    )
                    .unwrap(),
            );
            tests.push(
                sides
                    .evaluate(
                        Comparison::GreaterEqual,
                        u[i],
                        RankBound::FalseNegatives(k),
                        bounds,
                        delta,
                    )
                    .unwrap(),
            );
        }
        assert_eq!(tests.len(), all_threshold_test_count(u.len(), r.len()));
        fold(tests)
    }

    fn sample(n: usize, shift: f64, scale: f64, seed: u64, round: bool) -> Vec<f64> {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        (0..n)
            .map(|_| {
                let x = shift + scale * rng.sample::<f64, _>(rand_distr::StandardNormal);
                if round { (x * 2.0).round() / 2.0 } else { x }
            })
            .collect()
    }

    #[test]
    fn pruned_all_threshold_search_equals_exhaustive() {
        // Continuous and heavily tied data, either direction, unequal sizes.
        for (case, (shift, scale, round)) in [
            (0.8, 1.0, false),
            (-0.5, 1.0, false),
            (0.6, 1.5, true),
            (0.0, 1.0, true),
        ]
        .into_iter()
        .enumerate()
        {
            let sides = SortedSides::new(
                sample(700, shift, scale, 10 + case as u64, round),
                sample(600, 0.0, 1.0, 20 + case as u64, round),
            );
            let tests = all_threshold_test_count(700, 600);
            let bounds = RateBounds::direct(0.05 / tests as f64 / 2.0);
            let want = exhaustive_all(&sides, &bounds, 1e-5);
            for gdp in [false, true] {
                let got = all_threshold_search(&sides, &bounds, 1e-5, gdp).unwrap();
                assert_eq!(got.search.best.epsilon, want.best.epsilon, "case {case}");
                assert_eq!(
                    got.search.best.fpr_upper, want.best.fpr_upper,
                    "case {case}"
                );
                assert_eq!(
                    got.search.best.fnr_upper, want.best.fnr_upper,
                    "case {case}"
                );
                assert_eq!(got.search.tests, want.tests);
                let (a, b) = (
                    got.search.point_estimate.unwrap(),
                    want.point_estimate.unwrap(),
                );
                assert!(
                    (a - b).abs() <= 1e-12 * b.abs().max(1.0),
                    "case {case}: {a} {b}"
                );
                if gdp {
                    assert_eq!(got.search.gdp_mu_lower, want.gdp_mu_lower, "case {case}");
                }
                assert!(
                    got.exact_evaluations < tests,
                    "case {case}: pruning never prunes"
                );
            }
            // The same from tabulated bounds (per-example path): no pruning floor gap.
            let table = RateBounds::tabulated(bounds.alpha_per_rate, 700, 600).unwrap();
            let got = all_threshold_search(&sides, &table, 1e-5, false).unwrap();
            assert_eq!(
                got.search.best.epsilon, want.best.epsilon,
                "case {case} tabulated"
            );
        }
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
