//! The language-model bundle (`docs/formats.md` §LLM bundle, `docs/llm.md`): per-token
//! log-probabilities with their mask, per-position vocabulary statistics (Min-K %++), zlib
//! lengths (zlib attack) and the answer losses of TOFU's truth ratio.
//!
//! Every array is validated where it is used, and every error names the file, the array and
//! the row: shapes that disagree, a positive or non-finite log-probability on a used position,
//! a row with no target token, a negative or non-finite variance, a zlib length that is not a
//! positive integer, a missing optional file needed for the analysis asked.

use std::path::{Path, PathBuf};

use ndarray::{Array2, ArrayD, Ix2};

use super::{IoError, NpzFile};

/// `token_logprobs.npz`.
pub const TOKEN_LOGPROBS: &str = "token_logprobs.npz";
/// `token_mask.npz` (optional when nothing is padded).
pub const TOKEN_MASK: &str = "token_mask.npz";
/// `token_vocab_stats.npz` (Min-K %++).
pub const TOKEN_VOCAB_STATS: &str = "token_vocab_stats.npz";
/// `text_zlib.npz` (zlib attack).
pub const TEXT_ZLIB: &str = "text_zlib.npz";
/// `answer_losses.npz` (truth ratio).
pub const ANSWER_LOSSES: &str = "answer_losses.npz";

/// One split's token log-probabilities, `[n, T]` row-major, with the target mask.
#[derive(Debug, Clone)]
pub struct TokenSplit {
    pub split: String,
    pub n: usize,
    pub t: usize,
    /// log p of each target token given its prefix, `n·T` row-major.
    pub logprobs: Vec<f64>,
    /// True on real target tokens, `n·T` row-major.
    pub mask: Vec<bool>,
}

impl TokenSplit {
    /// Row `i` of the log-probabilities.
    pub fn row(&self, i: usize) -> &[f64] {
        &self.logprobs[i * self.t..(i + 1) * self.t]
    }
    /// Row `i` of the mask.
    pub fn mask_row(&self, i: usize) -> &[bool] {
        &self.mask[i * self.t..(i + 1) * self.t]
    }
}

/// The columns of row `mask` that OpenUnlearning's attacks read: `used` = every masked column
/// (LOSS, zlib), and the contiguous span from the first masked column to the second-to-last
/// masked one (Min-K %, Min-K %++: `tokenwise_logprobs` drops the last target token and keeps
/// any unmasked column in between). `None` when the row has no masked column.
pub fn row_span(mask: &[bool]) -> Option<(usize, usize, usize)> {
    let first = mask.iter().position(|&m| m)?;
    let last = mask.iter().rposition(|&m| m)?;
    let second_to_last = mask[..last].iter().rposition(|&m| m);
    // (first, end of the min-k span (exclusive), last)
    let end = match second_to_last {
        Some(j) => j + 1,
        None => first, // one target token: empty span
    };
    Some((first, end, last))
}

/// A directory holding an LLM bundle.
#[derive(Debug, Clone)]
pub struct LlmBundle {
    pub dir: PathBuf,
}

fn file(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

fn open_required(path: &Path, needed_for: &str) -> Result<NpzFile, IoError> {
    if !path.exists() {
        return Err(IoError::format(
            path,
            format!("missing file: it is needed for {needed_for} (docs/formats.md, LLM bundle)"),
        ));
    }
    NpzFile::open(path)
}

fn as_2d(path: &Path, name: &str, array: ArrayD<f64>) -> Result<Array2<f64>, IoError> {
    let shape = array.shape().to_vec();
    array.into_dimensionality::<Ix2>().map_err(|_| {
        IoError::invalid(
            path,
            name,
            format!("expected a 2-d array [n, T], found shape {shape:?}"),
        )
    })
}

fn check_shape(
    path: &Path,
    name: &str,
    found: &[usize],
    expected: &[usize],
    what: &str,
) -> Result<(), IoError> {
    if found != expected {
        return Err(IoError::invalid(
            path,
            name,
            format!("shape {found:?} differs from {what} {expected:?}"),
        ));
    }
    Ok(())
}

impl LlmBundle {
    pub fn new(dir: &Path) -> Result<LlmBundle, IoError> {
        if !dir.is_dir() {
            return Err(IoError::format(
                dir,
                "not a directory (an LLM bundle is a directory)",
            ));
        }
        Ok(LlmBundle {
            dir: dir.to_path_buf(),
        })
    }

    /// The token log-probabilities and mask of `split`, validated: every masked log-prob and
    /// every log-prob inside a row's Min-K span is finite and ≤ 0, every row has a target token.
    /// Padding outside those columns is not read.
    pub fn tokens(&self, split: &str) -> Result<TokenSplit, IoError> {
        let path = file(&self.dir, TOKEN_LOGPROBS);
        let npz = open_required(&path, "every language-model attack")?;
        let raw = npz.array(split)?;
        let lp = as_2d(&path, split, raw.to_f64_unchecked()?)?;
        let (n, t) = lp.dim();
        if n == 0 || t == 0 {
            return Err(IoError::invalid(
                &path,
                split,
                format!("empty array of shape [{n}, {t}]"),
            ));
        }
        let mask_path = file(&self.dir, TOKEN_MASK);
        let mask: Vec<bool> = if mask_path.exists() {
            let mnpz = NpzFile::open(&mask_path)?;
            let m = mnpz.array(split)?;
            check_shape(
                &mask_path,
                split,
                m.shape(),
                &[n, t],
                &format!("{TOKEN_LOGPROBS} `{split}`"),
            )?;
            let m = m
                .to_bool()
                .map_err(|e| with_hint(e, "the mask must be bool or 0/1"))?;
            m.iter().copied().collect()
        } else {
            vec![true; n * t]
        };
        let logprobs: Vec<f64> = lp.iter().copied().collect();
        for i in 0..n {
            let row = &logprobs[i * t..(i + 1) * t];
            let mrow = &mask[i * t..(i + 1) * t];
            let Some((first, end, last)) = row_span(mrow) else {
                return Err(IoError::invalid(
                    &mask_path,
                    split,
                    format!("row {i} has no target token (the mask is false everywhere)"),
                ));
            };
            for j in first..=last {
                if !(mrow[j] || j < end) {
                    continue;
                }
                let v = row[j];
                if v.is_nan() || v == f64::NEG_INFINITY || v == f64::INFINITY {
                    return Err(IoError::invalid(
                        &path,
                        split,
                        format!("row {i}, token {j}: non-finite log-probability {v}"),
                    ));
                }
                if v > 0.0 {
                    return Err(IoError::invalid(
                        &path,
                        split,
                        format!("row {i}, token {j}: positive log-probability {v} (log p ≤ 0)"),
                    ));
                }
            }
        }
        Ok(TokenSplit {
            split: split.to_string(),
            n,
            t,
            logprobs,
            mask,
        })
    }

    /// `<split>_mean` and `<split>_var` of `token_vocab_stats.npz`, `[n, T]` like the tokens;
    /// checked finite (mean ≤ 0) and var ≥ 0 on the Min-K span of each row.
    pub fn vocab_stats(&self, tokens: &TokenSplit) -> Result<(Vec<f64>, Vec<f64>), IoError> {
        let path = file(&self.dir, TOKEN_VOCAB_STATS);
        let npz = open_required(&path, "the min_k_plus_plus attack")?;
        let split = &tokens.split;
        let mut out = Vec::with_capacity(2);
        for suffix in ["mean", "var"] {
            let name = format!("{split}_{suffix}");
            let raw = npz.array(&name)?;
            check_shape(
                &path,
                &name,
                raw.shape(),
                &[tokens.n, tokens.t],
                &format!("{TOKEN_LOGPROBS} `{split}`"),
            )?;
            let values: Vec<f64> = raw.to_f64_unchecked()?.iter().copied().collect();
            for i in 0..tokens.n {
                let (first, end, _) = row_span(tokens.mask_row(i)).unwrap_or((0, 0, 0));
                for j in first..end {
                    let v = values[i * tokens.t + j];
                    if !v.is_finite() {
                        return Err(IoError::invalid(
                            &path,
                            &name,
                            format!("row {i}, token {j}: non-finite value {v}"),
                        ));
                    }
                    if suffix == "var" && v < 0.0 {
                        return Err(IoError::invalid(
                            &path,
                            &name,
                            format!("row {i}, token {j}: negative variance {v}"),
                        ));
                    }
                    if suffix == "mean" && v > 0.0 {
                        return Err(IoError::invalid(
                            &path,
                            &name,
                            format!(
                                "row {i}, token {j}: positive mean log-probability {v} (E[log p] ≤ 0)"
                            ),
                        ));
                    }
                }
            }
            out.push(values);
        }
        let var = out.pop().unwrap_or_default();
        let mean = out.pop().unwrap_or_default();
        Ok((mean, var))
    }

    /// `text_zlib.npz` `<split>`: `[n]` positive integers (compressed byte lengths).
    pub fn zlib_lengths(&self, tokens: &TokenSplit) -> Result<Vec<f64>, IoError> {
        let path = file(&self.dir, TEXT_ZLIB);
        let npz = open_required(&path, "the zlib attack")?;
        let split = &tokens.split;
        let raw = npz.array(split)?;
        check_shape(
            &path,
            split,
            raw.shape(),
            &[tokens.n],
            &format!("the rows of {TOKEN_LOGPROBS} `{split}`"),
        )?;
        let values = raw
            .to_i64()
            .map_err(|e| with_hint(e, "zlib lengths are integers"))?;
        values
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                if v <= 0 {
                    Err(IoError::invalid(
                        &path,
                        split,
                        format!("row {i}: zlib length {v} is not positive"),
                    ))
                } else {
                    Ok(v as f64)
                }
            })
            .collect()
    }

    /// `answer_losses.npz`: `<split>_correct` `[n]` or `[n, a]` and `<split>_wrong` `[n, w]`,
    /// finite and ≥ 0 (average token losses).
    pub fn answer_losses(&self, split: &str) -> Result<(Array2<f64>, Array2<f64>), IoError> {
        let path = file(&self.dir, ANSWER_LOSSES);
        let npz = open_required(&path, "the truth ratio (forget-quality)")?;
        let load = |name: &str| -> Result<Array2<f64>, IoError> {
            let array = npz.array(name)?.to_f64_unchecked()?;
            let array = match array.ndim() {
                1 => {
                    let n = array.len();
                    array
                        .into_shape_with_order((n, 1))
                        .map_err(|e| IoError::invalid(&path, name, e.to_string()))?
                }
                _ => as_2d(&path, name, array)?,
            };
            if array.nrows() == 0 || array.ncols() == 0 {
                return Err(IoError::invalid(
                    &path,
                    name,
                    format!("empty array of shape {:?}", array.shape()),
                ));
            }
            for (i, row) in array.rows().into_iter().enumerate() {
                for (j, &v) in row.iter().enumerate() {
                    if !v.is_finite() {
                        return Err(IoError::invalid(
                            &path,
                            name,
                            format!("row {i}, answer {j}: non-finite loss {v}"),
                        ));
                    }
                    if v < 0.0 {
                        return Err(IoError::invalid(
                            &path,
                            name,
                            format!(
                                "row {i}, answer {j}: negative average loss {v} (a loss is −log p ≥ 0)"
                            ),
                        ));
                    }
                }
            }
            Ok(array)
        };
        let correct = load(&format!("{split}_correct"))?;
        let wrong = load(&format!("{split}_wrong"))?;
        if correct.nrows() != wrong.nrows() {
            return Err(IoError::invalid(
                &path,
                format!("{split}_wrong"),
                format!(
                    "{} rows, but `{split}_correct` has {}",
                    wrong.nrows(),
                    correct.nrows()
                ),
            ));
        }
        Ok((correct, wrong))
    }
}

/// Appends `hint` to an invalid-array message (other errors pass through unchanged).
fn with_hint(error: IoError, hint: &str) -> IoError {
    match error {
        IoError::Invalid {
            path,
            array,
            message,
        } => IoError::Invalid {
            path,
            array,
            message: format!("{message} ({hint})"),
        },
        other => other,
    }
}
