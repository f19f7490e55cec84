//! Weight-space distances: verification error ‖θ_u − θ_r‖₂ and its baselines.
//! See `docs/metrics.md` §1.

use super::WEIGHT_CHUNK_ELEMENTS;
use super::norm::SumSquares;
use serde::Serialize;

/// Sums of squares for one tensor (or all tensors): additive, so chunks can be merged. Kept
/// as overflow-safe scaled sums ([`SumSquares`], Blue's algorithm), so weights of magnitude
/// 1e300 give their true distance, not `inf`. See `docs/metrics.md` §1 and §6.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct WeightSums {
    pub squared_unlearned_retrained: SumSquares,
    pub squared_original_retrained: SumSquares,
    pub squared_original_unlearned: SumSquares,
    pub squared_retrained: SumSquares,
    pub count: u64,
}

impl WeightSums {
    /// Adds one chunk of a tensor's flattened weights (the same positions of the three models).
    ///
    /// Sums in blocks of [`WEIGHT_CHUNK_ELEMENTS`], each block summed from zero and then added
    /// to the totals, so that chunking at that size and merging in order is bit-identical to a
    /// single call.
    ///
    /// # Panics
    /// If the three slices differ in length: the caller checks tensor shapes first (a mismatch
    /// is an input error it reports with the tensor name).
    pub fn accumulate(&mut self, original: &[f64], unlearned: &[f64], retrained: &[f64]) {
        assert!(
            original.len() == unlearned.len() && unlearned.len() == retrained.len(),
            "WeightSums::accumulate: slices differ in length ({}, {}, {})",
            original.len(),
            unlearned.len(),
            retrained.len()
        );
        let blocks = original
            .chunks(WEIGHT_CHUNK_ELEMENTS)
            .zip(unlearned.chunks(WEIGHT_CHUNK_ELEMENTS))
            .zip(retrained.chunks(WEIGHT_CHUNK_ELEMENTS));
        for ((o, u), r) in blocks {
            let mut block = WeightSums::default();
            for ((&o, &u), &r) in o.iter().zip(u).zip(r) {
                // A difference of finite weights that overflows (|u − r| > f64::MAX) makes the
                // norm infinite: the caller reports it as unrepresentable.
                block.squared_unlearned_retrained.add(u - r);
                block.squared_original_retrained.add(o - r);
                block.squared_original_unlearned.add(o - u);
                block.squared_retrained.add(r);
            }
            block.count = o.len() as u64;
            self.merge(&block);
        }
    }

    /// Adds another chunk's sums (merge chunks in order for reproducible results).
    pub fn merge(&mut self, other: &WeightSums) {
        self.squared_unlearned_retrained
            .merge(&other.squared_unlearned_retrained);
        self.squared_original_retrained
            .merge(&other.squared_original_retrained);
        self.squared_original_unlearned
            .merge(&other.squared_original_unlearned);
        self.squared_retrained.merge(&other.squared_retrained);
        self.count += other.count;
    }
}

/// Distances of one tensor. See `docs/metrics.md` §1.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TensorDistances {
    pub name: String,
    pub shape: Vec<usize>,
    pub parameter_count: u64,
    /// ‖θ_u − θ_r‖₂ restricted to this tensor.
    pub verification_error: f64,
    /// ‖θ_o − θ_r‖₂ restricted to this tensor.
    pub original_to_retrained: f64,
    /// ‖θ_o − θ_u‖₂ restricted to this tensor.
    pub original_to_unlearned: f64,
    /// ‖θ_r‖₂ restricted to this tensor.
    pub retrained_norm: f64,
    /// `verification_error / retrained_norm`; `null` when the norm is zero.
    pub verification_error_relative: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification_error_relative_reason: Option<String>,
}

/// Finished weight-space distances; serialises to the `weights` JSON object.
/// See `docs/metrics.md` §1.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WeightDistances {
    /// Verification error ‖θ_u − θ_r‖₂ over all tensors (Thudi et al. 2022).
    pub verification_error: f64,
    /// Baseline ‖θ_o − θ_r‖₂: what "no unlearning at all" scores.
    pub original_to_retrained: f64,
    /// ‖θ_o − θ_u‖₂: how far unlearning moved the weights.
    pub original_to_unlearned: f64,
    pub verification_error_relative: Option<f64>,
    pub original_to_retrained_relative: Option<f64>,
    pub original_to_unlearned_relative: Option<f64>,
    /// Why the relative distances are `null` (‖θ_r‖₂ = 0), absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relative_reason: Option<String>,
    /// ‖θ_r‖₂, the denominator of the relative distances.
    pub retrained_norm: f64,
    pub parameter_count: u64,
    /// One entry per tensor, in tensor-name order.
    pub per_tensor: Vec<TensorDistances>,
}

const ZERO_NORM_REASON: &str = "the retrained weights have zero norm";

const OVERFLOW_REASON: &str = "the ratio to the retrained norm exceeds the largest f64";

fn relative(value: f64, norm: f64) -> Option<f64> {
    (norm > 0.0).then(|| value / norm).filter(|v| v.is_finite())
}

fn relative_reason(values: &[f64], norm: f64) -> Option<String> {
    if norm <= 0.0 {
        Some(ZERO_NORM_REASON.to_string())
    } else if values.iter().any(|v| relative(*v, norm).is_none()) {
        Some(OVERFLOW_REASON.to_string())
    } else {
        None
    }
}

/// Finishes per-tensor sums into distances. Tensors are put in name order (byte order of the
/// names) and the totals are summed in that order, so the result does not depend on the order
/// the caller read them in. See `docs/metrics.md` §1.
pub fn weight_distances(mut per_tensor: Vec<(String, Vec<usize>, WeightSums)>) -> WeightDistances {
    per_tensor.sort_by(|a, b| a.0.cmp(&b.0));
    let mut total = WeightSums::default();
    let tensors = per_tensor
        .into_iter()
        .map(|(name, shape, sums)| {
            total.merge(&sums);
            let verification_error = sums.squared_unlearned_retrained.norm();
            let retrained_norm = sums.squared_retrained.norm();
            let relative_value = relative(verification_error, retrained_norm);
            TensorDistances {
                name,
                shape,
                parameter_count: sums.count,
                verification_error,
                original_to_retrained: sums.squared_original_retrained.norm(),
                original_to_unlearned: sums.squared_original_unlearned.norm(),
                retrained_norm,
                verification_error_relative: relative_value,
                verification_error_relative_reason: relative_reason(
                    &[verification_error],
                    retrained_norm,
                ),
            }
        })
        .collect();
    let verification_error = total.squared_unlearned_retrained.norm();
    let original_to_retrained = total.squared_original_retrained.norm();
    let original_to_unlearned = total.squared_original_unlearned.norm();
    let retrained_norm = total.squared_retrained.norm();
    WeightDistances {
        verification_error,
        original_to_retrained,
        original_to_unlearned,
        verification_error_relative: relative(verification_error, retrained_norm),
        original_to_retrained_relative: relative(original_to_retrained, retrained_norm),
        original_to_unlearned_relative: relative(original_to_unlearned, retrained_norm),
        relative_reason: relative_reason(
            &[
                verification_error,
                original_to_retrained,
                original_to_unlearned,
            ],
            retrained_norm,
        ),
        retrained_norm,
        parameter_count: total.count,
        per_tensor: tensors,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verification_error_known_answer_m1() {
        // references §4 M1: θ_u = (1,2,2), θ_r = (0,0,0) → 3.
        let mut sums = WeightSums::default();
        sums.accumulate(&[1.0, 2.0, 2.0], &[1.0, 2.0, 2.0], &[0.0, 0.0, 0.0]);
        let distances = weight_distances(vec![("w".into(), vec![3], sums)]);
        assert_eq!(distances.verification_error, 3.0);
        assert_eq!(distances.original_to_unlearned, 0.0);
        assert_eq!(distances.verification_error_relative, None);
        assert!(distances.relative_reason.is_some());
    }

    #[test]
    fn tensors_are_sorted_by_name() {
        let mut a = WeightSums::default();
        a.accumulate(&[0.0], &[3.0], &[0.0]);
        let mut b = WeightSums::default();
        b.accumulate(&[0.0], &[0.0], &[4.0]);
        let distances = weight_distances(vec![
            ("layer2.weight".into(), vec![1], b),
            ("layer1.weight".into(), vec![1], a),
        ]);
        assert_eq!(distances.per_tensor[0].name, "layer1.weight");
        assert_eq!(distances.verification_error, 5.0);
        assert_eq!(distances.verification_error_relative, Some(5.0 / 4.0));
        assert_eq!(distances.parameter_count, 2);
    }
}
