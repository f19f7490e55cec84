//! A tiny SVG writer for the HTML report: axes (linear or log10), polylines, error bars, bars,
//! reference lines and a legend, written as inline `<svg>` text with no script, no external
//! style and no fonts beyond the generic `sans-serif`. Numbers are printed with two decimals so
//! the same data gives the same bytes.
//!
//! Ticks: linear axes get "nice" values (1, 2 or 5 times a power of ten, about five ticks
//! inside the range; Heckbert, "Nice numbers for graph labels", Graphics Gems, 1990); count
//! axes ([`Axis::count`], and the y axis of every histogram) get integer ticks only; log axes
//! get decades. The legend goes in the plot corner that covers the fewest drawn marks.

use std::fmt::Write;

/// Width and height of every plot, in CSS pixels.
pub const WIDTH: f64 = 560.0;
pub const HEIGHT: f64 = 340.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 28.0;
const BOTTOM: f64 = 48.0;

/// A colour-blind-safe palette (Okabe–Ito).
pub const PALETTE: [&str; 6] = [
    "#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9",
];

/// Axis scale.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scale {
    Linear,
    /// Base-10 logarithm; the range must be positive.
    Log10,
}

/// One axis: its range, scale and label.
#[derive(Debug, Clone)]
pub struct Axis {
    pub low: f64,
    pub high: f64,
    pub scale: Scale,
    pub label: String,
    /// Named ticks replacing the automatic ones (categorical axes).
    pub named_ticks: Option<Vec<(f64, String)>>,
    /// Counts: only integer ticks.
    pub integer: bool,
}

/// The 1-2-5 step giving about `target` intervals over `range`.
pub fn nice_step(range: f64, target: usize) -> f64 {
    if !(range.is_finite() && range > 0.0) {
        return 1.0;
    }
    let raw = range / target.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let residual = raw / magnitude;
    let factor = if residual < 1.5 {
        1.0
    } else if residual < 3.0 {
        2.0
    } else if residual < 7.0 {
        5.0
    } else {
        10.0
    };
    factor * magnitude
}

impl Axis {
    /// A linear axis over `[low, high]` (widened when empty).
    pub fn linear(low: f64, high: f64, label: &str) -> Axis {
        let (low, high) = if high > low {
            (low, high)
        } else {
            (low - 0.5, low + 0.5)
        };
        Axis {
            low,
            high,
            scale: Scale::Linear,
            label: label.to_string(),
            named_ticks: None,
            integer: false,
        }
    }

    /// A count axis from 0 to a little above `peak`, with integer ticks.
    pub fn count(peak: f64, label: &str) -> Axis {
        let mut axis = Axis::linear(0.0, peak.max(1.0) * 1.1, label);
        axis.integer = true;
        axis
    }

    /// Linear over `[0, high]`, or log10 when one value dwarfs the others (the largest is
    /// more than 50 times the smallest positive one), so no value is flattened to the axis.
    pub fn linear_or_log(values: &[f64], label: &str) -> Axis {
        let positive = values.iter().copied().filter(|v| v.is_finite() && *v > 0.0);
        let high = positive.clone().fold(0.0f64, f64::max);
        let low = positive.fold(f64::INFINITY, f64::min);
        if high > 0.0 && low.is_finite() && high / low > 50.0 {
            let floor = 10f64.powf((low / 2.0).log10().floor());
            let ceil = 10f64.powf((high * 1.5).log10().ceil());
            Axis::log10(floor, ceil, &format!("{label} (log scale)"))
        } else {
            Axis::linear(0.0, high.max(f64::MIN_POSITIVE) * 1.1, label)
        }
    }

    /// A log10 axis over `[low, high]`, both > 0.
    pub fn log10(low: f64, high: f64, label: &str) -> Axis {
        let low = if low > 0.0 { low } else { 1e-6 };
        let high = if high > low { high } else { low * 10.0 };
        Axis {
            low,
            high,
            scale: Scale::Log10,
            label: label.to_string(),
            named_ticks: None,
            integer: false,
        }
    }

    /// A categorical axis: category `i` sits at `i + 1`.
    pub fn categories(names: &[&str], label: &str) -> Axis {
        let mut axis = Axis::linear(0.5, names.len() as f64 + 0.5, label);
        axis.named_ticks = Some(
            names
                .iter()
                .enumerate()
                .map(|(i, n)| (i as f64 + 1.0, n.to_string()))
                .collect(),
        );
        axis
    }

    /// Position of `value` in [0, 1] along the axis (clamped).
    fn fraction(&self, value: f64) -> f64 {
        let f = match self.scale {
            Scale::Linear => (value - self.low) / (self.high - self.low),
            Scale::Log10 => {
                let v = value.max(self.low);
                (v.log10() - self.low.log10()) / (self.high.log10() - self.low.log10())
            }
        };
        if f.is_finite() {
            f.clamp(0.0, 1.0)
        } else {
            0.0
        }
    }

    /// Ticks and their labels: named ticks, else decades on a log axis, 5 even steps on a
    /// linear one.
    fn labelled_ticks(&self) -> Vec<(f64, String)> {
        if let Some(named) = &self.named_ticks {
            return named.clone();
        }
        let decimals = match self.scale {
            Scale::Linear => (-self.step().log10().floor()).max(0.0) as usize,
            Scale::Log10 => 0,
        };
        self.ticks()
            .into_iter()
            .map(|t| (t, tick_label(t, self.scale, decimals)))
            .collect()
    }

    /// The linear tick step: 1-2-5, at least 1 on a count axis.
    fn step(&self) -> f64 {
        let step = nice_step(self.high - self.low, 5);
        if self.integer && step < 1.0 {
            1.0
        } else {
            step
        }
    }

    fn ticks(&self) -> Vec<f64> {
        match self.scale {
            Scale::Linear => {
                let step = self.step();
                let first = (self.low / step - 1e-9).ceil() as i64;
                let last = (self.high / step + 1e-9).floor() as i64;
                (first..=last)
                    .map(|k| {
                        let t = k as f64 * step;
                        // Exact decimal values (0.30000000000000004 → 0.3).
                        let rounded = (t / step).round() * step;
                        if rounded == 0.0 { 0.0 } else { rounded }
                    })
                    .collect()
            }
            Scale::Log10 => {
                let first = self.low.log10().ceil() as i32;
                let last = self.high.log10().floor() as i32;
                (first..=last).map(|e| 10f64.powi(e)).collect()
            }
        }
    }
}

fn tick_label(value: f64, scale: Scale, decimals: usize) -> String {
    match scale {
        Scale::Log10 => {
            let exponent = value.log10().round() as i32;
            if (-2..=3).contains(&exponent) {
                format!("{}", 10f64.powi(exponent))
            } else {
                format!("1e{exponent}")
            }
        }
        Scale::Linear => {
            if value != 0.0 && !(1e-3..1e6).contains(&value.abs()) {
                format!("{value:.1e}")
            } else {
                format!("{value:.decimals$}")
            }
        }
    }
}

/// Text for the SVG: escaped, with Markdown backticks removed.
fn svg_text(text: &str) -> String {
    escape(&text.replace('`', ""))
}

/// Approximate rendered width of `text` at 11 px sans-serif.
fn text_width(text: &str) -> f64 {
    6.4 * text.chars().count() as f64
}

/// Escapes text for XML.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A plot being drawn: the frame, its axes and the elements added so far.
pub struct Plot {
    x: Axis,
    y: Axis,
    body: String,
    legend: Vec<(String, String, bool)>,
    title: String,
    /// Pixel boxes of the marks drawn (bars, points), for placing the legend.
    occupied: Vec<(f64, f64, f64, f64)>,
}

impl Plot {
    /// A new plot with a title and two axes.
    pub fn new(title: &str, x: Axis, y: Axis) -> Plot {
        Plot {
            x,
            y,
            body: String::new(),
            legend: Vec::new(),
            title: title.to_string(),
            occupied: Vec::new(),
        }
    }

    fn px(&self, x: f64) -> f64 {
        LEFT + self.x.fraction(x) * (WIDTH - LEFT - RIGHT)
    }

    fn py(&self, y: f64) -> f64 {
        HEIGHT - BOTTOM - self.y.fraction(y) * (HEIGHT - TOP - BOTTOM)
    }

    /// A polyline through the points (in data coordinates), added to the legend.
    pub fn line(&mut self, label: &str, colour: &str, points: &[(f64, f64)], dashed: bool) {
        if points.is_empty() {
            return;
        }
        let mut d = String::new();
        for &(x, y) in points {
            let (px, py) = (self.px(x), self.py(y));
            self.occupied.push((px - 2.0, py - 2.0, px + 2.0, py + 2.0));
        }
        for (i, &(x, y)) in points.iter().enumerate() {
            let _ = write!(
                d,
                "{}{:.2},{:.2}",
                if i == 0 { "M" } else { " L" },
                self.px(x),
                self.py(y)
            );
        }
        let dash = if dashed {
            " stroke-dasharray=\"6 4\""
        } else {
            ""
        };
        let _ = writeln!(
            self.body,
            "<path class=\"series\" d=\"{d}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"{dash}/>"
        );
        if !label.is_empty() {
            self.legend
                .push((label.to_string(), colour.to_string(), dashed));
        }
    }

    /// Vertical error bars `(x, low, high)` with a dot at `value`.
    pub fn error_bars(&mut self, colour: &str, bars: &[(f64, f64, f64, f64)]) {
        for &(x, value, low, high) in bars {
            let (cx, top, bottom) = (self.px(x), self.py(high), self.py(low));
            self.occupied.push((cx - 4.0, top, cx + 4.0, bottom));
            let _ = writeln!(
                self.body,
                "<path class=\"interval\" d=\"M{cx:.2},{top:.2} L{cx:.2},{bottom:.2} M{:.2},{top:.2} L{:.2},{top:.2} M{:.2},{bottom:.2} L{:.2},{bottom:.2}\" stroke=\"{colour}\" stroke-width=\"1.5\" fill=\"none\"/>",
                cx - 4.0,
                cx + 4.0,
                cx - 4.0,
                cx + 4.0
            );
            let _ = writeln!(
                self.body,
                "<circle cx=\"{cx:.2}\" cy=\"{:.2}\" r=\"3.5\" fill=\"{colour}\"/>",
                self.py(value)
            );
        }
    }

    /// Histogram bars over `edges` (len = counts + 1), semi-transparent so two can overlap.
    /// The y axis counts, so its ticks are integers.
    pub fn bars(&mut self, label: &str, colour: &str, edges: &[f64], counts: &[f64]) {
        self.y.integer = true;
        for (i, &count) in counts.iter().enumerate() {
            if count <= 0.0 {
                continue;
            }
            let (x0, x1) = (self.px(edges[i]), self.px(edges[i + 1]));
            let (y0, y1) = (self.py(count), self.py(self.y.low.max(0.0)));
            self.occupied
                .push((x0.min(x1), y0.min(y1), x0.max(x1), y0.max(y1)));
            let _ = writeln!(
                self.body,
                "<path class=\"bar\" d=\"M{x0:.2},{y1:.2} L{x0:.2},{y0:.2} L{x1:.2},{y0:.2} L{x1:.2},{y1:.2} Z\" fill=\"{colour}\" fill-opacity=\"0.45\" stroke=\"{colour}\" stroke-width=\"1\"/>"
            );
        }
        self.legend
            .push((label.to_string(), colour.to_string(), false));
    }

    /// A vertical reference line at `x` with a label.
    pub fn vertical_line(&mut self, label: &str, colour: &str, x: f64) {
        let px = self.px(x);
        let _ = writeln!(
            self.body,
            "<path class=\"reference\" d=\"M{px:.2},{TOP:.2} L{px:.2},{:.2}\" stroke=\"{colour}\" stroke-width=\"2\" stroke-dasharray=\"4 3\"/>",
            HEIGHT - BOTTOM
        );
        self.legend
            .push((label.to_string(), colour.to_string(), true));
    }

    /// The finished `<svg>` element.
    pub fn finish(self) -> String {
        let mut svg = String::new();
        let _ = writeln!(
            svg,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"{}\" font-family=\"sans-serif\" font-size=\"11\">",
            escape(&self.title)
        );
        let _ = writeln!(
            svg,
            "<rect x=\"0\" y=\"0\" width=\"{WIDTH}\" height=\"{HEIGHT}\" fill=\"#ffffff\"/>"
        );
        let _ = writeln!(
            svg,
            "<text x=\"{:.2}\" y=\"16\" text-anchor=\"middle\" font-size=\"13\" font-weight=\"bold\">{}</text>",
            WIDTH / 2.0,
            svg_text(&self.title)
        );
        let (x0, x1, y0, y1) = (LEFT, WIDTH - RIGHT, TOP, HEIGHT - BOTTOM);
        // Grid and ticks; a label that would cross the right edge is anchored at its end.
        for (tick, label) in self.x.labelled_ticks() {
            let px = self.px(tick);
            let anchor = if px + text_width(&label) / 2.0 > WIDTH - 2.0 {
                "end"
            } else {
                "middle"
            };
            let _ = writeln!(
                svg,
                "<path class=\"grid\" d=\"M{px:.2},{y0:.2} L{px:.2},{y1:.2}\" stroke=\"#e3e3e3\"/>\n<text class=\"tick x-tick\" x=\"{px:.2}\" y=\"{:.2}\" text-anchor=\"{anchor}\">{}</text>",
                y1 + 14.0,
                svg_text(&label)
            );
        }
        for (tick, label) in self.y.labelled_ticks() {
            let py = self.py(tick);
            let _ = writeln!(
                svg,
                "<path class=\"grid\" d=\"M{x0:.2},{py:.2} L{x1:.2},{py:.2}\" stroke=\"#e3e3e3\"/>\n<text class=\"tick y-tick{}\" x=\"{:.2}\" y=\"{:.2}\" text-anchor=\"end\">{}</text>",
                if self.y.integer { " count" } else { "" },
                x0 - 4.0,
                py + 4.0,
                svg_text(&label)
            );
        }
        let _ = writeln!(
            svg,
            "<path class=\"axes\" d=\"M{x0:.2},{y0:.2} L{x0:.2},{y1:.2} L{x1:.2},{y1:.2}\" stroke=\"#333333\" fill=\"none\"/>"
        );
        let _ = writeln!(
            svg,
            "<text x=\"{:.2}\" y=\"{:.2}\" text-anchor=\"middle\">{}</text>",
            (x0 + x1) / 2.0,
            HEIGHT - 10.0,
            svg_text(&self.x.label)
        );
        let _ = writeln!(
            svg,
            "<text transform=\"translate(14 {:.2}) rotate(-90)\" text-anchor=\"middle\">{}</text>",
            (y0 + y1) / 2.0,
            svg_text(&self.y.label)
        );
        svg.push_str(&self.body);
        let (lx, ly) = self.legend_corner();
        if !self.legend.is_empty() {
            let (w, h) = self.legend_size();
            let _ = writeln!(
                svg,
                "<rect class=\"legend-box\" x=\"{:.2}\" y=\"{:.2}\" width=\"{w:.2}\" height=\"{h:.2}\" fill=\"#ffffff\" fill-opacity=\"0.85\"/>",
                lx - 4.0,
                ly - 2.0
            );
        }
        for (i, (label, colour, dashed)) in self.legend.iter().enumerate() {
            let y = ly + 8.0 + 16.0 * i as f64;
            let x = lx;
            let dash = if *dashed {
                " stroke-dasharray=\"4 3\""
            } else {
                ""
            };
            let _ = writeln!(
                svg,
                "<path class=\"legend\" d=\"M{x:.2},{y:.2} L{:.2},{y:.2}\" stroke=\"{colour}\" stroke-width=\"3\"{dash}/>\n<text x=\"{:.2}\" y=\"{:.2}\">{}</text>",
                x + 20.0,
                x + 26.0,
                y + 4.0,
                svg_text(label)
            );
        }
        svg.push_str("</svg>\n");
        svg
    }

    fn legend_size(&self) -> (f64, f64) {
        let widest = self
            .legend
            .iter()
            .map(|(l, _, _)| text_width(&l.replace('`', "")))
            .fold(0.0, f64::max);
        (widest + 36.0, 16.0 * self.legend.len() as f64 + 2.0)
    }

    /// Top-left of the legend: the plot corner whose box covers the least area of drawn marks
    /// (top-left first on ties).
    fn legend_corner(&self) -> (f64, f64) {
        let (w, h) = self.legend_size();
        let (x0, x1, y0, y1) = (LEFT, WIDTH - RIGHT, TOP, HEIGHT - BOTTOM);
        let corners = [
            (x0 + 12.0, y0 + 2.0),
            (x1 - w - 4.0, y0 + 2.0),
            (x1 - w - 4.0, y1 - h - 4.0),
            (x0 + 12.0, y1 - h - 4.0),
        ];
        let overlap = |(cx, cy): (f64, f64)| {
            let (bx0, by0, bx1, by1) = (cx - 4.0, cy - 2.0, cx - 4.0 + w, cy - 2.0 + h);
            self.occupied
                .iter()
                .map(|&(ax0, ay0, ax1, ay1)| {
                    let dx = (ax1.min(bx1) - ax0.max(bx0)).max(0.0);
                    let dy = (ay1.min(by1) - ay0.max(by0)).max(0.0);
                    // A point or thin mark still counts.
                    if dx > 0.0 || dy > 0.0 {
                        (dx.max(1.0)) * (dy.max(1.0)) * f64::from(u8::from(dx > 0.0 && dy > 0.0))
                    } else {
                        0.0
                    }
                })
                .sum::<f64>()
        };
        let mut best = corners[0];
        let mut best_overlap = overlap(best);
        for &c in &corners[1..] {
            let o = overlap(c);
            if o < best_overlap {
                best = c;
                best_overlap = o;
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_axis_maps_decades_evenly() {
        let axis = Axis::log10(1e-3, 1.0, "fpr");
        assert!((axis.fraction(1e-3) - 0.0).abs() < 1e-12);
        assert!((axis.fraction(1e-2) - 1.0 / 3.0).abs() < 1e-12);
        assert!((axis.fraction(1.0) - 1.0).abs() < 1e-12);
        assert_eq!(axis.ticks(), vec![1e-3, 1e-2, 1e-1, 1.0]);
        assert_eq!(
            axis.labelled_ticks()
                .iter()
                .map(|t| t.1.as_str())
                .collect::<Vec<_>>(),
            ["1e-3", "0.01", "0.1", "1"]
        );
        // Values below the range (e.g. FPR 0) are drawn on the axis, not lost.
        assert_eq!(axis.fraction(0.0), 0.0);
    }

    fn labels(axis: &Axis) -> Vec<String> {
        axis.labelled_ticks().into_iter().map(|t| t.1).collect()
    }

    #[test]
    fn linear_ticks_are_nice_and_counts_are_integers() {
        assert_eq!(nice_step(5.225, 5), 1.0);
        assert_eq!(nice_step(1.919, 5), 0.5);
        assert_eq!(nice_step(0.4797, 5), 0.1);
        assert_eq!(nice_step(1.2e4, 5), 2000.0);
        assert_eq!(
            labels(&Axis::linear(0.0, 5.225, "x")),
            ["0", "1", "2", "3", "4", "5"]
        );
        assert_eq!(
            labels(&Axis::linear(0.0, 0.4797, "x")),
            ["0.0", "0.1", "0.2", "0.3", "0.4"]
        );
        assert_eq!(
            labels(&Axis::linear(-1.066, 1.919, "x")),
            ["-1.0", "-0.5", "0.0", "0.5", "1.0", "1.5"]
        );
        // A count axis with a peak of 1 gets 0 and 1, never 0.2, 0.4, ….
        assert_eq!(labels(&Axis::count(1.0, "runs")), ["0", "1"]);
        assert_eq!(labels(&Axis::count(1.25, "forget examples")), ["0", "1"]);
        let mut plot = Plot::new(
            "h",
            Axis::linear(0.0, 1.0, "x"),
            Axis::linear(0.0, 1.375, "n"),
        );
        plot.bars("b", PALETTE[0], &[0.0, 0.5, 1.0], &[1.0, 1.0]);
        assert!(plot.y.integer);
        let svg = plot.finish();
        let y_ticks: Vec<&str> = svg
            .split("class=\"tick y-tick count\"")
            .skip(1)
            .map(|t| t.split('>').nth(1).unwrap().split('<').next().unwrap())
            .collect();
        assert_eq!(y_ticks, ["0", "1"], "{svg}");
    }

    #[test]
    fn one_dwarfing_value_switches_to_log() {
        assert_eq!(
            Axis::linear_or_log(&[0.01, 0.02, 1.0], "d").scale,
            Scale::Log10
        );
        assert_eq!(
            Axis::linear_or_log(&[0.5, 0.8, 1.0], "d").scale,
            Scale::Linear
        );
    }

    #[test]
    fn legend_avoids_the_bars_and_last_tick_fits() {
        // Tall bars on the left: the legend moves right.
        let mut plot = Plot::new("h", Axis::linear(0.0, 1e4, "x"), Axis::count(10.0, "n"));
        plot.bars(
            "tall",
            PALETTE[0],
            &[0.0, 1e3, 2e3, 3e3],
            &[11.0, 11.0, 11.0],
        );
        let corner = plot.legend_corner();
        assert!(corner.0 > WIDTH / 2.0, "{corner:?}");
        let svg = plot.finish();
        // "10000" at the right edge would cross it centred: anchored at its end.
        assert!(
            svg.contains("x=\"544.00\" y=\"306.00\" text-anchor=\"end\">10000<"),
            "{svg}"
        );
    }

    #[test]
    fn plot_escapes_text_and_draws_series() {
        let mut plot = Plot::new(
            "a < b",
            Axis::linear(0.0, 1.0, "x"),
            Axis::linear(0.0, 1.0, "y"),
        );
        plot.line("diag & co", PALETTE[0], &[(0.0, 0.0), (1.0, 1.0)], false);
        let svg = plot.finish();
        assert!(svg.contains("a &lt; b"));
        assert!(svg.contains("diag &amp; co"));
        assert!(svg.contains("class=\"series\" d=\"M64.00,292.00 L544.00,28.00\""));
    }
}
