//! Shadow-model attacks from score matrices `[n_points, n_models]` with membership masks.
//!
//! * LiRA (Carlini et al. 2022): per-example Gaussian likelihood-ratio test, online (IN and
//!   OUT shadow models) or offline (OUT only), per-example or fixed variance.
//! * RMIA (Zarifzadeh, Liu, Shokri 2024): pairwise likelihood ratios against population points
//!   z, counted by binary search over the sorted z-ratios: O((n_x + n_z) log n_z) time and
//!   O(n_x + n_z) memory instead of the dense n_x × n_z matrix.
//! * U-LiRA (Hayes et al. 2024): the LiRA test between shadow models that trained on a point
//!   and then unlearned it, and shadow models that never saw it.
//!
//! Scores are oriented so that higher means member. Formulas, sources and the quirks of the
//! reference code: `docs/mia.md` §3; the npz layout: `docs/mia.md` §5.

use ndarray::ArrayView2;
use rayon::prelude::*;

use super::{MiaError, check_finite};

/// Guard added to every standard deviation, as in the LiRA reference code (`std + 1e-30`).
const STD_GUARD: f64 = 1e-30;
const HALF_LN_TWO_PI: f64 = 0.918_938_533_204_672_8;

/// Shadow-model scores `[n_points, n_models]` and whether each model trained on each point.
#[derive(Debug, Clone, Copy)]
pub struct ShadowMatrix<'a> {
    pub scores: ArrayView2<'a, f64>,
    pub membership: ArrayView2<'a, bool>,
}

impl ShadowMatrix<'_> {
    /// Checks shapes and finiteness; `name` prefixes the array names in messages.
    pub fn check(&self, name: &str) -> Result<(), MiaError> {
        if self.scores.dim() != self.membership.dim() {
            let (a, b) = self.scores.dim();
            let (c, d) = self.membership.dim();
            return Err(MiaError::ShapeMismatch {
                array: format!("{name} membership mask"),
                expected: vec![a, b],
                found: vec![c, d],
            });
        }
        if self.scores.is_empty() {
            return Err(MiaError::Empty {
                what: format!("{name} scores"),
            });
        }
        check_scores(&format!("{name} scores"), self.scores)
    }
}

fn check_scores(name: &str, scores: ArrayView2<'_, f64>) -> Result<(), MiaError> {
    match scores.as_slice() {
        Some(flat) => check_finite(name, flat),
        None => check_finite(name, &scores.iter().copied().collect::<Vec<_>>()),
    }
}

/// Which shadow models LiRA uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiraMode {
    /// IN and OUT models: score = ln N(φ; μ_in, σ_in²) − ln N(φ; μ_out, σ_out²).
    Online,
    /// OUT models only, with the chosen test.
    Offline(OfflineTest),
}

/// The offline test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfflineTest {
    /// The paper's one-sided test Pr[Z < φ], Z ~ N(μ_out, σ_out²). Reported as the standard
    /// score z = (φ − μ_out)/σ_out, which ranks identically and does not saturate.
    OneSided,
    /// The reference code's −ln N(φ; μ_out, σ_out²) (`plot.py: generate_ours_offline`).
    TwoSidedLogpdf,
}

/// How σ is estimated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiraVariance {
    /// One σ_in and one σ_out per point (population std, ddof 0, as the reference).
    PerExample,
    /// One σ_in and one σ_out for all points: the pooled within-point deviation from each
    /// point's mean.
    Fixed,
    /// The reference code's fixed variance: np.std over all IN scores of all points (and that
    /// same value for σ_out online; np.std over all OUT scores offline).
    FixedCarlini,
}

/// LiRA settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiraConfig {
    pub mode: LiraMode,
    pub variance: LiraVariance,
}

impl Default for LiraConfig {
    fn default() -> Self {
        LiraConfig {
            mode: LiraMode::Online,
            variance: LiraVariance::PerExample,
        }
    }
}

/// Median as numpy's (mean of the two middle values for an even count). Reorders `values`.
fn median(values: &mut [f64]) -> f64 {
    let n = values.len();
    let mid = n / 2;
    let (_, upper, _) = values.select_nth_unstable_by(mid, f64::total_cmp);
    let upper = *upper;
    if n % 2 == 1 {
        upper
    } else {
        let lower = values[..mid]
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        0.5 * (lower + upper)
    }
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

/// Population standard deviation (ddof 0).
fn std_dev(values: &[f64]) -> f64 {
    let m = mean(values);
    (values.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / values.len() as f64).sqrt()
}

fn log_normal_pdf(x: f64, mu: f64, sigma: f64) -> f64 {
    let z = (x - mu) / sigma;
    -0.5 * z * z - sigma.ln() - HALF_LN_TWO_PI
}

/// Per point: the IN and OUT score lists.
struct Groups {
    ins: Vec<f64>,
    outs: Vec<f64>,
}

fn gather(
    scores: ArrayView2<'_, f64>,
    point: usize,
    is_in: &dyn Fn(usize, usize) -> bool,
    is_out: &dyn Fn(usize, usize) -> bool,
    groups: &mut Groups,
) {
    groups.ins.clear();
    groups.outs.clear();
    for (m, &v) in scores.row(point).iter().enumerate() {
        if is_in(point, m) {
            groups.ins.push(v);
        } else if is_out(point, m) {
            groups.outs.push(v);
        }
    }
}

/// Pooled σ over all points: (within-point around each point's mean, reference-style around
/// the global mean).
fn pooled_sigmas(
    scores: ArrayView2<'_, f64>,
    select: &(dyn Fn(usize, usize) -> bool + Sync),
) -> (f64, f64) {
    let per_point: Vec<(f64, f64, f64, usize)> = (0..scores.nrows())
        .into_par_iter()
        .map(|i| {
            let values: Vec<f64> = scores
                .row(i)
                .iter()
                .enumerate()
                .filter(|&(m, _)| select(i, m))
                .map(|(_, &v)| v)
                .collect();
            if values.is_empty() {
                return (0.0, 0.0, 0.0, 0);
            }
            let m = mean(&values);
            let within: f64 = values.iter().map(|v| (v - m) * (v - m)).sum();
            let sum: f64 = values.iter().sum();
            let sum_squares: f64 = values.iter().map(|v| v * v).sum();
            (within, sum, sum_squares, values.len())
        })
        .collect();
    let (mut within, mut sum, mut count) = (0.0, 0.0, 0usize);
    for &(w, s, _, c) in &per_point {
        within += w;
        sum += s;
        count += c;
    }
    let count_f = count as f64;
    let global_mean = sum / count_f;
    // Second pass for the global deviation (numerically stable, fixed order).
    let global: f64 = (0..scores.nrows())
        .into_par_iter()
        .map(|i| {
            scores
                .row(i)
                .iter()
                .enumerate()
                .filter(|&(m, _)| select(i, m))
                .map(|(_, &v)| (v - global_mean) * (v - global_mean))
                .sum::<f64>()
        })
        .collect::<Vec<f64>>()
        .iter()
        .sum();
    ((within / count_f).sqrt(), (global / count_f).sqrt())
}

/// The Gaussian LRT shared by LiRA and U-LiRA.
fn gaussian_lrt(
    scores: ArrayView2<'_, f64>,
    target: &[f64],
    is_in: &(dyn Fn(usize, usize) -> bool + Sync),
    is_out: &(dyn Fn(usize, usize) -> bool + Sync),
    in_name: &'static str,
    out_name: &'static str,
    config: LiraConfig,
) -> Result<Vec<f64>, MiaError> {
    let n = scores.nrows();
    if target.len() != n {
        return Err(MiaError::ShapeMismatch {
            array: "target_scores".into(),
            expected: vec![n],
            found: vec![target.len()],
        });
    }
    check_finite("target_scores", target)?;
    let online = config.mode == LiraMode::Online;
    let needed = match config.variance {
        LiraVariance::PerExample => 2,
        _ => 1,
    };
    // Validate counts first so errors name the first bad point deterministically.
    for i in 0..n {
        let row = scores.row(i);
        let ins = (0..row.len()).filter(|&m| is_in(i, m)).count();
        let outs = (0..row.len()).filter(|&m| is_out(i, m)).count();
        if online && ins < needed {
            return Err(MiaError::TooFewModels {
                point: i,
                kind: in_name,
                found: ins,
                needed,
            });
        }
        if outs < needed {
            return Err(MiaError::TooFewModels {
                point: i,
                kind: out_name,
                found: outs,
                needed,
            });
        }
    }
    let (fixed_in, fixed_out) = match config.variance {
        LiraVariance::PerExample => (None, None),
        LiraVariance::Fixed => {
            let (sigma_in, _) = if online {
                pooled_sigmas(scores, is_in)
            } else {
                (0.0, 0.0)
            };
            let (sigma_out, _) = pooled_sigmas(scores, is_out);
            (Some(sigma_in), Some(sigma_out))
        }
        LiraVariance::FixedCarlini => {
            if online {
                // Quirk kept on purpose: the reference sets std_out = np.std(dat_in).
                let (_, sigma_in) = pooled_sigmas(scores, is_in);
                (Some(sigma_in), Some(sigma_in))
            } else {
                let (_, sigma_out) = pooled_sigmas(scores, is_out);
                (None, Some(sigma_out))
            }
        }
    };
    let result: Vec<f64> = (0..n)
        .into_par_iter()
        .map_init(
            || Groups {
                ins: Vec::new(),
                outs: Vec::new(),
            },
            |groups, i| {
                gather(scores, i, is_in, is_out, groups);
                let phi = target[i];
                let sigma_out = fixed_out.unwrap_or_else(|| std_dev(&groups.outs)) + STD_GUARD;
                let mu_out = median(&mut groups.outs);
                match config.mode {
                    LiraMode::Online => {
                        let sigma_in = fixed_in.unwrap_or_else(|| std_dev(&groups.ins)) + STD_GUARD;
                        let mu_in = median(&mut groups.ins);
                        log_normal_pdf(phi, mu_in, sigma_in)
                            - log_normal_pdf(phi, mu_out, sigma_out)
                    }
                    LiraMode::Offline(OfflineTest::OneSided) => (phi - mu_out) / sigma_out,
                    LiraMode::Offline(OfflineTest::TwoSidedLogpdf) => {
                        -log_normal_pdf(phi, mu_out, sigma_out)
                    }
                }
            },
        )
        .collect();
    check_finite("LiRA scores", &result)?;
    Ok(result)
}

/// LiRA scores of the target model's signal φ on every point (higher = member).
pub fn lira_scores(
    shadow: &ShadowMatrix<'_>,
    target: &[f64],
    config: LiraConfig,
) -> Result<Vec<f64>, MiaError> {
    shadow.check("shadow")?;
    let membership = shadow.membership;
    let is_in = |i: usize, m: usize| membership[[i, m]];
    let is_out = |i: usize, m: usize| !membership[[i, m]];
    gaussian_lrt(shadow.scores, target, &is_in, &is_out, "IN", "OUT", config)
}

/// A shadow model's relation to a point in U-LiRA (npz codes 0, 1, 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum UnlearningState {
    /// The model never trained on the point.
    HeldOut = 0,
    /// Trained on it and kept it (retain set).
    Retained = 1,
    /// Trained on it, then unlearned it (forget set).
    Unlearned = 2,
}

impl UnlearningState {
    /// Decodes an npz code; `None` outside 0..=2.
    pub fn from_code(code: i64) -> Option<Self> {
        match code {
            0 => Some(UnlearningState::HeldOut),
            1 => Some(UnlearningState::Retained),
            2 => Some(UnlearningState::Unlearned),
            _ => None,
        }
    }
}

/// U-LiRA scores: per point, the LiRA test of "trained then unlearned" (state 2) against
/// "never seen" (state 0) shadow models, applied to the target's φ (higher = not forgotten).
/// `variance` chooses per-example or fixed σ; the mode is always online.
pub fn ulira_scores(
    scores: ArrayView2<'_, f64>,
    states: ArrayView2<'_, UnlearningState>,
    target: &[f64],
    variance: LiraVariance,
) -> Result<Vec<f64>, MiaError> {
    if scores.dim() != states.dim() {
        let (a, b) = scores.dim();
        let (c, d) = states.dim();
        return Err(MiaError::ShapeMismatch {
            array: "shadow states".into(),
            expected: vec![a, b],
            found: vec![c, d],
        });
    }
    if scores.is_empty() {
        return Err(MiaError::Empty {
            what: "shadow scores".into(),
        });
    }
    check_scores("shadow scores", scores)?;
    let is_in = |i: usize, m: usize| states[[i, m]] == UnlearningState::Unlearned;
    let is_out = |i: usize, m: usize| states[[i, m]] == UnlearningState::HeldOut;
    gaussian_lrt(
        scores,
        target,
        &is_in,
        &is_out,
        "unlearned",
        "held-out",
        LiraConfig {
            mode: LiraMode::Online,
            variance,
        },
    )
}

/// RMIA inputs: probabilities of the true label, Pr(x|θ), for the target model and the
/// reference models, on the audited points x and the population points z.
#[derive(Debug, Clone, Copy)]
pub struct RmiaInput<'a> {
    /// Target model on x, `[n_x]`.
    pub target_x: &'a [f64],
    /// Reference models on x with membership, `[n_x, n_ref]`.
    pub reference_x: ShadowMatrix<'a>,
    /// Target model on z, `[n_z]`.
    pub target_z: &'a [f64],
    /// Reference models on z, `[n_z, n_ref]` (z is in no model's training set).
    pub reference_z: ArrayView2<'a, f64>,
}

/// RMIA settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RmiaConfig {
    /// Online: Pr(x) = ½(mean_IN + mean_OUT); offline: ((1+a)/2)·mean_OUT + (1−a)/2.
    pub online: bool,
    /// The offline coefficient a in [0, 1] (the RMIA paper's configs use 0.3).
    pub offline_a: f64,
    /// γ > 0: x beats z when LR(x, z) > γ (Privacy Meter uses 1, the paper's configs 2).
    pub gamma: f64,
}

impl Default for RmiaConfig {
    fn default() -> Self {
        RmiaConfig {
            online: false,
            offline_a: 0.3,
            gamma: 1.0,
        }
    }
}

fn check_probabilities(name: &str, values: &[f64]) -> Result<(), MiaError> {
    check_finite(name, values)?;
    match values.iter().position(|&p| !(0.0..=1.0).contains(&p)) {
        Some(index) => Err(MiaError::OutOfRange {
            array: name.to_string(),
            index,
            value: values[index],
            expected: "expected a probability in [0, 1] (RMIA takes Pr(x|θ), not logits)",
        }),
        None => Ok(()),
    }
}

/// Pr(point) from the reference models of one row.
fn marginal(
    row: ndarray::ArrayView1<'_, f64>,
    membership: Option<ndarray::ArrayView1<'_, bool>>,
    config: RmiaConfig,
) -> Option<f64> {
    let (mut sum_in, mut n_in, mut sum_out, mut n_out) = (0.0, 0usize, 0.0, 0usize);
    for (m, &p) in row.iter().enumerate() {
        if membership.is_some_and(|mask| mask[m]) {
            sum_in += p;
            n_in += 1;
        } else {
            sum_out += p;
            n_out += 1;
        }
    }
    if n_out == 0 {
        return None;
    }
    let mean_out = sum_out / n_out as f64;
    if config.online {
        if n_in > 0 {
            return Some(0.5 * (sum_in / n_in as f64 + mean_out));
        }
        if membership.is_none() {
            // Population points are in no reference model: Pr(z) is the plain mean.
            return Some(mean_out);
        }
    }
    Some((1.0 + config.offline_a) / 2.0 * mean_out + (1.0 - config.offline_a) / 2.0)
}

/// RMIA scores: for each x, the share of population points z with
/// [Pr(x|θ)/Pr(x)] / [Pr(z|θ)/Pr(z)] > γ. Sorting the z-ratios once makes each x a binary
/// search; division is monotone, so the count equals the dense formula's exactly.
pub fn rmia_scores(input: &RmiaInput<'_>, config: RmiaConfig) -> Result<Vec<f64>, MiaError> {
    if !(0.0..=1.0).contains(&config.offline_a) {
        return Err(MiaError::parameter("offline_a", "must be in [0, 1]"));
    }
    if !(config.gamma > 0.0 && config.gamma.is_finite()) {
        return Err(MiaError::parameter("gamma", "must be positive and finite"));
    }
    input.reference_x.check("reference")?;
    let (n_x, n_ref) = input.reference_x.scores.dim();
    if input.target_x.len() != n_x {
        return Err(MiaError::ShapeMismatch {
            array: "target_scores".into(),
            expected: vec![n_x],
            found: vec![input.target_x.len()],
        });
    }
    let (n_z, n_ref_z) = input.reference_z.dim();
    if n_z == 0 {
        return Err(MiaError::Empty {
            what: "population_target_scores".into(),
        });
    }
    if n_ref_z != n_ref || input.target_z.len() != n_z {
        return Err(MiaError::ShapeMismatch {
            array: "population_shadow_scores".into(),
            expected: vec![input.target_z.len(), n_ref],
            found: vec![n_z, n_ref_z],
        });
    }
    check_probabilities("target_scores", input.target_x)?;
    check_probabilities("population_target_scores", input.target_z)?;
    check_probabilities(
        "shadow_scores",
        &input.reference_x.scores.iter().copied().collect::<Vec<_>>(),
    )?;
    check_probabilities(
        "population_shadow_scores",
        &input.reference_z.iter().copied().collect::<Vec<_>>(),
    )?;
    let ratio = |p: f64, marginal: Option<f64>, point: usize, kind: &'static str| match marginal {
        Some(m) if m > 0.0 => Ok(p / m),
        Some(_) => Err(MiaError::OutOfRange {
            array: format!("{kind} reference scores"),
            index: point,
            value: 0.0,
            expected: "Pr(point) is 0 there: every reference probability is 0",
        }),
        None => Err(MiaError::TooFewModels {
            point,
            kind: "OUT",
            found: 0,
            needed: 1,
        }),
    };
    let mut ratios_z: Vec<f64> = (0..n_z)
        .into_par_iter()
        .map(|j| {
            ratio(
                input.target_z[j],
                marginal(input.reference_z.row(j), None, config),
                j,
                "population",
            )
        })
        .collect::<Result<_, _>>()?;
    ratios_z.par_sort_unstable_by(f64::total_cmp);
    let membership = input.reference_x.membership;
    let gamma = config.gamma;
    (0..n_x)
        .into_par_iter()
        .map(|i| {
            let ratio_x = ratio(
                input.target_x[i],
                marginal(
                    input.reference_x.scores.row(i),
                    Some(membership.row(i)),
                    config,
                ),
                i,
                "target",
            )?;
            let beaten = ratios_z.partition_point(|&ratio_z| ratio_x / ratio_z > gamma);
            Ok(beaten as f64 / n_z as f64)
        })
        .collect()
}

/// U-LiRA from repeated runs on one fixed forget set (`unlearn-audit sample --record
/// forget-scores`): `unlearned` `[n_u, d]` and `retrained` `[n_r, d]` hold φ of each run on
/// the d forget examples. Per forget example the unlearned runs are U-LiRA's "trained then
/// unlearned" population and the retrained runs its "never seen" one (`docs/mia.md` §3.4).
#[derive(Debug, Clone, Copy)]
pub struct RunsInput<'a> {
    pub unlearned: ArrayView2<'a, f64>,
    pub retrained: ArrayView2<'a, f64>,
    /// φ of the audited model on the d forget examples; `None` = the last `holdout`
    /// unlearned runs are the targets (and are not shadow models).
    pub target: Option<&'a [f64]>,
    /// Retrained runs (the last ones) held out as negatives; also the number of unlearned
    /// runs held out as targets when `target` is `None`.
    pub holdout: usize,
}

/// U-LiRA and population scores of the targets (positives) and of the held-out retrained runs
/// (negatives), every forget example of each run one score.
#[derive(Debug, Clone)]
pub struct RunsScores {
    pub ulira_positives: Vec<f64>,
    pub ulira_negatives: Vec<f64>,
    /// The raw φ (a population attack: one threshold for every example).
    pub phi_positives: Vec<f64>,
    pub phi_negatives: Vec<f64>,
    pub shadow_unlearned_runs: usize,
    pub shadow_retrained_runs: usize,
}

/// Scores of U-LiRA from runs (see [`RunsInput`]); errors on shape mismatches, non-finite
/// values, a `holdout` of 0 or one leaving too few shadow runs.
pub fn ulira_runs_scores(
    input: &RunsInput<'_>,
    variance: LiraVariance,
) -> Result<RunsScores, MiaError> {
    let (n_unlearned, d) = input.unlearned.dim();
    let (n_retrained, d_retrained) = input.retrained.dim();
    if d == 0 || n_unlearned == 0 || n_retrained == 0 {
        return Err(MiaError::Empty {
            what: "unlearned / retrained runs".into(),
        });
    }
    if d_retrained != d {
        return Err(MiaError::ShapeMismatch {
            array: "retrained runs".into(),
            expected: vec![n_retrained, d],
            found: vec![n_retrained, d_retrained],
        });
    }
    check_scores("unlearned runs", input.unlearned)?;
    check_scores("retrained runs", input.retrained)?;
    if let Some(target) = input.target {
        if target.len() != d {
            return Err(MiaError::ShapeMismatch {
                array: "target_scores".into(),
                expected: vec![d],
                found: vec![target.len()],
            });
        }
        check_finite("target_scores", target)?;
    }
    let holdout = input.holdout;
    let held_unlearned = if input.target.is_some() { 0 } else { holdout };
    if holdout == 0 || holdout >= n_retrained || held_unlearned >= n_unlearned {
        return Err(MiaError::parameter(
            "holdout",
            format!(
                "{holdout} held-out run(s) must be ≥ 1 and leave shadow runs on both sides \
                 ({n_unlearned} unlearned, {n_retrained} retrained runs)"
            ),
        ));
    }
    let shadow_unlearned = n_unlearned - held_unlearned;
    let shadow_retrained = n_retrained - holdout;
    let models = shadow_unlearned + shadow_retrained;
    let scores = ndarray::Array2::from_shape_fn((d, models), |(i, m)| {
        if m < shadow_unlearned {
            input.unlearned[[m, i]]
        } else {
            input.retrained[[m - shadow_unlearned, i]]
        }
    });
    let states = ndarray::Array2::from_shape_fn((d, models), |(_, m)| {
        if m < shadow_unlearned {
            UnlearningState::Unlearned
        } else {
            UnlearningState::HeldOut
        }
    });
    let score_run = |phi: &[f64]| ulira_scores(scores.view(), states.view(), phi, variance);
    let targets: Vec<Vec<f64>> = match input.target {
        Some(target) => vec![target.to_vec()],
        None => (shadow_unlearned..n_unlearned)
            .map(|t| input.unlearned.row(t).to_vec())
            .collect(),
    };
    let negatives: Vec<Vec<f64>> = (shadow_retrained..n_retrained)
        .map(|t| input.retrained.row(t).to_vec())
        .collect();
    let mut result = RunsScores {
        ulira_positives: Vec::new(),
        ulira_negatives: Vec::new(),
        phi_positives: targets.concat(),
        phi_negatives: negatives.concat(),
        shadow_unlearned_runs: shadow_unlearned,
        shadow_retrained_runs: shadow_retrained,
    };
    for phi in &targets {
        result.ulira_positives.extend(score_run(phi)?);
    }
    for phi in &negatives {
        result.ulira_negatives.extend(score_run(phi)?);
    }
    Ok(result)
}
