//! `unlearn-audit mia`: membership-inference attacks with confidence intervals.
//!
//! Without a subcommand: population attacks on one model bundle (members vs non-members),
//! optionally against a retrained reference bundle. With `lira`, `rmia` or `ulira`:
//! shadow-model attacks on score matrices in the npz layout of `docs/mia.md` §5.
//! The analyses live in `unlearn_audit::mia`; this file reads files and prints.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use ndarray::{Array1, Array2, ArrayD, Ix1, Ix2};
use unlearn_audit::io::NpzFile;
use unlearn_audit::metrics::OutputKind;
use unlearn_audit::mia::PopulationConfig;
use unlearn_audit::mia::analysis::{
    LiraRequest, MiaReport, PopulationRequest, ReferenceReport, UliraInput, attack_json,
    lira_analysis, population_mia, rmia_analysis, ulira_analysis,
};
use unlearn_audit::mia::roc::{FprConvention, Roc, RocConfig};
use unlearn_audit::mia::shadow::{
    LiraVariance, OfflineTest, RmiaConfig, RmiaInput, RunsInput, ShadowMatrix, UnlearningState,
    ulira_runs_scores,
};
use unlearn_audit::mia::unlearning::equivalence_to_chance;
use unlearn_audit::report::{Outcome, Provenance};

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
        default_value = unlearn_audit::defaults::FPRS_TEXT,
        global = true
    )]
    fpr: Vec<f64>,
    /// Confidence of every interval.
    #[arg(long, default_value_t = unlearn_audit::defaults::CONFIDENCE, global = true)]
    confidence: f64,
    /// Stratified bootstrap replicates for AUC and TPR@FPR intervals (0: none).
    #[arg(long, default_value_t = unlearn_audit::defaults::BOOTSTRAP, global = true)]
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
    /// Equivalence margin in AUC: "indistinguishable from retraining" passes only when every
    /// gap interval lies within ±MARGIN (and the attack has power on the original); it fails
    /// when an interval lies beyond it (docs/verdicts.md).
    #[arg(long, default_value_t = unlearn_audit::defaults::MARGIN, global = true, value_name = "MARGIN")]
    margin: f64,
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
    /// `--margin`.
    pub(crate) fn margin(&self) -> f64 {
        self.margin
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
    /// Original model bundle (before unlearning, needs --reference): every attack also runs on
    /// it as the positive control; without it "indistinguishable" cannot pass.
    #[arg(long, value_name = "DIR", requires = "reference")]
    original: Option<PathBuf>,
    /// Whether outputs.npz holds logits or probabilities.
    #[arg(long, value_enum, default_value = "logits")]
    outputs_are: OutputKind,
    /// Share of members and non-members used to fit the fitted attacks.
    #[arg(long, default_value_t = unlearn_audit::defaults::FIT_FRACTION)]
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
    /// retrained_scores (for a verdict) and original_scores (its positive control).
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
    /// With --samples: .npy [d] of the original model's φ on the forget examples (before
    /// unlearning; the positive control). Without it the verdict cannot pass.
    #[arg(long, value_name = "FILE", requires = "samples")]
    original: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "per-example")]
    variance: Variance,
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

fn run_population(args: Args) -> anyhow::Result<u8> {
    let (Some(model), Some(labels), Some(members), Some(nonmembers)) = (
        args.model.as_deref(),
        args.labels.as_deref(),
        args.members.as_deref(),
        args.nonmembers.as_deref(),
    ) else {
        bail!(
            "`mia` needs --model, --labels, --members and --nonmembers (or a subcommand: lira, rmia, ulira)"
        );
    };
    let request = PopulationRequest {
        model,
        labels,
        members,
        nonmembers,
        evaluate: args.evaluate.as_deref(),
        reference: args.reference.as_deref(),
        original: args.original.as_deref(),
        output_kind: args.outputs_are,
        config: PopulationConfig {
            roc: args.common.roc_config(),
            seed: args.common.seed,
            fit_fraction: args.fit_fraction,
        },
        margin: args.common.margin,
        compatibility: true,
    };
    let result = population_mia(&request)?;
    super::emit(&MiaReport::population(&result), args.common.json)
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

fn shadow_report(
    mode: &'static str,
    file: &Path,
    common: &CommonArgs,
    named_rocs: Vec<(String, String, Roc)>,
    reference: Option<ReferenceReport>,
    outcome: Outcome,
) -> anyhow::Result<u8> {
    let mut provenance = Provenance::new();
    provenance.inputs.push(digest(file)?);
    let margin = reference.as_ref().map(|_| common.margin);
    let report = MiaReport::from_rocs(
        mode,
        provenance,
        &common.roc_config(),
        &named_rocs,
        reference,
        margin,
        outcome,
    )?;
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
    let request = LiraRequest {
        shadow,
        target: &target,
        membership: &membership,
        variance: args.variance.into(),
        offline: match args.offline_test {
            OfflineTestArg::OneSided => OfflineTest::OneSided,
            OfflineTestArg::Logpdf => OfflineTest::TwoSidedLogpdf,
        },
    };
    let mut provenance = Provenance::new();
    provenance.inputs.push(digest(file)?);
    let report = lira_analysis(&request, &common.roc_config(), provenance)
        .with_context(|| format!("{}", file.display()))?;
    super::emit(&report, common.json)
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
    let membership = target_in.to_vec();
    let mut provenance = Provenance::new();
    provenance.inputs.push(digest(file)?);
    let report = rmia_analysis(
        &input,
        config,
        &membership,
        &common.roc_config(),
        provenance,
    )
    .with_context(|| format!("{}", file.display()))?;
    super::emit(&report, common.json)
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
    let optional = |name: &str| -> anyhow::Result<Option<Vec<f64>>> {
        if !npz.contains(name) {
            return Ok(None);
        }
        let array = array1(file, name, npz.array_f64(name)?)?;
        same_shape(
            file,
            ("target_scores", target_scores.shape()),
            (name, array.shape()),
        )?;
        Ok(Some(array.to_vec()))
    };
    let retrained = optional("retrained_scores")?;
    // The positive control: the original model's φ (before unlearning), when given.
    let original = optional("original_scores")?.filter(|_| retrained.is_some());
    let target = target_scores.to_vec();
    let analysis = ulira_analysis(
        &UliraInput {
            shadow_scores: shadow_scores.view(),
            shadow_states: states.view(),
            target_states: &target_states,
            unlearned: &target,
            retrained: retrained.as_deref(),
            original: original.as_deref(),
            variance: args.variance.into(),
            threshold_attack: "global_threshold",
        },
        common.confidence,
        common.margin,
    )
    .with_context(|| format!("{}: `target_state`", file.display()))?;
    let config = common.roc_config();
    let reference = match &analysis.retrained {
        Some(r) => {
            let mut attacks = serde_json::Map::new();
            for (name, roc) in [("ulira", &r.ulira), ("global_threshold", &r.threshold)] {
                attacks.insert(
                    name.into(),
                    attack_json("on the retrained model", &roc.summary(&config)?, None),
                );
            }
            Some(ReferenceReport {
                model: "retrained_scores".into(),
                attacks,
                compatibility: None,
                gaps: analysis.gaps.clone(),
                family_confidence: common.confidence,
            })
        }
        None => None,
    };
    let rocs = vec![
        (
            "ulira".to_string(),
            "U-LiRA: per-example LRT, unlearned vs held-out shadow models".to_string(),
            analysis.unlearned.ulira.clone(),
        ),
        (
            "global_threshold".to_string(),
            "the target's own φ, thresholded (a population U-MIA)".to_string(),
            analysis.unlearned.threshold.clone(),
        ),
    ];
    shadow_report("ulira", file, common, rocs, reference, analysis.outcome)
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
    // The positive control: the original model's φ scored like a target.
    let original_scores = match &args.original {
        Some(path) => {
            let array = array1(path, "original", unlearn_audit::io::read_npy_f64(path)?)?;
            if array.len() != unlearned.ncols() {
                bail!(
                    "{}: {} scores, but the samples have {} forget examples",
                    path.display(),
                    array.len(),
                    unlearned.ncols()
                );
            }
            let original = array.to_vec();
            let control = RunsInput {
                unlearned: unlearned.view(),
                retrained: retrained.view(),
                target: Some(&original),
                holdout,
            };
            Some(
                ulira_runs_scores(&control, args.variance.into())
                    .with_context(|| format!("{}", path.display()))?,
            )
        }
        None => None,
    };
    let control_rocs = match &original_scores {
        Some(c) => Some((
            Roc::new(&c.ulira_positives, &c.ulira_negatives)?,
            Roc::new(&c.phi_positives, &c.phi_negatives)?,
        )),
        None => None,
    };
    let (gaps, outcome) = equivalence_to_chance(
        &[
            ("ulira", &ulira_roc, control_rocs.as_ref().map(|c| &c.0)),
            (
                "global_threshold",
                &phi_roc,
                control_rocs.as_ref().map(|c| &c.1),
            ),
        ],
        common.confidence,
        common.margin,
    )
    .with_context(|| format!("{}", dir.display()))?;
    let mut provenance = Provenance::new();
    for path in [&manifest_path, &unlearned_path, &retrained_path] {
        provenance.inputs.push(digest(path)?);
    }
    for path in [&args.target, &args.original].into_iter().flatten() {
        provenance.inputs.push(digest(path)?);
    }
    let rocs = vec![
        (
            "ulira".to_string(),
            "U-LiRA: per forget example, Gaussian LRT of the unlearned runs vs the retrained \
             runs; target runs (positives) vs held-out retrained runs (negatives)"
                .to_string(),
            ulira_roc,
        ),
        (
            "global_threshold".to_string(),
            "φ itself, one threshold for every example (a population U-MIA)".to_string(),
            phi_roc,
        ),
    ];
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
        "original": args.original.as_ref().map(|p| p.display().to_string()),
        "shadow_unlearned_runs": scores.shadow_unlearned_runs,
        "shadow_retrained_runs": scores.shadow_retrained_runs,
    });
    let mut report = MiaReport::from_rocs(
        "ulira",
        provenance,
        &common.roc_config(),
        &rocs,
        Some(ReferenceReport {
            model: "chance: a target exchangeable with the retrained runs has AUC ½".into(),
            attacks: serde_json::Map::new(),
            compatibility: None,
            gaps,
            family_confidence: common.confidence,
        }),
        Some(common.margin),
        outcome,
    )?;
    report.samples = Some(samples);
    super::emit(&report, common.json)
}
