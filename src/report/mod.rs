//! The report spine: typed findings rendered as JSON (the contract users script against),
//! Markdown (a report an auditor can hand over) and a plain-text table for the terminal, and
//! the mapping from outcomes to exit codes.
//!
//! Every analysis returns a struct that implements [`Finding`]. Commands print one finding;
//! `run` (audit plans) collects many into a [`Report`].

pub mod html;
pub mod svg;
mod table;

pub use table::Table;

use serde::Serialize;

/// What a finding concludes. Exit codes (ARCHITECTURE.md "Contracts"): `0` every check passes
/// or the claim is consistent, `1` a check failed or the claim is violated, `3` inconclusive;
/// `2` (usage or input error) never comes from an outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// A measurement with no pass/fail rule attached.
    Info,
    /// Every check passed / the claim is consistent with the evidence.
    Pass,
    /// A check failed / the claim is violated.
    Fail { reason: String },
    /// The evidence cannot decide; never counts as a pass.
    Inconclusive { reason: String },
}

impl Outcome {
    /// The process exit code for this outcome alone.
    pub fn exit_code(&self) -> u8 {
        match self {
            Outcome::Info | Outcome::Pass => 0,
            Outcome::Fail { .. } => 1,
            Outcome::Inconclusive { .. } => 3,
        }
    }

    /// The outcome's name: "info", "pass", "fail" or "inconclusive".
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Info => "info",
            Outcome::Pass => "pass",
            Outcome::Fail { .. } => "fail",
            Outcome::Inconclusive { .. } => "inconclusive",
        }
    }

    /// Combines outcomes: any failure fails; otherwise any inconclusive is inconclusive.
    pub fn combine<'a>(outcomes: impl IntoIterator<Item = &'a Outcome>) -> Outcome {
        let mut combined = Outcome::Pass;
        for outcome in outcomes {
            match (outcome, &combined) {
                (Outcome::Fail { .. }, Outcome::Fail { .. }) => {}
                (Outcome::Fail { .. }, _) => combined = outcome.clone(),
                (Outcome::Inconclusive { .. }, Outcome::Pass) => combined = outcome.clone(),
                _ => {}
            }
        }
        combined
    }
}

/// A typed result of one analysis.
pub trait Finding: Serialize {
    /// A short title, e.g. "Indistinguishability metrics".
    fn title(&self) -> String;
    /// The conclusion; [`Outcome::Info`] for pure measurements.
    fn outcome(&self) -> Outcome {
        Outcome::Info
    }
    /// The finding as Markdown (a section body, without its title).
    fn markdown(&self) -> String;
    /// The finding as plain text for a terminal; Markdown tables read well there too.
    fn text(&self) -> String {
        self.markdown()
    }
}

/// Serialises a finding as pretty JSON. Non-finite numbers must already have been turned into
/// `null` with a reason by the finding itself; this checks it and refuses otherwise.
pub fn to_json<T: Serialize + ?Sized>(finding: &T) -> Result<String, ReportError> {
    let value = serde_json::to_value(finding).map_err(ReportError::Serialize)?;
    let mut text = serde_json::to_string_pretty(&value).map_err(ReportError::Serialize)?;
    text.push('\n');
    Ok(text)
}

/// Provenance of a report: the tool, its version, and the inputs it read.
#[derive(Debug, Clone, Serialize)]
pub struct Provenance {
    pub tool: &'static str,
    pub version: &'static str,
    pub inputs: Vec<InputDigest>,
}

impl Provenance {
    /// Provenance of this build with no inputs recorded yet.
    pub fn new() -> Self {
        Provenance {
            tool: env!("CARGO_PKG_NAME"),
            version: env!("CARGO_PKG_VERSION"),
            inputs: Vec::new(),
        }
    }
}

impl Default for Provenance {
    fn default() -> Self {
        Self::new()
    }
}

/// A file an audit read, with its SHA-256.
#[derive(Debug, Clone, Serialize)]
pub struct InputDigest {
    pub path: String,
    pub sha256: String,
}

/// SHA-256 of a file, as lowercase hex, read in 1 MiB blocks.
pub fn sha256_file(path: &std::path::Path) -> std::io::Result<String> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Errors raised while rendering a report.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    #[error("could not serialise the report: {0}")]
    Serialize(#[source] serde_json::Error),
}

/// Formats a float for tables: 4 significant digits, scientific when tiny or huge.
pub fn fmt_number(value: f64) -> String {
    if !value.is_finite() {
        return format!("{value}");
    }
    let magnitude = value.abs();
    if value == 0.0 {
        "0".to_string()
    } else if !(1e-3..1e5).contains(&magnitude) {
        format!("{value:.3e}")
    } else {
        let decimals = (3 - magnitude.log10().floor() as i32).max(0) as usize;
        format!("{value:.decimals$}")
    }
}

/// Rewrites every decimal number in `text` that carries more than six significant digits
/// (e.g. `0.30000000000000004`, `1.2345678901234e-5`) with [`fmt_number`], leaving integers,
/// short numbers and tokens glued to letters (hashes, names such as `js2`) untouched. For
/// reasons assembled with `{}` on raw floats.
pub fn round_floats(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let glued = |c: Option<&char>| c.is_some_and(|c| c.is_alphanumeric() || *c == '_');
    while i < chars.len() {
        let starts_number = chars[i].is_ascii_digit()
            || (chars[i] == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit));
        if !starts_number || glued(if i > 0 { chars.get(i - 1) } else { None }) {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let start = i;
        if chars[i] == '-' {
            i += 1;
        }
        while i < chars.len() && chars[i].is_ascii_digit() {
            i += 1;
        }
        let mut decimal = false;
        if i + 1 < chars.len() && chars[i] == '.' && chars[i + 1].is_ascii_digit() {
            decimal = true;
            i += 1;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
        }
        if i + 1 < chars.len() && (chars[i] == 'e' || chars[i] == 'E') {
            let mut j = i + 1;
            if chars[j] == '-' || chars[j] == '+' {
                j += 1;
            }
            if j < chars.len() && chars[j].is_ascii_digit() {
                while j < chars.len() && chars[j].is_ascii_digit() {
                    j += 1;
                }
                i = j;
            }
        }
        let token: String = chars[start..i].iter().collect();
        let mantissa = token.split(['e', 'E']).next().unwrap_or("");
        let significant = mantissa
            .trim_start_matches('-')
            .replace('.', "")
            .trim_start_matches('0')
            .len();
        let next = chars.get(i);
        match token.parse::<f64>() {
            Ok(value) if decimal && significant > 6 && !glued(next) => {
                out.push_str(&fmt_number(value));
            }
            _ => out.push_str(&token),
        }
    }
    out
}

/// Formats an optional float, `—` when undefined.
pub fn fmt_optional(value: Option<f64>) -> String {
    value.map(fmt_number).unwrap_or_else(|| "—".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_floats_in_text_are_rounded_and_nothing_else() {
        assert_eq!(
            round_floats("js = 0.30000000000000004 violates js ≤ 0.3"),
            "js = 0.3000 violates js ≤ 0.3"
        );
        assert_eq!(
            round_floats("(1.2345678901234567e-5, -2.718281828459045)"),
            "(1.235e-5, -2.718)"
        );
        let hash = "sha256 d7ff1341011182b7af3733b201a919ce, run 123456789, 0.123456, ab1.2345678";
        assert_eq!(round_floats(hash), hash);
    }

    #[test]
    fn outcomes_combine_fail_over_inconclusive_over_pass() {
        let pass = Outcome::Pass;
        let inconclusive = Outcome::Inconclusive { reason: "n".into() };
        let fail = Outcome::Fail { reason: "f".into() };
        assert_eq!(Outcome::combine([&pass, &Outcome::Info]).exit_code(), 0);
        assert_eq!(Outcome::combine([&pass, &inconclusive]).exit_code(), 3);
        assert_eq!(
            Outcome::combine([&inconclusive, &fail, &pass]).exit_code(),
            1
        );
    }

    #[test]
    fn numbers_format_with_four_significant_digits() {
        assert_eq!(fmt_number(0.5108256), "0.5108");
        assert_eq!(fmt_number(12.34567), "12.35");
        assert_eq!(fmt_number(1.5e-7), "1.500e-7");
        assert_eq!(fmt_number(0.0), "0");
        assert_eq!(fmt_optional(None), "—");
    }

    #[test]
    fn sha256_matches_known_digest() {
        let dir = std::env::temp_dir().join(format!("ua-sha-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("abc.txt");
        std::fs::write(&file, b"abc").unwrap();
        assert_eq!(
            sha256_file(&file).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
