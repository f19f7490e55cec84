//! The one ROC engine under every attack.
//!
//! Scores are oriented so that higher means member. The ROC is built from tie blocks (equal
//! scores form one diagonal segment, never split by arbitrary order), the AUC is the
//! Mann–Whitney statistic computed in integers, its variance is DeLong's from placement values
//! (O(n log n), Sun & Xu 2014), the bootstrap is stratified and seeded, TPR at a list of FPRs
//! follows the step convention with Clopper–Pearson intervals. Definitions, sources and the
//! estimand of each interval: `docs/mia.md` §4.

use std::collections::BTreeMap;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::Serialize;

use super::{MiaError, check_finite};
use crate::stats;

/// Which ROC points count for "TPR at FPR α".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FprConvention {
    /// Largest TPR over points with FPR ≤ α (ML Privacy Meter; the default).
    AtMost,
    /// Largest TPR over points with FPR < α (the LiRA reference code).
    Below,
}

/// A two-sided interval with its confidence and how it was computed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Interval {
    pub lower: f64,
    pub upper: f64,
    pub confidence: f64,
    pub method: &'static str,
}

impl Interval {
    /// Whether the interval contains `value`.
    pub fn contains(&self, value: f64) -> bool {
        self.lower <= value && value <= self.upper
    }
}

/// Settings of the ROC summary.
#[derive(Debug, Clone, PartialEq)]
pub struct RocConfig {
    /// FPR levels α at which TPR is reported, each in (0, 1].
    pub fprs: Vec<f64>,
    /// Confidence of every interval, in (0, 1).
    pub confidence: f64,
    pub convention: FprConvention,
    /// Stratified bootstrap replicates (0: no bootstrap intervals).
    pub bootstrap_replicates: usize,
    /// Master seed of the bootstrap (one ChaCha8 stream per replicate).
    pub seed: u64,
    /// Include every ROC point in the summary.
    pub curve: bool,
}

impl Default for RocConfig {
    fn default() -> Self {
        RocConfig {
            fprs: vec![0.001, 0.01, 0.1],
            confidence: 0.95,
            convention: FprConvention::AtMost,
            bootstrap_replicates: 0,
            seed: 0,
            curve: false,
        }
    }
}

impl RocConfig {
    /// Checks the parameters.
    pub fn check(&self) -> Result<(), MiaError> {
        if !(self.confidence > 0.0 && self.confidence < 1.0) {
            return Err(MiaError::parameter(
                "confidence",
                format!("{} is not in (0, 1)", self.confidence),
            ));
        }
        if let Some(bad) = self.fprs.iter().find(|a| !(**a > 0.0 && **a <= 1.0)) {
            return Err(MiaError::parameter(
                "fpr",
                format!("{bad} is not in (0, 1]"),
            ));
        }
        if self.bootstrap_replicates == 1 {
            return Err(MiaError::parameter(
                "bootstrap",
                "one replicate cannot give an interval; use 0 (none) or at least 2",
            ));
        }
        Ok(())
    }
}

/// One point of the ROC: predict member iff score ≥ `threshold`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CurvePoint {
    pub threshold: f64,
    pub fpr: f64,
    pub tpr: f64,
}

/// The exact ROC of member vs non-member scores, with the placement values DeLong needs.
#[derive(Debug, Clone)]
pub struct Roc {
    n_members: usize,
    n_nonmembers: usize,
    /// Distinct scores, descending.
    thresholds: Vec<f64>,
    /// Members / non-members with score ≥ thresholds[g] (cumulative, per block g).
    members_at_or_above: Vec<u64>,
    nonmembers_at_or_above: Vec<u64>,
    /// 2·U (Mann–Whitney with half credit for ties), exact.
    twice_u: u128,
    /// V₁₀ of each member, in input order: share of non-members it beats (ties ½).
    member_placements: Vec<f64>,
    /// V₀₁ of each non-member, in input order: share of members that beat it (ties ½).
    nonmember_placements: Vec<f64>,
}

impl Roc {
    /// Builds the ROC. Both sets must be non-empty and finite.
    pub fn new(members: &[f64], nonmembers: &[f64]) -> Result<Roc, MiaError> {
        if members.is_empty() {
            return Err(MiaError::OneClass {
                array: "member scores".into(),
                present: "non-members (no member)".into(),
            });
        }
        if nonmembers.is_empty() {
            return Err(MiaError::OneClass {
                array: "non-member scores".into(),
                present: "members (no non-member)".into(),
            });
        }
        check_finite("member scores", members)?;
        check_finite("non-member scores", nonmembers)?;
        let n1 = members.len();
        let n0 = nonmembers.len();
        // (score, index, is_member), sorted by score descending.
        let mut order: Vec<(f64, u32, bool)> = members
            .iter()
            .enumerate()
            .map(|(i, &s)| (s, i as u32, true))
            .chain(
                nonmembers
                    .iter()
                    .enumerate()
                    .map(|(i, &s)| (s, i as u32, false)),
            )
            .collect();
        order.par_sort_unstable_by(|a, b| b.0.total_cmp(&a.0));

        let mut thresholds = Vec::new();
        let mut members_at_or_above = Vec::new();
        let mut nonmembers_at_or_above = Vec::new();
        let mut member_placements = vec![0.0; n1];
        let mut nonmember_placements = vec![0.0; n0];
        let mut twice_u: u128 = 0;
        let (mut tp, mut fp) = (0u64, 0u64);
        let mut start = 0;
        while start < order.len() {
            let score = order[start].0;
            let mut end = start;
            // -0.0 and 0.0 are equal scores: compare with ==, not total_cmp.
            while end < order.len() && order[end].0 == score {
                end += 1;
            }
            let block = &order[start..end];
            let p = block.iter().filter(|e| e.2).count() as u64;
            let q = block.len() as u64 - p;
            let nonmembers_below = n0 as u64 - fp - q;
            twice_u += p as u128 * (2 * nonmembers_below as u128 + q as u128);
            let member_placement = (nonmembers_below as f64 + 0.5 * q as f64) / n0 as f64;
            let nonmember_placement = (tp as f64 + 0.5 * p as f64) / n1 as f64;
            for &(_, index, is_member) in block {
                if is_member {
                    member_placements[index as usize] = member_placement;
                } else {
                    nonmember_placements[index as usize] = nonmember_placement;
                }
            }
            tp += p;
            fp += q;
            thresholds.push(score);
            members_at_or_above.push(tp);
            nonmembers_at_or_above.push(fp);
            start = end;
        }
        Ok(Roc {
            n_members: n1,
            n_nonmembers: n0,
            thresholds,
            members_at_or_above,
            nonmembers_at_or_above,
            twice_u,
            member_placements,
            nonmember_placements,
        })
    }

    pub fn n_members(&self) -> usize {
        self.n_members
    }
    pub fn n_nonmembers(&self) -> usize {
        self.n_nonmembers
    }

    /// AUC = U / (n₁ n₀), ties counted ½ (equals the trapezoid area under the ROC).
    pub fn auc(&self) -> f64 {
        self.twice_u as f64 / (2.0 * self.n_members as f64 * self.n_nonmembers as f64)
    }

    /// The ROC points, starting at (0, 0) with threshold +∞ and ending at (1, 1).
    pub fn curve(&self) -> Vec<CurvePoint> {
        let mut points = Vec::with_capacity(self.thresholds.len() + 1);
        points.push(CurvePoint {
            threshold: f64::INFINITY,
            fpr: 0.0,
            tpr: 0.0,
        });
        for g in 0..self.thresholds.len() {
            points.push(CurvePoint {
                threshold: self.thresholds[g],
                fpr: self.nonmembers_at_or_above[g] as f64 / self.n_nonmembers as f64,
                tpr: self.members_at_or_above[g] as f64 / self.n_members as f64,
            });
        }
        points
    }

    /// DeLong variance of the AUC: S₁₀/n₁ + S₀₁/n₀ with sample variances of the placements.
    /// `None` when a side has fewer than two examples.
    pub fn delong_variance(&self) -> Option<f64> {
        let v10 = sample_covariance(&self.member_placements, &self.member_placements)?;
        let v01 = sample_covariance(&self.nonmember_placements, &self.nonmember_placements)?;
        Some(v10 / self.n_members as f64 + v01 / self.n_nonmembers as f64)
    }

    /// Two-sided Mann–Whitney test of H0 "members and non-members are exchangeable" (so
    /// AUC = ½), from the permutation distribution of U: exact (DP over tie blocks on doubled
    /// mid-ranks) when affordable, the tie-corrected normal approximation with continuity
    /// correction when min(n₁, n₀) ≥ [`MANN_WHITNEY_NORMAL_MIN`], otherwise a seeded Monte
    /// Carlo permutation p-value (1 + #≥)/(1 + B), which is conservative. `docs/mia.md` §4.4.
    pub fn mann_whitney_test(&self) -> MannWhitney {
        let (n1, n0) = (self.n_members as u64, self.n_nonmembers as u64);
        let total = n1 + n0;
        let smaller = n1.min(n0);
        // Block sizes in ascending score order (the thresholds are descending).
        let mut block_sizes: Vec<u64> = Vec::with_capacity(self.thresholds.len());
        let (mut previous_members, mut previous_nonmembers) = (0u64, 0u64);
        for g in 0..self.thresholds.len() {
            let size = self.members_at_or_above[g] - previous_members
                + self.nonmembers_at_or_above[g]
                - previous_nonmembers;
            previous_members = self.members_at_or_above[g];
            previous_nonmembers = self.nonmembers_at_or_above[g];
            block_sizes.push(size);
        }
        block_sizes.reverse();
        // Doubled mid-rank of each block (integers): block of ranks a+1..a+t has 2a + t + 1.
        let mut doubled_ranks = Vec::with_capacity(block_sizes.len());
        let mut below = 0u64;
        for &size in &block_sizes {
            doubled_ranks.push(2 * below + size + 1);
            below += size;
        }
        // |2W − m(N+1)| for the smaller side's doubled rank sum 2W = 2U_s + m(m+1); the
        // two-sided statistic is the same whichever side is taken (U₁ + U₀ = n₁n₀).
        let twice_u_smaller = if n1 <= n0 {
            self.twice_u
        } else {
            2 * n1 as u128 * n0 as u128 - self.twice_u
        };
        let doubled_rank_sum = twice_u_smaller + smaller as u128 * (smaller as u128 + 1);
        let centre = smaller as u128 * (total as u128 + 1);
        let observed_deviation = doubled_rank_sum.abs_diff(centre);
        let exact_cost = 2.0 * (smaller as f64).powi(2) * (total as f64).powi(2);
        if smaller < MANN_WHITNEY_NORMAL_MIN as u64 && exact_cost <= MANN_WHITNEY_EXACT_COST {
            let p_value = exact_rank_sum_tail(
                &block_sizes,
                &doubled_ranks,
                smaller as usize,
                centre,
                observed_deviation,
            );
            MannWhitney {
                p_value,
                method: "exact_mann_whitney",
            }
        } else if smaller >= MANN_WHITNEY_NORMAL_MIN as u64 {
            let (n1f, n0f, nf) = (n1 as f64, n0 as f64, total as f64);
            let tie_sum: f64 = block_sizes
                .iter()
                .map(|&t| (t as f64).powi(3) - t as f64)
                .sum();
            let variance = n1f * n0f / 12.0 * ((nf + 1.0) - tie_sum / (nf * (nf - 1.0)));
            let p_value = if variance <= 0.0 {
                1.0
            } else {
                // |U − n₁n₀/2| = deviation/2 (doubled units), continuity correction ½.
                let z = ((observed_deviation as f64 / 2.0 - 0.5).max(0.0)) / variance.sqrt();
                (2.0 * stats::normal_sf(z)).min(1.0)
            };
            MannWhitney {
                p_value,
                method: "normal_mann_whitney_tie_corrected",
            }
        } else {
            use rand::RngExt;
            let mut rng = ChaCha8Rng::seed_from_u64(MANN_WHITNEY_PERMUTATION_SEED);
            let mut ranks: Vec<u64> = block_sizes
                .iter()
                .zip(&doubled_ranks)
                .flat_map(|(&t, &r)| std::iter::repeat_n(r, t as usize))
                .collect();
            let n = ranks.len();
            let m = smaller as usize;
            let mut at_least_as_extreme = 0u64;
            for _ in 0..MANN_WHITNEY_PERMUTATIONS {
                // Partial Fisher–Yates: the first m positions are a uniform random subset.
                let mut sum: u128 = 0;
                for i in 0..m {
                    let j = rng.random_range(i..n);
                    ranks.swap(i, j);
                    sum += ranks[i] as u128;
                }
                if sum.abs_diff(centre) >= observed_deviation {
                    at_least_as_extreme += 1;
                }
            }
            MannWhitney {
                p_value: (1 + at_least_as_extreme) as f64 / (1 + MANN_WHITNEY_PERMUTATIONS) as f64,
                method: "monte_carlo_permutation_mann_whitney",
            }
        }
    }

    /// DeLong covariance of the AUCs of two ROCs on the same examples (paired): members and
    /// non-members must be the same examples in the same order in both.
    pub fn delong_covariance(&self, other: &Roc) -> Result<Option<f64>, MiaError> {
        if self.n_members != other.n_members || self.n_nonmembers != other.n_nonmembers {
            return Err(MiaError::ShapeMismatch {
                array: "paired ROC (members, non-members)".into(),
                expected: vec![self.n_members, self.n_nonmembers],
                found: vec![other.n_members, other.n_nonmembers],
            });
        }
        let c10 = sample_covariance(&self.member_placements, &other.member_placements);
        let c01 = sample_covariance(&self.nonmember_placements, &other.nonmember_placements);
        Ok(match (c10, c01) {
            (Some(c10), Some(c01)) => {
                Some(c10 / self.n_members as f64 + c01 / self.n_nonmembers as f64)
            }
            _ => None,
        })
    }

    /// Index of the ROC point (0 = origin, g + 1 = block g) chosen for level α.
    fn step_point(&self, alpha: f64, convention: FprConvention) -> usize {
        let n0 = self.n_nonmembers as f64;
        // Cumulative FP counts increase with g, so the admissible points are a prefix.
        self.nonmembers_at_or_above.partition_point(|&fp| {
            let fpr = fp as f64 / n0;
            match convention {
                FprConvention::AtMost => fpr <= alpha,
                FprConvention::Below => fpr < alpha,
            }
        })
    }

    fn counts_at_point(&self, point: usize) -> (u64, u64) {
        if point == 0 {
            (0, 0)
        } else {
            (
                self.members_at_or_above[point - 1],
                self.nonmembers_at_or_above[point - 1],
            )
        }
    }

    /// TPR at FPR level α (step convention): the largest TPR over admissible ROC points.
    pub fn tpr_at_fpr(&self, alpha: f64, convention: FprConvention) -> f64 {
        let (tp, _) = self.counts_at_point(self.step_point(alpha, convention));
        tp as f64 / self.n_members as f64
    }

    /// Neyman–Pearson (randomised) TPR at FPR exactly α: linear interpolation between the
    /// step point and the next point.
    pub fn tpr_at_fpr_interpolated(&self, alpha: f64) -> f64 {
        let point = self.step_point(alpha, FprConvention::AtMost);
        let (tp, fp) = self.counts_at_point(point);
        let (n1, n0) = (self.n_members as f64, self.n_nonmembers as f64);
        if point == self.thresholds.len() {
            return tp as f64 / n1;
        }
        let (tp_next, fp_next) = self.counts_at_point(point + 1);
        let (fpr, fpr_next) = (fp as f64 / n0, fp_next as f64 / n0);
        let (tpr, tpr_next) = (tp as f64 / n1, tp_next as f64 / n1);
        let t = ((alpha - fpr) / (fpr_next - fpr)).clamp(0.0, 1.0);
        tpr + t * (tpr_next - tpr)
    }

    /// The point maximising TPR − FPR (first, i.e. highest threshold, on ties), excluding the
    /// origin: (threshold, TPR − FPR).
    pub(crate) fn best_advantage_point(&self) -> (f64, f64) {
        let (n1, n0) = (self.n_members as f64, self.n_nonmembers as f64);
        let mut best = (self.thresholds[0], f64::NEG_INFINITY);
        for g in 0..self.thresholds.len() {
            let gap = self.members_at_or_above[g] as f64 / n1
                - self.nonmembers_at_or_above[g] as f64 / n0;
            if gap > best.1 {
                best = (self.thresholds[g], gap);
            }
        }
        best
    }

    /// Attacker advantage max |TPR − FPR| over the ROC points (TF Privacy).
    pub fn advantage(&self) -> f64 {
        let (n1, n0) = (self.n_members as f64, self.n_nonmembers as f64);
        (0..self.thresholds.len())
            .map(|g| {
                (self.members_at_or_above[g] as f64 / n1
                    - self.nonmembers_at_or_above[g] as f64 / n0)
                    .abs()
            })
            .fold(0.0, f64::max)
    }

    /// Summarises the ROC with every interval.
    pub fn summary(&self, config: &RocConfig) -> Result<RocSummary, MiaError> {
        config.check()?;
        let confidence = config.confidence;
        let z = stats::normal_quantile_upper((1.0 - confidence) / 2.0)
            .map_err(|e| MiaError::parameter("confidence", e.to_string()))?;
        let auc = self.auc();
        let (auc_ci, auc_ci_reason, auc_standard_error) = match self.delong_variance() {
            Some(variance) => {
                let se = variance.max(0.0).sqrt();
                (
                    Some(Interval {
                        lower: (auc - z * se).next_down().clamp(0.0, 1.0),
                        upper: (auc + z * se).next_up().clamp(0.0, 1.0),
                        confidence,
                        method: "delong",
                    }),
                    None,
                    Some(se),
                )
            }
            None => (
                None,
                Some("DeLong needs at least two members and two non-members".to_string()),
                None,
            ),
        };
        let mut tpr_at_fpr = BTreeMap::new();
        let mut tpr_at_fpr_ci = BTreeMap::new();
        let mut tpr_at_fpr_interpolated = BTreeMap::new();
        let mut fpr_achieved = BTreeMap::new();
        let mut fpr_achieved_ci = BTreeMap::new();
        let mut tpr_at_fpr_resolved = BTreeMap::new();
        let min_resolvable_fpr = 1.0 / self.n_nonmembers as f64;
        for &alpha in &config.fprs {
            let key = fpr_key(alpha);
            let point = self.step_point(alpha, config.convention);
            let (tp, fp) = self.counts_at_point(point);
            tpr_at_fpr.insert(key.clone(), tp as f64 / self.n_members as f64);
            tpr_at_fpr_ci.insert(
                key.clone(),
                clopper_pearson(tp, self.n_members as u64, confidence)?,
            );
            fpr_achieved.insert(key.clone(), fp as f64 / self.n_nonmembers as f64);
            fpr_achieved_ci.insert(
                key.clone(),
                clopper_pearson(fp, self.n_nonmembers as u64, confidence)?,
            );
            tpr_at_fpr_interpolated.insert(key.clone(), self.tpr_at_fpr_interpolated(alpha));
            tpr_at_fpr_resolved.insert(key, alpha >= min_resolvable_fpr);
        }
        let bootstrap = if config.bootstrap_replicates >= 2 {
            Some(self.bootstrap(config)?)
        } else {
            None
        };
        let (decision_threshold, best_gap) = self.best_advantage_point();
        Ok(RocSummary {
            n_members: self.n_members,
            n_nonmembers: self.n_nonmembers,
            auc,
            auc_ci,
            auc_ci_reason,
            auc_standard_error,
            auc_bootstrap_ci: bootstrap.as_ref().map(|b| b.auc),
            tpr_at_fpr,
            tpr_at_fpr_ci,
            tpr_at_fpr_bootstrap_ci: bootstrap.map(|b| b.tpr_at_fpr),
            tpr_at_fpr_interpolated,
            fpr_achieved,
            fpr_achieved_ci,
            tpr_at_fpr_resolved,
            min_resolvable_fpr,
            fpr_convention: config.convention,
            advantage: self.advantage(),
            balanced_accuracy: 0.5 * (1.0 + best_gap.max(0.0)),
            decision_threshold,
            curve: config.curve.then(|| self.curve()),
        })
    }

    /// Stratified percentile bootstrap of the AUC and of TPR@α: members and non-members are
    /// resampled separately; replicate b uses ChaCha8 stream b of the master seed, so the
    /// result does not depend on the thread count.
    pub fn bootstrap(&self, config: &RocConfig) -> Result<BootstrapIntervals, MiaError> {
        use rand::RngExt;
        config.check()?;
        let replicates = config.bootstrap_replicates;
        if replicates < 2 {
            return Err(MiaError::parameter(
                "bootstrap",
                "needs at least 2 replicates",
            ));
        }
        let (n1, n0) = (self.n_members, self.n_nonmembers);
        let blocks = self.thresholds.len();
        let results: Vec<(f64, Vec<f64>)> = (0..replicates)
            .into_par_iter()
            .map_init(
                || (vec![0u32; n1], vec![0u32; n0]),
                |(member_counts, nonmember_counts), replicate| {
                    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
                    rng.set_stream(replicate as u64);
                    member_counts.iter_mut().for_each(|c| *c = 0);
                    nonmember_counts.iter_mut().for_each(|c| *c = 0);
                    // Members are identified by their rank in the sorted order: a resample
                    // only needs how often each rank is drawn.
                    for _ in 0..n1 {
                        member_counts[rng.random_range(0..n1)] += 1;
                    }
                    for _ in 0..n0 {
                        nonmember_counts[rng.random_range(0..n0)] += 1;
                    }
                    let mut block_members = Vec::with_capacity(blocks);
                    let mut block_nonmembers = Vec::with_capacity(blocks);
                    let (mut m_start, mut n_start) = (0usize, 0usize);
                    for g in 0..blocks {
                        let m_end = self.members_at_or_above[g] as usize;
                        let n_end = self.nonmembers_at_or_above[g] as usize;
                        block_members.push(
                            member_counts[m_start..m_end]
                                .iter()
                                .map(|&c| c as u64)
                                .sum::<u64>(),
                        );
                        block_nonmembers.push(
                            nonmember_counts[n_start..n_end]
                                .iter()
                                .map(|&c| c as u64)
                                .sum::<u64>(),
                        );
                        m_start = m_end;
                        n_start = n_end;
                    }
                    let mut twice_u: u128 = 0;
                    let mut fp_cum = 0u64;
                    for g in 0..blocks {
                        let (p, q) = (block_members[g], block_nonmembers[g]);
                        let below = n0 as u64 - fp_cum - q;
                        twice_u += p as u128 * (2 * below as u128 + q as u128);
                        fp_cum += q;
                    }
                    let auc = twice_u as f64 / (2.0 * n1 as f64 * n0 as f64);
                    let tprs = config
                        .fprs
                        .iter()
                        .map(|&alpha| {
                            let (mut tp, mut fp, mut best) = (0u64, 0u64, 0u64);
                            for g in 0..blocks {
                                tp += block_members[g];
                                fp += block_nonmembers[g];
                                let fpr = fp as f64 / n0 as f64;
                                let admissible = match config.convention {
                                    FprConvention::AtMost => fpr <= alpha,
                                    FprConvention::Below => fpr < alpha,
                                };
                                if !admissible {
                                    break;
                                }
                                best = tp;
                            }
                            best as f64 / n1 as f64
                        })
                        .collect();
                    (auc, tprs)
                },
            )
            .collect();
        let aucs: Vec<f64> = results.iter().map(|r| r.0).collect();
        let auc = percentile_interval(aucs, config.confidence);
        let mut tpr_at_fpr = BTreeMap::new();
        for (i, &alpha) in config.fprs.iter().enumerate() {
            let values: Vec<f64> = results.iter().map(|r| r.1[i]).collect();
            tpr_at_fpr.insert(
                fpr_key(alpha),
                percentile_interval(values, config.confidence),
            );
        }
        Ok(BootstrapIntervals { auc, tpr_at_fpr })
    }
}

/// Bootstrap percentile intervals.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BootstrapIntervals {
    pub auc: Interval,
    pub tpr_at_fpr: BTreeMap<String, Interval>,
}

/// Percentile interval, rounded outwards: the order statistics at ⌊(B−1)·a/2⌋ and
/// ⌈(B−1)·(1 − a/2)⌉ of the sorted replicates.
fn percentile_interval(mut values: Vec<f64>, confidence: f64) -> Interval {
    values.sort_by(f64::total_cmp);
    let last = (values.len() - 1) as f64;
    let tail = (1.0 - confidence) / 2.0;
    let lower_index = (last * tail).floor() as usize;
    let upper_index = ((last * (1.0 - tail)).ceil() as usize).min(values.len() - 1);
    Interval {
        lower: values[lower_index],
        upper: values[upper_index],
        confidence,
        method: "stratified_bootstrap_percentile",
    }
}

/// The JSON key of an FPR level: its shortest decimal form, e.g. `"0.001"`.
pub fn fpr_key(alpha: f64) -> String {
    format!("{alpha}")
}

/// Clopper–Pearson interval from the project's one binomial-bound routine.
pub(crate) fn clopper_pearson(
    successes: u64,
    trials: u64,
    confidence: f64,
) -> Result<Interval, MiaError> {
    let (lower, upper) = stats::clopper_pearson_interval(successes, trials, confidence)
        .map_err(|e| MiaError::parameter("confidence", e.to_string()))?;
    Ok(Interval {
        lower,
        upper,
        confidence,
        method: "clopper_pearson",
    })
}

/// Sample covariance (n − 1 denominator); `None` for fewer than two values.
fn sample_covariance(a: &[f64], b: &[f64]) -> Option<f64> {
    let n = a.len();
    if n < 2 {
        return None;
    }
    let mean_a = a.iter().sum::<f64>() / n as f64;
    let mean_b = b.iter().sum::<f64>() / n as f64;
    let sum: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - mean_a) * (y - mean_b))
        .sum();
    Some(sum / (n - 1) as f64)
}

/// Everything the ROC engine reports for one attack. JSON field names are a contract
/// (`docs/mia.md` §6).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RocSummary {
    pub n_members: usize,
    pub n_nonmembers: usize,
    pub auc: f64,
    /// DeLong interval; `null` with `auc_ci_reason` when a side has fewer than two examples.
    pub auc_ci: Option<Interval>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auc_ci_reason: Option<String>,
    pub auc_standard_error: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auc_bootstrap_ci: Option<Interval>,
    /// Step-convention TPR at each FPR level (keys like `"0.001"`).
    pub tpr_at_fpr: BTreeMap<String, f64>,
    /// Clopper–Pearson interval of the true TPR of the threshold chosen for each level.
    pub tpr_at_fpr_ci: BTreeMap<String, Interval>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tpr_at_fpr_bootstrap_ci: Option<BTreeMap<String, Interval>>,
    pub tpr_at_fpr_interpolated: BTreeMap<String, f64>,
    /// Empirical FPR of the chosen threshold, and the Clopper–Pearson interval of its true FPR.
    pub fpr_achieved: BTreeMap<String, f64>,
    pub fpr_achieved_ci: BTreeMap<String, Interval>,
    /// Whether α ≥ 1/n₀: below that the data cannot resolve the level.
    pub tpr_at_fpr_resolved: BTreeMap<String, bool>,
    pub min_resolvable_fpr: f64,
    pub fpr_convention: FprConvention,
    pub advantage: f64,
    pub balanced_accuracy: f64,
    /// Threshold maximising TPR − FPR: predict member iff score ≥ it.
    pub decision_threshold: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub curve: Option<Vec<CurvePoint>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_counts_ties_half_and_equals_trapezoid() {
        let roc = Roc::new(&[3.0, 2.0, 2.0], &[2.0, 1.0]).unwrap();
        // pairs: (3>2,3>1,2=2,2>1,2=2,2>1) = 1+1+.5+1+.5+1 = 5 of 6
        assert_eq!(roc.auc(), 5.0 / 6.0);
        let curve = roc.curve();
        let trapezoid: f64 = curve
            .windows(2)
            .map(|w| (w[1].fpr - w[0].fpr) * (w[1].tpr + w[0].tpr) / 2.0)
            .sum();
        assert!((trapezoid - roc.auc()).abs() < 1e-15);
    }

    #[test]
    fn step_conventions_differ_at_the_boundary() {
        let roc = Roc::new(&[5.0, 4.0, 3.0, 0.0], &[4.5, 1.0, 0.5, 0.2]).unwrap();
        assert_eq!(roc.tpr_at_fpr(0.25, FprConvention::AtMost), 0.75);
        assert_eq!(roc.tpr_at_fpr(0.25, FprConvention::Below), 0.25);
    }
}

/// Smallest min(n₁, n₀) at which [`Roc::mann_whitney_test`] uses the normal approximation.
pub const MANN_WHITNEY_NORMAL_MIN: usize = 50;
/// Budget (≈ 2·m²·N² additions) above which the exact DP gives way to Monte Carlo.
const MANN_WHITNEY_EXACT_COST: f64 = 5e8;
/// Permutations of the Monte Carlo Mann–Whitney p-value and its fixed seed.
pub const MANN_WHITNEY_PERMUTATIONS: u64 = 9_999;
const MANN_WHITNEY_PERMUTATION_SEED: u64 = 0x4d57_5445_5354;

/// A Mann–Whitney p-value and how it was computed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MannWhitney {
    pub p_value: f64,
    pub method: &'static str,
}

/// P(|2W − centre| ≥ observed) for the doubled rank sum 2W of a uniformly random subset of
/// size m, over blocks of tied items (size t, doubled mid-rank r): the number of subsets with
/// each (count, sum) is a DP over blocks, choosing j of a block in C(t, j) ways.
fn exact_rank_sum_tail(
    block_sizes: &[u64],
    doubled_ranks: &[u64],
    m: usize,
    centre: u128,
    observed_deviation: u128,
) -> f64 {
    let max_sum = doubled_ranks.last().copied().unwrap_or(0) as usize * m;
    let width = max_sum + 1;
    // ways[k * width + s]: number of subsets of k items with doubled rank sum s (as f64; the
    // exact-DP budget keeps C(N, m) far below f64's range), normalised by their total at the end.
    let mut ways = vec![0.0f64; (m + 1) * width];
    ways[0] = 1.0;
    let mut reachable_sum = 0usize;
    for (&size, &rank) in block_sizes.iter().zip(doubled_ranks) {
        let size = size as usize;
        let rank = rank as usize;
        let binomials = binomial_row(size);
        reachable_sum = (reachable_sum + rank * size.min(m)).min(max_sum);
        for k in (1..=m).rev() {
            for j in 1..=size.min(k) {
                let shift = j * rank;
                let weight = binomials[j];
                let (lower, upper) = ways.split_at_mut(k * width);
                let source = &lower[(k - j) * width..(k - j) * width + width];
                let target = &mut upper[..width];
                for s in (0..=reachable_sum.saturating_sub(shift)).rev() {
                    let value = source[s];
                    if value != 0.0 {
                        target[s + shift] += value * weight;
                    }
                }
            }
        }
    }
    let row = &ways[m * width..(m + 1) * width];
    let total: f64 = row.iter().sum();
    let tail: f64 = row
        .iter()
        .enumerate()
        .filter(|(s, _)| (*s as u128).abs_diff(centre) >= observed_deviation)
        .map(|(_, w)| w)
        .sum();
    (tail / total).min(1.0)
}

/// C(n, j) for j = 0..=n as f64.
fn binomial_row(n: usize) -> Vec<f64> {
    let mut row = vec![1.0f64; n + 1];
    for j in 1..=n {
        row[j] = row[j - 1] * (n + 1 - j) as f64 / j as f64;
    }
    row
}
