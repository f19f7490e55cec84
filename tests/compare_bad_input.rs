//! The bad-input matrix of `unlearn-audit compare`: every case exits with code 2 and a message
//! naming the file (and the array or tensor) and what is wrong. Each test starts from three
//! valid bundles written into a temp dir and breaks one thing.

use std::io::Write;
use std::path::{Path, PathBuf};

use assert_cmd::Command;

fn npy_bytes(descr: &str, shape: &[usize], data: &[u8]) -> Vec<u8> {
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
    let mut header =
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_text}, }}");
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

fn f32_npy(values: &[f32], shape: &[usize]) -> Vec<u8> {
    let data: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    npy_bytes("<f4", shape, &data)
}

fn i64_npy(values: &[i64], shape: &[usize]) -> Vec<u8> {
    let data: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    npy_bytes("<i8", shape, &data)
}

fn write_npz(path: &Path, members: &[(&str, Vec<u8>)]) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, bytes) in members {
        zip.start_file(format!("{name}.npy"), options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
}

fn write_safetensors(path: &Path, tensors: &[(&str, Vec<usize>, Vec<f32>)]) {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(n, s, v)| {
            (
                n.to_string(),
                s.clone(),
                v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            )
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = bytes
        .iter()
        .map(|(n, s, b)| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b)
                    .unwrap(),
            )
        })
        .collect();
    safetensors::serialize_to_file(views, None, path).unwrap();
}

/// Probabilities of 4 examples × 3 classes (rows sum to one).
const PROBABILITIES: [f32; 12] = [0.7, 0.2, 0.1, 0.1, 0.1, 0.8, 0.25, 0.25, 0.5, 0.6, 0.3, 0.1];

/// Three valid bundles (`o`, `u`, `r`) and a valid labels file in a temp dir.
struct Case {
    temp: tempfile::TempDir,
}

impl Case {
    fn new() -> Case {
        let temp = tempfile::tempdir().unwrap();
        for name in ["o", "u", "r"] {
            let dir = temp.path().join(name);
            std::fs::create_dir_all(&dir).unwrap();
            write_safetensors(
                &dir.join("weights.safetensors"),
                &[
                    ("fc.weight", vec![2, 2], vec![1.0, 2.0, 3.0, 4.0]),
                    ("fc.bias", vec![2], vec![0.5, -0.5]),
                ],
            );
            write_npz(
                &dir.join("outputs.npz"),
                &[
                    ("forget", f32_npy(&PROBABILITIES, &[4, 3])),
                    ("test", f32_npy(&PROBABILITIES[..6], &[2, 3])),
                ],
            );
        }
        write_npz(
            &temp.path().join("labels.npz"),
            &[
                ("forget", i64_npy(&[0, 2, 2, 0], &[4])),
                ("test", i64_npy(&[0, 2], &[2])),
            ],
        );
        Case { temp }
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.temp.path().join(relative)
    }

    /// Runs compare (probabilities, with labels) and returns (exit code, stderr).
    fn run(&self) -> (i32, String) {
        let output = Command::cargo_bin("unlearn-audit")
            .unwrap()
            .args(["compare", "--json", "--outputs-are", "probabilities"])
            .arg("--original")
            .arg(self.path("o"))
            .arg("--unlearned")
            .arg(self.path("u"))
            .arg("--retrained")
            .arg(self.path("r"))
            .arg("--labels")
            .arg(self.path("labels.npz"))
            .output()
            .unwrap();
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    /// Asserts exit code 2 and that stderr contains every fragment.
    fn expect_error(&self, fragments: &[&str]) {
        let (code, stderr) = self.run();
        assert_eq!(code, 2, "stderr: {stderr}");
        for fragment in fragments {
            assert!(
                stderr.contains(fragment),
                "stderr lacks {fragment:?}: {stderr}"
            );
        }
    }
}

#[test]
fn valid_case_passes() {
    let (code, stderr) = Case::new().run();
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn nan_in_outputs() {
    let case = Case::new();
    let mut values = PROBABILITIES;
    values[4] = f32::NAN;
    write_npz(
        &case.path("u/outputs.npz"),
        &[
            ("forget", f32_npy(&values, &[4, 3])),
            ("test", f32_npy(&PROBABILITIES[..6], &[2, 3])),
        ],
    );
    case.expect_error(&[
        "u/outputs.npz",
        "`forget`",
        "unlearned model, row 1",
        "not finite",
    ]);
}

#[test]
fn inf_in_weights() {
    let case = Case::new();
    write_safetensors(
        &case.path("r/weights.safetensors"),
        &[
            ("fc.weight", vec![2, 2], vec![1.0, 2.0, f32::INFINITY, 4.0]),
            ("fc.bias", vec![2], vec![0.5, -0.5]),
        ],
    );
    case.expect_error(&[
        "r/weights.safetensors",
        "`fc.weight`",
        "non-finite weight inf",
        "index 2",
    ]);
}

#[test]
fn outputs_of_different_shapes() {
    let case = Case::new();
    write_npz(
        &case.path("o/outputs.npz"),
        &[
            ("forget", f32_npy(&PROBABILITIES[..9], &[3, 3])),
            ("test", f32_npy(&PROBABILITIES[..6], &[2, 3])),
        ],
    );
    case.expect_error(&[
        "o/outputs.npz",
        "`forget`",
        "shape [3, 3] differs from [4, 3]",
    ]);
}

#[test]
fn weight_tensor_sets_differ() {
    let case = Case::new();
    write_safetensors(
        &case.path("u/weights.safetensors"),
        &[("fc.weight", vec![2, 2], vec![1.0, 2.0, 3.0, 4.0])],
    );
    case.expect_error(&["u/weights.safetensors", "`fc.bias`", "tensor is missing"]);
    write_safetensors(
        &case.path("u/weights.safetensors"),
        &[
            ("fc.weight", vec![2, 2], vec![1.0, 2.0, 3.0, 4.0]),
            ("fc.bias", vec![2], vec![0.5, -0.5]),
            ("extra", vec![1], vec![0.0]),
        ],
    );
    case.expect_error(&["u/weights.safetensors", "`extra`", "tensor is not in"]);
}

#[test]
fn weight_shapes_differ() {
    let case = Case::new();
    write_safetensors(
        &case.path("o/weights.safetensors"),
        &[
            ("fc.weight", vec![4], vec![1.0, 2.0, 3.0, 4.0]),
            ("fc.bias", vec![2], vec![0.5, -0.5]),
        ],
    );
    case.expect_error(&[
        "o/weights.safetensors",
        "`fc.weight`",
        "shape [4] differs from [2, 2]",
    ]);
}

#[test]
fn truncated_npz() {
    let case = Case::new();
    let path = case.path("r/outputs.npz");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 40]).unwrap();
    case.expect_error(&["r/outputs.npz", "truncated or corrupt"]);
}

#[test]
fn truncated_npy_member_in_a_valid_zip() {
    let case = Case::new();
    let full = f32_npy(&PROBABILITIES, &[4, 3]);
    write_npz(
        &case.path("r/outputs.npz"),
        &[
            ("forget", full[..full.len() - 8].to_vec()),
            ("test", f32_npy(&PROBABILITIES[..6], &[2, 3])),
        ],
    );
    case.expect_error(&["r/outputs.npz", "`forget`", "truncated"]);
}

#[test]
fn corrupt_safetensors_header() {
    let case = Case::new();
    let path = case.path("o/weights.safetensors");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[9] = b'#';
    std::fs::write(&path, bytes).unwrap();
    case.expect_error(&["o/weights.safetensors", "corrupt safetensors"]);
}

#[test]
fn absurd_header_lengths() {
    let case = Case::new();
    // An npy member whose (version 2) header claims 4 GiB.
    let mut member = b"\x93NUMPY\x02\x00".to_vec();
    member.extend_from_slice(&u32::MAX.to_le_bytes());
    member.extend_from_slice(b"{'descr': '<f4', 'fortran_order': False, 'shape': (4, 3), }");
    write_npz(
        &case.path("u/outputs.npz"),
        &[
            ("forget", member),
            ("test", f32_npy(&PROBABILITIES[..6], &[2, 3])),
        ],
    );
    case.expect_error(&["u/outputs.npz", "`forget`", "absurd header length"]);
    // A safetensors file whose header length exceeds the file.
    let case = Case::new();
    let path = case.path("r/weights.safetensors");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[..8].copy_from_slice(&(u64::MAX / 3).to_le_bytes());
    std::fs::write(&path, bytes).unwrap();
    case.expect_error(&["r/weights.safetensors", "header length"]);
}

#[test]
fn split_missing_from_one_model() {
    let case = Case::new();
    write_npz(
        &case.path("u/outputs.npz"),
        &[("forget", f32_npy(&PROBABILITIES, &[4, 3]))],
    );
    case.expect_error(&["u/outputs.npz", "`test`", "split is missing"]);
}

#[test]
fn labels_out_of_range() {
    let case = Case::new();
    write_npz(
        &case.path("labels.npz"),
        &[
            ("forget", i64_npy(&[0, 2, 3, 0], &[4])),
            ("test", i64_npy(&[0, 2], &[2])),
        ],
    );
    case.expect_error(&["labels.npz", "`forget`", "row 2: label 3 is outside 0..3"]);
    write_npz(
        &case.path("labels.npz"),
        &[
            ("forget", i64_npy(&[0, -1, 2, 0], &[4])),
            ("test", i64_npy(&[0, 2], &[2])),
        ],
    );
    case.expect_error(&["labels.npz", "label -1"]);
}

#[test]
fn labels_of_the_wrong_length_or_missing() {
    let case = Case::new();
    write_npz(
        &case.path("labels.npz"),
        &[
            ("forget", i64_npy(&[0, 2, 2], &[3])),
            ("test", i64_npy(&[0, 2], &[2])),
        ],
    );
    case.expect_error(&[
        "labels.npz",
        "`forget`",
        "labels have shape [3]",
        "need [4]",
    ]);
    write_npz(
        &case.path("labels.npz"),
        &[("forget", i64_npy(&[0, 2, 2, 0], &[4]))],
    );
    case.expect_error(&["labels.npz", "`test`", "no array for split"]);
}

#[test]
fn labels_with_a_float_dtype() {
    let case = Case::new();
    write_npz(
        &case.path("labels.npz"),
        &[("forget", f32_npy(&[0.0, 2.0, 2.0, 0.0], &[4]))],
    );
    case.expect_error(&["labels.npz", "`forget`", "expected an integer array"]);
}

#[test]
fn empty_split() {
    let case = Case::new();
    for name in ["o", "u", "r"] {
        write_npz(
            &case.path(&format!("{name}/outputs.npz")),
            &[
                ("forget", f32_npy(&PROBABILITIES, &[4, 3])),
                ("test", f32_npy(&[], &[0, 3])),
            ],
        );
    }
    case.expect_error(&["r/outputs.npz", "`test`", "empty split"]);
}

#[test]
fn missing_directory_or_file() {
    let case = Case::new();
    std::fs::remove_dir_all(case.path("u")).unwrap();
    case.expect_error(&["/u"]);
    let case = Case::new();
    std::fs::remove_file(case.path("labels.npz")).unwrap();
    case.expect_error(&["labels.npz"]);
    let case = Case::new();
    std::fs::remove_file(case.path("o/outputs.npz")).unwrap();
    case.expect_error(&["o/outputs.npz", "file is missing"]);
    let case = Case::new();
    std::fs::remove_file(case.path("r/outputs.npz")).unwrap();
    std::fs::remove_file(case.path("r/weights.safetensors")).unwrap();
    case.expect_error(&["/r", "holds none of"]);
}

#[test]
fn probabilities_that_do_not_sum_to_one() {
    let case = Case::new();
    let mut values = PROBABILITIES;
    values[9] = 0.9;
    write_npz(
        &case.path("o/outputs.npz"),
        &[
            ("forget", f32_npy(&values, &[4, 3])),
            ("test", f32_npy(&PROBABILITIES[..6], &[2, 3])),
        ],
    );
    case.expect_error(&[
        "o/outputs.npz",
        "`forget`",
        "original model, row 3",
        "sum to",
    ]);
}

#[test]
fn outputs_without_a_class_axis() {
    let case = Case::new();
    for name in ["o", "u", "r"] {
        write_npz(
            &case.path(&format!("{name}/outputs.npz")),
            &[("forget", f32_npy(&PROBABILITIES, &[12]))],
        );
    }
    case.expect_error(&["outputs.npz", "`forget`", "class axis last"]);
}
