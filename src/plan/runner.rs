//! Runs a validated plan: each analysis through the library, then the rules, then the verdict.
//! Randomness comes only from the plan's seed (bootstrap and held-out splits in `mia`), and
//! every analysis merges its parallel work in a fixed order, so the report does not depend on
//! the thread count.

use std::collections::BTreeMap;
use std::time::Instant;

use super::report::{
    AuditReport, ClaimSummary, MechanismRun, MiaFinding, MiaPair, OrderingRow, PlanSummary,
    ReportProvenance, RuleResult, SanityOrdering, ScoreHistogram,
};
use super::rules::{Bound, Metric, Rule};
use super::schema::{CalibrationSpec, CertifiedMechanism, Check, OutputsAre};
use super::{Plan, PlanError};
use crate::audit::EpsilonAudit;
use crate::certify::Certificate;
use crate::certify::gaussian::{Calibration, GaussianTarget, gaussian_certificate};
use crate::certify::output_perturbation::OutputPerturbationParams;
use crate::io::{
    ACTIVATIONS_FILE, CompareOptions, Comparison, OUTPUTS_FILE, WEIGHTS_FILE, compare_bundles,
};
use crate::metrics::OutputKind;
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

/// Reports nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl PlanProgress for NoProgress {}

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
    let evidence = &file.evidence;
    let total = [
        file.ulira.is_some(),
        file.epsilon.is_some(),
        evidence.mechanism.is_some(),
        file.compare.is_some(),
        file.compare.is_some() && evidence.retrained_again.is_some(),
        file.mia.is_some(),
        file.certify.is_some(),
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
    let path_of = |value: &Option<toml::Spanned<String>>| {
        value
            .as_ref()
            .map(|v| (v.get_ref().clone(), plan.resolve(v.get_ref())))
    };
    let original = path_of(&evidence.original);
    let unlearned = path_of(&evidence.unlearned);
    let retrained = path_of(&evidence.retrained);
    let retrained_again = path_of(&evidence.retrained_again);
    let labels = path_of(&evidence.labels);
    let output_kind = match evidence.outputs_are {
        OutputsAre::Logits => OutputKind::Logits,
        OutputsAre::Probabilities => OutputKind::Probabilities,
    };

    let started = Instant::now();
    let inputs = input_digests(plan)?;
    timed("digests", started);

    let mut comparison = None;
    let mut ordering = None;
    if file.compare.is_some() {
        progress.step("compare");
        let started = Instant::now();
        let (o, u, r) = match (&original, &unlearned, &retrained) {
            (Some(o), Some(u), Some(r)) => (o, u, r),
            _ => unreachable!("validated: [compare] has its three bundles"),
        };
        let mut options = CompareOptions::new(&o.1, &u.1, &r.1);
        options.labels = labels.as_ref().map(|l| l.1.clone());
        options.output_kind = output_kind;
        let result = compare_bundles(&options).map_err(|e| analysis_error("compare", e))?;
        timed("compare", started);
        // d(r, r′): the same engine with r′ in the unlearned slot.
        let noise_floor = match &retrained_again {
            Some(again) => {
                progress.step("compare retrained_again");
                let started = Instant::now();
                let mut options = CompareOptions::new(&o.1, &again.1, &r.1);
                options.output_kind = output_kind;
                let floor = compare_bundles(&options).map_err(|e| analysis_error("compare", e))?;
                timed("compare_retrained_again", started);
                Some(floor)
            }
            None => None,
        };
        ordering = Some(sanity_ordering(&result, noise_floor.as_ref()));
        comparison = Some(result);
    }

    let mut mia = None;
    if let Some(spec) = &file.mia {
        progress.step("mia");
        let started = Instant::now();
        let (u, r, l) = match (&unlearned, &retrained, &labels) {
            (Some(u), Some(r), Some(l)) => (u, r, l),
            _ => unreachable!("validated: [mia] has unlearned, retrained and labels"),
        };
        let request = crate::mia::analysis::PopulationRequest {
            model: &u.1,
            labels: &l.1,
            members: &spec.members,
            nonmembers: &spec.nonmembers,
            evaluate: None,
            reference: Some(&r.1),
            // The positive control whenever the evidence has an original.
            original: original.as_ref().map(|o| o.1.as_path()),
            output_kind,
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
            positive_control: original.as_ref().map(|o| o.0.clone()),
            outcome,
        });
        timed("mia", started);
    }

    let mut certificate = None;
    if let Some(spec) = &file.certify {
        progress.step("certify");
        let started = Instant::now();
        let claim = file
            .claim
            .as_ref()
            .expect("validated: [certify] needs [claim]");
        let delta = *claim.delta.get_ref();
        let calibration = match spec.calibration {
            CalibrationSpec::Analytic => Calibration::Analytic,
            CalibrationSpec::Classical => Calibration::Classical,
            CalibrationSpec::Zcdp => Calibration::Zcdp,
        };
        let target = GaussianTarget::Sigma(*spec.sigma.get_ref());
        let value = |v: &Option<toml::Spanned<f64>>| v.as_ref().map(|v| *v.get_ref());
        let result: Result<Certificate, _> = match spec.mechanism {
            CertifiedMechanism::Gaussian => {
                let sensitivity = value(&spec.sensitivity).expect("validated");
                gaussian_certificate(
                    "gaussian",
                    sensitivity,
                    target,
                    delta,
                    calibration,
                    "docs/certificates.md §1",
                )
                .map(|c| c.parameter("sensitivity", sensitivity))
            }
            CertifiedMechanism::OutputPerturbation => OutputPerturbationParams {
                clip_radius: value(&spec.clip_radius).expect("validated"),
                delta,
            }
            .check()
            .and_then(|p| p.certificate(target, calibration)),
        };
        certificate = Some(result.map_err(|e| analysis_error("certify", e))?);
        timed("certify", started);
    }

    let mut mechanism_run = None;
    let mut epsilon = None;
    let mut sample_histogram = None;
    if let Some(spec) = &file.epsilon {
        let claim = file
            .claim
            .as_ref()
            .expect("validated: [epsilon] needs [claim]");
        let (unlearned_set, retrained_set) = match &evidence.mechanism {
            Some(mechanism) => {
                progress.step(&format!("sample {}", mechanism.name.get_ref()));
                let started = Instant::now();
                let (run, sets) = sample_mechanism(plan, mechanism, progress)?;
                mechanism_run = Some(run);
                timed("sample", started);
                sets
            }
            None => {
                let load = |value: &Option<toml::Spanned<String>>| {
                    let value = value.as_ref().expect("validated: both sample sets");
                    crate::io::load_sample_set(&plan.resolve(value.get_ref()))
                        .map_err(|e| analysis_error("epsilon", e))
                };
                (
                    load(&evidence.unlearned_samples)?,
                    load(&evidence.retrained_samples)?,
                )
            }
        };
        progress.step("epsilon");
        let started = Instant::now();
        let audit_claim =
            crate::audit::Claim::new(Some(*claim.epsilon.get_ref()), *claim.delta.get_ref())
                .map_err(|e| analysis_error("epsilon", e))?;
        let options = crate::audit::AuditOptions {
            confidence: *spec.confidence.get_ref(),
            per_example: spec.per_example,
            seed: file.plan.seed,
            ..Default::default()
        };
        let audit =
            crate::audit::audit_epsilon(&unlearned_set, &retrained_set, &audit_claim, &options)
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
        hist.score = match &evidence.mechanism {
            Some(m) => format!("run_mean_{}", m.record.name()),
            None => "run_mean".into(),
        };
        sample_histogram = Some(hist);
        epsilon = Some(audit);
        timed("epsilon", started);
    }

    let mut ulira = None;
    if let Some(spec) = &file.ulira {
        progress.step("ulira");
        let started = Instant::now();
        let mechanism = evidence
            .mechanism
            .as_ref()
            .expect("validated: [ulira] needs [evidence.mechanism]");
        let data = load_dataset(plan, mechanism)?;
        let options = mechanism_options(mechanism);
        ulira = Some(super::ulira::run_ulira(
            &data,
            &super::ulira::UliraSettings {
                name: mechanism.name.get_ref(),
                options: &options,
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

    progress.step("rules");
    let findings = Findings {
        comparison: comparison.as_ref(),
        ordering: ordering.as_ref(),
        mia: mia.as_ref(),
        ulira: ulira.as_ref(),
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
        claim: file.claim.as_ref().map(|c| ClaimSummary {
            epsilon: *c.epsilon.get_ref(),
            delta: *c.delta.get_ref(),
            space: c.space,
        }),
        verdict,
        rules,
        compare: comparison,
        sanity_ordering: ordering,
        mia,
        ulira,
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
pub(super) fn histogram(
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

fn sanity_ordering(comparison: &Comparison, floor: Option<&Comparison>) -> SanityOrdering {
    let row = |distance: String, again: Option<f64>, u: Option<f64>, o: Option<f64>| OrderingRow {
        unlearned_closer_than_original: u.zip(o).map(|(u, o)| u <= o),
        within_noise_floor: u.zip(again).map(|(u, a)| u <= a),
        distance,
        retrained_again_to_retrained: again,
        unlearned_to_retrained: u,
        original_to_retrained: o,
    };
    let mut rows = Vec::new();
    if let Some(weights) = &comparison.weights {
        let again = floor
            .and_then(|f| f.weights.as_ref())
            .map(|w| w.verification_error);
        rows.push(row(
            "verification_error".into(),
            again,
            Some(weights.verification_error),
            Some(weights.original_to_retrained),
        ));
    }
    for (split, metrics) in &comparison.outputs {
        let again = floor.and_then(|f| f.outputs.get(split)).and_then(|m| m.js);
        rows.push(row(
            format!("js.{split}"),
            again,
            metrics.js,
            metrics.original_vs_retrained.js,
        ));
    }
    SanityOrdering { rows }
}

/// The value of a metric, or why it is undefined.
fn metric_value(
    metric: &Metric,
    comparison: Option<&Comparison>,
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
            if certificate.epsilon.is_finite() {
                Ok(certificate.epsilon)
            } else {
                Err(format!("the certificate's ε is {}", certificate.epsilon))
            }
        }
    }
}

/// What the analyses produced, for the rules.
struct Findings<'a> {
    comparison: Option<&'a Comparison>,
    ordering: Option<&'a SanityOrdering>,
    mia: Option<&'a MiaFinding>,
    ulira: Option<&'a MiaFinding>,
    certificate: Option<&'a Certificate>,
    epsilon: Option<&'a EpsilonAudit>,
    mechanism: Option<&'a MechanismRun>,
}

fn evaluate(rule: &Rule, plan: &Plan, f: &Findings) -> RuleResult {
    let description = rule.describe();
    match rule {
        Rule::Threshold { metric, bound } => {
            let (value, value_reason, outcome) =
                match metric_value(metric, f.comparison, f.mia, f.certificate, f.epsilon) {
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
                                reason: format!(
                                    "{} = {value} violates {description}",
                                    metric.name()
                                ),
                            }
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
            let Some(claim) = plan.file.claim.as_ref() else {
                return inconclusive("needs a [claim]".into());
            };
            // The [certify] certificate when there is one, else the mechanism's own.
            let (certified_epsilon, certified_delta) = match (certificate, mechanism) {
                (Some(c), _) => (c.epsilon, c.delta),
                (None, Some(m)) => match (m.certificate.epsilon, m.certificate.delta) {
                    (Some(e), Some(d)) => (e, d),
                    _ => {
                        return inconclusive(format!(
                            "mechanism `{}` has no certificate: {}",
                            m.name, m.certificate.reason
                        ));
                    }
                },
                (None, None) => return inconclusive("no certificate was computed".into()),
            };
            let (epsilon, delta) = (*claim.epsilon.get_ref(), *claim.delta.get_ref());
            if !certified_epsilon.is_finite() {
                return inconclusive(format!("the certificate's ε is {certified_epsilon}"));
            }
            let outcome = if certified_epsilon <= epsilon && certified_delta <= delta {
                Outcome::Pass
            } else {
                Outcome::Fail {
                    reason: format!(
                        "the certificate gives (ε, δ) = ({certified_epsilon}, {certified_delta}), \
                         weaker than the claim ({epsilon}, {delta})"
                    ),
                }
            };
            (Some(certified_epsilon), outcome)
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
            match row.unlearned_closer_than_original {
                Some(true) => (row.unlearned_to_retrained, Outcome::Pass),
                Some(false) => (
                    row.unlearned_to_retrained,
                    Outcome::Fail {
                        reason: format!(
                            "{}: d(u, r) = {} > d(o, r) = {}: unlearning did not move the model \
                             towards retraining",
                            row.distance,
                            row.unlearned_to_retrained.unwrap_or(f64::NAN),
                            row.original_to_retrained.unwrap_or(f64::NAN)
                        ),
                    },
                ),
                None => inconclusive(format!("{}: a distance is undefined", row.distance)),
            }
        }
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

/// Runs the plan's mechanism `trials` times per side (`sampling::run_trials`, seed
/// `plan.seed`), the same way `unlearn-audit sample` does.
fn sample_mechanism(
    plan: &Plan,
    spec: &super::schema::MechanismSpec,
    progress: &dyn PlanProgress,
) -> Result<(MechanismRun, (crate::io::SampleSet, crate::io::SampleSet)), PlanError> {
    use super::schema::RecordSpec;
    use crate::mechanisms::Split;
    use crate::sampling::{Record, run_trials};
    let seed = plan.file.plan.seed;
    let data = load_dataset(plan, spec)?;
    let forget = match (&spec.forget_count, &spec.forget) {
        (Some(count), _) => {
            let count = *count.get_ref();
            if count >= data.len() {
                return Err(PlanError::Analysis {
                    analysis: "evidence.mechanism",
                    message: format!(
                        "forget_count = {count}: the data has only {} rows",
                        data.len()
                    ),
                });
            }
            Split::choose_forget_indices(data.len(), count, seed)
        }
        (None, Some(indices)) => indices.clone(),
        (None, None) => unreachable!("validated: forget_count or forget"),
    };
    let split = Split::new(&data, &forget).map_err(|e| analysis_error("evidence.mechanism", e))?;
    let options = mechanism_options(spec);
    let mechanism = crate::mechanisms::build(spec.name.get_ref(), split, &options)
        .map_err(|e| analysis_error("evidence.mechanism", e))?;
    let record = match spec.record {
        RecordSpec::Weights => Record::Weights,
        RecordSpec::ForgetScores => Record::ForgetScores,
        RecordSpec::ForgetLosses => Record::ForgetLosses,
        RecordSpec::Statistic => Record::Statistic,
    };
    let counter = RunCounter {
        progress,
        done: Default::default(),
        total: Default::default(),
    };
    let trials = *spec.trials.get_ref();
    let samples = run_trials(mechanism.as_ref(), trials, seed, record, &counter)
        .map_err(|e| analysis_error("evidence.mechanism", e))?;
    let source = |side: &str| std::path::PathBuf::from(format!("{}:{side}", spec.name.get_ref()));
    let run = MechanismRun {
        name: spec.name.get_ref().clone(),
        parameters: mechanism.parameters(),
        certificate: mechanism.certificate(),
        trials,
        record: spec.record,
        record_dimension: samples.unlearned.ncols(),
        forget_indices: forget,
        seed,
    };
    Ok((
        run,
        (
            crate::io::SampleSet {
                source: source("unlearned"),
                values: samples.unlearned,
            },
            crate::io::SampleSet {
                source: source("retrained"),
                values: samples.retrained,
            },
        ),
    ))
}

/// The labelled CSV of `[evidence.mechanism]`.
fn load_dataset(
    plan: &Plan,
    spec: &super::schema::MechanismSpec,
) -> Result<crate::models::Dataset, PlanError> {
    let data_path = plan.resolve(spec.data.get_ref());
    let table = crate::io::read_labelled_csv(&data_path, &spec.label_column)
        .map_err(|e| analysis_error("evidence.mechanism", e))?;
    let num_classes = table.num_classes.max(2);
    crate::models::Dataset::new(table.features, table.labels, num_classes).map_err(|e| {
        PlanError::Analysis {
            analysis: "evidence.mechanism",
            message: format!("{}: {}", data_path.display(), error_chain(&e)),
        }
    })
}

fn mechanism_options(spec: &super::schema::MechanismSpec) -> crate::mechanisms::MechanismOptions {
    crate::mechanisms::MechanismOptions {
        model: spec
            .model
            .as_deref()
            .and_then(crate::mechanisms::ModelKind::parse),
        lambda: spec.lambda,
        sigma: spec.sigma,
        epsilon: spec.epsilon,
        delta: spec.delta,
        steps: spec.steps,
        learning_rate: spec.learning_rate,
        alpha: spec.alpha,
        model_clip: spec.model_clip,
        gradient_clip: spec.gradient_clip,
        projection_radius: spec.projection_radius,
        initial_sigma: spec.initial_sigma,
        approximation_error: spec.approximation_error,
        damping: spec.damping,
        lissa_scale: spec.lissa_scale,
        hidden: spec.hidden,
        lissa_steps: spec.lissa_steps,
        lissa_batch: spec.lissa_batch,
        rounds: spec.rounds,
    }
}
