//! `unlearn-audit mia llm` and `unlearn-audit forget-quality`: language-model unlearning
//! figures as OpenUnlearning computes them, with our statistics beside them (`docs/llm.md`).
//! The analyses live in `unlearn_audit::mia::llm`; this file reads bundles and prints.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Serialize;
use unlearn_audit::evidence::Claim;
use unlearn_audit::io::llm::LlmBundle;
use unlearn_audit::mia::llm::{
    AnswerLosses, ForgetQuality, ForgetQualityOptions, LLM_ATTACKS, SplitScores, attack_available,
    attack_roc, bundle_scores, forget_quality, forget_quality_outcome, llm_gap_verdict, privleak,
};
use unlearn_audit::mia::roc::{Roc, RocSummary};
use unlearn_audit::mia::unlearning::AttackGap;
use unlearn_audit::report::{Finding, Outcome, Provenance, Table, fmt_number, fmt_optional};

use super::mia::{CommonArgs, digest};

/// Arguments of `unlearn-audit mia llm`.
#[derive(Debug, clap::Args)]
pub struct LlmArgs {
    /// LLM bundle of the audited (unlearned) model (docs/formats.md, LLM bundle).
    #[arg(long, value_name = "DIR")]
    model: PathBuf,
    /// Split of members (e.g. `forget`).
    #[arg(long, value_name = "SPLIT")]
    members: String,
    /// Split of non-members (e.g. `holdout`).
    #[arg(long, value_name = "SPLIT")]
    nonmembers: String,
    /// LLM bundle of the retrained model: PrivLeak and the gap to retraining.
    #[arg(long, value_name = "DIR")]
    reference: Option<PathBuf>,
    /// LLM bundle of the original (pre-unlearning) model: positive control (needs --reference).
    #[arg(long, value_name = "DIR", requires = "reference")]
    original: Option<PathBuf>,
    /// Share k of tokens for Min-K % and Min-K %++ (OpenUnlearning: TOFU 0.2, MUSE 0.4).
    #[arg(long, default_value_t = 0.2)]
    k: f64,
    /// Attacks (comma-separated; default: loss and min_k, plus zlib and min_k_plus_plus when
    /// their files are present). An attack asked for whose file is missing is an error.
    #[arg(long, value_delimiter = ',')]
    attacks: Option<Vec<String>>,
}

/// One attack in the report (`attacks.<name>`).
#[derive(Debug, Serialize)]
struct LlmAttackReport {
    description: &'static str,
    #[serde(flatten)]
    summary: RocSummary,
    /// Per-example scores in OpenUnlearning's sign (higher = non-member); the ROC uses −score.
    member_scores: SplitScores,
    nonmember_scores: SplitScores,
}

fn description(attack: &str) -> &'static str {
    match attack {
        "loss" => "LOSS: average token NLL of the target (OpenUnlearning mia/loss.py)",
        "zlib" => "zlib: LOSS / zlib-compressed byte length of the text (mia/zlib.py)",
        "min_k" => "Min-K %: -mean of the k share of lowest token log-probs (mia/min_k.py)",
        _ => {
            "Min-K %++: -mean of the k share of lowest standardised log-probs (mia/min_k_plus_plus.py)"
        }
    }
}

#[derive(Debug, Serialize)]
struct LlmReference {
    model: String,
    attacks: serde_json::Map<String, serde_json::Value>,
    /// Per attack: the gap, its interval, the equivalence verdict and (with --original) the
    /// positive control (`mia::unlearning::equivalence_to_reference`).
    gaps: Vec<AttackGap>,
    family_confidence: f64,
    /// Equivalence margin in AUC.
    margin: f64,
    /// The original model's bundle (positive control), when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    original: Option<String>,
}

#[derive(Debug, Serialize)]
struct LlmMiaReport {
    provenance: Provenance,
    mode: &'static str,
    members: String,
    nonmembers: String,
    k: f64,
    attacks: serde_json::Map<String, serde_json::Value>,
    /// MUSE PrivLeak per attack, exactly as OpenUnlearning computes it (with --reference).
    #[serde(skip_serializing_if = "Option::is_none")]
    privleak: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reference: Option<LlmReference>,
    #[serde(flatten)]
    outcome: Outcome,
    #[serde(skip)]
    rows: Vec<(String, RocSummary, Option<f64>)>,
    #[serde(skip)]
    gap_rows: Vec<AttackGap>,
}

impl Finding for LlmMiaReport {
    fn title(&self) -> String {
        "Membership inference on a language model".into()
    }
    fn outcome(&self) -> Outcome {
        self.outcome.clone()
    }
    fn markdown(&self) -> String {
        let mut table = Table::new(["attack", "AUC", "AUC CI", "PrivLeak", "n1/n0"]);
        for (name, s, leak) in &self.rows {
            table.row(vec![
                name.clone(),
                fmt_number(s.auc),
                s.auc_ci
                    .map(|ci| format!("[{}, {}]", fmt_number(ci.lower), fmt_number(ci.upper)))
                    .unwrap_or_else(|| "—".into()),
                fmt_optional(*leak),
                format!("{}/{}", s.n_members, s.n_nonmembers),
            ]);
        }
        let mut text = format!(
            "Members `{}`, non-members `{}`, k = {}.\n\n{}",
            self.members,
            self.nonmembers,
            self.k,
            table.markdown()
        );
        if !self.gap_rows.is_empty() {
            text.push_str(&format!(
                "\nGap to the retrained model (equivalence margin, positive control):\n\n{}",
                unlearn_audit::mia::analysis::gaps_markdown(&self.gap_rows)
            ));
        }
        text.push_str(&format!(
            "\nOutcome: {}\n",
            match &self.outcome {
                Outcome::Info => "measurement only (give --reference for a verdict)".into(),
                Outcome::Pass => "indistinguishable from retraining".into(),
                Outcome::Fail { reason } => format!("FAIL: {reason}"),
                Outcome::Inconclusive { reason } => format!("inconclusive: {reason}"),
            }
        ));
        text
    }
}

struct BundleRun {
    members: Vec<SplitScores>,
    nonmembers: Vec<SplitScores>,
    rocs: Vec<Roc>,
}

fn run_bundle(dir: &Path, args: &LlmArgs, attacks: &[String]) -> anyhow::Result<BundleRun> {
    let bundle = LlmBundle::new(dir)?;
    let members = bundle_scores(&bundle, &args.members, attacks, args.k)?;
    let nonmembers = bundle_scores(&bundle, &args.nonmembers, attacks, args.k)?;
    let rocs = members
        .iter()
        .zip(&nonmembers)
        .zip(attacks)
        .map(|((m, n), a)| {
            attack_roc(m, n).with_context(|| format!("{}: attack `{a}`", dir.display()))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(BundleRun {
        members,
        nonmembers,
        rocs,
    })
}

fn check_same_rows(a: &BundleRun, b: &BundleRun, what: &str, dir: &Path) -> anyhow::Result<()> {
    if let (Some(x), Some(y)) = (a.rocs.first(), b.rocs.first())
        && (x.n_members(), x.n_nonmembers()) != (y.n_members(), y.n_nonmembers())
    {
        {
            bail!(
                "{}: the {what} bundle has {} members and {} non-members, the audited bundle {} and {}; \
                 the gap is paired and needs the same examples in the same order",
                dir.display(),
                y.n_members(),
                y.n_nonmembers(),
                x.n_members(),
                x.n_nonmembers()
            );
        }
    }
    Ok(())
}

pub fn run_mia(args: LlmArgs, common: &CommonArgs) -> anyhow::Result<u8> {
    let model = LlmBundle::new(&args.model)?;
    let attacks: Vec<String> = match &args.attacks {
        Some(list) => {
            for a in list {
                if !LLM_ATTACKS.contains(&a.as_str()) {
                    bail!(
                        "--attacks: unknown attack `{a}` (known: {})",
                        LLM_ATTACKS.join(", ")
                    );
                }
            }
            list.clone()
        }
        None => LLM_ATTACKS
            .iter()
            .filter(|a| attack_available(&model, a))
            .map(|a| a.to_string())
            .collect(),
    };
    let config = common.roc_config();
    let unlearned = run_bundle(&args.model, &args, &attacks)?;
    let mut provenance = Provenance::new();
    for dir in [
        Some(&args.model),
        args.reference.as_ref(),
        args.original.as_ref(),
    ]
    .into_iter()
    .flatten()
    {
        for name in [
            "token_logprobs.npz",
            "token_mask.npz",
            "token_vocab_stats.npz",
            "text_zlib.npz",
        ] {
            let path = dir.join(name);
            if path.exists() {
                provenance.inputs.push(digest(&path)?);
            }
        }
    }
    let mut attack_map = serde_json::Map::new();
    let mut rows = Vec::new();
    let mut summaries = Vec::new();
    for (i, name) in attacks.iter().enumerate() {
        let summary = unlearned.rocs[i].summary(&config)?;
        attack_map.insert(
            name.clone(),
            serde_json::to_value(LlmAttackReport {
                description: description(name),
                summary: summary.clone(),
                member_scores: unlearned.members[i].clone(),
                nonmember_scores: unlearned.nonmembers[i].clone(),
            })?,
        );
        summaries.push(summary);
    }
    let (privleak_map, reference, outcome, gap_rows) = match &args.reference {
        None => (None, None, Outcome::Info, Vec::new()),
        Some(dir) => {
            let retrained = run_bundle(dir, &args, &attacks)?;
            check_same_rows(&unlearned, &retrained, "reference", dir)?;
            let mut leak = serde_json::Map::new();
            let mut ref_attacks = serde_json::Map::new();
            for (i, name) in attacks.iter().enumerate() {
                let value = privleak(unlearned.rocs[i].auc(), retrained.rocs[i].auc());
                leak.insert(name.clone(), serde_json::to_value(value)?);
                let summary = retrained.rocs[i].summary(&config)?;
                ref_attacks.insert(
                    name.clone(),
                    serde_json::to_value(LlmAttackReport {
                        description: description(name),
                        summary,
                        member_scores: retrained.members[i].clone(),
                        nonmember_scores: retrained.nonmembers[i].clone(),
                    })?,
                );
            }
            let original = match &args.original {
                Some(odir) => {
                    let run = run_bundle(odir, &args, &attacks)?;
                    check_same_rows(&unlearned, &run, "original", odir)?;
                    Some((odir.display().to_string(), run))
                }
                None => None,
            };
            let (gaps, outcome) = llm_gap_verdict(
                &attacks,
                &unlearned.rocs,
                &retrained.rocs,
                original.as_ref().map(|(_, run)| run.rocs.as_slice()),
                common.confidence(),
                common.margin(),
            )?;
            (
                Some(leak),
                Some(LlmReference {
                    model: dir.display().to_string(),
                    attacks: ref_attacks,
                    gaps: gaps.clone(),
                    family_confidence: common.confidence(),
                    margin: common.margin(),
                    original: original.as_ref().map(|(m, _)| m.clone()),
                }),
                outcome,
                gaps,
            )
        }
    };
    for (i, name) in attacks.iter().enumerate() {
        let leak = privleak_map
            .as_ref()
            .and_then(|m| m.get(name))
            .and_then(|v| v.as_f64());
        rows.push((name.clone(), summaries[i].clone(), leak));
    }
    let report = LlmMiaReport {
        provenance,
        mode: "llm",
        members: args.members.clone(),
        nonmembers: args.nonmembers.clone(),
        k: args.k,
        attacks: attack_map,
        privleak: privleak_map,
        reference,
        outcome,
        rows,
        gap_rows,
    };
    super::emit(&report, common.json())
}

// ------------------------------------------------------------------ forget quality

/// Arguments of `unlearn-audit forget-quality`.
#[derive(Debug, clap::Args)]
pub struct ForgetQualityArgs {
    /// LLM bundle(s) of the unlearned model with answer_losses.npz; repeat for several runs
    /// (seeds) of the unlearning procedure.
    #[arg(long, value_name = "DIR", required = true)]
    unlearned: Vec<PathBuf>,
    /// LLM bundle(s) of the retrained model; repeat for several retraining runs.
    #[arg(long, value_name = "DIR", required = true)]
    retrained: Vec<PathBuf>,
    /// Split whose answer losses are compared.
    #[arg(long, value_name = "SPLIT", default_value = "forget")]
    split: String,
    /// Confidence of every interval.
    #[arg(long, default_value_t = 0.95)]
    confidence: f64,
    /// With several runs per side: claimed ε of the per-example ε audit (omit to only bound).
    #[arg(long)]
    claim_epsilon: Option<f64>,
    /// δ of the per-example ε audit.
    #[arg(long, default_value_t = 1e-5)]
    delta: f64,
    /// Seed of the ε audit's random splits.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print the JSON report on stdout instead of tables.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct ForgetQualityReport {
    provenance: Provenance,
    #[serde(flatten)]
    finding: ForgetQuality,
    #[serde(flatten)]
    outcome: Outcome,
}

impl Finding for ForgetQualityReport {
    fn title(&self) -> String {
        "Forget quality (TOFU)".into()
    }
    fn outcome(&self) -> Outcome {
        self.outcome.clone()
    }
    fn markdown(&self) -> String {
        forget_quality_markdown(&self.finding)
    }
}

/// The forget-quality table (also used by plan reports).
pub fn forget_quality_markdown(f: &ForgetQuality) -> String {
    let mut t = Table::new(["figure", "value", "interval / note"]);
    t.row(vec![
        "forget_quality (KS p-value)".into(),
        fmt_optional(f.forget_quality),
        f.ks.reason
            .clone()
            .unwrap_or_else(|| format!("D = {}", fmt_number(f.ks.statistic))),
    ]);
    if let Some(p) = &f.paired_log_truth_ratio_difference {
        t.row(vec![
            "median ln TR(u) − ln TR(r)".into(),
            fmt_number(p.median),
            p.ci.map(|ci| {
                format!(
                    "[{}, {}] ({})",
                    fmt_number(ci.lower),
                    fmt_number(ci.upper),
                    ci.method
                )
            })
            .unwrap_or_else(|| p.ci_reason.clone().unwrap_or_default()),
        ]);
        t.row(vec![
            "share TR(u) > TR(r)".into(),
            fmt_number(p.share_positive),
            format!(
                "[{}, {}]",
                fmt_number(p.share_positive_ci.lower),
                fmt_number(p.share_positive_ci.upper)
            ),
        ]);
    }
    if let Some(e) = &f.epsilon {
        t.row(vec![
            "ε lower bound (per-example)".into(),
            fmt_number(e.epsilon_lower_bound),
            e.reason.clone(),
        ]);
    }
    format!("Split `{}`.\n\n{}", f.split, t.markdown())
}

fn load_answers(dir: &Path, split: &str) -> anyhow::Result<AnswerLosses> {
    let bundle = LlmBundle::new(dir)?;
    let (correct, wrong) = bundle.answer_losses(split)?;
    Ok(AnswerLosses {
        source: dir.to_path_buf(),
        correct,
        wrong,
    })
}

pub fn run_forget_quality(args: ForgetQualityArgs) -> anyhow::Result<u8> {
    let mut provenance = Provenance::new();
    let mut load_side = |dirs: &[PathBuf]| -> anyhow::Result<Vec<AnswerLosses>> {
        dirs.iter()
            .map(|d| {
                let answers = load_answers(d, &args.split)?;
                provenance
                    .inputs
                    .push(digest(&d.join("answer_losses.npz"))?);
                Ok(answers)
            })
            .collect()
    };
    let unlearned = load_side(&args.unlearned)?;
    let retrained = load_side(&args.retrained)?;
    let claim = Claim::new(args.claim_epsilon, args.delta).context("invalid claim")?;
    let finding = forget_quality(
        &unlearned,
        &retrained,
        &ForgetQualityOptions {
            split: args.split.clone(),
            confidence: args.confidence,
            claim,
            seed: args.seed,
        },
    )?;
    let outcome = forget_quality_outcome(&finding);
    let report = ForgetQualityReport {
        provenance,
        finding,
        outcome,
    };
    super::emit(&report, args.json)
}
