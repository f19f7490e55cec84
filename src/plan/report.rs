//! The audit report: every finding and rule result, the verdict, and provenance. Its JSON is
//! the contract (`docs/plans.md` §Report); everything but `wall_times_seconds` is a pure
//! function of the plan, its inputs and its seed.

use std::collections::BTreeMap;

use serde::Serialize;

use super::rules::Bound;
use super::schema::{PlanFile, Space};
use crate::certify::Certificate;
use crate::metrics::compare::CompareFinding;
use crate::mia::roc::RocSummary;
use crate::mia::unlearning::AttackGap;
use crate::report::{Finding, InputDigest, Outcome, Table, fmt_number, fmt_optional};

/// What plan produced the report.
#[derive(Debug, Clone, Serialize)]
pub struct PlanSummary {
    pub name: String,
    pub description: String,
    /// The plan file as given on the command line.
    pub file: String,
    pub sha256: String,
    pub seed: u64,
}

/// The claim under audit.
#[derive(Debug, Clone, Serialize)]
pub struct ClaimSummary {
    pub epsilon: f64,
    pub delta: f64,
    pub space: Space,
}

/// One rule's result.
#[derive(Debug, Clone, Serialize)]
pub struct RuleResult {
    /// The rule in one line, e.g. `js.forget ≤ 0.02`.
    pub rule: String,
    pub metric: Option<String>,
    pub check: Option<String>,
    /// The measured value; `null` with `value_reason` when it could not be computed.
    pub value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_reason: Option<String>,
    pub threshold: Option<Bound>,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// One row of the sanity ordering d(r, r′) ≤ d(u, r) ≤ d(o, r) for one distance: the row type
/// of `compare` (`metrics::compare::OrderingRow`), with the decision against the noise floor.
pub use crate::metrics::compare::OrderingRow;

/// The sanity ordering of the distances (`compare`): `verification_error` and `js.<split>`.
#[derive(Debug, Clone, Serialize)]
pub struct SanityOrdering {
    pub rows: Vec<OrderingRow>,
    /// Why there is no noise floor (`evidence.retrained_again` missing), absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub noise_floor_reason: Option<String>,
}

/// One attack on the unlearned and on the retrained model.
#[derive(Debug, Clone, Serialize)]
pub struct MiaPair {
    pub attack: String,
    pub description: String,
    pub unlearned: RocSummary,
    pub retrained: RocSummary,
    /// The same attack on the original model (the positive control), when the evidence has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original: Option<RocSummary>,
}

/// Histogram of a per-example score on the members split, for both models, on shared bins.
#[derive(Debug, Clone, Serialize)]
pub struct ScoreHistogram {
    /// e.g. `log10_loss`.
    pub score: String,
    pub split: String,
    /// `bins + 1` increasing edges.
    pub bin_edges: Vec<f64>,
    pub unlearned: Vec<u64>,
    pub retrained: Vec<u64>,
}

/// Membership inference against the unlearned model, with the retrained model as reference.
#[derive(Debug, Clone, Serialize)]
pub struct MiaFinding {
    pub members: String,
    pub nonmembers: String,
    /// Family-wise confidence of the gap intervals (Bonferroni over the attacks).
    pub family_confidence: f64,
    pub attacks: Vec<MiaPair>,
    pub gaps: Vec<AttackGap>,
    /// The attack with the largest |AUC gap|, drawn in the report.
    pub plotted_attack: String,
    pub score_histogram: ScoreHistogram,
    /// Equivalence margin in AUC of the verdict (`docs/verdicts.md`, "Membership inference").
    pub margin: f64,
    /// What served as the positive control: the original model's bundle, or `null` when the
    /// evidence has none (then the verdict cannot pass).
    pub positive_control: Option<String>,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// The in-process mechanism runs behind `[epsilon]`.
#[derive(Debug, Clone, Serialize)]
pub struct MechanismRun {
    pub name: String,
    pub parameters: serde_json::Value,
    /// The mechanism's own certificate (faulty variants claim the correct one's).
    pub certificate: crate::mechanisms::Certificate,
    pub trials: usize,
    pub record: super::schema::RecordSpec,
    pub record_dimension: usize,
    pub forget_indices: Vec<usize>,
    /// `ChaCha8Rng::seed_from_u64(plan.seed)`, stream 2·run + side.
    pub seed: u64,
}

/// Provenance: tool, inputs with digests, the seed and every parameter of the plan.
#[derive(Debug, Clone, Serialize)]
pub struct ReportProvenance {
    pub tool: &'static str,
    pub version: &'static str,
    pub inputs: Vec<InputDigest>,
    pub seed: u64,
    /// The plan as parsed, defaults filled in.
    pub parameters: PlanFile,
}

/// The whole audit report.
#[derive(Debug, Clone, Serialize)]
pub struct AuditReport {
    /// Version of this JSON layout.
    pub schema: &'static str,
    pub plan: PlanSummary,
    pub claim: Option<ClaimSummary>,
    /// The combined outcome of every rule: `pass`, `fail` or `inconclusive` with a reason.
    pub verdict: Outcome,
    pub rules: Vec<RuleResult>,
    pub compare: Option<CompareFinding>,
    pub sanity_ordering: Option<SanityOrdering>,
    pub mia: Option<MiaFinding>,
    /// U-LiRA against the mechanism (`[ulira]`), in the same layout as `mia`.
    pub ulira: Option<MiaFinding>,
    /// Language-model attacks (`[llm_mia]`), in the same layout as `mia` plus PrivLeak; absent
    /// when the plan has no `[llm_mia]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub llm_mia: Option<super::llm::LlmMiaFinding>,
    /// TOFU's forget quality (`[forget_quality]`); absent when the plan has none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forget_quality: Option<super::llm::ForgetQualityFinding>,
    pub certificate: Option<Certificate>,
    pub mechanism: Option<MechanismRun>,
    pub epsilon: Option<crate::audit::EpsilonAudit>,
    /// Per-run mean of the recorded statistic, unlearned vs retrained runs (`[epsilon]`).
    pub sample_histogram: Option<ScoreHistogram>,
    pub provenance: ReportProvenance,
    /// Wall-clock seconds per step: the only field that differs between identical runs.
    pub wall_times_seconds: BTreeMap<String, f64>,
}

/// `pass`, `fail`, `inconclusive` or `info`.
pub(crate) fn outcome_word(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Info => "info",
        Outcome::Pass => "pass",
        Outcome::Fail { .. } => "fail",
        Outcome::Inconclusive { .. } => "inconclusive",
    }
}

/// The reason of an outcome, or an empty string.
pub(crate) fn outcome_reason(outcome: &Outcome) -> &str {
    match outcome {
        Outcome::Fail { reason } | Outcome::Inconclusive { reason } => reason,
        _ => "",
    }
}

/// A Markdown section heading; an empty title gives a blank line, never an empty `##`.
fn section(title: &str) -> String {
    if title.trim().is_empty() {
        "\n".to_string()
    } else {
        format!("\n## {title}\n\n")
    }
}

impl AuditReport {
    /// The rules as a table.
    pub fn rules_table(&self) -> Table {
        let mut table = Table::new(vec!["rule", "value", "outcome", "reason"]);
        for rule in &self.rules {
            // Every value says what it is; a missing value says why.
            let quantity = match (rule.metric.as_deref(), rule.check.as_deref()) {
                (Some(metric), _) => metric.to_string(),
                (None, Some("claim_not_violated")) => "ε lower bound".into(),
                (None, Some("certificate_covers_claim")) => "certified ε".into(),
                (None, Some("ulira_indistinguishable")) => "AUC gap".into(),
                (None, Some("unlearned_closer_than_original")) => "d(u, r)".into(),
                (None, Some(other)) => other.to_string(),
                (None, None) => "value".into(),
            };
            let reason = crate::report::round_floats(outcome_reason(&rule.outcome));
            table.row(vec![
                rule.rule.clone(),
                match (&rule.value, &rule.value_reason) {
                    (Some(v), _) => format!("{quantity} = {}", fmt_number(*v)),
                    (None, Some(why)) => format!("— ({})", crate::report::round_floats(why)),
                    (None, None) => "— (no single number; see its section)".into(),
                },
                outcome_word(&rule.outcome).into(),
                if reason.is_empty() {
                    "—".to_string()
                } else {
                    reason
                },
            ]);
        }
        table
    }
}

impl MiaFinding {
    /// The AUC gaps with each attack's verdict and positive control as a table.
    pub fn gaps_table(&self) -> Table {
        crate::mia::analysis::gaps_table(&self.gaps)
    }

    /// One paragraph: the margin, the positive control and the sample-size estimates.
    pub fn controls_note(&self) -> String {
        let control = match &self.positive_control {
            Some(original) => format!(
                "Positive control: every attack also ran on the original model ({original}); \
                 an attack has power when it tells the original from retraining by more than \
                 the margin, and only attacks with power can pass."
            ),
            None => "Positive control: none (the evidence has no original model), so this \
                     check cannot pass: nothing shows the attacks could detect memorisation."
                .to_string(),
        };
        let estimates: Vec<String> = self
            .gaps
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
        let mut text = format!(
            "Equivalence margin ±{} in AUC: an attack passes when its whole gap interval lies \
             within it, fails when the interval lies beyond it. {control}",
            fmt_number(self.margin)
        );
        if !estimates.is_empty() {
            text.push_str(&format!(
                " Sample sizes scored by each attack that would likely decide it (planning \
                 estimates from the observed variance, not bounds): {}.",
                estimates.join("; ")
            ));
        }
        text
    }
}

impl SanityOrdering {
    /// The ordering as a table: each distance beside its noise floor, the decision against it
    /// and the fraction moved (`docs/verdicts.md` §Distances and the noise floor).
    pub fn table(&self) -> Table {
        let mut table = Table::new(vec![
            "distance",
            "d(r, r′) noise floor",
            "d(u, r)",
            "d(o, r)",
            "d(u, r) ≤ d(o, r)",
            "d(u, r) ≤ d(r, r′)",
            "decision",
            "fraction moved",
        ]);
        let yes_no = |b: Option<bool>| match b {
            Some(true) => "yes".to_string(),
            Some(false) => "no".to_string(),
            None => "—".to_string(),
        };
        for row in &self.rows {
            table.row(vec![
                row.distance.clone(),
                fmt_optional(row.retrained_again_to_retrained),
                fmt_optional(row.unlearned_to_retrained),
                fmt_optional(row.original_to_retrained),
                yes_no(row.unlearned_closer_than_original),
                yes_no(row.within_noise_floor),
                row.movement.word().replace('_', " "),
                fmt_optional(row.fraction_moved),
            ]);
        }
        table
    }
}

impl Finding for AuditReport {
    fn title(&self) -> String {
        format!("Audit: {}", self.plan.name)
    }

    fn outcome(&self) -> Outcome {
        self.verdict.clone()
    }

    fn markdown(&self) -> String {
        let mut out = String::new();
        let word = outcome_word(&self.verdict).to_uppercase();
        out.push_str(&format!("**Verdict: {word}**"));
        let reason = outcome_reason(&self.verdict);
        if !reason.is_empty() {
            out.push_str(&format!(": {reason}"));
        }
        out.push_str("\n\n");
        if !self.plan.description.is_empty() {
            out.push_str(&format!("{}\n\n", self.plan.description));
        }
        if let Some(claim) = &self.claim {
            out.push_str(&format!(
                "Claim: ({}, {})-unlearning in {} space.\n\n",
                fmt_number(claim.epsilon),
                fmt_number(claim.delta),
                match claim.space {
                    Space::Weights => "weight",
                    Space::Outputs => "output",
                }
            ));
        }
        out.push_str("## Rules\n\n");
        out.push_str(&self.rules_table().markdown());
        if let Some(certificate) = &self.certificate {
            out.push_str(&section(&certificate.title()));
            out.push_str(&certificate.markdown());
        }
        if let Some(mechanism) = &self.mechanism {
            out.push_str(&format!(
                "\n## Mechanism `{}`\n\n{} runs per side, recording {} (d = {}); its \
                 certificate: ε = {}, δ = {} ({}).\n",
                mechanism.name,
                mechanism.trials,
                super::typed::record_name(mechanism.record),
                mechanism.record_dimension,
                fmt_optional(mechanism.certificate.epsilon),
                fmt_optional(mechanism.certificate.delta),
                mechanism.certificate.status
            ));
        }
        if let Some(epsilon) = &self.epsilon {
            out.push_str(&section(&epsilon.title()));
            out.push_str(&epsilon.markdown());
        }
        if let Some(mia) = &self.mia {
            out.push_str(&format!(
                "\n## Membership inference ({} vs {})\n\n",
                mia.members, mia.nonmembers
            ));
            out.push_str(&format!(
                "AUC gap to retraining, family-wise confidence {}:\n\n",
                fmt_number(mia.family_confidence)
            ));
            out.push_str(&mia.gaps_table().markdown());
            out.push_str(&format!("\n{}\n", mia.controls_note()));
        }
        if let Some(ulira) = &self.ulira {
            out.push_str("\n## U-LiRA against the mechanism\n\n");
            out.push_str(&format!(
                "AUC gap to the retrained twin, family-wise confidence {}:\n\n",
                fmt_number(ulira.family_confidence)
            ));
            out.push_str(&ulira.gaps_table().markdown());
            out.push_str(&format!("\n{}\n", ulira.controls_note()));
        }
        if let Some(llm) = &self.llm_mia {
            out.push_str(&format!(
                "\n## Membership inference on a language model ({} vs {}, k = {})\n\n",
                llm.mia.members, llm.mia.nonmembers, llm.k
            ));
            let mut leak = Table::new(vec!["attack", "PrivLeak (MUSE)"]);
            for (attack, value) in &llm.privleak {
                leak.row(vec![attack.clone(), fmt_number(*value)]);
            }
            out.push_str(&leak.markdown());
            out.push_str(&format!(
                "\nAUC gap to retraining, family-wise confidence {}:\n\n",
                fmt_number(llm.mia.family_confidence)
            ));
            out.push_str(&llm.mia.gaps_table().markdown());
        }
        if let Some(fq) = &self.forget_quality {
            out.push_str("\n## Forget quality (TOFU)\n\n");
            out.push_str(&super::llm::forget_quality_table(&fq.finding).markdown());
        }
        if let Some(ordering) = &self.sanity_ordering {
            out.push_str("\n## Sanity ordering d(r, r′) ≤ d(u, r) ≤ d(o, r)\n\n");
            out.push_str(&ordering.table().markdown());
        }
        if let Some(compare) = &self.compare {
            out.push_str(&section(&compare.title()));
            out.push_str(&compare.markdown());
        }
        out.push_str("\n## Provenance\n\n");
        out.push_str(&format!(
            "{} {}, plan `{}` (sha256 `{}`), seed {}.\n\n",
            self.provenance.tool,
            self.provenance.version,
            self.plan.file,
            self.plan.sha256,
            self.provenance.seed
        ));
        let mut inputs = Table::new(vec!["input", "sha256"]);
        for input in &self.provenance.inputs {
            inputs.row(vec![input.path.clone(), input.sha256.clone()]);
        }
        out.push_str(&inputs.markdown());
        out
    }
}
