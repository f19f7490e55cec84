//! Sample-size planner: how many runs per side the default audit (Bonferroni over the tail
//! grid) needs to refute a claim (ε, δ) when the truth is a μ-GDP mechanism, i.e. when the
//! statistic is N(0, 1) after retraining and N(μ, 1) after unlearning (`docs/epsilon.md` §8).
//! Each audit mode is planned with its own split of the runs and error budget
//! ([`PlannerMode`]): the multivariate mode certifies only on the runs not used to fit the
//! projection, the per-example mode spends α / examples on each example.
//!
//! The audit is evaluated on the *typical* sample of size N: the j-th order statistic sits at
//! its expected quantile j/(N+1) and the other side's count is its expectation, so the planned
//! N is where the median bound crosses the claim (about half of real audits at that N refute).

use serde::Serialize;

use super::threshold::{epsilon_from_rate_bounds, grid_test_count, tail_ranks};
use super::{AuditError, Claim, gdp_epsilon, invalid};
use crate::stats::{clopper_pearson_upper, normal_cdf, normal_quantile};

/// Which audit mode is planned: how the N runs per side and α are spent.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum PlannerMode {
    /// One statistic per run; all N runs certify at α.
    Scalar,
    /// Several columns projected to one statistic: `fit_fraction` of the runs of each side fit
    /// the projection and only the rest certify (μ is the shift of the projected statistic).
    Multivariate { fit_fraction: f64 },
    /// One audit per example (column) at α / `examples`; μ is the shift of one example.
    PerExample { examples: usize },
}

impl PlannerMode {
    /// Runs per side left for certification out of `n` (the audit's own split rule).
    pub fn certify_runs(self, n: u64) -> u64 {
        match self {
            PlannerMode::Multivariate { fit_fraction } => {
                let fit = ((n as f64) * fit_fraction).round() as u64;
                n - fit.clamp(1, n.saturating_sub(1))
            }
            _ => n,
        }
    }
    /// The error budget of one example's audit.
    pub fn alpha(self, alpha: f64) -> f64 {
        match self {
            PlannerMode::PerExample { examples } => alpha / examples.max(1) as f64,
            _ => alpha,
        }
    }
    fn describe(self) -> String {
        match self {
            PlannerMode::Scalar => "scalar mode: every run certifies".to_string(),
            PlannerMode::Multivariate { fit_fraction } => format!(
                "multivariate mode: a fraction {fit_fraction} of each side fits the projection, the rest certifies"
            ),
            PlannerMode::PerExample { examples } => {
                format!("per-example mode: alpha / {examples} per example")
            }
        }
    }
}

/// The planner's answer.
#[derive(Debug, Clone, Serialize)]
pub struct SamplePlan {
    /// The mode planned and how it spends the runs and α.
    pub mode: PlannerMode,
    pub claim_epsilon: f64,
    pub delta: f64,
    pub true_mu: f64,
    /// ε at δ of the true μ-GDP mechanism.
    pub true_epsilon: f64,
    pub confidence: f64,
    /// Runs per side at which the typical audit certifies ε above the claim.
    pub runs_per_side: Option<u64>,
    /// The typical bound at `runs_per_side`.
    pub typical_bound_at_plan: Option<f64>,
    pub reason: String,
    pub method: &'static str,
}

/// Largest N the planner evaluates.
const MAX_RUNS: u64 = 100_000_000;

/// Typical (median-case) certified bound of the default audit with N runs per side.
pub fn typical_bound(
    n: u64,
    true_mu: f64,
    delta: f64,
    alpha: f64,
    floor: f64,
) -> Result<f64, AuditError> {
    let tests = grid_test_count(n as usize, n as usize);
    let alpha_per_rate = alpha / tests as f64 / 2.0;
    let mut best = 0.0f64;
    // Retrained upper tail, rule "unlearned if score > t" (its mirror image on the
    // unlearned lower tail gives the same value by symmetry of the shift).
    for j in tail_ranks(n as usize) {
        let t = -normal_quantile(j as f64 / (n as f64 + 1.0))?;
        let false_negatives = ((n as f64) * normal_cdf(t - true_mu)).round().min(n as f64) as u64;
        let false_positives = (j - 1) as u64;
        // Prune with the point estimate: bounds are never above it.
        let point = epsilon_from_rate_bounds(
            false_positives as f64 / n as f64,
            false_negatives.max(1) as f64 / n as f64,
            delta,
        );
        if point.is_none_or(|p| p <= best.max(floor)) {
            continue;
        }
        let fpr = clopper_pearson_upper(false_positives, n, alpha_per_rate)?;
        let fnr = clopper_pearson_upper(false_negatives, n, alpha_per_rate)?;
        if let Some(e) = epsilon_from_rate_bounds(fpr, fnr, delta) {
            best = best.max(e);
        }
    }
    Ok(best)
}

/// Runs per side needed to refute `claim` when the truth is μ-GDP with `true_mu` (scalar mode).
pub fn plan_samples(
    claim: &Claim,
    true_mu: f64,
    confidence: f64,
) -> Result<SamplePlan, AuditError> {
    plan_samples_for(claim, true_mu, confidence, PlannerMode::Scalar)
}

/// Runs per side needed to refute `claim` in audit mode `mode` when the truth is μ-GDP with
/// `true_mu`: the smallest N (to 1 %) at which the typical audit on the runs the mode certifies
/// with, at the mode's α, certifies ε above the claim.
pub fn plan_samples_for(
    claim: &Claim,
    true_mu: f64,
    confidence: f64,
    mode: PlannerMode,
) -> Result<SamplePlan, AuditError> {
    match mode {
        PlannerMode::Multivariate { fit_fraction }
            if !(fit_fraction > 0.0 && fit_fraction < 1.0) =>
        {
            return Err(invalid(
                "fit fraction",
                fit_fraction,
                "must lie strictly between 0 and 1",
            ));
        }
        PlannerMode::PerExample { examples: 0 } => {
            return Err(invalid("examples", 0, "must be at least 1"));
        }
        _ => {}
    }
    let claim_epsilon = claim.epsilon().ok_or_else(|| {
        invalid(
            "claim epsilon",
            "none",
            "the planner needs a claimed epsilon",
        )
    })?;
    if !(true_mu.is_finite() && true_mu > 0.0) {
        return Err(invalid("true mu", true_mu, "must be finite and > 0"));
    }
    if !(confidence > 0.0 && confidence < 1.0) {
        return Err(invalid(
            "confidence",
            confidence,
            "must lie strictly between 0 and 1",
        ));
    }
    let delta = claim.delta();
    let alpha = mode.alpha(1.0 - confidence);
    let true_epsilon = gdp_epsilon(true_mu, delta);
    let method = "default audit (Bonferroni over the tail grid) evaluated on the typical sample: order statistics at expected quantiles, other side at expected counts";
    let plan = |runs: Option<u64>, bound: Option<f64>, reason: String| SamplePlan {
        mode,
        claim_epsilon,
        delta,
        true_mu,
        true_epsilon,
        confidence,
        runs_per_side: runs,
        typical_bound_at_plan: bound,
        reason,
        method,
    };
    if true_epsilon <= claim_epsilon {
        return Ok(plan(
            None,
            None,
            format!(
                "a {}-GDP mechanism has ε = {} at δ = {}, within the claim: no number of runs refutes a true claim",
                crate::report::fmt_number(true_mu),
                crate::report::fmt_number(true_epsilon),
                crate::report::fmt_number(delta),
            ),
        ));
    }
    let refutes = |n: u64| -> Result<bool, AuditError> {
        let n_cert = mode.certify_runs(n);
        Ok(n_cert >= 2
            && typical_bound(n_cert, true_mu, delta, alpha, claim_epsilon)? > claim_epsilon)
    };
    let mut hi = 8u64;
    while !refutes(hi)? {
        if hi >= MAX_RUNS {
            return Ok(plan(
                None,
                None,
                format!("more than {MAX_RUNS} runs per side would be needed"),
            ));
        }
        hi = (hi * 2).min(MAX_RUNS);
    }
    let mut lo = hi / 2;
    // The typical bound is nearly but not exactly monotone in N; bisect to 1 % of N.
    while hi - lo > (lo / 100).max(1) {
        let mid = lo + (hi - lo) / 2;
        if refutes(mid)? {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    let n_cert = mode.certify_runs(hi);
    let bound = typical_bound(n_cert, true_mu, delta, alpha, 0.0)?;
    Ok(plan(
        Some(hi),
        Some(bound),
        format!(
            "about {hi} runs per side ({}; {n_cert} certify): the typical audit then certifies ε ≥ {} > {}; about half of real audits at this N refute; plan more runs for high power",
            mode.describe(),
            crate::report::fmt_number(bound),
            crate::report::fmt_number(claim_epsilon),
        ),
    ))
}

impl crate::report::Finding for SamplePlan {
    fn title(&self) -> String {
        "Sample-size plan for an ε audit".to_string()
    }
    fn markdown(&self) -> String {
        let mut table = crate::report::Table::new(["quantity", "value"]);
        table
            .row(["mode".to_string(), self.mode.describe()])
            .row(["claimed ε".to_string(), self.claim_epsilon.to_string()])
            .row(["δ".to_string(), self.delta.to_string()])
            .row([
                "true μ (ε at δ)".to_string(),
                format!(
                    "{} ({})",
                    self.true_mu,
                    crate::report::fmt_number(self.true_epsilon)
                ),
            ])
            .row(["confidence".to_string(), self.confidence.to_string()])
            .row([
                "runs per side".to_string(),
                self.runs_per_side
                    .map_or("—".to_string(), |n| n.to_string()),
            ]);
        format!("{}\n{}\n", table.markdown(), self.reason)
    }
}
