//! Runs a validated plan: each analysis through the library, then the rules, then the verdict.
//! Randomness comes only from the plan's seed (bootstrap and held-out splits in `mia`), and
//! every analysis merges its parallel work in a fixed order, so the report does not depend on
//! the thread count.

use std::collections::BTreeMap;
use std::time::Instant;

use super::report::{
    AuditReport, ClaimSummary, MechanismRun, MiaFinding, MiaPair, PlanSummary, ReportProvenance,
    RuleResult, SanityOrdering, ScoreHistogram,
};
use super::rules::{Bound, Metric, Rule};
use super::schema::Check;
use super::typed::{CertifiedMechanismPlan, EpsilonEvidence, MechanismPlan, record_name};
use super::{Plan, PlanError};
use crate::audit::EpsilonAudit;
use crate::certify::Certificate;
use crate::certify::gaussian::{GaussianTarget, gaussian_certificate};
use crate::certify::output_perturbation::OutputPerturbationParams;
use crate::io::{ACTIVATIONS_FILE, OUTPUTS_FILE, WEIGHTS_FILE};
use crate::metrics::compare::{CompareFinding, CompareOptions, Movement, compare_bundles};
use crate::mia::PopulationConfig;
use crate::mia::roc::{FprConvention, RocConfig};
use crate::report::Finding;
use crate::report::{InputDigest, Outcome, sha256_file};

/// Progress of a plan run (STYLE habit 6): the library never prints; the binary plugs in a bar.
pub trait PlanProgress: Sync {
    /// The run has `total` steps.
    fn start(&self, _total: usize) {}
    /// A step named `name` begins.
    fn step(&self, _name: &str) {}
    /// `done` of `total` mechanism runs have finished (sampling only).
    fn runs(&self, _done: usize, _total: usize) {}
    /// Every step is done.
    fn finish(&self) {}
}

/// Reports nothing (named apart from `sampling::NoProgress`, the trial runner's observer).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoPlanProgress;

impl PlanProgress for NoPlanProgress {}

/// The error and its sources on one line (library errors keep the OS reason as a source).
fn analysis_error(analysis: &'static str, error: impl std::error::Error) -> PlanError {
    PlanError::Analysis {
        analysis,
        message: error_chain(&error),
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

/// Runs every analysis of the plan, evaluates its rules and returns the report.
pub fn run_plan(plan: &Plan, progress: &dyn PlanProgress) -> Result<AuditReport, PlanError> {
    let file = &plan.file;
    let total = [
        plan.ulira.is_some(),
        plan.epsilon.is_some(),
        plan.mechanism.is_some(),
        plan.compare.is_some(),
        plan.compare
            .as_ref()
            .is_some_and(|c| c.retrained_again.is_some()),
        plan.mia.is_some(),
        plan.certify.is_some(),
        plan.llm_mia.is_some(),
        plan.forget_quality.is_some(),
    ]
    .iter()
    .filter(|x| **x)
    .count()
        + 1;
    progress.start(total);
    let mut wall_times = BTreeMap::new();
    let mut timed = |name: &str, started: Instant| {
        wall_times.insert(name.to_string(), started.elapsed().as_secs_f64());
    };

    let started = Instant::now();
    let inputs = input_digests(plan)?;
    timed("digests", started);

    let mut comparison = None;
    let mut ordering = None;
    if let Some(compare) = &plan.compare {
        progress.step("compare");
        let started = Instant::now();
        let (o, u, r) = (&compare.original, &compare.unlearned, &compare.retrained);
        let output_kind = compare.output_kind;
        let mut options = CompareOptions::new(&o.path, &u.path, &r.path);
        options.labels = compare.labels.as_ref().map(|l| l.path.clone());
        options.output_kind = output_kind;
        // d(r, r′), the noise floor, is computed by the same library call.
        options.retrained_again = compare.retrained_again.as_ref().map(|a| a.path.clone());
        if compare.retrained_again.is_some() {
            progress.step("compare retrained_again");
        }
        let result = compare_bundles(&options).map_err(|e| analysis_error("compare", e))?;
        timed("compare", started);
        ordering = Some(sanity_ordering(&result));
        comparison = Some(result);
    }

    let mut mia = None;
    if let Some(mia_plan) = &plan.mia {
        progress.step("mia");
        let started = Instant::now();
        let spec = &mia_plan.spec;
        let (u, r, l) = (&mia_plan.unlearned, &mia_plan.retrained, &mia_plan.labels);
        let request = crate::mia::analysis::PopulationRequest {
            model: &u.path,
            labels: &l.path,
            members: &spec.members,
            nonmembers: &spec.nonmembers,
            evaluate: None,
            reference: Some(&r.path),
            // The positive control whenever the evidence has an original.
            original: mia_plan.original.as_ref().map(|o| o.path.as_path()),
            output_kind: mia_plan.output_kind,
            config: PopulationConfig {
                roc: RocConfig {
                    fprs: spec.fprs.clone(),
                    confidence: *spec.confidence.get_ref(),
                    convention: FprConvention::AtMost,
                    bootstrap_replicates: spec.bootstrap,
                    seed: file.plan.seed,
                    curve: true,
                },
                seed: file.plan.seed,
                fit_fraction: spec.fit_fraction,
            },
            margin: spec.margin,
            compatibility: false,
        };
        let result =
            crate::mia::analysis::population_mia(&request).map_err(|e| analysis_error("mia", e))?;
        let unlearned_attacks = &result.unlearned.attacks;
        let retrained_run = result
            .retrained
            .as_ref()
            .ok_or_else(|| PlanError::Analysis {
                analysis: "mia",
                message: "the retrained model was not analysed".into(),
            })?;
        let retrained_attacks = &retrained_run.attacks;
        let original_attacks = result.original.as_ref().map(|o| &o.attacks);
        let (gaps, outcome) = (result.gaps.clone(), result.outcome.clone());
        let plotted_attack = gaps
            .iter()
            .max_by(|a, b| a.auc_gap.abs().total_cmp(&b.auc_gap.abs()))
            .map(|g| g.attack.clone())
            .unwrap_or_default();
        // Keep the curve of the drawn attack only: the others would make the JSON large.
        let keep_curve = |name: &str, summary: &crate::mia::RocSummary| {
            let mut summary = summary.clone();
            if name != plotted_attack {
                summary.curve = None;
            }
            summary
        };
        mia = Some(MiaFinding {
            members: spec.members.clone(),
            nonmembers: spec.nonmembers.clone(),
            family_confidence: *spec.confidence.get_ref(),
            attacks: unlearned_attacks
                .iter()
                .zip(retrained_attacks)
                .enumerate()
                .map(|(i, (u, r))| MiaPair {
                    attack: u.name.clone(),
                    description: u.description.to_string(),
                    unlearned: keep_curve(&u.name, &u.summary),
                    retrained: keep_curve(&r.name, &r.summary),
                    original: original_attacks.map(|o| keep_curve(&o[i].name, &o[i].summary)),
                })
                .collect(),
            gaps,
            plotted_attack,
            score_histogram: histogram(
                &spec.members,
                &result.unlearned.member_log10_losses,
                &retrained_run.member_log10_losses,
                24,
            ),
            margin: spec.margin,
            positive_control: mia_plan.original.as_ref().map(|o| o.written.clone()),
            outcome,
        });
        timed("mia", started);
    }

    let mut certificate = None;
    if let Some(spec) = &plan.certify {
        progress.step("certify");
        let started = Instant::now();
        let delta = spec.claim.delta();
        let target = GaussianTarget::Sigma(spec.sigma);
        let result: Result<Certificate, _> = match spec.mechanism {
            CertifiedMechanismPlan::Gaussian { sensitivity } => gaussian_certificate(
                "gaussian",
                sensitivity,
                target,
                delta,
                spec.calibration,
                "docs/certificates.md §1",
            )
            .map(|c| c.parameter("sensitivity", sensitivity)),
            CertifiedMechanismPlan::OutputPerturbation { clip_radius } => {
                OutputPerturbationParams { clip_radius, delta }
                    .check()
                    .and_then(|p| p.certificate(target, spec.calibration))
            }
        };
        certificate = Some(result.map_err(|e| analysis_error("certify", e))?);
        timed("certify", started);
    }

    let mut mechanism_run = None;
    let mut epsilon = None;
    let mut sample_histogram = None;
    if let Some(epsilon_plan) = &plan.epsilon {
        let spec = &epsilon_plan.spec;
        let (unlearned_set, retrained_set) = match &epsilon_plan.evidence {
            EpsilonEvidence::Mechanism(mechanism) => {
                progress.step(&format!("sample {}", mechanism.name));
                let started = Instant::now();
                let (run, sets) = sample_mechanism(plan, mechanism, progress)?;
                mechanism_run = Some(run);
                timed("sample", started);
                sets
            }
            EpsilonEvidence::Samples {
                unlearned,
                retrained,
            } => {
                let load = |path: &super::EvidencePath| {
                    crate::io::load_sample_set(&path.path).map_err(|e| analysis_error("epsilon", e))
                };
                (load(unlearned)?, load(retrained)?)
            }
        };
        progress.step("epsilon");
        let started = Instant::now();
        let options = crate::audit::AuditOptions {
            confidence: *spec.confidence.get_ref(),
            per_example: spec.per_example,
            seed: file.plan.seed,
            ..Default::default()
        };
        let audit = crate::audit::audit_epsilon(
            &unlearned_set,
            &retrained_set,
            &epsilon_plan.claim,
            &options,
        )
        .map_err(|e| analysis_error("epsilon", e))?;
        let run_means = |set: &crate::io::SampleSet| -> Vec<f64> {
            set.values
                .rows()
                .into_iter()
                .map(|row| row.iter().sum::<f64>() / row.len() as f64)
                .collect()
        };
        let mut hist = histogram(
            "runs",
            &run_means(&unlearned_set),
            &run_means(&retrained_set),
            24,
        );
        hist.score = match &epsilon_plan.evidence {
            EpsilonEvidence::Mechanism(m) => format!("run_mean_{}", record_name(m.record)),
            EpsilonEvidence::Samples { .. } => "run_mean".into(),
        };
        sample_histogram = Some(hist);
        epsilon = Some(audit);
        timed("epsilon", started);
    }

    let mut ulira = None;
    if let Some(ulira_plan) = &plan.ulira {
        progress.step("ulira");
        let started = Instant::now();
        let spec = &ulira_plan.spec;
        let mechanism = &ulira_plan.mechanism;
        let data = load_dataset(mechanism)?;
        ulira = Some(super::ulira::run_ulira(
            &data,
            &super::ulira::UliraSettings {
                name: &mechanism.name,
                options: &mechanism.options,
                shadow_models: spec.shadow_models,
                forget_share: spec.forget_share,
                confidence: *spec.confidence.get_ref(),
                fprs: spec.fprs.clone(),
                seed: file.plan.seed,
                margin: spec.margin,
            },
        )?);
        timed("ulira", started);
    }

    let mut llm_mia = None;
    if let Some(llm_plan) = &plan.llm_mia {
        progress.step("llm_mia");
        let started = Instant::now();
        llm_mia = Some(super::llm::run_llm_mia(llm_plan, file.plan.seed)?);
        timed("llm_mia", started);
    }
    let mut forget_quality = None;
    if let Some(fq_plan) = &plan.forget_quality {
        progress.step("forget_quality");
        let started = Instant::now();
        forget_quality = Some(super::llm::run_forget_quality(fq_plan, file.plan.seed)?);
        timed("forget_quality", started);
    }

    progress.step("rules");
    let findings = Findings {
        comparison: comparison.as_ref(),
        ordering: ordering.as_ref(),
        mia: mia.as_ref(),
        ulira: ulira.as_ref(),
        llm_mia: llm_mia.as_ref(),
        forget_quality: forget_quality.as_ref(),
        certificate: certificate.as_ref(),
        epsilon: epsilon.as_ref(),
        mechanism: mechanism_run.as_ref(),
    };
    let rules: Vec<RuleResult> = plan
        .rules
        .iter()
        .map(|rule| evaluate(rule, plan, &findings))
        .collect();
    let verdict = if rules.is_empty() {
        Outcome::Inconclusive {
            reason: "the plan has no [[rule]]: nothing decides pass or fail".into(),
        }
    } else {
        Outcome::combine(rules.iter().map(|r| &r.outcome))
    };
    progress.finish();
    Ok(AuditReport {
        schema: "unlearn-audit/report/1",
        plan: PlanSummary {
            name: file.plan.name.clone(),
            description: file.plan.description.clone(),
            file: plan.path.display().to_string(),
            sha256: plan.sha256.clone(),
            seed: file.plan.seed,
        },
        claim: plan.claim.as_ref().and_then(|c| {
            Some(ClaimSummary {
                epsilon: c.epsilon()?,
                delta: c.delta(),
                space: c.space()?,
            })
        }),
        verdict,
        rules,
        compare: comparison,
        sanity_ordering: ordering,
        mia,
        ulira,
        llm_mia,
        forget_quality,
        certificate,
        mechanism: mechanism_run,
        epsilon,
        sample_histogram,
        provenance: ReportProvenance {
            tool: env!("CARGO_PKG_NAME"),
            version: env!("CARGO_PKG_VERSION"),
            inputs,
            seed: file.plan.seed,
            parameters: file.clone(),
        },
        wall_times_seconds: wall_times,
    })
}

/// SHA-256 of every evidence file, named as the plan names it (relative to the plan).
fn input_digests(plan: &Plan) -> Result<Vec<InputDigest>, PlanError> {
    let evidence = &plan.file.evidence;
    let mut files = Vec::new();
    for bundle in [
        &evidence.original,
        &evidence.unlearned,
        &evidence.retrained,
        &evidence.retrained_again,
    ]
    .into_iter()
    .flatten()
    {
        for name in [WEIGHTS_FILE, OUTPUTS_FILE, ACTIVATIONS_FILE] {
            let relative = format!("{}/{name}", bundle.get_ref().trim_end_matches('/'));
            if plan.resolve(&relative).is_file() {
                files.push(relative);
            }
        }
    }
    // LLM bundles of [llm_mia] / [forget_quality].
    let mut llm_dirs: Vec<&super::typed::EvidencePath> = Vec::new();
    if let Some(l) = &plan.llm_mia {
        llm_dirs.extend([&l.unlearned, &l.retrained]);
        llm_dirs.extend(l.original.as_ref());
    }
    if let Some(f) = &plan.forget_quality {
        llm_dirs.extend(f.unlearned.iter().chain(&f.retrained));
    }
    for bundle in llm_dirs {
        for name in [
            crate::io::llm::TOKEN_LOGPROBS,
            crate::io::llm::TOKEN_MASK,
            crate::io::llm::TOKEN_VOCAB_STATS,
            crate::io::llm::TEXT_ZLIB,
            crate::io::llm::ANSWER_LOSSES,
        ] {
            let relative = format!("{}/{name}", bundle.written.trim_end_matches('/'));
            if plan.resolve(&relative).is_file() && !files.contains(&relative) {
                files.push(relative);
            }
        }
    }
    let data = evidence.mechanism.as_ref().map(|m| m.data.clone());
    for single in [
        &evidence.labels,
        &evidence.unlearned_samples,
        &evidence.retrained_samples,
        &data,
    ]
    .into_iter()
    .flatten()
    {
        if plan.resolve(single.get_ref()).is_file() {
            files.push(single.get_ref().clone());
        }
    }
    files
        .into_iter()
        .map(|path| {
            let sha256 = sha256_file(&plan.resolve(&path)).map_err(|e| PlanError::Analysis {
                analysis: "evidence",
                message: format!("{path}: {e}"),
            })?;
            Ok(InputDigest { path, sha256 })
        })
        .collect()
}

/// Shared-bin histogram of two score lists (non-finite scores are excluded upstream).
pub(crate) fn histogram(
    split: &str,
    unlearned: &[f64],
    retrained: &[f64],
    bins: usize,
) -> ScoreHistogram {
    let all = unlearned.iter().chain(retrained).copied();
    let (mut low, mut high) = all.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !(low.is_finite() && high.is_finite()) {
        (low, high) = (0.0, 1.0);
    }
    if high <= low {
        high = low + 1.0;
    }
    let width = (high - low) / bins as f64;
    let bin_edges: Vec<f64> = (0..=bins).map(|i| low + width * i as f64).collect();
    let count = |values: &[f64]| {
        let mut counts = vec![0u64; bins];
        for &v in values {
            let index = (((v - low) / width) as usize).min(bins - 1);
            counts[index] += 1;
        }
        counts
    };
    ScoreHistogram {
        score: "log10_loss".into(),
        split: split.to_string(),
        bin_edges,
        unlearned: count(unlearned),
        retrained: count(retrained),
    }
}

fn sanity_ordering(comparison: &CompareFinding) -> SanityOrdering {
    SanityOrdering {
        rows: comparison
            .ordering
            .iter()
            .filter(|r| r.distance == "verification_error" || r.distance.starts_with("js."))
            .cloned()
            .collect(),
        noise_floor_reason: comparison.noise_floor_reason.clone(),
    }
}

/// The value of a metric, or why it is undefined.
fn metric_value(
    metric: &Metric,
    comparison: Option<&CompareFinding>,
    mia: Option<&MiaFinding>,
    certificate: Option<&Certificate>,
    epsilon: Option<&EpsilonAudit>,
) -> Result<f64, String> {
    let split_metrics = |split: &str| {
        let comparison = comparison.ok_or("[compare] did not run")?;
        comparison.outputs.get(split).ok_or_else(|| {
            format!(
                "no split `{split}` in the outputs ({})",
                comparison.outputs_reason.clone().unwrap_or_else(|| format!(
                    "splits: {:?}",
                    comparison.outputs.keys().collect::<Vec<_>>()
                ))
            )
        })
    };
    let defined = |value: Option<f64>, reason: Option<&String>, what: &str| {
        value.ok_or_else(|| {
            reason
                .cloned()
                .unwrap_or_else(|| format!("{what} is undefined"))
        })
    };
    match metric {
        Metric::VerificationError | Metric::VerificationErrorRelative => {
            let comparison = comparison.ok_or("[compare] did not run")?;
            let weights = comparison.weights.as_ref().ok_or_else(|| {
                comparison
                    .weights_reason
                    .clone()
                    .unwrap_or_else(|| "no weights in the bundles".into())
            })?;
            if *metric == Metric::VerificationError {
                Ok(weights.verification_error)
            } else {
                defined(
                    weights.verification_error_relative,
                    weights.relative_reason.as_ref(),
                    "verification_error_relative",
                )
            }
        }
        Metric::Kl(split) => {
            let m = split_metrics(split)?;
            defined(
                m.kl_retrained_unlearned,
                m.kl_retrained_unlearned_reason.as_ref(),
                "KL(P_r‖P_u)",
            )
        }
        Metric::Js(split) => {
            let m = split_metrics(split)?;
            defined(m.js, m.reason.as_ref(), "JS")
        }
        Metric::ActivationDistance(split) => {
            let m = split_metrics(split)?;
            defined(
                m.activation_distance,
                m.reason.as_ref(),
                "activation distance",
            )
        }
        Metric::AccuracyGap(split) => {
            let m = split_metrics(split)?;
            match (m.accuracy.unlearned, m.accuracy.retrained) {
                (Some(u), Some(r)) => Ok((u - r).abs()),
                _ => Err(m
                    .accuracy
                    .reason
                    .clone()
                    .unwrap_or_else(|| "accuracy needs evidence.labels".into())),
            }
        }
        // Read from the [forget_quality] finding in `evaluate`.
        Metric::ForgetQuality => Err("[forget_quality] did not run".into()),
        Metric::FractionMoved(inner) => {
            let comparison = comparison.ok_or("[compare] did not run")?;
            let d_u = metric_value(inner, Some(comparison), None, None, None)?;
            let sides = distance_sides(inner, comparison)
                .ok_or_else(|| format!("{} is not a distance", inner.name()))?;
            crate::metrics::compare::fraction_moved(Some(d_u), sides.raw[1])
        }
        Metric::MiaMaxAucGap => {
            let mia = mia.ok_or("[mia] did not run")?;
            mia.gaps
                .iter()
                .map(|g| g.auc_gap.abs())
                .reduce(f64::max)
                .ok_or_else(|| "no attack ran".to_string())
        }
        Metric::EpsilonLowerBound => {
            let epsilon = epsilon.ok_or("[epsilon] did not run")?;
            if epsilon.epsilon_lower_bound.is_finite() {
                Ok(epsilon.epsilon_lower_bound)
            } else {
                Err(format!(
                    "the ε lower bound is {}",
                    epsilon.epsilon_lower_bound
                ))
            }
        }
        Metric::CertificateEpsilon => {
            let certificate = certificate.ok_or("[certify] did not run")?;
            match certificate.epsilon {
                Some(epsilon) if epsilon.is_finite() => Ok(epsilon),
                other => Err(format!(
                    "the certificate's ε is {}",
                    other.map_or("undefined".to_string(), |e| e.to_string())
                )),
            }
        }
    }
}

/// What the analyses produced, for the rules.
struct Findings<'a> {
    comparison: Option<&'a CompareFinding>,
    ordering: Option<&'a SanityOrdering>,
    mia: Option<&'a MiaFinding>,
    ulira: Option<&'a MiaFinding>,
    llm_mia: Option<&'a super::llm::LlmMiaFinding>,
    forget_quality: Option<&'a super::llm::ForgetQualityFinding>,
    certificate: Option<&'a Certificate>,
    epsilon: Option<&'a EpsilonAudit>,
    mechanism: Option<&'a MechanismRun>,
}

fn evaluate(rule: &Rule, plan: &Plan, f: &Findings) -> RuleResult {
    let description = rule.describe();
    match rule {
        Rule::Threshold { metric, bound } => {
            let computed = match metric {
                Metric::ForgetQuality => match f.forget_quality {
                    None => Err("[forget_quality] did not run".to_string()),
                    Some(fq) => fq
                        .finding
                        .forget_quality
                        .ok_or_else(|| fq.finding.ks.reason.clone().unwrap_or_default()),
                },
                _ => metric_value(metric, f.comparison, f.mia, f.certificate, f.epsilon),
            };
            let (value, value_reason, outcome) = match computed {
                Err(reason) => (
                    None,
                    Some(reason.clone()),
                    Outcome::Inconclusive {
                        reason: format!("{}: cannot be computed: {reason}", metric.name()),
                    },
                ),
                Ok(value) => {
                    let holds = match bound {
                        Bound::AtMost(x) => value <= *x,
                        Bound::AtLeast(x) => value >= *x,
                    };
                    let outcome = if holds {
                        Outcome::Pass
                    } else {
                        Outcome::Fail {
                            reason: format!("{} = {value} violates {description}", metric.name()),
                        }
                    };
                    // Distance rules are judged against the original and the noise floor.
                    let outcome = match f.comparison {
                        Some(c) => distance_rule_outcome(metric, *bound, c, outcome),
                        None => outcome,
                    };
                    (Some(value), None, outcome)
                }
            };
            RuleResult {
                rule: description,
                metric: Some(metric.name()),
                check: None,
                value,
                value_reason,
                threshold: Some(*bound),
                outcome,
            }
        }
        Rule::Check(check) => {
            let (value, outcome) = evaluate_check(*check, plan, f);
            RuleResult {
                rule: description,
                metric: None,
                check: Some(check.name().to_string()),
                value,
                value_reason: None,
                threshold: None,
                outcome,
            }
        }
    }
}

fn evaluate_check(check: Check, plan: &Plan, f: &Findings) -> (Option<f64>, Outcome) {
    let (ordering, mia, certificate, epsilon, mechanism) =
        (f.ordering, f.mia, f.certificate, f.epsilon, f.mechanism);
    let inconclusive = |reason: String| (None, Outcome::Inconclusive { reason });
    match check {
        Check::LlmMiaIndistinguishable => match f.llm_mia {
            Some(llm) => (
                llm.mia
                    .gaps
                    .iter()
                    .map(|g| g.auc_gap.abs())
                    .reduce(f64::max),
                llm.mia.outcome.clone(),
            ),
            None => inconclusive("[llm_mia] did not run".into()),
        },
        Check::MiaIndistinguishable => match mia {
            Some(mia) => (None, mia.outcome.clone()),
            None => inconclusive("[mia] did not run".into()),
        },
        Check::UliraIndistinguishable => match f.ulira {
            Some(ulira) => (ulira.gaps.first().map(|g| g.auc_gap), ulira.outcome.clone()),
            None => inconclusive("[ulira] did not run".into()),
        },
        Check::ClaimNotViolated => match epsilon {
            Some(audit) => {
                let value = Some(audit.epsilon_lower_bound).filter(|v| v.is_finite());
                match audit.outcome() {
                    // A bound with no verdict cannot pass a rule.
                    Outcome::Info => inconclusive("the ε audit gave no verdict".into()),
                    outcome => (value, outcome),
                }
            }
            None => inconclusive("[epsilon] did not run".into()),
        },
        Check::CertificateCoversClaim => {
            let Some(claim) = plan.claim.as_ref() else {
                return inconclusive("needs a [claim]".into());
            };
            // The [certify] certificate when there is one, else the mechanism's own; its status
            // decides first (`Certificate::covers`, docs/verdicts.md §Certificates and claims).
            let certificate = match (certificate, mechanism) {
                (Some(c), _) => c,
                (None, Some(m)) => &m.certificate,
                (None, None) => return inconclusive("no certificate was computed".into()),
            };
            let value = certificate.epsilon.filter(|e| e.is_finite());
            let outcome = match (certificate.covers(claim), mechanism) {
                (Outcome::Inconclusive { reason }, Some(m))
                    if std::ptr::eq(certificate, &m.certificate) =>
                {
                    Outcome::Inconclusive {
                        reason: format!("mechanism `{}`: {reason}", m.name),
                    }
                }
                (Outcome::Fail { reason }, Some(m))
                    if std::ptr::eq(certificate, &m.certificate) =>
                {
                    Outcome::Fail {
                        reason: format!("mechanism `{}`: {reason}", m.name),
                    }
                }
                (outcome, _) => outcome,
            };
            (value, outcome)
        }
        Check::UnlearnedCloserThanOriginal => {
            let Some(row) = ordering.and_then(|o| {
                o.rows
                    .iter()
                    .find(|r| r.distance == "verification_error")
                    .or_else(|| o.rows.iter().find(|r| r.distance == "js.forget"))
            }) else {
                return inconclusive(
                    "neither weights nor a `forget` output split to order the distances".into(),
                );
            };
            let value = row.unlearned_to_retrained;
            let text = |v: Option<f64>| v.map_or("undefined".to_string(), |v| format!("{v}"));
            let (u, o, again) = (
                text(row.unlearned_to_retrained),
                text(row.original_to_retrained),
                text(row.retrained_again_to_retrained),
            );
            let d = &row.distance;
            match row.movement {
                Movement::Closer => (value, Outcome::Pass),
                Movement::Farther => (
                    value,
                    Outcome::Fail {
                        reason: format!(
                            "{d}: d(u, r) = {u} exceeds d(o, r) = {o} by more than the noise \
                             floor d(r, r′) = {again}: unlearning moved the model away from \
                             retraining"
                        ),
                    },
                ),
                Movement::WithinNoiseFloor => (
                    value,
                    Outcome::Inconclusive {
                        reason: format!(
                            "{d}: d(u, r) = {u} and d(o, r) = {o} differ by less than the noise \
                             floor d(r, r′) = {again}: two retrainings differ as much, so the \
                             distances cannot tell whether unlearning moved the model"
                        ),
                    },
                ),
                Movement::NoNoiseEstimate => (
                    value,
                    Outcome::Inconclusive {
                        reason: format!(
                            "{d}: d(u, r) = {u}, d(o, r) = {o}, but {}",
                            crate::metrics::compare::NO_NOISE_FLOOR
                        ),
                    },
                ),
                Movement::Undefined => inconclusive(format!("{d}: a distance is undefined")),
            }
        }
    }
}

/// The three sides of a distance metric: the unlearned model's value, the original model's
/// value (what doing nothing scores) and the noise floor's value (a second retraining), plus
/// the movement of the underlying distance. `None` for metrics that are not distances.
struct DistanceSides {
    original: Option<f64>,
    floor: Option<f64>,
    movement: Movement,
    /// d(u, r), d(o, r), d(r, r′) of the underlying distance, for the reasons.
    raw: [Option<f64>; 3],
}

fn distance_sides(metric: &Metric, c: &CompareFinding) -> Option<DistanceSides> {
    let floor = c.noise_floor.as_ref();
    let raw: [Option<f64>; 3] = match metric {
        Metric::VerificationError | Metric::VerificationErrorRelative => {
            let w = c.weights.as_ref()?;
            let fw = floor.and_then(|f| f.weights.as_ref());
            if *metric == Metric::VerificationError {
                [
                    Some(w.verification_error),
                    Some(w.original_to_retrained),
                    fw.map(|f| f.verification_error),
                ]
            } else {
                [
                    w.verification_error_relative,
                    w.original_to_retrained_relative,
                    fw.and_then(|f| f.verification_error_relative),
                ]
            }
        }
        Metric::Kl(split) | Metric::Js(split) | Metric::ActivationDistance(split) => {
            let m = c.outputs.get(split)?;
            let o = &m.original_vs_retrained;
            let f = floor.and_then(|f| f.outputs.get(split));
            match metric {
                Metric::Kl(_) => [
                    m.kl_retrained_unlearned,
                    o.kl_retrained_original,
                    f.and_then(|f| f.kl_retrained_unlearned),
                ],
                Metric::Js(_) => [m.js, o.js, f.and_then(|f| f.js)],
                _ => [
                    m.activation_distance,
                    o.activation_distance,
                    f.and_then(|f| f.activation_distance),
                ],
            }
        }
        Metric::AccuracyGap(split) => {
            let m = c.outputs.get(split)?;
            let a = &m.accuracy;
            let gap = |x: Option<f64>| x.zip(a.retrained).map(|(x, r)| (x - r).abs());
            [
                gap(a.unlearned),
                gap(a.original),
                floor
                    .and_then(|f| f.outputs.get(split))
                    .and_then(|f| f.accuracy_gap),
            ]
        }
        Metric::FractionMoved(inner) => {
            let sides = distance_sides(inner, c)?;
            let [u, o, f] = sides.raw;
            let fraction = |d: Option<f64>| crate::metrics::compare::fraction_moved(d, o).ok();
            return Some(DistanceSides {
                // doing nothing moves by 0; a second retraining by 1 − d(r, r′)/d(o, r)
                original: Some(0.0),
                floor: fraction(f),
                movement: Movement::judge(u, o, f),
                raw: [u, o, f],
            });
        }
        _ => return None,
    };
    Some(DistanceSides {
        original: raw[1],
        floor: raw[2],
        movement: Movement::judge(raw[0], raw[1], raw[2]),
        raw,
    })
}

/// Judges a threshold rule on a distance metric against its controls
/// (`docs/verdicts.md` §Distances and the noise floor):
/// * a pass stands only if the original model fails the same bound (otherwise doing nothing
///   would pass) **and** the underlying distance moved toward retraining by more than the noise
///   floor (d(o, r) − d(u, r) > d(r, r′)); without a noise floor it is inconclusive;
/// * a fail stands unless the noise floor itself fails the bound (a second retraining would
///   fail it too: the threshold is below the noise), which is inconclusive.
///
/// So a model that unlearned nothing (u = o) can never pass a distance rule.
fn distance_rule_outcome(
    metric: &Metric,
    bound: Bound,
    comparison: &CompareFinding,
    outcome: Outcome,
) -> Outcome {
    let Some(sides) = distance_sides(metric, comparison) else {
        return outcome;
    };
    let holds = |v: f64| match bound {
        Bound::AtMost(x) => v <= x,
        Bound::AtLeast(x) => v >= x,
    };
    let name = metric.name();
    let text = |v: Option<f64>| v.map_or("undefined".to_string(), |v| format!("{v}"));
    let [u, o, f] = sides.raw;
    match outcome {
        Outcome::Fail { reason } => match sides.floor {
            Some(floor) if !holds(floor) => Outcome::Inconclusive {
                reason: format!(
                    "{reason}, but the noise floor (a second retraining) scores {floor} and \
                     fails the same bound: the threshold is below the noise between two \
                     retrainings"
                ),
            },
            Some(floor) => Outcome::Fail {
                reason: format!(
                    "{reason}, whereas a second retraining (the noise floor) scores {floor} and \
                     meets it"
                ),
            },
            None => Outcome::Fail { reason },
        },
        Outcome::Pass => {
            if sides.original.is_none_or(holds) {
                return Outcome::Inconclusive {
                    reason: format!(
                        "{name}: the original model, which unlearned nothing, scores {} and \
                         satisfies the same bound: the rule cannot tell unlearning from doing \
                         nothing",
                        text(sides.original)
                    ),
                };
            }
            match sides.movement {
                Movement::Closer => Outcome::Pass,
                Movement::NoNoiseEstimate => Outcome::Inconclusive {
                    reason: format!("{name}: {}", crate::metrics::compare::NO_NOISE_FLOOR),
                },
                _ => Outcome::Inconclusive {
                    reason: format!(
                        "{name}: d(u, r) = {} and d(o, r) = {} differ by no more than the noise \
                         floor d(r, r′) = {}: the improvement is within the noise between two \
                         retrainings",
                        text(u),
                        text(o),
                        text(f)
                    ),
                },
            }
        }
        other => other,
    }
}

/// Forwards the trial runner's progress as a count of finished runs.
struct RunCounter<'a> {
    progress: &'a dyn PlanProgress,
    done: std::sync::atomic::AtomicUsize,
    total: std::sync::atomic::AtomicUsize,
}

impl crate::sampling::Observer for RunCounter<'_> {
    fn on_start(&self, total_runs: usize) {
        use std::sync::atomic::Ordering;
        self.total.store(total_runs, Ordering::Relaxed);
    }
    fn on_run_finished(&self, _run: usize, _side: crate::sampling::Side) {
        use std::sync::atomic::Ordering;
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        self.progress.runs(done, self.total.load(Ordering::Relaxed));
    }
}

/// Runs the plan's mechanism `trials` times per side through the sampling pipeline
/// (`sampling::pipeline::sample_in_process`, seed `plan.seed`), the same path as
/// `unlearn-audit sample`.
fn sample_mechanism(
    plan: &Plan,
    spec: &MechanismPlan,
    progress: &dyn PlanProgress,
) -> Result<(MechanismRun, (crate::io::SampleSet, crate::io::SampleSet)), PlanError> {
    use crate::sampling::pipeline::{SampleRequest, sample_in_process};
    let seed = plan.file.plan.seed;
    let request = SampleRequest {
        mechanism: spec.name.clone(),
        data: spec.data.path.clone(),
        label_column: spec.label_column.clone(),
        forget: spec.forget.clone(),
        trials: spec.trials,
        seed,
        record: spec.record,
        options: spec.options.clone(),
        // A plan's runs live only in its report; nothing is checkpointed.
        checkpoint: None,
    };
    let counter = RunCounter {
        progress,
        done: Default::default(),
        total: Default::default(),
    };
    let runs = sample_in_process(&request, &counter)
        .map_err(|e| analysis_error("evidence.mechanism", e))?;
    let source = |side: &str| std::path::PathBuf::from(format!("{}:{side}", spec.name));
    let run = MechanismRun {
        name: spec.name.clone(),
        parameters: runs.parameters,
        certificate: runs.certificate,
        trials: spec.trials,
        record: spec.record,
        record_dimension: runs.unlearned.ncols(),
        forget_indices: runs.forget_indices,
        seed,
    };
    Ok((
        run,
        (
            crate::io::SampleSet {
                source: source("unlearned"),
                values: runs.unlearned,
            },
            crate::io::SampleSet {
                source: source("retrained"),
                values: runs.retrained,
            },
        ),
    ))
}

/// The labelled CSV of `[evidence.mechanism]`.
fn load_dataset(spec: &MechanismPlan) -> Result<crate::models::Dataset, PlanError> {
    crate::sampling::pipeline::load_dataset(&spec.data.path, &spec.label_column)
        .map_err(|e| analysis_error("evidence.mechanism", e))
}
