//! U-LiRA acceptance on real models (issue 6): digits, softmax regression shadow models from
//! the project's own `mechanisms` (branch `mechanisms`), each trained on a random half and then
//! unlearned by fine-tuning (`finetune`, not certified). U-LiRA must flag the fine-tuned target
//! as distinguishable from its retrained twin, with a gap well above the population attack's on
//! the same φ (Hayes et al. 2024, `docs/mia.md` §3.3).

use ndarray::{Array2, ArrayView2};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use unlearn_audit::io::read_labelled_csv;
use unlearn_audit::mechanisms::{MechanismOptions, Split, build};
use unlearn_audit::mia::roc::Roc;
use unlearn_audit::mia::shadow::{LiraVariance, UnlearningState, ulira_scores};
use unlearn_audit::mia::signals::{ScaledLogit, Signal};
use unlearn_audit::mia::unlearning::compare_to_reference;
use unlearn_audit::models::Dataset;

const SHADOW_MODELS: usize = 32;
const FORGET_SHARE: f64 = 0.5;

/// φ of every row under parameters trained on a split with this feature scale.
fn phi(
    mechanism: &dyn unlearn_audit::mechanisms::Mechanism,
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

/// One "world": a random half trained on, a share of it unlearned by fine-tuning.
/// Returns (states, φ after unlearning, φ of the retrained twin).
fn world(
    data: &Dataset,
    options: &MechanismOptions,
    stream: u64,
) -> (Vec<UnlearningState>, Vec<f64>, Vec<f64>) {
    use rand::seq::SliceRandom;
    let n = data.len();
    let mut rng = ChaCha8Rng::seed_from_u64(20261122);
    rng.set_stream(stream);
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rng);
    let mut trained: Vec<usize> = order[..n / 2].to_vec();
    trained.sort_unstable();
    let forget_count = (trained.len() as f64 * FORGET_SHARE) as usize;
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
    let split = Split::new(&data.select(&trained), forget_positions).unwrap();
    let scale = split.feature_scale;
    let mechanism = build("finetune", split, options).unwrap();
    let unlearned = mechanism.unlearn(&mut rng).unwrap();
    let retrained = mechanism.reference(&mut rng).unwrap();
    let features = data.features.view();
    (
        states,
        phi(
            mechanism.as_ref(),
            unlearned.as_slice().unwrap(),
            features,
            &data.labels,
            scale,
        ),
        phi(
            mechanism.as_ref(),
            retrained.as_slice().unwrap(),
            features,
            &data.labels,
            scale,
        ),
    )
}

/// Deterministic (fixed seeds, rayon results collected in order): 33 worlds of a few convex
/// trainings each, about 2 s in release.
#[test]
fn ulira_flags_fine_tuning_on_digits() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/mechanisms/digits.csv"
    );
    let table = read_labelled_csv(std::path::Path::new(path), "label").unwrap();
    let data = Dataset::new(table.features, table.labels, table.num_classes).unwrap();
    let options = MechanismOptions {
        lambda: Some(1e-3),
        sigma: Some(0.1),
        ..MechanismOptions::default()
    };
    let worlds: Vec<_> = (0..=SHADOW_MODELS as u64)
        .into_par_iter()
        .map(|stream| world(&data, &options, stream))
        .collect();
    let n = data.len();
    let (target, shadows) = worlds.split_last().unwrap();
    let mut states = Array2::from_elem((n, SHADOW_MODELS), UnlearningState::HeldOut);
    let mut scores = Array2::zeros((n, SHADOW_MODELS));
    for (m, (s, unlearned, _)) in shadows.iter().enumerate() {
        for i in 0..n {
            states[[i, m]] = s[i];
            scores[[i, m]] = unlearned[i];
        }
    }
    let (target_states, unlearned_phi, retrained_phi) = target;
    let evaluated: Vec<usize> = (0..n)
        .filter(|&i| target_states[i] != UnlearningState::Retained)
        .collect();
    let roc = |scores: &[f64]| {
        let members: Vec<f64> = evaluated
            .iter()
            .filter(|&&i| target_states[i] == UnlearningState::Unlearned)
            .map(|&i| scores[i])
            .collect();
        let others: Vec<f64> = evaluated
            .iter()
            .filter(|&&i| target_states[i] == UnlearningState::HeldOut)
            .map(|&i| scores[i])
            .collect();
        Roc::new(&members, &others).unwrap()
    };
    let ulira = |target: &[f64]| {
        roc(&ulira_scores(scores.view(), states.view(), target, LiraVariance::Fixed).unwrap())
    };
    let (ulira_u, ulira_r) = (ulira(unlearned_phi), ulira(retrained_phi));
    let (population_u, population_r) = (roc(unlearned_phi), roc(retrained_phi));
    let (gaps, _) = compare_to_reference(
        [
            ("ulira", &ulira_u, &ulira_r),
            ("population", &population_u, &population_r),
        ],
        0.95,
    )
    .unwrap();
    // Measured (docs/mia.md §3.3): U-LiRA AUC 0.5545 vs 0.4811 retrained, gap CI [0.043, 0.104];
    // population 0.5248 vs 0.5047, gap CI [0.012, 0.028]. The paired population gap is small
    // but also significant here (see the grid in docs/mia.md §3.3), so the test asserts what
    // holds: U-LiRA flags the leak, with a gap several times the population attack's.
    assert_eq!(gaps[0].indistinguishable, Some(false), "{:?}", gaps[0]);
    assert!(gaps[0].auc_gap > 2.0 * gaps[1].auc_gap.abs(), "{gaps:?}");
    assert!(
        ulira_r.auc() < 0.52 && ulira_r.auc() > 0.44,
        "retrained U-LiRA AUC {}",
        ulira_r.auc()
    );
}
