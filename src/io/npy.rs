//! The `.npy` format (versions 1.0, 2.0, 3.0): header parsing and memory-mapped views.
//! Format reference: numpy `numpy/lib/format.py` (magic `\x93NUMPY`, a little-endian header
//! length, a Python-literal dict with `descr`, `fortran_order`, `shape`).

use std::path::Path;

use ndarray::ArrayD;

use super::IoError;
use super::raw::{ByteOrder, Dtype, MemoryOrder, RawArray, Storage, map_file};

/// Largest header we accept. numpy writes headers of a few hundred bytes; anything beyond
/// this is corrupt (an "absurd header length").
const MAX_HEADER_LEN: usize = 1 << 20;

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
    let descr =
        dict_value(text, "descr").ok_or_else(|| bad(format!("header has no 'descr': {text}")))?;
    let descr = descr.trim();
    if descr.starts_with('[') {
        return Err(bad(format!(
            "structured dtype {descr} is not supported (need a plain numeric array)"
        )));
    }
    let descr = descr.trim_matches(|c| c == '\'' || c == '"');
    let (dtype, byte_order) = parse_descr(descr).map_err(bad)?;
    let fortran = dict_value(text, "fortran_order")
        .ok_or_else(|| bad(format!("header has no 'fortran_order': {text}")))?;
    let order = match fortran.trim() {
        "True" => MemoryOrder::Fortran,
        "False" => MemoryOrder::C,
        other => return Err(bad(format!("bad fortran_order {other}"))),
    };
    let shape_text =
        dict_value(text, "shape").ok_or_else(|| bad(format!("header has no 'shape': {text}")))?;
    let shape = parse_shape(shape_text).map_err(bad)?;
    Ok(NpyHeader {
        dtype,
        byte_order,
        shape,
        order,
        data_offset: end,
    })
}

/// The raw text of the value of `key` in a Python dict literal (up to the matching `,` or `}`).
fn dict_value<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let needle_single = format!("'{key}'");
    let needle_double = format!("\"{key}\"");
    let at = text
        .find(&needle_single)
        .map(|i| i + needle_single.len())
        .or_else(|| text.find(&needle_double).map(|i| i + needle_double.len()))?;
    let rest = text[at..].trim_start().strip_prefix(':')?.trim_start();
    // The value ends at the first top-level ',' or '}'.
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    for (i, c) in rest.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '(' | '[') => depth += 1,
            (None, ')' | ']') => depth -= 1,
            (None, ',' | '}') if depth == 0 => return Some(&rest[..i]),
            _ => {}
        }
    }
    None
}

fn parse_shape(text: &str) -> Result<Vec<usize>, String> {
    let inner = text
        .trim()
        .strip_prefix('(')
        .and_then(|t| t.strip_suffix(')'))
        .ok_or_else(|| format!("shape {text} is not a tuple"))?;
    inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.trim_end_matches('L')
                .parse::<usize>()
                .map_err(|_| format!("bad dimension {s:?} in shape {text}"))
        })
        .collect()
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
        let text = "{'descr': '<f4', 'fortran_order': True, 'shape': (3, 4), }";
        assert_eq!(dict_value(text, "descr"), Some("'<f4'"));
        assert_eq!(
            dict_value(text, "fortran_order").map(str::trim),
            Some("True")
        );
        assert_eq!(
            parse_shape(dict_value(text, "shape").unwrap()).unwrap(),
            vec![3, 4]
        );
        assert_eq!(parse_shape("()").unwrap(), Vec::<usize>::new());
        assert_eq!(parse_shape("(7,)").unwrap(), vec![7]);
        assert_eq!(parse_descr(">i2").unwrap(), (Dtype::I16, ByteOrder::Big));
        assert_eq!(
            parse_descr("|b1").unwrap(),
            (Dtype::Bool, ByteOrder::Little)
        );
        assert!(parse_descr("|O").unwrap_err().contains("object"));
        assert!(parse_descr("<c16").unwrap_err().contains("unsupported"));
    }
}
