//! `unlearn-audit compare` end to end on small bundles written into a temp dir, checked
//! against hand-computed answers (references §4 M1–M4), and the thread-count determinism
//! guarantee (bit-identical JSON for 1 and 2 threads).

use std::io::Write;
use std::path::Path;

use assert_cmd::Command;
use serde_json::Value;

/// An npy (v1.0) file with a little-endian dtype `descr` and raw data.
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

fn f64_npy(values: &[f64], shape: &[usize]) -> Vec<u8> {
    let data: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    npy_bytes("<f8", shape, &data)
}

fn f32_npy(values: &[f32], shape: &[usize]) -> Vec<u8> {
    let data: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    npy_bytes("<f4", shape, &data)
}

fn write_npz(path: &Path, members: &[(&str, Vec<u8>)], deflate: bool) {
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

/// A safetensors file of f32 tensors via the official serializer.
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

fn run_json(args: &[&str]) -> Value {
    let output = Command::cargo_bin("unlearn-audit")
        .unwrap()
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn close(value: &Value, expected: f64, tolerance: f64) {
    let actual = value
        .as_f64()
        .unwrap_or_else(|| panic!("not a number: {value}"));
    assert!(
        (actual - expected).abs() <= tolerance,
        "{actual} vs expected {expected}"
    );
}

/// Retrained P and unlearned Q from references §4 M2–M4 (batch known answers).
const RETRAINED: [f64; 6] = [0.7, 0.2, 0.1, 0.1, 0.1, 0.8];
const UNLEARNED: [f64; 6] = [0.2, 0.3, 0.5, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0];

/// (tensor name, shape, values) of one weights file.
type Tensors = Vec<(&'static str, Vec<usize>, Vec<f32>)>;

fn known_answer_bundles(root: &Path, as_logits: bool) -> [std::path::PathBuf; 3] {
    let weights: [Tensors; 3] = [
        vec![("a", vec![2], vec![0.0, 0.0]), ("b", vec![1, 1], vec![4.0])],
        vec![("a", vec![2], vec![1.0, 2.0]), ("b", vec![1, 1], vec![2.0])],
        vec![("a", vec![2], vec![0.0, 0.0]), ("b", vec![1, 1], vec![0.0])],
    ];
    let outputs = [RETRAINED, UNLEARNED, RETRAINED];
    let names = ["original", "unlearned", "retrained"];
    let mut dirs = Vec::new();
    for i in 0..3 {
        let dir = root.join(names[i]);
        std::fs::create_dir_all(&dir).unwrap();
        write_safetensors(&dir.join("weights.safetensors"), &weights[i]);
        let values: Vec<f64> = if as_logits {
            // ln p + 5 has softmax p: the logits path must give the same numbers.
            outputs[i].iter().map(|p| p.ln() + 5.0).collect()
        } else {
            outputs[i].to_vec()
        };
        write_npz(
            &dir.join("outputs.npz"),
            &[
                ("forget", f64_npy(&values, &[2, 3])),
                ("test", f64_npy(&values, &[1, 2, 3])),
            ],
            i == 1,
        );
        dirs.push(dir);
    }
    [dirs[0].clone(), dirs[1].clone(), dirs[2].clone()]
}

#[test]
fn known_answers_for_weights_and_outputs() {
    for as_logits in [false, true] {
        let temp = tempfile::tempdir().unwrap();
        let [o, u, r] = known_answer_bundles(temp.path(), as_logits);
        let labels = temp.path().join("labels.npz");
        let forget_labels: Vec<u8> = [0i64, 2].iter().flat_map(|v| v.to_le_bytes()).collect();
        let test_labels: Vec<u8> = [0i32, 0].iter().flat_map(|v| v.to_le_bytes()).collect();
        write_npz(
            &labels,
            &[
                ("forget", npy_bytes("<i8", &[2], &forget_labels)),
                ("test", npy_bytes("<i4", &[1, 2], &test_labels)),
            ],
            false,
        );
        let mut args = vec![
            "compare",
            "--original",
            o.to_str().unwrap(),
            "--unlearned",
            u.to_str().unwrap(),
            "--retrained",
            r.to_str().unwrap(),
            "--labels",
            labels.to_str().unwrap(),
            "--json",
        ];
        if !as_logits {
            args.extend(["--outputs-are", "probabilities"]);
        }
        let json = run_json(&args);
        let tol = 1e-7;
        // M1: θ_u = (1,2,2), θ_r = 0 → 3; θ_o = (0,0,4): ‖θ_o−θ_r‖ = 4, ‖θ_o−θ_u‖ = 3.
        let weights = &json["weights"];
        close(&weights["verification_error"], 3.0, 1e-12);
        close(&weights["original_to_retrained"], 4.0, 1e-12);
        close(&weights["original_to_unlearned"], 3.0, 1e-12);
        assert!(weights["verification_error_relative"].is_null());
        assert!(weights["relative_reason"].is_string());
        let per_tensor = weights["per_tensor"].as_array().unwrap();
        assert_eq!(per_tensor[0]["name"], "a");
        close(&per_tensor[0]["verification_error"], 5f64.sqrt(), 1e-12);
        assert_eq!(per_tensor[1]["shape"], serde_json::json!([1, 1]));
        assert_eq!(
            json["weight_dtypes"]["unlearned"],
            serde_json::json!(["f32"])
        );
        // M2–M4 batch known answers; the original equals the retrained model.
        let forget = &json["outputs"]["forget"];
        assert_eq!(forget["n"], 2);
        close(&forget["kl_retrained_unlearned"], 0.5472388, tol);
        close(&forget["kl_unlearned_retrained"], 0.5933158, tol);
        close(&forget["js"], 0.1335658, tol);
        close(&forget["activation_distance"], 0.6098108, tol);
        close(&forget["accuracy"]["original"], 1.0, 0.0);
        close(&forget["accuracy"]["unlearned"], 0.0, 0.0);
        close(&forget["accuracy"]["retrained"], 1.0, 0.0);
        let baseline = &forget["original_vs_retrained"];
        close(&baseline["kl_retrained_original"], 0.0, 1e-12);
        close(&baseline["js"], 0.0, 1e-12);
        close(&baseline["activation_distance"], 0.0, 1e-12);
        // Per-position outputs [1, 2, 3]: one example, two positions, same numbers.
        let test = &json["outputs"]["test"];
        assert_eq!(test["n"], 1);
        assert_eq!(test["positions"], 2);
        close(&test["js"], 0.1335658, tol);
        close(&test["accuracy"]["retrained"], 0.5, 0.0);
        assert!(json.get("activations").is_none());
        assert_eq!(json["provenance"]["inputs"].as_array().unwrap().len(), 7);
        assert!(json["provenance"]["inputs"][0]["sha256"].is_null());
        assert!(json["provenance"]["inputs"][0]["bytes"].as_u64().unwrap() > 0);
    }
}

#[test]
fn text_report_and_sha256_provenance() {
    let temp = tempfile::tempdir().unwrap();
    let [o, u, r] = known_answer_bundles(temp.path(), false);
    let output = Command::cargo_bin("unlearn-audit")
        .unwrap()
        .args(["compare", "--outputs-are", "probabilities", "--original"])
        .arg(&o)
        .arg("--unlearned")
        .arg(&u)
        .arg("--retrained")
        .arg(&r)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("| forget"), "{text}");
    assert!(text.contains("0.1336"), "{text}");
    assert!(text.contains("verification error"), "{text}");

    let json = run_json(&[
        "compare",
        "--outputs-are",
        "probabilities",
        "--sha256",
        "--json",
        "--original",
        o.to_str().unwrap(),
        "--unlearned",
        u.to_str().unwrap(),
        "--retrained",
        r.to_str().unwrap(),
    ]);
    let first = &json["provenance"]["inputs"][0];
    let path = first["path"].as_str().unwrap();
    assert_eq!(
        first["sha256"].as_str().unwrap(),
        unlearn_audit::report::sha256_file(Path::new(path)).unwrap()
    );
}

/// Deterministic pseudo-random values (no RNG dependency needed for test data).
fn pseudo_random(count: usize, seed: u64) -> Vec<f32> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..count)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 8.0 - 4.0
        })
        .collect()
}

/// Every path, one answer: the same outputs stored as C-order f64 in a stored npz, as
/// Fortran-order big-endian f64 in a deflated npz, give bit-identical metrics.
#[test]
fn c_and_fortran_order_stored_and_deflated_give_identical_json() {
    let temp = tempfile::tempdir().unwrap();
    let rows = 9_000;
    let classes = 5;
    let mut runs = Vec::new();
    for variant in ["c_stored", "fortran_deflated"] {
        let mut dirs = Vec::new();
        for (i, name) in ["o", "u", "r"].iter().enumerate() {
            let dir = temp.path().join(variant).join(name);
            std::fs::create_dir_all(&dir).unwrap();
            let values: Vec<f64> = pseudo_random(rows * classes, 50 + i as u64)
                .into_iter()
                .map(f64::from)
                .collect();
            let bytes = if variant == "c_stored" {
                f64_npy(&values, &[rows, classes])
            } else {
                let column_major: Vec<u8> = (0..classes)
                    .flat_map(|c| (0..rows).map(move |r| r * classes + c))
                    .flat_map(|index| values[index].to_be_bytes())
                    .collect();
                npy_bytes(">f8", &[rows, classes], &column_major)
            };
            let bytes = if variant == "c_stored" {
                bytes
            } else {
                // Flip the header's fortran_order flag (same length: False→True + space).
                let header_end = 10 + u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
                let text = std::str::from_utf8(&bytes[10..header_end]).unwrap();
                let patched =
                    text.replacen("'fortran_order': False,", "'fortran_order': True, ", 1);
                assert_eq!(patched.len(), header_end - 10);
                assert!(patched.contains("True"));
                let mut out = bytes[..10].to_vec();
                out.extend_from_slice(patched.as_bytes());
                out.extend_from_slice(&bytes[header_end..]);
                out
            };
            write_npz(
                &dir.join("outputs.npz"),
                &[("forget", bytes)],
                variant != "c_stored",
            );
            dirs.push(dir);
        }
        let json = run_json(&[
            "compare",
            "--json",
            "--original",
            dirs[0].to_str().unwrap(),
            "--unlearned",
            dirs[1].to_str().unwrap(),
            "--retrained",
            dirs[2].to_str().unwrap(),
        ]);
        runs.push(json["outputs"].clone());
    }
    assert_eq!(runs[0], runs[1]);
    assert!(runs[0]["forget"]["js"].as_f64().unwrap() > 0.0);
}

#[test]
fn json_is_bit_identical_for_one_and_two_threads() {
    // Sizes span several chunks: 20_000 rows (> 2 × 8192) and 200_003 weights (> 3 × 65536).
    let temp = tempfile::tempdir().unwrap();
    let mut dirs = Vec::new();
    for (i, name) in ["o", "u", "r"].iter().enumerate() {
        let dir = temp.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        write_safetensors(
            &dir.join("weights.safetensors"),
            &[
                (
                    "layer.weight",
                    vec![200_003],
                    pseudo_random(200_003, i as u64),
                ),
                ("layer.bias", vec![7], pseudo_random(7, 10 + i as u64)),
            ],
        );
        write_npz(
            &dir.join("outputs.npz"),
            &[
                (
                    "forget",
                    f32_npy(&pseudo_random(20_000 * 10, 20 + i as u64), &[20_000, 10]),
                ),
                (
                    "retain",
                    f32_npy(&pseudo_random(300 * 10, 30 + i as u64), &[300, 10]),
                ),
            ],
            false,
        );
        write_npz(
            &dir.join("activations.npz"),
            &[(
                "forget",
                f32_npy(&pseudo_random(9_000 * 4, 40 + i as u64), &[9_000, 4]),
            )],
            true,
        );
        dirs.push(dir);
    }
    let run = |threads: &str| {
        let output = Command::cargo_bin("unlearn-audit")
            .unwrap()
            .args(["--threads", threads, "compare", "--json", "--original"])
            .arg(&dirs[0])
            .arg("--unlearned")
            .arg(&dirs[1])
            .arg("--retrained")
            .arg(&dirs[2])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        output.stdout
    };
    let one = run("1");
    let two = run("2");
    assert_eq!(one, two, "JSON differs between 1 and 2 threads");
    let json: Value = serde_json::from_slice(&one).unwrap();
    assert_eq!(json["weights"]["parameter_count"], 200_010);
    assert_eq!(json["outputs"]["forget"]["n"], 20_000);
    assert_eq!(json["activations"]["forget"]["n"], 9_000);
    assert!(
        json["activations"]["forget"]["activation_distance"]
            .as_f64()
            .unwrap()
            > 0.0
    );
}
