//! Round trips and validation of the readers in `unlearn_audit::io`: numpy-written fixtures
//! (every dtype, both byte orders, C and Fortran order, stored and deflated npz; script in
//! `fixtures/io/make_fixtures.py`), safetensors written from Rust (f16/bf16, unaligned), and
//! files corrupted on purpose.

use std::path::{Path, PathBuf};

use ndarray::ArrayD;
use proptest::prelude::*;
use unlearn_audit::io::{
    self, ByteOrder, Dtype, IoError, MemoryOrder, NpzFile, WeightsFile, load_labels,
    read_labelled_csv, read_npy_f64,
};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/io")
        .join(name)
}

/// The value the fixture script stored at logical row-major index `i` for dtype code `code`.
fn expected(code: &str, i: usize) -> f64 {
    let i = i as f64;
    match code {
        "b1" => i % 2.0,
        c if c.starts_with('u') => i,
        _ if (i as usize).is_multiple_of(2) => i,
        _ => -i,
    }
}

const CODES: [&str; 12] = [
    "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8", "b1",
];

fn fixture_names() -> Vec<(String, &'static str)> {
    let mut names = Vec::new();
    for code in CODES {
        for order in ["le", "be"] {
            if matches!(code, "i1" | "u1" | "b1") && order == "be" {
                continue;
            }
            for memory in ["c", "f"] {
                names.push((format!("{code}_{order}_{memory}"), code));
            }
        }
    }
    names
}

fn check_values(name: &str, code: &str, values: &ArrayD<f64>) {
    assert_eq!(values.shape(), &[3, 4], "{name}");
    for (i, v) in values.iter().enumerate() {
        assert_eq!(*v, expected(code, i), "{name} at {i}");
    }
}

#[test]
fn every_numpy_dtype_order_and_layout_reads_back() {
    for (name, code) in fixture_names() {
        let path = fixture(&format!("{name}.npy"));
        let view = io::open_npy(&path).unwrap();
        assert!(view.is_memory_mapped());
        assert_eq!(
            view.order(),
            if name.ends_with("_f") {
                MemoryOrder::Fortran
            } else {
                MemoryOrder::C
            },
            "{name}"
        );
        if name.contains("_be_") {
            assert_eq!(view.byte_order(), ByteOrder::Big, "{name}");
        }
        check_values(&name, code, &read_npy_f64(&path).unwrap());
        if code != "f2" && code != "f4" && code != "f8" {
            let ints = view.to_i64().unwrap();
            for (i, v) in ints.iter().enumerate() {
                assert_eq!(*v as f64, expected(code, i), "{name} at {i}");
            }
        }
    }
}

#[test]
fn stored_npz_members_are_mapped_and_deflated_ones_inflated() {
    let stored = NpzFile::open(&fixture("stored.npz")).unwrap();
    let deflated = NpzFile::open(&fixture("deflated.npz")).unwrap();
    assert_eq!(stored.names().len(), fixture_names().len());
    assert_eq!(stored.names(), deflated.names());
    for (name, code) in fixture_names() {
        let mapped = stored.array(&name).unwrap();
        assert!(mapped.is_memory_mapped(), "{name}");
        assert!(!deflated.array(&name).unwrap().is_memory_mapped(), "{name}");
        check_values(&name, code, &stored.array_f64(&name).unwrap());
        check_values(&name, code, &deflated.array_f64(&name).unwrap());
    }
    let mask = stored.array_bool("b1_le_f").unwrap();
    assert_eq!(mask.iter().filter(|b| **b).count(), 6);
    assert_eq!(stored.array_i64("i8_be_f").unwrap()[[2, 3]], -11);
    assert!(
        stored
            .array("missing")
            .unwrap_err()
            .to_string()
            .contains("missing")
    );
}

#[test]
fn numpy_safetensors_reads_in_name_order() {
    let weights = WeightsFile::open(&fixture("weights.safetensors")).unwrap();
    assert_eq!(weights.names(), vec!["a_f32", "b_f64", "c_f16"]);
    assert_eq!(weights.parameter_count(), 36);
    for tensor in weights.tensors() {
        check_values(tensor.name(), "f8", &tensor.to_f64().unwrap());
    }
}

/// Writes a safetensors file by hand with an unpadded header, so tensor data starts at odd
/// byte offsets (the official writer pads to 8 bytes).
fn write_unaligned_safetensors(path: &Path, tensors: &[(&str, &str, Vec<usize>, Vec<u8>)]) {
    let mut header = String::from("{");
    let mut offset = 0;
    let mut data = Vec::new();
    for (i, (name, dtype, shape, bytes)) in tensors.iter().enumerate() {
        if i > 0 {
            header.push(',');
        }
        header.push_str(&format!(
            "\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":{shape:?},\"data_offsets\":[{offset},{}]}}",
            offset + bytes.len()
        ));
        offset += bytes.len();
        data.extend_from_slice(bytes);
    }
    header.push('}');
    if header.len() % 2 == 0 {
        header.push(' ');
    }
    let mut file = (header.len() as u64).to_le_bytes().to_vec();
    file.extend_from_slice(header.as_bytes());
    file.extend_from_slice(&data);
    std::fs::write(path, file).unwrap();
}

#[test]
fn unaligned_f16_and_bf16_tensors_decode_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.safetensors");
    let f16_values = [1.5f32, -2.25, 0.003];
    let bf16_values = [0.003f32, 7.0, -1.0e30];
    let f16_bytes: Vec<u8> = f16_values
        .iter()
        .flat_map(|v| half::f16::from_f32(*v).to_le_bytes())
        .collect();
    let bf16_bytes: Vec<u8> = bf16_values
        .iter()
        .flat_map(|v| half::bf16::from_f32(*v).to_le_bytes())
        .collect();
    let odd = vec![7u8];
    let f64_bytes: Vec<u8> = [0.1f64, -3.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    write_unaligned_safetensors(
        &path,
        &[
            ("h", "F16", vec![3], f16_bytes),
            ("b", "BF16", vec![3, 1], bf16_bytes),
            ("u", "U8", vec![1], odd),
            ("z", "F64", vec![2], f64_bytes),
        ],
    );
    let weights = WeightsFile::open(&path).unwrap();
    let h = weights.tensor("h").unwrap();
    assert_eq!(h.dtype(), Dtype::F16);
    assert_eq!(
        h.byte_offset() % 2,
        1,
        "the test must exercise unaligned data"
    );
    let decoded: Vec<f64> = h.to_f64().unwrap().iter().copied().collect();
    assert_eq!(decoded, vec![1.5, -2.25, 0.0030002593994140625]);
    let b: Vec<f64> = weights
        .tensor("b")
        .unwrap()
        .to_f64()
        .unwrap()
        .iter()
        .copied()
        .collect();
    assert_eq!(b[0], 0.0030059814453125);
    assert_eq!(b[1], 7.0);
    assert_eq!(b[2], f64::from(half::bf16::from_f32(-1.0e30)));
    let z = weights.tensor("z").unwrap();
    let fp8 = dir.path().join("fp8.safetensors");
    write_unaligned_safetensors(&fp8, &[("q", "F8_E4M3", vec![2], vec![1, 2])]);
    let text = err_text(WeightsFile::open(&fp8));
    assert!(
        text.contains("fp8.safetensors")
            && text.contains("`q`")
            && text.contains("unsupported tensor dtype"),
        "{text}"
    );
    assert_ne!(z.byte_offset() % 8, 0);
    assert_eq!(z.to_f64().unwrap().as_slice().unwrap(), &[0.1, -3.0]);
}

/// Minimal npy writer (version 1.0) for tests: little-endian f32 or a given descr and bytes.
fn npy_bytes(descr: &str, shape: &[usize], fortran: bool, data: &[u8]) -> Vec<u8> {
    let shape_text = match shape.len() {
        1 => format!("({},)", shape[0]),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header = format!(
        "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape_text}, }}",
        if fortran { "True" } else { "False" }
    );
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

/// Writes an npz whose members are the given npy bytes, deflated or stored.
fn write_npz(path: &Path, members: &[(&str, Vec<u8>)], deflate: bool) {
    use std::io::Write;
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let method = if deflate {
        zip::CompressionMethod::Deflated
    } else {
        zip::CompressionMethod::Stored
    };
    let options = zip::write::SimpleFileOptions::default().compression_method(method);
    for (name, bytes) in members {
        zip.start_file(format!("{name}.npy"), options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
}

fn err_text(result: Result<impl std::fmt::Debug, IoError>) -> String {
    result.unwrap_err().to_string()
}

#[test]
fn bad_npy_files_are_refused_with_the_file_named() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: Vec<u8>| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };
    // Truncated: shape says 100 f32 but 3 are present.
    let path = write("trunc.npy", npy_bytes("<f4", &[100], false, &[0u8; 12]));
    let text = err_text(read_npy_f64(&path));
    assert!(
        text.contains("trunc.npy") && text.contains("truncated"),
        "{text}"
    );
    // Absurd header length (version 2 header claiming 4 GB).
    let mut absurd = b"\x93NUMPY\x02\x00".to_vec();
    absurd.extend_from_slice(&u32::MAX.to_le_bytes());
    absurd.extend_from_slice(b"{'descr': '<f4'}");
    let path = write("absurd.npy", absurd);
    let text = err_text(read_npy_f64(&path));
    assert!(
        text.contains("absurd.npy") && text.contains("absurd header length"),
        "{text}"
    );
    // Object array.
    let path = write("object.npy", npy_bytes("|O", &[2], false, &[0u8; 16]));
    let text = err_text(read_npy_f64(&path));
    assert!(text.contains("object arrays"), "{text}");
    // Unknown dtype.
    let path = write("complex.npy", npy_bytes("<c16", &[1], false, &[0u8; 16]));
    let text = err_text(read_npy_f64(&path));
    assert!(text.contains("unsupported dtype <c16"), "{text}");
    // Shape whose byte size overflows.
    let path = write(
        "huge.npy",
        npy_bytes("<f8", &[usize::MAX / 2, 4], false, &[0u8; 16]),
    );
    let text = err_text(read_npy_f64(&path));
    assert!(
        text.contains("huge.npy") && text.contains("overflow"),
        "{text}"
    );
    // NaN and Inf.
    let data: Vec<u8> = [1.0f32, f32::NAN]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let path = write("nan.npy", npy_bytes("<f4", &[2], false, &data));
    let text = err_text(read_npy_f64(&path));
    assert!(text.contains("nan.npy") && text.contains("non-finite") && text.contains("index 1"));
    // Not an npy at all, and empty.
    let text = err_text(read_npy_f64(&write("text.npy", b"hello world".to_vec())));
    assert!(text.contains("magic"), "{text}");
    let text = err_text(read_npy_f64(&write("empty.npy", Vec::new())));
    assert!(text.contains("empty"), "{text}");
    let text = err_text(read_npy_f64(&dir.path().join("absent.npy")));
    assert!(text.contains("absent.npy"), "{text}");
}

#[test]
fn corrupt_safetensors_and_truncated_npz_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.safetensors");
    let mut bytes = 20u64.to_le_bytes().to_vec();
    bytes.extend_from_slice(b"{\"a\": not json at all}");
    std::fs::write(&path, bytes).unwrap();
    let text = err_text(WeightsFile::open(&path));
    assert!(
        text.contains("bad.safetensors") && text.contains("corrupt"),
        "{text}"
    );
    let mut bytes = (1u64 << 60).to_le_bytes().to_vec();
    bytes.extend_from_slice(b"{}");
    std::fs::write(&path, bytes).unwrap();
    let text = err_text(WeightsFile::open(&path));
    assert!(text.contains("header length"), "{text}");

    let full = std::fs::read(fixture("stored.npz")).unwrap();
    let truncated = dir.path().join("truncated.npz");
    std::fs::write(&truncated, &full[..full.len() / 2]).unwrap();
    let text = err_text(NpzFile::open(&truncated));
    assert!(text.contains("truncated.npz"), "{text}");
}

#[test]
fn labels_and_labelled_csv_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let labels_path = dir.path().join("labels.npz");
    let forget: Vec<u8> = [3i64, 0, 9].iter().flat_map(|v| v.to_be_bytes()).collect();
    let pixels: Vec<u8> = vec![1, 2, 3, 4];
    write_npz(
        &labels_path,
        &[
            ("forget", npy_bytes(">i8", &[3], false, &forget)),
            ("seg", npy_bytes("|u1", &[2, 2], true, &pixels)),
        ],
        true,
    );
    let labels = load_labels(&labels_path).unwrap();
    assert_eq!(labels.names(), vec!["forget", "seg"]);
    assert_eq!(
        labels.get("forget").unwrap().as_slice().unwrap(),
        &[3, 0, 9]
    );
    assert_eq!(labels.get("seg").unwrap()[[0, 1]], 3, "Fortran order");
    assert!(
        load_labels(&fixture("deflated.npz")).is_err(),
        "float arrays are not labels"
    );

    let csv = dir.path().join("t.csv");
    std::fs::write(&csv, "x, y ,class\n1.5,2,0\n-3,4e1,2\n7,1e100,0\n").unwrap();
    let table = read_labelled_csv(&csv, "class").unwrap();
    assert_eq!(table.feature_names, vec!["x", "y"]);
    assert_eq!(
        table.features,
        ndarray::array![[1.5, 2.0], [-3.0, 40.0], [7.0, 1e100]]
    );
    assert_eq!(table.labels, vec![0, 2, 0]);
    assert_eq!(table.num_classes, 3);
    // K = max label + 1 may not exceed the number of rows (nor MAX_CLASSES).
    std::fs::write(&csv, "x, y ,class\n1.5,2,0\n-3,4e1,2\n").unwrap();
    let text = err_text(read_labelled_csv(&csv, "class"));
    assert!(
        text.contains("t.csv") && text.contains("`class`") && text.contains("line 3"),
        "{text}"
    );
    std::fs::write(&csv, "x,class\n1,4294967295\n").unwrap();
    let text = err_text(read_labelled_csv(&csv, "class"));
    assert!(text.contains("100000") && text.contains("line 2"), "{text}");
    // Features beyond MAX_FEATURE_ABS (1e100) are refused, naming line and column.
    std::fs::write(&csv, "x,y,class\n1,2,0\n1,1e308,0\n").unwrap();
    let text = err_text(read_labelled_csv(&csv, "class"));
    assert!(
        text.contains("line 3") && text.contains("`y`") && text.contains("1e100"),
        "{text}"
    );
    std::fs::write(&csv, "x,class\n1,0\nabc,1\n").unwrap();
    let text = err_text(read_labelled_csv(&csv, "class"));
    assert!(
        text.contains("t.csv") && text.contains("line 3") && text.contains("`x`"),
        "{text}"
    );
    std::fs::write(&csv, "x,class\n1,-1\n").unwrap();
    assert!(err_text(read_labelled_csv(&csv, "class")).contains("non-negative"));
    assert!(err_text(read_labelled_csv(&csv, "label")).contains("no such column"));
}

fn f32_npy(values: &[f32], shape: &[usize], fortran: bool) -> Vec<u8> {
    // `values` are in logical row-major order; lay them out in the requested memory order.
    let storage: Vec<f32> = if fortran && shape.len() == 2 {
        let (rows, cols) = (shape[0], shape[1]);
        (0..cols)
            .flat_map(|c| (0..rows).map(move |r| (r, c)))
            .map(|(r, c)| values[r * cols + c])
            .collect()
    } else {
        values.to_vec()
    };
    let data: Vec<u8> = storage.iter().flat_map(|v| v.to_le_bytes()).collect();
    npy_bytes("<f4", shape, fortran, &data)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    /// Decoding through chunks of any size gives the same values as decoding the whole array,
    /// in C and Fortran order.
    #[test]
    fn chunked_decoding_matches_whole_decoding(
        rows in 1usize..40,
        cols in 1usize..9,
        chunk in 1usize..50,
        fortran in any::<bool>(),
        seed in any::<u32>(),
    ) {
        let values: Vec<f32> = (0..rows * cols)
            .map(|i| ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) % 10007) as f32 / 7.0 - 700.0)
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.npy");
        std::fs::write(&path, f32_npy(&values, &[rows, cols], fortran)).unwrap();
        let view = io::open_npy(&path).unwrap();
        let whole = view.to_f64().unwrap();
        let expected: Vec<f64> = values.iter().map(|v| f64::from(*v)).collect();
        prop_assert_eq!(whole.iter().copied().collect::<Vec<_>>(), expected.clone());
        let mut streamed = Vec::new();
        let mut buffer = vec![0.0; chunk];
        let mut first = 0;
        while first < view.len() {
            let n = chunk.min(view.len() - first);
            view.decode_into(first, &mut buffer[..n]).unwrap();
            streamed.extend_from_slice(&buffer[..n]);
            first += n;
        }
        prop_assert_eq!(streamed, expected);
        prop_assert!(view.decode_into(view.len(), &mut [0.0]).is_err());
    }
}
