//! Benchmark of `compare` end to end (the library function `compare_bundles`) on three
//! bundles of 3·10⁷ f32 weights and 2·10⁵ × 100 f32 logits in each of 3 splits (≈ 1.1 GB in
//! all). The data are generated on first use into `$UNLEARN_AUDIT_BENCH_DIR` (default
//! `target/bench-data/compare`) and never committed. Figures and the numpy comparison:
//! `docs/performance.md` § compare.
//!
//! Run: `cargo bench --bench compare`. To time the binary and its peak memory instead:
//! `/usr/bin/time -v target/release/unlearn-audit compare --original DIR/original
//!  --unlearned DIR/unlearned --retrained DIR/retrained --labels DIR/labels.npz --json`.

use std::io::Write;
use std::path::{Path, PathBuf};

use unlearn_audit::metrics::compare::{CompareFinding, CompareOptions, compare_bundles};

const WEIGHTS: usize = 30_000_000;
const ROWS: usize = 200_000;
const CLASSES: usize = 100;
const SPLITS: [&str; 3] = ["forget", "retain", "test"];

fn main() {
    let dir = bench_dir();
    generate(&dir);
    divan::main();
}

fn bench_dir() -> PathBuf {
    std::env::var_os("UNLEARN_AUDIT_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data/compare"))
}

#[divan::bench(sample_count = 3, sample_size = 1)]
fn compare_three_bundles() -> CompareFinding {
    let dir = bench_dir();
    let mut options = CompareOptions::new(
        &dir.join("original"),
        &dir.join("unlearned"),
        &dir.join("retrained"),
    );
    options.labels = Some(dir.join("labels.npz"));
    compare_bundles(&options).expect("benchmark bundles are valid")
}

/// SplitMix64: fast, deterministic test data.
struct SplitMix(u64);

impl SplitMix {
    fn next_f32(&mut self) -> f32 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    }
}

fn npy_header(descr: &str, shape: &[usize]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_text = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
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
    out
}

fn f32_bytes(values: impl Iterator<Item = f32>) -> Vec<u8> {
    values.flat_map(f32::to_le_bytes).collect()
}

/// Writes the three bundles and labels unless a previous run finished writing them.
fn generate(dir: &Path) {
    let done = dir.join("COMPLETE");
    if done.exists() {
        return;
    }
    eprintln!("generating benchmark bundles in {} ...", dir.display());
    let mut base = SplitMix(1);
    // Tensors: one big matrix and a few small ones, 3·10⁷ parameters in all.
    let shapes: [(&str, Vec<usize>); 4] = [
        ("block.0.weight", vec![5_000, 5_998]),
        ("block.0.bias", vec![5_000]),
        ("block.1.weight", vec![4_995]),
        ("head.weight", vec![5]),
    ];
    assert_eq!(
        shapes
            .iter()
            .map(|(_, s)| s.iter().product::<usize>())
            .sum::<usize>(),
        WEIGHTS
    );
    let original: Vec<Vec<f32>> = shapes
        .iter()
        .map(|(_, s)| (0..s.iter().product()).map(|_| base.next_f32()).collect())
        .collect();
    let logits_base: Vec<Vec<f32>> = SPLITS
        .iter()
        .map(|_| (0..ROWS * CLASSES).map(|_| 8.0 * base.next_f32()).collect())
        .collect();
    for (index, model) in ["original", "unlearned", "retrained"].iter().enumerate() {
        let bundle = dir.join(model);
        std::fs::create_dir_all(&bundle).unwrap();
        let mut noise = SplitMix(100 + index as u64);
        let scale = [0.0f32, 0.01, 0.02][index];
        let tensors: Vec<(String, Vec<usize>, Vec<u8>)> = shapes
            .iter()
            .zip(&original)
            .map(|((name, shape), values)| {
                let bytes = f32_bytes(values.iter().map(|v| v + scale * noise.next_f32()));
                (name.to_string(), shape.clone(), bytes)
            })
            .collect();
        let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
            .iter()
            .map(|(name, shape, bytes)| {
                let view = safetensors::tensor::TensorView::new(
                    safetensors::Dtype::F32,
                    shape.clone(),
                    bytes,
                )
                .unwrap();
                (name.clone(), view)
            })
            .collect();
        safetensors::serialize_to_file(views, None, &bundle.join("weights.safetensors")).unwrap();
        drop(tensors);

        let mut zip = zip::ZipWriter::new(std::io::BufWriter::new(
            std::fs::File::create(bundle.join("outputs.npz")).unwrap(),
        ));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .large_file(false);
        let logit_scale = [0.0f32, 1.0, 2.0][index];
        for (split, logits) in SPLITS.iter().zip(&logits_base) {
            zip.start_file(format!("{split}.npy"), options).unwrap();
            zip.write_all(&npy_header("<f4", &[ROWS, CLASSES])).unwrap();
            let bytes = f32_bytes(logits.iter().map(|v| v + logit_scale * noise.next_f32()));
            zip.write_all(&bytes).unwrap();
        }
        zip.finish().unwrap();
    }
    let mut zip = zip::ZipWriter::new(std::fs::File::create(dir.join("labels.npz")).unwrap());
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (split, logits) in SPLITS.iter().zip(&logits_base) {
        zip.start_file(format!("{split}.npy"), options).unwrap();
        zip.write_all(&npy_header("<i8", &[ROWS])).unwrap();
        // The label is the argmax of the shared logits for 70 % of rows, class 0 otherwise.
        let labels: Vec<u8> = logits
            .chunks(CLASSES)
            .enumerate()
            .flat_map(|(row, values)| {
                let argmax = values
                    .iter()
                    .enumerate()
                    .fold((0, f32::NEG_INFINITY), |best, (i, &v)| {
                        if v > best.1 { (i, v) } else { best }
                    })
                    .0;
                let label = if row % 10 < 7 { argmax } else { 0 };
                (label as i64).to_le_bytes()
            })
            .collect();
        zip.write_all(&labels).unwrap();
    }
    zip.finish().unwrap();
    std::fs::write(done, b"").unwrap();
}
