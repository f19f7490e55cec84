//! [`Certificate`]: a mechanism's certified (ε, δ) with its inputs and intermediate
//! quantities, as a [`Finding`] (outcome Info) for the report spine.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::report::{Finding, Outcome, Table, fmt_number};

/// A theoretical certificate: what a mechanism's parameters guarantee.
///
/// JSON fields: `mechanism`, `calibration` (or `null`), `sigma` (or `null` when the mechanism
/// has no single noise scale), `epsilon`, `delta`, `parameters` (the inputs), `intermediate`
/// (every quantity on the way, e.g. `alpha`, `c`, `renyi_slope`), `notes`, `source` (the
/// section of `docs/certificates.md`), `outcome` (`info`).
#[derive(Debug, Clone, Serialize)]
pub struct Certificate {
    /// Mechanism name, e.g. `gaussian`, `guo`, `koloskova_gradient_clip`.
    pub mechanism: String,
    /// The Gaussian calibration behind the headline numbers, if one applies.
    pub calibration: Option<String>,
    /// Noise standard deviation, if the mechanism has one.
    pub sigma: Option<f64>,
    /// Certified ε (rounded up).
    pub epsilon: f64,
    /// Certified δ (rounded up).
    pub delta: f64,
    /// The inputs, in the order given.
    pub parameters: Map<String, Value>,
    /// Intermediate quantities, in computation order.
    pub intermediate: Map<String, Value>,
    /// Caveats worth reading beside the numbers.
    pub notes: Vec<String>,
    /// Where the theorem is written up, e.g. `docs/certificates.md §3`.
    pub source: String,
    #[serde(flatten)]
    outcome: Outcome,
}

fn number(value: f64) -> Value {
    serde_json::Number::from_f64(value)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

impl Certificate {
    /// A certificate with headline (ε, δ) and its documentation section.
    pub fn new(mechanism: &str, epsilon: f64, delta: f64, source: &str) -> Self {
        Certificate {
            mechanism: mechanism.to_string(),
            calibration: None,
            sigma: None,
            epsilon,
            delta,
            parameters: Map::new(),
            intermediate: Map::new(),
            notes: Vec::new(),
            source: source.to_string(),
            outcome: Outcome::Info,
        }
    }

    /// Sets σ.
    pub fn with_sigma(mut self, sigma: f64) -> Self {
        self.sigma = Some(sigma);
        self
    }

    /// Sets the calibration name.
    pub fn with_calibration(mut self, calibration: &str) -> Self {
        self.calibration = Some(calibration.to_string());
        self
    }

    /// Records an input. A non-finite value becomes `null` with a note.
    pub fn parameter(mut self, name: &str, value: f64) -> Self {
        if !value.is_finite() {
            self.notes
                .push(format!("parameter `{name}` is undefined ({value})"));
        }
        self.parameters.insert(name.to_string(), number(value));
        self
    }

    /// Records an intermediate quantity. A non-finite value becomes `null` with a note.
    pub fn intermediate(mut self, name: &str, value: f64) -> Self {
        if !value.is_finite() {
            self.notes.push(format!("`{name}` is undefined ({value})"));
        }
        self.intermediate.insert(name.to_string(), number(value));
        self
    }

    /// Records a textual intermediate (e.g. which conversion).
    pub fn intermediate_text(mut self, name: &str, value: &str) -> Self {
        self.intermediate
            .insert(name.to_string(), Value::String(value.to_string()));
        self
    }

    /// Adds a note.
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }
}

fn cell(value: &Value) -> String {
    match value {
        Value::Number(n) => n.as_f64().map(fmt_number).unwrap_or_else(|| n.to_string()),
        Value::String(s) => s.clone(),
        Value::Null => "—".to_string(),
        other => other.to_string(),
    }
}

impl Finding for Certificate {
    fn title(&self) -> String {
        format!("Certificate: {}", self.mechanism)
    }

    fn outcome(&self) -> Outcome {
        self.outcome.clone()
    }

    fn markdown(&self) -> String {
        let mut table = Table::new(["quantity", "value", "kind"]);
        if let Some(sigma) = self.sigma {
            table.row(["sigma".to_string(), fmt_number(sigma), "result".into()]);
        }
        table.row([
            "epsilon".to_string(),
            fmt_number(self.epsilon),
            "result".into(),
        ]);
        table.row(["delta".to_string(), fmt_number(self.delta), "result".into()]);
        if let Some(calibration) = &self.calibration {
            table.row([
                "calibration".to_string(),
                calibration.clone(),
                "result".into(),
            ]);
        }
        for (name, value) in &self.intermediate {
            table.row([name.clone(), cell(value), "intermediate".into()]);
        }
        for (name, value) in &self.parameters {
            table.row([name.clone(), cell(value), "parameter".into()]);
        }
        let mut out = table.markdown();
        for note in &self.notes {
            out.push_str(&format!("\nNote: {note}\n"));
        }
        out.push_str(&format!("\nSource: {}\n", self.source));
        out
    }
}
