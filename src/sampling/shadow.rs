//! U-LiRA shadow worlds from an in-process mechanism (Hayes et al. 2024, `docs/mia.md` §3.3).
//!
//! Builds what [`crate::mia::shadow::ulira_scores`] consumes: each "world" trains on a random
//! half of the data, then unlearns a share of that half with the mechanism (and retrains without
//! it, the twin); every row's φ (logit-scaled confidence) is recorded under both models.
//!
//! Reproducibility: world `w` draws all of its randomness (the half, the forget share, the
//! mechanism's runs) from `ChaCha8Rng::seed_from_u64(seed)` with `set_stream(w)`; worlds run in
//! parallel and are collected in order, so the result does not depend on the thread count.

use ndarray::{Array2, ArrayView2};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::mechanisms::{Mechanism, MechanismError, MechanismOptions, Split, build};
use crate::mia::shadow::UnlearningState;
use crate::mia::signals::{ScaledLogit, Signal};
use crate::models::Dataset;

/// φ (logit-scaled confidence, [`ScaledLogit`]) of every row under `params`, which the
/// mechanism trained on features divided by `feature_scale` (the split's scale).
pub fn scaled_logit_scores(
    mechanism: &dyn Mechanism,
    params: &[f64],
    features: ArrayView2<'_, f64>,
    labels: &[usize],
    feature_scale: f64,
) -> Vec<f64> {
    let scaled = features.mapv(|v| v / feature_scale);
    let logits = mechanism.model().logits(params, scaled.view());
    logits
        .rows()
        .into_iter()
        .zip(labels)
        .map(|(row, &y)| ScaledLogit.value(&row.to_vec(), y))
        .collect()
}

/// One world: each row's state and its φ under the unlearned model and the retrained twin.
struct World {
    states: Vec<UnlearningState>,
    unlearned_phi: Vec<f64>,
    retrained_phi: Vec<f64>,
}

/// The shadow worlds and the target world of a U-LiRA experiment.
#[derive(Debug, Clone)]
pub struct ShadowWorlds {
    /// `[n_points, n_shadows]`: state of each row in each shadow world.
    pub states: Array2<UnlearningState>,
    /// `[n_points, n_shadows]`: φ of each row under each shadow world's unlearned model.
    pub scores: Array2<f64>,
    /// State of each row in the target world.
    pub target_states: Vec<UnlearningState>,
    /// φ of each row under the target world's unlearned model.
    pub target_unlearned: Vec<f64>,
    /// φ of each row under the target world's retrained twin.
    pub target_retrained: Vec<f64>,
}

fn world(
    data: &Dataset,
    mechanism_name: &str,
    options: &MechanismOptions,
    forget_share: f64,
    seed: u64,
    stream: u64,
) -> Result<World, MechanismError> {
    let n = data.len();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rng);
    let mut trained: Vec<usize> = order[..n / 2].to_vec();
    trained.sort_unstable();
    let forget_count = ((trained.len() as f64 * forget_share) as usize).max(1);
    // Positions (within the trained half) of the forget rows.
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
    let split = Split::new(&data.select(&trained), forget_positions)?;
    let scale = split.feature_scale;
    let mechanism = build(mechanism_name, split, options)?;
    let unlearned = mechanism.unlearn(&mut rng)?;
    let retrained = mechanism.reference(&mut rng)?;
    let features = data.features.view();
    let phi = |params: &ndarray::Array1<f64>| {
        scaled_logit_scores(
            mechanism.as_ref(),
            &params.to_vec(),
            features,
            &data.labels,
            scale,
        )
    };
    Ok(World {
        states,
        unlearned_phi: phi(&unlearned),
        retrained_phi: phi(&retrained),
    })
}

/// Runs `shadow_models + 1` worlds of the mechanism `mechanism_name` on `data`: world `w`
/// (stream `w` of `seed`) trains on a random half, unlearns `forget_share` of it (at least one
/// row) and retrains without it. Worlds `0..shadow_models` give the shadow matrices, the last
/// world is the target. See the module docs and `docs/mia.md` §3.3.
pub fn shadow_worlds(
    data: &Dataset,
    mechanism_name: &str,
    options: &MechanismOptions,
    shadow_models: usize,
    forget_share: f64,
    seed: u64,
) -> Result<ShadowWorlds, MechanismError> {
    let mut worlds: Vec<World> = (0..=shadow_models as u64)
        .into_par_iter()
        .map(|stream| world(data, mechanism_name, options, forget_share, seed, stream))
        .collect::<Result<_, _>>()?;
    let n = data.len();
    let target = worlds.pop().expect("shadow_models + 1 ≥ 1 worlds");
    let shadows = worlds;
    let mut states = Array2::from_elem((n, shadows.len()), UnlearningState::HeldOut);
    let mut scores = Array2::zeros((n, shadows.len()));
    for (m, shadow) in shadows.iter().enumerate() {
        for i in 0..n {
            states[[i, m]] = shadow.states[i];
            scores[[i, m]] = shadow.unlearned_phi[i];
        }
    }
    Ok(ShadowWorlds {
        states,
        scores,
        target_states: target.states,
        target_unlearned: target.unlearned_phi,
        target_retrained: target.retrained_phi,
    })
}
