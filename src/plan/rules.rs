//! Pass/fail rules: a named metric against a threshold, or a named check. Rules are validated
//! against the analyses the plan enables, so a rule on a metric that nothing computes is a plan
//! error (exit 2), not a silent pass; so is a metric whose split or file the evidence lacks
//! (read at validation, names only). The catalogue is in `docs/plans.md` §Rules; how rules
//! decide is in `docs/verdicts.md` §Rules.

use serde::Serialize;

use std::path::Path;

use super::schema::{Check, PlanFile};
use super::{Invalid, PlanError, line_of};
use crate::io::{OUTPUTS_FILE, WEIGHTS_FILE};

/// A metric a rule can bound.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// ‖θ_u − θ_r‖₂ over every tensor (`compare`).
    VerificationError,
    /// ‖θ_u − θ_r‖₂ / ‖θ_r‖₂ (`compare`).
    VerificationErrorRelative,
    /// KL(P_r ‖ P_u) on a split, nats (`compare`).
    Kl(String),
    /// JS(P_u, P_r) on a split, nats (`compare`).
    Js(String),
    /// Mean ℓ2 distance between probability vectors on a split (`compare`).
    ActivationDistance(String),
    /// |accuracy(u) − accuracy(r)| on a split (`compare`, needs labels).
    AccuracyGap(String),
    /// max over attacks of |AUC(u) − AUC(r)| (`mia`).
    MiaMaxAucGap,
    /// The certificate's ε (`certify`).
    CertificateEpsilon,
    /// The certified empirical ε lower bound (`epsilon`).
    EpsilonLowerBound,
    /// TOFU's forget quality, the KS p-value (`forget_quality`, `docs/llm.md` §4).
    ForgetQuality,
    /// `<distance>.fraction_moved` = 1 − d(u, r) / d(o, r) for a `compare` distance
    /// (`compare`; docs/verdicts.md §Distances and the noise floor).
    FractionMoved(Box<Metric>),
}

impl Metric {
    /// Parses a metric name as written in plans (`js.forget`, `verification_error`, ...).
    pub fn parse(name: &str) -> Option<Metric> {
        if let Some(inner) = name.strip_suffix(".fraction_moved") {
            return match Metric::parse(inner)? {
                m @ (Metric::VerificationError
                | Metric::VerificationErrorRelative
                | Metric::Kl(_)
                | Metric::Js(_)
                | Metric::ActivationDistance(_)) => Some(Metric::FractionMoved(Box::new(m))),
                _ => None,
            };
        }
        let split = |prefix: &str| {
            name.strip_prefix(prefix)
                .filter(|rest| !rest.is_empty())
                .map(str::to_string)
        };
        Some(match name {
            "verification_error" => Metric::VerificationError,
            "verification_error_relative" => Metric::VerificationErrorRelative,
            "mia.max_auc_gap" => Metric::MiaMaxAucGap,
            "certificate.epsilon" => Metric::CertificateEpsilon,
            "epsilon.lower_bound" => Metric::EpsilonLowerBound,
            "forget_quality" => Metric::ForgetQuality,
            _ => {
                if let Some(s) = split("kl.") {
                    Metric::Kl(s)
                } else if let Some(s) = split("js.") {
                    Metric::Js(s)
                } else if let Some(s) = split("activation_distance.") {
                    Metric::ActivationDistance(s)
                } else if let Some(s) = split("accuracy_gap.") {
                    Metric::AccuracyGap(s)
                } else {
                    return None;
                }
            }
        })
    }

    /// The name as written in plans.
    pub fn name(&self) -> String {
        match self {
            Metric::VerificationError => "verification_error".into(),
            Metric::VerificationErrorRelative => "verification_error_relative".into(),
            Metric::Kl(s) => format!("kl.{s}"),
            Metric::Js(s) => format!("js.{s}"),
            Metric::ActivationDistance(s) => format!("activation_distance.{s}"),
            Metric::AccuracyGap(s) => format!("accuracy_gap.{s}"),
            Metric::MiaMaxAucGap => "mia.max_auc_gap".into(),
            Metric::CertificateEpsilon => "certificate.epsilon".into(),
            Metric::EpsilonLowerBound => "epsilon.lower_bound".into(),
            Metric::ForgetQuality => "forget_quality".into(),
            Metric::FractionMoved(inner) => format!("{}.fraction_moved", inner.name()),
        }
    }

    /// The analysis (plan table) that computes it.
    pub fn analysis(&self) -> &'static str {
        match self {
            Metric::MiaMaxAucGap => "mia",
            Metric::CertificateEpsilon => "certify",
            Metric::EpsilonLowerBound => "epsilon",
            Metric::ForgetQuality => "forget_quality",
            _ => "compare",
        }
    }
}

/// The threshold side of a metric rule.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    AtMost(f64),
    AtLeast(f64),
}

/// A validated rule.
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    /// A metric against a threshold.
    Threshold { metric: Metric, bound: Bound },
    /// A named check.
    Check(Check),
}

impl Rule {
    /// A one-line description, e.g. `js.forget ≤ 0.02`.
    pub fn describe(&self) -> String {
        match self {
            Rule::Threshold {
                metric,
                bound: Bound::AtMost(x),
            } => format!("{} ≤ {x}", metric.name()),
            Rule::Threshold {
                metric,
                bound: Bound::AtLeast(x),
            } => format!("{} ≥ {x}", metric.name()),
            Rule::Check(check) => check.name().to_string(),
        }
    }
}

const METRIC_NAMES: &str = "verification_error, verification_error_relative, kl.<split>, \
    js.<split>, activation_distance.<split>, accuracy_gap.<split>, <distance>.fraction_moved, \
    mia.max_auc_gap, certificate.epsilon, epsilon.lower_bound";

/// What the evidence can produce, read cheaply at validation (file presence and npz member
/// names only), so that a rule on a split or a file the evidence lacks is a plan error.
struct Producible {
    /// Output splits of `[compare]`: the union of the three bundles' `outputs.npz` members
    /// (`Err`: why there are none).
    output_splits: Result<Vec<String>, String>,
    /// Splits of the labels file (`Err`: why there are none).
    label_splits: Result<Vec<String>, String>,
    /// Whether all three bundles hold `weights.safetensors` (`Err`: which does not).
    weights: Result<(), String>,
}

fn npz_names(path: &Path) -> Result<Vec<String>, String> {
    crate::io::NpzFile::open(path)
        .map(|npz| npz.names().to_vec())
        .map_err(|e| e.to_string())
}

fn producible(file: &PlanFile, dir: &Path) -> Producible {
    let evidence = &file.evidence;
    let bundles: Vec<(&str, std::path::PathBuf)> = [
        ("evidence.original", &evidence.original),
        ("evidence.unlearned", &evidence.unlearned),
        ("evidence.retrained", &evidence.retrained),
    ]
    .into_iter()
    .filter_map(|(key, value)| value.as_ref().map(|v| (key, dir.join(v.get_ref()))))
    .collect();
    let mut splits = Vec::new();
    let mut output_error = None;
    for (key, bundle) in &bundles {
        let outputs = bundle.join(OUTPUTS_FILE);
        if !outputs.is_file() {
            continue;
        }
        match npz_names(&outputs) {
            Ok(names) => splits.extend(names),
            Err(e) => output_error = Some(format!("{key}: {e}")),
        }
    }
    splits.sort();
    splits.dedup();
    let output_splits = match output_error {
        Some(e) => Err(e),
        None if splits.is_empty() => Err(format!("the bundles have no {OUTPUTS_FILE}")),
        None => Ok(splits),
    };
    let label_splits = match &evidence.labels {
        None => Err("needs evidence.labels".to_string()),
        Some(labels) => {
            npz_names(&dir.join(labels.get_ref())).map_err(|e| format!("evidence.labels: {e}"))
        }
    };
    let weights = match bundles
        .iter()
        .find(|(_, bundle)| !bundle.join(WEIGHTS_FILE).is_file())
    {
        Some((key, bundle)) => Err(format!(
            "{key} has no {WEIGHTS_FILE} ({})",
            bundle.display()
        )),
        None => Ok(()),
    };
    Producible {
        output_splits,
        label_splits,
        weights,
    }
}

/// Why `metric` cannot be produced by this plan's evidence, if it cannot.
fn unproducible(metric: &Metric, evidence: &Producible) -> Option<String> {
    let split_of = |split: &str, splits: &Result<Vec<String>, String>, what: &str| match splits {
        Err(reason) => Some(format!("{what} are unavailable: {reason}")),
        Ok(names) if !names.iter().any(|n| n == split) => Some(format!(
            "no split `{split}` in the {what} (splits: {})",
            names.join(", ")
        )),
        Ok(_) => None,
    };
    match metric {
        Metric::VerificationError | Metric::VerificationErrorRelative => {
            evidence.weights.clone().err()
        }
        Metric::Kl(split) | Metric::Js(split) | Metric::ActivationDistance(split) => {
            split_of(split, &evidence.output_splits, "outputs")
        }
        Metric::AccuracyGap(split) => split_of(split, &evidence.output_splits, "outputs")
            .or_else(|| split_of(split, &evidence.label_splits, "labels")),
        Metric::FractionMoved(inner) => unproducible(inner, evidence),
        Metric::MiaMaxAucGap
        | Metric::CertificateEpsilon
        | Metric::EpsilonLowerBound
        | Metric::ForgetQuality => None,
    }
}

pub(super) fn validate_rules(
    file: &PlanFile,
    source: &str,
    dir: &Path,
    invalid: &Invalid,
) -> Result<Vec<Rule>, PlanError> {
    let mut evidence = None;
    let enabled = |analysis: &str| match analysis {
        "compare" => file.compare.is_some(),
        "mia" => file.mia.is_some(),
        "certify" => file.certify.is_some(),
        "epsilon" => file.epsilon.is_some(),
        "forget_quality" => file.forget_quality.is_some(),
        _ => false,
    };
    // Rules are array-of-tables; the header line of rule i is the i-th `[[rule]]`.
    let headers: Vec<usize> = source
        .lines()
        .enumerate()
        .filter(|(_, l)| l.trim_start().starts_with("[[rule]]"))
        .map(|(i, _)| i + 1)
        .collect();
    let mut rules = Vec::new();
    for (index, spec) in file.rules.iter().enumerate() {
        let header = headers.get(index).copied().unwrap_or(1);
        let key = |field: &str| format!("rule[{index}].{field}");
        let rule = match (&spec.metric, &spec.check) {
            (Some(_), Some(_)) | (None, None) => {
                return Err(invalid(
                    &key("metric"),
                    header,
                    "a rule has exactly one of `metric` (with `at_most` or `at_least`) or `check`"
                        .into(),
                ));
            }
            (Some(metric), None) => {
                let line = line_of(source, metric.span().start);
                let parsed = Metric::parse(metric.get_ref()).ok_or_else(|| {
                    invalid(
                        &key("metric"),
                        line,
                        format!(
                            "unknown metric `{}`; known: {METRIC_NAMES}",
                            metric.get_ref()
                        ),
                    )
                })?;
                if !enabled(parsed.analysis()) {
                    return Err(invalid(
                        &key("metric"),
                        line,
                        format!(
                            "`{}` is computed by [{}], which this plan does not run",
                            metric.get_ref(),
                            parsed.analysis()
                        ),
                    ));
                }
                // Read the evidence's names once, only when a metric rule needs them.
                let evidence = evidence.get_or_insert_with(|| producible(file, dir));
                if let Some(reason) = unproducible(&parsed, evidence) {
                    return Err(invalid(
                        &key("metric"),
                        line,
                        format!(
                            "`{}` cannot be computed from this plan's evidence: {reason}",
                            metric.get_ref()
                        ),
                    ));
                }
                let bound = match (spec.at_most, spec.at_least) {
                    (Some(x), None) if x.is_finite() => Bound::AtMost(x),
                    (None, Some(x)) if x.is_finite() => Bound::AtLeast(x),
                    _ => {
                        return Err(invalid(
                            &key("at_most"),
                            line,
                            "a metric rule needs exactly one finite `at_most` or `at_least`".into(),
                        ));
                    }
                };
                Rule::Threshold {
                    metric: parsed,
                    bound,
                }
            }
            (None, Some(check)) => {
                let line = line_of(source, check.span().start);
                if spec.at_most.is_some() || spec.at_least.is_some() {
                    return Err(invalid(
                        &key("check"),
                        line,
                        "a check takes no `at_most` / `at_least`".into(),
                    ));
                }
                let check = *check.get_ref();
                let needs: &[(&str, bool)] = match check {
                    Check::MiaIndistinguishable => &[("mia", file.mia.is_some())],
                    Check::LlmMiaIndistinguishable => &[("llm_mia", file.llm_mia.is_some())],
                    Check::ClaimNotViolated => &[("epsilon", file.epsilon.is_some())],
                    Check::UliraIndistinguishable => &[("ulira", file.ulira.is_some())],
                    Check::CertificateCoversClaim => &[(
                        "certify] or [evidence.mechanism",
                        file.certify.is_some() || file.evidence.mechanism.is_some(),
                    )],
                    Check::UnlearnedCloserThanOriginal => &[("compare", file.compare.is_some())],
                };
                if let Some(margin) = &spec.margin {
                    let margin_line = line_of(source, margin.span().start);
                    if !matches!(
                        check,
                        Check::MiaIndistinguishable | Check::UliraIndistinguishable
                    ) {
                        return Err(invalid(
                            &key("margin"),
                            margin_line,
                            format!(
                                "`margin` applies to mia_indistinguishable and \
                                 ulira_indistinguishable, not `{}`",
                                check.name()
                            ),
                        ));
                    }
                    check_margin(*margin.get_ref())
                        .map_err(|m| invalid(&key("margin"), margin_line, m))?;
                }
                if let Some((table, _)) = needs.iter().find(|(_, present)| !present) {
                    return Err(invalid(
                        &key("check"),
                        line,
                        format!(
                            "`{}` needs [{table}], which this plan does not run",
                            check.name()
                        ),
                    ));
                }
                Rule::Check(check)
            }
        };
        rules.push(rule);
    }
    Ok(rules)
}

/// `[mia]` `members` / `nonmembers` must name an array in the unlearned and the retrained
/// bundles' `outputs.npz` and in the labels file (names only are read). Files that cannot be
/// read are left to the evidence checks and the loaders, which name them.
pub(super) fn validate_mia_splits(
    file: &PlanFile,
    source: &str,
    dir: &Path,
    invalid: &Invalid,
) -> Result<(), PlanError> {
    let Some(mia) = &file.mia else {
        return Ok(());
    };
    let evidence = &file.evidence;
    let files = [
        ("evidence.unlearned", &evidence.unlearned, true),
        ("evidence.retrained", &evidence.retrained, true),
        ("evidence.labels", &evidence.labels, false),
    ];
    for (field, split) in [("members", &mia.members), ("nonmembers", &mia.nonmembers)] {
        for (key, value, bundle) in &files {
            let Some(value) = value else { continue };
            let path = dir.join(value.get_ref());
            let path = if *bundle {
                path.join(OUTPUTS_FILE)
            } else {
                path
            };
            let Ok(names) = npz_names(&path) else {
                continue;
            };
            if !names.iter().any(|n| n == split) {
                return Err(invalid(
                    &format!("mia.{field}"),
                    key_line(source, "mia", field),
                    format!(
                        "split `{split}` is not in {key} ({}); it has: {}",
                        path.display(),
                        names.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// 1-based line of `key = …` inside `[table]`, else the table's header line.
fn key_line(source: &str, table: &str, key: &str) -> usize {
    let header = super::table_line(source, table);
    source
        .lines()
        .enumerate()
        .skip(header)
        .take_while(|(_, line)| !line.trim_start().starts_with('['))
        .find(|(_, line)| {
            line.trim_start()
                .strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
        .map_or(header, |(index, _)| index + 1)
}

/// An equivalence margin in AUC must lie in (0, 0.5) (`docs/verdicts.md`).
pub(super) fn check_margin(margin: f64) -> Result<(), String> {
    if margin.is_finite() && margin > 0.0 && margin < 0.5 {
        Ok(())
    } else {
        Err(format!("{margin} is not an AUC margin in (0, 0.5)"))
    }
}

/// Applies each `[[rule]]` `margin` to the analysis its check judges (the `[mia]` or `[ulira]`
/// margin), after checking the table margins. Two rules giving the same check different
/// margins are an error: one analysis runs at one margin.
pub(super) fn apply_rule_margins(
    file: &mut PlanFile,
    source: &str,
    invalid: &Invalid,
) -> Result<(), PlanError> {
    for (table, margin) in [
        ("mia", file.mia.as_ref().map(|m| m.margin)),
        ("ulira", file.ulira.as_ref().map(|u| u.margin)),
    ] {
        if let Some(margin) = margin {
            check_margin(margin).map_err(|m| {
                invalid(
                    &format!("{table}.margin"),
                    super::table_line(source, table),
                    m,
                )
            })?;
        }
    }
    let mut chosen: [Option<(f64, usize)>; 2] = [None, None];
    for (index, spec) in file.rules.iter().enumerate() {
        let (Some(check), Some(margin)) = (&spec.check, &spec.margin) else {
            continue;
        };
        let slot = match check.get_ref() {
            Check::MiaIndistinguishable => 0,
            Check::UliraIndistinguishable => 1,
            _ => continue,
        };
        let line = line_of(source, margin.span().start);
        let value = *margin.get_ref();
        match chosen[slot] {
            Some((earlier, earlier_line)) if earlier != value => {
                return Err(invalid(
                    &format!("rule[{index}].margin"),
                    line,
                    format!(
                        "margin {value} differs from the margin {earlier} of the rule at line \
                         {earlier_line}: one `{}` analysis runs at one margin",
                        check.get_ref().name()
                    ),
                ));
            }
            _ => chosen[slot] = Some((value, line)),
        }
    }
    if let (Some((margin, _)), Some(mia)) = (chosen[0], file.mia.as_mut()) {
        mia.margin = margin;
    }
    if let (Some((margin, _)), Some(ulira)) = (chosen[1], file.ulira.as_mut()) {
        ulira.margin = margin;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names_round_trip() {
        for name in [
            "verification_error",
            "verification_error_relative",
            "kl.forget",
            "js.test",
            "activation_distance.retain",
            "accuracy_gap.forget",
            "mia.max_auc_gap",
            "certificate.epsilon",
            "epsilon.lower_bound",
        ] {
            assert_eq!(Metric::parse(name).unwrap().name(), name);
        }
        assert_eq!(Metric::parse("js."), None);
        assert_eq!(Metric::parse("jsd.forget"), None);
    }
    fn margins(text: &str) -> Result<(Option<f64>, Option<f64>), String> {
        let mut file: PlanFile = toml::from_str(text).unwrap();
        let invalid = |key: &str, line: usize, message: String| PlanError::Invalid {
            path: "p.toml".into(),
            key: key.to_string(),
            line,
            message,
        };
        apply_rule_margins(&mut file, text, &invalid).map_err(|e| e.to_string())?;
        Ok((file.mia.map(|m| m.margin), file.ulira.map(|u| u.margin)))
    }

    #[test]
    fn a_rule_margin_overrides_the_table_margin() {
        let head = "[plan]\nname = \"m\"\n[mia]\n[ulira]\n";
        assert_eq!(margins(head).unwrap(), (Some(0.05), Some(0.05)));
        let text = format!(
            "{head}[[rule]]\ncheck = \"mia_indistinguishable\"\nmargin = 0.02\n\
             [[rule]]\ncheck = \"ulira_indistinguishable\"\nmargin = 0.1\n"
        );
        assert_eq!(margins(&text).unwrap(), (Some(0.02), Some(0.1)));
    }

    #[test]
    fn bad_margins_name_key_and_line() {
        let error = margins("[plan]\nname = \"m\"\n[mia]\nmargin = 0.7\n").unwrap_err();
        assert!(error.starts_with("p.toml:3: `mia.margin`"), "{error}");
        assert!(error.contains("(0, 0.5)"), "{error}");
        let text = "[plan]\nname = \"m\"\n[mia]\n[[rule]]\ncheck = \"mia_indistinguishable\"\n\
                    margin = 0.01\n[[rule]]\ncheck = \"mia_indistinguishable\"\nmargin = 0.03\n";
        let error = margins(text).unwrap_err();
        assert!(error.starts_with("p.toml:9: `rule[1].margin`"), "{error}");
        assert!(error.contains("line 6"), "{error}");
    }

    #[test]
    fn key_lines_are_found_inside_their_table() {
        let text = "[plan]\nmembers = 1\n[mia]\nconfidence = 0.9\nmembers = \"forgt\"\n[ulira]\n";
        assert_eq!(key_line(text, "mia", "members"), 5);
        assert_eq!(key_line(text, "mia", "nonmembers"), 3);
    }
}
