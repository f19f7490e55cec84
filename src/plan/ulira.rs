//! `[ulira]`: U-LiRA (Hayes et al. 2024, `docs/mia.md` §3.3) against an in-process mechanism.
//!
//! Glue, because the library has `mia::ulira_scores` (scores from a shadow matrix) but nothing
//! that *makes* the shadow matrix from a mechanism; this follows the construction of the mia
//! branch's acceptance test (`tests/mia_ulira_digits.rs`): each "world" trains on a random half
//! of the data, then unlearns a share of that half with the mechanism (and retrains without it,
//! the twin). `shadow_models` worlds give the shadow matrix of φ scores and states; one more
//! world is the target. The U-LiRA test and the plain population test on φ are run on the
//! target's unlearned model and on its retrained twin, and their AUC gaps compared with
//! paired DeLong intervals (`mia::compare_to_reference`).
//!
//! World `w` draws everything from `ChaCha8Rng::seed_from_u64(plan.seed)` with stream `w`;
//! worlds run in parallel and are collected in order, so the result does not depend on the
//! thread count.

use ndarray::{Array2, ArrayView2};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::PlanError;
use super::report::{MiaFinding, MiaPair};
use crate::mechanisms::{Mechanism, MechanismOptions, Split, build};
use crate::mia::roc::{FprConvention, Roc, RocConfig};
use crate::mia::shadow::{LiraVariance, UnlearningState, ulira_scores};
use crate::mia::signals::{ScaledLogit, Signal};
use crate::mia::unlearning::compare_to_reference;
use crate::models::Dataset;

/// Settings of one U-LiRA run.
pub(super) struct UliraSettings<'a> {
    pub name: &'a str,
    pub options: &'a MechanismOptions,
    pub shadow_models: usize,
    pub forget_share: f64,
    pub confidence: f64,
    pub fprs: Vec<f64>,
    pub seed: u64,
}

fn failed(message: impl std::fmt::Display) -> PlanError {
    PlanError::Analysis {
        analysis: "ulira",
        message: message.to_string(),
    }
}

/// φ (logit-scaled confidence) of every row under parameters trained with this feature scale.
fn phi(
    mechanism: &dyn Mechanism,
    params: &[f64],
    features: ArrayView2<'_, f64>,
    labels: &[usize],
    scale: f64,
) -> Vec<f64> {
    let scaled = features.mapv(|v| v / scale);
    let logits = mechanism.model().logits(params, scaled.view());
    logits
        .rows()
        .into_iter()
        .zip(labels)
        .map(|(row, &y)| ScaledLogit.value(&row.to_vec(), y))
        .collect()
}

type World = (Vec<UnlearningState>, Vec<f64>, Vec<f64>);

fn world(data: &Dataset, settings: &UliraSettings, stream: u64) -> Result<World, PlanError> {
    let n = data.len();
    let mut rng = ChaCha8Rng::seed_from_u64(settings.seed);
    rng.set_stream(stream);
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rng);
    let mut trained: Vec<usize> = order[..n / 2].to_vec();
    trained.sort_unstable();
    let forget_count = ((trained.len() as f64 * settings.forget_share) as usize).max(1);
    let mut positions: Vec<usize> = (0..trained.len()).collect();
    positions.shuffle(&mut rng);
    let forget_positions = &positions[..forget_count];
    let mut states = vec![UnlearningState::HeldOut; n];
    for &row in &trained {
        states[row] = UnlearningState::Retained;
    }
    for &p in forget_positions {
        states[trained[p]] = UnlearningState::Unlearned;
    }
    let split = Split::new(&data.select(&trained), forget_positions).map_err(failed)?;
    let scale = split.feature_scale;
    let mechanism = build(settings.name, split, settings.options).map_err(failed)?;
    let unlearned = mechanism.unlearn(&mut rng).map_err(failed)?;
    let retrained = mechanism.reference(&mut rng).map_err(failed)?;
    let features = data.features.view();
    let contiguous = |p: &ndarray::Array1<f64>| p.to_vec();
    Ok((
        states,
        phi(
            mechanism.as_ref(),
            &contiguous(&unlearned),
            features,
            &data.labels,
            scale,
        ),
        phi(
            mechanism.as_ref(),
            &contiguous(&retrained),
            features,
            &data.labels,
            scale,
        ),
    ))
}

/// Runs U-LiRA and the population test on φ, unlearned target vs its retrained twin.
pub(super) fn run_ulira(data: &Dataset, settings: &UliraSettings) -> Result<MiaFinding, PlanError> {
    let worlds: Vec<World> = (0..=settings.shadow_models as u64)
        .into_par_iter()
        .map(|stream| world(data, settings, stream))
        .collect::<Result<_, _>>()?;
    let n = data.len();
    let (target, shadows) = worlds.split_last().expect("at least one world");
    let mut states = Array2::from_elem((n, shadows.len()), UnlearningState::HeldOut);
    let mut scores = Array2::zeros((n, shadows.len()));
    for (m, (s, unlearned, _)) in shadows.iter().enumerate() {
        for i in 0..n {
            states[[i, m]] = s[i];
            scores[[i, m]] = unlearned[i];
        }
    }
    let (target_states, unlearned_phi, retrained_phi) = target;
    let select = |values: &[f64], state: UnlearningState| -> Vec<f64> {
        (0..n)
            .filter(|&i| target_states[i] == state)
            .map(|i| values[i])
            .collect()
    };
    let roc = |values: &[f64]| {
        Roc::new(
            &select(values, UnlearningState::Unlearned),
            &select(values, UnlearningState::HeldOut),
        )
        .map_err(failed)
    };
    let ulira = |target: &[f64]| -> Result<Roc, PlanError> {
        roc(
            &ulira_scores(scores.view(), states.view(), target, LiraVariance::Fixed)
                .map_err(failed)?,
        )
    };
    let (ulira_u, ulira_r) = (ulira(unlearned_phi)?, ulira(retrained_phi)?);
    let (population_u, population_r) = (roc(unlearned_phi)?, roc(retrained_phi)?);
    let (gaps, outcome) = compare_to_reference(
        [
            ("ulira", &ulira_u, &ulira_r),
            ("population_phi", &population_u, &population_r),
        ],
        settings.confidence,
    )
    .map_err(failed)?;
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
            unlearned: summary(&ulira_u, true)?,
            retrained: summary(&ulira_r, true)?,
        },
        MiaPair {
            attack: "population_phi".into(),
            description: "global threshold on the target's φ".into(),
            unlearned: summary(&population_u, false)?,
            retrained: summary(&population_r, false)?,
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
        outcome,
    })
}
