//! `unlearn-audit mia`: membership-inference attacks with confidence intervals.
//!
//! Without a subcommand: population attacks on one model bundle (members vs non-members),
//! optionally against a retrained reference bundle. With `lira`, `rmia` or `ulira`:
//! shadow-model attacks on score matrices in the npz layout of `docs/mia.md` §5.
//! The analyses live in `unlearn_audit::mia`; this file reads files and prints.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use ndarray::{Array1, Array2, ArrayD, Ix1, Ix2};
use serde::Serialize;
use unlearn_audit::io::{NpzFile, load_labelled_logits, load_labels};
use unlearn_audit::metrics::OutputKind;
use unlearn_audit::mia::population::{AttackOutcome, Compatibility, EvaluatedRate};
use unlearn_audit::mia::roc::{FprConvention, Roc, RocConfig, RocSummary};
use unlearn_audit::mia::shadow::{
    LiraConfig, LiraMode, LiraVariance, OfflineTest, RmiaConfig, RmiaInput, RunsInput,
    ShadowMatrix, UnlearningState, ulira_runs_scores,
};
use unlearn_audit::mia::unlearning::{AttackGap, compare_to_chance, compare_to_reference};
use unlearn_audit::mia::{
    PopulationConfig, SalunMiaEfficacy, SplitOutputs, compatibility_modes, lira_scores,
    population_attacks, rmia_scores, salun_mia_efficacy, ulira_scores,
};
use unlearn_audit::report::{Finding, Outcome, Provenance, Table, fmt_number, fmt_optional};

/// What `outputs.npz` holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputsAre {
    /// Unnormalised scores.
    Logits,
    /// Probability rows (their logarithms are used as logits).
    Probabilities,
}

/// The step convention for TPR at FPR α.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Convention {
    /// Largest TPR with FPR ≤ α (ML Privacy Meter).
    AtMost,
    /// Largest TPR with FPR < α (LiRA reference code).
    Below,
}

/// Options shared by every form of the command.
#[derive(Debug, Clone, clap::Args)]
pub struct CommonArgs {
    /// FPR levels α for TPR at FPR α (comma-separated).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "0.001,0.01,0.1",
        global = true
    )]
    fpr: Vec<f64>,
    /// Confidence of every interval.
    #[arg(long, default_value_t = 0.95, global = true)]
    confidence: f64,
    /// Stratified bootstrap replicates for AUC and TPR@FPR intervals (0: none).
    #[arg(long, default_value_t = 1000, global = true)]
    bootstrap: usize,
    /// Master seed (bootstrap, held-out split, sub-sampling). Same seed, same JSON.
    #[arg(long, default_value_t = 0, global = true)]
    seed: u64,
    /// Step convention for TPR at FPR α.
    #[arg(long, value_enum, default_value = "at-most", global = true)]
    fpr_convention: Convention,
    /// Include every ROC point in the JSON.
    #[arg(long, global = true)]
    curve: bool,
    /// Print the JSON report on stdout instead of tables.
    #[arg(long, global = true)]
    json: bool,
}

impl CommonArgs {
    /// Whether `--json` was given.
    pub(crate) fn json(&self) -> bool {
        self.json
    }
    /// `--confidence`.
    pub(crate) fn confidence(&self) -> f64 {
        self.confidence
    }
    pub(crate) fn roc_config(&self) -> RocConfig {
        RocConfig {
            fprs: self.fpr.clone(),
            confidence: self.confidence,
            convention: match self.fpr_convention {
                Convention::AtMost => FprConvention::AtMost,
                Convention::Below => FprConvention::Below,
            },
            bootstrap_replicates: self.bootstrap,
            seed: self.seed,
            curve: self.curve,
        }
    }
}

/// Arguments of `unlearn-audit mia`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Args {
    #[command(subcommand)]
    shadow: Option<ShadowCommand>,
    /// Model bundle directory (outputs.npz with one logits array per split).
    #[arg(long, value_name = "DIR", required = true)]
    model: Option<PathBuf>,
    /// labels.npz: one integer array per split.
    #[arg(long, value_name = "FILE", required = true)]
    labels: Option<PathBuf>,
    /// Split of training members (e.g. `retain`, or `forget` to test forgetting).
    #[arg(long, value_name = "SPLIT", required = true)]
    members: Option<String>,
    /// Split of non-members (e.g. `test`).
    #[arg(long, value_name = "SPLIT", required = true)]
    nonmembers: Option<String>,
    /// Split on which to report the share each attack calls "member" (e.g. `forget`).
    #[arg(long, value_name = "SPLIT")]
    evaluate: Option<String>,
    /// Retrained model bundle: run the same attacks on it and report the gap.
    #[arg(long, value_name = "DIR")]
    reference: Option<PathBuf>,
    /// Whether outputs.npz holds logits or probabilities.
    #[arg(long, value_enum, default_value = "logits")]
    outputs_are: OutputsAre,
    /// Share of members and non-members used to fit the fitted attacks.
    #[arg(long, default_value_t = 0.5)]
    fit_fraction: f64,
    #[command(flatten)]
    common: CommonArgs,
}

/// Shadow-model attacks on score matrices (`docs/mia.md` §5 for the npz layout).
#[derive(Debug, clap::Subcommand)]
pub enum ShadowCommand {
    /// LiRA (Carlini et al. 2022), online and offline, from shadow-model φ scores.
    Lira(LiraArgs),
    /// RMIA (Zarifzadeh et al. 2024) from true-label probabilities, with population points.
    Rmia(RmiaArgs),
    /// U-LiRA (Hayes et al. 2024) from shadow models that trained and then unlearned.
    Ulira(UliraArgs),
    /// Language-model attacks (LOSS, zlib, Min-K %, Min-K %++) on an LLM bundle, with MUSE's
    /// PrivLeak against a retrained bundle (docs/llm.md).
    Llm(super::llm::LlmArgs),
}

/// σ estimation for LiRA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Variance {
    PerExample,
    Fixed,
    FixedCarlini,
}

impl From<Variance> for LiraVariance {
    fn from(v: Variance) -> Self {
        match v {
            Variance::PerExample => LiraVariance::PerExample,
            Variance::Fixed => LiraVariance::Fixed,
            Variance::FixedCarlini => LiraVariance::FixedCarlini,
        }
    }
}

/// The offline test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OfflineTestArg {
    /// The paper's one-sided test.
    OneSided,
    /// The reference code's −logpdf.
    Logpdf,
}

#[derive(Debug, clap::Args)]
pub struct LiraArgs {
    /// npz with shadow_scores, shadow_in, target_scores, target_in.
    #[arg(long, value_name = "FILE")]
    scores: PathBuf,
    #[arg(long, value_enum, default_value = "per-example")]
    variance: Variance,
    #[arg(long, value_enum, default_value = "one-sided")]
    offline_test: OfflineTestArg,
}

#[derive(Debug, clap::Args)]
pub struct RmiaArgs {
    /// npz with shadow_scores, shadow_in, target_scores, target_in, population_target_scores,
    /// population_shadow_scores (probabilities of the true label).
    #[arg(long, value_name = "FILE")]
    scores: PathBuf,
    /// Online: Pr(x) from IN and OUT reference models; default offline (OUT only).
    #[arg(long)]
    online: bool,
    /// Offline coefficient a.
    #[arg(long, default_value_t = 0.3)]
    offline_a: f64,
    /// γ: x beats z when LR(x, z) > γ.
    #[arg(long, default_value_t = 1.0)]
    gamma: f64,
}

#[derive(Debug, clap::Args)]
pub struct UliraArgs {
    /// npz with shadow_scores, shadow_state, target_scores, target_state, and optionally
    /// retrained_scores.
    #[arg(long, value_name = "FILE", required_unless_present = "samples")]
    scores: Option<PathBuf>,
    /// Output directory of `unlearn-audit sample --record forget-scores` (unlearned.npy,
    /// retrained.npy, manifest.json): the unlearned and retrained runs are the two shadow
    /// populations of every forget example (docs/mia.md §3.4).
    #[arg(long, value_name = "DIR", conflicts_with = "scores")]
    samples: Option<PathBuf>,
    /// With --samples: .npy [d] of the audited model's φ on the forget examples (in the
    /// manifest's forget_indices order). Default: the last --holdout unlearned runs.
    #[arg(long, value_name = "FILE", requires = "samples")]
    target: Option<PathBuf>,
    /// With --samples: runs per side held out as targets / negatives (default: a quarter of
    /// the retrained runs, at least 1).
    #[arg(long, value_name = "N", requires = "samples")]
    holdout: Option<usize>,
    #[arg(long, value_enum, default_value = "per-example")]
    variance: Variance,
}

/// One attack in the report. JSON names are a contract (`docs/mia.md` §6).
#[derive(Debug, Serialize)]
struct AttackReport {
    description: String,
    #[serde(flatten)]
    summary: RocSummary,
    #[serde(skip_serializing_if = "Option::is_none")]
    evaluated: Option<EvaluatedRate>,
}

/// The report of `unlearn-audit mia`.
#[derive(Debug, Serialize)]
struct MiaReport {
    provenance: Provenance,
    /// `population`, `lira`, `rmia` or `ulira`.
    mode: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    members: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonmembers: Option<String>,
    attacks: serde_json::Map<String, serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    compatibility: Option<serde_json::Map<String, serde_json::Value>>,
    /// `mia ulira --samples`: where the shadow populations and targets came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    samples: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reference: Option<ReferenceReport>,
    #[serde(flatten)]
    outcome: Outcome,
    #[serde(skip)]
    rows: Vec<(String, RocSummary)>,
    #[serde(skip)]
    gap_rows: Vec<AttackGap>,
}

#[derive(Debug, Serialize)]
struct ReferenceReport {
    model: String,
    attacks: serde_json::Map<String, serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    compatibility: Option<serde_json::Map<String, serde_json::Value>>,
    /// AUC(unlearned) − AUC(retrained) per attack, paired DeLong, Bonferroni over attacks.
    gaps: Vec<AttackGap>,
    family_confidence: f64,
}

impl Finding for MiaReport {
    fn title(&self) -> String {
        format!("Membership inference ({})", self.mode)
    }
    fn outcome(&self) -> Outcome {
        self.outcome.clone()
    }
    fn markdown(&self) -> String {
        let fprs: Vec<String> = self
            .rows
            .first()
            .map(|r| r.1.tpr_at_fpr.keys().cloned().collect())
            .unwrap_or_default();
        let mut header = vec!["attack".to_string(), "AUC".into(), "AUC CI".into()];
        header.extend(fprs.iter().map(|f| format!("TPR@{f}")));
        header.extend(["advantage".into(), "n1/n0".into()]);
        let mut table = Table::new(header);
        for (name, s) in &self.rows {
            let mut row = vec![
                name.clone(),
                fmt_number(s.auc),
                s.auc_ci
                    .map(|ci| format!("[{}, {}]", fmt_number(ci.lower), fmt_number(ci.upper)))
                    .unwrap_or_else(|| "—".into()),
            ];
            // `*`: α < 1/n0, the data cannot resolve this level.
            row.extend(fprs.iter().map(|f| {
                let value = fmt_optional(s.tpr_at_fpr.get(f).copied());
                if s.tpr_at_fpr_resolved.get(f) == Some(&false) {
                    format!("{value}*")
                } else {
                    value
                }
            }));
            row.push(fmt_number(s.advantage));
            row.push(format!("{}/{}", s.n_members, s.n_nonmembers));
            table.row(row);
        }
        let mut text = table.markdown();
        if let Some(first) = self.rows.first() {
            text.push_str(&format!(
                "\nSmallest FPR these non-members resolve: {} (1/n0); `*` marks levels below it.\n",
                fmt_number(first.1.min_resolvable_fpr)
            ));
        }
        if let Some(modes) = &self.compatibility {
            let mut table = Table::new(["compatibility mode", "value", "ideal"]);
            for (name, mode) in modes {
                table.row([
                    name.clone(),
                    fmt_optional(mode["value"].as_f64()),
                    mode["ideal"]
                        .as_f64()
                        .map(fmt_number)
                        .unwrap_or_else(|| "retrained model's value".into()),
                ]);
            }
            text.push('\n');
            text.push_str(&table.markdown());
        }
        if !self.gap_rows.is_empty() {
            let mut gaps =
                Table::new(["attack", "AUC unlearned", "AUC retrained", "gap", "gap CI"]);
            for g in &self.gap_rows {
                gaps.row([
                    g.attack.clone(),
                    fmt_number(g.unlearned_auc),
                    fmt_number(g.retrained_auc),
                    fmt_number(g.auc_gap),
                    g.auc_gap_ci
                        .map(|ci| format!("[{}, {}]", fmt_number(ci.lower), fmt_number(ci.upper)))
                        .unwrap_or_else(|| "—".into()),
                ]);
            }
            text.push_str("\nGap to the retrained model:\n\n");
            text.push_str(&gaps.markdown());
        }
        text.push_str(&format!("\nOutcome: {}\n", describe(&self.outcome)));
        text
    }
}

fn describe(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Info => "measurement only (give --reference for a verdict)".into(),
        Outcome::Pass => "indistinguishable from retraining".into(),
        Outcome::Fail { reason } => format!("FAIL: {reason}"),
        Outcome::Inconclusive { reason } => format!("inconclusive: {reason}"),
    }
}

fn attack_json(
    description: &str,
    summary: &RocSummary,
    evaluated: Option<&EvaluatedRate>,
) -> anyhow::Result<serde_json::Value> {
    Ok(serde_json::to_value(AttackReport {
        description: description.to_string(),
        summary: summary.clone(),
        evaluated: evaluated.cloned(),
    })?)
}

fn compatibility_json(
    modes: &[Compatibility],
) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
    let mut map = serde_json::Map::new();
    for mode in modes {
        map.insert(mode.name.clone(), serde_json::to_value(mode)?);
    }
    Ok(map)
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    match args.shadow {
        Some(ShadowCommand::Lira(lira)) => run_lira(lira, &args.common),
        Some(ShadowCommand::Rmia(rmia)) => run_rmia(rmia, &args.common),
        Some(ShadowCommand::Ulira(ulira)) => run_ulira(ulira, &args.common),
        Some(ShadowCommand::Llm(llm)) => super::llm::run_mia(llm, &args.common),
        None => run_population(args),
    }
}

// ------------------------------------------------------------------ population attacks

struct ModelRun {
    attacks: Vec<AttackOutcome>,
    compatibility: Vec<Compatibility>,
    /// SalUn MIA-Efficacy (needs `--evaluate`): also under `attacks.salun_mia_efficacy`.
    salun: Option<SalunMiaEfficacy>,
}

fn run_model(args: &Args, model: &Path, config: &PopulationConfig) -> anyhow::Result<ModelRun> {
    let labels_path = args.labels.as_deref().expect("required by clap");
    let labels = load_labels(labels_path)?;
    let members_name = args.members.as_deref().expect("required by clap");
    let nonmembers_name = args.nonmembers.as_deref().expect("required by clap");
    let kind = match args.outputs_are {
        OutputsAre::Logits => OutputKind::Logits,
        OutputsAre::Probabilities => OutputKind::Probabilities,
    };
    let load = |split: &str| load_labelled_logits(model, labels_path, &labels, split, kind);
    let members = load(members_name)?;
    let nonmembers = load(nonmembers_name)?;
    let evaluate = args.evaluate.as_deref().map(load).transpose()?;
    let context = |split: &str| format!("{}: split `{split}`", model.join("outputs.npz").display());
    let members_view =
        SplitOutputs::new(members_name, members.logits.view(), members.labels.clone())
            .with_context(|| context(members_name))?;
    let nonmembers_view = SplitOutputs::new(
        nonmembers_name,
        nonmembers.logits.view(),
        nonmembers.labels.clone(),
    )
    .with_context(|| context(nonmembers_name))?;
    let evaluate_view = match (&evaluate, args.evaluate.as_deref()) {
        (Some(split), Some(name)) => Some(
            SplitOutputs::new(name, split.logits.view(), split.labels.clone())
                .with_context(|| context(name))?,
        ),
        _ => None,
    };
    let attacks = population_attacks(
        &members_view,
        &nonmembers_view,
        evaluate_view.as_ref(),
        config,
    )
    .with_context(|| format!("{}", model.display()))?;
    let compatibility = compatibility_modes(
        &members_view,
        &nonmembers_view,
        evaluate_view.as_ref(),
        config.seed,
    )
    .with_context(|| format!("{}", model.display()))?;
    let mut compatibility = compatibility;
    let salun = match &evaluate_view {
        Some(target) => {
            let salun = salun_mia_efficacy(
                &members_view,
                &nonmembers_view,
                target,
                config.roc.confidence,
            )
            .with_context(|| format!("{}", model.display()))?;
            compatibility.push(Compatibility {
                name: "salun_mia_efficacy".into(),
                value: salun.value,
                definition: "MIA-Efficacy (confidence entry): share of the evaluated split \
                             predicted non-member by an RBF SVC fitted on the first \
                             |non-members| members vs the non-members",
                ideal: None,
                n_members: salun.n_shadow_train,
                n_nonmembers: salun.n_shadow_test,
                source: salun.source,
            });
            Some(salun)
        }
        None => None,
    };
    Ok(ModelRun {
        attacks,
        compatibility,
        salun,
    })
}

fn run_population(args: Args) -> anyhow::Result<u8> {
    let (Some(model), Some(labels_path), Some(members), Some(nonmembers)) = (
        args.model.clone(),
        args.labels.clone(),
        args.members.clone(),
        args.nonmembers.clone(),
    ) else {
        bail!(
            "`mia` needs --model, --labels, --members and --nonmembers (or a subcommand: lira, rmia, ulira)"
        );
    };
    if members == nonmembers {
        bail!(
            "--members and --nonmembers are the same split `{members}`: an attack needs both classes"
        );
    }
    let config = PopulationConfig {
        roc: args.common.roc_config(),
        seed: args.common.seed,
        fit_fraction: args.fit_fraction,
    };
    let unlearned = run_model(&args, &model, &config)?;
    let mut provenance = Provenance::new();
    for path in [model.join("outputs.npz"), labels_path.clone()] {
        provenance.inputs.push(digest(&path)?);
    }
    let mut attacks = serde_json::Map::new();
    let mut rows = Vec::new();
    for attack in &unlearned.attacks {
        attacks.insert(
            attack.name.clone(),
            attack_json(
                attack.description,
                &attack.summary,
                attack.evaluated.as_ref(),
            )?,
        );
        rows.push((attack.name.clone(), attack.summary.clone()));
    }
    if let Some(salun) = &unlearned.salun {
        attacks.insert("salun_mia_efficacy".into(), serde_json::to_value(salun)?);
    }
    let (reference, outcome, gap_rows) = match &args.reference {
        None => (None, Outcome::Info, Vec::new()),
        Some(reference_dir) => {
            provenance
                .inputs
                .push(digest(&reference_dir.join("outputs.npz"))?);
            let retrained = run_model(&args, reference_dir, &config)?;
            let pairs = unlearned
                .attacks
                .iter()
                .zip(&retrained.attacks)
                .map(|(u, r)| {
                    debug_assert_eq!(u.name, r.name);
                    (u.name.as_str(), &u.roc, &r.roc)
                });
            let (gaps, outcome) = compare_to_reference(pairs, args.common.confidence)?;
            let mut reference_attacks = serde_json::Map::new();
            for attack in &retrained.attacks {
                reference_attacks.insert(
                    attack.name.clone(),
                    attack_json(
                        attack.description,
                        &attack.summary,
                        attack.evaluated.as_ref(),
                    )?,
                );
            }
            if let Some(salun) = &retrained.salun {
                reference_attacks.insert("salun_mia_efficacy".into(), serde_json::to_value(salun)?);
            }
            (
                Some(ReferenceReport {
                    model: reference_dir.display().to_string(),
                    attacks: reference_attacks,
                    compatibility: Some(compatibility_json(&retrained.compatibility)?),
                    gaps: gaps.clone(),
                    family_confidence: args.common.confidence,
                }),
                outcome,
                gaps,
            )
        }
    };
    let report = MiaReport {
        provenance,
        mode: "population",
        members: Some(members),
        nonmembers: Some(nonmembers),
        attacks,
        compatibility: Some(compatibility_json(&unlearned.compatibility)?),
        samples: None,
        reference,
        outcome,
        rows,
        gap_rows,
    };
    super::emit(&report, args.common.json)
}

pub(crate) fn digest(path: &Path) -> anyhow::Result<unlearn_audit::report::InputDigest> {
    Ok(unlearn_audit::report::InputDigest {
        path: path.display().to_string(),
        sha256: unlearn_audit::report::sha256_file(path)
            .with_context(|| format!("{}", path.display()))?,
    })
}

// ------------------------------------------------------------------ shadow-model attacks

fn array1<T: Clone>(file: &Path, name: &str, array: ArrayD<T>) -> anyhow::Result<Array1<T>> {
    let shape = array.shape().to_vec();
    array.into_dimensionality::<Ix1>().map_err(|_| {
        anyhow::anyhow!(
            "{}: array `{name}` has shape {shape:?}, expected [n_points]",
            file.display()
        )
    })
}

fn array2<T: Clone>(file: &Path, name: &str, array: ArrayD<T>) -> anyhow::Result<Array2<T>> {
    let shape = array.shape().to_vec();
    let array = array.into_dimensionality::<Ix2>().map_err(|_| {
        anyhow::anyhow!(
            "{}: array `{name}` has shape {shape:?}, expected [n_points, n_models]",
            file.display()
        )
    })?;
    Ok(array.as_standard_layout().into_owned())
}

fn same_shape(file: &Path, a: (&str, &[usize]), b: (&str, &[usize])) -> anyhow::Result<()> {
    if a.1 != b.1 {
        bail!(
            "{}: `{}` has shape {:?} but `{}` has shape {:?}; they must match",
            file.display(),
            a.0,
            a.1,
            b.0,
            b.1
        );
    }
    Ok(())
}

/// Members' and non-members' scores from a membership vector.
fn split_by_membership(
    file: &Path,
    mask_name: &str,
    scores: &[f64],
    membership: &[bool],
) -> anyhow::Result<Roc> {
    let members: Vec<f64> = scores
        .iter()
        .zip(membership)
        .filter(|p| *p.1)
        .map(|p| *p.0)
        .collect();
    let nonmembers: Vec<f64> = scores
        .iter()
        .zip(membership)
        .filter(|p| !*p.1)
        .map(|p| *p.0)
        .collect();
    Roc::new(&members, &nonmembers).with_context(|| format!("{}: `{mask_name}`", file.display()))
}

fn shadow_report(
    mode: &'static str,
    file: &Path,
    common: &CommonArgs,
    named_rocs: Vec<(String, String, Roc)>,
    reference: Option<ReferenceReport>,
    outcome: Outcome,
    gap_rows: Vec<AttackGap>,
) -> anyhow::Result<u8> {
    let mut provenance = Provenance::new();
    provenance.inputs.push(digest(file)?);
    let config = common.roc_config();
    let mut attacks = serde_json::Map::new();
    let mut rows = Vec::new();
    for (name, description, roc) in named_rocs {
        let summary = roc.summary(&config)?;
        attacks.insert(name.clone(), attack_json(&description, &summary, None)?);
        rows.push((name, summary));
    }
    let report = MiaReport {
        provenance,
        mode,
        members: None,
        nonmembers: None,
        attacks,
        compatibility: None,
        samples: None,
        reference,
        outcome,
        rows,
        gap_rows,
    };
    super::emit(&report, common.json)
}

fn run_lira(args: LiraArgs, common: &CommonArgs) -> anyhow::Result<u8> {
    let file = args.scores.as_path();
    let npz = NpzFile::open(file)?;
    let shadow_scores = array2(file, "shadow_scores", npz.array_f64("shadow_scores")?)?;
    let shadow_in = array2(file, "shadow_in", npz.array_bool("shadow_in")?)?;
    let target_scores = array1(file, "target_scores", npz.array_f64("target_scores")?)?;
    let target_in = array1(file, "target_in", npz.array_bool("target_in")?)?;
    same_shape(
        file,
        ("shadow_scores", shadow_scores.shape()),
        ("shadow_in", shadow_in.shape()),
    )?;
    same_shape(
        file,
        ("target_scores", target_scores.shape()),
        ("target_in", target_in.shape()),
    )?;
    same_shape(
        file,
        ("target_scores", target_scores.shape()),
        ("shadow_scores rows", &shadow_scores.shape()[..1]),
    )?;
    let target = target_scores.to_vec();
    let membership = target_in.to_vec();
    let shadow = ShadowMatrix {
        scores: shadow_scores.view(),
        membership: shadow_in.view(),
    };
    let variance: LiraVariance = args.variance.into();
    let offline = match args.offline_test {
        OfflineTestArg::OneSided => OfflineTest::OneSided,
        OfflineTestArg::Logpdf => OfflineTest::TwoSidedLogpdf,
    };
    let mut rocs = Vec::new();
    for (name, mode) in [
        ("lira_online", LiraMode::Online),
        ("lira_offline", LiraMode::Offline(offline)),
    ] {
        let scores = lira_scores(&shadow, &target, LiraConfig { mode, variance })
            .with_context(|| format!("{}", file.display()))?;
        rocs.push((
            name.to_string(),
            format!("LiRA {name}, variance {:?}", args.variance),
            split_by_membership(file, "target_in", &scores, &membership)?,
        ));
    }
    rocs.push((
        "global_threshold".to_string(),
        "the target's own score, thresholded (no shadow models)".to_string(),
        split_by_membership(file, "target_in", &target, &membership)?,
    ));
    shadow_report("lira", file, common, rocs, None, Outcome::Info, Vec::new())
}

fn run_rmia(args: RmiaArgs, common: &CommonArgs) -> anyhow::Result<u8> {
    let file = args.scores.as_path();
    let npz = NpzFile::open(file)?;
    let shadow_scores = array2(file, "shadow_scores", npz.array_f64("shadow_scores")?)?;
    let shadow_in = array2(file, "shadow_in", npz.array_bool("shadow_in")?)?;
    let target_scores = array1(file, "target_scores", npz.array_f64("target_scores")?)?;
    let target_in = array1(file, "target_in", npz.array_bool("target_in")?)?;
    let population_target = array1(
        file,
        "population_target_scores",
        npz.array_f64("population_target_scores")?,
    )?;
    let population_shadow = array2(
        file,
        "population_shadow_scores",
        npz.array_f64("population_shadow_scores")?,
    )?;
    same_shape(
        file,
        ("shadow_scores", shadow_scores.shape()),
        ("shadow_in", shadow_in.shape()),
    )?;
    same_shape(
        file,
        ("target_scores", target_scores.shape()),
        ("target_in", target_in.shape()),
    )?;
    let target = target_scores.to_vec();
    let population = population_target.to_vec();
    let input = RmiaInput {
        target_x: &target,
        reference_x: ShadowMatrix {
            scores: shadow_scores.view(),
            membership: shadow_in.view(),
        },
        target_z: &population,
        reference_z: population_shadow.view(),
    };
    let config = RmiaConfig {
        online: args.online,
        offline_a: args.offline_a,
        gamma: args.gamma,
    };
    let scores = rmia_scores(&input, config).with_context(|| format!("{}", file.display()))?;
    let membership = target_in.to_vec();
    let rocs = vec![
        (
            "rmia".to_string(),
            format!(
                "RMIA {}, a = {}, γ = {}, {} population points",
                if args.online { "online" } else { "offline" },
                args.offline_a,
                args.gamma,
                population.len()
            ),
            split_by_membership(file, "target_in", &scores, &membership)?,
        ),
        (
            "global_threshold".to_string(),
            "the target's own Pr(x|θ), thresholded (no reference models)".to_string(),
            split_by_membership(file, "target_in", &target, &membership)?,
        ),
    ];
    shadow_report("rmia", file, common, rocs, None, Outcome::Info, Vec::new())
}

fn run_ulira(args: UliraArgs, common: &CommonArgs) -> anyhow::Result<u8> {
    if let Some(dir) = args.samples.clone() {
        return run_ulira_samples(&args, &dir, common);
    }
    let file = args
        .scores
        .as_deref()
        .expect("required unless --samples (clap)");
    let npz = NpzFile::open(file)?;
    let shadow_scores = array2(file, "shadow_scores", npz.array_f64("shadow_scores")?)?;
    let shadow_state_codes = array2(file, "shadow_state", npz.array_i64("shadow_state")?)?;
    let target_scores = array1(file, "target_scores", npz.array_f64("target_scores")?)?;
    let target_state = array1(file, "target_state", npz.array_i64("target_state")?)?;
    same_shape(
        file,
        ("shadow_scores", shadow_scores.shape()),
        ("shadow_state", shadow_state_codes.shape()),
    )?;
    same_shape(
        file,
        ("target_scores", target_scores.shape()),
        ("target_state", target_state.shape()),
    )?;
    let decode = |name: &str, index: usize, code: i64| {
        UnlearningState::from_code(code).with_context(|| {
            format!(
                "{}: `{name}` holds {code} at flat index {index}; codes are 0 held out, \
                 1 retained, 2 unlearned",
                file.display()
            )
        })
    };
    let mut states = Vec::with_capacity(shadow_state_codes.len());
    for (index, &code) in shadow_state_codes.iter().enumerate() {
        states.push(decode("shadow_state", index, code)?);
    }
    let states = Array2::from_shape_vec(shadow_state_codes.dim(), states)?;
    let target_states: Vec<UnlearningState> = target_state
        .iter()
        .enumerate()
        .map(|(i, &c)| decode("target_state", i, c))
        .collect::<anyhow::Result<_>>()?;
    // Points of the evaluation: forget (positives) and held out (negatives); retained excluded.
    let evaluated: Vec<usize> = (0..target_states.len())
        .filter(|&i| target_states[i] != UnlearningState::Retained)
        .collect();
    let membership: Vec<bool> = evaluated
        .iter()
        .map(|&i| target_states[i] == UnlearningState::Unlearned)
        .collect();
    let score_rows = |target: &[f64]| -> anyhow::Result<Vec<f64>> {
        let all = ulira_scores(
            shadow_scores.view(),
            states.view(),
            target,
            args.variance.into(),
        )
        .with_context(|| format!("{}", file.display()))?;
        Ok(evaluated.iter().map(|&i| all[i]).collect())
    };
    let target = target_scores.to_vec();
    let unlearned_scores = score_rows(&target)?;
    let unlearned_roc = split_by_membership(file, "target_state", &unlearned_scores, &membership)?;
    let target_phi: Vec<f64> = evaluated.iter().map(|&i| target[i]).collect();
    let population_roc = split_by_membership(file, "target_state", &target_phi, &membership)?;
    let rocs = vec![
        (
            "ulira".to_string(),
            "U-LiRA: per-example LRT, unlearned vs held-out shadow models".to_string(),
            unlearned_roc.clone(),
        ),
        (
            "global_threshold".to_string(),
            "the target's own φ, thresholded (a population U-MIA)".to_string(),
            population_roc.clone(),
        ),
    ];
    let (reference, outcome, gap_rows) = if npz.contains("retrained_scores") {
        let retrained = array1(file, "retrained_scores", npz.array_f64("retrained_scores")?)?;
        same_shape(
            file,
            ("target_scores", target_scores.shape()),
            ("retrained_scores", retrained.shape()),
        )?;
        let retrained = retrained.to_vec();
        let retrained_roc =
            split_by_membership(file, "target_state", &score_rows(&retrained)?, &membership)?;
        let retrained_phi: Vec<f64> = evaluated.iter().map(|&i| retrained[i]).collect();
        let retrained_population =
            split_by_membership(file, "target_state", &retrained_phi, &membership)?;
        let (gaps, outcome) = compare_to_reference(
            [
                ("ulira", &unlearned_roc, &retrained_roc),
                ("global_threshold", &population_roc, &retrained_population),
            ],
            common.confidence,
        )?;
        let config = common.roc_config();
        let mut attacks = serde_json::Map::new();
        for (name, roc) in [
            ("ulira", &retrained_roc),
            ("global_threshold", &retrained_population),
        ] {
            attacks.insert(
                name.into(),
                attack_json("on the retrained model", &roc.summary(&config)?, None)?,
            );
        }
        (
            Some(ReferenceReport {
                model: "retrained_scores".into(),
                attacks,
                compatibility: None,
                gaps: gaps.clone(),
                family_confidence: common.confidence,
            }),
            outcome,
            gaps,
        )
    } else {
        (None, Outcome::Info, Vec::new())
    };
    shadow_report("ulira", file, common, rocs, reference, outcome, gap_rows)
}

/// `mia ulira --samples DIR`: U-LiRA from the runs of `unlearn-audit sample`.
fn run_ulira_samples(args: &UliraArgs, dir: &Path, common: &CommonArgs) -> anyhow::Result<u8> {
    let manifest_path = dir.join("manifest.json");
    let manifest_text = std::fs::read_to_string(&manifest_path)
        .with_context(|| format!("could not read {}", manifest_path.display()))?;
    let manifest: serde_json::Value = serde_json::from_str(&manifest_text)
        .with_context(|| format!("{}: not valid JSON", manifest_path.display()))?;
    let record = manifest["record"].as_str().unwrap_or("");
    if record != "forget_scores" {
        bail!(
            "{}: `record` is {:?}; U-LiRA needs per-forget-example φ \
             (`unlearn-audit sample --record forget-scores`)",
            manifest_path.display(),
            manifest["record"]
        );
    }
    let load = |name: &str| -> anyhow::Result<(PathBuf, Array2<f64>)> {
        let path = dir.join(name);
        let array = unlearn_audit::io::read_npy_f64(&path)?;
        Ok((path.clone(), array2(&path, name, array)?))
    };
    let (unlearned_path, unlearned) = load("unlearned.npy")?;
    let (retrained_path, retrained) = load("retrained.npy")?;
    if unlearned.ncols() != retrained.ncols() {
        bail!(
            "{}: shape {:?} but {} has shape {:?}: both must be [n_trials, forget examples]",
            unlearned_path.display(),
            unlearned.shape(),
            retrained_path.display(),
            retrained.shape()
        );
    }
    let target = match &args.target {
        Some(path) => {
            let array = unlearn_audit::io::read_npy_f64(path)?;
            let array = array1(path, "target", array)?;
            if array.len() != unlearned.ncols() {
                bail!(
                    "{}: {} scores, but the samples have {} forget examples",
                    path.display(),
                    array.len(),
                    unlearned.ncols()
                );
            }
            Some(array.to_vec())
        }
        None => None,
    };
    let holdout = args.holdout.unwrap_or((retrained.nrows() / 4).max(1));
    let input = RunsInput {
        unlearned: unlearned.view(),
        retrained: retrained.view(),
        target: target.as_deref(),
        holdout,
    };
    let scores = ulira_runs_scores(&input, args.variance.into())
        .with_context(|| format!("{}", dir.display()))?;
    let ulira_roc = Roc::new(&scores.ulira_positives, &scores.ulira_negatives)?;
    let phi_roc = Roc::new(&scores.phi_positives, &scores.phi_negatives)?;
    let (gaps, outcome) = compare_to_chance(
        [("ulira", &ulira_roc), ("global_threshold", &phi_roc)],
        common.confidence,
    )?;
    let mut provenance = Provenance::new();
    for path in [&manifest_path, &unlearned_path, &retrained_path] {
        provenance.inputs.push(digest(path)?);
    }
    if let Some(path) = &args.target {
        provenance.inputs.push(digest(path)?);
    }
    let config = common.roc_config();
    let mut attacks = serde_json::Map::new();
    let mut rows = Vec::new();
    for (name, description, roc) in [
        (
            "ulira",
            "U-LiRA: per forget example, Gaussian LRT of the unlearned runs vs the retrained \
             runs; target runs (positives) vs held-out retrained runs (negatives)",
            &ulira_roc,
        ),
        (
            "global_threshold",
            "φ itself, one threshold for every example (a population U-MIA)",
            &phi_roc,
        ),
    ] {
        let summary = roc.summary(&config)?;
        attacks.insert(name.into(), attack_json(description, &summary, None)?);
        rows.push((name.to_string(), summary));
    }
    let samples = serde_json::json!({
        "dir": dir.display().to_string(),
        "mechanism": manifest["mechanism"],
        "parameters": manifest["parameters"],
        "forget_examples": unlearned.ncols(),
        "unlearned_runs": unlearned.nrows(),
        "retrained_runs": retrained.nrows(),
        "holdout": holdout,
        "target": match &args.target {
            Some(path) => path.display().to_string(),
            None => format!("the last {holdout} unlearned run(s)"),
        },
        "shadow_unlearned_runs": scores.shadow_unlearned_runs,
        "shadow_retrained_runs": scores.shadow_retrained_runs,
    });
    let report = MiaReport {
        provenance,
        mode: "ulira",
        members: None,
        nonmembers: None,
        attacks,
        compatibility: None,
        samples: Some(samples),
        reference: Some(ReferenceReport {
            model: "chance: a target exchangeable with the retrained runs has AUC ½".into(),
            attacks: serde_json::Map::new(),
            compatibility: None,
            gaps: gaps.clone(),
            family_confidence: common.confidence,
        }),
        outcome,
        rows,
        gap_rows: gaps,
    };
    super::emit(&report, common.json)
}
