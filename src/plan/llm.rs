//! `[llm_mia]` and `[forget_quality]` in plans: the language-model analyses of `docs/llm.md`
//! through the same library functions as `mia llm` and `forget-quality`.

use std::collections::BTreeMap;

use serde::Serialize;

use super::PlanError;
use super::report::{MiaFinding, MiaPair, ScoreHistogram};
use super::runner::histogram;
use super::typed::{ForgetQualityPlan, LlmMiaPlan};
use crate::evidence::Claim;
use crate::io::llm::LlmBundle;
use crate::mia::llm::{
    AnswerLosses, ForgetQuality, ForgetQualityOptions, LLM_ATTACKS, attack_available, attack_roc,
    bundle_scores, forget_quality, forget_quality_outcome, llm_gap_verdict, privleak,
};
use crate::mia::roc::{FprConvention, Roc, RocConfig};
use crate::report::Outcome;

fn error(analysis: &'static str, e: impl std::fmt::Display) -> PlanError {
    PlanError::Analysis {
        analysis,
        message: e.to_string(),
    }
}

/// `[llm_mia]`'s finding: the MIA layout (ROC, histogram, gaps with the equivalence verdict and
/// positive control) plus PrivLeak.
#[derive(Debug, Clone, Serialize)]
pub struct LlmMiaFinding {
    #[serde(flatten)]
    pub mia: MiaFinding,
    pub k: f64,
    /// MUSE PrivLeak per attack, as OpenUnlearning computes it.
    pub privleak: BTreeMap<String, f64>,
}

/// `[forget_quality]`'s finding.
#[derive(Debug, Clone, Serialize)]
pub struct ForgetQualityFinding {
    #[serde(flatten)]
    pub finding: ForgetQuality,
    /// ln truth ratios of the first runs, shared bins.
    pub histogram: ScoreHistogram,
    #[serde(flatten)]
    pub outcome: Outcome,
}

struct Run {
    members: Vec<Vec<f64>>,
    rocs: Vec<Roc>,
}

fn run_bundle(
    dir: &std::path::Path,
    plan: &LlmMiaPlan,
    attacks: &[String],
) -> Result<Run, PlanError> {
    let spec = &plan.spec;
    let bundle = LlmBundle::new(dir).map_err(|e| error("llm_mia", e))?;
    let members =
        bundle_scores(&bundle, &spec.members, attacks, spec.k).map_err(|e| error("llm_mia", e))?;
    let nonmembers = bundle_scores(&bundle, &spec.nonmembers, attacks, spec.k)
        .map_err(|e| error("llm_mia", e))?;
    let rocs = members
        .iter()
        .zip(&nonmembers)
        .zip(attacks)
        .map(|((m, n), a)| {
            attack_roc(m, n).map_err(|e| error("llm_mia", format!("{}: {a}: {e}", dir.display())))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Run {
        members: members.into_iter().map(|s| s.scores).collect(),
        rocs,
    })
}

fn same_examples(a: &Run, b: &Run, dir: &std::path::Path) -> Result<(), PlanError> {
    let size = |r: &Run| r.rocs.first().map(|x| (x.n_members(), x.n_nonmembers()));
    if size(a) != size(b) {
        return Err(error(
            "llm_mia",
            format!(
                "{}: members / non-members {:?} differ from the unlearned bundle's {:?}: the gap \
                 is paired and needs the same examples",
                dir.display(),
                size(b),
                size(a)
            ),
        ));
    }
    Ok(())
}

/// Runs `[llm_mia]`.
pub(super) fn run_llm_mia(plan: &LlmMiaPlan, seed: u64) -> Result<LlmMiaFinding, PlanError> {
    let spec = &plan.spec;
    let unlearned_bundle = LlmBundle::new(&plan.unlearned.path).map_err(|e| error("llm_mia", e))?;
    let attacks: Vec<String> = match &spec.attacks {
        Some(list) => list.clone(),
        None => LLM_ATTACKS
            .iter()
            .filter(|a| attack_available(&unlearned_bundle, a))
            .map(|a| a.to_string())
            .collect(),
    };
    let u = run_bundle(&plan.unlearned.path, plan, &attacks)?;
    let r = run_bundle(&plan.retrained.path, plan, &attacks)?;
    same_examples(&u, &r, &plan.retrained.path)?;
    let original = match &plan.original {
        Some(o) => {
            let run = run_bundle(&o.path, plan, &attacks)?;
            same_examples(&u, &run, &o.path)?;
            Some(run)
        }
        None => None,
    };
    let confidence = *spec.confidence.get_ref();
    let (gaps, outcome) = llm_gap_verdict(
        &attacks,
        &u.rocs,
        &r.rocs,
        original.as_ref().map(|run| run.rocs.as_slice()),
        confidence,
        spec.margin,
    )
    .map_err(|e| error("llm_mia", e))?;
    let config = RocConfig {
        fprs: spec.fprs.clone(),
        confidence,
        convention: FprConvention::AtMost,
        bootstrap_replicates: spec.bootstrap,
        seed,
        curve: true,
    };
    let plotted = gaps
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.auc_gap.abs().total_cmp(&b.1.auc_gap.abs()))
        .map(|(i, _)| i)
        .unwrap_or(0);
    let mut pairs = Vec::new();
    let mut leak = BTreeMap::new();
    for (i, name) in attacks.iter().enumerate() {
        let mut su = u.rocs[i]
            .summary(&config)
            .map_err(|e| error("llm_mia", e))?;
        let mut sr = r.rocs[i]
            .summary(&config)
            .map_err(|e| error("llm_mia", e))?;
        let mut so = match &original {
            Some(run) => Some(
                run.rocs[i]
                    .summary(&config)
                    .map_err(|e| error("llm_mia", e))?,
            ),
            None => None,
        };
        if i != plotted {
            su.curve = None;
            sr.curve = None;
            if let Some(so) = so.as_mut() {
                so.curve = None;
            }
        }
        pairs.push(MiaPair {
            attack: name.clone(),
            description: format!("OpenUnlearning `{name}` score, negated (higher = member)"),
            unlearned: su,
            retrained: sr,
            original: so,
        });
        leak.insert(name.clone(), privleak(u.rocs[i].auc(), r.rocs[i].auc()));
    }
    let plotted_attack = attacks.get(plotted).cloned().unwrap_or_default();
    let mut score_histogram = histogram(
        &spec.members,
        u.members.get(plotted).map(Vec::as_slice).unwrap_or(&[]),
        r.members.get(plotted).map(Vec::as_slice).unwrap_or(&[]),
        24,
    );
    score_histogram.score = format!("openunlearning_{plotted_attack}");
    Ok(LlmMiaFinding {
        mia: MiaFinding {
            members: spec.members.clone(),
            nonmembers: spec.nonmembers.clone(),
            family_confidence: confidence,
            attacks: pairs,
            gaps,
            plotted_attack,
            score_histogram,
            margin: spec.margin,
            positive_control: plan.original.as_ref().map(|o| o.written.clone()),
            outcome,
        },
        k: spec.k,
        privleak: leak,
    })
}

/// Runs `[forget_quality]`.
pub(super) fn run_forget_quality(
    plan: &ForgetQualityPlan,
    seed: u64,
) -> Result<ForgetQualityFinding, PlanError> {
    let spec = &plan.spec;
    let load = |paths: &[super::typed::EvidencePath]| {
        paths
            .iter()
            .map(|p| {
                let bundle = LlmBundle::new(&p.path).map_err(|e| error("forget_quality", e))?;
                let (correct, wrong) = bundle
                    .answer_losses(&spec.split)
                    .map_err(|e| error("forget_quality", e))?;
                Ok(AnswerLosses {
                    source: p.path.clone(),
                    correct,
                    wrong,
                })
            })
            .collect::<Result<Vec<_>, PlanError>>()
    };
    let unlearned = load(&plan.unlearned)?;
    let retrained = load(&plan.retrained)?;
    let claim =
        Claim::new(spec.claim_epsilon, spec.delta).map_err(|e| error("forget_quality", e))?;
    let finding = forget_quality(
        &unlearned,
        &retrained,
        &ForgetQualityOptions {
            split: spec.split.clone(),
            confidence: *spec.confidence.get_ref(),
            claim,
            seed,
        },
    )
    .map_err(|e| error("forget_quality", e))?;
    let mut h = histogram(
        &spec.split,
        &finding.log_truth_ratio.0,
        &finding.log_truth_ratio.1,
        24,
    );
    h.score = "log_truth_ratio".into();
    let outcome = forget_quality_outcome(&finding);
    Ok(ForgetQualityFinding {
        finding,
        histogram: h,
        outcome,
    })
}

/// The forget-quality figures as a table (Markdown and HTML reports).
pub(super) fn forget_quality_table(f: &ForgetQuality) -> crate::report::Table {
    use crate::report::{fmt_number, fmt_optional};
    let mut t = crate::report::Table::new(vec!["figure", "value", "interval / note"]);
    t.row(vec![
        "forget_quality (KS p-value, TOFU)".to_string(),
        fmt_optional(f.forget_quality),
        f.ks.reason
            .clone()
            .unwrap_or_else(|| format!("D = {}", fmt_number(f.ks.statistic))),
    ]);
    t.row(vec![
        "forget truth ratio (unlearned / retrained)".to_string(),
        format!(
            "{} / {}",
            fmt_number(f.forget_truth_ratio.unlearned),
            fmt_number(f.forget_truth_ratio.retrained)
        ),
        "closer_to_1_better".to_string(),
    ]);
    if let Some(p) = &f.paired_log_truth_ratio_difference {
        t.row(vec![
            "median ln TR(u) − ln TR(r), paired".to_string(),
            fmt_number(p.median),
            p.ci.map(|ci| format!("[{}, {}]", fmt_number(ci.lower), fmt_number(ci.upper)))
                .unwrap_or_else(|| p.ci_reason.clone().unwrap_or_default()),
        ]);
    }
    if let Some(e) = &f.epsilon {
        t.row(vec![
            "ε lower bound (per-example, runs)".to_string(),
            fmt_number(e.epsilon_lower_bound),
            e.reason.clone(),
        ]);
    }
    t
}
