//! Empirical (ε, δ) audits by repeated sampling: given runs of an unlearning mechanism and
//! runs of retraining, a certified lower bound on ε at a stated confidence, and a verdict on a
//! claimed (ε, δ). Scalar, per-example and multivariate (projected) modes; Bonferroni over a
//! tail-focused grid, sample splitting or a pre-registered threshold; labelled estimates
//! (point estimate, Gaussian DP); null calibration; a sample-size planner.
//!
//! The derivations (the two-branch bound, Clopper–Pearson, the rank argument behind the grid,
//! the error budget, GDP conversion, the planner) are in `docs/epsilon.md`.

pub mod lfp;
mod neurips;
mod planner;
pub mod threshold;

pub use neurips::{neurips_2023_epsilons, neurips_2023_forget_score};
pub use planner::{PlannerMode, SamplePlan, plan_samples, plan_samples_for, typical_bound};
pub use threshold::{Comparison, Direction, ThresholdTest};

use ndarray::{Array2, ArrayView2, Axis};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::Serialize;

use crate::io::SampleSet;
use crate::report::{Finding, Outcome, Table, fmt_number};
use crate::stats::{StatsError, normal_cdf};
use threshold::{RateBounds, SearchOutcome, SortedSides};

/// Errors of an audit; each names the side, option or parameter at fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    #[error(
        "sample sets differ in dimension: unlearned `{unlearned_source}` has d = {unlearned_dim}, retrained `{retrained_source}` has d = {retrained_dim}"
    )]
    DimensionMismatch {
        unlearned_source: String,
        unlearned_dim: usize,
        retrained_source: String,
        retrained_dim: usize,
    },
    #[error(
        "{side} sample set `{source_name}` has {n} trials; at least {required} are needed {why}"
    )]
    TooFewSamples {
        side: &'static str,
        source_name: String,
        n: usize,
        required: usize,
        why: &'static str,
    },
    #[error(
        "{side} sample set `{source_name}`: non-finite value {value} at trial {trial}, column {column}"
    )]
    NonFinite {
        side: &'static str,
        source_name: String,
        trial: usize,
        column: usize,
        value: f64,
    },
    #[error("`{parameter}` = {value}: {message}")]
    InvalidParameter {
        parameter: &'static str,
        value: String,
        message: &'static str,
    },
    #[error(transparent)]
    Stats(#[from] StatsError),
    /// The claim could not be built (`evidence::Claim::new`).
    #[error(transparent)]
    Claim(#[from] crate::evidence::EvidenceError),
}

fn invalid(parameter: &'static str, value: impl ToString, message: &'static str) -> AuditError {
    AuditError::InvalidParameter {
        parameter,
        value: value.to_string(),
        message,
    }
}

/// The claim under audit: one type for the whole crate, defined in [`crate::evidence`]
/// (re-exported here so `audit::Claim` keeps working).
pub use crate::evidence::{Claim, ClaimFamily};

/// How the tests are chosen and the error budget spent (`docs/epsilon.md` §3).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "strategy", rename_all = "snake_case")]
pub enum Selection {
    /// Bonferroni over the tail-focused grid of order-statistic thresholds (default).
    Bonferroni,
    /// Bonferroni over every threshold: each order statistic of each side (every pooled
    /// value) in both rule directions, `2 (n_u + n_r)` tests (the classical "all thresholds +
    /// Bonferroni-CP" audit; `docs/epsilon.md` §3.5).
    BonferroniAll,
    /// Choose the test on a fraction of each side, certify it alone on the rest.
    Split { fraction: f64 },
    /// A pre-registered threshold, tested in both directions.
    Threshold { threshold: f64 },
    /// The least-favourable-pair audit: a statistic over every threshold among the most
    /// extreme pooled points of each tail, calibrated by Monte-Carlo under the least-favourable
    /// pair of each tested claim H_ε and inverted over ε (`docs/epsilon.md` §3.7).
    Lfp,
}

/// Per-example mode: the multiple-testing procedure behind the count and list of examples
/// whose bound exceeds the claim (`docs/epsilon.md` §4.1). Both control the family-wise
/// error rate at α; the reported per-example bounds are Bonferroni-simultaneous either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ExampleCorrection {
    /// α / d for every example (default).
    #[default]
    Bonferroni,
    /// Holm's step-down: after r examples are shown to exceed the claim, the others are
    /// re-audited at α / (d − r), until no new example exceeds it (Holm 1979).
    Holm,
}

/// How a multivariate sample is reduced to one statistic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Projection {
    /// Difference of the two sides' means on the fit part.
    MeanDifference,
    /// Regularised diagonal Fisher LDA: mean difference divided by the pooled per-coordinate
    /// variance plus a ridge (10⁻³ × mean variance).
    #[default]
    DiagonalFisher,
}

/// Options of an audit. Checked once by [`audit_epsilon`].
#[derive(Debug, Clone, PartialEq)]
pub struct AuditOptions {
    /// Confidence 1 − α of the bound, in (0, 1).
    pub confidence: f64,
    pub selection: Selection,
    /// Treat each column as one forget example (per-example mode).
    pub per_example: bool,
    /// Seed for every random split (selection split, projection split, null calibration).
    pub seed: u64,
    /// Report the Gaussian-DP conversion (a bound only for Gaussian-family claims).
    pub gdp: bool,
    /// Audit half the retrained runs against the other half as well.
    pub null_calibration: bool,
    /// Multivariate mode: fraction of each side used to fit the projection.
    pub projection_fit_fraction: f64,
    pub projection: Projection,
    /// Per-example mode: also compute the NeurIPS-2023 score (an estimate; slow).
    pub neurips_score: bool,
    /// Per-example mode: correction for the list of examples exceeding the claim.
    pub example_correction: ExampleCorrection,
}

impl Default for AuditOptions {
    fn default() -> Self {
        AuditOptions {
            confidence: 0.95,
            selection: Selection::Bonferroni,
            per_example: false,
            seed: 0,
            gdp: false,
            null_calibration: false,
            projection_fit_fraction: 0.5,
            projection: Projection::default(),
            neurips_score: false,
            example_correction: ExampleCorrection::Bonferroni,
        }
    }
}

impl AuditOptions {
    fn check(&self) -> Result<(), AuditError> {
        let c = self.confidence;
        if !(c.is_finite() && c > 0.0 && c < 1.0) {
            return Err(invalid(
                "confidence",
                c,
                "must lie strictly between 0 and 1",
            ));
        }
        match self.selection {
            Selection::Split { fraction } if !(fraction > 0.0 && fraction < 1.0) => {
                return Err(invalid(
                    "split fraction",
                    fraction,
                    "must lie strictly between 0 and 1",
                ));
            }
            Selection::Threshold { threshold } if !threshold.is_finite() => {
                return Err(invalid("threshold", threshold, "must be finite"));
            }
            // Holm needs "rejected at level a ⇒ rejected at every larger a". Split selection
            // picks its test by maximising a bound computed at the level, so a different level
            // can pick a different test and that monotonicity (hence Holm's validity) is lost
            // (`docs/epsilon.md` §4.1).
            Selection::Split { fraction } if self.example_correction == ExampleCorrection::Holm => {
                return Err(invalid(
                    "split fraction",
                    fraction,
                    "Holm's step-down is valid only with the grid, all-threshold or pre-registered \
                     selection (split selection is not monotone in the level); use \
                     --example-correction bonferroni with split",
                ));
            }
            // The LFP audit's Monte-Carlo size depends on the level, so its rejections are not
            // nested across levels; Holm needs them to be.
            Selection::Lfp if self.example_correction == ExampleCorrection::Holm => {
                return Err(invalid(
                    "selection",
                    "lfp",
                    "Holm's step-down is valid only with the grid, all-threshold or pre-registered \
                     selection; use --example-correction bonferroni with lfp",
                ));
            }
            _ => {}
        }
        let f = self.projection_fit_fraction;
        if !(f > 0.0 && f < 1.0) {
            return Err(invalid(
                "projection fit fraction",
                f,
                "must lie strictly between 0 and 1",
            ));
        }
        Ok(())
    }
}

/// The verdict on a claim, with its reason.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Consistent {
        reason: String,
    },
    Violated {
        reason: String,
    },
    Inconclusive {
        reason: String,
        samples_needed_per_side: Option<u64>,
    },
}

impl Verdict {
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Consistent { .. } => "consistent",
            Verdict::Violated { .. } => "violated",
            Verdict::Inconclusive { .. } => "inconclusive",
        }
    }
    pub fn reason(&self) -> &str {
        match self {
            Verdict::Consistent { reason }
            | Verdict::Violated { reason }
            | Verdict::Inconclusive { reason, .. } => reason,
        }
    }
}

/// The claim as reported.
#[derive(Debug, Clone, Serialize)]
pub struct ClaimReport {
    pub epsilon: Option<f64>,
    pub delta: f64,
    pub family: ClaimFamily,
}

/// How α = 1 − confidence was spent (each unit once).
#[derive(Debug, Clone, Serialize)]
pub struct ErrorBudget {
    pub alpha: f64,
    pub split: String,
    /// α / number of examples (per-example mode), else α.
    pub alpha_per_example: f64,
    pub tests_per_example: usize,
    pub alpha_per_test: f64,
    pub alpha_per_rate: f64,
}

/// An estimate that is not a certified bound, with its label.
#[derive(Debug, Clone, Serialize)]
pub struct Estimate {
    pub value: Option<f64>,
    pub label: &'static str,
    pub method: &'static str,
    /// Always "estimate, not a bound".
    pub kind: &'static str,
    /// Why the value can exceed the claim on a passing audit.
    pub note: &'static str,
}

/// Whether the Gaussian-DP conversion is a bound (serialised as `bound` or
/// `estimate, not a bound`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum GdpStatus {
    /// A valid lower bound: the claim is Gaussian-family.
    #[serde(rename = "bound")]
    Bound,
    /// An estimate only: the claim is generic.
    #[serde(rename = "estimate, not a bound")]
    Estimate,
}

impl std::fmt::Display for GdpStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            GdpStatus::Bound => "bound",
            GdpStatus::Estimate => "estimate, not a bound",
        })
    }
}

/// The Gaussian-DP conversion.
#[derive(Debug, Clone, Serialize)]
pub struct GdpReport {
    /// Lower bound on μ at the audit's confidence (valid if the mechanism is μ-GDP).
    pub mu_lower_bound: f64,
    /// ε at the audit's δ implied by `mu_lower_bound`.
    pub epsilon: f64,
    /// "bound" (Gaussian-family claim) or "estimate, not a bound".
    pub status: GdpStatus,
    pub note: &'static str,
}

/// Multivariate mode: how the statistic was obtained.
#[derive(Debug, Clone, Serialize)]
pub struct ProjectionReport {
    pub method: Projection,
    pub dimension: usize,
    pub fit_fraction: f64,
    pub n_fit_unlearned: usize,
    pub n_fit_retrained: usize,
    pub n_certify_unlearned: usize,
    pub n_certify_retrained: usize,
}

/// Per-example mode results.
#[derive(Debug, Clone, Serialize)]
pub struct PerExampleReport {
    pub examples: usize,
    pub correction: &'static str,
    /// Certified ε lower bound of every example (simultaneous at the audit's confidence).
    pub epsilon_lower_bounds: Vec<f64>,
    pub worst_example: usize,
    pub count_exceeding_claim: Option<usize>,
    pub examples_exceeding_claim: Option<Vec<usize>>,
    /// Procedure behind `count_exceeding_claim` / `examples_exceeding_claim`.
    pub exceeding_claim_correction: ExampleCorrection,
    /// Holm: number of audit rounds run (1 = no step beyond Bonferroni); `None` otherwise.
    pub holm_rounds: Option<usize>,
    /// The NeurIPS-2023 per-example ε and forget score as its released code computes them.
    pub neurips_2023: Option<NeuripsReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NeuripsReport {
    pub label: &'static str,
    pub per_example_epsilon: Vec<f64>,
    pub forget_score: f64,
}

/// Retrained-vs-retrained audit: what the estimator reports when nothing leaks.
#[derive(Debug, Clone, Serialize)]
pub struct NullCalibration {
    pub epsilon_lower_bound: f64,
    pub n_first_half: usize,
    pub n_second_half: usize,
    pub point_estimate: Option<f64>,
    pub note: &'static str,
}

/// Which audit mode has the most power for these runs (several statistics recorded):
/// guidance from the data, not a bound and not part of the verdict (`docs/guide.md`).
#[derive(Debug, Clone, Serialize)]
pub struct ModeGuidance {
    /// Always "guidance, not a bound".
    pub kind: &'static str,
    pub candidates: Vec<ModeCandidate>,
    /// The mode needing the fewest runs per side, `None` when none is expected to refute.
    pub recommended: Option<&'static str>,
    pub note: String,
}

/// One mode as the planner sees it on these data.
#[derive(Debug, Clone, Serialize)]
pub struct ModeCandidate {
    /// "scalar_mean" (row mean of the columns, `epsilon` on a one-column file),
    /// "multivariate" (the default on several columns) or "per_example" (`--per-example`).
    pub mode: &'static str,
    /// Estimated shift of the mode's statistic in noise units (|mean difference| / pooled
    /// standard deviation; per-example: the largest over examples). An estimate.
    pub estimated_mu: f64,
    /// The planner's runs per side at `estimated_mu` (`epsilon plan`), `None` when the
    /// estimated mechanism is within the claim.
    pub runs_per_side: Option<u64>,
}

/// Selection details as reported.
#[derive(Debug, Clone, Serialize)]
pub struct SelectionReport {
    #[serde(flatten)]
    pub selection: Selection,
    pub grid: Option<&'static str>,
    /// `bonferroni_all`: how many of the tests needed exact Clopper–Pearson bounds after
    /// pruning (the others provably could not beat the reported test).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exact_evaluations: Option<usize>,
    /// `lfp`: the Monte-Carlo calibration under the least-favourable pair.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lfp: Option<LfpReport>,
    pub n_selection_unlearned: Option<usize>,
    pub n_selection_retrained: Option<usize>,
}

/// The result of an ε audit: the certified bound, the test that achieved it, the verdict and
/// everything needed to re-check it. Field names are a contract (`docs/epsilon.md` §7).
#[derive(Debug, Clone, Serialize)]
pub struct EpsilonAudit {
    pub mode: &'static str,
    pub epsilon_lower_bound: f64,
    pub confidence: f64,
    pub delta: f64,
    pub claim: ClaimReport,
    pub verdict: Option<&'static str>,
    pub reason: String,
    pub n_unlearned: usize,
    pub n_retrained: usize,
    /// Largest ε a single test at α/2 per rate can certify with this N (zero errors).
    pub epsilon_ceiling: f64,
    /// Largest ε this audit (with its correction) could certify with this N.
    pub epsilon_ceiling_corrected: f64,
    /// Samples per side (equal sides) at which the corrected ceiling exceeds the claim.
    pub samples_needed_per_side: Option<u64>,
    pub selection: SelectionReport,
    pub error_budget: ErrorBudget,
    pub test: ThresholdTest,
    pub point_estimate: Estimate,
    pub gdp: Option<GdpReport>,
    pub projection: Option<ProjectionReport>,
    pub per_example: Option<PerExampleReport>,
    pub null_calibration: Option<NullCalibration>,
    /// Several statistics recorded and a claim given: which mode has the most power.
    pub mode_guidance: Option<ModeGuidance>,
    #[serde(skip)]
    pub verdict_detail: Option<Verdict>,
}

impl Finding for EpsilonAudit {
    fn title(&self) -> String {
        "Empirical (ε, δ) audit".to_string()
    }
    fn outcome(&self) -> Outcome {
        match &self.verdict_detail {
            None => Outcome::Info,
            Some(Verdict::Consistent { .. }) => Outcome::Pass,
            Some(Verdict::Violated { reason }) => Outcome::Fail {
                reason: reason.clone(),
            },
            Some(Verdict::Inconclusive { reason, .. }) => Outcome::Inconclusive {
                reason: reason.clone(),
            },
        }
    }
    fn markdown(&self) -> String {
        let mut table = Table::new(["quantity", "value"]);
        table
            .row(["mode".to_string(), self.mode.to_string()])
            .row([
                "ε lower bound".to_string(),
                fmt_number(self.epsilon_lower_bound),
            ])
            .row(["confidence".to_string(), fmt_number(self.confidence)])
            .row(["δ".to_string(), fmt_number(self.delta)])
            .row([
                "claimed ε".to_string(),
                crate::report::fmt_optional(self.claim.epsilon),
            ])
            .row([
                "verdict".to_string(),
                self.verdict.unwrap_or("—").to_string(),
            ])
            .row([
                "runs (unlearned / retrained)".to_string(),
                format!("{} / {}", self.n_unlearned, self.n_retrained),
            ])
            .row([
                "ceiling (single test / this audit)".to_string(),
                format!(
                    "{} / {}",
                    fmt_number(self.epsilon_ceiling),
                    fmt_number(self.epsilon_ceiling_corrected)
                ),
            ])
            .row(["error budget".to_string(), self.error_budget.split.clone()])
            .row([
                "best test".to_string(),
                format!(
                    "{} (t = {})",
                    self.test.rule,
                    fmt_number(self.test.threshold)
                ),
            ])
            .row([
                "TP / FP / TN / FN".to_string(),
                format!(
                    "{} / {} / {} / {}",
                    self.test.true_positives,
                    self.test.false_positives,
                    self.test.true_negatives,
                    self.test.false_negatives
                ),
            ])
            .row([
                "FPR / FNR upper bounds".to_string(),
                format!(
                    "{} / {}",
                    fmt_number(self.test.fpr_upper),
                    fmt_number(self.test.fnr_upper)
                ),
            ])
            .row([
                "point estimate (estimate, not a bound; can exceed the claim on a passing audit)"
                    .to_string(),
                crate::report::fmt_optional(self.point_estimate.value),
            ]);
        if let Some(g) = &self.gdp {
            table.row([format!("GDP ε ({})", g.status), fmt_number(g.epsilon)]);
        }
        if let Some(n) = &self.null_calibration {
            table.row([
                "null calibration ε lower bound".to_string(),
                fmt_number(n.epsilon_lower_bound),
            ]);
        }
        if let Some(p) = &self.per_example {
            table.row(["examples".to_string(), p.examples.to_string()]);
            if let Some(c) = p.count_exceeding_claim {
                let procedure = match p.exceeding_claim_correction {
                    ExampleCorrection::Bonferroni => "Bonferroni",
                    ExampleCorrection::Holm => "Holm step-down",
                };
                table.row([
                    format!("examples exceeding the claim ({procedure})"),
                    c.to_string(),
                ]);
            }
            if let Some(nr) = &p.neurips_2023 {
                table.row([
                    "NeurIPS-2023 forget score (estimate)".to_string(),
                    fmt_number(nr.forget_score),
                ]);
            }
        }
        let mut text = format!("{}\n{}\n", table.markdown(), self.reason);
        if let Some(g) = &self.mode_guidance {
            text.push_str(&format!("\nGuidance ({}): {}\n", g.kind, g.note));
        }
        text
    }
}

/// Shift in pooled-standard-deviation units, capped at 40 (beyond it every audit is at its
/// ceiling anyway); 0 when both sides are identical.
fn shift_estimate(u: &[f64], r: &[f64]) -> f64 {
    let mean = |x: &[f64]| x.iter().sum::<f64>() / x.len() as f64;
    let var = |x: &[f64], m: f64| {
        x.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (x.len().max(2) - 1) as f64
    };
    let (mu_u, mu_r) = (mean(u), mean(r));
    let sd = (0.5 * (var(u, mu_u) + var(r, mu_r))).sqrt();
    let diff = (mu_u - mu_r).abs();
    if !diff.is_finite() || diff == 0.0 {
        0.0
    } else if sd > 0.0 && (diff / sd).is_finite() {
        (diff / sd).min(40.0)
    } else {
        40.0
    }
}

/// The planner's runs per side for each mode at the shift estimated from the data.
fn mode_guidance(
    unlearned: ArrayView2<f64>,
    retrained: ArrayView2<f64>,
    claim: &Claim,
    options: &AuditOptions,
) -> Result<Option<ModeGuidance>, AuditError> {
    let d = unlearned.ncols();
    if d < 2 || claim.epsilon().is_none() {
        return Ok(None);
    }
    let row_means = |m: ArrayView2<f64>| -> Vec<f64> {
        m.rows().into_iter().map(|r| r.sum() / d as f64).collect()
    };
    let scalar_mu = shift_estimate(&row_means(unlearned), &row_means(retrained));
    let (pu, pr, _) = project(unlearned, retrained, options);
    let multi_mu = shift_estimate(&pu, &pr);
    let per_mu = (0..d)
        .map(|j| shift_estimate(&unlearned.column(j).to_vec(), &retrained.column(j).to_vec()))
        .fold(0.0f64, f64::max);
    let candidates_in = [
        ("scalar_mean", scalar_mu, PlannerMode::Scalar),
        (
            "multivariate",
            multi_mu,
            PlannerMode::Multivariate {
                fit_fraction: options.projection_fit_fraction,
            },
        ),
        (
            "per_example",
            per_mu,
            PlannerMode::PerExample { examples: d },
        ),
    ];
    let mut candidates = Vec::new();
    for (mode, mu, planner_mode) in candidates_in {
        let runs_per_side = if mu > 0.0 {
            plan_samples_for(claim, mu, options.confidence, planner_mode)?.runs_per_side
        } else {
            None
        };
        candidates.push(ModeCandidate {
            mode,
            estimated_mu: mu,
            runs_per_side,
        });
    }
    let best = candidates
        .iter()
        .filter_map(|c| c.runs_per_side.map(|n| (n, c.mode)))
        .min_by_key(|&(n, _)| n);
    let n_now = unlearned.nrows().min(retrained.nrows());
    let listing = candidates
        .iter()
        .map(|c| {
            format!(
                "{} (estimated mu {}: {})",
                c.mode,
                fmt_number(c.estimated_mu),
                c.runs_per_side
                    .map_or("not expected to refute at any N".to_string(), |n| {
                        format!("about {n} runs per side")
                    })
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    let advice = match best {
        Some((n, mode)) => format!(
            "most power: {mode} (about {n} runs per side to refute the claim if the estimated shift is real; you have {n_now}). {}",
            match mode {
                "scalar_mean" =>
                    "Record one summary statistic per run (the mean of these columns) and audit it in scalar mode.",
                "multivariate" => "Keep these columns (the default mode).",
                _ => "Audit with --per-example.",
            }
        ),
        None => "no mode is expected to refute the claim at the shifts estimated from these runs"
            .to_string(),
    };
    Ok(Some(ModeGuidance {
        kind: "guidance, not a bound",
        recommended: best.map(|b| b.1),
        note: format!(
            "{advice} Per mode, the planner (epsilon plan) at the Gaussian shift estimated from these runs: {listing}. The estimates are noisy (per_example takes the largest of {d} columns, biased upward); choose the statistic before the runs that decide, not after."
        ),
        candidates,
    }))
}

// ---------------------------------------------------------------------------------------------

fn check_side(
    set: &SampleSet,
    side: &'static str,
    required: usize,
    why: &'static str,
) -> Result<(), AuditError> {
    if set.n_trials() < required {
        return Err(AuditError::TooFewSamples {
            side,
            source_name: set.source().display().to_string(),
            n: set.n_trials(),
            required,
            why,
        });
    }
    if let Some((index, &value)) = set
        .values()
        .iter()
        .enumerate()
        .find(|(_, v)| !v.is_finite())
    {
        return Err(AuditError::NonFinite {
            side,
            source_name: set.source().display().to_string(),
            trial: index / set.dim(),
            column: index % set.dim(),
            value,
        });
    }
    Ok(())
}

/// A seeded permutation of 0..n (Fisher–Yates on ChaCha8 stream `stream`).
fn permutation(n: usize, seed: u64, stream: u64) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    let mut index: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = rng.random_range(0..=i);
        index.swap(i, j);
    }
    index
}

/// RNG streams: one per purpose, so that enabling one option never shifts another's split.
const STREAM_SELECTION_UNLEARNED: u64 = 1;
const STREAM_SELECTION_RETRAINED: u64 = 2;
const STREAM_PROJECTION_UNLEARNED: u64 = 3;
const STREAM_PROJECTION_RETRAINED: u64 = 4;
const STREAM_NULL: u64 = 5;

/// Result of the scalar core on one column.
#[derive(Debug, Clone)]
struct ScalarResult {
    outcome: SearchOutcome,
    tests: usize,
    alpha_per_rate: f64,
    n_certify_unlearned: usize,
    n_certify_retrained: usize,
    n_selection: Option<(usize, usize)>,
    /// All-threshold mode: tests whose exact bounds were computed after pruning.
    exact_evaluations: Option<usize>,
    /// LFP mode: the calibration's details.
    lfp: Option<LfpReport>,
}

/// `--selection lfp`: how the bound was calibrated (`docs/epsilon.md` §3.7).
#[derive(Debug, Clone, Serialize)]
pub struct LfpReport {
    /// Monte-Carlo draws per direction under the least-favourable pair.
    pub draws: usize,
    /// Most extreme pooled points per tail scanned by the statistic.
    pub extreme_points_per_tail: usize,
    /// Observed statistic of the deciding direction (max over depths of the Wilson-score ε̂).
    pub statistic: f64,
    pub deciding_direction: Direction,
}

/// Number of tests and α per rate a strategy uses for certification-side sizes.
fn strategy_alpha(selection: Selection, alpha: f64, n_u: usize, n_r: usize) -> (usize, f64) {
    let tests = match selection {
        Selection::Bonferroni => threshold::grid_test_count(n_u, n_r),
        Selection::BonferroniAll => threshold::all_threshold_test_count(n_u, n_r),
        Selection::Split { .. } => 1,
        Selection::Threshold { .. } => 2,
        // Reported test: one threshold per direction, its rate bounds at α/4 each (for
        // information; the LFP bound itself is calibrated by Monte-Carlo).
        Selection::Lfp => 2,
    };
    (tests, alpha / tests as f64 / 2.0)
}

fn split_sizes(n: usize, fraction: f64) -> (usize, usize) {
    let select = ((n as f64) * fraction).round() as usize;
    let select = select.clamp(1, n.saturating_sub(1));
    (select, n - select)
}

/// The scalar audit of one statistic at error budget `alpha`.
#[allow(clippy::too_many_arguments)]
fn scalar_core(
    unlearned: Vec<f64>,
    retrained: Vec<f64>,
    delta: f64,
    alpha: f64,
    selection: Selection,
    seed: u64,
    table: Option<&RateBounds>,
    gdp: bool,
) -> Result<ScalarResult, AuditError> {
    match selection {
        Selection::Lfp => {
            let (n_u, n_r) = (unlearned.len(), retrained.len());
            let lfp = lfp::lfp_audit(&unlearned, &retrained, delta, alpha, seed);
            let (tests, alpha_per_rate) = strategy_alpha(selection, alpha, n_u, n_r);
            let sides = SortedSides::new(unlearned, retrained);
            let mut test = sides.evaluate(
                lfp.comparison,
                lfp.threshold,
                threshold::RankBound::None,
                &RateBounds::direct(alpha_per_rate),
                delta,
            )?;
            // `test.epsilon` carries the certified LFP bound; the rate bounds and counts are
            // the deciding threshold's (for information: that threshold was chosen on the data).
            test.epsilon = Some(lfp.epsilon);
            let outcome = SearchOutcome {
                gdp_mu_lower: test.gdp_mu.max(0.0),
                point_estimate: test.point_epsilon,
                best: test,
                tests,
            };
            Ok(ScalarResult {
                outcome,
                tests,
                alpha_per_rate,
                n_certify_unlearned: n_u,
                n_certify_retrained: n_r,
                n_selection: None,
                exact_evaluations: None,
                lfp: Some(LfpReport {
                    draws: lfp.draws,
                    extreme_points_per_tail: lfp.extreme,
                    statistic: lfp.statistic,
                    deciding_direction: if lfp.unlearned_higher {
                        Direction::UnlearnedHigher
                    } else {
                        Direction::UnlearnedLower
                    },
                }),
            })
        }
        Selection::Bonferroni | Selection::BonferroniAll | Selection::Threshold { .. } => {
            let (tests, alpha_per_rate) =
                strategy_alpha(selection, alpha, unlearned.len(), retrained.len());
            let direct = RateBounds::direct(alpha_per_rate);
            let bounds = table.unwrap_or(&direct);
            let (n_u, n_r) = (unlearned.len(), retrained.len());
            let sides = SortedSides::new(unlearned, retrained);
            let mut exact_evaluations = None;
            let outcome = match selection {
                Selection::Threshold { threshold } => {
                    threshold::fixed_threshold(&sides, threshold, bounds, delta)?
                }
                Selection::BonferroniAll => {
                    let all = threshold::all_threshold_search(&sides, bounds, delta, gdp)?;
                    exact_evaluations = Some(all.exact_evaluations);
                    all.search
                }
                _ => threshold::grid_search(&sides, bounds, delta)?,
            };
            Ok(ScalarResult {
                outcome,
                tests,
                alpha_per_rate,
                n_certify_unlearned: n_u,
                n_certify_retrained: n_r,
                n_selection: None,
                exact_evaluations,
                lfp: None,
            })
        }
        Selection::Split { fraction } => {
            let (sel_u, _) = split_sizes(unlearned.len(), fraction);
            let (sel_r, _) = split_sizes(retrained.len(), fraction);
            let perm_u = permutation(unlearned.len(), seed, STREAM_SELECTION_UNLEARNED);
            let perm_r = permutation(retrained.len(), seed, STREAM_SELECTION_RETRAINED);
            let pick = |values: &[f64], index: &[usize]| {
                index.iter().map(|&i| values[i]).collect::<Vec<f64>>()
            };
            let selection_sides = SortedSides::new(
                pick(&unlearned, &perm_u[..sel_u]),
                pick(&retrained, &perm_r[..sel_r]),
            );
            let certify_sides = SortedSides::new(
                pick(&unlearned, &perm_u[sel_u..]),
                pick(&retrained, &perm_r[sel_r..]),
            );
            let alpha_per_rate = alpha / 2.0;
            let bounds = RateBounds::direct(alpha_per_rate);
            let chosen = threshold::best_on_selection(&selection_sides, &bounds, delta)?.best;
            let test = certify_sides.evaluate(
                chosen.comparison,
                chosen.threshold,
                threshold::RankBound::None,
                &bounds,
                delta,
            )?;
            let outcome = SearchOutcome {
                gdp_mu_lower: test.gdp_mu.max(0.0),
                point_estimate: test.point_epsilon,
                best: test,
                tests: 1,
            };
            Ok(ScalarResult {
                outcome,
                tests: 1,
                alpha_per_rate,
                n_certify_unlearned: certify_sides.unlearned.len(),
                n_certify_retrained: certify_sides.retrained.len(),
                n_selection: Some((sel_u, sel_r)),
                exact_evaluations: None,
                lfp: None,
            })
        }
    }
}

/// ε at δ of a μ-GDP mechanism (Dong, Roth, Su 2019, Cor. 2.13): the ε solving
/// `δ = Φ(−ε/μ + μ/2) − e^ε Φ(−ε/μ − μ/2)`, by bisection; rounded down.
pub fn gdp_epsilon(mu: f64, delta: f64) -> f64 {
    // NaN or non-positive μ certifies nothing.
    if mu.is_nan() || mu <= 0.0 {
        return 0.0;
    }
    let delta_at = |eps: f64| {
        normal_cdf(-eps / mu + mu / 2.0) - (eps + normal_cdf(-eps / mu - mu / 2.0).ln()).exp()
    };
    if delta_at(0.0) <= delta {
        return 0.0;
    }
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    while delta_at(hi) > delta && hi < 1e4 {
        lo = hi;
        hi *= 2.0;
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if delta_at(mid) > delta {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo.next_down()
}

/// Smallest N (equal per side) whose corrected ceiling exceeds `claim_epsilon`, or `None`
/// beyond 2⁴⁰. `fit_fraction` is the multivariate mode's projection fit fraction: those runs
/// never certify, so only the rest count (the audit's own split rule, `split_sizes`). `alpha`
/// is the budget of one audited statistic (α / examples in per-example mode).
pub fn samples_needed(
    claim_epsilon: f64,
    delta: f64,
    alpha: f64,
    selection: Selection,
    fit_fraction: Option<f64>,
) -> Result<Option<u64>, AuditError> {
    let ceiling_at = |n_total: u64| -> Result<f64, AuditError> {
        let n = match fit_fraction {
            Some(f) if n_total >= 2 => split_sizes(n_total as usize, f).1 as u64,
            Some(_) => return Ok(0.0),
            None => n_total,
        };
        if n < 1 || (n < 2 && matches!(selection, Selection::Split { .. })) {
            return Ok(0.0);
        }
        let (n_cert, tests) = match selection {
            Selection::Split { fraction } => (split_sizes(n as usize, fraction).1 as u64, 1),
            // lfp: the single-threshold ceiling per direction (about; `docs/epsilon.md` §3.7).
            Selection::Threshold { .. } | Selection::Lfp => (n, 2),
            Selection::Bonferroni => (n, threshold::grid_test_count(n as usize, n as usize)),
            Selection::BonferroniAll => (
                n,
                threshold::all_threshold_test_count(n as usize, n as usize),
            ),
        };
        Ok(threshold::ceiling(
            n_cert.max(1),
            n_cert.max(1),
            alpha / tests as f64 / 2.0,
            delta,
        )?)
    };
    let mut hi = 4u64;
    while ceiling_at(hi)? <= claim_epsilon {
        if hi >= 1 << 40 {
            return Ok(None);
        }
        hi *= 2;
    }
    let mut lo = hi / 2;
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if ceiling_at(mid)? > claim_epsilon {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Ok(Some(hi))
}

/// One-dimensional statistic from a multivariate sample: fit on one part, project the rest.
fn project(
    unlearned: ArrayView2<f64>,
    retrained: ArrayView2<f64>,
    options: &AuditOptions,
) -> (Vec<f64>, Vec<f64>, ProjectionReport) {
    let (fit_u, _) = split_sizes(unlearned.nrows(), options.projection_fit_fraction);
    let (fit_r, _) = split_sizes(retrained.nrows(), options.projection_fit_fraction);
    let perm_u = permutation(unlearned.nrows(), options.seed, STREAM_PROJECTION_UNLEARNED);
    let perm_r = permutation(retrained.nrows(), options.seed, STREAM_PROJECTION_RETRAINED);
    let rows = |m: ArrayView2<f64>, index: &[usize]| m.select(Axis(0), index);
    let (u_fit, u_cert) = (
        rows(unlearned, &perm_u[..fit_u]),
        rows(unlearned, &perm_u[fit_u..]),
    );
    let (r_fit, r_cert) = (
        rows(retrained, &perm_r[..fit_r]),
        rows(retrained, &perm_r[fit_r..]),
    );
    let mean = |m: &Array2<f64>| m.mean_axis(Axis(0)).expect("non-empty fit part");
    let (mu_u, mu_r) = (mean(&u_fit), mean(&r_fit));
    let mut direction = &mu_u - &mu_r;
    if options.projection == Projection::DiagonalFisher {
        let var = |m: &Array2<f64>, mu: &ndarray::Array1<f64>| {
            let mut v = ndarray::Array1::<f64>::zeros(mu.len());
            for row in m.rows() {
                v.zip_mut_with(&(&row - mu), |acc, d| *acc += d * d);
            }
            v
        };
        let pooled = (var(&u_fit, &mu_u) + var(&r_fit, &mu_r)) / ((fit_u + fit_r) as f64).max(1.0);
        let ridge = 1e-3 * pooled.mean().unwrap_or(0.0) + f64::MIN_POSITIVE;
        direction.zip_mut_with(&pooled, |w, v| *w /= v + ridge);
    }
    let report = ProjectionReport {
        method: options.projection,
        dimension: unlearned.ncols(),
        fit_fraction: options.projection_fit_fraction,
        n_fit_unlearned: fit_u,
        n_fit_retrained: fit_r,
        n_certify_unlearned: u_cert.nrows(),
        n_certify_retrained: r_cert.nrows(),
    };
    (
        u_cert.dot(&direction).to_vec(),
        r_cert.dot(&direction).to_vec(),
        report,
    )
}

/// Per-example results for every column, in column order (rayon, deterministic).
fn per_example_core(
    unlearned: ArrayView2<f64>,
    retrained: ArrayView2<f64>,
    delta: f64,
    alpha_per_example: f64,
    selection: Selection,
    seed: u64,
    gdp: bool,
) -> Result<Vec<ScalarResult>, AuditError> {
    let (n_u, n_r) = (unlearned.nrows(), retrained.nrows());
    let table = match selection {
        Selection::Split { .. } | Selection::Lfp => None,
        _ => {
            let (_, alpha_per_rate) = strategy_alpha(selection, alpha_per_example, n_u, n_r);
            Some(RateBounds::tabulated(
                alpha_per_rate,
                n_u as u64,
                n_r as u64,
            )?)
        }
    };
    (0..unlearned.ncols())
        .into_par_iter()
        .map(|e| {
            scalar_core(
                unlearned.column(e).to_vec(),
                retrained.column(e).to_vec(),
                delta,
                alpha_per_example,
                selection,
                seed,
                table.as_ref(),
                gdp,
            )
        })
        .collect()
}

/// Holm's step-down over examples (`docs/epsilon.md` §4.1). Hypothesis e: "example e meets
/// the claim"; it is rejected at level a when the example's audit at budget a certifies a
/// bound above the claim, which is monotone in a (Clopper–Pearson bounds loosen as a
/// shrinks), so the iteration below is exactly Holm's procedure on the implied p-values:
/// round 1 is Bonferroni (α/d, the `first_round` bounds); after r rejections the remaining
/// examples are re-audited at α/(d − r); stop when a round rejects nothing. Returns the
/// rejected examples in ascending order and the number of rounds.
fn holm_exceeding(
    unlearned: ArrayView2<f64>,
    retrained: ArrayView2<f64>,
    first_round: &[f64],
    claimed: f64,
    delta: f64,
    alpha: f64,
    options: &AuditOptions,
) -> Result<(Vec<usize>, usize), AuditError> {
    let d = first_round.len();
    let mut rejected: Vec<bool> = first_round.iter().map(|&b| b > claimed).collect();
    let mut count = rejected.iter().filter(|&&r| r).count();
    let mut rounds = 1;
    while count > 0 && count < d {
        let remaining: Vec<usize> = (0..d).filter(|&e| !rejected[e]).collect();
        let results = per_example_core(
            unlearned.select(Axis(1), &remaining).view(),
            retrained.select(Axis(1), &remaining).view(),
            delta,
            alpha / (d - count) as f64,
            options.selection,
            options.seed,
            false,
        )?;
        rounds += 1;
        let mut new = 0;
        for (&e, result) in remaining.iter().zip(&results) {
            if result.outcome.best.epsilon.unwrap_or(0.0).max(0.0) > claimed {
                rejected[e] = true;
                new += 1;
            }
        }
        if new == 0 {
            break;
        }
        count += new;
    }
    Ok(((0..d).filter(|&e| rejected[e]).collect(), rounds))
}

/// The whole audit without null calibration: returns the report pieces.
struct CoreAudit {
    mode: &'static str,
    best: ScalarResult,
    epsilon_lower_bound: f64,
    alpha_per_example: f64,
    projection: Option<ProjectionReport>,
    per_example: Option<(Vec<f64>, usize)>,
}

fn core_audit(
    unlearned: ArrayView2<f64>,
    retrained: ArrayView2<f64>,
    delta: f64,
    alpha: f64,
    options: &AuditOptions,
) -> Result<CoreAudit, AuditError> {
    let d = unlearned.ncols();
    if options.per_example {
        let alpha_per_example = alpha / d as f64;
        let results = per_example_core(
            unlearned,
            retrained,
            delta,
            alpha_per_example,
            options.selection,
            options.seed,
            options.gdp,
        )?;
        let bounds: Vec<f64> = results
            .iter()
            .map(|r| r.outcome.best.epsilon.unwrap_or(0.0).max(0.0))
            .collect();
        let worst = (0..d).fold(0, |w, e| if bounds[e] > bounds[w] { e } else { w });
        let best = results[worst].clone();
        Ok(CoreAudit {
            mode: "per_example",
            epsilon_lower_bound: bounds[worst],
            best,
            alpha_per_example,
            projection: None,
            per_example: Some((bounds, worst)),
        })
    } else if d == 1 {
        let best = scalar_core(
            unlearned.column(0).to_vec(),
            retrained.column(0).to_vec(),
            delta,
            alpha,
            options.selection,
            options.seed,
            None,
            options.gdp,
        )?;
        Ok(CoreAudit {
            mode: "scalar",
            epsilon_lower_bound: best.outcome.best.epsilon.unwrap_or(0.0).max(0.0),
            best,
            alpha_per_example: alpha,
            projection: None,
            per_example: None,
        })
    } else {
        let (u, r, report) = project(unlearned, retrained, options);
        let best = scalar_core(
            u,
            r,
            delta,
            alpha,
            options.selection,
            options.seed,
            None,
            options.gdp,
        )?;
        Ok(CoreAudit {
            mode: "multivariate",
            epsilon_lower_bound: best.outcome.best.epsilon.unwrap_or(0.0).max(0.0),
            best,
            alpha_per_example: alpha,
            projection: Some(report),
            per_example: None,
        })
    }
}

/// Audits a claim from two sample sets (`docs/epsilon.md`). Scalar when `d = 1`, per-example
/// when `options.per_example`, otherwise multivariate (projected to one statistic fitted on a
/// held-out part). Pure: same inputs and seed, same result, whatever the thread count.
pub fn audit_epsilon(
    unlearned: &SampleSet,
    retrained: &SampleSet,
    claim: &Claim,
    options: &AuditOptions,
) -> Result<EpsilonAudit, AuditError> {
    options.check()?;
    if unlearned.dim() != retrained.dim() {
        return Err(AuditError::DimensionMismatch {
            unlearned_source: unlearned.source().display().to_string(),
            unlearned_dim: unlearned.dim(),
            retrained_source: retrained.source().display().to_string(),
            retrained_dim: retrained.dim(),
        });
    }
    let multivariate = unlearned.dim() > 1 && !options.per_example;
    let split = matches!(options.selection, Selection::Split { .. });
    let (required, why) = match (multivariate, split) {
        (true, true) => (4, "(fit, select and certify parts)"),
        (true, false) | (false, true) => (3, "(two parts of each side)"),
        _ => (2, "for an audit"),
    };
    check_side(unlearned, "unlearned", required, why)?;
    let retrained_required = if options.null_calibration {
        required.max(4)
    } else {
        required
    };
    check_side(
        retrained,
        "retrained",
        retrained_required,
        if options.null_calibration {
            "(null calibration splits the retrained runs in halves)"
        } else {
            why
        },
    )?;
    if multivariate && split && (unlearned.n_trials() < 8 || retrained.n_trials() < 8) {
        return Err(invalid(
            "selection",
            "split",
            "multivariate split audits need at least 8 runs per side",
        ));
    }

    let delta = claim.delta();
    let alpha = 1.0 - options.confidence;
    let core = core_audit(
        unlearned.values().view(),
        retrained.values().view(),
        delta,
        alpha,
        options,
    )?;
    let best = &core.best;
    let test = best.outcome.best.clone();

    let epsilon_ceiling = threshold::ceiling(
        best.n_certify_unlearned as u64,
        best.n_certify_retrained as u64,
        alpha / 2.0,
        delta,
    )?;
    let epsilon_ceiling_corrected = if options.selection == Selection::Lfp {
        // The bound a perfectly separated sample would get under the same calibration.
        lfp::lfp_ceiling(
            best.n_certify_unlearned,
            best.n_certify_retrained,
            delta,
            core.alpha_per_example,
            options.seed,
        )
    } else {
        threshold::ceiling(
            best.n_certify_unlearned as u64,
            best.n_certify_retrained as u64,
            best.alpha_per_rate,
            delta,
        )?
    };

    let gdp = if options.gdp {
        let mu = best.outcome.gdp_mu_lower;
        let bound = claim.family() == ClaimFamily::Gaussian;
        Some(GdpReport {
            mu_lower_bound: mu,
            epsilon: gdp_epsilon(mu, delta),
            status: if bound {
                GdpStatus::Bound
            } else {
                GdpStatus::Estimate
            },
            note: if bound {
                "valid lower bound for a Gaussian-family (mu-GDP) claim at the audit's confidence"
            } else {
                "Gaussian-tail extrapolation; not a lower bound unless the mechanism is mu-GDP (use --claim-family gaussian)"
            },
        })
    } else {
        None
    };
    // For a Gaussian-family claim the GDP conversion is a certified bound under the same
    // simultaneous event, so the verdict may use the larger of the two.
    let decisive_bound = match &gdp {
        Some(g) if g.status == GdpStatus::Bound => core.epsilon_lower_bound.max(g.epsilon),
        _ => core.epsilon_lower_bound,
    };

    let mut samples_needed_per_side = None;
    let verdict = match claim.epsilon() {
        None => None,
        Some(claimed) if decisive_bound > claimed => Some(Verdict::Violated {
            reason: format!(
                "certified ε lower bound {} exceeds the claimed ε = {} at confidence {}",
                fmt_number(decisive_bound),
                fmt_number(claimed),
                options.confidence
            ),
        }),
        Some(claimed)
            if epsilon_ceiling_corrected <= claimed
                && gdp.as_ref().is_none_or(|g| g.status != GdpStatus::Bound) =>
        {
            samples_needed_per_side = samples_needed(
                claimed,
                delta,
                core.alpha_per_example,
                options.selection,
                core.projection
                    .as_ref()
                    .map(|_| options.projection_fit_fraction),
            )?;
            Some(Verdict::Inconclusive {
                reason: format!(
                    "with these runs no outcome could refute ε = {}: the largest certifiable ε is {}; about {} runs per side are needed",
                    fmt_number(claimed),
                    fmt_number(epsilon_ceiling_corrected),
                    samples_needed_per_side.map_or("more than 2^40".to_string(), |n| n.to_string())
                ),
                samples_needed_per_side,
            })
        }
        Some(claimed) => Some(Verdict::Consistent {
            reason: format!(
                "no test certifies ε above the claimed {} (bound {}, ceiling {}); this is absence of evidence, not proof",
                fmt_number(claimed),
                fmt_number(decisive_bound),
                fmt_number(epsilon_ceiling_corrected)
            ),
        }),
    };
    let reason = verdict.as_ref().map_or_else(
        || "no claimed ε given: bound reported without a verdict".to_string(),
        |v| v.reason().to_string(),
    );

    let per_example = match &core.per_example {
        Some((bounds, worst)) => {
            let (exceeding, holm_rounds) = match (claim.epsilon(), options.example_correction) {
                (None, _) => (None, None),
                (Some(c), ExampleCorrection::Bonferroni) => (
                    Some(
                        (0..bounds.len())
                            .filter(|&e| bounds[e] > c)
                            .collect::<Vec<usize>>(),
                    ),
                    None,
                ),
                (Some(c), ExampleCorrection::Holm) => {
                    let (list, rounds) = holm_exceeding(
                        unlearned.values().view(),
                        retrained.values().view(),
                        bounds,
                        c,
                        delta,
                        alpha,
                        options,
                    )?;
                    (Some(list), Some(rounds))
                }
            };
            let neurips_2023 = if options.neurips_score {
                let eps =
                    neurips_2023_epsilons(unlearned.values().view(), retrained.values().view());
                let score = neurips_2023_forget_score(&eps, unlearned.n_trials());
                Some(NeuripsReport {
                    label: "estimate, not a bound (NeurIPS 2023 unlearning challenge metric)",
                    per_example_epsilon: eps,
                    forget_score: score,
                })
            } else {
                None
            };
            Some(PerExampleReport {
                examples: bounds.len(),
                correction: "Bonferroni across examples (alpha / examples each)",
                epsilon_lower_bounds: bounds.clone(),
                worst_example: *worst,
                count_exceeding_claim: exceeding.as_ref().map(Vec::len),
                examples_exceeding_claim: exceeding,
                exceeding_claim_correction: options.example_correction,
                holm_rounds,
                neurips_2023,
            })
        }
        None => None,
    };

    let null_calibration = if options.null_calibration {
        let n = retrained.n_trials();
        let perm = permutation(n, options.seed, STREAM_NULL);
        let half = n / 2;
        let first = retrained.values().select(Axis(0), &perm[..half]);
        let second = retrained.values().select(Axis(0), &perm[half..]);
        let null = core_audit(first.view(), second.view(), delta, alpha, options)?;
        Some(NullCalibration {
            epsilon_lower_bound: null.epsilon_lower_bound,
            n_first_half: half,
            n_second_half: n - half,
            point_estimate: null.best.outcome.point_estimate,
            note: "retrained runs audited against each other (nothing leaks); a bound above 0 here happens with probability at most 1 - confidence",
        })
    } else {
        None
    };

    let split_text = match (core.mode, options.selection) {
        ("per_example", _) => format!(
            "alpha = {} split equally over {} examples, then over {} tests per example, then equally over the FPR and FNR bound of each test",
            fmt_number(alpha),
            unlearned.dim(),
            best.tests
        ),
        (_, Selection::Lfp) => format!(
            "alpha = {} split equally over the two directions; each direction's Monte-Carlo test of H_epsilon under the least-favourable pair at alpha/2 ({} draws); test.fpr_upper / fnr_upper are single-test Clopper-Pearson bounds at alpha/4 for information only",
            fmt_number(alpha),
            best.lfp.as_ref().map_or(0, |l| l.draws)
        ),
        (_, Selection::Split { .. }) => format!(
            "alpha = {} on the single selected test: alpha/2 on each of its FPR and FNR bounds",
            fmt_number(alpha)
        ),
        _ => format!(
            "alpha = {} split equally over {} tests, then equally over the FPR and FNR bound of each test",
            fmt_number(alpha),
            best.tests
        ),
    };

    Ok(EpsilonAudit {
        mode: core.mode,
        epsilon_lower_bound: core.epsilon_lower_bound,
        confidence: options.confidence,
        delta,
        claim: ClaimReport {
            epsilon: claim.epsilon(),
            delta,
            family: claim.family(),
        },
        verdict: verdict.as_ref().map(Verdict::name),
        reason,
        n_unlearned: unlearned.n_trials(),
        n_retrained: retrained.n_trials(),
        epsilon_ceiling,
        epsilon_ceiling_corrected,
        samples_needed_per_side,
        selection: SelectionReport {
            selection: options.selection,
            grid: match options.selection {
                Selection::Bonferroni => Some(
                    "tail-focused: order statistics of each side at ranks 1, 2, 3, 4, 5, 6, 8, 11, 16, 23, ... (ratio sqrt 2) up to n/2, from both tails",
                ),
                Selection::BonferroniAll => Some(
                    "all thresholds: every order statistic of each side (every pooled value), both rule directions, 2 (n_unlearned + n_retrained) tests",
                ),
                Selection::Lfp => Some(
                    "least-favourable pair: every threshold among the most extreme pooled points of each tail, both directions (alpha/2 each), Monte-Carlo p-value under the least-favourable pair of each tested epsilon, inverted on a 2^-12 grid",
                ),
                _ => None,
            },
            exact_evaluations: best.exact_evaluations,
            lfp: best.lfp.clone(),
            n_selection_unlearned: best.n_selection.map(|s| s.0),
            n_selection_retrained: best.n_selection.map(|s| s.1),
        },
        error_budget: ErrorBudget {
            alpha,
            split: split_text,
            alpha_per_example: core.alpha_per_example,
            tests_per_example: best.tests,
            alpha_per_test: best.alpha_per_rate * 2.0,
            alpha_per_rate: best.alpha_per_rate,
        },
        test,
        point_estimate: Estimate {
            value: best.outcome.point_estimate,
            label: "estimate, not a bound",
            method: "max over the same tests of the two-branch formula with half-count (Haldane-Anscombe) rates (k + 1/2)/(n + 1), so zero counts give a finite value (docs/epsilon.md section 5)",
            kind: "estimate, not a bound",
            note: "a maximum over many tests of noisy rates, biased upward: it can exceed the claimed epsilon on a passing audit; only epsilon_lower_bound is certified",
        },
        gdp,
        projection: core.projection,
        per_example,
        null_calibration,
        mode_guidance: mode_guidance(
            unlearned.values().view(),
            retrained.values().view(),
            claim,
            options,
        )?,
        verdict_detail: verdict,
    })
}

#[cfg(test)]
mod unit {
    use super::*;

    // Claim validation is tested with the type, in `evidence`.

    #[test]
    fn gdp_conversion_matches_reference() {
        // epsilon-auditing.md §1: (ε=1, δ=1e-5) ⇔ μ = 0.268; ε=4 ⇔ μ = 0.925.
        assert!((gdp_epsilon(0.268, 1e-5) - 1.0).abs() < 0.01);
        assert!((gdp_epsilon(0.925, 1e-5) - 4.0).abs() < 0.02);
        assert_eq!(gdp_epsilon(0.0, 1e-5), 0.0);
    }

    #[test]
    fn permutation_is_deterministic() {
        assert_eq!(permutation(10, 7, 1), permutation(10, 7, 1));
        assert_ne!(permutation(10, 7, 1), permutation(10, 7, 2));
    }
}
