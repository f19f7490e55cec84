//! The loaders' refusals of hostile files (issue 11; rules in `docs/formats.md` §1 and
//! `docs/robustness.md` §2): each test builds one lie by hand (`tests/support/badfiles.rs`)
//! and asserts the refusal names the file, the array and the reason.

#[path = "support/badfiles.rs"]
mod badfiles;

use std::path::Path;

use badfiles::*;
use unlearn_audit::io::{self, NpzFile, WeightsFile, read_labelled_csv};

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn refusal<T: std::fmt::Debug>(result: Result<T, io::IoError>) -> String {
    result.expect_err("must be refused").to_string()
}

fn assert_mentions(text: &str, needles: &[&str]) {
    for needle in needles {
        assert!(text.contains(needle), "{needle:?} missing from: {text}");
    }
}

fn arrays() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("a", npy_f64(&[4], &[1.0, 2.0, 3.0, 4.0])),
        ("b", npy_i64(&[3], &[0, 1, 2])),
    ]
}

#[test]
fn honest_archives_read_back_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    for deflated in [false, true] {
        let path = write(dir.path(), "ok.npz", &npz(&arrays(), deflated));
        let file = NpzFile::open(&path).unwrap();
        assert_eq!(file.names(), &["a".to_string(), "b".to_string()]);
        assert_eq!(
            file.array_f64("a").unwrap().as_slice().unwrap(),
            &[1.0, 2.0, 3.0, 4.0]
        );
        assert_eq!(file.array_i64("b").unwrap().as_slice().unwrap(), &[0, 1, 2]);
    }
}

#[test]
fn a_flipped_bit_is_refused_in_stored_and_deflated_members() {
    let dir = tempfile::tempdir().unwrap();
    let mut members: Vec<ZipMember> = arrays()
        .iter()
        .map(|(n, b)| ZipMember::stored(&format!("{n}.npy"), b))
        .collect();
    let last = members[0].payload.len() - 1;
    members[0].payload[last] ^= 0x01; // one bit of the last f64 of `a`
    let path = write(dir.path(), "flip.npz", &zip(&members));
    assert_mentions(
        &refusal(NpzFile::open(&path)),
        &["flip.npz", "`a`", "CRC-32 mismatch"],
    );

    let mut members: Vec<ZipMember> = arrays()
        .iter()
        .map(|(n, b)| ZipMember::deflated(&format!("{n}.npy"), b))
        .collect();
    members[1].crc ^= 0x8000_0000;
    let path = write(dir.path(), "flip-deflated.npz", &zip(&members));
    let file = NpzFile::open(&path).unwrap(); // deflated members are checked when inflated
    assert_mentions(
        &refusal(file.array_i64("b")),
        &["flip-deflated.npz", "`b`", "checksum"],
    );
}

#[test]
fn a_zip_bomb_is_stopped_at_its_declared_size() {
    let dir = tempfile::tempdir().unwrap();
    let header = npy_raw(&npy_dict("<f8", &[500]), &[]);
    let mut content = header.clone();
    content.resize(32 << 20, 0); // inflates to 32 MiB, declares 4 kB
    let payload = deflate(&content);
    let declared = header.len() + 4000;
    let member = ZipMember {
        name: "bomb.npy".into(),
        method: 8,
        compressed_size: payload.len() as u32,
        payload,
        crc: crc32(&content[..declared]),
        size: declared as u32,
    };
    let path = write(dir.path(), "bomb.npz", &zip(std::slice::from_ref(&member)));
    let file = NpzFile::open(&path).unwrap();
    assert_mentions(
        &refusal(file.array_f64("bomb")),
        &["bomb.npz", "`bomb`", "inflates past its declared size of"],
    );
    // Declaring more than deflate can expand to is refused before inflating anything.
    let mut liar = member;
    liar.size = u32::MAX;
    let path = write(dir.path(), "liar.npz", &zip(&[liar]));
    assert_mentions(
        &refusal(NpzFile::open(&path)),
        &["liar.npz", "`bomb`", "1032:1"],
    );
}

#[test]
fn duplicate_members_and_header_keys_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut members: Vec<ZipMember> = arrays()
        .iter()
        .map(|(n, b)| ZipMember::stored(&format!("{n}.npy"), b))
        .collect();
    members.push(ZipMember::stored("a.npy", &npy_f64(&[1], &[9.0])));
    let path = write(dir.path(), "dup.npz", &zip(&members));
    assert_mentions(
        &refusal(NpzFile::open(&path)),
        &["dup.npz", "`a`", "appears twice"],
    );

    let twice = npy_raw(
        "{'descr': '<f8', 'descr': '<i1', 'fortran_order': False, 'shape': (2,), }",
        &[0; 16],
    );
    let path = write(dir.path(), "twice.npy", &twice);
    assert_mentions(
        &refusal(io::open_npy(&path)),
        &["twice.npy", "`twice`", "\"descr\" appears twice"],
    );
    let header = "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\
                  \"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
    let path = write(
        dir.path(),
        "dup.safetensors",
        &safetensors_raw(header, &[0; 4]),
    );
    assert_mentions(
        &refusal(WeightsFile::open(&path)),
        &["dup.safetensors", "\"w\" appears twice"],
    );
}

#[cfg(unix)]
#[test]
fn fifos_and_directories_are_refused_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe.npz");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    // Opening a FIFO for reading blocks until a writer appears: these return at once.
    assert_mentions(&refusal(NpzFile::open(&fifo)), &["pipe.npz", "FIFO"]);
    assert_mentions(&refusal(io::open_npy(&fifo)), &["pipe.npz", "FIFO"]);
    assert_mentions(&refusal(read_labelled_csv(&fifo, "label")), &["FIFO"]);
    let labels_dir = dir.path().join("labels.npz");
    std::fs::create_dir(&labels_dir).unwrap();
    assert_mentions(
        &refusal(io::load_labels(&labels_dir)),
        &["labels.npz", "is a directory"],
    );
    assert_mentions(
        &refusal(io::open_npy(Path::new("/dev/null"))),
        &["/dev/null", "character device"],
    );
}

#[test]
fn malformed_npy_headers_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (name, dict, reason) in [
        (
            "extra",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), 'x': 1}",
            "unexpected key",
        ),
        (
            "missing",
            "{'descr': '<f8', 'shape': (2,)}",
            "fortran_order",
        ),
        (
            "notuple",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (2)}",
            "not a tuple",
        ),
        (
            "negative",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (-2,)}",
            "expected a dimension",
        ),
        (
            "junk",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (2,)} junk",
            "after the closing brace",
        ),
        (
            "huge",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904, 4),}",
            "overflows",
        ),
        (
            "big",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000,),}",
            "truncated",
        ),
    ] {
        let path = write(dir.path(), &format!("{name}.npy"), &npy_raw(dict, &[0; 16]));
        assert_mentions(
            &refusal(io::open_npy(&path)),
            &[&format!("{name}.npy"), reason],
        );
    }
}

#[test]
fn probabilities_read_as_logits_are_refused_with_the_flag_to_use() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("model");
    std::fs::create_dir(&bundle).unwrap();
    let probs = npy_f64(&[2, 3], &[0.2, 0.3, 0.5, 0.9, 0.05, 0.05]);
    std::fs::write(bundle.join("outputs.npz"), npz(&[("forget", probs)], false)).unwrap();
    let labels_path = write(
        dir.path(),
        "labels.npz",
        &npz(&[("forget", npy_i64(&[2], &[0, 2]))], false),
    );
    let labels = io::load_labels(&labels_path).unwrap();
    let load = |kind| io::load_labelled_logits(&bundle, &labels_path, &labels, "forget", kind);
    assert_mentions(
        &refusal(load(unlearn_audit::metrics::OutputKind::Logits)),
        &["outputs.npz", "`forget`", "--outputs-are probabilities"],
    );
    let read = load(unlearn_audit::metrics::OutputKind::Probabilities).unwrap();
    assert!((read.logits[[0, 2]] - 0.5f64.ln()).abs() < 1e-15);
}

#[test]
fn csv_labels_and_features_are_capped() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "big.csv", b"x,label\n1,0\n2,4294967295\n");
    assert_mentions(
        &refusal(read_labelled_csv(&path, "label")),
        &["big.csv", "`label`", "line 3", "100000"],
    );
    let path = write(dir.path(), "few.csv", b"x,label\n1,0\n2,1\n3,7\n");
    assert_mentions(
        &refusal(read_labelled_csv(&path, "label")),
        &["few.csv", "`label`", "line 4", "8 classes", "3 rows"],
    );
    let path = write(dir.path(), "huge.csv", b"x,label\n1,0\n1e308,1\n");
    assert_mentions(
        &refusal(read_labelled_csv(&path, "label")),
        &["huge.csv", "`x`", "line 3", "magnitude"],
    );
    let path = write(dir.path(), "edge.csv", b"x,label\n1e100,0\n-1e100,1\n");
    let table = read_labelled_csv(&path, "label").unwrap();
    assert_eq!(table.num_classes, 2);
    assert_eq!(io::MAX_CLASSES, 100_000);
    assert_eq!(io::MAX_FEATURE_ABS, 1e100);
}
