//! Runs per second of `retrain` and `guo` on digits (compare with scripts/sample_reference.py;
//! figures in docs/performance.md ## sampling). Each iteration runs 10 trials per side on all
//! cores.

use unlearn_audit::io::read_labelled_csv;
use unlearn_audit::mechanisms::{self, Mechanism, MechanismOptions, Split};
use unlearn_audit::models::Dataset;
use unlearn_audit::sampling::{NoProgress, Record, run_trials};

fn main() {
    divan::main();
}

fn mechanism(name: &str) -> Box<dyn Mechanism> {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/mechanisms/digits.csv");
    let table = read_labelled_csv(&path, "label").unwrap();
    let data = Dataset::new(table.features, table.labels, table.num_classes).unwrap();
    let split = Split::new(&data, &[3, 17]).unwrap();
    let options = MechanismOptions {
        lambda: Some(0.01),
        sigma: Some(1.0),
        ..Default::default()
    };
    mechanisms::build(name, split, &options).unwrap()
}

#[divan::bench(args = ["retrain", "guo"], sample_count = 5, sample_size = 1)]
fn ten_trials_both_sides(bencher: divan::Bencher, name: &str) {
    let mechanism = mechanism(name);
    bencher
        .bench(|| run_trials(mechanism.as_ref(), 10, 1, Record::Statistic, &NoProgress).unwrap());
}

fn digits_scaled() -> Dataset {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/mechanisms/digits.csv");
    let table = read_labelled_csv(&path, "label").unwrap();
    let data = Dataset::new(table.features, table.labels, table.num_classes).unwrap();
    data.scaled_to_unit_ball().0
}

/// Guaranteed upper bound on ‖X‖₂ of digits (1797 × 64): Jacobi on the 64 × 64 Gram matrix.
#[divan::bench(sample_count = 10)]
fn spectral_norm_digits(bencher: divan::Bencher) {
    let data = digits_scaled();
    bencher.bench(|| unlearn_audit::models::spectral_norm(divan::black_box(&data.features)));
}

/// One exact MLP Hessian-vector product (R-operator) on all of digits, 16 hidden units.
#[divan::bench(sample_count = 10)]
fn mlp_hvp_digits(bencher: divan::Bencher) {
    use unlearn_audit::models::{Mlp, Model};
    let data = digits_scaled();
    let model = Mlp::new(64, 16, 10);
    let p = model.num_params();
    let params: Vec<f64> = (0..p).map(|i| 0.1 * ((i as f64) * 1.3).sin()).collect();
    let direction: Vec<f64> = (0..p).map(|i| ((i as f64) * 0.7).cos()).collect();
    bencher.bench(|| model.hvp(&params, divan::black_box(&direction), &data));
}

/// Building `zhang` at its defaults (two 300-step MLP trainings + one 1000-step LiSSA) and
/// `koloskova-model-clip` (two exact trainings), then 10 runs per side.
#[divan::bench(args = ["zhang", "koloskova-model-clip"], sample_count = 3, sample_size = 1)]
fn build_and_ten_trials(bencher: divan::Bencher, name: &str) {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/mechanisms/digits.csv");
    let table = read_labelled_csv(&path, "label").unwrap();
    let data = Dataset::new(table.features, table.labels, table.num_classes).unwrap();
    let options = MechanismOptions {
        approximation_error: Some(3.0),
        ..Default::default()
    };
    bencher.bench(|| {
        let split = Split::new(&data, &[3, 17]).unwrap();
        let mechanism = mechanisms::build(name, split, &options).unwrap();
        run_trials(mechanism.as_ref(), 10, 1, Record::Statistic, &NoProgress).unwrap()
    });
}
