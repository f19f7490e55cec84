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
