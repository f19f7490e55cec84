//! SalUn / Jia et al. "MIA-Efficacy" (compatibility mode `salun_mia_efficacy`).
//!
//! OPTML-Group/Unlearn-Sparse `evaluation/SVC_MIA.py` (identical in Unlearn-Saliency
//! `Classification/evaluation/SVC_MIA.py`), called from `main_forget.py` with
//! shadow_train = the *first* |D_t| retain examples (label 1), shadow_test = D_t (label 0),
//! target_test = D_f. For each of five features an RBF `SVC(C=3, gamma='auto')` is fitted and
//! MIA-Efficacy = 1 − mean(predict(D_f)) = share of D_f predicted non-member. The features are
//! the published code's, quirks included (its "modified entropy" is not Song & Mittal's).
//! Definition, quirks and parity: `docs/mia.md` §2.5.

use rayon::prelude::*;
use serde::Serialize;

use super::MiaError;
use super::population::{EvaluatedRate, SplitOutputs};
use super::roc::clopper_pearson;
use super::svm::{RbfSvc, SvcParams};

/// The five features of `SVC_MIA.py`, in its order (`SVC_MIA_forget_efficacy` keys).
pub const SALUN_FEATURES: [&str; 5] = ["correctness", "confidence", "entropy", "m_entropy", "prob"];

/// The entry the papers report (`SVC_MIA_forget_efficacy['confidence']`).
pub const SALUN_REPORTED_FEATURE: &str = "confidence";

/// One feature's MIA-Efficacy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SalunEntry {
    pub feature: &'static str,
    /// 1 − `evaluated.member_rate`: share of the target split predicted non-member.
    pub mia_efficacy: f64,
    /// The SVC's predictions on the target split (member = class 1 of the SVC).
    pub evaluated: EvaluatedRate,
    pub support_vectors: usize,
    pub solver_iterations: usize,
}

/// All five entries of `salun_mia_efficacy`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SalunMiaEfficacy {
    /// MIA-Efficacy of the `confidence` entry (the published number, ×100 in the papers).
    pub value: f64,
    pub reported_feature: &'static str,
    pub entries: Vec<SalunEntry>,
    /// Rows of the members split used as shadow_train: the first min(|members|, |non-members|).
    pub n_shadow_train: usize,
    pub n_shadow_test: usize,
    pub definition: &'static str,
    pub source: &'static str,
}

/// Softmax probabilities of every row (f64, through the log-sum-exp).
fn probabilities(split: &SplitOutputs<'_>) -> Vec<Vec<f64>> {
    split
        .logits
        .rows()
        .into_iter()
        .map(|row| {
            let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let log_normaliser = max + row.iter().map(|&z| (z - max).exp()).sum::<f64>().ln();
            row.iter().map(|&z| (z - log_normaliser).exp()).collect()
        })
        .collect()
}

/// The feature rows of one split for one feature of `SVC_MIA.py`, flattened, and their width.
fn feature_rows(
    feature: &str,
    probabilities: &[Vec<f64>],
    labels: &[usize],
    n_rows: usize,
) -> (Vec<f64>, usize) {
    let k = probabilities.first().map_or(0, Vec::len);
    let rows = &probabilities[..n_rows];
    let labels = &labels[..n_rows];
    match feature {
        // (argmax p == y) as 0/1; torch.argmax returns the first maximum.
        "correctness" => (
            rows.iter()
                .zip(labels)
                .map(|(p, &y)| {
                    let argmax = p
                        .iter()
                        .enumerate()
                        .fold((0, f64::NEG_INFINITY), |best, (j, &v)| {
                            if v > best.1 { (j, v) } else { best }
                        })
                        .0;
                    f64::from(u8::from(argmax == y))
                })
                .collect(),
            1,
        ),
        "confidence" => (rows.iter().zip(labels).map(|(p, &y)| p[y]).collect(), 1),
        "entropy" => (
            rows.iter()
                .map(|p| {
                    -p.iter()
                        .filter(|&&v| v > 0.0)
                        .map(|&v| v * v.ln())
                        .sum::<f64>()
                })
                .collect(),
            1,
        ),
        "m_entropy" => {
            // The code's quirk: `modified_probs[:, labels] = (1 − p)[:, labels]` replaces whole
            // *columns* — every class that occurs among the split's labels — and both log
            // terms are log p (log 1e-30 at p = 0). So the value is
            // −Σ_{j ∈ labels} (1 − p_j) ln p_j − Σ_{j ∉ labels} p_j ln p_j, the same for every
            // row whatever its own label.
            let mut present = vec![false; k];
            for &y in labels {
                present[y] = true;
            }
            let floor = 1e-30f64.ln();
            (
                rows.iter()
                    .map(|p| {
                        -p.iter()
                            .enumerate()
                            .map(|(j, &v)| {
                                let log_p = if v > 0.0 { v.ln() } else { floor };
                                if present[j] {
                                    (1.0 - v) * log_p
                                } else {
                                    v * log_p
                                }
                            })
                            .sum::<f64>()
                    })
                    .collect(),
                1,
            )
        }
        "prob" => (rows.iter().flatten().copied().collect(), k),
        other => unreachable!("unknown SalUn feature {other}"),
    }
}

/// MIA-Efficacy of SalUn / Jia et al.: `members` = retain (its first |non-members| rows are
/// shadow_train), `nonmembers` = test, `target` = forget. `confidence` is the level of the
/// Clopper–Pearson interval on each member rate.
pub fn salun_mia_efficacy<'a>(
    members: &SplitOutputs<'a>,
    nonmembers: &SplitOutputs<'a>,
    target: &SplitOutputs<'a>,
    confidence: f64,
) -> Result<SalunMiaEfficacy, MiaError> {
    let k = members.logits.ncols();
    for split in [nonmembers, target] {
        if split.logits.ncols() != k {
            return Err(MiaError::ShapeMismatch {
                array: split.name.clone(),
                expected: vec![split.labels.len(), k],
                found: vec![split.labels.len(), split.logits.ncols()],
            });
        }
    }
    let n_shadow_test = nonmembers.labels.len();
    let n_shadow_train = members.labels.len().min(n_shadow_test);
    let member_p = probabilities(members);
    let nonmember_p = probabilities(nonmembers);
    let target_p = probabilities(target);
    let entries: Vec<SalunEntry> = SALUN_FEATURES
        .par_iter()
        .map(|&feature| -> Result<SalunEntry, MiaError> {
            let (mut rows, dim) = feature_rows(feature, &member_p, &members.labels, n_shadow_train);
            let (test_rows, _) =
                feature_rows(feature, &nonmember_p, &nonmembers.labels, n_shadow_test);
            rows.extend(test_rows);
            let labels: Vec<bool> = std::iter::repeat_n(true, n_shadow_train)
                .chain(std::iter::repeat_n(false, n_shadow_test))
                .collect();
            let svc = RbfSvc::fit(&rows, dim, &labels, SvcParams::default())?;
            let (target_rows, _) =
                feature_rows(feature, &target_p, &target.labels, target.labels.len());
            let predicted = target_rows
                .chunks(dim)
                .filter(|row| svc.predict(row))
                .count();
            let n = target.labels.len();
            let member_rate = predicted as f64 / n as f64;
            Ok(SalunEntry {
                feature,
                mia_efficacy: 1.0 - member_rate,
                evaluated: EvaluatedRate {
                    split: target.name.clone(),
                    n,
                    predicted_members: predicted,
                    member_rate,
                    member_rate_ci: clopper_pearson(predicted as u64, n as u64, confidence)?,
                },
                support_vectors: svc.support_vector_count(),
                solver_iterations: svc.iterations,
            })
        })
        .collect::<Result<_, _>>()?;
    let value = entries
        .iter()
        .find(|e| e.feature == SALUN_REPORTED_FEATURE)
        .expect("confidence is one of the features")
        .mia_efficacy;
    Ok(SalunMiaEfficacy {
        value,
        reported_feature: SALUN_REPORTED_FEATURE,
        entries,
        n_shadow_train,
        n_shadow_test,
        definition: "share of the evaluated split predicted non-member (1 − mean predict) by \
                     an RBF SVC(C=3, gamma='auto') fitted on the first |non-members| members \
                     (label 1) vs the non-members (label 0); value = the confidence entry",
        source: "OPTML-Group/Unlearn-Sparse evaluation/SVC_MIA.py, main_forget.py \
                 (= Unlearn-Saliency Classification/evaluation/SVC_MIA.py)",
    })
}
