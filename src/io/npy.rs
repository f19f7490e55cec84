//! The `.npy` format (versions 1.0, 2.0, 3.0): header parsing and memory-mapped views.
//! Format reference: numpy `numpy/lib/format.py` (magic `\x93NUMPY`, a little-endian header
//! length, a Python-literal dict with `descr`, `fortran_order`, `shape`).

use std::path::Path;

use ndarray::ArrayD;

use super::IoError;
use super::raw::{ByteOrder, Dtype, MemoryOrder, RawArray, Storage, map_file};

/// Largest header we accept. numpy writes headers of a few hundred bytes; anything beyond
/// this is corrupt (an "absurd header length").
pub(crate) const MAX_HEADER_LEN: usize = 1 << 20;

/// Parsed npy header: where the data starts and how to read it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NpyHeader {
    pub dtype: Dtype,
    pub byte_order: ByteOrder,
    pub shape: Vec<usize>,
    pub order: MemoryOrder,
    /// Offset of the first data byte from the start of the npy bytes.
    pub data_offset: usize,
}

/// Parses the header at the start of `bytes` (an npy file or npz member).
pub(crate) fn parse_header(bytes: &[u8], path: &Path, name: &str) -> Result<NpyHeader, IoError> {
    let bad = |message: String| IoError::invalid(path, name, message);
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad("not an .npy array (missing \\x93NUMPY magic)".into()));
    }
    let major = bytes[6];
    let (header_len, start) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err(bad("truncated .npy header".into()));
            }
            (
                u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
                12,
            )
        }
        v => return Err(bad(format!("unsupported .npy format version {v}"))),
    };
    if header_len > MAX_HEADER_LEN {
        return Err(bad(format!(
            "absurd header length {header_len} bytes (limit {MAX_HEADER_LEN})"
        )));
    }
    let end = start + header_len;
    if end > bytes.len() {
        return Err(bad(format!(
            "header length {header_len} exceeds the {} bytes available (truncated)",
            bytes.len()
        )));
    }
    let text = std::str::from_utf8(&bytes[start..end])
        .map_err(|_| bad("header is not valid text".into()))?;
    let dict =
        parse_dict(text).map_err(|m| bad(format!("malformed header ({m}): {}", clip(text))))?;
    let (dtype, byte_order) = match dict.descr {
        HeaderValue::Text(descr) => parse_descr(descr).map_err(bad)?,
        HeaderValue::List => {
            return Err(bad(
                "structured dtype (a list descr) is not supported (need a plain numeric array)"
                    .into(),
            ));
        }
        _ => return Err(bad(format!("'descr' is not a type string: {}", clip(text)))),
    };
    let order = match dict.fortran_order {
        HeaderValue::Bool(true) => MemoryOrder::Fortran,
        HeaderValue::Bool(false) => MemoryOrder::C,
        _ => {
            return Err(bad(format!(
                "'fortran_order' is not True or False: {}",
                clip(text)
            )));
        }
    };
    let shape = match dict.shape {
        HeaderValue::Tuple(shape) => shape,
        _ => {
            return Err(bad(format!(
                "'shape' is not a tuple of non-negative integers: {}",
                clip(text)
            )));
        }
    };
    Ok(NpyHeader {
        dtype,
        byte_order,
        shape,
        order,
        data_offset: end,
    })
}

/// A header text cut to 200 characters for messages.
fn clip(text: &str) -> String {
    let text = text.trim_end();
    match text.char_indices().nth(200) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text.to_string(),
    }
}

/// One value of the header dict.
#[derive(Debug, Clone, PartialEq)]
enum HeaderValue<'a> {
    Text(&'a str),
    Bool(bool),
    Tuple(Vec<usize>),
    /// A list (a structured dtype's descr); refused with its own message.
    List,
}

/// The three keys numpy writes, each exactly once.
struct HeaderDict<'a> {
    descr: HeaderValue<'a>,
    fortran_order: HeaderValue<'a>,
    shape: HeaderValue<'a>,
}

/// Parses the header's Python dict literal strictly: `{'descr': '<f4', 'fortran_order':
/// False, 'shape': (3, 4), }` followed only by padding. The keys must be exactly `descr`,
/// `fortran_order` and `shape` (numpy refuses others), each once: a repeated key is refused
/// (Python keeps the last, a naive reader the first; we keep neither). Values are a quoted
/// string, `True`/`False`, a tuple of non-negative integers (`(7,)`, `()`, `(3, 4)`), or a list
/// (a structured dtype). Nothing else is accepted.
fn parse_dict(text: &str) -> Result<HeaderDict<'_>, String> {
    let mut p = Cursor { text, at: 0 };
    p.skip_ws();
    p.expect('{')?;
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    loop {
        p.skip_ws();
        if p.eat('}') {
            break;
        }
        let key = p.string()?;
        let slot = match key {
            "descr" => &mut descr,
            "fortran_order" => &mut fortran,
            "shape" => &mut shape,
            other => return Err(format!("unexpected key {other:?}")),
        };
        if slot.is_some() {
            return Err(format!("key {key:?} appears twice"));
        }
        p.skip_ws();
        p.expect(':')?;
        p.skip_ws();
        *slot = Some(p.value()?);
        p.skip_ws();
        if p.eat(',') {
            continue;
        }
        p.skip_ws();
        p.expect('}')?;
        break;
    }
    p.skip_ws();
    if p.at != text.len() {
        return Err(format!("text after the closing brace at byte {}", p.at));
    }
    Ok(HeaderDict {
        descr: descr.ok_or("no 'descr'")?,
        fortran_order: fortran.ok_or("no 'fortran_order'")?,
        shape: shape.ok_or("no 'shape'")?,
    })
}

struct Cursor<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    fn rest(&self) -> &'a str {
        &self.text[self.at..]
    }
    fn skip_ws(&mut self) {
        let rest = self.rest();
        self.at += rest.len() - rest.trim_start().len();
    }
    fn eat(&mut self, c: char) -> bool {
        if self.rest().starts_with(c) {
            self.at += c.len_utf8();
            true
        } else {
            false
        }
    }
    fn expect(&mut self, c: char) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!("expected '{c}' at byte {}", self.at))
        }
    }
    fn string(&mut self) -> Result<&'a str, String> {
        let rest = self.rest();
        let quote = rest
            .chars()
            .next()
            .filter(|c| *c == '\'' || *c == '"')
            .ok_or_else(|| format!("expected a quoted string at byte {}", self.at))?;
        let body = &rest[1..];
        let end = body
            .find([quote, '\\'])
            .filter(|&i| body[i..].starts_with(quote))
            .ok_or_else(|| format!("unterminated or escaped string at byte {}", self.at))?;
        self.at += end + 2;
        Ok(&body[..end])
    }
    fn value(&mut self) -> Result<HeaderValue<'a>, String> {
        let rest = self.rest();
        if rest.starts_with('\'') || rest.starts_with('"') {
            return self.string().map(HeaderValue::Text);
        }
        for (word, value) in [("True", true), ("False", false)] {
            if rest.starts_with(word) {
                self.at += word.len();
                return Ok(HeaderValue::Bool(value));
            }
        }
        if rest.starts_with('[') {
            // Skip a (possibly nested) list; it is refused by the caller.
            let mut depth = 0usize;
            for (i, c) in rest.char_indices() {
                match c {
                    '[' | '(' => depth += 1,
                    ']' | ')' => {
                        depth = depth.saturating_sub(1);
                        if depth == 0 {
                            self.at += i + 1;
                            return Ok(HeaderValue::List);
                        }
                    }
                    _ => {}
                }
            }
            return Err("unterminated list".into());
        }
        if self.eat('(') {
            let mut dims = Vec::new();
            let mut trailing_comma = false;
            loop {
                self.skip_ws();
                if self.eat(')') {
                    break;
                }
                let rest = self.rest();
                let digits =
                    rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
                if digits == 0 {
                    return Err(format!("expected a dimension at byte {}", self.at));
                }
                let dim = rest[..digits].parse::<usize>().map_err(|_| {
                    format!("dimension {} does not fit in 64 bits", &rest[..digits])
                })?;
                self.at += digits;
                self.eat('L');
                dims.push(dim);
                self.skip_ws();
                trailing_comma = self.eat(',');
                if !trailing_comma {
                    self.skip_ws();
                    self.expect(')')?;
                    break;
                }
            }
            // `(7)` is the integer 7 in Python, not a tuple.
            if dims.len() == 1 && !trailing_comma {
                return Err("shape (n) without a comma is not a tuple".into());
            }
            return Ok(HeaderValue::Tuple(dims));
        }
        Err(format!("unexpected value at byte {}", self.at))
    }
}

/// Maps a numpy type string (`<f4`, `>i8`, `|b1`, `<f2`, ...) to a dtype and byte order.
pub(crate) fn parse_descr(descr: &str) -> Result<(Dtype, ByteOrder), String> {
    let mut chars = descr.chars();
    let (order, rest) = match chars.next() {
        Some('<') => (Some(ByteOrder::Little), chars.as_str()),
        Some('>') => (Some(ByteOrder::Big), chars.as_str()),
        Some('|') | Some('=') => (None, chars.as_str()),
        _ => (None, descr),
    };
    let dtype = match rest {
        "b1" | "?" => Dtype::Bool,
        "i1" => Dtype::I8,
        "i2" => Dtype::I16,
        "i4" => Dtype::I32,
        "i8" => Dtype::I64,
        "u1" => Dtype::U8,
        "u2" => Dtype::U16,
        "u4" => Dtype::U32,
        "u8" => Dtype::U64,
        "f2" => Dtype::F16,
        "f4" => Dtype::F32,
        "f8" => Dtype::F64,
        r if r.starts_with('O') => {
            return Err(format!(
                "object arrays (dtype {descr}) are refused: they need pickle, which can run code"
            ));
        }
        _ => return Err(format!("unsupported dtype {descr}")),
    };
    // '=' means native; every supported platform of this tool is little-endian.
    let order = order.unwrap_or(ByteOrder::Little);
    Ok((dtype, order))
}

/// Opens an `.npy` file as a memory-mapped typed view (nothing is decoded yet).
pub fn open_npy(path: &Path) -> Result<RawArray, IoError> {
    let storage = map_file(path)?;
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    raw_from_storage(path, &name, storage, 0)
}

/// Builds a view of the npy array whose bytes start at `start` in `storage`.
pub(crate) fn raw_from_storage(
    path: &Path,
    name: &str,
    storage: Storage,
    start: usize,
) -> Result<RawArray, IoError> {
    let header = parse_header(&storage.bytes()[start..], path, name)?;
    RawArray::new(
        path,
        name,
        header.dtype,
        header.byte_order,
        header.shape,
        header.order,
        storage,
        start + header.data_offset,
    )
}

/// Reads a small `.npy` array of any supported dtype fully as f64. Refuses NaN and Inf.
pub fn read_npy_f64(path: &Path) -> Result<ArrayD<f64>, IoError> {
    open_npy(path)?.to_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_numpy_headers() {
        let text = "{'descr': '<f4', 'fortran_order': True, 'shape': (3, 4), }          \n";
        let dict = parse_dict(text).unwrap();
        assert_eq!(dict.descr, HeaderValue::Text("<f4"));
        assert_eq!(dict.fortran_order, HeaderValue::Bool(true));
        assert_eq!(dict.shape, HeaderValue::Tuple(vec![3, 4]));
        let shape = |s: &str| -> Result<HeaderValue<'static>, String> {
            parse_dict(&format!(
                "{{'descr': '<f4', 'fortran_order': False, 'shape': {s}}}"
            ))
            .map(|d| match d.shape {
                HeaderValue::Tuple(t) => HeaderValue::Tuple(t),
                _ => HeaderValue::List,
            })
        };
        assert_eq!(shape("()").unwrap(), HeaderValue::Tuple(vec![]));
        assert_eq!(shape("(7,)").unwrap(), HeaderValue::Tuple(vec![7]));
        assert_eq!(shape("(7L, 2L)").unwrap(), HeaderValue::Tuple(vec![7, 2]));
        assert!(shape("(7)").is_err());
        assert!(shape("(-1,)").is_err());
        assert!(shape("(99999999999999999999999,)").is_err());
        assert_eq!(parse_descr(">i2").unwrap(), (Dtype::I16, ByteOrder::Big));
        assert_eq!(
            parse_descr("|b1").unwrap(),
            (Dtype::Bool, ByteOrder::Little)
        );
        assert!(parse_descr("|O").unwrap_err().contains("object"));
        assert!(parse_descr("<c16").unwrap_err().contains("unsupported"));
    }

    #[test]
    fn refuses_duplicate_unknown_and_missing_keys() {
        let twice = "{'descr': '<f4', 'descr': '<f8', 'fortran_order': False, 'shape': (2,), }";
        assert!(parse_dict(twice).err().unwrap().contains("twice"));
        let extra = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}";
        assert!(parse_dict(extra).err().unwrap().contains("unexpected key"));
        let missing = "{'descr': '<f4', 'shape': (2,)}";
        assert!(parse_dict(missing).err().unwrap().contains("fortran_order"));
        let trailing = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} junk";
        assert!(parse_dict(trailing).is_err());
        // A key hidden inside a value is not a key.
        let hidden = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'shape' (3,)}";
        assert!(parse_dict(hidden).is_err());
    }
}
