//! The rules engine: turns the typed findings of a plan's analyses into one outcome per
//! `[[rule]]` and the plan's verdict (`docs/verdicts.md`). Pure: no I/O, no randomness.
//! `plan::run_plan` dispatches the analyses and hands their findings here.

use crate::audit::EpsilonAudit;
use crate::certify::Certificate;
use crate::metrics::compare::{CompareFinding, Movement};
use crate::plan::{
    Bound, Check, MechanismRun, Metric, MiaFinding, Plan, Rule, RuleResult, SanityOrdering,
};
use crate::report::{Finding, Outcome, fmt_down, fmt_number, fmt_up};

/// Evaluates every rule of `plan` on the findings and combines their outcomes into the
/// plan's verdict: no rule is inconclusive (nothing decides), else `Outcome::combine`.
pub fn evaluate_rules(plan: &Plan, findings: &Findings) -> (Vec<RuleResult>, Outcome) {
    let rules: Vec<RuleResult> = plan
        .rules
        .iter()
        .map(|rule| evaluate(rule, plan, findings))
        .collect();
    let verdict = if rules.is_empty() {
        Outcome::Inconclusive {
            reason: "the plan has no [[rule]]: nothing decides pass or fail".into(),
        }
    } else {
        match Outcome::combine(rules.iter().map(|r| &r.outcome)) {
            // A pass needs evidence of the property: a plan whose every rule could only fail to
            // refute the claim has shown nothing (docs/verdicts.md §Plans).
            Outcome::Pass if plan.rules.iter().all(refutation_only) => Outcome::Inconclusive {
                reason: "every rule only failed to refute the claim (an ε lower bound can \
                         refute a claim, never establish it): add a rule that shows the \
                         property, e.g. certificate_covers_claim, mia_indistinguishable with \
                         an original, or a distance rule with a second retraining"
                    .into(),
            },
            outcome => outcome,
        }
    };
    (rules, verdict)
}

/// Rules whose pass means only "not refuted": `claim_not_violated`, an `at_most` bound on the
/// ε lower bound, and a bound on TOFU's forget quality (a p-value). They can fail a plan,
/// never pass it alone.
fn refutation_only(rule: &Rule) -> bool {
    matches!(
        rule,
        Rule::Check(Check::ClaimNotViolated)
            | Rule::Threshold {
                metric: Metric::EpsilonLowerBound,
                bound: Bound::AtMost(_),
            }
            // TOFU's forget quality is a KS p-value: a large one only fails to reject "same
            // distribution", it never shows it (docs/llm.md).
            | Rule::Threshold {
                metric: Metric::ForgetQuality,
                ..
            }
    )
}

/// The value of a metric, or why it is undefined.
fn metric_value(
    metric: &Metric,
    comparison: Option<&CompareFinding>,
    mia: Option<&MiaFinding>,
    certificate: Option<&Certificate>,
    epsilon: Option<&EpsilonAudit>,
) -> Result<f64, String> {
    let split_metrics = |split: &str| {
        let comparison = comparison.ok_or("[compare] did not run")?;
        comparison.outputs.get(split).ok_or_else(|| {
            format!(
                "no split `{split}` in the outputs ({})",
                comparison.outputs_reason.clone().unwrap_or_else(|| format!(
                    "splits: {:?}",
                    comparison.outputs.keys().collect::<Vec<_>>()
                ))
            )
        })
    };
    let defined = |value: Option<f64>, reason: Option<&String>, what: &str| {
        value.ok_or_else(|| {
            reason
                .cloned()
                .unwrap_or_else(|| format!("{what} is undefined"))
        })
    };
    match metric {
        Metric::VerificationError | Metric::VerificationErrorRelative => {
            let comparison = comparison.ok_or("[compare] did not run")?;
            let weights = comparison.weights.as_ref().ok_or_else(|| {
                comparison
                    .weights_reason
                    .clone()
                    .unwrap_or_else(|| "no weights in the bundles".into())
            })?;
            if *metric == Metric::VerificationError {
                Ok(weights.verification_error)
            } else {
                defined(
                    weights.verification_error_relative,
                    weights.relative_reason.as_ref(),
                    "verification_error_relative",
                )
            }
        }
        Metric::Kl(split) => {
            let m = split_metrics(split)?;
            defined(
                m.kl_retrained_unlearned,
                m.kl_retrained_unlearned_reason.as_ref(),
                "KL(P_r‖P_u)",
            )
        }
        Metric::Js(split) => {
            let m = split_metrics(split)?;
            defined(m.js, m.reason.as_ref(), "JS")
        }
        Metric::ActivationDistance(split) => {
            let m = split_metrics(split)?;
            defined(
                m.activation_distance,
                m.reason.as_ref(),
                "activation distance",
            )
        }
        Metric::AccuracyGap(split) => {
            let m = split_metrics(split)?;
            match (m.accuracy.unlearned, m.accuracy.retrained) {
                (Some(u), Some(r)) => Ok((u - r).abs()),
                _ => Err(m
                    .accuracy
                    .reason
                    .clone()
                    .unwrap_or_else(|| "accuracy needs evidence.labels".into())),
            }
        }
        // Read from the [forget_quality] finding in `evaluate`.
        Metric::ForgetQuality => Err("[forget_quality] did not run".into()),
        Metric::FractionMoved(inner) => {
            let comparison = comparison.ok_or("[compare] did not run")?;
            let d_u = metric_value(inner, Some(comparison), None, None, None)?;
            let sides = distance_sides(inner, comparison)
                .ok_or_else(|| format!("{} is not a distance", inner.name()))?;
            crate::metrics::compare::fraction_moved(Some(d_u), sides.raw[1])
        }
        Metric::MiaMaxAucGap => {
            let mia = mia.ok_or("[mia] did not run")?;
            mia.gaps
                .iter()
                .map(|g| g.auc_gap.abs())
                .reduce(f64::max)
                .ok_or_else(|| "no attack ran".to_string())
        }
        Metric::EpsilonLowerBound => {
            let epsilon = epsilon.ok_or("[epsilon] did not run")?;
            if epsilon.epsilon_lower_bound.is_finite() {
                Ok(epsilon.epsilon_lower_bound)
            } else {
                Err(format!(
                    "the ε lower bound is {}",
                    epsilon.epsilon_lower_bound
                ))
            }
        }
        Metric::CertificateEpsilon => {
            let certificate = certificate.ok_or("[certify] did not run")?;
            match certificate.epsilon {
                Some(epsilon) if epsilon.is_finite() => Ok(epsilon),
                other => Err(format!(
                    "the certificate's ε is {}",
                    other.map_or("undefined".to_string(), |e| e.to_string())
                )),
            }
        }
    }
}

/// What the analyses produced, for the rules.
pub struct Findings<'a> {
    pub comparison: Option<&'a CompareFinding>,
    pub ordering: Option<&'a SanityOrdering>,
    pub mia: Option<&'a MiaFinding>,
    pub ulira: Option<&'a MiaFinding>,
    pub certificate: Option<&'a Certificate>,
    pub epsilon: Option<&'a EpsilonAudit>,
    pub mechanism: Option<&'a MechanismRun>,
    pub llm_mia: Option<&'a crate::plan::llm::LlmMiaFinding>,
    pub forget_quality: Option<&'a crate::plan::llm::ForgetQualityFinding>,
}

fn evaluate(rule: &Rule, plan: &Plan, f: &Findings) -> RuleResult {
    let description = rule.describe();
    match rule {
        Rule::Threshold { metric, bound } => {
            let computed = match metric {
                Metric::ForgetQuality => match f.forget_quality {
                    None => Err("[forget_quality] did not run".to_string()),
                    Some(fq) => fq
                        .finding
                        .forget_quality
                        .ok_or_else(|| fq.finding.ks.reason.clone().unwrap_or_default()),
                },
                _ => metric_value(metric, f.comparison, f.mia, f.certificate, f.epsilon),
            };
            let (value, value_reason, outcome) = match computed {
                Err(reason) => (
                    None,
                    Some(reason.clone()),
                    Outcome::Inconclusive {
                        reason: format!("{}: cannot be computed: {reason}", metric.name()),
                    },
                ),
                Ok(value) => {
                    let holds = match bound {
                        Bound::AtMost(x) => value <= *x,
                        Bound::AtLeast(x) => value >= *x,
                    };
                    let outcome = if holds {
                        Outcome::Pass
                    } else {
                        Outcome::Fail {
                            reason: format!(
                                "{} = {} violates {description}",
                                metric.name(),
                                against(*bound, value)
                            ),
                        }
                    };
                    // Distance rules are judged against the original and the noise floor;
                    // the MIA gap and the ε bound against their own controls.
                    let outcome = match f.comparison {
                        Some(c) => distance_rule_outcome(metric, *bound, c, outcome),
                        None => outcome,
                    };
                    let outcome = match (metric, f.mia, f.epsilon) {
                        (Metric::MiaMaxAucGap, Some(mia), _) => mia_gap_rule_outcome(mia, *bound),
                        (Metric::EpsilonLowerBound, _, Some(audit)) => {
                            epsilon_bound_rule_outcome(audit, *bound, outcome)
                        }
                        _ => outcome,
                    };
                    (Some(value), None, outcome)
                }
            };
            RuleResult {
                rule: description,
                metric: Some(metric.name()),
                check: None,
                value,
                value_reason,
                threshold: Some(*bound),
                outcome,
            }
        }
        Rule::Check(check) => {
            let (value, outcome) = evaluate_check(*check, plan, f);
            RuleResult {
                rule: description,
                metric: None,
                check: Some(check.name().to_string()),
                value,
                value_reason: None,
                threshold: None,
                outcome,
            }
        }
    }
}

fn evaluate_check(check: Check, plan: &Plan, f: &Findings) -> (Option<f64>, Outcome) {
    let (ordering, mia, certificate, epsilon, mechanism) =
        (f.ordering, f.mia, f.certificate, f.epsilon, f.mechanism);
    let inconclusive = |reason: String| (None, Outcome::Inconclusive { reason });
    match check {
        Check::MiaIndistinguishable => match mia {
            Some(mia) => (None, mia.outcome.clone()),
            None => inconclusive("[mia] did not run".into()),
        },
        Check::LlmMiaIndistinguishable => match f.llm_mia {
            Some(llm) => (
                llm.mia
                    .gaps
                    .iter()
                    .map(|g| g.auc_gap.abs())
                    .reduce(f64::max),
                llm.mia.outcome.clone(),
            ),
            None => inconclusive("[llm_mia] did not run".into()),
        },
        Check::UliraIndistinguishable => match f.ulira {
            Some(ulira) => (ulira.gaps.first().map(|g| g.auc_gap), ulira.outcome.clone()),
            None => inconclusive("[ulira] did not run".into()),
        },
        Check::ClaimNotViolated => match epsilon {
            Some(audit) => {
                let value = Some(audit.epsilon_lower_bound).filter(|v| v.is_finite());
                match audit.outcome() {
                    // A bound with no verdict cannot pass a rule.
                    Outcome::Info => inconclusive("the ε audit gave no verdict".into()),
                    outcome => (value, outcome),
                }
            }
            None => inconclusive("[epsilon] did not run".into()),
        },
        Check::CertificateCoversClaim => {
            let Some(claim) = plan.claim.as_ref() else {
                return inconclusive("needs a [claim]".into());
            };
            // The [certify] certificate when there is one, else the mechanism's own; its status
            // decides first (`Certificate::covers`, docs/verdicts.md §Certificates and claims).
            // A [certify] block describes a mechanism on paper; when the plan also runs a
            // mechanism, that mechanism's own certificate must cover the claim too, so a
            // certificate on paper can never mask a faulty or uncertified implementation.
            if let (Some(_), Some(m)) = (certificate, mechanism) {
                match m.certificate.covers(claim) {
                    Outcome::Pass => {}
                    Outcome::Fail { reason } => {
                        return (
                            m.certificate.epsilon.filter(|e| e.is_finite()),
                            Outcome::Fail {
                                reason: format!(
                                    "mechanism `{}` (which the plan runs): {reason}; the \
                                     [certify] certificate cannot stand in for it",
                                    m.name
                                ),
                            },
                        );
                    }
                    Outcome::Inconclusive { reason } => {
                        return inconclusive(format!(
                            "mechanism `{}` (which the plan runs): {reason}; the [certify] \
                             certificate cannot stand in for it",
                            m.name
                        ));
                    }
                    Outcome::Info => {
                        return inconclusive(format!(
                            "mechanism `{}` (which the plan runs) has no verdict on the claim",
                            m.name
                        ));
                    }
                }
            }
            let certificate = match (certificate, mechanism) {
                (Some(c), _) => c,
                (None, Some(m)) => &m.certificate,
                (None, None) => return inconclusive("no certificate was computed".into()),
            };
            let value = certificate.epsilon.filter(|e| e.is_finite());
            let outcome = match (certificate.covers(claim), mechanism) {
                (Outcome::Inconclusive { reason }, Some(m))
                    if std::ptr::eq(certificate, &m.certificate) =>
                {
                    Outcome::Inconclusive {
                        reason: format!("mechanism `{}`: {reason}", m.name),
                    }
                }
                (Outcome::Fail { reason }, Some(m))
                    if std::ptr::eq(certificate, &m.certificate) =>
                {
                    Outcome::Fail {
                        reason: format!("mechanism `{}`: {reason}", m.name),
                    }
                }
                (outcome, _) => outcome,
            };
            (value, outcome)
        }
        Check::UnlearnedCloserThanOriginal => {
            let Some(row) = ordering.and_then(|o| {
                o.rows
                    .iter()
                    .find(|r| r.distance == "verification_error")
                    .or_else(|| o.rows.iter().find(|r| r.distance == "js.forget"))
            }) else {
                return inconclusive(
                    "neither weights nor a `forget` output split to order the distances".into(),
                );
            };
            let value = row.unlearned_to_retrained;
            let text = |v: Option<f64>| v.map_or("undefined".to_string(), fmt_number);
            let (u, o, again) = (
                text(row.unlearned_to_retrained),
                text(row.original_to_retrained),
                text(row.retrained_again_to_retrained),
            );
            let d = &row.distance;
            match row.movement {
                Movement::Closer => (value, Outcome::Pass),
                Movement::Farther => (
                    value,
                    Outcome::Fail {
                        reason: format!(
                            "{d}: d(u, r) = {u} exceeds d(o, r) = {o} by more than the noise \
                             floor d(r, r′) = {again}: unlearning moved the model away from \
                             retraining"
                        ),
                    },
                ),
                Movement::WithinNoiseFloor => (
                    value,
                    Outcome::Inconclusive {
                        reason: format!(
                            "{d}: d(u, r) = {u} and d(o, r) = {o} differ by less than the noise \
                             floor d(r, r′) = {again}: two retrainings differ as much, so the \
                             distances cannot tell whether unlearning moved the model"
                        ),
                    },
                ),
                Movement::NoNoiseEstimate => (
                    value,
                    Outcome::Inconclusive {
                        reason: format!(
                            "{d}: d(u, r) = {u}, d(o, r) = {o}, but {}",
                            crate::metrics::compare::NO_NOISE_FLOOR
                        ),
                    },
                ),
                Movement::Undefined => inconclusive(format!("{d}: a distance is undefined")),
            }
        }
    }
}

/// The three sides of a distance metric: the unlearned model's value, the original model's
/// value (what doing nothing scores) and the noise floor's value (a second retraining), plus
/// the movement of the underlying distance. `None` for metrics that are not distances.
struct DistanceSides {
    original: Option<f64>,
    floor: Option<f64>,
    movement: Movement,
    /// d(u, r), d(o, r), d(r, r′) of the underlying distance, for the reasons.
    raw: [Option<f64>; 3],
}

fn distance_sides(metric: &Metric, c: &CompareFinding) -> Option<DistanceSides> {
    let floor = c.noise_floor.as_ref();
    let raw: [Option<f64>; 3] = match metric {
        Metric::VerificationError | Metric::VerificationErrorRelative => {
            let w = c.weights.as_ref()?;
            let fw = floor.and_then(|f| f.weights.as_ref());
            if *metric == Metric::VerificationError {
                [
                    Some(w.verification_error),
                    Some(w.original_to_retrained),
                    fw.map(|f| f.verification_error),
                ]
            } else {
                [
                    w.verification_error_relative,
                    w.original_to_retrained_relative,
                    fw.and_then(|f| f.verification_error_relative),
                ]
            }
        }
        Metric::Kl(split) | Metric::Js(split) | Metric::ActivationDistance(split) => {
            let m = c.outputs.get(split)?;
            let o = &m.original_vs_retrained;
            let f = floor.and_then(|f| f.outputs.get(split));
            match metric {
                Metric::Kl(_) => [
                    m.kl_retrained_unlearned,
                    o.kl_retrained_original,
                    f.and_then(|f| f.kl_retrained_unlearned),
                ],
                Metric::Js(_) => [m.js, o.js, f.and_then(|f| f.js)],
                _ => [
                    m.activation_distance,
                    o.activation_distance,
                    f.and_then(|f| f.activation_distance),
                ],
            }
        }
        Metric::AccuracyGap(split) => {
            let m = c.outputs.get(split)?;
            let a = &m.accuracy;
            let gap = |x: Option<f64>| x.zip(a.retrained).map(|(x, r)| (x - r).abs());
            [
                gap(a.unlearned),
                gap(a.original),
                floor
                    .and_then(|f| f.outputs.get(split))
                    .and_then(|f| f.accuracy_gap),
            ]
        }
        Metric::FractionMoved(inner) => {
            let sides = distance_sides(inner, c)?;
            let [u, o, f] = sides.raw;
            let fraction = |d: Option<f64>| crate::metrics::compare::fraction_moved(d, o).ok();
            return Some(DistanceSides {
                // doing nothing moves by 0; a second retraining by 1 − d(r, r′)/d(o, r)
                original: Some(0.0),
                floor: fraction(f),
                movement: Movement::judge(u, o, f),
                raw: [u, o, f],
            });
        }
        _ => return None,
    };
    Some(DistanceSides {
        original: raw[1],
        floor: raw[2],
        movement: Movement::judge(raw[0], raw[1], raw[2]),
        raw,
    })
}

/// Judges a threshold rule on a distance metric against its controls
/// (`docs/verdicts.md` §Distances and the noise floor):
/// * a pass stands only if the original model fails the same bound (otherwise doing nothing
///   would pass) **and** the underlying distance moved toward retraining by more than the noise
///   floor (d(o, r) − d(u, r) > d(r, r′)); without a noise floor it is inconclusive;
/// * a fail stands unless the noise floor itself fails the bound (a second retraining would
///   fail it too: the threshold is below the noise), which is inconclusive.
///
/// So a model that unlearned nothing (u = o) can never pass a distance rule.
fn distance_rule_outcome(
    metric: &Metric,
    bound: Bound,
    comparison: &CompareFinding,
    outcome: Outcome,
) -> Outcome {
    let Some(sides) = distance_sides(metric, comparison) else {
        return outcome;
    };
    let holds = |v: f64| match bound {
        Bound::AtMost(x) => v <= x,
        Bound::AtLeast(x) => v >= x,
    };
    let name = metric.name();
    let text = |v: Option<f64>| v.map_or("undefined".to_string(), fmt_number);
    let [u, o, f] = sides.raw;
    match outcome {
        Outcome::Fail { reason } => match sides.floor {
            Some(floor) if !holds(floor) => Outcome::Inconclusive {
                reason: format!(
                    "{reason}, but the noise floor (a second retraining) scores {} and \
                     fails the same bound: the threshold is below the noise between two \
                     retrainings",
                    against(bound, floor)
                ),
            },
            Some(floor) => Outcome::Fail {
                reason: format!(
                    "{reason}, whereas a second retraining (the noise floor) scores {} and \
                     meets it",
                    against(bound, floor)
                ),
            },
            None => Outcome::Fail { reason },
        },
        Outcome::Pass => {
            if sides.original.is_none_or(holds) {
                return Outcome::Inconclusive {
                    reason: format!(
                        "{name}: the original model, which unlearned nothing, scores {} and \
                         satisfies the same bound: the rule cannot tell unlearning from doing \
                         nothing",
                        sides
                            .original
                            .map_or("undefined".to_string(), |v| against(bound, v))
                    ),
                };
            }
            match sides.movement {
                Movement::Closer => Outcome::Pass,
                Movement::NoNoiseEstimate => Outcome::Inconclusive {
                    reason: format!("{name}: {}", crate::metrics::compare::NO_NOISE_FLOOR),
                },
                _ => Outcome::Inconclusive {
                    reason: format!(
                        "{name}: d(u, r) = {} and d(o, r) = {} differ by no more than the noise \
                         floor d(r, r′) = {}: the improvement is within the noise between two \
                         retrainings",
                        text(u),
                        text(o),
                        text(f)
                    ),
                },
            }
        }
        other => other,
    }
}

/// `mia.max_auc_gap` against a threshold t is the equivalence test of
/// `mia_indistinguishable` with margin t, judged on the gap *intervals*, never on the point
/// gaps alone, and only for attacks that have power on the original (docs/verdicts.md
/// §Membership inference): pass when some attack has power and every attack with power has its
/// whole gap interval within ±t; fail when some gap interval lies entirely beyond ±t;
/// inconclusive otherwise. An `at_least` rule on the gap is a claim of leakage: it passes only
/// when some gap interval lies entirely beyond ±t.
fn mia_gap_rule_outcome(mia: &MiaFinding, bound: Bound) -> Outcome {
    let beyond = |g: &crate::mia::AttackGap, t: f64| {
        g.auc_gap_ci
            .as_ref()
            .is_some_and(|ci| ci.lower > t || ci.upper < -t)
    };
    let within = |g: &crate::mia::AttackGap, t: f64| {
        g.auc_gap_ci
            .as_ref()
            .is_some_and(|ci| ci.lower >= -t && ci.upper <= t)
    };
    let powered: Vec<&crate::mia::AttackGap> = mia
        .gaps
        .iter()
        .filter(|g| {
            g.positive_control
                .as_ref()
                .is_some_and(|c| c.has_power == Some(true))
        })
        .collect();
    match bound {
        Bound::AtMost(t) => {
            if let Some(g) = mia.gaps.iter().find(|g| beyond(g, t)) {
                return Outcome::Fail {
                    reason: format!(
                        "{}: the AUC-gap interval lies entirely beyond ±{} (gap {})",
                        g.attack,
                        fmt_number(t),
                        fmt_number(g.auc_gap)
                    ),
                };
            }
            if powered.is_empty() {
                return Outcome::Inconclusive {
                    reason: "no attack has power on the original model (or no original was \
                             given as positive control): a small gap shows nothing"
                        .into(),
                };
            }
            match powered.iter().find(|g| !within(g, t)) {
                None => Outcome::Pass,
                Some(g) => Outcome::Inconclusive {
                    reason: format!(
                        "{}: the AUC-gap interval is not within ±{}; more examples would \
                         narrow it",
                        g.attack,
                        fmt_number(t)
                    ),
                },
            }
        }
        Bound::AtLeast(t) => match mia.gaps.iter().find(|g| beyond(g, t)) {
            Some(_) => Outcome::Pass,
            None => Outcome::Inconclusive {
                reason: format!(
                    "no AUC-gap interval lies entirely beyond ±{}",
                    fmt_number(t)
                ),
            },
        },
    }
}

/// `epsilon.lower_bound` against a threshold. The bound is a lower confidence bound, so
/// `at_least t` passing is evidence (ε ≥ t at the stated confidence) and `at_most t` failing is
/// a refutation; `at_most t` holding shows only that this audit did not refute ε ≤ t, and it
/// counts as a pass only when the audit could have certified more than t with these runs (its
/// ceiling exceeds t) — otherwise it is inconclusive (docs/verdicts.md §Certificates and
/// claims).
fn epsilon_bound_rule_outcome(audit: &EpsilonAudit, bound: Bound, outcome: Outcome) -> Outcome {
    match (bound, &outcome) {
        (Bound::AtMost(t), Outcome::Pass) if !(audit.epsilon_ceiling_corrected > t) => {
            Outcome::Inconclusive {
                reason: format!(
                    "with these runs the audit can certify at most ε = {} (its ceiling), so a \
                     bound ≤ {} could not have been exceeded: no power{}",
                    fmt_down(audit.epsilon_ceiling_corrected),
                    fmt_number(t),
                    audit
                        .samples_needed_per_side
                        .map(|n| format!("; about {n} runs per side are needed"))
                        .unwrap_or_default()
                ),
            }
        }
        _ => outcome,
    }
}

/// `value` with 4 significant digits, rounded so that its relation to `bound` survives the
/// rounding: a value that meets "≤ x" is rounded down and one that violates it up (and the
/// reverse for "≥ x"), so a reason never shows a number on the wrong side of its threshold.
fn against(bound: Bound, value: f64) -> String {
    let up = match bound {
        Bound::AtMost(x) => value > x,
        Bound::AtLeast(x) => value >= x,
    };
    if up { fmt_up(value) } else { fmt_down(value) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_round_to_the_side_of_the_threshold_they_are_on() {
        // violates ≤ 0.1: rounded up, still above 0.1
        assert_eq!(against(Bound::AtMost(0.1), 0.100_000_01), "0.1001");
        // meets ≤ 0.1: rounded down
        assert_eq!(against(Bound::AtMost(0.1), 0.099_999_99), "0.09999");
        // violates ≥ 0.5: rounded down, still below 0.5
        assert_eq!(against(Bound::AtLeast(0.5), 0.499_999_9), "0.4999");
        // meets ≥ 0.5: rounded up
        assert_eq!(against(Bound::AtLeast(0.5), 0.512_345_6), "0.5124");
    }
}
