//! The validated plan's typed parts: what each analysis needs, present by construction, so the
//! runner reads fields instead of re-checking the raw file (no `expect("validated")`).
//! Built by [`super::parse_plan`] after the value checks; every missing piece is a plan error
//! naming the key and line, never a panic.

use std::path::PathBuf;

use super::schema::{EpsilonSpec, ForgetQualitySpec, LlmMiaSpec, MiaSpec, UliraSpec};
use crate::certify::gaussian::Calibration;
use crate::evidence::Claim;
use crate::mechanisms::MechanismOptions;
use crate::metrics::OutputKind;
use crate::sampling::Record;

/// An evidence file as the plan writes it (relative, for reports) and resolved against the
/// plan's directory (for reading).
#[derive(Debug, Clone, PartialEq)]
pub struct EvidencePath {
    /// As written in the plan.
    pub written: String,
    /// Resolved against the plan file's directory.
    pub path: PathBuf,
}

/// `[compare]`: the three bundles (and the optional noise-floor reference and labels).
#[derive(Debug, Clone)]
pub struct ComparePlan {
    pub original: EvidencePath,
    pub unlearned: EvidencePath,
    pub retrained: EvidencePath,
    /// r′, a second independently retrained model (noise floor).
    pub retrained_again: Option<EvidencePath>,
    pub labels: Option<EvidencePath>,
    pub output_kind: OutputKind,
}

/// `[mia]`: its options and the bundles it attacks.
#[derive(Debug, Clone)]
pub struct MiaPlan {
    pub spec: MiaSpec,
    pub unlearned: EvidencePath,
    pub retrained: EvidencePath,
    pub labels: EvidencePath,
    /// The original model, when the evidence has one (positive control).
    pub original: Option<EvidencePath>,
    pub output_kind: OutputKind,
}

/// `[llm_mia]`: its options and the LLM bundles it attacks.
#[derive(Debug, Clone)]
pub struct LlmMiaPlan {
    pub spec: LlmMiaSpec,
    pub unlearned: EvidencePath,
    pub retrained: EvidencePath,
    pub original: Option<EvidencePath>,
}

/// `[forget_quality]`: its options and the runs of each side.
#[derive(Debug, Clone)]
pub struct ForgetQualityPlan {
    pub spec: ForgetQualitySpec,
    pub unlearned: Vec<EvidencePath>,
    pub retrained: Vec<EvidencePath>,
}

/// `[certify]`: which certificate, with its required parameter, at the claim's δ.
#[derive(Debug, Clone)]
pub struct CertifyPlan {
    /// The claim whose δ the certificate is computed at.
    pub claim: Claim,
    pub sigma: f64,
    pub calibration: Calibration,
    pub mechanism: CertifiedMechanismPlan,
}

/// The certified mechanism of `[certify]` with the parameter it needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CertifiedMechanismPlan {
    /// Gaussian mechanism with ℓ2 sensitivity `sensitivity`.
    Gaussian { sensitivity: f64 },
    /// Output perturbation with clipping radius `clip_radius`.
    OutputPerturbation { clip_radius: f64 },
}

/// How the forget set of `[evidence.mechanism]` is chosen (the sampling pipeline's type).
pub use crate::sampling::pipeline::ForgetSelection;

/// `[evidence.mechanism]`, validated: a known name, a forget selection, the record, the
/// options the mechanism reads.
#[derive(Debug, Clone)]
pub struct MechanismPlan {
    pub name: String,
    pub data: EvidencePath,
    pub label_column: String,
    pub forget: ForgetSelection,
    pub trials: usize,
    pub record: Record,
    pub options: MechanismOptions,
}

/// Where `[epsilon]`'s two sample sets come from.
#[derive(Debug, Clone)]
pub enum EpsilonEvidence {
    /// Two sample sets on disk.
    Samples {
        unlearned: EvidencePath,
        retrained: EvidencePath,
    },
    /// The plan's mechanism, run in-process.
    Mechanism(MechanismPlan),
}

/// `[epsilon]`: its options, its evidence and the claim it judges.
#[derive(Debug, Clone)]
pub struct EpsilonPlan {
    pub spec: EpsilonSpec,
    pub claim: Claim,
    pub evidence: EpsilonEvidence,
}

/// `[ulira]`: its options and the mechanism that trains the shadow worlds.
#[derive(Debug, Clone)]
pub struct UliraPlan {
    pub spec: UliraSpec,
    pub mechanism: MechanismPlan,
}

/// The snake_case name of a record, as written in plans and reports.
pub(super) fn record_name(record: Record) -> &'static str {
    match record {
        Record::Weights => "weights",
        Record::ForgetScores => "forget_scores",
        Record::ForgetLosses => "forget_losses",
        Record::Statistic => "statistic",
    }
}
