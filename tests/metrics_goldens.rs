//! Golden tests against the numpy/scipy reference (`scripts/compare_reference.py`, run by
//! `fixtures/metrics/make_goldens.py`, outputs committed as `fixtures/metrics/*/expected.json`).
//!
//! * `library_matches_scipy_goldens` feeds the committed arrays straight into the metrics
//!   accumulators (reading npz/safetensors here, independent of `compare`);
//! * `compare_cli_matches_scipy_goldens` runs `unlearn-audit compare --json` on every case.
//!
//! Every number present in `expected.json` must match to 1e-9 relative; `null` must be `null`.

use ndarray::{Array2, ArrayD, Ix2};
use ndarray_npy::NpzReader;
use serde_json::Value;
use std::fs::File;
use std::path::{Path, PathBuf};
use unlearn_audit::metrics::{
    ActivationAccumulator, CHUNK_ROWS, OutputAccumulator, OutputKind, WeightSums, weight_distances,
};
use unlearn_audit::tolerance::relative_eq;

const GOLDEN_RELATIVE: f64 = 1e-9;
const MODELS: [&str; 3] = ["original", "unlearned", "retrained"];

fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/metrics");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.join("expected.json").exists())
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 5,
        "golden cases missing under {}",
        root.display()
    );
    cases
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn is_probabilities(case: &Path) -> bool {
    read_json(&case.join("case.json"))["probabilities"]
        .as_bool()
        .unwrap()
}

/// Checks every number and null of `expected` against `actual` at the same path.
fn assert_matches(expected: &Value, actual: &Value, path: &str) {
    match expected {
        Value::Number(number) => {
            let want = number.as_f64().unwrap();
            let got = actual
                .as_f64()
                .unwrap_or_else(|| panic!("{path}: expected {want}, got {actual}"));
            assert!(
                relative_eq(got, want, GOLDEN_RELATIVE),
                "{path}: got {got:.17e}, scipy {want:.17e}"
            );
        }
        Value::Null => assert!(actual.is_null(), "{path}: expected null, got {actual}"),
        Value::Object(map) => {
            for (key, value) in map {
                if key.ends_with("_reason") {
                    assert!(actual[key].is_string(), "{path}.{key}: reason missing");
                    continue;
                }
                assert!(
                    actual.get(key).is_some(),
                    "{path}.{key} missing in {actual}"
                );
                assert_matches(value, &actual[key], &format!("{path}.{key}"));
            }
        }
        Value::Array(items) => {
            let actual_items = actual
                .as_array()
                .unwrap_or_else(|| panic!("{path}: not an array"));
            assert_eq!(items.len(), actual_items.len(), "{path}: length");
            for (i, (want, got)) in items.iter().zip(actual_items).enumerate() {
                assert_matches(want, got, &format!("{path}[{i}]"));
            }
        }
        Value::String(want) => assert_eq!(actual.as_str(), Some(want.as_str()), "{path}"),
        Value::Bool(want) => assert_eq!(actual.as_bool(), Some(*want), "{path}"),
    }
}

/// Reads an npz array as f64 (f64 or f32 on disk); `None` for other dtypes (f16: numpy's
/// `<f2` is not readable by ndarray-npy without its `half` feature, the CLI test covers it).
fn read_npz_f64(path: &Path, name: &str) -> Option<ArrayD<f64>> {
    let mut npz = NpzReader::new(File::open(path).unwrap()).unwrap();
    if let Ok(array) = npz.by_name::<ndarray::OwnedRepr<f64>, ndarray::IxDyn>(name) {
        return Some(array);
    }
    let mut npz = NpzReader::new(File::open(path).unwrap()).unwrap();
    npz.by_name::<ndarray::OwnedRepr<f32>, ndarray::IxDyn>(name)
        .ok()
        .map(|a| a.mapv(f64::from))
}

fn npz_names(path: &Path) -> Vec<String> {
    let mut names = NpzReader::new(File::open(path).unwrap())
        .unwrap()
        .names()
        .unwrap();
    names.sort();
    names
}

fn as_rows(array: ArrayD<f64>) -> Array2<f64> {
    let columns = *array.shape().last().unwrap();
    let rows = array.len() / columns;
    array
        .into_shape_with_order((rows, columns))
        .unwrap()
        .into_dimensionality::<Ix2>()
        .unwrap()
}

fn weights_json(case: &Path) -> Value {
    let buffers: Vec<Vec<u8>> = MODELS
        .iter()
        .map(|m| std::fs::read(case.join(m).join("weights.safetensors")).unwrap())
        .collect();
    let files: Vec<_> = buffers
        .iter()
        .map(|b| safetensors::SafeTensors::deserialize(b).unwrap())
        .collect();
    let to_f64 = |view: safetensors::tensor::TensorView| -> Vec<f64> {
        let data = view.data();
        match view.dtype() {
            safetensors::Dtype::F64 => data
                .chunks_exact(8)
                .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
                .collect(),
            safetensors::Dtype::F32 => data
                .chunks_exact(4)
                .map(|b| f64::from(f32::from_le_bytes(b.try_into().unwrap())))
                .collect(),
            safetensors::Dtype::F16 => data
                .chunks_exact(2)
                .map(|b| half::f16::from_le_bytes(b.try_into().unwrap()).to_f64())
                .collect(),
            other => panic!("unexpected dtype {other:?}"),
        }
    };
    let per_tensor = files[2]
        .names()
        .into_iter()
        .map(|name| {
            let shape = files[2].tensor(name).unwrap().shape().to_vec();
            let [o, u, r] = [0, 1, 2].map(|i| to_f64(files[i].tensor(name).unwrap()));
            let mut sums = WeightSums::default();
            sums.accumulate(&o, &u, &r);
            (name.to_string(), shape, sums)
        })
        .collect();
    serde_json::to_value(weight_distances(per_tensor)).unwrap()
}

#[test]
fn library_matches_scipy_goldens() {
    let mut checked_outputs = 0;
    for case in cases() {
        let expected = read_json(&case.join("expected.json"));
        if let Some(weights) = expected.get("weights") {
            assert_matches(
                weights,
                &weights_json(&case),
                &format!("{}: weights", case.display()),
            );
        }
        let labels_path = case.join("labels.npz");
        let kind = if is_probabilities(&case) {
            OutputKind::Probabilities
        } else {
            OutputKind::Logits
        };
        if let Some(outputs) = expected.get("outputs") {
            let files = MODELS.map(|m| case.join(m).join("outputs.npz"));
            for split in npz_names(&files[2]) {
                let Some(arrays) = files
                    .iter()
                    .map(|f| read_npz_f64(f, &split))
                    .collect::<Option<Vec<_>>>()
                else {
                    continue; // f16 outputs: covered by the CLI test
                };
                let n_examples = arrays[2].shape()[0];
                let [o, u, r]: [Array2<f64>; 3] = arrays
                    .into_iter()
                    .map(as_rows)
                    .collect::<Vec<_>>()
                    .try_into()
                    .unwrap();
                let labels: Option<Vec<i64>> = labels_path.exists().then(|| {
                    let mut npz = NpzReader::new(File::open(&labels_path).unwrap()).unwrap();
                    npz.by_name::<ndarray::OwnedRepr<i64>, ndarray::IxDyn>(&split)
                        .unwrap()
                        .iter()
                        .copied()
                        .collect()
                });
                // small chunks so the golden also exercises merging
                let mut total = OutputAccumulator::new(r.ncols(), kind);
                for start in (0..r.nrows()).step_by(7) {
                    let end = (start + 7).min(r.nrows());
                    let s = ndarray::s![start..end, ..];
                    let mut chunk = OutputAccumulator::new(r.ncols(), kind);
                    chunk
                        .accumulate(
                            o.slice(s),
                            u.slice(s),
                            r.slice(s),
                            labels.as_deref().map(|l| &l[start..end]),
                            start,
                        )
                        .unwrap();
                    total.merge(chunk);
                }
                let actual = serde_json::to_value(total.finish(n_examples)).unwrap();
                assert_matches(
                    &outputs[&split],
                    &actual,
                    &format!("{}: outputs.{split}", case.display()),
                );
                checked_outputs += 1;
            }
        }
        if let Some(activations) = expected.get("activations") {
            let files = MODELS.map(|m| case.join(m).join("activations.npz"));
            for split in npz_names(&files[2]) {
                let Some(arrays) = files
                    .iter()
                    .map(|f| read_npz_f64(f, &split))
                    .collect::<Option<Vec<_>>>()
                else {
                    continue;
                };
                let [o, u, r]: [Array2<f64>; 3] = arrays
                    .into_iter()
                    .map(as_rows)
                    .collect::<Vec<_>>()
                    .try_into()
                    .unwrap();
                let mut accumulator = ActivationAccumulator::new(r.ncols());
                for start in (0..r.nrows()).step_by(CHUNK_ROWS) {
                    let s = ndarray::s![start..(start + CHUNK_ROWS).min(r.nrows()), ..];
                    accumulator
                        .accumulate(o.slice(s), u.slice(s), r.slice(s), start)
                        .unwrap();
                }
                let actual = serde_json::to_value(accumulator.finish(r.nrows())).unwrap();
                assert_matches(
                    &activations[&split],
                    &actual,
                    &format!("{}: activations.{split}", case.display()),
                );
            }
        }
    }
    assert!(
        checked_outputs >= 8,
        "only {checked_outputs} output splits checked"
    );
}

#[test]
fn compare_cli_matches_scipy_goldens() {
    for case in cases() {
        let mut command = assert_cmd::Command::cargo_bin("unlearn-audit").unwrap();
        command
            .arg("compare")
            .arg("--original")
            .arg(case.join("original"))
            .arg("--unlearned")
            .arg(case.join("unlearned"))
            .arg("--retrained")
            .arg(case.join("retrained"))
            .arg("--labels")
            .arg(case.join("labels.npz"))
            .arg("--json");
        if is_probabilities(&case) {
            command.args(["--outputs-are", "probabilities"]);
        }
        let output = command.assert().success().get_output().stdout.clone();
        let actual: Value = serde_json::from_slice(&output).unwrap();
        let expected = read_json(&case.join("expected.json"));
        assert_matches(&expected, &actual, &case.display().to_string());
        // every section scipy computed is present (the f16 and per-pixel cases included)
        for section in expected.as_object().unwrap().keys() {
            assert!(
                actual.get(section).is_some(),
                "{}: {section}",
                case.display()
            );
        }
    }
}

/// The README's fixture: `compare` on the digits bundles matches the scipy reference run on
/// the same files (`fixtures/digits/expected.json`, made by `scripts/compare_reference.py`).
#[test]
fn compare_cli_matches_scipy_on_digits_fixture() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/digits");
    let output = assert_cmd::Command::cargo_bin("unlearn-audit")
        .unwrap()
        .arg("compare")
        .arg("--original")
        .arg(root.join("original"))
        .arg("--unlearned")
        .arg(root.join("unlearned"))
        .arg("--retrained")
        .arg(root.join("retrained"))
        .arg("--labels")
        .arg(root.join("labels.npz"))
        .arg("--json")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let actual: Value = serde_json::from_slice(&output).unwrap();
    let expected = read_json(&root.join("expected.json"));
    assert_matches(&expected, &actual, "digits");
    // the picture the README describes: on the forget split the unlearned model is closer to
    // the retrained one than the original is, in KL and JS.
    let forget = &actual["outputs"]["forget"];
    assert!(
        forget["kl_retrained_unlearned"].as_f64().unwrap()
            < forget["original_vs_retrained"]["kl_retrained_original"]
                .as_f64()
                .unwrap()
    );
    assert!(
        forget["js"].as_f64().unwrap() < forget["original_vs_retrained"]["js"].as_f64().unwrap()
    );
}
