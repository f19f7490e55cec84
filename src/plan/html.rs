//! The audit report as a self-contained HTML page: the verdict first, then the certificate
//! beside the empirical bound, the ROC curves on log-log axes with their intervals, the
//! unlearned vs retrained score distributions, and the metrics with the sanity ordering
//! d(r, r′) ≤ d(u, r) ≤ d(o, r). Plots are inline SVG from [`crate::report::svg`].

use super::report::{AuditReport, MiaFinding, SanityOrdering, outcome_reason, outcome_word};
use super::schema::Space;
use crate::mia::roc::RocSummary;
use crate::report::html::{HtmlDocument, figure, figures, side_by_side, table_html};
use crate::report::svg::{Axis, PALETTE, Plot};
use crate::report::{Finding, Table, fmt_number, fmt_optional};

/// Renders the report as one HTML document.
pub fn render_html(report: &AuditReport) -> String {
    let mut doc = HtmlDocument::new(&format!("Unlearning audit: {}", report.plan.name));
    let word = outcome_word(&report.verdict);
    doc.verdict(
        word,
        &format!("Verdict: {}", word.to_uppercase()),
        outcome_reason(&report.verdict),
    );
    if !report.plan.description.is_empty() {
        doc.paragraph(&report.plan.description);
    }
    if let Some(claim) = &report.claim {
        doc.paragraph(&format!(
            "Claim: ({}, {})-unlearning, measured in {} space.",
            fmt_number(claim.epsilon),
            fmt_number(claim.delta),
            match claim.space {
                Space::Weights => "weight",
                Space::Outputs => "output",
            }
        ));
    }
    doc.heading("Rules").table(&report.rules_table());

    if report.certificate.is_some() || report.claim.is_some() {
        doc.heading("Certificate and empirical bound");
        doc.raw(&side_by_side(&[
            certificate_block(report),
            empirical_block(report),
        ]));
        let plots = epsilon_figures(report);
        if !plots.is_empty() {
            doc.raw(&figures(&plots));
        }
    }

    if let Some(mia) = &report.mia {
        mia_section(
            &mut doc,
            &format!(
                "Membership inference: `{}` (members) vs `{}` (non-members)",
                mia.members, mia.nonmembers
            ),
            mia,
        );
    }
    if let Some(ulira) = &report.ulira {
        mia_section(
            &mut doc,
            "U-LiRA against the mechanism: unlearned points vs held-out points",
            ulira,
        );
    }

    if let Some(llm) = &report.llm_mia {
        mia_section(
            &mut doc,
            &format!(
                "Membership inference on a language model: `{}` (members) vs `{}` (non-members)",
                llm.mia.members, llm.mia.nonmembers
            ),
            &llm.mia,
        );
    }
    if let Some(fq) = &report.forget_quality {
        doc.heading("Forget quality (TOFU truth ratio)");
        let wrapper = MiaFinding {
            members: fq.finding.split.clone(),
            nonmembers: String::new(),
            family_confidence: 0.0,
            attacks: Vec::new(),
            gaps: Vec::new(),
            plotted_attack: String::new(),
            score_histogram: fq.histogram.clone(),
            margin: 0.0,
            positive_control: None,
            outcome: fq.outcome.clone(),
        };
        doc.raw(&figures(&[histogram_figure(&wrapper)]));
        doc.table(&super::llm::forget_quality_table(&fq.finding));
    }
    if let Some(ordering) = &report.sanity_ordering {
        doc.heading("Metrics and the sanity ordering d(r, r′) ≤ d(u, r) ≤ d(o, r)");
        doc.raw(&figures(&[ordering_figure(ordering)]));
        if let Some(reason) = &ordering.noise_floor_reason {
            doc.paragraph(&format!("Noise floor: {reason}."));
        }
        doc.table(&ordering.table());
    }
    if let Some(compare) = &report.compare {
        doc.heading(&compare.title());
        doc.raw(&table_html(&outputs_table(compare)));
    }

    doc.heading("Provenance");
    doc.paragraph(&format!(
        "{} {}; plan {} (sha256 {}); seed {}.",
        report.provenance.tool,
        report.provenance.version,
        report.plan.file,
        report.plan.sha256,
        report.provenance.seed
    ));
    let mut inputs = Table::new(["input", "sha256"]);
    for input in &report.provenance.inputs {
        inputs.row([input.path.clone(), input.sha256.clone()]);
    }
    doc.table(&inputs);
    doc.finish()
}

fn mia_section(doc: &mut HtmlDocument, heading: &str, mia: &MiaFinding) {
    doc.heading(heading);
    doc.raw(&figures(&[roc_figure(mia), histogram_figure(mia)]));
    doc.paragraph(&format!(
        "AUC gap to retraining with its interval, family-wise confidence {} \
         (Bonferroni over {} attacks), judged as an equivalence test with a positive control.",
        fmt_number(mia.family_confidence),
        mia.gaps.len()
    ));
    doc.table(&mia.gaps_table());
    doc.paragraph(&mia.controls_note());
}

fn certificate_block(report: &AuditReport) -> String {
    let mut out = String::from("<h3>Certificate (theory)</h3>\n");
    match &report.certificate {
        Some(c) => {
            let mut table = Table::new(["quantity", "value"]);
            table
                .row(["mechanism".to_string(), c.mechanism.clone()])
                .row([
                    "calibration".to_string(),
                    c.calibration.clone().unwrap_or_else(|| "—".into()),
                ])
                .row(["σ".to_string(), fmt_optional(c.sigma)])
                .row(["certified ε".to_string(), fmt_optional(c.epsilon)])
                .row(["certified δ".to_string(), fmt_optional(c.delta)])
                .row(["source".to_string(), c.source.clone()]);
            out.push_str(&table_html(&table));
        }
        None => match &report.mechanism {
            Some(m) => {
                let mut table = Table::new(["quantity", "value"]);
                table
                    .row(["mechanism".to_string(), m.name.clone()])
                    .row(["status".to_string(), m.certificate.status.to_string()])
                    .row([
                        "certified ε".to_string(),
                        fmt_optional(m.certificate.epsilon),
                    ])
                    .row(["certified δ".to_string(), fmt_optional(m.certificate.delta)])
                    .row(["source".to_string(), m.certificate.reason.clone()]);
                out.push_str(&table_html(&table));
            }
            None => out.push_str("<p>This plan computes no certificate (no [certify]).</p>\n"),
        },
    }
    out
}

fn empirical_block(report: &AuditReport) -> String {
    let mut out = String::from("<h3>Empirical bound (evidence)</h3>\n");
    let mut table = Table::new(["quantity", "value"]);
    if let Some(claim) = &report.claim {
        table
            .row(["claimed ε".to_string(), fmt_number(claim.epsilon)])
            .row(["claimed δ".to_string(), fmt_number(claim.delta)]);
    }
    match &report.epsilon {
        Some(audit) => {
            table
                .row([
                    format!(
                        "ε lower bound ({}% confidence)",
                        fmt_number(100.0 * audit.confidence)
                    ),
                    fmt_number(audit.epsilon_lower_bound),
                ])
                .row([
                    "largest ε these runs could certify".to_string(),
                    fmt_number(audit.epsilon_ceiling_corrected),
                ])
                .row([
                    "runs (unlearned / retrained)".to_string(),
                    format!("{} / {}", audit.n_unlearned, audit.n_retrained),
                ])
                .row([
                    "verdict on the claim".to_string(),
                    format!("{}: {}", audit.verdict.unwrap_or("—"), audit.reason),
                ]);
            if let Some(mechanism) = &report.mechanism {
                table.row([
                    format!(
                        "mechanism `{}` certificate ({})",
                        mechanism.name, mechanism.certificate.status
                    ),
                    format!(
                        "ε = {}, δ = {}",
                        fmt_optional(mechanism.certificate.epsilon),
                        fmt_optional(mechanism.certificate.delta)
                    ),
                ]);
            }
            out.push_str(&table_html(&table));
        }
        None => {
            out.push_str(&table_html(&table));
            out.push_str(
                "<p>This plan runs no repeated-sampling ε audit ([epsilon]), so there is no \
                 empirical ε lower bound to set against the claim.</p>\n",
            );
        }
    }
    out
}

fn epsilon_figures(report: &AuditReport) -> Vec<String> {
    let mut out = Vec::new();
    let claim = report.claim.as_ref().map(|c| c.epsilon);
    if let Some(per_example) = report.epsilon.as_ref().and_then(|e| e.per_example.as_ref()) {
        let bounds = &per_example.epsilon_lower_bounds;
        let high = bounds
            .iter()
            .copied()
            .chain(claim)
            .fold(0.0f64, f64::max)
            .max(1e-3)
            * 1.05;
        let bins = 20;
        let width = high / bins as f64;
        let edges: Vec<f64> = (0..=bins).map(|i| width * i as f64).collect();
        let mut counts = vec![0.0; bins];
        for &b in bounds {
            counts[((b / width) as usize).min(bins - 1)] += 1.0;
        }
        let peak = counts.iter().copied().fold(1.0, f64::max);
        let mut plot = Plot::new(
            "Per-example ε lower bounds against the claim",
            Axis::linear(0.0, high, "ε lower bound (simultaneous)"),
            Axis::count(peak, "forget examples"),
        );
        plot.bars("forget examples", PALETTE[2], &edges, &counts);
        if let Some(epsilon) = claim {
            plot.vertical_line(
                &format!("claimed ε = {}", fmt_number(epsilon)),
                PALETTE[1],
                epsilon,
            );
        }
        out.push(figure(
            &plot.finish(),
            &format!(
                "{} of {} examples exceed the claim.",
                per_example
                    .count_exceeding_claim
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "—".into()),
                bounds.len()
            ),
        ));
    }
    if let Some(h) = &report.sample_histogram {
        let peak = h
            .unlearned
            .iter()
            .chain(&h.retrained)
            .copied()
            .max()
            .unwrap_or(1)
            .max(1) as f64;
        let mut plot = Plot::new(
            "Runs: unlearned vs retrained",
            Axis::linear(
                h.bin_edges.first().copied().unwrap_or(0.0),
                h.bin_edges.last().copied().unwrap_or(1.0),
                &h.score.replace('_', " "),
            ),
            Axis::count(peak, "runs"),
        );
        let as_f64 = |v: &[u64]| v.iter().map(|&c| c as f64).collect::<Vec<_>>();
        plot.bars("unlearned", PALETTE[1], &h.bin_edges, &as_f64(&h.unlearned));
        plot.bars("retrained", PALETTE[0], &h.bin_edges, &as_f64(&h.retrained));
        out.push(figure(
            &plot.finish(),
            "The recorded statistic of every run (mean over its columns). Distributions that \
             separate are what the ε audit detects.",
        ));
    }
    out
}

/// Floor for log axes: half the finest resolvable rate.
fn log_floor(summary: &RocSummary) -> f64 {
    let finest = 1.0 / summary.n_nonmembers.max(summary.n_members).max(1) as f64;
    let mut floor = 1.0;
    while floor > finest / 2.0 {
        floor /= 10.0;
    }
    floor
}

fn roc_figure(mia: &MiaFinding) -> String {
    let Some(pair) = mia.attacks.iter().find(|p| p.attack == mia.plotted_attack) else {
        return String::new();
    };
    let mut floor = log_floor(&pair.unlearned).min(log_floor(&pair.retrained));
    if let Some(original) = &pair.original {
        floor = floor.min(log_floor(original));
    }
    let mut plot = Plot::new(
        &format!("ROC of `{}` (log-log)", pair.attack),
        Axis::log10(floor, 1.0, "false positive rate"),
        Axis::log10(floor, 1.0, "true positive rate"),
    );
    plot.line("chance", "#999999", &[(floor, floor), (1.0, 1.0)], true);
    let mut curves = vec![
        (&pair.unlearned, "unlearned", PALETTE[1]),
        (&pair.retrained, "retrained", PALETTE[0]),
    ];
    // The positive control: the same attack on the original model, when the evidence has one.
    if let Some(original) = &pair.original {
        curves.push((original, "original (control)", PALETTE[2]));
    }
    for (summary, label, colour) in curves {
        let points: Vec<(f64, f64)> = summary
            .curve
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(|p| (p.fpr.max(floor), p.tpr.max(floor)))
            .collect();
        plot.line(
            &format!("{label} (AUC {})", fmt_number(summary.auc)),
            colour,
            &points,
            false,
        );
        let bars: Vec<(f64, f64, f64, f64)> = summary
            .tpr_at_fpr_ci
            .iter()
            .filter_map(|(key, ci)| {
                let alpha: f64 = key.parse().ok()?;
                let tpr = *summary.tpr_at_fpr.get(key)?;
                Some((
                    alpha,
                    tpr.max(floor),
                    ci.lower.max(floor),
                    ci.upper.max(floor),
                ))
            })
            .collect();
        plot.error_bars(colour, &bars);
    }
    figure(
        &plot.finish(),
        &format!(
            "Bars: TPR at FPR α with {} Clopper–Pearson intervals. Rates of 0 are drawn on \
             the axis floor.",
            pair.unlearned
                .tpr_at_fpr_ci
                .values()
                .next()
                .map(|ci| format!("{}%", fmt_number(100.0 * ci.confidence)))
                .unwrap_or_default()
        ),
    )
}

fn histogram_figure(mia: &MiaFinding) -> String {
    let h = &mia.score_histogram;
    let peak = h
        .unlearned
        .iter()
        .chain(&h.retrained)
        .copied()
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let (low, high) = (
        h.bin_edges.first().copied().unwrap_or(0.0),
        h.bin_edges.last().copied().unwrap_or(1.0),
    );
    let (title, axis) = if h.score == "log10_loss" {
        (
            format!("Loss on `{}`: unlearned vs retrained", h.split),
            "log10 cross-entropy loss",
        )
    } else if h.score == "log_truth_ratio" {
        (
            format!("Truth ratio on `{}`: unlearned vs retrained", h.split),
            "ln truth ratio (TOFU)",
        )
    } else if let Some(attack) = h.score.strip_prefix("openunlearning_") {
        (
            format!("`{attack}` score on `{}`: unlearned vs retrained", h.split),
            "OpenUnlearning score (higher = non-member)",
        )
    } else {
        (
            format!("φ on the {}: unlearned vs retrained", h.split),
            "φ = ln p_y − ln(1 − p_y)",
        )
    };
    let mut plot = Plot::new(
        &title,
        Axis::linear(low, high, axis),
        Axis::linear(0.0, peak * 1.1, "examples"),
    );
    let as_f64 = |v: &[u64]| v.iter().map(|&c| c as f64).collect::<Vec<_>>();
    plot.bars("unlearned", PALETTE[1], &h.bin_edges, &as_f64(&h.unlearned));
    plot.bars("retrained", PALETTE[0], &h.bin_edges, &as_f64(&h.retrained));
    figure(&plot.finish(), histogram_caption(&h.score))
}

/// The caption names the score the histogram plots: loss, or φ (the logit of p_y).
fn histogram_caption(score: &str) -> &'static str {
    if score == "log10_loss" {
        "A model that still remembers the forgotten points fits them better than the retrained \
         one: lower loss."
    } else {
        "A model that still remembers the forgotten points fits them better than the retrained \
         one: higher φ."
    }
}

fn ordering_figure(ordering: &SanityOrdering) -> String {
    let mut rows: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for row in &ordering.rows {
        let Some(scale) = row.original_to_retrained.filter(|d| *d > 0.0) else {
            continue;
        };
        let points: Vec<(f64, f64)> = [
            row.retrained_again_to_retrained,
            row.unlearned_to_retrained,
            row.original_to_retrained,
        ]
        .iter()
        .enumerate()
        .filter_map(|(i, d)| d.map(|d| (i as f64 + 1.0, d / scale)))
        .collect();
        rows.push((row.distance.clone(), points));
    }
    // One large ratio (an unlearned model far from retraining) must not flatten the others:
    // the axis turns log10 when the ratios span more than 50×; d(o, r)/d(o, r) = 1 is always on it.
    let ratios: Vec<f64> = rows
        .iter()
        .flat_map(|(_, points)| points.iter().map(|p| p.1))
        .chain([1.0])
        .collect();
    let y = Axis::linear_or_log(&ratios, "distance / d(o, r)");
    if y.scale == crate::report::svg::Scale::Log10 {
        // a zero distance has no place on a log axis
        for (_, points) in &mut rows {
            points.retain(|p| p.1 > 0.0);
        }
    }
    let mut plot = Plot::new(
        "Distances to the retrained model, relative to d(o, r)",
        Axis::categories(&["d(r, r′)", "d(u, r)", "d(o, r)"], "pair"),
        y,
    );
    for (i, (name, points)) in rows.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        plot.line(name, colour, points, false);
        let dots: Vec<(f64, f64, f64, f64)> = points.iter().map(|&(x, y)| (x, y, y, y)).collect();
        plot.error_bars(colour, &dots);
    }
    figure(
        &plot.finish(),
        "Each distance divided by d(o, r). A sound metric and a good unlearning method give \
         d(r, r′) ≤ d(u, r) ≤ d(o, r); d(r, r′) needs evidence.retrained_again. The unlearned \
         model counts as closer only when d(o, r) − d(u, r) exceeds d(r, r′) (docs/verdicts.md).",
    )
}

fn outputs_table(compare: &crate::metrics::compare::CompareFinding) -> Table {
    let floor = compare.noise_floor.as_ref();
    let none = || "— (no r′)".to_string();
    let mut table = Table::new([
        "split",
        "n",
        "KL(r‖u)",
        "JS(u, r)",
        "JS(o, r)",
        "JS(r′, r) noise floor",
        "accuracy o / u / r",
    ]);
    if let Some(w) = &compare.weights {
        table.row([
            "weights".to_string(),
            w.parameter_count.to_string(),
            String::new(),
            format!("‖θ_u − θ_r‖ = {}", fmt_number(w.verification_error)),
            format!("‖θ_o − θ_r‖ = {}", fmt_number(w.original_to_retrained)),
            floor
                .and_then(|f| f.weights.as_ref())
                .map(|f| format!("‖θ_r′ − θ_r‖ = {}", fmt_number(f.verification_error)))
                .unwrap_or_else(none),
            String::new(),
        ]);
    }
    for (split, m) in &compare.outputs {
        table.row([
            split.clone(),
            m.n.to_string(),
            fmt_optional(m.kl_retrained_unlearned),
            fmt_optional(m.js),
            fmt_optional(m.original_vs_retrained.js),
            match floor {
                Some(f) => fmt_optional(f.outputs.get(split).and_then(|o| o.js)),
                None => none(),
            },
            format!(
                "{} / {} / {}",
                fmt_optional(m.accuracy.original),
                fmt_optional(m.accuracy.unlearned),
                fmt_optional(m.accuracy.retrained)
            ),
        ]);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::compare::OrderingRow;

    #[test]
    fn histogram_caption_names_the_plotted_score() {
        assert!(histogram_caption("log10_loss").contains("lower loss"));
        assert!(!histogram_caption("log10_loss").contains('φ'));
        assert!(histogram_caption("phi").contains("higher φ"));
        assert!(!histogram_caption("phi").contains("loss"));
    }

    fn ordering(unlearned: f64) -> SanityOrdering {
        SanityOrdering {
            rows: vec![OrderingRow::new(
                "verification_error".into(),
                Some(unlearned),
                Some(1.0),
                Some(0.5),
            )],
            noise_floor_reason: None,
        }
    }

    #[test]
    fn one_large_ratio_turns_the_ordering_axis_log() {
        // ratios 0.5, 1, 1000: span 2000 > 50 → log scale
        assert!(ordering_figure(&ordering(1000.0)).contains("(log scale)"));
        // ratios 0.5, 0.8, 1: linear
        assert!(!ordering_figure(&ordering(0.8)).contains("(log scale)"));
    }
}
