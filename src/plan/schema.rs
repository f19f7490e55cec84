//! The plan file as written (TOML, `serde(deny_unknown_fields)`), before validation.
//! Every key, its type and default are listed in `docs/plans.md`.

use serde::{Deserialize, Serialize};
use toml::Spanned;

/// The whole plan file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PlanFile {
    pub plan: PlanMeta,
    pub claim: Option<ClaimSpec>,
    #[serde(default)]
    pub evidence: EvidenceSpec,
    pub compare: Option<CompareSpec>,
    pub mia: Option<MiaSpec>,
    pub certify: Option<CertifySpec>,
    pub epsilon: Option<EpsilonSpec>,
    pub ulira: Option<UliraSpec>,
    /// `[llm_mia]`: language-model attacks on LLM bundles (`docs/llm.md`).
    pub llm_mia: Option<LlmMiaSpec>,
    /// `[forget_quality]`: TOFU's forget quality on LLM bundles (`docs/llm.md`).
    pub forget_quality: Option<ForgetQualitySpec>,
    #[serde(default, rename = "rule")]
    pub rules: Vec<RuleSpec>,
}

/// `[plan]`: what the audit is called and its master seed.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PlanMeta {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Master seed of every randomised step (bootstrap, held-out splits, sampling).
    #[serde(default)]
    pub seed: u64,
}

/// The space a claim is measured in: one type for the crate ([`crate::evidence::Space`]).
pub use crate::evidence::Space;

/// `[claim]`: the (ε, δ)-unlearning claim under audit.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimSpec {
    pub epsilon: Spanned<f64>,
    pub delta: Spanned<f64>,
    pub space: Space,
}

/// `[evidence]`: files, relative to the plan file.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EvidenceSpec {
    pub original: Option<Spanned<String>>,
    pub unlearned: Option<Spanned<String>>,
    pub retrained: Option<Spanned<String>>,
    /// A second, independently retrained model r′: gives the noise floor d(r, r′).
    pub retrained_again: Option<Spanned<String>>,
    pub labels: Option<Spanned<String>>,
    #[serde(default)]
    pub outputs_are: crate::io::OutputKind,
    /// Sample set of the unlearning mechanism (`[n_trials, d]` .npy or a directory).
    pub unlearned_samples: Option<Spanned<String>>,
    /// Sample set of the retraining reference.
    pub retrained_samples: Option<Spanned<String>>,
    /// A reference mechanism to run in-process instead of sample sets.
    pub mechanism: Option<MechanismSpec>,
}

/// What each mechanism run records: one type for the CLI and plans ([`crate::sampling::Record`],
/// written in plans as `weights`, `forget_scores`, `forget_losses`, `statistic`).
pub use crate::sampling::Record as RecordSpec;

fn default_label_column() -> String {
    "label".into()
}

macro_rules! define_mechanism_spec {
    ({ $($fixed:tt)* } $( $(#[doc = $doc:expr])* $name:ident : $ty:ty ),* $(,)?) => {
        /// `[evidence.mechanism]`: a reference mechanism (`mechanisms::build`) run `trials`
        /// times per side on a labelled CSV; its two sample sets are the evidence of
        /// `[epsilon]`. The mechanism parameters are the keys of
        /// [`crate::mechanisms::MechanismOptions`], declared once in
        /// `mechanisms::mechanism_options!` and shared with `unlearn-audit sample`.
        #[derive(Debug, Clone, Deserialize, Serialize)]
        #[serde(deny_unknown_fields)]
        pub struct MechanismSpec {
            $($fixed)*
            $(
                $(#[doc = $doc])*
                pub $name: Option<$ty>,
            )*
        }

        impl MechanismSpec {
            /// The mechanism parameters this table gives.
            pub fn options(&self) -> crate::mechanisms::MechanismOptions {
                crate::mechanisms::MechanismOptions {
                    model: self.model,
                    $( $name: self.$name, )*
                }
            }
        }
    };
}

crate::mechanisms::mechanism_options!(define_mechanism_spec! {
    pub name: Spanned<String>,
    pub data: Spanned<String>,
    #[serde(default = "default_label_column")]
    pub label_column: String,
    /// Forget this many rows chosen by a seeded shuffle (seed: `plan.seed`).
    pub forget_count: Option<Spanned<usize>>,
    /// Or these row indices, removed in this order.
    pub forget: Option<Vec<usize>>,
    pub trials: Spanned<usize>,
    pub record: RecordSpec,
    /// `logistic` or `softmax` (default: the mechanism's).
    pub model: Option<crate::mechanisms::ModelKind>,
});

/// `[epsilon]`: the empirical ε lower bound from the two sample sets, and the verdict on the
/// claim (`audit::audit_epsilon`, `docs/epsilon.md`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EpsilonSpec {
    #[serde(default = "default_confidence")]
    pub confidence: Spanned<f64>,
    /// One bound per column (forget example), simultaneous across examples.
    #[serde(default)]
    pub per_example: bool,
}

/// `[compare]`: indistinguishability metrics between the bundles (no options yet).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CompareSpec {}

fn default_forget() -> String {
    crate::defaults::MEMBERS.into()
}
fn default_test() -> String {
    crate::defaults::NONMEMBERS.into()
}
fn default_confidence() -> Spanned<f64> {
    Spanned::new(0..0, crate::defaults::CONFIDENCE)
}
fn default_bootstrap() -> usize {
    crate::defaults::BOOTSTRAP
}
fn default_fprs() -> Vec<f64> {
    crate::defaults::FPRS.to_vec()
}
fn default_fit_fraction() -> f64 {
    crate::defaults::FIT_FRACTION
}
fn default_forget_share() -> f64 {
    crate::defaults::FORGET_SHARE
}

/// `[mia]`: population attacks on the unlearned and the retrained model, and their AUC gap.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MiaSpec {
    #[serde(default = "default_forget")]
    pub members: String,
    #[serde(default = "default_test")]
    pub nonmembers: String,
    #[serde(default = "default_confidence")]
    pub confidence: Spanned<f64>,
    #[serde(default = "default_bootstrap")]
    pub bootstrap: usize,
    #[serde(default = "default_fprs")]
    pub fprs: Vec<f64>,
    #[serde(default = "default_fit_fraction")]
    pub fit_fraction: f64,
    /// Equivalence margin in AUC of `mia_indistinguishable` (`docs/verdicts.md`).
    #[serde(default = "default_margin")]
    pub margin: f64,
}

fn default_margin() -> f64 {
    crate::defaults::MARGIN
}

fn default_holdout() -> String {
    "holdout".into()
}

fn default_k() -> f64 {
    0.2
}

fn default_delta() -> f64 {
    1e-5
}

/// `[llm_mia]`: LOSS, zlib, Min-K %, Min-K %++ on LLM bundles (directories relative to the
/// plan), PrivLeak and the gap to the retrained model (`docs/llm.md` §2–§3).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LlmMiaSpec {
    pub unlearned: String,
    pub retrained: String,
    /// The original model: positive control of the gap verdict.
    pub original: Option<String>,
    #[serde(default = "default_forget")]
    pub members: String,
    #[serde(default = "default_holdout")]
    pub nonmembers: String,
    #[serde(default = "default_k")]
    pub k: f64,
    /// Equivalence margin in AUC of `llm_mia_indistinguishable` (`docs/verdicts.md`).
    #[serde(default = "default_margin")]
    pub margin: f64,
    /// Default: loss and min_k, plus zlib / min_k_plus_plus when their files are present.
    pub attacks: Option<Vec<String>>,
    #[serde(default = "default_confidence")]
    pub confidence: Spanned<f64>,
    #[serde(default = "default_bootstrap")]
    pub bootstrap: usize,
    #[serde(default = "default_fprs")]
    pub fprs: Vec<f64>,
}

/// One directory or a list of directories (several runs).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    /// The directories, in order.
    pub fn dirs(&self) -> Vec<String> {
        match self {
            OneOrMany::One(d) => vec![d.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

/// `[forget_quality]`: TOFU's truth ratio and forget quality on LLM bundles' answer losses, the
/// paired interval, and the per-example ε audit over several runs (`docs/llm.md` §4).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ForgetQualitySpec {
    pub unlearned: OneOrMany,
    pub retrained: OneOrMany,
    #[serde(default = "default_forget")]
    pub split: String,
    #[serde(default = "default_confidence")]
    pub confidence: Spanned<f64>,
    /// Claimed ε of the per-example ε audit (several runs); omitted: bound only.
    pub claim_epsilon: Option<f64>,
    #[serde(default = "default_delta")]
    pub delta: f64,
}

/// Certified mechanisms whose certificate a plan can compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CertifiedMechanism {
    /// Gaussian mechanism with a given ℓ2 sensitivity.
    Gaussian,
    /// Clip the model to radius C0 and add Gaussian noise (sensitivity 2·C0).
    OutputPerturbation,
}

/// Gaussian calibration of a certificate: one type for the CLI and plans
/// ([`crate::certify::gaussian::Calibration`]; `analytic`, `classical`, `zcdp`).
pub use crate::certify::gaussian::Calibration as CalibrationSpec;

/// `[certify]`: the theoretical ε of the mechanism's parameters at the claim's δ.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CertifySpec {
    pub mechanism: CertifiedMechanism,
    pub sigma: Spanned<f64>,
    pub sensitivity: Option<Spanned<f64>>,
    pub clip_radius: Option<Spanned<f64>>,
    #[serde(default)]
    pub calibration: CalibrationSpec,
}

fn default_shadow_models() -> usize {
    crate::defaults::SHADOW_MODELS
}

/// `[ulira]`: U-LiRA against `[evidence.mechanism]` with shadow "worlds" (random halves of the
/// data, a share of each unlearned by the mechanism).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UliraSpec {
    #[serde(default = "default_shadow_models")]
    pub shadow_models: usize,
    #[serde(default = "default_forget_share")]
    pub forget_share: f64,
    #[serde(default = "default_confidence")]
    pub confidence: Spanned<f64>,
    #[serde(default = "default_fprs")]
    pub fprs: Vec<f64>,
    /// Equivalence margin in AUC of `ulira_indistinguishable` (`docs/verdicts.md`).
    #[serde(default = "default_margin")]
    pub margin: f64,
}

/// `[[rule]]`: one pass/fail rule. Either `metric` with `at_most` or `at_least`, or `check`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    pub metric: Option<Spanned<String>>,
    pub at_most: Option<f64>,
    pub at_least: Option<f64>,
    pub check: Option<Spanned<Check>>,
    /// Equivalence margin in AUC for `mia_indistinguishable` / `ulira_indistinguishable`
    /// (default: the `[mia]` / `[ulira]` table's `margin`). The analysis runs at this margin.
    pub margin: Option<Spanned<f64>>,
}

/// Named checks a rule can require.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// Every MIA AUC gap to retraining has an interval containing 0.
    MiaIndistinguishable,
    /// `[llm_mia]`'s gap verdict with its positive control (`docs/llm.md` §3).
    LlmMiaIndistinguishable,
    /// Both U-LiRA AUC gaps to the retrained twin have intervals containing 0 (`[ulira]`).
    UliraIndistinguishable,
    /// The empirical ε lower bound does not exceed the claimed ε (`[epsilon]`).
    ClaimNotViolated,
    /// The certificate's (ε, δ) is at most the claim's.
    CertificateCoversClaim,
    /// d(u, r) ≤ d(o, r): the unlearned model is closer to retraining than the original (in
    /// weight space when the bundles hold weights, else JS on the `forget` split).
    UnlearnedCloserThanOriginal,
}

impl Check {
    /// The snake_case name as written in plans.
    pub fn name(self) -> &'static str {
        match self {
            Check::MiaIndistinguishable => "mia_indistinguishable",
            Check::LlmMiaIndistinguishable => "llm_mia_indistinguishable",
            Check::UliraIndistinguishable => "ulira_indistinguishable",
            Check::ClaimNotViolated => "claim_not_violated",
            Check::CertificateCoversClaim => "certificate_covers_claim",
            Check::UnlearnedCloserThanOriginal => "unlearned_closer_than_original",
        }
    }
}
