//! `compare --retrained-again`: the noise floor d(r, r′) beside every distance, the decision
//! against it, the distance rules of plans judged against the original and the noise floor (a
//! model that unlearned nothing never passes), and bounded memory for wide rows.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const DIGITS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/digits");

fn digits(model: &str) -> PathBuf {
    Path::new(DIGITS).join(model)
}

fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_unlearn-audit"))
}

/// Runs the binary; (exit code, stdout, stderr).
fn run(command: &mut Command) -> (i32, Vec<u8>, String) {
    let output = command.output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        output.stdout,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn compare_json(args: &[&Path], flags: &[&str]) -> Value {
    let mut command = binary();
    command.args(flags).arg("compare").arg("--json");
    for (flag, path) in ["--original", "--unlearned", "--retrained"]
        .iter()
        .zip(args)
    {
        command.arg(flag).arg(path);
    }
    if let Some(again) = args.get(3) {
        command.arg("--retrained-again").arg(again);
    }
    let (code, stdout, stderr) = run(&mut command);
    assert_eq!(code, 0, "{stderr}");
    serde_json::from_slice(&stdout).unwrap()
}

#[test]
fn noise_floor_is_the_comparison_of_the_two_retrainings() {
    let (o, u, r, again) = (
        digits("original"),
        digits("unlearned"),
        digits("retrained"),
        digits("retrained_again"),
    );
    let json = compare_json(&[&o, &u, &r, &again], &[]);
    // The same engine with r′ in the unlearned slot gives the same bits.
    let direct = compare_json(&[&o, &again, &r], &[]);
    let floor = &json["noise_floor"];
    assert!(json.get("noise_floor_reason").is_none());
    assert_eq!(
        floor["weights"]["verification_error"],
        direct["weights"]["verification_error"]
    );
    for split in ["forget", "retain", "test"] {
        for field in [
            "kl_retrained_unlearned",
            "kl_unlearned_retrained",
            "js",
            "activation_distance",
            "activation_distance_l1",
            "activation_distance_rms",
        ] {
            assert_eq!(
                floor["outputs"][split][field], direct["outputs"][split][field],
                "{split}.{field}"
            );
        }
        assert_eq!(
            floor["activations"][split]["activation_distance"],
            direct["activations"][split]["activation_distance"]
        );
    }
    // Adding r′ changes nothing else: the u-vs-r numbers are those without it.
    let without = compare_json(&[&o, &u, &r], &[]);
    assert_eq!(json["weights"], without["weights"]);
    assert_eq!(json["outputs"], without["outputs"]);
    assert!(without["noise_floor"].is_null());
    assert!(
        without["noise_floor_reason"]
            .as_str()
            .unwrap()
            .contains("no noise estimate")
    );
    // Ordering: weights, then kl/js/activation_distance per split, then hidden activations.
    let rows = json["ordering"].as_array().unwrap();
    assert_eq!(rows.len(), 1 + 3 * 3 + 3);
    let row = |name: &str| rows.iter().find(|r| r["distance"] == name).unwrap();
    let ve = row("verification_error");
    assert_eq!(
        ve["retrained_again_to_retrained"],
        floor["weights"]["verification_error"]
    );
    // On these fixtures the shuffling seed alone moves the weights more (5.89) than
    // fine-tuning differs from the original (4.954 vs 4.928): within the noise floor.
    assert_eq!(ve["movement"], "within_noise_floor");
    let js = row("js.forget");
    let (u_js, o_js, f_js) = (
        js["unlearned_to_retrained"].as_f64().unwrap(),
        js["original_to_retrained"].as_f64().unwrap(),
        js["retrained_again_to_retrained"].as_f64().unwrap(),
    );
    assert_eq!(js["fraction_moved"].as_f64().unwrap(), 1.0 - u_js / o_js);
    assert!(o_js - u_js <= f_js && js["movement"] == "within_noise_floor");
    for r in without["ordering"].as_array().unwrap() {
        assert!(
            r["movement"] == "no_noise_estimate",
            "without r′ nothing is judged: {r}"
        );
    }
    // The alias and the thread count change nothing.
    let mut command = binary();
    command
        .args(["--threads", "1", "compare", "--json", "--original"])
        .arg(&o)
        .arg("--unlearned")
        .arg(&u)
        .arg("--retrained")
        .arg(&r)
        .arg("--retrained-2")
        .arg(&again);
    let (code, one_thread, stderr) = run(&mut command);
    assert_eq!(code, 0, "{stderr}");
    let alias_json: Value = serde_json::from_slice(&one_thread).unwrap();
    assert_eq!(alias_json, json);
    // Markdown shows the floor beside each distance.
    let mut command = binary();
    command
        .args(["compare", "--original"])
        .arg(&o)
        .arg("--unlearned")
        .arg(&u)
        .arg("--retrained")
        .arg(&r)
        .arg("--retrained-again")
        .arg(&again);
    let (code, markdown, _) = run(&mut command);
    assert_eq!(code, 0);
    let markdown = String::from_utf8(markdown).unwrap();
    for text in [
        "noise floor ‖θ_r′ − θ_r‖",
        "JS(r′,r)",
        "Against the noise floor d(r, r′)",
        "within noise floor",
    ] {
        assert!(markdown.contains(text), "{text} missing:\n{markdown}");
    }
}

/// An npy (v1.0) file with a little-endian dtype `descr` and raw data.
fn npy_bytes(descr: &str, shape: &[usize], data: &[u8]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_text = if shape.len() == 1 {
        format!("({},)", shape[0])
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
    out.extend_from_slice(data);
    out
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

/// Issue 11: one output row 500 000 wide made `compare` allocate 3 × 8192 × width f64 (98 GB)
/// and abort (exit 134). Chunks are sized by bytes now: the same input runs under a 1 GiB
/// address-space limit and gives the right numbers.
#[test]
fn a_row_500_000_wide_runs_in_bounded_memory() {
    const WIDTH: usize = 500_000;
    let temp = tempfile::tempdir().unwrap();
    let mut dirs = Vec::new();
    for (name, shift) in [("o", 1.0f32), ("u", 0.0), ("r", 0.0)] {
        let dir = temp.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        // Two rows of logits: (0, 1, 2, ..., 0, 1, 2, ...) mod 7, shifted in column 0 for o.
        let mut values: Vec<f32> = (0..2 * WIDTH).map(|i| (i % 7) as f32).collect();
        values[0] += shift * 20.0;
        let data: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        write_npz(
            &dir.join("outputs.npz"),
            &[("forget", npy_bytes("<f4", &[2, WIDTH], &data))],
        );
        dirs.push(dir);
    }
    let script = format!(
        "ulimit -v 1048576 && exec {} --threads 2 compare --json --original {} --unlearned {} \
         --retrained {}",
        env!("CARGO_BIN_EXE_unlearn-audit"),
        dirs[0].display(),
        dirs[1].display(),
        dirs[2].display()
    );
    let (code, stdout, stderr) = run(Command::new("sh").arg("-c").arg(&script));
    assert_eq!(code, 0, "{stderr}");
    let json: Value = serde_json::from_slice(&stdout).unwrap();
    let forget = &json["outputs"]["forget"];
    assert_eq!(forget["num_classes"], WIDTH);
    assert_eq!(forget["js"], 0.0, "u = r");
    assert!(forget["original_vs_retrained"]["js"].as_f64().unwrap() > 0.0);
    assert_eq!(json["provenance"]["chunk_bytes"], 16 << 20);
}

/// Rows wider than the documented cap (2 097 152 values) are refused with exit 2 naming the
/// file, the split and the cap, before any allocation of their size.
#[test]
fn rows_wider_than_the_cap_are_refused() {
    const WIDTH: usize = (16 << 20) / 8 + 1;
    let temp = tempfile::tempdir().unwrap();
    let mut dirs = Vec::new();
    for name in ["o", "u", "r"] {
        let dir = temp.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        write_npz(
            &dir.join("activations.npz"),
            &[("wide", npy_bytes("<f2", &[1, WIDTH], &vec![0u8; 2 * WIDTH]))],
        );
        dirs.push(dir);
    }
    let mut command = binary();
    command
        .args(["compare", "--original"])
        .arg(&dirs[0])
        .arg("--unlearned")
        .arg(&dirs[1])
        .arg("--retrained")
        .arg(&dirs[2]);
    let (code, stdout, stderr) = run(&mut command);
    assert_eq!(code, 2, "{}", String::from_utf8_lossy(&stdout));
    for text in ["activations.npz", "`wide`", "2097152", "cap"] {
        assert!(stderr.contains(text), "{text} missing: {stderr}");
    }
}

/// Runs a plan over the digits bundles with `unlearned` as the unlearned model, r′ given, and
/// `rules`; returns (exit code, report.json).
fn digits_plan(unlearned: &str, rules: &str) -> (i32, Value) {
    let temp = tempfile::tempdir().unwrap();
    let text = format!(
        "[plan]\nname = \"guide rules\"\n\n[evidence]\noriginal = \"{DIGITS}/original\"\n\
         unlearned = \"{DIGITS}/{unlearned}\"\nretrained = \"{DIGITS}/retrained\"\n\
         retrained_again = \"{DIGITS}/retrained_again\"\nlabels = \"{DIGITS}/labels.npz\"\n\n\
         [compare]\n\n{rules}"
    );
    let plan = temp.path().join("plan.toml");
    std::fs::write(&plan, text).unwrap();
    let out = temp.path().join("out");
    let (code, _, stderr) = run(binary().arg("run").arg(&plan).arg("--out").arg(&out));
    let json = std::fs::read_to_string(out.join("report.json"))
        .unwrap_or_else(|_| panic!("exit {code}: {stderr}"));
    (code, serde_json::from_str(&json).unwrap())
}

/// The distance rules of docs/guide.md, plus generous thresholds on every distance metric:
/// the original model submitted as "unlearned" (it unlearned nothing) passes none of them.
/// The same guide rule passes for a model that did move to retraining (a second retraining
/// submitted as the unlearned model), so the rule has power.
#[test]
fn guide_rules_never_pass_a_model_that_unlearned_nothing() {
    let rules = "[[rule]]\nmetric = \"js.forget.fraction_moved\"\nat_least = 0.5\n\n\
                 [[rule]]\ncheck = \"unlearned_closer_than_original\"\n\n\
                 [[rule]]\nmetric = \"js.forget\"\nat_most = 0.69\n\n\
                 [[rule]]\nmetric = \"kl.forget\"\nat_most = 1e6\n\n\
                 [[rule]]\nmetric = \"activation_distance.forget\"\nat_most = 2.0\n\n\
                 [[rule]]\nmetric = \"verification_error\"\nat_most = 1e9\n\n\
                 [[rule]]\nmetric = \"verification_error_relative\"\nat_most = 1e9\n\n\
                 [[rule]]\nmetric = \"accuracy_gap.forget\"\nat_most = 1.0\n\n\
                 [[rule]]\nmetric = \"kl.forget.fraction_moved\"\nat_least = -1.0\n";
    let (code, report) = digits_plan("original", rules);
    let outcomes: Vec<&Value> = report["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["outcome"])
        .collect();
    assert_eq!(outcomes.len(), 9);
    assert!(
        outcomes.iter().all(|o| *o != "pass"),
        "{:#}",
        report["rules"]
    );
    assert_ne!(report["verdict"]["outcome"], "pass");
    assert_ne!(code, 0);
    // The fraction moved by doing nothing is exactly 0, which fails the guide's bound.
    assert_eq!(report["rules"][0]["value"], 0.0);
    assert_eq!(report["rules"][0]["outcome"], "fail");

    let (_, report) = digits_plan("retrained_again", rules);
    let first = &report["rules"][0];
    assert_eq!(first["outcome"], "pass", "{first:#}");
}

/// Logits more than f64::MAX apart in one row: the log-probability of the smaller one is not
/// representable, so KL would silently be `null` "for a zero probability"; it is an input error
/// naming the file, the split, the model, the row and the column instead.
#[test]
fn logits_further_apart_than_f64_max_are_refused() {
    let temp = tempfile::tempdir().unwrap();
    let mut dirs = Vec::new();
    for (name, row) in [
        ("o", [0.0f64, 1.0]),
        ("u", [1e308, -1e308]),
        ("r", [0.0, 1.0]),
    ] {
        let dir = temp.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let data: Vec<u8> = row.iter().flat_map(|v| v.to_le_bytes()).collect();
        write_npz(
            &dir.join("outputs.npz"),
            &[("forget", npy_bytes("<f8", &[1, 2], &data))],
        );
        dirs.push(dir);
    }
    let mut command = binary();
    command
        .args(["compare", "--json", "--original"])
        .arg(&dirs[0])
        .arg("--unlearned")
        .arg(&dirs[1])
        .arg("--retrained")
        .arg(&dirs[2]);
    let (code, stdout, stderr) = run(&mut command);
    assert_eq!(code, 2, "{}", String::from_utf8_lossy(&stdout));
    for text in [
        "u/outputs.npz",
        "`forget`",
        "unlearned model, row 0, column 1",
    ] {
        assert!(stderr.contains(text), "{text} missing: {stderr}");
    }
}
