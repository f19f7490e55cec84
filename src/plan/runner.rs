//! Runs a validated plan: each analysis through the library, then the rules, then the verdict.
//! Randomness comes only from the plan's seed (bootstrap and held-out splits in `mia`), and
//! every analysis merges its parallel work in a fixed order, so the report does not depend on
//! the thread count.

use std::collections::BTreeMap;
use std::time::Instant;

use super::report::{
    AuditReport, ClaimSummary, MechanismRun, MiaFinding, MiaPair, PlanSummary, ReportProvenance,
    SanityOrdering, ScoreHistogram,
};
use super::typed::{CertifiedMechanismPlan, EpsilonEvidence, MechanismPlan, record_name};
use super::{Plan, PlanError};
use crate::certify::Certificate;
use crate::certify::gaussian::{GaussianTarget, gaussian_certificate};
use crate::certify::output_perturbation::OutputPerturbationParams;
use crate::io::{ACTIVATIONS_FILE, OUTPUTS_FILE, WEIGHTS_FILE};
use crate::metrics::compare::{CompareFinding, CompareOptions, compare_bundles};
use crate::mia::PopulationConfig;
use crate::mia::roc::{FprConvention, RocConfig};
use crate::report::{InputDigest, sha256_file};

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
            set.values()
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
    let findings = crate::verdict::Findings {
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
    let (rules, verdict) = crate::verdict::evaluate_rules(plan, &findings);
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
            crate::io::SampleSet::new(source("unlearned"), runs.unlearned)
                .map_err(|e| analysis_error("evidence.mechanism", e))?,
            crate::io::SampleSet::new(source("retrained"), runs.retrained)
                .map_err(|e| analysis_error("evidence.mechanism", e))?,
        ),
    ))
}

/// The labelled CSV of `[evidence.mechanism]`.
fn load_dataset(spec: &MechanismPlan) -> Result<crate::models::Dataset, PlanError> {
    crate::sampling::pipeline::load_dataset(&spec.data.path, &spec.label_column)
        .map_err(|e| analysis_error("evidence.mechanism", e))
}
