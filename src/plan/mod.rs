//! Audit plans: one declarative TOML file in (the claim, the evidence, the analyses, the
//! pass/fail rules), one [`AuditReport`] and one exit code out.
//!
//! * [`schema`]: the file as written, parsed with `serde(deny_unknown_fields)`, so an unknown
//!   key, a wrong type or a missing key is an error naming the key and its line.
//! * [`load_plan`] validates what the parser cannot see (files exist, values in range, every
//!   rule refers to a metric that an enabled analysis computes) and yields a [`Plan`]; nothing
//!   runs on an unvalidated plan.
//! * [`run_plan`] runs the analyses through the library (`metrics::compare::compare_bundles`,
//!   `mia::population_attacks` + `mia::compare_to_reference`, `certify`), evaluates the rules
//!   and combines them into a verdict: any failed rule fails; otherwise a rule whose metric
//!   could not be computed makes the audit inconclusive, never a pass.
//!
//! The typed plan and its place in the crate: `docs/architecture.md`; how each check decides:
//! `docs/verdicts.md`. Every key, its type and default are in `docs/plans.md`; how to write and read an audit is in
//! `docs/guide.md`.

mod html;
pub mod llm;
mod report;
mod rules;
mod runner;
pub mod schema;
mod typed;
mod ulira;

use std::path::{Path, PathBuf};

pub use html::render_html;
pub use llm::{ForgetQualityFinding, LlmMiaFinding};
pub use report::{
    AuditReport, ClaimSummary, MechanismRun, MiaFinding, MiaPair, OrderingRow, PlanSummary,
    ReportProvenance, RuleResult, SanityOrdering, ScoreHistogram,
};
pub use rules::{Bound, Metric, Rule};
pub use runner::{NoPlanProgress, PlanProgress, run_plan};
pub use schema::{Check, PlanFile, Space};
pub use typed::{
    CertifiedMechanismPlan, CertifyPlan, ComparePlan, EpsilonEvidence, EpsilonPlan, EvidencePath,
    ForgetSelection, MechanismPlan, MiaPlan, UliraPlan,
};

use crate::evidence::{Claim, Neighbouring};

/// Errors of plans: unreadable or invalid plan files (exit 2), and analyses whose inputs turn
/// out to be bad when read (exit 2 too). Every variant names the file and the key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// The plan file could not be read.
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// TOML syntax, unknown key, wrong type or missing key (the message names key and line).
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    /// A key holds a value the plan cannot use.
    #[error("{path}:{line}: `{key}`: {message}")]
    Invalid {
        path: PathBuf,
        key: String,
        line: usize,
        message: String,
    },
    /// An analysis could not read or use its inputs.
    #[error("[{analysis}]: {message}")]
    Analysis {
        analysis: &'static str,
        message: String,
    },
}

/// A validated plan: paths resolved against the plan's directory, rules checked against the
/// enabled analyses.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The plan file as given.
    pub path: PathBuf,
    /// SHA-256 of the plan file.
    pub sha256: String,
    /// The parsed file.
    pub file: PlanFile,
    /// The rules, validated.
    pub rules: Vec<Rule>,
    /// The claim, built once (`evidence::Claim`) and carried to every judgment.
    pub claim: Option<Claim>,
    /// `[compare]`, typed.
    pub compare: Option<ComparePlan>,
    /// `[mia]`, typed.
    pub mia: Option<MiaPlan>,
    /// `[certify]`, typed.
    pub certify: Option<CertifyPlan>,
    /// `[epsilon]`, typed.
    pub epsilon: Option<EpsilonPlan>,
    /// `[ulira]`, typed.
    pub ulira: Option<UliraPlan>,
    /// `[llm_mia]`, typed.
    pub llm_mia: Option<typed::LlmMiaPlan>,
    /// `[forget_quality]`, typed.
    pub forget_quality: Option<typed::ForgetQualityPlan>,
    /// `[evidence.mechanism]`, typed (also inside `epsilon` / `ulira` when they use it).
    pub mechanism: Option<MechanismPlan>,
    dir: PathBuf,
}

impl Plan {
    /// Resolves a path from the plan against the plan file's directory.
    pub fn resolve(&self, relative: &str) -> PathBuf {
        self.dir.join(relative)
    }
}

/// 1-based line of a byte offset.
pub(crate) fn line_of(source: &str, offset: usize) -> usize {
    source[..offset.min(source.len())].matches('\n').count() + 1
}

/// 1-based line where a table header (e.g. `[compare]`) starts, or 1.
fn table_line(source: &str, table: &str) -> usize {
    let header = format!("[{table}]");
    source
        .lines()
        .position(|line| line.trim_start().starts_with(&header))
        .map(|index| index + 1)
        .unwrap_or(1)
}

/// Reads, parses and validates a plan.
pub fn load_plan(path: &Path) -> Result<Plan, PlanError> {
    // Only regular files: reading a FIFO would block, a directory or device is not a plan.
    if let Ok(metadata) = std::fs::metadata(path)
        && !metadata.is_file()
    {
        return Err(PlanError::Read {
            path: path.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not a regular file (a directory, FIFO or device); only regular files are read",
            ),
        });
    }
    let source = std::fs::read_to_string(path).map_err(|source| PlanError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_plan(path, &source)
}

/// Parses and validates plan text; `path` locates relative paths and names the file in errors.
pub fn parse_plan(path: &Path, source: &str) -> Result<Plan, PlanError> {
    let file: PlanFile = toml::from_str(source).map_err(|e| PlanError::Parse {
        path: path.to_path_buf(),
        message: e.to_string().trim_end().to_string(),
    })?;
    let dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let dir = if dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        dir
    };
    let sha256 = {
        use sha2::{Digest, Sha256};
        Sha256::digest(source.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    let invalid = |key: &str, line: usize, message: String| PlanError::Invalid {
        path: path.to_path_buf(),
        key: key.to_string(),
        line,
        message,
    };
    validate_values(&file, source, &invalid)?;
    validate_evidence(&file, source, &dir, &invalid)?;
    let rules = rules::validate_rules(&file, source, &dir, &invalid)?;
    let mut file = file;
    rules::apply_rule_margins(&mut file, source, &invalid)?;
    rules::validate_mia_splits(&file, source, &dir, &invalid)?;
    let typed = typed_parts(&file, source, &dir, &invalid)?;
    Ok(Plan {
        path: path.to_path_buf(),
        sha256,
        file,
        rules,
        claim: typed.claim,
        compare: typed.compare,
        mia: typed.mia,
        certify: typed.certify,
        epsilon: typed.epsilon,
        ulira: typed.ulira,
        llm_mia: typed.llm_mia,
        forget_quality: typed.forget_quality,
        mechanism: typed.mechanism,
        dir,
    })
}

/// The typed parts of a plan whose values were checked.
struct TypedParts {
    claim: Option<Claim>,
    compare: Option<ComparePlan>,
    mia: Option<MiaPlan>,
    certify: Option<CertifyPlan>,
    epsilon: Option<EpsilonPlan>,
    ulira: Option<UliraPlan>,
    llm_mia: Option<typed::LlmMiaPlan>,
    forget_quality: Option<typed::ForgetQualityPlan>,
    mechanism: Option<MechanismPlan>,
}

/// Builds the typed plan. Every piece an analysis needs is required here, with an error naming
/// the key and line, so the runner never has to assume it.
fn typed_parts(
    file: &PlanFile,
    source: &str,
    dir: &Path,
    invalid: &Invalid,
) -> Result<TypedParts, PlanError> {
    let evidence = &file.evidence;
    let evidence_line = table_line(source, "evidence");
    let path = |value: &Option<toml::Spanned<String>>| {
        value.as_ref().map(|v| EvidencePath {
            written: v.get_ref().clone(),
            path: dir.join(v.get_ref()),
        })
    };
    let required = |key: &str, table: &str, value: &Option<toml::Spanned<String>>| {
        path(value)
            .ok_or_else(|| invalid(key, evidence_line, format!("missing: [{table}] needs it")))
    };
    let output_kind = evidence.outputs_are;
    let mechanism = match &evidence.mechanism {
        None => None,
        Some(spec) => {
            let line = table_line(source, "evidence.mechanism");
            let forget = match (&spec.forget_count, &spec.forget) {
                (Some(count), None) if *count.get_ref() > 0 => {
                    ForgetSelection::Count(*count.get_ref())
                }
                (None, Some(indices)) if !indices.is_empty() => {
                    ForgetSelection::Indices(indices.clone())
                }
                _ => {
                    return Err(invalid(
                        "evidence.mechanism.forget_count",
                        line,
                        "give exactly one of forget_count (> 0) or forget (a non-empty list)"
                            .into(),
                    ));
                }
            };
            Some(MechanismPlan {
                name: spec.name.get_ref().clone(),
                data: EvidencePath {
                    written: spec.data.get_ref().clone(),
                    path: dir.join(spec.data.get_ref()),
                },
                label_column: spec.label_column.clone(),
                forget,
                trials: *spec.trials.get_ref(),
                record: spec.record,
                options: spec.options(),
            })
        }
    };
    let claim = match &file.claim {
        None => None,
        Some(spec) => {
            let built = Claim::new(Some(*spec.epsilon.get_ref()), *spec.delta.get_ref())
                .map_err(|e| invalid("claim", table_line(source, "claim"), e.to_string()))?
                .with_space(spec.space);
            let neighbouring = match &mechanism {
                Some(MechanismPlan {
                    forget: ForgetSelection::Count(k),
                    ..
                }) => Neighbouring::remove(*k),
                Some(MechanismPlan {
                    forget: ForgetSelection::Indices(indices),
                    ..
                }) => Neighbouring::remove(indices.len()),
                None => Neighbouring::default(),
            };
            Some(built.with_neighbouring(neighbouring))
        }
    };
    let needs_claim = |table: &str| {
        claim.ok_or_else(|| {
            invalid(
                "claim",
                table_line(source, table),
                format!("[{table}] needs a [claim]"),
            )
        })
    };
    let compare = match &file.compare {
        None => None,
        Some(_) => Some(ComparePlan {
            original: required("evidence.original", "compare", &evidence.original)?,
            unlearned: required("evidence.unlearned", "compare", &evidence.unlearned)?,
            retrained: required("evidence.retrained", "compare", &evidence.retrained)?,
            retrained_again: path(&evidence.retrained_again),
            labels: path(&evidence.labels),
            output_kind,
        }),
    };
    let mia = match &file.mia {
        None => None,
        Some(spec) => Some(MiaPlan {
            spec: spec.clone(),
            unlearned: required("evidence.unlearned", "mia", &evidence.unlearned)?,
            retrained: required("evidence.retrained", "mia", &evidence.retrained)?,
            labels: required("evidence.labels", "mia", &evidence.labels)?,
            original: path(&evidence.original),
            output_kind,
        }),
    };
    let certify = match &file.certify {
        None => None,
        Some(spec) => {
            let line = table_line(source, "certify");
            let value = |key: &str, v: &Option<toml::Spanned<f64>>| {
                v.as_ref().map(|v| *v.get_ref()).ok_or_else(|| {
                    invalid(
                        key,
                        line,
                        format!("missing: the {:?} certificate needs it", spec.mechanism),
                    )
                })
            };
            let mechanism = match spec.mechanism {
                schema::CertifiedMechanism::Gaussian => CertifiedMechanismPlan::Gaussian {
                    sensitivity: value("certify.sensitivity", &spec.sensitivity)?,
                },
                schema::CertifiedMechanism::OutputPerturbation => {
                    CertifiedMechanismPlan::OutputPerturbation {
                        clip_radius: value("certify.clip_radius", &spec.clip_radius)?,
                    }
                }
            };
            Some(CertifyPlan {
                claim: needs_claim("certify")?,
                sigma: *spec.sigma.get_ref(),
                calibration: spec.calibration,
                mechanism,
            })
        }
    };
    let epsilon = match &file.epsilon {
        None => None,
        Some(spec) => {
            let evidence = match (
                &mechanism,
                &evidence.unlearned_samples,
                &evidence.retrained_samples,
            ) {
                (Some(mechanism), None, None) => EpsilonEvidence::Mechanism(mechanism.clone()),
                (None, Some(_), Some(_)) => EpsilonEvidence::Samples {
                    unlearned: required(
                        "evidence.unlearned_samples",
                        "epsilon",
                        &evidence.unlearned_samples,
                    )?,
                    retrained: required(
                        "evidence.retrained_samples",
                        "epsilon",
                        &evidence.retrained_samples,
                    )?,
                },
                _ => {
                    return Err(invalid(
                        "evidence.unlearned_samples",
                        evidence_line,
                        "[epsilon] needs both evidence.unlearned_samples and \
                         evidence.retrained_samples, or [evidence.mechanism]"
                            .into(),
                    ));
                }
            };
            Some(EpsilonPlan {
                spec: spec.clone(),
                claim: needs_claim("epsilon")?,
                evidence,
            })
        }
    };
    let ulira = match &file.ulira {
        None => None,
        Some(spec) => Some(UliraPlan {
            spec: spec.clone(),
            mechanism: mechanism.clone().ok_or_else(|| {
                invalid(
                    "evidence.mechanism",
                    table_line(source, "ulira"),
                    "[ulira] trains its shadow models with [evidence.mechanism], which is missing"
                        .into(),
                )
            })?,
        }),
    };
    let llm_dir =
        |table: &str, key: &str, written: &str| -> Result<typed::EvidencePath, PlanError> {
            let path = dir.join(written);
            if !path.is_dir() {
                return Err(invalid(
                    &format!("{table}.{key}"),
                    table_line(source, table),
                    format!("{} is not a directory (an LLM bundle)", path.display()),
                ));
            }
            Ok(typed::EvidencePath {
                written: written.to_string(),
                path,
            })
        };
    let llm_mia = match &file.llm_mia {
        None => None,
        Some(spec) => Some(typed::LlmMiaPlan {
            spec: spec.clone(),
            unlearned: llm_dir("llm_mia", "unlearned", &spec.unlearned)?,
            retrained: llm_dir("llm_mia", "retrained", &spec.retrained)?,
            original: spec
                .original
                .as_deref()
                .map(|o| llm_dir("llm_mia", "original", o))
                .transpose()?,
        }),
    };
    let forget_quality = match &file.forget_quality {
        None => None,
        Some(spec) => Some(typed::ForgetQualityPlan {
            spec: spec.clone(),
            unlearned: spec
                .unlearned
                .dirs()
                .iter()
                .map(|d| llm_dir("forget_quality", "unlearned", d))
                .collect::<Result<_, _>>()?,
            retrained: spec
                .retrained
                .dirs()
                .iter()
                .map(|d| llm_dir("forget_quality", "retrained", d))
                .collect::<Result<_, _>>()?,
        }),
    };
    Ok(TypedParts {
        claim,
        compare,
        mia,
        certify,
        epsilon,
        ulira,
        llm_mia,
        forget_quality,
        mechanism,
    })
}

type Invalid<'a> = dyn Fn(&str, usize, String) -> PlanError + 'a;

fn validate_values(file: &PlanFile, source: &str, invalid: &Invalid) -> Result<(), PlanError> {
    if let Some(claim) = &file.claim {
        let epsilon = *claim.epsilon.get_ref();
        if !(epsilon.is_finite() && epsilon > 0.0) {
            return Err(invalid(
                "claim.epsilon",
                line_of(source, claim.epsilon.span().start),
                format!("{epsilon} is not a finite number > 0"),
            ));
        }
        let delta = *claim.delta.get_ref();
        if !(delta > 0.0 && delta < 1.0) {
            return Err(invalid(
                "claim.delta",
                line_of(source, claim.delta.span().start),
                format!("{delta} is not in (0, 1)"),
            ));
        }
    }
    if file.compare.is_none()
        && file.mia.is_none()
        && file.certify.is_none()
        && file.epsilon.is_none()
        && file.ulira.is_none()
        && file.llm_mia.is_none()
        && file.forget_quality.is_none()
    {
        return Err(invalid(
            "plan",
            1,
            "no analysis to run: add at least one of [compare], [mia], [certify], [epsilon], [ulira], [llm_mia], [forget_quality]".into(),
        ));
    }
    if let Some(llm) = &file.llm_mia {
        let line = table_line(source, "llm_mia");
        let confidence = *llm.confidence.get_ref();
        if !(confidence > 0.0 && confidence < 1.0) {
            return Err(invalid(
                "llm_mia.confidence",
                line_of(source, llm.confidence.span().start).max(line),
                format!("{confidence} is not in (0, 1)"),
            ));
        }
        if !(llm.margin.is_finite() && llm.margin > 0.0 && llm.margin < 0.5) {
            return Err(invalid(
                "llm_mia.margin",
                line,
                format!("{} is not an AUC margin in (0, 0.5)", llm.margin),
            ));
        }
        if !(llm.k > 0.0 && llm.k <= 1.0) {
            return Err(invalid(
                "llm_mia.k",
                line,
                format!("{} is not in (0, 1]", llm.k),
            ));
        }
        if let Some(bad) = llm.fprs.iter().find(|a| !(**a > 0.0 && **a <= 1.0)) {
            return Err(invalid(
                "llm_mia.fprs",
                line,
                format!("{bad} is not in (0, 1]"),
            ));
        }
        if llm.bootstrap == 1 {
            return Err(invalid(
                "llm_mia.bootstrap",
                line,
                "one replicate cannot give an interval; use 0 (none) or at least 2".into(),
            ));
        }
        if llm.members == llm.nonmembers {
            return Err(invalid(
                "llm_mia.nonmembers",
                line,
                format!(
                    "members and non-members are the same split `{}`",
                    llm.members
                ),
            ));
        }
        if let Some(bad) = llm
            .attacks
            .iter()
            .flatten()
            .find(|a| !crate::mia::llm::LLM_ATTACKS.contains(&a.as_str()))
        {
            return Err(invalid(
                "llm_mia.attacks",
                line,
                format!(
                    "unknown attack `{bad}` (known: {})",
                    crate::mia::llm::LLM_ATTACKS.join(", ")
                ),
            ));
        }
    }
    if let Some(fq) = &file.forget_quality {
        let line = table_line(source, "forget_quality");
        let confidence = *fq.confidence.get_ref();
        if !(confidence > 0.0 && confidence < 1.0) {
            return Err(invalid(
                "forget_quality.confidence",
                line_of(source, fq.confidence.span().start).max(line),
                format!("{confidence} is not in (0, 1)"),
            ));
        }
        if !(fq.delta > 0.0 && fq.delta < 1.0) {
            return Err(invalid(
                "forget_quality.delta",
                line,
                format!("{} is not in (0, 1)", fq.delta),
            ));
        }
        if let Some(e) = fq.claim_epsilon
            && !(e.is_finite() && e > 0.0)
        {
            return Err(invalid(
                "forget_quality.claim_epsilon",
                line,
                format!("{e} is not a finite number > 0"),
            ));
        }
        if fq.unlearned.dirs().is_empty() || fq.retrained.dirs().is_empty() {
            return Err(invalid(
                "forget_quality.unlearned",
                line,
                "at least one unlearned and one retrained bundle are needed".into(),
            ));
        }
    }
    if let Some(epsilon) = &file.epsilon {
        let line = table_line(source, "epsilon");
        let confidence = *epsilon.confidence.get_ref();
        if !(confidence > 0.0 && confidence < 1.0) {
            return Err(invalid(
                "epsilon.confidence",
                line_of(source, epsilon.confidence.span().start).max(line),
                format!("{confidence} is not in (0, 1)"),
            ));
        }
        let Some(claim) = &file.claim else {
            return Err(invalid(
                "claim",
                line,
                "[epsilon] needs a [claim]: the bound is taken at the claim's δ".into(),
            ));
        };
        let evidence = &file.evidence;
        let samples = (
            evidence.unlearned_samples.is_some(),
            evidence.retrained_samples.is_some(),
        );
        match (samples, &evidence.mechanism) {
            ((true, true), None) => {}
            ((false, false), Some(mechanism)) => {
                let weights = mechanism.record == schema::RecordSpec::Weights;
                if weights != (claim.space == Space::Weights) {
                    return Err(invalid(
                        "claim.space",
                        table_line(source, "claim"),
                        format!(
                            "the claim is in {:?} space but evidence.mechanism.record = {:?} \
                             records {} space",
                            claim.space,
                            mechanism.record,
                            if weights { "weight" } else { "output" }
                        ),
                    ));
                }
            }
            ((false, false), None) | ((true, false), None) | ((false, true), None) => {
                return Err(invalid(
                    "evidence.unlearned_samples",
                    table_line(source, "evidence"),
                    "[epsilon] needs both evidence.unlearned_samples and \
                     evidence.retrained_samples, or [evidence.mechanism]"
                        .into(),
                ));
            }
            (_, Some(_)) => {
                return Err(invalid(
                    "evidence.mechanism",
                    table_line(source, "evidence.mechanism"),
                    "give either sample sets or a mechanism, not both".into(),
                ));
            }
        }
    }
    if let Some(mechanism) = &file.evidence.mechanism {
        let line = table_line(source, "evidence.mechanism");
        let name = mechanism.name.get_ref();
        if !crate::mechanisms::MECHANISM_NAMES.contains(&name.as_str()) {
            return Err(invalid(
                "evidence.mechanism.name",
                line_of(source, mechanism.name.span().start),
                format!(
                    "unknown mechanism `{name}`; known: {}",
                    crate::mechanisms::MECHANISM_NAMES.join(", ")
                ),
            ));
        }
        if *mechanism.trials.get_ref() < 2 {
            return Err(invalid(
                "evidence.mechanism.trials",
                line_of(source, mechanism.trials.span().start),
                "at least 2 runs per side are needed".into(),
            ));
        }
        match (&mechanism.forget_count, &mechanism.forget) {
            (Some(count), None) if *count.get_ref() > 0 => {}
            (None, Some(indices)) if !indices.is_empty() => {}
            _ => {
                return Err(invalid(
                    "evidence.mechanism.forget_count",
                    line,
                    "give exactly one of forget_count (> 0) or forget (a non-empty list)".into(),
                ));
            }
        }
        if file.epsilon.is_none() && file.ulira.is_none() {
            return Err(invalid(
                "evidence.mechanism",
                line,
                "a mechanism is evidence for [epsilon] or [ulira], which this plan does not run"
                    .into(),
            ));
        }
    }
    if let Some(ulira) = &file.ulira {
        let line = table_line(source, "ulira");
        if file.evidence.mechanism.is_none() {
            return Err(invalid(
                "evidence.mechanism",
                line,
                "[ulira] trains its shadow models with [evidence.mechanism], which is missing"
                    .into(),
            ));
        }
        if ulira.shadow_models < 4 {
            return Err(invalid(
                "ulira.shadow_models",
                line,
                format!("{} is too few: at least 4", ulira.shadow_models),
            ));
        }
        if !(ulira.forget_share > 0.0 && ulira.forget_share < 1.0) {
            return Err(invalid(
                "ulira.forget_share",
                line,
                format!("{} is not in (0, 1)", ulira.forget_share),
            ));
        }
        let confidence = *ulira.confidence.get_ref();
        if !(confidence > 0.0 && confidence < 1.0) {
            return Err(invalid(
                "ulira.confidence",
                line_of(source, ulira.confidence.span().start).max(line),
                format!("{confidence} is not in (0, 1)"),
            ));
        }
        if let Some(bad) = ulira.fprs.iter().find(|a| !(**a > 0.0 && **a <= 1.0)) {
            return Err(invalid(
                "ulira.fprs",
                line,
                format!("{bad} is not in (0, 1]"),
            ));
        }
    }
    if let Some(mia) = &file.mia {
        let line = table_line(source, "mia");
        let confidence = *mia.confidence.get_ref();
        if !(confidence > 0.0 && confidence < 1.0) {
            return Err(invalid(
                "mia.confidence",
                line_of(source, mia.confidence.span().start).max(line),
                format!("{confidence} is not in (0, 1)"),
            ));
        }
        if let Some(bad) = mia.fprs.iter().find(|a| !(**a > 0.0 && **a <= 1.0)) {
            return Err(invalid("mia.fprs", line, format!("{bad} is not in (0, 1]")));
        }
        if mia.bootstrap == 1 {
            return Err(invalid(
                "mia.bootstrap",
                line,
                "one replicate cannot give an interval; use 0 (none) or at least 2".into(),
            ));
        }
        if !(mia.fit_fraction > 0.0 && mia.fit_fraction < 1.0) {
            return Err(invalid(
                "mia.fit_fraction",
                line,
                format!("{} is not in (0, 1)", mia.fit_fraction),
            ));
        }
        if mia.members == mia.nonmembers {
            return Err(invalid(
                "mia.nonmembers",
                line,
                format!(
                    "members and nonmembers are the same split `{}`: an attack needs both",
                    mia.members
                ),
            ));
        }
    }
    if let Some(certify) = &file.certify {
        let line = table_line(source, "certify");
        if file.claim.is_none() {
            return Err(invalid(
                "claim",
                line,
                "[certify] needs a [claim]: the certificate is computed at the claim's δ".into(),
            ));
        }
        let sigma = *certify.sigma.get_ref();
        if !(sigma.is_finite() && sigma > 0.0) {
            return Err(invalid(
                "certify.sigma",
                line_of(source, certify.sigma.span().start),
                format!("{sigma} is not a finite number > 0"),
            ));
        }
        let (key, value) = match certify.mechanism {
            schema::CertifiedMechanism::Gaussian => ("certify.sensitivity", &certify.sensitivity),
            schema::CertifiedMechanism::OutputPerturbation => {
                ("certify.clip_radius", &certify.clip_radius)
            }
        };
        match value {
            None => {
                return Err(invalid(
                    key,
                    line,
                    format!("missing: the {:?} certificate needs it", certify.mechanism),
                ));
            }
            Some(value) => {
                let v = *value.get_ref();
                if !(v.is_finite() && v > 0.0) {
                    return Err(invalid(
                        key,
                        line_of(source, value.span().start),
                        format!("{v} is not a finite number > 0"),
                    ));
                }
            }
        }
    }
    Ok(())
}

fn validate_evidence(
    file: &PlanFile,
    source: &str,
    dir: &Path,
    invalid: &Invalid,
) -> Result<(), PlanError> {
    let evidence = &file.evidence;
    let entries = [
        ("evidence.original", &evidence.original),
        ("evidence.unlearned", &evidence.unlearned),
        ("evidence.retrained", &evidence.retrained),
        ("evidence.retrained_again", &evidence.retrained_again),
        ("evidence.labels", &evidence.labels),
        ("evidence.unlearned_samples", &evidence.unlearned_samples),
        ("evidence.retrained_samples", &evidence.retrained_samples),
        (
            "evidence.mechanism.data",
            &evidence.mechanism.as_ref().map(|m| m.data.clone()),
        ),
    ];
    for (key, entry) in entries {
        if let Some(value) = entry {
            let resolved = dir.join(value.get_ref());
            if !resolved.exists() {
                return Err(invalid(
                    key,
                    line_of(source, value.span().start),
                    format!(
                        "`{}` does not exist (resolved against the plan's directory: {})",
                        value.get_ref(),
                        resolved.display()
                    ),
                ));
            }
        }
    }
    let require = |table: &str, needed: &[(&str, bool)]| -> Result<(), PlanError> {
        for (key, present) in needed {
            if !present {
                return Err(invalid(
                    key,
                    table_line(source, "evidence"),
                    format!("missing: [{table}] needs it"),
                ));
            }
        }
        Ok(())
    };
    if file.compare.is_some() {
        require(
            "compare",
            &[
                ("evidence.original", evidence.original.is_some()),
                ("evidence.unlearned", evidence.unlearned.is_some()),
                ("evidence.retrained", evidence.retrained.is_some()),
            ],
        )?;
    }
    if file.mia.is_some() {
        require(
            "mia",
            &[
                ("evidence.unlearned", evidence.unlearned.is_some()),
                ("evidence.retrained", evidence.retrained.is_some()),
                ("evidence.labels", evidence.labels.is_some()),
            ],
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_one_based() {
        assert_eq!(line_of("a\nb\nc", 0), 1);
        assert_eq!(line_of("a\nb\nc", 2), 2);
        assert_eq!(line_of("a\nb\nc", 4), 3);
        assert_eq!(table_line("x = 1\n\n[mia]\n", "mia"), 3);
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let text = "[plan]\nname = \"x\"\nseeed = 3\n";
        let error = parse_plan(Path::new("p.toml"), text)
            .unwrap_err()
            .to_string();
        assert!(error.contains("seeed"), "{error}");
        assert!(error.contains("line 3"), "{error}");
    }

    #[test]
    fn outputs_are_is_the_io_output_kind_with_logits_by_default() {
        use crate::io::OutputKind;
        let parse =
            |text: &str| toml::from_str::<schema::EvidenceSpec>(text).map(|e| e.outputs_are);
        assert_eq!(parse("").unwrap(), OutputKind::Logits);
        assert_eq!(
            parse("outputs_are = \"logits\"").unwrap(),
            OutputKind::Logits
        );
        assert_eq!(
            parse("outputs_are = \"probabilities\"").unwrap(),
            OutputKind::Probabilities
        );
        assert!(parse("outputs_are = \"softmax\"").is_err());
        assert_eq!(
            serde_json::to_string(&OutputKind::Probabilities).unwrap(),
            "\"probabilities\""
        );
    }
}
