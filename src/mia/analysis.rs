//! One library function per membership-inference analysis, each returning a typed finding that
//! the CLI (`unlearn-audit mia`) prints and the plan runner (`run`, `[mia]`) reports.
//!
//! * [`population_mia`]: the population attacks of [`super::population`] on one model bundle,
//!   optionally on a retrained reference (then the verdict is the equivalence test of
//!   [`super::unlearning::equivalence_to_reference`]) and on the original model (the positive
//!   control of every attack).
//! * [`MiaReport`]: the finding every `mia` form prints (`population`, `lira`, `rmia`, `ulira`);
//!   its JSON field names are a contract (`docs/mia.md` §6).
//!
//! Verdict rules: `docs/verdicts.md` ("Membership inference").

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::population::{AttackOutcome, Compatibility, EvaluatedRate};
use super::roc::{Roc, RocConfig, RocSummary};
use super::salun::{SalunMiaEfficacy, salun_mia_efficacy};
use super::signals::{Loss, Signal};
use super::unlearning::{AttackGap, EquivalenceAttack, equivalence_to_reference};
use super::{MiaError, PopulationConfig, SplitOutputs, compatibility_modes, population_attacks};
use crate::io::{IoError, OUTPUTS_FILE, load_labelled_logits, load_labels};
use crate::metrics::OutputKind;
use crate::report::{
    Finding, InputDigest, Outcome, Provenance, Table, fmt_number, fmt_optional, sha256_file,
};

/// Why an analysis could not run: bad input (named file, split, array) or a parameter.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AnalysisError {
    /// A file could not be loaded.
    #[error(transparent)]
    Io(#[from] IoError),
    /// An analysis refused its input; `context` names the file and split.
    #[error("{context}: {message}")]
    Mia { context: String, message: String },
    /// A request that cannot be analysed (e.g. the same split as members and non-members).
    #[error("{0}")]
    Request(String),
    /// A file could not be read to record its digest.
    #[error("{path}: cannot read to record its SHA-256")]
    Digest {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl AnalysisError {
    fn mia(context: impl std::fmt::Display, error: MiaError) -> Self {
        AnalysisError::Mia {
            context: context.to_string(),
            message: error.to_string(),
        }
    }
}

/// The SHA-256 of one input, for provenance.
pub fn digest(path: &Path) -> Result<InputDigest, AnalysisError> {
    Ok(InputDigest {
        path: path.display().to_string(),
        sha256: sha256_file(path).map_err(|source| AnalysisError::Digest {
            path: path.to_path_buf(),
            source,
        })?,
    })
}

// ------------------------------------------------------------------ population MIA

/// What [`population_mia`] analyses.
#[derive(Debug, Clone)]
pub struct PopulationRequest<'a> {
    /// The audited (unlearned) model's bundle directory (`outputs.npz`).
    pub model: &'a Path,
    /// `labels.npz`.
    pub labels: &'a Path,
    pub members: &'a str,
    pub nonmembers: &'a str,
    /// Split on which each attack's member rate is reported (and SalUn's MIA-Efficacy).
    pub evaluate: Option<&'a str>,
    /// Retrained model's bundle: the same attacks on it and the verdict.
    pub reference: Option<&'a Path>,
    /// Original model's bundle: the positive control of every attack.
    pub original: Option<&'a Path>,
    pub output_kind: OutputKind,
    pub config: PopulationConfig,
    /// Equivalence margin in AUC ([`super::DEFAULT_MARGIN`] by default).
    pub margin: f64,
    /// Also run the published compatibility modes (`compatibility.*`).
    pub compatibility: bool,
}

/// Every attack on one model.
#[derive(Debug, Clone)]
pub struct ModelAttacks {
    /// The bundle directory.
    pub model: PathBuf,
    pub attacks: Vec<AttackOutcome>,
    pub compatibility: Vec<Compatibility>,
    /// SalUn MIA-Efficacy (needs `evaluate`): also under `attacks.salun_mia_efficacy`.
    pub salun: Option<SalunMiaEfficacy>,
    /// log10 of each member's loss (for the report's histogram).
    pub member_log10_losses: Vec<f64>,
}

/// The result of [`population_mia`].
#[derive(Debug, Clone)]
pub struct PopulationMia {
    pub members: String,
    pub nonmembers: String,
    pub unlearned: ModelAttacks,
    pub retrained: Option<ModelAttacks>,
    pub original: Option<ModelAttacks>,
    /// Per-attack equivalence verdicts (with a reference); empty otherwise.
    pub gaps: Vec<AttackGap>,
    pub margin: f64,
    pub family_confidence: f64,
    /// Info without a reference; the equivalence verdict with one.
    pub outcome: Outcome,
    /// Digests of every input read.
    pub inputs: Vec<InputDigest>,
}

fn run_model(
    request: &PopulationRequest<'_>,
    labels: &crate::io::Labels,
    model: &Path,
) -> Result<ModelAttacks, AnalysisError> {
    let load = |split: &str| {
        load_labelled_logits(model, request.labels, labels, split, request.output_kind)
    };
    let members = load(request.members)?;
    let nonmembers = load(request.nonmembers)?;
    let evaluate = request.evaluate.map(load).transpose()?;
    let context = |split: &str| format!("{}: split `{split}`", model.join(OUTPUTS_FILE).display());
    let members_view = SplitOutputs::new(
        request.members,
        members.logits.view(),
        members.labels.clone(),
    )
    .map_err(|e| AnalysisError::mia(context(request.members), e))?;
    let nonmembers_view = SplitOutputs::new(
        request.nonmembers,
        nonmembers.logits.view(),
        nonmembers.labels.clone(),
    )
    .map_err(|e| AnalysisError::mia(context(request.nonmembers), e))?;
    let evaluate_view = match (&evaluate, request.evaluate) {
        (Some(split), Some(name)) => Some(
            SplitOutputs::new(name, split.logits.view(), split.labels.clone())
                .map_err(|e| AnalysisError::mia(context(name), e))?,
        ),
        _ => None,
    };
    let whole = || model.display().to_string();
    let attacks = population_attacks(
        &members_view,
        &nonmembers_view,
        evaluate_view.as_ref(),
        &request.config,
    )
    .map_err(|e| AnalysisError::mia(whole(), e))?;
    let mut compatibility = Vec::new();
    let mut salun = None;
    if request.compatibility {
        compatibility = compatibility_modes(
            &members_view,
            &nonmembers_view,
            evaluate_view.as_ref(),
            request.config.seed,
        )
        .map_err(|e| AnalysisError::mia(whole(), e))?;
        if let Some(target) = &evaluate_view {
            let result = salun_mia_efficacy(
                &members_view,
                &nonmembers_view,
                target,
                request.config.roc.confidence,
            )
            .map_err(|e| AnalysisError::mia(whole(), e))?;
            compatibility.push(Compatibility {
                name: "salun_mia_efficacy".into(),
                value: result.value,
                definition: "MIA-Efficacy (confidence entry): share of the evaluated split \
                             predicted non-member by an RBF SVC fitted on the first \
                             |non-members| members vs the non-members",
                ideal: None,
                n_members: result.n_shadow_train,
                n_nonmembers: result.n_shadow_test,
                source: result.source,
            });
            salun = Some(result);
        }
    }
    let member_log10_losses = members
        .logits
        .rows()
        .into_iter()
        .zip(&members.labels)
        .map(|(row, &label)| Loss.value(&row.to_vec(), label).max(1e-12).log10())
        .collect();
    Ok(ModelAttacks {
        model: model.to_path_buf(),
        attacks,
        compatibility,
        salun,
        member_log10_losses,
    })
}

/// The population MIA: every attack of [`population_attacks`] on the audited model, and with
/// `reference` the same attacks on the retrained model and the equivalence verdict per attack
/// (Bonferroni over the attacks at family-wise confidence `config.roc.confidence`), with
/// `original` as the positive control of each attack. Without a reference the outcome is
/// [`Outcome::Info`]; without an original it is never Pass. `docs/verdicts.md`.
pub fn population_mia(request: &PopulationRequest<'_>) -> Result<PopulationMia, AnalysisError> {
    if request.members == request.nonmembers {
        return Err(AnalysisError::Request(format!(
            "--members and --nonmembers are the same split `{}`: an attack needs both classes",
            request.members
        )));
    }
    let labels = load_labels(request.labels)?;
    let mut inputs = vec![
        digest(&request.model.join(OUTPUTS_FILE))?,
        digest(request.labels)?,
    ];
    let unlearned = run_model(request, &labels, request.model)?;
    let retrained = match request.reference {
        Some(dir) => {
            inputs.push(digest(&dir.join(OUTPUTS_FILE))?);
            Some(run_model(request, &labels, dir)?)
        }
        None => None,
    };
    let original = match (request.original, request.reference) {
        (Some(dir), Some(_)) => {
            inputs.push(digest(&dir.join(OUTPUTS_FILE))?);
            Some(run_model(request, &labels, dir)?)
        }
        (Some(_), None) => {
            return Err(AnalysisError::Request(
                "--original needs --reference: the positive control compares the original \
                 with the retrained model"
                    .into(),
            ));
        }
        _ => None,
    };
    let confidence = request.config.roc.confidence;
    let (gaps, outcome) = match &retrained {
        None => (Vec::new(), Outcome::Info),
        Some(retrained) => {
            let attacks: Vec<EquivalenceAttack<'_>> = unlearned
                .attacks
                .iter()
                .enumerate()
                .map(|(i, u)| EquivalenceAttack {
                    name: u.name.as_str(),
                    unlearned: &u.roc,
                    retrained: &retrained.attacks[i].roc,
                    original: original.as_ref().map(|o| &o.attacks[i].roc),
                })
                .collect();
            equivalence_to_reference(&attacks, confidence, request.margin)
                .map_err(|e| AnalysisError::mia(request.model.display(), e))?
        }
    };
    Ok(PopulationMia {
        members: request.members.to_string(),
        nonmembers: request.nonmembers.to_string(),
        unlearned,
        retrained,
        original,
        gaps,
        margin: request.margin,
        family_confidence: confidence,
        outcome,
        inputs,
    })
}

// ------------------------------------------------------------------ the report

/// One attack in the report. JSON names are a contract (`docs/mia.md` §6).
#[derive(Debug, Serialize)]
struct AttackReport {
    description: String,
    #[serde(flatten)]
    summary: RocSummary,
    #[serde(skip_serializing_if = "Option::is_none")]
    evaluated: Option<EvaluatedRate>,
}

/// One attack's JSON: description, ROC summary and the evaluated split's member rate.
pub fn attack_json(
    description: &str,
    summary: &RocSummary,
    evaluated: Option<&EvaluatedRate>,
) -> serde_json::Value {
    serde_json::to_value(AttackReport {
        description: description.to_string(),
        summary: summary.clone(),
        evaluated: evaluated.cloned(),
    })
    .unwrap_or(serde_json::Value::Null)
}

fn compatibility_json(modes: &[Compatibility]) -> serde_json::Map<String, serde_json::Value> {
    modes
        .iter()
        .map(|mode| {
            (
                mode.name.clone(),
                serde_json::to_value(mode).unwrap_or(serde_json::Value::Null),
            )
        })
        .collect()
}

fn attacks_json(model: &ModelAttacks) -> serde_json::Map<String, serde_json::Value> {
    let mut attacks = serde_json::Map::new();
    for attack in &model.attacks {
        attacks.insert(
            attack.name.clone(),
            attack_json(
                attack.description,
                &attack.summary,
                attack.evaluated.as_ref(),
            ),
        );
    }
    if let Some(salun) = &model.salun {
        attacks.insert(
            "salun_mia_efficacy".into(),
            serde_json::to_value(salun).unwrap_or(serde_json::Value::Null),
        );
    }
    attacks
}

/// The report of `unlearn-audit mia` (every form). JSON names are a contract.
#[derive(Debug, Serialize)]
pub struct MiaReport {
    pub provenance: Provenance,
    /// `population`, `lira`, `rmia` or `ulira`.
    pub mode: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub members: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonmembers: Option<String>,
    pub attacks: serde_json::Map<String, serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compatibility: Option<serde_json::Map<String, serde_json::Value>>,
    /// `mia ulira --samples`: where the shadow populations and targets came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub samples: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<ReferenceReport>,
    /// The original model's attacks (the positive control), when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original: Option<OriginalReport>,
    /// Equivalence margin in AUC of the verdict, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub margin: Option<f64>,
    #[serde(flatten)]
    pub outcome: Outcome,
    /// Table rows: (attack, summary on the audited model).
    #[serde(skip)]
    pub rows: Vec<(String, RocSummary)>,
}

/// The reference part of [`MiaReport`].
#[derive(Debug, Serialize)]
pub struct ReferenceReport {
    pub model: String,
    pub attacks: serde_json::Map<String, serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compatibility: Option<serde_json::Map<String, serde_json::Value>>,
    /// AUC(unlearned) − AUC(retrained) per attack with its equivalence verdict and control,
    /// Bonferroni over attacks.
    pub gaps: Vec<AttackGap>,
    pub family_confidence: f64,
}

/// The positive-control model's attacks.
#[derive(Debug, Serialize)]
pub struct OriginalReport {
    pub model: String,
    pub attacks: serde_json::Map<String, serde_json::Value>,
}

impl MiaReport {
    /// The report of a [`population_mia`] run.
    pub fn population(result: &PopulationMia) -> Self {
        let mut provenance = Provenance::new();
        provenance.inputs = result.inputs.clone();
        let rows = result
            .unlearned
            .attacks
            .iter()
            .map(|a| (a.name.clone(), a.summary.clone()))
            .collect();
        MiaReport {
            provenance,
            mode: "population",
            members: Some(result.members.clone()),
            nonmembers: Some(result.nonmembers.clone()),
            attacks: attacks_json(&result.unlearned),
            compatibility: Some(compatibility_json(&result.unlearned.compatibility)),
            samples: None,
            reference: result.retrained.as_ref().map(|r| ReferenceReport {
                model: r.model.display().to_string(),
                attacks: attacks_json(r),
                compatibility: Some(compatibility_json(&r.compatibility)),
                gaps: result.gaps.clone(),
                family_confidence: result.family_confidence,
            }),
            original: result.original.as_ref().map(|o| OriginalReport {
                model: o.model.display().to_string(),
                attacks: attacks_json(o),
            }),
            margin: result.retrained.as_ref().map(|_| result.margin),
            outcome: result.outcome.clone(),
            rows,
        }
    }

    /// A report from named ROCs (the shadow-model forms), summarised with `config`.
    #[allow(clippy::too_many_arguments)]
    pub fn from_rocs(
        mode: &'static str,
        provenance: Provenance,
        config: &RocConfig,
        named_rocs: &[(String, String, Roc)],
        reference: Option<ReferenceReport>,
        margin: Option<f64>,
        outcome: Outcome,
    ) -> Result<Self, MiaError> {
        let mut attacks = serde_json::Map::new();
        let mut rows = Vec::new();
        for (name, description, roc) in named_rocs {
            let summary = roc.summary(config)?;
            attacks.insert(name.clone(), attack_json(description, &summary, None));
            rows.push((name.clone(), summary));
        }
        Ok(MiaReport {
            provenance,
            mode,
            members: None,
            nonmembers: None,
            attacks,
            compatibility: None,
            samples: None,
            reference,
            original: None,
            margin,
            outcome,
            rows,
        })
    }
}

/// The gaps with their equivalence verdicts and positive controls as a table (one layout for
/// the `mia` command and plan reports).
pub fn gaps_table(gaps: &[AttackGap]) -> Table {
    let with_control = gaps.iter().any(|g| g.positive_control.is_some());
    let mut header = vec![
        "attack",
        "AUC unlearned",
        "AUC retrained",
        "gap",
        "gap interval",
        "verdict",
    ];
    if with_control {
        header.extend(["control: AUC original", "control gap interval", "power"]);
    }
    let mut table = Table::new(header);
    let interval = |ci: Option<&super::Interval>| {
        ci.map(|ci| format!("[{}, {}]", fmt_number(ci.lower), fmt_number(ci.upper)))
            .unwrap_or_else(|| "—".into())
    };
    for g in gaps {
        let mut row = vec![
            g.attack.clone(),
            fmt_number(g.unlearned_auc),
            fmt_number(g.retrained_auc),
            fmt_number(g.auc_gap),
            interval(g.auc_gap_ci.as_ref()),
            g.verdict
                .map(str::to_string)
                .unwrap_or_else(|| match g.indistinguishable {
                    Some(true) => "indistinguishable".into(),
                    Some(false) => "distinguishable".into(),
                    None => "—".into(),
                }),
        ];
        if with_control {
            match &g.positive_control {
                Some(c) => row.extend([
                    fmt_number(c.original_auc),
                    interval(c.auc_gap_ci.as_ref()),
                    match c.has_power {
                        Some(true) => "yes".into(),
                        Some(false) => "no".into(),
                        None => "not shown".into(),
                    },
                ]),
                None => row.extend(["—".into(), "—".into(), "—".into()]),
            }
        }
        table.row(row);
    }
    table
}

/// The gaps with their equivalence verdicts and controls as a Markdown table.
pub fn gaps_markdown(gaps: &[AttackGap]) -> String {
    let table = gaps_table(gaps);
    let mut text = table.markdown();
    if let Some(margin) = gaps.iter().find_map(|g| g.margin) {
        text.push_str(&format!(
            "\nEquivalence margin ±{margin} in AUC: an attack passes when its whole gap interval \
             lies within it and the same attack tells the original from retraining by more \
             than it (the positive control); it fails when the interval lies beyond it.\n"
        ));
    }
    let estimates: Vec<String> = gaps
        .iter()
        .filter_map(|g| {
            g.samples_needed_estimate.as_ref().map(|s| {
                format!(
                    "{}: about {} members and {} non-members",
                    g.attack, s.members, s.nonmembers
                )
            })
        })
        .collect();
    if !estimates.is_empty() {
        text.push_str(&format!(
            "\nSample sizes per split that would likely decide the inconclusive attacks \
             (planning estimates from the observed variance, not bounds): {}.\n",
            estimates.join("; ")
        ));
    }
    text
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
        if let Some(reference) = &self.reference
            && !reference.gaps.is_empty()
        {
            text.push_str(&format!(
                "\nGap to the reference ({}):\n\n",
                reference.model
            ));
            text.push_str(&gaps_markdown(&reference.gaps));
        }
        text.push_str(&format!("\nOutcome: {}\n", describe(&self.outcome)));
        text
    }
}

fn describe(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Info => "measurement only (give --reference and --original for a verdict)".into(),
        Outcome::Pass => {
            "indistinguishable from retraining within the margin, by attacks shown to have power"
                .into()
        }
        Outcome::Fail { reason } => format!("FAIL: {reason}"),
        Outcome::Inconclusive { reason } => format!("inconclusive: {reason}"),
    }
}

// ------------------------------------------------------------------ U-LiRA

/// What [`ulira_analysis`] analyses: a U-LiRA shadow matrix and the target's φ.
#[derive(Debug, Clone, Copy)]
pub struct UliraInput<'a> {
    /// `[n_points, n_shadows]` φ of every shadow model's unlearned model.
    pub shadow_scores: ndarray::ArrayView2<'a, f64>,
    /// `[n_points, n_shadows]` state of every point in every shadow world.
    pub shadow_states: ndarray::ArrayView2<'a, super::UnlearningState>,
    /// State of every point in the target world: unlearned points are the positives, held-out
    /// points the negatives, retained points are left out.
    pub target_states: &'a [super::UnlearningState],
    /// φ of the audited (unlearned) model on every point.
    pub unlearned: &'a [f64],
    /// φ of the retrained model on every point (for a verdict).
    pub retrained: Option<&'a [f64]>,
    /// φ of the original model on every point (the positive control).
    pub original: Option<&'a [f64]>,
    pub variance: super::LiraVariance,
    /// JSON name of the global-threshold attack on φ (`global_threshold` for `mia ulira`,
    /// `population_phi` in plans: both are contracts).
    pub threshold_attack: &'a str,
}

/// The ROCs of U-LiRA and of the global threshold on φ for one model.
#[derive(Debug, Clone)]
pub struct UliraRocs {
    pub ulira: Roc,
    pub threshold: Roc,
}

/// The result of [`ulira_analysis`].
#[derive(Debug, Clone)]
pub struct UliraAnalysis {
    pub unlearned: UliraRocs,
    pub retrained: Option<UliraRocs>,
    pub original: Option<UliraRocs>,
    /// Equivalence verdicts (with `retrained`), empty otherwise.
    pub gaps: Vec<AttackGap>,
    pub outcome: Outcome,
}

/// U-LiRA (Hayes et al. 2024, `docs/mia.md` §3.3) on the target's unlearned model, and with a
/// retrained model the equivalence verdict of both attacks (U-LiRA and the global threshold on
/// φ), with the original model as positive control when given (`docs/verdicts.md`).
pub fn ulira_analysis(
    input: &UliraInput<'_>,
    confidence: f64,
    margin: f64,
) -> Result<UliraAnalysis, MiaError> {
    use super::UnlearningState;
    let n = input.target_states.len();
    for (name, values) in [
        ("target_scores", Some(input.unlearned)),
        ("retrained_scores", input.retrained),
        ("original_scores", input.original),
    ] {
        if let Some(values) = values
            && values.len() != n
        {
            return Err(MiaError::ShapeMismatch {
                array: name.into(),
                expected: vec![n],
                found: vec![values.len()],
            });
        }
    }
    let select = |values: &[f64], state: UnlearningState| -> Vec<f64> {
        (0..n)
            .filter(|&i| input.target_states[i] == state)
            .map(|i| values[i])
            .collect()
    };
    let roc = |values: &[f64]| {
        Roc::new(
            &select(values, UnlearningState::Unlearned),
            &select(values, UnlearningState::HeldOut),
        )
    };
    let rocs = |phi: &[f64]| -> Result<UliraRocs, MiaError> {
        let scores = super::ulira_scores(
            input.shadow_scores,
            input.shadow_states,
            phi,
            input.variance,
        )?;
        Ok(UliraRocs {
            ulira: roc(&scores)?,
            threshold: roc(phi)?,
        })
    };
    let unlearned = rocs(input.unlearned)?;
    let retrained = input.retrained.map(rocs).transpose()?;
    let original = input.original.map(rocs).transpose()?;
    let (gaps, outcome) = match &retrained {
        Some(r) => equivalence_to_reference(
            &[
                EquivalenceAttack {
                    name: "ulira",
                    unlearned: &unlearned.ulira,
                    retrained: &r.ulira,
                    original: original.as_ref().map(|o| &o.ulira),
                },
                EquivalenceAttack {
                    name: input.threshold_attack,
                    unlearned: &unlearned.threshold,
                    retrained: &r.threshold,
                    original: original.as_ref().map(|o| &o.threshold),
                },
            ],
            confidence,
            margin,
        )?,
        None => (Vec::new(), Outcome::Info),
    };
    Ok(UliraAnalysis {
        unlearned,
        retrained,
        original,
        gaps,
        outcome,
    })
}

// ------------------------------------------------------------------ LiRA and RMIA

/// The ROC of `scores` split by a membership vector (`mask` names it in errors).
pub fn split_by_membership(
    mask: &str,
    scores: &[f64],
    membership: &[bool],
) -> Result<Roc, AnalysisError> {
    let pick = |member: bool| -> Vec<f64> {
        scores
            .iter()
            .zip(membership)
            .filter(|p| *p.1 == member)
            .map(|p| *p.0)
            .collect()
    };
    Roc::new(&pick(true), &pick(false)).map_err(|e| AnalysisError::mia(format!("`{mask}`"), e))
}

/// What [`lira_analysis`] analyses (`docs/mia.md` §3.1, §5).
#[derive(Debug, Clone, Copy)]
pub struct LiraRequest<'a> {
    pub shadow: super::ShadowMatrix<'a>,
    /// The target model's φ on every point.
    pub target: &'a [f64],
    /// Ground truth: the point is a member of the target (`target_in`).
    pub membership: &'a [bool],
    pub variance: super::LiraVariance,
    pub offline: super::OfflineTest,
}

/// LiRA online and offline and the global threshold on the target's own score: a measurement
/// ([`Outcome::Info`]) reported as a [`MiaReport`] with mode `lira`.
pub fn lira_analysis(
    request: &LiraRequest<'_>,
    roc: &RocConfig,
    provenance: Provenance,
) -> Result<MiaReport, AnalysisError> {
    use super::{LiraConfig, LiraMode, lira_scores};
    let mut rocs = Vec::new();
    for (name, mode) in [
        ("lira_online", LiraMode::Online),
        ("lira_offline", LiraMode::Offline(request.offline)),
    ] {
        let scores = lira_scores(
            &request.shadow,
            request.target,
            LiraConfig {
                mode,
                variance: request.variance,
            },
        )
        .map_err(|e| AnalysisError::mia("LiRA", e))?;
        rocs.push((
            name.to_string(),
            format!("LiRA {name}, variance {:?}", request.variance),
            split_by_membership("target_in", &scores, request.membership)?,
        ));
    }
    rocs.push((
        "global_threshold".to_string(),
        "the target's own score, thresholded (no shadow models)".to_string(),
        split_by_membership("target_in", request.target, request.membership)?,
    ));
    MiaReport::from_rocs("lira", provenance, roc, &rocs, None, None, Outcome::Info)
        .map_err(|e| AnalysisError::mia("ROC summary", e))
}

/// RMIA and the global threshold on the target's own Pr(x|θ): a measurement reported as a
/// [`MiaReport`] with mode `rmia` (`docs/mia.md` §3.2).
pub fn rmia_analysis(
    input: &super::RmiaInput<'_>,
    config: super::RmiaConfig,
    membership: &[bool],
    roc: &RocConfig,
    provenance: Provenance,
) -> Result<MiaReport, AnalysisError> {
    let scores = super::rmia_scores(input, config).map_err(|e| AnalysisError::mia("RMIA", e))?;
    let rocs = vec![
        (
            "rmia".to_string(),
            format!(
                "RMIA {}, a = {}, γ = {}, {} population points",
                if config.online { "online" } else { "offline" },
                config.offline_a,
                config.gamma,
                input.target_z.len()
            ),
            split_by_membership("target_in", &scores, membership)?,
        ),
        (
            "global_threshold".to_string(),
            "the target's own Pr(x|θ), thresholded (no reference models)".to_string(),
            split_by_membership("target_in", input.target_x, membership)?,
        ),
    ];
    MiaReport::from_rocs("rmia", provenance, roc, &rocs, None, None, Outcome::Info)
        .map_err(|e| AnalysisError::mia("ROC summary", e))
}
