//! Population attacks on one model: members vs non-members, one attacker for all examples.
//!
//! * threshold attacks on each signal (the ROC sweeps every threshold);
//! * class-conditional thresholds τ_y (Song & Mittal 2021), fitted on a held-out part;
//! * a logistic-regression attack on all five signals, fitted on a held-out part;
//! * compatibility modes reproducing published unlearning MIAs (`docs/mia.md` §2.4).
//!
//! The held-out part is a seeded random share of members and of non-members (ChaCha8 streams
//! 0 and 1 of the seed); the fitted attacks are scored on the rest only.

use ndarray::ArrayView2;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::MiaError;
use super::logistic::{self, LogisticParams};
use super::roc::{Interval, Roc, RocConfig, RocSummary, clopper_pearson};
use super::signals::{self, ALL_SIGNALS, Confidence, Entropy, Loss, ModifiedEntropy, Signal};

/// The outputs of one model on one split, with validated labels.
#[derive(Debug, Clone)]
pub struct SplitOutputs<'a> {
    /// Split name (for messages and reports).
    pub name: String,
    /// Logits `[n, k]`.
    pub logits: ArrayView2<'a, f64>,
    /// Class index per row.
    pub labels: Vec<usize>,
}

impl<'a> SplitOutputs<'a> {
    /// Validates shapes, finiteness and label range.
    pub fn new(
        name: impl Into<String>,
        logits: ArrayView2<'a, f64>,
        labels: Vec<usize>,
    ) -> Result<Self, MiaError> {
        let name = name.into();
        if logits.nrows() == 0 {
            return Err(MiaError::Empty { what: name });
        }
        signals::validate_logits(&name, logits, &labels)?;
        if let Some(index) = labels.iter().position(|&l| l >= logits.ncols()) {
            return Err(MiaError::LabelOutOfRange {
                array: format!("labels of {name}"),
                index,
                label: labels[index] as i64,
                n_classes: logits.ncols(),
            });
        }
        Ok(SplitOutputs {
            name,
            logits,
            labels,
        })
    }

    fn len(&self) -> usize {
        self.labels.len()
    }

    fn scores(&self, signal: &dyn Signal) -> Vec<f64> {
        signals::signal_scores(signal, self.logits, &self.labels)
    }
}

/// Settings of the population attacks.
#[derive(Debug, Clone, PartialEq)]
pub struct PopulationConfig {
    pub roc: RocConfig,
    /// Seed of the held-out split and of the compatibility modes' sub-sampling.
    pub seed: u64,
    /// Share of members and of non-members used to fit the fitted attacks, in (0, 1).
    pub fit_fraction: f64,
}

impl Default for PopulationConfig {
    fn default() -> Self {
        PopulationConfig {
            roc: RocConfig::default(),
            seed: 0,
            fit_fraction: 0.5,
        }
    }
}

/// Share of an evaluated split that an attack calls "member".
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvaluatedRate {
    pub split: String,
    pub n: usize,
    pub predicted_members: usize,
    pub member_rate: f64,
    pub member_rate_ci: Interval,
}

/// One attack's result: the ROC (kept for paired comparisons) and its summary.
#[derive(Debug, Clone)]
pub struct AttackOutcome {
    pub name: String,
    /// One line: what the attack is.
    pub description: &'static str,
    pub roc: Roc,
    pub summary: RocSummary,
    pub evaluated: Option<EvaluatedRate>,
}

/// A published unlearning MIA reproduced under its own name, as the single number it reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Compatibility {
    pub name: String,
    pub value: f64,
    /// What `value` is (e.g. "mean cross-validated accuracy").
    pub definition: &'static str,
    /// The value a model that leaks nothing gets; `null` when only the retrained model's own
    /// value can serve as the reference.
    pub ideal: Option<f64>,
    pub n_members: usize,
    pub n_nonmembers: usize,
    pub source: &'static str,
}

/// Seeded Fisher–Yates permutation of 0..n.
pub(crate) fn permutation(n: usize, seed: u64, stream: u64) -> Vec<usize> {
    use rand::RngExt;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = rng.random_range(0..=i);
        order.swap(i, j);
    }
    order
}

/// Indices (fit, evaluate) of a seeded split.
fn split_indices(n: usize, fraction: f64, seed: u64, stream: u64) -> (Vec<usize>, Vec<usize>) {
    let order = permutation(n, seed, stream);
    let fit = ((n as f64 * fraction).round() as usize).clamp(1, n - 1);
    let (a, b) = order.split_at(fit);
    let (mut a, mut b) = (a.to_vec(), b.to_vec());
    // Sorted indices keep examples in input order, so paired comparisons line up.
    a.sort_unstable();
    b.sort_unstable();
    (a, b)
}

fn pick(values: &[f64], indices: &[usize]) -> Vec<f64> {
    indices.iter().map(|&i| values[i]).collect()
}

fn evaluated_rate(
    split: &str,
    predictions: impl Iterator<Item = bool>,
    confidence: f64,
) -> Result<EvaluatedRate, MiaError> {
    let (mut n, mut members) = (0usize, 0usize);
    for p in predictions {
        n += 1;
        members += p as usize;
    }
    Ok(EvaluatedRate {
        split: split.to_string(),
        n,
        predicted_members: members,
        member_rate: members as f64 / n as f64,
        member_rate_ci: clopper_pearson(members as u64, n as u64, confidence)?,
    })
}

/// Threshold τ maximising balanced accuracy ½(TPR + TNR) of "member iff score ≥ τ".
fn balanced_accuracy_threshold(members: &[f64], nonmembers: &[f64]) -> Result<f64, MiaError> {
    Ok(Roc::new(members, nonmembers)?.best_advantage_point().0)
}

/// Runs every population attack. Members and non-members need at least two examples each
/// (the fitted attacks split them).
pub fn population_attacks<'a>(
    members: &SplitOutputs<'a>,
    nonmembers: &SplitOutputs<'a>,
    evaluate: Option<&SplitOutputs<'a>>,
    config: &PopulationConfig,
) -> Result<Vec<AttackOutcome>, MiaError> {
    config.roc.check()?;
    if !(config.fit_fraction > 0.0 && config.fit_fraction < 1.0) {
        return Err(MiaError::parameter("fit_fraction", "must be in (0, 1)"));
    }
    let k = members.logits.ncols();
    for split in [Some(nonmembers), evaluate].into_iter().flatten() {
        if split.logits.ncols() != k {
            return Err(MiaError::ShapeMismatch {
                array: split.name.clone(),
                expected: vec![split.len(), k],
                found: vec![split.len(), split.logits.ncols()],
            });
        }
    }
    for split in [members, nonmembers] {
        if split.len() < 2 {
            return Err(MiaError::parameter(
                "members/nonmembers",
                format!(
                    "split `{}` has {} example(s), at least 2 needed",
                    split.name,
                    split.len()
                ),
            ));
        }
    }
    let confidence = config.roc.confidence;
    let member_scores: Vec<Vec<f64>> = ALL_SIGNALS.iter().map(|s| members.scores(*s)).collect();
    let nonmember_scores: Vec<Vec<f64>> =
        ALL_SIGNALS.iter().map(|s| nonmembers.scores(*s)).collect();
    let evaluate_scores: Option<Vec<Vec<f64>>> =
        evaluate.map(|e| ALL_SIGNALS.iter().map(|s| e.scores(*s)).collect());

    let mut outcomes = Vec::new();
    // 1. Global threshold attacks on each signal.
    for (s, signal) in ALL_SIGNALS.iter().enumerate() {
        let roc = Roc::new(&member_scores[s], &nonmember_scores[s])?;
        let summary = roc.summary(&config.roc)?;
        let evaluated = match (evaluate, &evaluate_scores) {
            (Some(split), Some(scores)) => Some(evaluated_rate(
                &split.name,
                scores[s].iter().map(|&v| v >= summary.decision_threshold),
                confidence,
            )?),
            _ => None,
        };
        outcomes.push(AttackOutcome {
            name: signal.name().to_string(),
            description: "global threshold on the signal (every threshold swept)",
            roc,
            summary,
            evaluated,
        });
    }

    // 2. Fitted attacks: fit on a held-out share, score the rest.
    let (member_fit, member_eval) =
        split_indices(members.len(), config.fit_fraction, config.seed, 0);
    let (nonmember_fit, nonmember_eval) =
        split_indices(nonmembers.len(), config.fit_fraction, config.seed, 1);
    let class_signals: [(&dyn Signal, usize, &str); 3] = [
        (&Confidence, 1, "class_threshold_confidence"),
        (&Entropy, 2, "class_threshold_entropy"),
        (&ModifiedEntropy, 3, "class_threshold_modified_entropy"),
    ];
    for (signal, s, name) in class_signals {
        debug_assert_eq!(ALL_SIGNALS[s].name(), signal.name());
        let fit_m = pick(&member_scores[s], &member_fit);
        let fit_n = pick(&nonmember_scores[s], &nonmember_fit);
        let global = balanced_accuracy_threshold(&fit_m, &fit_n)?;
        let thresholds: Vec<f64> = (0..k)
            .map(|class| {
                let m: Vec<f64> = member_fit
                    .iter()
                    .filter(|&&i| members.labels[i] == class)
                    .map(|&i| member_scores[s][i])
                    .collect();
                let n: Vec<f64> = nonmember_fit
                    .iter()
                    .filter(|&&i| nonmembers.labels[i] == class)
                    .map(|&i| nonmember_scores[s][i])
                    .collect();
                // A class absent from one side of the fitting data falls back to τ_global.
                if m.is_empty() || n.is_empty() {
                    Ok(global)
                } else {
                    balanced_accuracy_threshold(&m, &n)
                }
            })
            .collect::<Result<_, MiaError>>()?;
        let calibrated = |split: &SplitOutputs<'_>, scores: &[f64], i: usize| {
            scores[i] - thresholds[split.labels[i]]
        };
        let eval_m: Vec<f64> = member_eval
            .iter()
            .map(|&i| calibrated(members, &member_scores[s], i))
            .collect();
        let eval_n: Vec<f64> = nonmember_eval
            .iter()
            .map(|&i| calibrated(nonmembers, &nonmember_scores[s], i))
            .collect();
        let roc = Roc::new(&eval_m, &eval_n)?;
        let summary = roc.summary(&config.roc)?;
        let evaluated = match (evaluate, &evaluate_scores) {
            (Some(split), Some(scores)) => Some(evaluated_rate(
                &split.name,
                (0..split.len()).map(|i| calibrated(split, &scores[s], i) >= 0.0),
                confidence,
            )?),
            _ => None,
        };
        outcomes.push(AttackOutcome {
            name: name.to_string(),
            description: "per-class threshold τ_y maximising balanced accuracy on the held-out \
                          part; score = signal − τ_y (Song & Mittal 2021)",
            roc,
            summary,
            evaluated,
        });
    }

    let dim = ALL_SIGNALS.len();
    let rows = |scores: &[Vec<f64>], indices: &[usize]| -> Vec<f64> {
        indices
            .iter()
            .flat_map(|&i| scores.iter().map(move |column| column[i]))
            .collect()
    };
    let mut fit_rows = rows(&member_scores, &member_fit);
    fit_rows.extend(rows(&nonmember_scores, &nonmember_fit));
    let fit_labels: Vec<bool> = std::iter::repeat_n(true, member_fit.len())
        .chain(std::iter::repeat_n(false, nonmember_fit.len()))
        .collect();
    let model = logistic::fit(&fit_rows, dim, &fit_labels, LogisticParams::default())?;
    let decide = |scores: &[Vec<f64>], indices: &[usize]| -> Vec<f64> {
        rows(scores, indices)
            .chunks(dim)
            .map(|r| model.decision(r))
            .collect()
    };
    let roc = Roc::new(
        &decide(&member_scores, &member_eval),
        &decide(&nonmember_scores, &nonmember_eval),
    )?;
    let summary = roc.summary(&config.roc)?;
    let evaluated = match (evaluate, &evaluate_scores) {
        (Some(split), Some(scores)) => {
            let all: Vec<usize> = (0..split.len()).collect();
            Some(evaluated_rate(
                &split.name,
                decide(scores, &all).into_iter().map(|d| d > 0.0),
                confidence,
            )?)
        }
        _ => None,
    };
    outcomes.push(AttackOutcome {
        name: "logistic_regression".to_string(),
        description: "logistic regression on the five signals, fitted on the held-out part",
        roc,
        summary,
        evaluated,
    });
    Ok(outcomes)
}

/// The published unlearning MIAs that report one number. `members` is the forget set (or
/// retain set, for the SSD mode) and `nonmembers` the test set, as in each source.
pub fn compatibility_modes(
    members: &SplitOutputs<'_>,
    nonmembers: &SplitOutputs<'_>,
    evaluate: Option<&SplitOutputs<'_>>,
    seed: u64,
) -> Result<Vec<Compatibility>, MiaError> {
    let member_loss: Vec<f64> = signals::signal_scores(&Loss, members.logits, &members.labels)
        .into_iter()
        .map(|s| -s)
        .collect();
    let nonmember_loss: Vec<f64> =
        signals::signal_scores(&Loss, nonmembers.logits, &nonmembers.labels)
            .into_iter()
            .map(|s| -s)
            .collect();
    let mut modes = vec![
        Compatibility {
            name: "neurips23_simple_mia".into(),
            value: cross_validated_lr_accuracy(&member_loss, &nonmember_loss, 10, seed, None)?,
            definition: "mean accuracy of logistic regression on the loss over 10 stratified \
                         shuffle splits (test 10 %), larger side sub-sampled to balance",
            ideal: Some(0.5),
            n_members: member_loss.len(),
            n_nonmembers: nonmember_loss.len(),
            source: "unlearning-challenge/starting-kit functions/tools.py: simple_mia",
        },
        Compatibility {
            name: "scrub_lr_loss".into(),
            value: cross_validated_lr_accuracy(
                &member_loss,
                &nonmember_loss,
                5,
                seed,
                Some(100.0),
            )?,
            definition: "mean accuracy of logistic regression on the loss clipped to \
                         [-100, 100] over 5 stratified shuffle splits (test 10 %), balanced",
            ideal: Some(0.5),
            n_members: member_loss.len(),
            n_nonmembers: nonmember_loss.len(),
            source: "meghdadk/SCRUB MIA_experiments.ipynb",
        },
    ];
    if let Some(target) = evaluate {
        let entropy = |split: &SplitOutputs<'_>| -> Vec<f64> {
            signals::signal_scores(&Entropy, split.logits, &split.labels)
                .into_iter()
                .map(|s| -s)
                .collect()
        };
        let (m, n, t) = (entropy(members), entropy(nonmembers), entropy(target));
        let mut rows = m.clone();
        rows.extend(&n);
        let labels: Vec<bool> = std::iter::repeat_n(true, m.len())
            .chain(std::iter::repeat_n(false, n.len()))
            .collect();
        let model = logistic::fit(
            &rows,
            1,
            &labels,
            LogisticParams {
                inverse_regularisation: 1.0,
                standardise: false,
                balanced: true,
            },
        )?;
        let predicted = t.iter().filter(|&&e| model.predict(&[e])).count();
        modes.push(Compatibility {
            name: "ssd_entropy_lr".into(),
            value: predicted as f64 / t.len() as f64,
            definition: "share of the evaluated split predicted member by a class-balanced \
                         logistic regression on entropy fitted on members vs non-members",
            ideal: None,
            n_members: m.len(),
            n_nonmembers: n.len(),
            source: "vikram2000b/bad-teaching-unlearning get_membership_attack_prob \
                     (SSD's LogisticRegression variant)",
        });
    }
    Ok(modes)
}

/// Mean held-out accuracy of a 1-feature logistic regression (C = 1, not standardised, as
/// scikit-learn's default) over `splits` stratified shuffle splits with 10 % test data, after
/// sub-sampling the larger side to the size of the smaller.
fn cross_validated_lr_accuracy(
    members: &[f64],
    nonmembers: &[f64],
    splits: usize,
    seed: u64,
    clip: Option<f64>,
) -> Result<f64, MiaError> {
    let size = members.len().min(nonmembers.len());
    if size < 10 {
        return Err(MiaError::parameter(
            "members/nonmembers",
            format!("the cross-validated modes need at least 10 examples per side, got {size}"),
        ));
    }
    let clip = |v: f64| clip.map_or(v, |c| v.clamp(-c, c));
    let subsample = |values: &[f64], stream: u64| -> Vec<f64> {
        let order = permutation(values.len(), seed, stream);
        order[..size].iter().map(|&i| clip(values[i])).collect()
    };
    let (m, n) = (subsample(members, 2), subsample(nonmembers, 3));
    let test_per_class = (size as f64 * 0.1).ceil() as usize;
    let mut total = 0.0;
    for split in 0..splits {
        let order_m = permutation(size, seed, 100 + 2 * split as u64);
        let order_n = permutation(size, seed, 101 + 2 * split as u64);
        let mut rows = Vec::new();
        let mut labels = Vec::new();
        for &i in &order_m[test_per_class..] {
            rows.push(m[i]);
            labels.push(true);
        }
        for &i in &order_n[test_per_class..] {
            rows.push(n[i]);
            labels.push(false);
        }
        let model = logistic::fit(
            &rows,
            1,
            &labels,
            LogisticParams {
                inverse_regularisation: 1.0,
                standardise: false,
                balanced: false,
            },
        )?;
        let correct = order_m[..test_per_class]
            .iter()
            .filter(|&&i| model.predict(&[m[i]]))
            .count()
            + order_n[..test_per_class]
                .iter()
                .filter(|&&i| !model.predict(&[n[i]]))
                .count();
        total += correct as f64 / (2 * test_per_class) as f64;
    }
    Ok(total / splits as f64)
}
