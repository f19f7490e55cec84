//! `[ulira]`: U-LiRA (Hayes et al. 2024, `docs/mia.md` §3.3) against an in-process mechanism.
//!
//! The shadow matrix of φ scores and states comes from `sampling::shadow_worlds` (the
//! construction shared with the acceptance test `tests/mia_ulira_digits.rs`): each "world"
//! trains on a random half of the data, then unlearns a share of that half with the mechanism
//! (and retrains without it, the twin). `shadow_models` worlds give the shadow matrix of φ
//! scores and states; one more world is the target. The U-LiRA test and the plain population test on φ are run on the
//! target's unlearned model and on its retrained twin, and their AUC gaps compared with
//! their paired intervals by the equivalence test (`mia::equivalence_to_reference`).
//!
//! World `w` draws everything from `ChaCha8Rng::seed_from_u64(plan.seed)` with stream `w`;
//! worlds run in parallel and are collected in order, so the result does not depend on the
//! thread count.

use super::PlanError;
use super::report::{MiaFinding, MiaPair};
use crate::mechanisms::MechanismOptions;
use crate::mia::analysis::{UliraInput, ulira_analysis};
use crate::mia::roc::{FprConvention, Roc, RocConfig};
use crate::mia::shadow::{LiraVariance, UnlearningState};
use crate::models::Dataset;
use crate::sampling::shadow_worlds;

/// Settings of one U-LiRA run.
pub(super) struct UliraSettings<'a> {
    pub name: &'a str,
    pub options: &'a MechanismOptions,
    pub shadow_models: usize,
    pub forget_share: f64,
    pub confidence: f64,
    pub fprs: Vec<f64>,
    pub seed: u64,
    /// Equivalence margin in AUC.
    pub margin: f64,
}

fn failed(message: impl std::fmt::Display) -> PlanError {
    PlanError::Analysis {
        analysis: "ulira",
        message: message.to_string(),
    }
}

/// Runs U-LiRA and the population test on φ, unlearned target vs its retrained twin.
pub(super) fn run_ulira(data: &Dataset, settings: &UliraSettings) -> Result<MiaFinding, PlanError> {
    let worlds = shadow_worlds(
        data,
        settings.name,
        settings.options,
        settings.shadow_models,
        settings.forget_share,
        settings.seed,
    )
    .map_err(failed)?;
    // The shadow worlds keep no original model (trained before unlearning), so there is no
    // positive control: a leak shown beyond the margin fails, and nothing passes
    // (`docs/verdicts.md`, "Membership inference").
    let analysis = ulira_analysis(
        &UliraInput {
            shadow_scores: worlds.scores.view(),
            shadow_states: worlds.states.view(),
            target_states: &worlds.target_states,
            unlearned: &worlds.target_unlearned,
            retrained: Some(&worlds.target_retrained),
            original: None,
            variance: LiraVariance::Fixed,
            threshold_attack: "population_phi",
        },
        settings.confidence,
        settings.margin,
    )
    .map_err(failed)?;
    let retrained = analysis
        .retrained
        .as_ref()
        .ok_or_else(|| failed("the retrained twin was not analysed"))?;
    let (ulira_u, ulira_r) = (&analysis.unlearned.ulira, &retrained.ulira);
    let (population_u, population_r) = (&analysis.unlearned.threshold, &retrained.threshold);
    let (gaps, outcome) = (analysis.gaps.clone(), analysis.outcome.clone());
    let (unlearned_phi, retrained_phi) = (&worlds.target_unlearned, &worlds.target_retrained);
    let target_states = &worlds.target_states;
    let select = |values: &[f64], state: UnlearningState| -> Vec<f64> {
        (0..values.len())
            .filter(|&i| target_states[i] == state)
            .map(|i| values[i])
            .collect()
    };
    let config = |curve: bool| RocConfig {
        fprs: settings.fprs.clone(),
        confidence: settings.confidence,
        convention: FprConvention::AtMost,
        bootstrap_replicates: 0,
        seed: settings.seed,
        curve,
    };
    let summary = |roc: &Roc, curve: bool| roc.summary(&config(curve)).map_err(failed);
    let attacks = vec![
        MiaPair {
            attack: "ulira".into(),
            description: "U-LiRA: per-point likelihood ratio of 'trained then unlearned' vs \
                          'never seen' shadow models (fixed variance)"
                .into(),
            unlearned: summary(ulira_u, true)?,
            retrained: summary(ulira_r, true)?,
            original: None,
        },
        MiaPair {
            attack: "population_phi".into(),
            description: "global threshold on the target's φ".into(),
            unlearned: summary(population_u, false)?,
            retrained: summary(population_r, false)?,
            original: None,
        },
    ];
    let forgotten = |values: &[f64]| select(values, UnlearningState::Unlearned);
    let mut histogram = super::runner::histogram(
        "unlearned points",
        &forgotten(unlearned_phi),
        &forgotten(retrained_phi),
        24,
    );
    histogram.score = "phi".into();
    Ok(MiaFinding {
        members: "unlearned points of the target world".into(),
        nonmembers: "held-out points".into(),
        family_confidence: settings.confidence,
        attacks,
        gaps,
        plotted_attack: "ulira".into(),
        score_histogram: histogram,
        margin: settings.margin,
        positive_control: None,
        outcome,
    })
}
