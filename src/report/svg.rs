//! A tiny SVG writer for the HTML report: axes (linear or log10), polylines, error bars, bars,
//! reference lines and a legend, written as inline `<svg>` text with no script, no external
//! style and no fonts beyond the generic `sans-serif`. Numbers are printed with two decimals so
//! the same data gives the same bytes.

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
        self.ticks()
            .into_iter()
            .map(|t| (t, tick_label(t, self.scale)))
            .collect()
    }

    fn ticks(&self) -> Vec<f64> {
        match self.scale {
            Scale::Linear => (0..=4)
                .map(|i| self.low + (self.high - self.low) * i as f64 / 4.0)
                .collect(),
            Scale::Log10 => {
                let first = self.low.log10().ceil() as i32;
                let last = self.high.log10().floor() as i32;
                (first..=last).map(|e| 10f64.powi(e)).collect()
            }
        }
    }
}

fn tick_label(value: f64, scale: Scale) -> String {
    match scale {
        Scale::Log10 => {
            let exponent = value.log10().round() as i32;
            if (-2..=0).contains(&exponent) {
                format!("{value}")
            } else {
                format!("1e{exponent}")
            }
        }
        Scale::Linear => crate::report::fmt_number(value),
    }
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
    pub fn bars(&mut self, label: &str, colour: &str, edges: &[f64], counts: &[f64]) {
        for (i, &count) in counts.iter().enumerate() {
            if count <= 0.0 {
                continue;
            }
            let (x0, x1) = (self.px(edges[i]), self.px(edges[i + 1]));
            let (y0, y1) = (self.py(count), self.py(self.y.low.max(0.0)));
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
            escape(&self.title)
        );
        let (x0, x1, y0, y1) = (LEFT, WIDTH - RIGHT, TOP, HEIGHT - BOTTOM);
        // Grid and ticks.
        for (tick, label) in self.x.labelled_ticks() {
            let px = self.px(tick);
            let _ = writeln!(
                svg,
                "<path class=\"grid\" d=\"M{px:.2},{y0:.2} L{px:.2},{y1:.2}\" stroke=\"#e3e3e3\"/>\n<text x=\"{px:.2}\" y=\"{:.2}\" text-anchor=\"middle\">{}</text>",
                y1 + 14.0,
                escape(&label)
            );
        }
        for (tick, label) in self.y.labelled_ticks() {
            let py = self.py(tick);
            let _ = writeln!(
                svg,
                "<path class=\"grid\" d=\"M{x0:.2},{py:.2} L{x1:.2},{py:.2}\" stroke=\"#e3e3e3\"/>\n<text x=\"{:.2}\" y=\"{:.2}\" text-anchor=\"end\">{}</text>",
                x0 - 4.0,
                py + 4.0,
                escape(&label)
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
            escape(&self.x.label)
        );
        let _ = writeln!(
            svg,
            "<text transform=\"translate(14 {:.2}) rotate(-90)\" text-anchor=\"middle\">{}</text>",
            (y0 + y1) / 2.0,
            escape(&self.y.label)
        );
        svg.push_str(&self.body);
        for (i, (label, colour, dashed)) in self.legend.iter().enumerate() {
            let y = TOP + 10.0 + 16.0 * i as f64;
            let x = x0 + 12.0;
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
                escape(label)
            );
        }
        svg.push_str("</svg>\n");
        svg
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
        // Values below the range (e.g. FPR 0) are drawn on the axis, not lost.
        assert_eq!(axis.fraction(0.0), 0.0);
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
