//! The one place where numeric tolerances live: input validation and tests use these, so a
//! change of policy is a change in one file.

/// Rows of a probability array must sum to one within this absolute tolerance.
pub const PROBABILITY_ROW_SUM: f64 = 1e-6;

/// Relative tolerance for comparisons against scipy/mpmath goldens of special functions.
pub const SPECIAL_FUNCTION_RELATIVE: f64 = 1e-10;

/// Relative tolerance for known-answer values quoted to 7 significant digits in the references.
pub const KNOWN_ANSWER_RELATIVE: f64 = 1e-6;

/// `|a - b| <= tol * max(|a|, |b|)`, with exact equality accepted (covers 0 and infinities).
pub fn relative_eq(a: f64, b: f64, tol: f64) -> bool {
    a == b || (a - b).abs() <= tol * a.abs().max(b.abs())
}
