//! `unlearn-audit epsilon`: certified ε lower bound from repeated runs and a verdict on a
//! claimed (ε, δ); `unlearn-audit epsilon plan`: runs per side needed. See `docs/epsilon.md`.

use std::path::PathBuf;

use anyhow::{Context, bail};
use unlearn_audit::audit::{
    self, AuditOptions, Claim, ClaimFamily, ExampleCorrection, Projection, Selection,
};
use unlearn_audit::io::load_sample_set;

/// Arguments of `unlearn-audit epsilon`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Args {
    #[command(subcommand)]
    command: Option<EpsilonCommand>,

    /// Sample set of the unlearning runs: `.npy` [n_trials, d] or a directory of per-trial `.npy` [d].
    #[arg(long, value_name = "PATH", required = true)]
    unlearned: Option<PathBuf>,

    /// Sample set of the retraining runs (same d; the number of runs may differ).
    #[arg(long, value_name = "PATH", required = true)]
    retrained: Option<PathBuf>,

    /// δ of the (ε, δ) statement, in (0, 1).
    #[arg(long, value_name = "D", required = true)]
    delta: Option<f64>,

    /// Claimed ε; without it the bound is reported with no verdict.
    #[arg(long, value_name = "E")]
    claim_epsilon: Option<f64>,

    /// Confidence of every reported bound, in (0, 1).
    #[arg(long, default_value_t = 0.95)]
    confidence: f64,

    /// One bound per column (forget example), simultaneous across examples.
    #[arg(long)]
    per_example: bool,

    /// Test selection: `bonferroni` (tail grid, default), `bonferroni-all` (every threshold,
    /// both directions), `lfp` (least-favourable-pair calibration, docs/epsilon.md §3.7),
    /// `split:F` (choose on a fraction F, certify on the rest) or `threshold:T`
    /// (pre-registered threshold).
    #[arg(long, default_value = "bonferroni", value_parser = parse_selection)]
    selection: Selection,

    /// Seed of every random split.
    #[arg(long, default_value_t = 0)]
    seed: u64,

    /// Family of the claimed mechanism: `generic` or `gaussian` (μ-GDP; enables GDP bounds).
    #[arg(long, default_value = "generic", value_parser = parse_family)]
    claim_family: ClaimFamily,

    /// Report the Gaussian-DP conversion (a bound only with `--claim-family gaussian`).
    #[arg(long)]
    gdp: bool,

    /// Also audit half of the retrained runs against the other half (nothing leaks there).
    #[arg(long)]
    null_calibration: bool,

    /// Multivariate mode: projection fitted on held-out runs, `diagonal-fisher` or `mean-difference`.
    #[arg(long, default_value = "diagonal-fisher", value_parser = parse_projection)]
    projection: Projection,

    /// Multivariate mode: fraction of each side used to fit the projection.
    #[arg(long, default_value_t = 0.5)]
    fit_fraction: f64,

    /// Per-example mode: also compute the NeurIPS-2023 forget score (an estimate; slow).
    #[arg(long)]
    neurips_score: bool,

    /// Per-example mode: correction for the list of examples exceeding the claim,
    /// `bonferroni` (α/d each) or `holm` (step-down: same family-wise error, more power).
    #[arg(long, default_value = "bonferroni", value_parser = parse_correction)]
    example_correction: ExampleCorrection,

    /// Print the JSON report.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Subcommand)]
enum EpsilonCommand {
    /// Runs per side needed to refute a claim if the truth is a μ-GDP mechanism.
    Plan(PlanArgs),
}

#[derive(Debug, clap::Args)]
struct PlanArgs {
    /// Claimed ε to refute.
    #[arg(long, value_name = "E")]
    claim_epsilon: f64,
    /// δ of the claim.
    #[arg(long, value_name = "D")]
    delta: f64,
    /// μ of the true (Gaussian-DP) mechanism: shift of the unlearned statistic in noise units.
    #[arg(long, value_name = "MU")]
    true_mu: f64,
    /// Confidence of the audit being planned.
    #[arg(long, default_value_t = 0.95)]
    confidence: f64,
    /// Audit mode planned: scalar (one statistic per run), multivariate (several columns, the
    /// default audit on them: --fit-fraction of the runs fit the projection, the rest certify)
    /// or per-example (alpha / --examples per example).
    #[arg(long, default_value = "scalar", value_parser = ["scalar", "multivariate", "per-example"])]
    mode: String,
    /// Multivariate mode: fraction of each side's runs that fits the projection.
    #[arg(long, default_value_t = 0.5)]
    fit_fraction: f64,
    /// Per-example mode: number of examples (columns) audited.
    #[arg(long, value_name = "D")]
    examples: Option<usize>,
    /// Print the JSON report.
    #[arg(long)]
    json: bool,
}

fn parse_selection(text: &str) -> Result<Selection, String> {
    if text == "bonferroni" {
        return Ok(Selection::Bonferroni);
    }
    if text == "bonferroni-all" {
        return Ok(Selection::BonferroniAll);
    }
    if text == "lfp" {
        return Ok(Selection::Lfp);
    }
    let number = |rest: &str, what: &str| {
        rest.parse::<f64>()
            .map_err(|_| format!("`{text}`: {what} must be a number"))
    };
    if let Some(rest) = text.strip_prefix("split:") {
        let fraction = number(rest, "the split fraction")?;
        if !(fraction > 0.0 && fraction < 1.0) {
            return Err(format!(
                "`{text}`: the split fraction must lie strictly between 0 and 1"
            ));
        }
        return Ok(Selection::Split { fraction });
    }
    if let Some(rest) = text.strip_prefix("threshold:") {
        let threshold = number(rest, "the threshold")?;
        if !threshold.is_finite() {
            return Err(format!("`{text}`: the threshold must be finite"));
        }
        return Ok(Selection::Threshold { threshold });
    }
    Err(format!(
        "`{text}`: expected bonferroni, bonferroni-all, lfp, split:F or threshold:T"
    ))
}

fn parse_correction(text: &str) -> Result<ExampleCorrection, String> {
    match text {
        "bonferroni" => Ok(ExampleCorrection::Bonferroni),
        "holm" => Ok(ExampleCorrection::Holm),
        _ => Err(format!("`{text}`: expected bonferroni or holm")),
    }
}

fn parse_family(text: &str) -> Result<ClaimFamily, String> {
    match text {
        "generic" => Ok(ClaimFamily::Generic),
        "gaussian" => Ok(ClaimFamily::Gaussian),
        _ => Err(format!("`{text}`: expected generic or gaussian")),
    }
}

fn parse_projection(text: &str) -> Result<Projection, String> {
    match text {
        "diagonal-fisher" => Ok(Projection::DiagonalFisher),
        "mean-difference" => Ok(Projection::MeanDifference),
        _ => Err(format!(
            "`{text}`: expected diagonal-fisher or mean-difference"
        )),
    }
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    if let Some(EpsilonCommand::Plan(plan)) = args.command {
        let claim = Claim::new(Some(plan.claim_epsilon), plan.delta).context("invalid claim")?;
        let mode = match plan.mode.as_str() {
            "multivariate" => audit::PlannerMode::Multivariate {
                fit_fraction: plan.fit_fraction,
            },
            "per-example" => audit::PlannerMode::PerExample {
                examples: plan
                    .examples
                    .context("--mode per-example needs --examples D (the number of columns)")?,
            },
            _ => audit::PlannerMode::Scalar,
        };
        let result = audit::plan_samples_for(&claim, plan.true_mu, plan.confidence, mode)
            .context("planner")?;
        return super::emit(&result, plan.json);
    }
    let (Some(unlearned), Some(retrained), Some(delta)) =
        (args.unlearned, args.retrained, args.delta)
    else {
        bail!("--unlearned, --retrained and --delta are required");
    };
    let claim = Claim::new(args.claim_epsilon, delta)
        .context("invalid claim")?
        .with_family(args.claim_family);
    let unlearned_set = load_sample_set(&unlearned).context("reading the unlearned sample set")?;
    let retrained_set = load_sample_set(&retrained).context("reading the retrained sample set")?;
    let options = AuditOptions {
        confidence: args.confidence,
        selection: args.selection,
        per_example: args.per_example,
        seed: args.seed,
        gdp: args.gdp,
        null_calibration: args.null_calibration,
        projection_fit_fraction: args.fit_fraction,
        projection: args.projection,
        neurips_score: args.neurips_score,
        example_correction: args.example_correction,
    };
    let result = audit::audit_epsilon(&unlearned_set, &retrained_set, &claim, &options)?;
    super::emit(&result, args.json)
}
