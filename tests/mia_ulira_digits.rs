//! U-LiRA acceptance on real models (issue 6): digits, softmax regression shadow models from
//! the project's own `mechanisms` (branch `mechanisms`), each trained on a random half and then
//! unlearned by fine-tuning (`finetune`, not certified). U-LiRA must flag the fine-tuned target
//! as distinguishable from its retrained twin, with a gap well above the population attack's on
//! the same φ (Hayes et al. 2024, `docs/mia.md` §3.3).

use ndarray::Array2;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use unlearn_audit::io::read_labelled_csv;
use unlearn_audit::mechanisms::{MechanismOptions, Split, build};
use unlearn_audit::mia::roc::Roc;
use unlearn_audit::mia::shadow::{LiraVariance, UnlearningState, ulira_scores};
use unlearn_audit::mia::unlearning::compare_to_reference;
use unlearn_audit::models::Dataset;
use unlearn_audit::sampling::{scaled_logit_scores, shadow_worlds};

const SHADOW_MODELS: usize = 32;
const FORGET_SHARE: f64 = 0.5;

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
    // Each world trains on a random half, then unlearns half of it by fine-tuning.
    let worlds = shadow_worlds(
        &data,
        "finetune",
        &options,
        SHADOW_MODELS,
        FORGET_SHARE,
        20261122,
    )
    .unwrap();
    let n = data.len();
    let (scores, states, target_states) = (&worlds.scores, &worlds.states, &worlds.target_states);
    let (unlearned_phi, retrained_phi) = (&worlds.target_unlearned, &worlds.target_retrained);
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

const TRIALS: usize = 48;
const HOLDOUT: usize = 12;

/// `finetune` on a random half of digits with a forget set of `forget_count` rows, 48 runs per
/// side: (U-LiRA-from-runs and φ-threshold AUC − ½ with Bonferroni DeLong intervals, the paired
/// population gap of each of the 12 held-out (unlearned, retrained) pairs).
fn sample_runs_experiment(
    lambda: f64,
    sigma: f64,
    forget_count: usize,
) -> (
    Vec<unlearn_audit::mia::AttackGap>,
    Vec<unlearn_audit::mia::AttackGap>,
) {
    use rand::seq::SliceRandom;
    use unlearn_audit::mia::shadow::{RunsInput, ulira_runs_scores};
    use unlearn_audit::mia::unlearning::compare_to_chance;
    use unlearn_audit::sampling::{NoProgress, Record, run_trials};

    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/mechanisms/digits.csv"
    );
    let table = read_labelled_csv(std::path::Path::new(path), "label").unwrap();
    let data = Dataset::new(table.features, table.labels, table.num_classes).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(20261122);
    let mut order: Vec<usize> = (0..data.len()).collect();
    order.shuffle(&mut rng);
    let (mut trained, mut unseen) = (
        order[..data.len() / 2].to_vec(),
        order[data.len() / 2..].to_vec(),
    );
    trained.sort_unstable();
    unseen.sort_unstable();
    let pool = data.select(&trained);
    let forget = Split::choose_forget_indices(pool.len(), forget_count, 7);
    let split = Split::new(&pool, &forget).unwrap();
    let scale = split.feature_scale;
    let options = MechanismOptions {
        lambda: Some(lambda),
        sigma: Some(sigma),
        ..MechanismOptions::default()
    };
    let mechanism = build("finetune", split, &options).unwrap();
    let samples = run_trials(mechanism.as_ref(), TRIALS, 11, Record::Weights, &NoProgress).unwrap();
    let forget_rows = pool.select(&forget);
    let unseen_rows = data.select(&unseen);
    let phi_of = |params: ndarray::ArrayView1<'_, f64>, rows: &Dataset| {
        scaled_logit_scores(
            mechanism.as_ref(),
            params.as_slice().unwrap(),
            rows.features.view(),
            &rows.labels,
            scale,
        )
    };
    let forget_phi = |runs: &Array2<f64>| -> Array2<f64> {
        let rows: Vec<Vec<f64>> = runs
            .rows()
            .into_iter()
            .map(|w| phi_of(w, &forget_rows))
            .collect();
        Array2::from_shape_fn((TRIALS, forget_count), |(t, i)| rows[t][i])
    };
    let (unlearned, retrained) = (
        forget_phi(&samples.unlearned),
        forget_phi(&samples.retrained),
    );
    let scores = ulira_runs_scores(
        &RunsInput {
            unlearned: unlearned.view(),
            retrained: retrained.view(),
            target: None,
            holdout: HOLDOUT,
        },
        LiraVariance::PerExample,
    )
    .unwrap();
    let ulira = Roc::new(&scores.ulira_positives, &scores.ulira_negatives).unwrap();
    let phi_threshold = Roc::new(&scores.phi_positives, &scores.phi_negatives).unwrap();
    let (chance_gaps, _) = compare_to_chance(
        [("ulira", &ulira), ("global_threshold", &phi_threshold)],
        0.95,
    )
    .unwrap();

    // The population audit of one unlearned model against one retrained model, for each of
    // the 12 held-out pairs: φ on the forget set vs the unseen half, paired DeLong gap.
    let population = |runs: &Array2<f64>, target: usize| {
        let members = phi_of(runs.row(target), &forget_rows);
        let nonmembers = phi_of(runs.row(target), &unseen_rows);
        Roc::new(&members, &nonmembers).unwrap()
    };
    let population_gaps: Vec<_> = (TRIALS - HOLDOUT..TRIALS)
        .map(|target| {
            let u = population(&samples.unlearned, target);
            let r = population(&samples.retrained, target);
            compare_to_reference([("population", &u, &r)], 0.95)
                .unwrap()
                .0
                .remove(0)
        })
        .collect();
    (chance_gaps, population_gaps)
}

/// Hayes et al.'s setting from `unlearn-audit sample`'s runs (issue 6): a small forget set
/// (10 examples) inside a random half of digits, `finetune` (λ = 1e-4, σ = 0.1), 48 runs per
/// side recorded as weights (what `sample --record weights` writes). U-LiRA from the runs
/// (`ulira_runs_scores`, the code behind `mia ulira --samples`, 36 shadow runs per side, 12
/// held out) flags the fine-tuned model where one φ threshold for all examples does not, and
/// where the paired population gap (forget vs the unseen half, one unlearned vs one retrained
/// model, as `mia --reference` computes it) contains 0 for 10 of the 12 held-out pairs. Deterministic (fixed seeds; rayon collects in order), so it
/// fails only on a real regression; ~10 s in release.
#[test]
fn ulira_from_sample_runs_flags_a_small_forget_set_that_population_attacks_miss() {
    let (chance_gaps, population_gaps) = sample_runs_experiment(1e-4, 0.1, 10);
    let flagged = population_gaps
        .iter()
        .filter(|g| g.indistinguishable == Some(false))
        .count();
    // Measured (docs/mia.md §3.4 has the whole search grid): U-LiRA AUC 0.669, AUC − ½ in
    // [0.091, 0.247]; the φ threshold 0.543, [−0.041, 0.127]; the paired population gap
    // interval contains 0 for 10 of the 12 held-out (unlearned, retrained) pairs.
    assert_eq!(
        chance_gaps[0].indistinguishable,
        Some(false),
        "{chance_gaps:?}"
    );
    assert_eq!(
        chance_gaps[1].indistinguishable,
        Some(true),
        "{chance_gaps:?}"
    );
    // The population gap averaged over the 12 pairs (0.024) is a seventh of U-LiRA's effect.
    let mean_population_gap =
        population_gaps.iter().map(|g| g.auc_gap).sum::<f64>() / population_gaps.len() as f64;
    assert!(
        chance_gaps[0].auc_gap > 5.0 * mean_population_gap.abs(),
        "{chance_gaps:?} vs {mean_population_gap}"
    );
    // With 10 members the paired DeLong interval is below its minimum sample size
    // (MIN_PAIRED_DELONG_PER_SIDE = 20, docs/mia.md §4.4): no pair is flagged, all are
    // Inconclusive; the intervals themselves still exclude 0 for 2 of the 12 pairs.
    assert_eq!(flagged, 0, "{population_gaps:?}");
    assert!(
        population_gaps
            .iter()
            .all(|g| g.indistinguishable.is_none())
    );
    let intervals_excluding_zero = population_gaps
        .iter()
        .filter(|g| g.auc_gap_ci.is_some_and(|ci| !ci.contains(0.0)))
        .count();
    assert_eq!(intervals_excluding_zero, 2, "{population_gaps:?}");
}

/// The search behind docs/mia.md §3.4 (run by hand: `cargo test --release --test
/// mia_ulira_digits -- --ignored --nocapture`, ~2 min): is there a setting where U-LiRA flags
/// and the paired population gap does not?
#[test]
#[ignore]
fn sample_runs_search_grid() {
    for forget_count in [2, 10, 50] {
        for (lambda, sigma) in [
            (1e-3, 0.1),
            (1e-4, 0.1),
            (1e-3, 1.0),
            (1e-2, 0.01),
            (1e-4, 0.03),
        ] {
            let (chance, population) = sample_runs_experiment(lambda, sigma, forget_count);
            let flagged = population
                .iter()
                .filter(|g| g.indistinguishable == Some(false))
                .count();
            let ci = |g: &unlearn_audit::mia::AttackGap| {
                g.auc_gap_ci
                    .map(|c| format!("[{:.3}, {:.3}]", c.lower, c.upper))
                    .unwrap_or_default()
            };
            let mean_gap =
                population.iter().map(|g| g.auc_gap).sum::<f64>() / population.len() as f64;
            println!(
                "| {forget_count} | {lambda:e}, {sigma} | {:.3} {} | {:.3} {} | {mean_gap:.3} | {flagged}/12 |",
                chance[0].unlearned_auc,
                ci(&chance[0]),
                chance[1].unlearned_auc,
                ci(&chance[1]),
            );
        }
    }
}
