//! Seeded bad-input campaign (issue 11, `docs/robustness.md` §4): several hundred generated
//! cases over every command (`compare`, `mia` and its subcommands, `epsilon`, `certify`,
//! `sample`, `run`) and every input kind (npy, npz, safetensors, csv, labels, sample sets,
//! plans). Each case runs the real binary as a child process under an address-space limit
//! (`RLIMIT_AS`, [`ADDRESS_SPACE_LIMIT`]) and a wall-clock limit ([`TIME_LIMIT`]); its peak
//! resident memory is read back with `wait4`. Asserted for every case:
//!
//! * no panic (exit 101 or "panicked" on stderr) and no death by signal (abort, OOM, SIGSEGV);
//! * it finishes within [`TIME_LIMIT`] (otherwise it is killed and the case fails);
//! * peak RSS at most [`RSS_LIMIT`], and no allocation beyond the address-space limit (such an
//!   allocation fails, which aborts the child and is caught by the previous rule);
//! * a corrupt input (`Expect::Refused`) exits with code 2 and stderr names the offending file
//!   (and, where the case says so, the array, member, tensor or column);
//! * every `null` in a JSON output has a reason beside it (a sibling key containing "reason");
//! * the valid controls (`Expect::Valid`) do not exit 2 (so the generators are sound and the
//!   campaign can fail).
//!
//! Cases whose fix belongs to another part of issue 11 are listed in [`OWNED_ELSEWHERE`] with
//! the owner; they still run, their outcome is printed, and they are not counted as failures.

#![cfg(target_os = "linux")]

#[path = "support/badfiles.rs"]
mod badfiles;

use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use badfiles::*;

const TIME_LIMIT: Duration = Duration::from_secs(10);
/// Address space a child may map: 3 GiB (the binary, thread stacks, malloc arenas and the
/// mapped inputs fit well inside; a header-sized allocation of gigabytes does not).
const ADDRESS_SPACE_LIMIT: u64 = 3 << 30;
/// Peak resident memory a child may reach on these small inputs: 512 MiB.
const RSS_LIMIT_KB: i64 = 512 * 1024;
const RSS_LIMIT: &str = "512 MiB";

/// Cases that fail today only because another helper of issue 11 owns the fix. Each entry is
/// (case-name prefix, owner, what is missing). Remove an entry once the owner's branch is
/// merged: the case then counts like every other.
const OWNED_ELSEWHERE: &[(&str, &str, &str)] = &[
    (
        "compare/outputs/probabilities-as-logits",
        "compare",
        "probabilities read as logits are not detected (io::ProbabilityLikeRows is the check to call while streaming)",
    ),
    (
        "mia-rmia/content/probability-above-1",
        "mia",
        "the message names `target scores`, not the array `target_scores`",
    ),
];

/// JSON `null`s that are not defects: an optional input that was not given, echoed as `null`
/// (command, path pattern with `[]` for any index, and a `*` suffix for a whole subtree).
const ALLOWED_NULLS: &[(&str, &str)] = &[
    ("run", "$.claim"),
    ("run", "$.mia"),
    ("run", "$.ulira"),
    ("run", "$.certificate"),
    ("run", "$.mechanism"),
    ("run", "$.epsilon"),
    ("run", "$.sample_histogram"),
    ("run", "$.rules[].check"),
    ("run", "$.rules[].metric"),
    ("run", "$.provenance.parameters*"),
    ("epsilon", "$.claim.epsilon"),
    ("epsilon", "$.selection.n_selection_unlearned"),
    ("epsilon", "$.selection.n_selection_retrained"),
    ("certify", "$.calibration"),
];

/// JSON `null`s without a reason whose fix belongs to another helper (printed, not failed).
const OWNED_ELSEWHERE_NULLS: &[(&str, &str, &str)] = &[
    (
        "compare",
        "$.ordering[].retrained_again_to_retrained",
        "compare (noise floor d(r, r′) without a retrained-again bundle)",
    ),
    (
        "compare",
        "$.ordering[].within_noise_floor",
        "compare (noise floor d(r, r′) without a retrained-again bundle)",
    ),
    (
        "run",
        "$.compare.ordering[].retrained_again_to_retrained",
        "compare (noise floor d(r, r′) without a retrained-again bundle)",
    ),
    (
        "run",
        "$.compare.ordering[].within_noise_floor",
        "compare (noise floor d(r, r′) without a retrained-again bundle)",
    ),
    (
        "run",
        "$.sanity_ordering.rows[].retrained_again_to_retrained",
        "compare (noise floor d(r, r′) without a retrained-again bundle)",
    ),
    (
        "run",
        "$.sanity_ordering.rows[].within_noise_floor",
        "compare (noise floor d(r, r′) without a retrained-again bundle)",
    ),
];

fn null_pattern_matches(pattern: &str, path: &str) -> bool {
    let normal: String = {
        let mut out = String::new();
        let mut in_index = false;
        for c in path.chars() {
            match c {
                '[' => {
                    in_index = true;
                    out.push('[');
                }
                ']' => {
                    in_index = false;
                    out.push(']');
                }
                _ if in_index => {}
                _ => out.push(c),
            }
        }
        out
    };
    match pattern.strip_suffix('*') {
        Some(prefix) => normal.starts_with(prefix),
        None => normal == pattern,
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    /// Corrupt input: exit 2, naming the file (and `mention`s).
    Refused,
    /// Valid control: must not exit 2.
    Valid,
    /// Odd but perhaps legal input: any of 0, 1, 2, 3 (still no panic, hang, abort, bloat).
    Any,
}

struct Case {
    name: String,
    args: Vec<OsString>,
    expect: Expect,
    /// Substrings stderr must contain when the case is refused (file name, array, column).
    mention: Vec<String>,
}

struct Outcome {
    name: String,
    failures: Vec<String>,
    exit: Option<i32>,
    seconds: f64,
    max_rss_kb: i64,
}

// ---------------------------------------------------------------------------------------------
// Running a child under limits.

#[repr(C)]
struct RLimit {
    cur: u64,
    max: u64,
}

#[repr(C)]
struct RUsage {
    utime: [i64; 2],
    stime: [i64; 2],
    maxrss: i64,
    rest: [i64; 13],
}

unsafe extern "C" {
    fn setrlimit(resource: i32, rlim: *const RLimit) -> i32;
    fn wait4(pid: i32, status: *mut i32, options: i32, rusage: *mut RUsage) -> i32;
    fn kill(pid: i32, sig: i32) -> i32;
}

const RLIMIT_AS: i32 = 9;
const RLIMIT_CORE: i32 = 4;
const WNOHANG: i32 = 1;

struct Run {
    code: Option<i32>,
    signal: Option<i32>,
    timed_out: bool,
    seconds: f64,
    max_rss_kb: i64,
    stdout: String,
    stderr: String,
}

fn run_limited(args: &[OsString], cwd: &Path) -> Run {
    use std::os::unix::process::CommandExt;
    let mut command = Command::new(env!("CARGO_BIN_EXE_unlearn-audit"));
    command
        .args(args)
        .current_dir(cwd)
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: only async-signal-safe calls (setrlimit) between fork and exec.
    unsafe {
        command.pre_exec(|| {
            let limit = RLimit {
                cur: ADDRESS_SPACE_LIMIT,
                max: ADDRESS_SPACE_LIMIT,
            };
            if setrlimit(RLIMIT_AS, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            let no_core = RLimit { cur: 0, max: 0 };
            setrlimit(RLIMIT_CORE, &no_core);
            Ok(())
        });
    }
    let start = Instant::now();
    let mut child = command.spawn().expect("spawn unlearn-audit");
    let pid = child.id() as i32;
    let mut out_pipe = child.stdout.take().unwrap();
    let mut err_pipe = child.stderr.take().unwrap();
    let out_thread = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out_pipe.read_to_end(&mut buf);
        buf
    });
    let err_thread = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err_pipe.read_to_end(&mut buf);
        buf
    });
    let mut status = 0i32;
    let mut usage: RUsage = unsafe { std::mem::zeroed() };
    let mut timed_out = false;
    loop {
        // SAFETY: plain syscalls on our own child's pid with valid out-pointers.
        let reaped = unsafe { wait4(pid, &mut status, WNOHANG, &mut usage) };
        if reaped == pid {
            break;
        }
        if reaped < 0 {
            panic!("wait4 failed: {}", std::io::Error::last_os_error());
        }
        if start.elapsed() > TIME_LIMIT {
            timed_out = true;
            unsafe {
                kill(pid, 9);
                wait4(pid, &mut status, 0, &mut usage);
            }
            break;
        }
        std::thread::sleep(Duration::from_millis(3));
    }
    let seconds = start.elapsed().as_secs_f64();
    // The child is reaped; dropping `child` does not wait again.
    drop(child);
    let stdout = String::from_utf8_lossy(&out_thread.join().unwrap()).into_owned();
    let stderr = String::from_utf8_lossy(&err_thread.join().unwrap()).into_owned();
    let (code, signal) = if status & 0x7f == 0 {
        (Some((status >> 8) & 0xff), None)
    } else {
        (None, Some(status & 0x7f))
    };
    Run {
        code,
        signal,
        timed_out,
        seconds,
        max_rss_kb: usage.maxrss,
        stdout,
        stderr,
    }
}

/// Paths of JSON `null`s that have no reason beside them.
fn nulls_without_reason(value: &serde_json::Value, path: &str, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            let has_reason = map
                .iter()
                .any(|(k, v)| k.contains("reason") && v.as_str().is_some_and(|s| !s.is_empty()));
            for (key, child) in map {
                let here = format!("{path}.{key}");
                if child.is_null() {
                    let specific = map
                        .get(&format!("{key}_reason"))
                        .is_some_and(|v| v.is_string());
                    // `sha256` is documented as null unless `--sha256` is given.
                    if !(specific || has_reason || key == "sha256") {
                        out.push(here);
                    }
                } else {
                    nulls_without_reason(child, &here, out);
                }
            }
        }
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                nulls_without_reason(item, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

fn judge(case: &Case, run: &Run) -> Vec<String> {
    let mut failures = Vec::new();
    if run.timed_out {
        failures.push(format!("ran over {TIME_LIMIT:?} and was killed"));
    }
    if let Some(signal) = run.signal
        && !run.timed_out
    {
        failures.push(format!("died of signal {signal} (abort/OOM/crash)"));
    }
    if run.code == Some(101) || run.stderr.contains("panicked") {
        failures.push("panicked".into());
    }
    if run.max_rss_kb > RSS_LIMIT_KB {
        failures.push(format!(
            "peak RSS {} MiB over {RSS_LIMIT}",
            run.max_rss_kb / 1024
        ));
    }
    if !run.timed_out && run.signal.is_none() {
        match case.expect {
            Expect::Refused => {
                if run.code != Some(2) {
                    failures.push(format!(
                        "corrupt input not refused with exit 2 (exit {:?})",
                        run.code
                    ));
                } else {
                    for needle in &case.mention {
                        if !run.stderr.contains(needle.as_str()) {
                            failures.push(format!("message does not name {needle:?}"));
                        }
                    }
                }
            }
            Expect::Valid => {
                if run.code == Some(2) || run.code.is_none() {
                    failures.push(format!("valid control exited {:?}", run.code));
                }
            }
            Expect::Any => {
                if !matches!(run.code, Some(0..=3)) {
                    failures.push(format!("exit {:?} outside 0..=3", run.code));
                }
            }
        }
    }
    if matches!(run.code, Some(0 | 1 | 3)) && run.stdout.trim_start().starts_with('{') {
        match serde_json::from_str::<serde_json::Value>(&run.stdout) {
            Ok(json) => {
                let mut nulls = Vec::new();
                nulls_without_reason(&json, "$", &mut nulls);
                let command = case
                    .name
                    .strip_prefix("control/")
                    .unwrap_or(&case.name)
                    .split('/')
                    .next()
                    .unwrap_or("");
                nulls.retain(|path| {
                    !ALLOWED_NULLS
                        .iter()
                        .any(|(c, pattern)| *c == command && null_pattern_matches(pattern, path))
                });
                let (elsewhere, nulls): (Vec<String>, Vec<String>) =
                    nulls.into_iter().partition(|path| {
                        OWNED_ELSEWHERE_NULLS.iter().any(|(c, pattern, _)| {
                            *c == command && null_pattern_matches(pattern, path)
                        })
                    });
                if !elsewhere.is_empty() {
                    eprintln!(
                        "owned elsewhere (nulls without a reason): {}: {elsewhere:?}",
                        case.name
                    );
                }
                if !nulls.is_empty() {
                    failures.push(format!("JSON nulls without a reason: {nulls:?}"));
                }
            }
            Err(e) => failures.push(format!("stdout is not valid JSON: {e}")),
        }
    }
    failures
}

// ---------------------------------------------------------------------------------------------
// Valid inputs.

const N_FORGET: usize = 30;
const N_OTHER: usize = 60;
const K: usize = 3;

fn logits(rng: &mut Lcg, n: usize) -> Vec<f32> {
    (0..n * K)
        .map(|_| (rng.next_f64() * 6.0 - 3.0) as f32)
        .collect()
}

fn labels_of(rng: &mut Lcg, n: usize) -> Vec<i64> {
    (0..n).map(|_| rng.below(K as u64) as i64).collect()
}

fn splits() -> [(&'static str, usize); 3] {
    [("forget", N_FORGET), ("retain", N_OTHER), ("test", N_OTHER)]
}

fn outputs_arrays(seed: u64) -> Vec<(&'static str, Vec<u8>)> {
    let mut rng = Lcg(seed);
    splits()
        .iter()
        .map(|&(name, n)| (name, npy_f32(&[n, K], &logits(&mut rng, n))))
        .collect()
}

fn labels_arrays() -> Vec<(&'static str, Vec<u8>)> {
    let mut rng = Lcg(99);
    splits()
        .iter()
        .map(|&(name, n)| (name, npy_i64(&[n], &labels_of(&mut rng, n))))
        .collect()
}

fn weights(seed: u64) -> Vec<u8> {
    let mut rng = Lcg(seed);
    let w: Vec<f32> = (0..12).map(|_| rng.next_f64() as f32).collect();
    let b: Vec<f32> = (0..3).map(|_| rng.next_f64() as f32).collect();
    safetensors_f32(&[("layer.bias", vec![3], b), ("layer.weight", vec![3, 4], w)])
}

fn write(path: &Path, bytes: &[u8]) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(path, bytes).unwrap();
}

/// Three valid bundles and labels under `dir`: `original/`, `unlearned/`, `retrained/`,
/// `labels.npz`.
fn write_bundles(dir: &Path) {
    for (i, role) in ["original", "unlearned", "retrained"].iter().enumerate() {
        let seed = 1 + i as u64;
        write(
            &dir.join(role).join("outputs.npz"),
            &npz(&outputs_arrays(seed), false),
        );
        write(&dir.join(role).join("weights.safetensors"), &weights(seed));
    }
    write(&dir.join("labels.npz"), &npz(&labels_arrays(), true));
}

const N_POINTS: usize = 40;
const M_SHADOWS: usize = 8;

fn scores_arrays(kind: &str) -> Vec<(&'static str, Vec<u8>)> {
    let mut rng = Lcg(7);
    let n = N_POINTS;
    let m = M_SHADOWS;
    let shadow: Vec<f64> = (0..n * m)
        .map(|_| {
            if kind == "rmia" {
                0.05 + 0.9 * rng.next_f64()
            } else {
                rng.next_f64() * 4.0 - 2.0
            }
        })
        .collect();
    let target: Vec<f64> = (0..n)
        .map(|_| {
            if kind == "rmia" {
                0.05 + 0.9 * rng.next_f64()
            } else {
                rng.next_f64() * 4.0 - 2.0
            }
        })
        .collect();
    let shadow_in: Vec<bool> = (0..n * m)
        .map(|i| (i / m + i % m).is_multiple_of(2))
        .collect();
    let target_in: Vec<bool> = (0..n).map(|i| i % 2 == 0).collect();
    let mut arrays = vec![
        ("shadow_scores", npy_f64(&[n, m], &shadow)),
        ("target_scores", npy_f64(&[n], &target)),
    ];
    if kind == "ulira" {
        let state: Vec<i64> = (0..n * m).map(|i| ((i / m + i % m) % 3) as i64).collect();
        let target_state: Vec<i64> = (0..n).map(|i| [0, 2, 1][i % 3]).collect();
        arrays.push(("shadow_state", npy_i64(&[n, m], &state)));
        arrays.push(("target_state", npy_i64(&[n], &target_state)));
    } else {
        arrays.push(("shadow_in", npy_bool(&[n, m], &shadow_in)));
        arrays.push(("target_in", npy_bool(&[n], &target_in)));
    }
    if kind == "rmia" {
        let nz = 20;
        let pop_t: Vec<f64> = (0..nz).map(|_| 0.05 + 0.9 * rng.next_f64()).collect();
        let pop_s: Vec<f64> = (0..nz * m).map(|_| 0.05 + 0.9 * rng.next_f64()).collect();
        arrays.push(("population_target_scores", npy_f64(&[nz], &pop_t)));
        arrays.push(("population_shadow_scores", npy_f64(&[nz, m], &pop_s)));
    }
    arrays
}

fn sample_set(seed: u64, n: usize, d: usize) -> Vec<u8> {
    let mut rng = Lcg(seed);
    let values: Vec<f64> = (0..n * d).map(|_| rng.next_f64()).collect();
    npy_f64(&[n, d], &values)
}

fn csv_text(rows: usize) -> String {
    let mut rng = Lcg(5);
    let mut text = String::from("x0,x1,x2,label\n");
    for i in 0..rows {
        let label = i % 2;
        text.push_str(&format!(
            "{:.4},{:.4},{:.4},{label}\n",
            rng.next_f64() + label as f64,
            rng.next_f64(),
            rng.next_f64() - label as f64
        ));
    }
    text
}

// ---------------------------------------------------------------------------------------------
// Corruptions.

/// Named corruptions of one npy array (the valid bytes are `good`).
fn npy_corruptions(good: &[u8], shape: &[usize]) -> Vec<(String, Vec<u8>)> {
    let header_end = 10 + u16::from_le_bytes([good[8], good[9]]) as usize;
    let data = &good[header_end..];
    let dict = npy_dict("<f8", shape);
    let with_dict = |d: &str| npy_raw(d, data);
    let mut out: Vec<(String, Vec<u8>)> = vec![
        ("empty".into(), Vec::new()),
        ("magic-only".into(), good[..6].to_vec()),
        ("truncated-header".into(), good[..header_end - 7].to_vec()),
        (
            "truncated-data".into(),
            good[..header_end + data.len() / 2].to_vec(),
        ),
        ("truncated-one-byte".into(), good[..good.len() - 1].to_vec()),
        ("bad-magic".into(), {
            let mut b = good.to_vec();
            b[1] = b'X';
            b
        }),
        ("version-9".into(), {
            let mut b = good.to_vec();
            b[6] = 9;
            b
        }),
        ("header-len-huge".into(), {
            let mut b = good.to_vec();
            b[8] = 0xff;
            b[9] = 0xff;
            b
        }),
        ("v2-header-len-u32-max".into(), {
            let mut b = b"\x93NUMPY\x02\x00\xff\xff\xff\xff".to_vec();
            b.extend_from_slice(&good[10..]);
            b
        }),
        (
            "duplicate-descr".into(),
            with_dict(&dict.replace("{", "{'descr': '<i1', ")),
        ),
        (
            "duplicate-shape".into(),
            with_dict(&dict.replace("}", "'shape': (1,), }")),
        ),
        (
            "unknown-key".into(),
            with_dict(&dict.replace("}", "'extra': 1, }")),
        ),
        (
            "missing-shape".into(),
            with_dict("{'descr': '<f8', 'fortran_order': False}"),
        ),
        (
            "missing-descr".into(),
            with_dict(&format!(
                "{{'fortran_order': False, 'shape': {}}}",
                shape_text(shape)
            )),
        ),
        (
            "shape-huge".into(),
            with_dict(&npy_dict("<f8", &[1_000_000_000_000, 1_000_000_000_000])),
        ),
        (
            "shape-overflow".into(),
            with_dict(&npy_dict("<f8", &[1 << 62, 1 << 62, 16])),
        ),
        ("shape-2^63".into(), with_dict(&npy_dict("<f8", &[1 << 63]))),
        (
            "shape-negative".into(),
            with_dict(&dict.replace(&shape_text(shape), "(-1, 4)")),
        ),
        (
            "shape-not-tuple".into(),
            with_dict(&dict.replace(&shape_text(shape), "7")),
        ),
        (
            "shape-too-many-digits".into(),
            with_dict(&dict.replace(&shape_text(shape), "(123456789012345678901234567890,)")),
        ),
        ("descr-object".into(), with_dict(&dict.replace("<f8", "|O"))),
        (
            "descr-complex".into(),
            with_dict(&dict.replace("<f8", "<c16")),
        ),
        (
            "descr-unicode".into(),
            with_dict(&dict.replace("<f8", "<U8")),
        ),
        (
            "descr-structured".into(),
            with_dict(&dict.replace("'<f8'", "[('a', '<f8')]")),
        ),
        (
            "fortran-maybe".into(),
            with_dict(&dict.replace("False", "Maybe")),
        ),
        ("header-not-utf8".into(), {
            let mut b = good.to_vec();
            b[12] = 0xff;
            b
        }),
        ("header-garbage".into(), with_dict("not a dict at all")),
        ("trailing-text".into(), with_dict(&format!("{dict} junk"))),
        ("nan".into(), {
            let mut b = good.to_vec();
            let at = header_end + 8;
            b[at..at + 8].copy_from_slice(&f64::NAN.to_le_bytes());
            b
        }),
        ("inf".into(), {
            let mut b = good.to_vec();
            let at = header_end + 16;
            b[at..at + 8].copy_from_slice(&f64::INFINITY.to_le_bytes());
            b
        }),
        ("neg-inf".into(), {
            let mut b = good.to_vec();
            let at = header_end;
            b[at..at + 8].copy_from_slice(&f64::NEG_INFINITY.to_le_bytes());
            b
        }),
        (
            "zero-rows".into(),
            npy_f64(&[0, shape.get(1).copied().unwrap_or(1)], &[]),
        ),
        (
            "three-dims".into(),
            with_dict(&npy_dict("<f8", &[shape[0], 1, data.len() / 8 / shape[0]])),
        ),
        ("random-bytes".into(), {
            let mut rng = Lcg(3);
            (0..512).map(|_| rng.below(256) as u8).collect()
        }),
    ];
    out.retain(|(_, b)| b != good);
    out
}

/// Corruptions of a whole npz (`arrays` valid; `target` the array to damage).
fn npz_corruptions(
    arrays: &[(&str, Vec<u8>)],
    target: &str,
) -> Vec<(String, Vec<u8>, Vec<String>)> {
    let good = npz(arrays, false);
    let t = |s: &str| vec![s.to_string()];
    let mut out: Vec<(String, Vec<u8>, Vec<String>)> = Vec::new();
    // CRC flip in a stored member's data (last byte of the target member's payload).
    {
        let mut members: Vec<ZipMember> = arrays
            .iter()
            .map(|(n, b)| ZipMember::stored(&format!("{n}.npy"), b))
            .collect();
        let m = members
            .iter_mut()
            .find(|m| m.name == format!("{target}.npy"))
            .unwrap();
        let last = m.payload.len() - 3;
        m.payload[last] ^= 0x10;
        out.push(("crc-flip-stored".into(), zip(&members), t(target)));
    }
    // CRC flip in a deflated member (the recorded CRC is wrong).
    {
        let mut members: Vec<ZipMember> = arrays
            .iter()
            .map(|(n, b)| ZipMember::deflated(&format!("{n}.npy"), b))
            .collect();
        let m = members
            .iter_mut()
            .find(|m| m.name == format!("{target}.npy"))
            .unwrap();
        m.crc ^= 1;
        out.push(("crc-flip-deflated".into(), zip(&members), t(target)));
    }
    // Zip bomb: declares its honest-looking 4 kB but inflates to 64 MiB.
    {
        let header = npy_raw(&npy_dict("<f8", &[500]), &[]);
        let mut content = header.clone();
        content.resize(64 << 20, 0);
        let payload = deflate(&content);
        let mut members: Vec<ZipMember> = arrays
            .iter()
            .filter(|(n, _)| *n != target)
            .map(|(n, b)| ZipMember::stored(&format!("{n}.npy"), b))
            .collect();
        members.push(ZipMember {
            name: format!("{target}.npy"),
            method: 8,
            compressed_size: payload.len() as u32,
            payload,
            crc: crc32(&content[..header.len() + 4000]),
            size: (header.len() + 4000) as u32,
        });
        out.push(("zip-bomb".into(), zip(&members), t(target)));
    }
    // A member declaring 4 GB from a few bytes (beyond deflate's 1032:1).
    {
        let mut members: Vec<ZipMember> = arrays
            .iter()
            .map(|(n, b)| ZipMember::deflated(&format!("{n}.npy"), b))
            .collect();
        let m = members
            .iter_mut()
            .find(|m| m.name == format!("{target}.npy"))
            .unwrap();
        m.size = u32::MAX;
        out.push(("declared-size-absurd".into(), zip(&members), t(target)));
    }
    // Deflated member shorter than declared.
    {
        let mut members: Vec<ZipMember> = arrays
            .iter()
            .map(|(n, b)| ZipMember::deflated(&format!("{n}.npy"), b))
            .collect();
        let m = members
            .iter_mut()
            .find(|m| m.name == format!("{target}.npy"))
            .unwrap();
        m.size += 100;
        out.push(("declared-size-too-big".into(), zip(&members), t(target)));
    }
    // Corrupt deflate stream.
    {
        let mut members: Vec<ZipMember> = arrays
            .iter()
            .map(|(n, b)| ZipMember::deflated(&format!("{n}.npy"), b))
            .collect();
        let m = members
            .iter_mut()
            .find(|m| m.name == format!("{target}.npy"))
            .unwrap();
        let mid = m.payload.len() / 2;
        for b in &mut m.payload[mid..] {
            *b = 0xff;
        }
        out.push(("deflate-garbage".into(), zip(&members), t(target)));
    }
    // Duplicate members (same name twice; the second differs).
    {
        let mut members: Vec<ZipMember> = arrays
            .iter()
            .map(|(n, b)| ZipMember::stored(&format!("{n}.npy"), b))
            .collect();
        let original = members
            .iter()
            .find(|m| m.name == format!("{target}.npy"))
            .unwrap()
            .clone();
        let mut copy = original.clone();
        let last = copy.payload.len() - 3;
        copy.payload[last] ^= 0x10;
        copy.crc = crc32(&copy.payload);
        members.push(copy);
        out.push(("duplicate-member".into(), zip(&members), t(target)));
        let mut members2: Vec<ZipMember> = arrays
            .iter()
            .map(|(n, b)| ZipMember::stored(&format!("{n}.npy"), b))
            .collect();
        members2.push(original.clone());
        out.push((
            "duplicate-member-identical".into(),
            zip(&members2),
            t(target),
        ));
        // Same array once with and once without `.npy`.
        let mut members3 = members2.clone();
        members3.pop();
        let mut bare = original;
        bare.name = target.to_string();
        members3.push(bare);
        out.push(("duplicate-array-name".into(), zip(&members3), t(target)));
    }
    // Stored member whose recorded sizes disagree.
    {
        let mut members: Vec<ZipMember> = arrays
            .iter()
            .map(|(n, b)| ZipMember::stored(&format!("{n}.npy"), b))
            .collect();
        let m = members
            .iter_mut()
            .find(|m| m.name == format!("{target}.npy"))
            .unwrap();
        m.size += 8;
        out.push(("stored-size-mismatch".into(), zip(&members), t(target)));
    }
    // Unsupported compression (bzip2 = 12).
    {
        let mut members: Vec<ZipMember> = arrays
            .iter()
            .map(|(n, b)| ZipMember::stored(&format!("{n}.npy"), b))
            .collect();
        let m = members
            .iter_mut()
            .find(|m| m.name == format!("{target}.npy"))
            .unwrap();
        m.method = 12;
        out.push(("method-bzip2".into(), zip(&members), Vec::new()));
    }
    // Truncations of the archive.
    for (label, cut) in [
        ("truncated-10", 10usize),
        ("truncated-half", good.len() / 2),
        ("truncated-minus-1", good.len() - 1),
        ("truncated-minus-22", good.len() - 22),
    ] {
        out.push((label.into(), good[..cut].to_vec(), Vec::new()));
    }
    out.push(("empty-file".into(), Vec::new(), Vec::new()));
    out.push(("empty-zip".into(), zip(&[]), Vec::new()));
    out.push((
        "not-a-zip".into(),
        b"this is plainly not a zip archive".to_vec(),
        Vec::new(),
    ));
    // Member-level npy corruptions of the target array.
    let target_bytes = &arrays.iter().find(|(n, _)| *n == target).unwrap().1;
    let header_end = 10 + u16::from_le_bytes([target_bytes[8], target_bytes[9]]) as usize;
    let dict = std::str::from_utf8(&target_bytes[10..header_end])
        .unwrap()
        .trim_end()
        .to_string();
    let data = &target_bytes[header_end..];
    let member_variants: Vec<(&str, Vec<u8>)> = vec![
        (
            "member-duplicate-descr",
            npy_raw(&dict.replacen("{", "{'descr': '<i1', ", 1), data),
        ),
        (
            "member-not-npy",
            b"garbage that is not an npy array".to_vec(),
        ),
        (
            "member-truncated",
            target_bytes[..target_bytes.len() - 5].to_vec(),
        ),
        (
            "member-shape-huge",
            npy_raw(&dict.replace("(", "(1000000000000, 1000000, "), data),
        ),
        (
            "member-object-dtype",
            npy_raw(
                &dict.replace(
                    &dict[dict.find("'descr': '").unwrap() + 10
                        ..dict.find("'descr': '").unwrap() + 13],
                    "|O",
                ),
                data,
            ),
        ),
    ];
    for (label, bytes) in member_variants {
        let replaced: Vec<(&str, Vec<u8>)> = arrays
            .iter()
            .map(|(n, b)| {
                (
                    *n,
                    if *n == target {
                        bytes.clone()
                    } else {
                        b.clone()
                    },
                )
            })
            .collect();
        out.push((label.to_string(), npz(&replaced, false), t(target)));
        out.push((format!("{label}-deflated"), npz(&replaced, true), t(target)));
    }
    // The target array missing.
    let without: Vec<(&str, Vec<u8>)> = arrays
        .iter()
        .filter(|(n, _)| *n != target)
        .cloned()
        .collect();
    out.push(("missing-array".into(), npz(&without, false), t(target)));
    out
}

fn safetensors_corruptions() -> Vec<(String, Vec<u8>, Vec<String>)> {
    let good = weights(1);
    let header_len = u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
    let header = std::str::from_utf8(&good[8..8 + header_len])
        .unwrap()
        .to_string();
    let data = good[8 + header_len..].to_vec();
    let none = Vec::new;
    let t = |s: &str| vec![s.to_string()];
    vec![
        ("empty".into(), Vec::new(), none()),
        ("seven-bytes".into(), good[..7].to_vec(), none()),
        (
            "header-len-huge".into(),
            {
                let mut b = good.clone();
                b[..8].copy_from_slice(&u64::MAX.to_le_bytes());
                b
            },
            none(),
        ),
        (
            "header-len-past-end".into(),
            {
                let mut b = good.clone();
                b[..8].copy_from_slice(&((good.len() as u64) + 10).to_le_bytes());
                b
            },
            none(),
        ),
        (
            "header-not-json".into(),
            safetensors_raw(&"x".repeat(header.len()), &data),
            none(),
        ),
        (
            "header-not-utf8".into(),
            {
                let mut b = good.clone();
                b[9] = 0xff;
                b
            },
            none(),
        ),
        (
            "truncated-data".into(),
            good[..good.len() - 4].to_vec(),
            none(),
        ),
        (
            "extra-data".into(),
            [good.clone(), vec![0; 16]].concat(),
            none(),
        ),
        (
            "duplicate-tensor".into(),
            safetensors_raw(
                &header.replacen(
                    "{",
                    "{\"layer.bias\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]},",
                    1,
                ),
                &data,
            ),
            t("layer.bias"),
        ),
        (
            "overlapping-offsets".into(),
            safetensors_raw(&header.replace("[12,60]", "[8,56]"), &data),
            none(),
        ),
        (
            "offsets-out-of-range".into(),
            safetensors_raw(&header.replace("[12,60]", "[12,6000]"), &data),
            none(),
        ),
        (
            "offsets-reversed".into(),
            safetensors_raw(&header.replace("[0,12]", "[12,0]"), &data),
            none(),
        ),
        (
            "offsets-huge".into(),
            safetensors_raw(
                &header.replace("[12,60]", "[12,18446744073709551615]"),
                &data,
            ),
            none(),
        ),
        (
            "shape-disagrees".into(),
            safetensors_raw(&header.replace("[3,4]", "[4,4]"), &data),
            none(),
        ),
        (
            "shape-huge".into(),
            safetensors_raw(&header.replace("[3,4]", "[4294967296,4294967296]"), &data),
            none(),
        ),
        (
            "dtype-fp8".into(),
            safetensors_raw(
                &header.replace("\"F32\",\"shape\":[3,4]", "\"F8_E4M3\",\"shape\":[3,4]"),
                &data,
            ),
            none(),
        ),
        (
            "dtype-unknown".into(),
            safetensors_raw(
                &header.replace("\"F32\",\"shape\":[3,4]", "\"Q4\",\"shape\":[3,4]"),
                &data,
            ),
            none(),
        ),
        (
            "nan-weight".into(),
            {
                let mut d = data.clone();
                d[16..20].copy_from_slice(&f32::NAN.to_le_bytes());
                safetensors_raw(&header, &d)
            },
            t("layer.weight"),
        ),
        (
            "inf-weight".into(),
            {
                let mut d = data.clone();
                d[0..4].copy_from_slice(&f32::INFINITY.to_le_bytes());
                safetensors_raw(&header, &d)
            },
            t("layer.bias"),
        ),
        (
            "random-bytes".into(),
            {
                let mut rng = Lcg(11);
                (0..300).map(|_| rng.below(256) as u8).collect()
            },
            none(),
        ),
    ]
}

fn csv_corruptions() -> Vec<(String, String, Vec<String>)> {
    let good = csv_text(40);
    let lines: Vec<String> = good.lines().map(str::to_string).collect();
    let set_cell = |lines: &mut Vec<String>, row: usize, col: usize, value: &str| {
        let mut cells: Vec<String> = lines[row].split(',').map(str::to_string).collect();
        cells[col] = value.to_string();
        lines[row] = cells.join(",");
    };
    let mut out: Vec<(String, String, Vec<String>)> = Vec::new();
    let mut variant = |name: &str, row: usize, col: usize, value: &str, mention: &[&str]| {
        let mut l = lines.clone();
        set_cell(&mut l, row, col, value);
        out.push((
            name.into(),
            l.join("\n") + "\n",
            mention.iter().map(|s| s.to_string()).collect(),
        ));
    };
    variant("label-u32-max", 5, 3, "4294967295", &["label", "line 6"]);
    variant("label-1e6", 7, 3, "1000000", &["label", "line 8"]);
    variant("label-100001", 7, 3, "100001", &["label"]);
    variant("label-above-rows", 7, 3, "45", &["label"]);
    variant("label-huge-float", 7, 3, "1e300", &["label"]);
    variant("label-negative", 3, 3, "-1", &["label", "line 4"]);
    variant("label-fraction", 3, 3, "2.5", &["label"]);
    variant("label-nan", 3, 3, "NaN", &["label"]);
    variant("label-inf", 3, 3, "inf", &["label"]);
    variant("label-text", 3, 3, "cat", &["label"]);
    variant("feature-1e308", 9, 1, "1e308", &["x1", "line 10"]);
    variant("feature-1e200", 9, 1, "-1e200", &["x1"]);
    variant("feature-overflow", 9, 0, "1e400", &["x0"]);
    variant("feature-nan", 2, 2, "nan", &["x2", "line 3"]);
    variant("feature-inf", 2, 2, "-inf", &["x2"]);
    variant("feature-text", 2, 0, "abc", &["x0"]);
    variant("feature-empty", 2, 0, "", &["x0"]);
    {
        let mut l = lines.clone();
        l[4].push_str(",9");
        out.push(("ragged-long".into(), l.join("\n") + "\n", vec![]));
        let mut l = lines.clone();
        l[4] = "1,2".into();
        out.push(("ragged-short".into(), l.join("\n") + "\n", vec![]));
    }
    out.push(("header-only".into(), lines[0].clone() + "\n", vec![]));
    out.push(("empty".into(), String::new(), vec![]));
    out.push((
        "no-label-column".into(),
        good.replace(",label\n", ",class\n"),
        vec!["label".into()],
    ));
    {
        // One row 100 000 cells wide.
        let wide: Vec<String> = (0..100_000).map(|i| format!("c{i}")).collect();
        let mut text = wide.join(",") + ",label\n";
        for row in 0..4 {
            text.push_str(&vec!["1"; 100_000].join(","));
            text.push_str(&format!(",{}\n", row % 2));
        }
        text.push_str("1,2\n");
        out.push(("wide-row-then-ragged".into(), text, vec![]));
    }
    out.push((
        "binary-garbage".into(),
        String::from_utf8_lossy(&[0u8, 159, 146, 150, 0, 1, 2]).into_owned(),
        vec![],
    ));
    out
}

// ---------------------------------------------------------------------------------------------
// The cases.

fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

fn p(path: &Path) -> OsString {
    path.as_os_str().to_owned()
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().expect("mkfifo");
    assert!(status.success());
}

struct Builder {
    root: PathBuf,
    cases: Vec<Case>,
}

impl Builder {
    fn dir(&self, name: &str) -> PathBuf {
        let dir = self.root.join(name.replace('/', "_"));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
    fn push(&mut self, name: String, args: Vec<OsString>, expect: Expect, mention: Vec<String>) {
        self.cases.push(Case {
            name,
            args,
            expect,
            mention,
        });
    }
}

fn compare_args(dir: &Path, labels: bool) -> Vec<OsString> {
    let mut args = os(&["--threads", "1", "compare", "--json"]);
    for role in ["original", "unlearned", "retrained"] {
        args.push(format!("--{role}").into());
        args.push(p(&dir.join(role)));
    }
    if labels {
        args.push("--labels".into());
        args.push(p(&dir.join("labels.npz")));
    }
    args
}

fn mia_args(dir: &Path, extra: &[&str]) -> Vec<OsString> {
    let mut args = os(&[
        "--threads",
        "1",
        "mia",
        "--json",
        "--bootstrap",
        "20",
        "--members",
        "forget",
        "--nonmembers",
        "test",
        "--model",
    ]);
    args.push(p(&dir.join("unlearned")));
    args.push("--labels".into());
    args.push(p(&dir.join("labels.npz")));
    args.extend(os(extra));
    args
}

fn shadow_args(kind: &str, file: &Path) -> Vec<OsString> {
    let mut args = os(&[
        "--threads",
        "1",
        "mia",
        kind,
        "--json",
        "--bootstrap",
        "20",
        "--scores",
    ]);
    args.push(p(file));
    args
}

fn epsilon_args(unlearned: &Path, retrained: &Path) -> Vec<OsString> {
    let mut args = os(&[
        "--threads",
        "1",
        "epsilon",
        "--json",
        "--delta",
        "1e-3",
        "--unlearned",
    ]);
    args.push(p(unlearned));
    args.push("--retrained".into());
    args.push(p(retrained));
    args
}

fn sample_args(csv: &Path, out: &Path, extra: &[&str]) -> Vec<OsString> {
    let mut args = os(&[
        "--threads",
        "1",
        "sample",
        "--trials",
        "2",
        "--forget",
        "1,2",
        "--data",
    ]);
    args.push(p(csv));
    args.push("--out".into());
    args.push(p(out));
    args.extend(os(extra));
    args
}

fn plan_text(evidence_dir: &Path) -> String {
    format!(
        "[plan]\nname = \"campaign\"\nseed = 1\n\n[evidence]\noriginal = \"{0}/original\"\n\
         unlearned = \"{0}/unlearned\"\nretrained = \"{0}/retrained\"\nlabels = \"{0}/labels.npz\"\n\n\
         [compare]\n\n[[rule]]\nmetric = \"js.forget\"\nat_most = 0.5\n",
        evidence_dir.display()
    )
}

fn run_args(plan: &Path, out: &Path) -> Vec<OsString> {
    let mut args = os(&["--threads", "1", "run", "--json", "--out"]);
    args.push(p(out));
    args.push(p(plan));
    args
}

fn file_name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

fn build_cases(root: &Path) -> Vec<Case> {
    let mut b = Builder {
        root: root.to_path_buf(),
        cases: Vec::new(),
    };
    let valid = b.dir("valid");
    write_bundles(&valid);

    // --- controls -------------------------------------------------------------------------
    b.push(
        "control/compare".into(),
        compare_args(&valid, true),
        Expect::Valid,
        vec![],
    );
    b.push(
        "control/mia".into(),
        mia_args(&valid, &[]),
        Expect::Valid,
        vec![],
    );
    for kind in ["lira", "rmia", "ulira"] {
        let file = b.dir(&format!("control-{kind}")).join("scores.npz");
        write(&file, &npz(&scores_arrays(kind), false));
        b.push(
            format!("control/mia-{kind}"),
            shadow_args(kind, &file),
            Expect::Valid,
            vec![],
        );
    }
    let eps_dir = b.dir("control-epsilon");
    let (u_good, r_good) = (eps_dir.join("unlearned.npy"), eps_dir.join("retrained.npy"));
    write(&u_good, &sample_set(1, 40, 1));
    write(&r_good, &sample_set(2, 40, 1));
    b.push(
        "control/epsilon".into(),
        epsilon_args(&u_good, &r_good),
        Expect::Valid,
        vec![],
    );
    let csv_dir = b.dir("control-sample");
    let good_csv = csv_dir.join("data.csv");
    write(&good_csv, csv_text(40).as_bytes());
    b.push(
        "control/sample".into(),
        sample_args(
            &good_csv,
            &csv_dir.join("out"),
            &[
                "--mechanism",
                "retrain",
                "--model",
                "logistic",
                "--lambda",
                "0.01",
            ],
        ),
        Expect::Valid,
        vec![],
    );
    let plan_dir = b.dir("control-run");
    let good_plan = plan_dir.join("plan.toml");
    write(&good_plan, plan_text(&valid).as_bytes());
    b.push(
        "control/run".into(),
        run_args(&good_plan, &plan_dir.join("report")),
        Expect::Valid,
        vec![],
    );
    b.push(
        "control/certify".into(),
        os(&[
            "certify",
            "--json",
            "gaussian",
            "--sensitivity",
            "1",
            "--sigma",
            "2",
            "--delta",
            "1e-5",
        ]),
        Expect::Valid,
        vec![],
    );

    // --- compare and mia over corrupt outputs.npz ---------------------------------------------
    for (label, bytes, mention) in npz_corruptions(&outputs_arrays(2), "forget") {
        for command in ["compare", "mia"] {
            let dir = b.dir(&format!("{command}-outputs-{label}"));
            write_bundles(&dir);
            let path = dir.join("unlearned").join("outputs.npz");
            write(&path, &bytes);
            let args = if command == "compare" {
                compare_args(&dir, true)
            } else {
                mia_args(&dir, &[])
            };
            let mut needles = vec![file_name(&path)];
            needles.extend(mention.iter().cloned());
            let expect = Expect::Refused;
            b.push(format!("{command}/outputs/{label}"), args, expect, needles);
        }
    }
    // --- labels.npz ----------------------------------------------------------------------------
    for (label, bytes, mention) in npz_corruptions(&labels_arrays(), "forget") {
        for command in ["compare", "mia"] {
            let dir = b.dir(&format!("{command}-labels-{label}"));
            write_bundles(&dir);
            let path = dir.join("labels.npz");
            write(&path, &bytes);
            let args = if command == "compare" {
                compare_args(&dir, true)
            } else {
                mia_args(&dir, &[])
            };
            let mut needles = vec![file_name(&path)];
            needles.extend(mention.iter().cloned());
            b.push(
                format!("{command}/labels/{label}"),
                args,
                Expect::Refused,
                needles,
            );
        }
    }
    // Labels with wrong content.
    let label_content: Vec<(&str, Vec<u8>)> = vec![
        ("float-dtype", npy_f64(&[N_FORGET], &vec![1.0; N_FORGET])),
        (
            "value-u32-max",
            npy_i64(&[N_FORGET], &vec![u32::MAX as i64; N_FORGET]),
        ),
        (
            "value-1e6",
            npy_i64(&[N_FORGET], &vec![1_000_000; N_FORGET]),
        ),
        ("value-negative", npy_i64(&[N_FORGET], &vec![-1; N_FORGET])),
        (
            "wrong-length",
            npy_i64(&[N_FORGET + 1], &vec![0; N_FORGET + 1]),
        ),
        (
            "wrong-rank",
            npy_i64(&[N_FORGET, 2], &vec![0; N_FORGET * 2]),
        ),
        (
            "u64-above-i64",
            npy_raw(&npy_dict("<u8", &[N_FORGET]), &vec![0xff; N_FORGET * 8]),
        ),
    ];
    for (label, bytes) in label_content {
        for command in ["compare", "mia"] {
            let dir = b.dir(&format!("{command}-labelvalues-{label}"));
            write_bundles(&dir);
            let mut arrays = labels_arrays();
            arrays[0].1 = bytes.clone();
            write(&dir.join("labels.npz"), &npz(&arrays, false));
            let args = if command == "compare" {
                compare_args(&dir, true)
            } else {
                mia_args(&dir, &[])
            };
            b.push(
                format!("{command}/label-values/{label}"),
                args,
                Expect::Refused,
                vec!["labels.npz".into(), "forget".into()],
            );
        }
    }
    // Output content problems: probabilities passed as logits, NaN, wide rows, no rows.
    {
        let mut rng = Lcg(4);
        let probs: Vec<(&str, Vec<u8>)> = splits()
            .iter()
            .map(|&(name, n)| {
                let rows: Vec<f32> = (0..n)
                    .flat_map(|_| {
                        let a = rng.next_f64() as f32 * 0.5;
                        let c = rng.next_f64() as f32 * 0.5;
                        [a, c, 1.0 - a - c]
                    })
                    .collect();
                (name, npy_f32(&[n, K], &rows))
            })
            .collect();
        let dir = b.dir("mia-probabilities-as-logits");
        write_bundles(&dir);
        write(
            &dir.join("unlearned").join("outputs.npz"),
            &npz(&probs, false),
        );
        b.push(
            "mia/outputs/probabilities-as-logits".into(),
            mia_args(&dir, &[]),
            Expect::Refused,
            vec!["outputs.npz".into(), "--outputs-are probabilities".into()],
        );
        for role in ["original", "retrained"] {
            write(&dir.join(role).join("outputs.npz"), &npz(&probs, false));
        }
        b.push(
            "compare/outputs/probabilities-as-logits".into(),
            compare_args(&dir, true),
            Expect::Refused,
            vec!["outputs.npz".into(), "--outputs-are probabilities".into()],
        );
        b.push(
            "mia/outputs/probabilities-declared".into(),
            mia_args(&dir, &["--outputs-are", "probabilities"]),
            Expect::Valid,
            vec![],
        );
        let mut with_nan = outputs_arrays(2);
        let mut v = logits(&mut Lcg(2), N_FORGET);
        v[7] = f32::NAN;
        with_nan[0].1 = npy_f32(&[N_FORGET, K], &v);
        for command in ["compare", "mia"] {
            let dir = b.dir(&format!("{command}-outputs-nan"));
            write_bundles(&dir);
            write(
                &dir.join("unlearned").join("outputs.npz"),
                &npz(&with_nan, false),
            );
            let args = if command == "compare" {
                compare_args(&dir, true)
            } else {
                mia_args(&dir, &[])
            };
            b.push(
                format!("{command}/outputs/nan"),
                args,
                Expect::Refused,
                vec!["outputs.npz".into(), "forget".into()],
            );
        }
        // One row 500 000 wide, in all three bundles (issue 11: compare aborted).
        let dir = b.dir("compare-outputs-wide-rows");
        for role in ["original", "unlearned", "retrained"] {
            let arrays = vec![("forget", npy_f32(&[1, 500_000], &vec![0.5; 500_000]))];
            write(&dir.join(role).join("outputs.npz"), &npz(&arrays, false));
        }
        b.push(
            "compare/outputs/wide-rows".into(),
            compare_args(&dir, false),
            Expect::Any,
            vec![],
        );
        let dir = b.dir("compare-outputs-zero-rows");
        for role in ["original", "unlearned", "retrained"] {
            let arrays = vec![("forget", npy_f32(&[0, 3], &[]))];
            write(&dir.join(role).join("outputs.npz"), &npz(&arrays, false));
        }
        b.push(
            "compare/outputs/zero-rows".into(),
            compare_args(&dir, false),
            Expect::Refused,
            vec!["forget".into()],
        );
    }
    // --- weights.safetensors ------------------------------------------------------------------
    for (label, bytes, mention) in safetensors_corruptions() {
        let dir = b.dir(&format!("compare-weights-{label}"));
        write_bundles(&dir);
        let path = dir.join("retrained").join("weights.safetensors");
        write(&path, &bytes);
        let mut needles = vec![file_name(&path)];
        needles.extend(mention);
        b.push(
            format!("compare/weights/{label}"),
            compare_args(&dir, true),
            Expect::Refused,
            needles,
        );
    }
    // --- special files in place of inputs -----------------------------------------------------
    for (label, make) in [
        ("fifo", 0),
        ("directory", 1),
        ("missing", 2),
        ("dev-zero", 3),
    ] {
        let place = |path: &Path| {
            let _ = std::fs::remove_file(path);
            match make {
                0 => mkfifo(path),
                1 => std::fs::create_dir_all(path).unwrap(),
                2 => {}
                _ => std::os::unix::fs::symlink("/dev/zero", path).unwrap(),
            }
        };
        let dir = b.dir(&format!("compare-special-outputs-{label}"));
        write_bundles(&dir);
        let path = dir.join("unlearned").join("outputs.npz");
        place(&path);
        b.push(
            format!("compare/special/outputs-{label}"),
            compare_args(&dir, true),
            Expect::Refused,
            vec!["outputs.npz".into()],
        );
        let dir = b.dir(&format!("compare-special-labels-{label}"));
        write_bundles(&dir);
        let path = dir.join("labels.npz");
        place(&path);
        b.push(
            format!("compare/special/labels-{label}"),
            compare_args(&dir, true),
            Expect::Refused,
            vec!["labels.npz".into()],
        );
        let dir = b.dir(&format!("mia-special-labels-{label}"));
        write_bundles(&dir);
        place(&dir.join("labels.npz"));
        b.push(
            format!("mia/special/labels-{label}"),
            mia_args(&dir, &[]),
            Expect::Refused,
            vec!["labels.npz".into()],
        );
        let dir = b.dir(&format!("compare-special-weights-{label}"));
        write_bundles(&dir);
        let path = dir.join("original").join("weights.safetensors");
        place(&path);
        b.push(
            format!("compare/special/weights-{label}"),
            compare_args(&dir, true),
            Expect::Refused,
            vec!["weights.safetensors".into()],
        );
        let dir = b.dir(&format!("epsilon-special-{label}"));
        let path = dir.join("unlearned.npy");
        place(&path);
        b.push(
            format!("epsilon/special/{label}"),
            epsilon_args(&path, &r_good),
            Expect::Refused,
            vec!["unlearned.npy".into()],
        );
        let dir = b.dir(&format!("shadow-special-{label}"));
        let path = dir.join("scores.npz");
        place(&path);
        b.push(
            format!("mia-lira/special/{label}"),
            shadow_args("lira", &path),
            Expect::Refused,
            vec!["scores.npz".into()],
        );
        let dir = b.dir(&format!("sample-special-{label}"));
        let path = dir.join("data.csv");
        place(&path);
        b.push(
            format!("sample/special/{label}"),
            sample_args(
                &path,
                &dir.join("out"),
                &[
                    "--mechanism",
                    "retrain",
                    "--model",
                    "logistic",
                    "--lambda",
                    "0.01",
                ],
            ),
            Expect::Refused,
            vec!["data.csv".into()],
        );
        let dir = b.dir(&format!("run-special-{label}"));
        let path = dir.join("plan.toml");
        place(&path);
        b.push(
            format!("run/special/{label}"),
            run_args(&path, &dir.join("report")),
            Expect::Refused,
            vec!["plan.toml".into()],
        );
    }
    // --- mia shadow-model files ------------------------------------------------------------------
    for kind in ["lira", "rmia", "ulira"] {
        let arrays = scores_arrays(kind);
        let target = "shadow_scores";
        for (label, bytes, mention) in npz_corruptions(&arrays, target) {
            let dir = b.dir(&format!("mia-{kind}-{label}"));
            let path = dir.join("scores.npz");
            write(&path, &bytes);
            let mut needles = vec![file_name(&path)];
            needles.extend(mention);
            b.push(
                format!("mia-{kind}/{label}"),
                shadow_args(kind, &path),
                Expect::Refused,
                needles,
            );
        }
        // Content errors.
        let n = N_POINTS;
        let m = M_SHADOWS;
        let mut content: Vec<(&str, &str, Vec<u8>)> = vec![
            (
                "scores-nan",
                "shadow_scores",
                npy_f64(&[n, m], &vec![f64::NAN; n * m]),
            ),
            (
                "scores-wrong-shape",
                "shadow_scores",
                npy_f64(&[n, m + 1], &vec![0.5; n * (m + 1)]),
            ),
            (
                "target-wrong-length",
                "target_scores",
                npy_f64(&[n + 3], &vec![0.5; n + 3]),
            ),
        ];
        if kind == "ulira" {
            content.push((
                "state-code-7",
                "shadow_state",
                npy_i64(&[n, m], &vec![7; n * m]),
            ));
            content.push(("state-float", "target_state", npy_f64(&[n], &vec![1.0; n])));
        } else {
            content.push((
                "mask-not-bool",
                "shadow_in",
                npy_i64(&[n, m], &vec![3; n * m]),
            ));
            content.push(("mask-float", "target_in", npy_f64(&[n], &vec![0.5; n])));
        }
        if kind == "rmia" {
            content.push((
                "probability-above-1",
                "target_scores",
                npy_f64(&[n], &vec![1.5; n]),
            ));
        }
        for (label, array, bytes) in content {
            let replaced: Vec<(&str, Vec<u8>)> = arrays
                .iter()
                .map(|(name, b)| {
                    (
                        *name,
                        if *name == array {
                            bytes.clone()
                        } else {
                            b.clone()
                        },
                    )
                })
                .collect();
            let dir = b.dir(&format!("mia-{kind}-content-{label}"));
            let path = dir.join("scores.npz");
            write(&path, &npz(&replaced, false));
            b.push(
                format!("mia-{kind}/content/{label}"),
                shadow_args(kind, &path),
                Expect::Refused,
                vec!["scores.npz".into(), array.into()],
            );
        }
    }
    // --- epsilon over corrupt sample sets -------------------------------------------------------
    let good = sample_set(1, 40, 2);
    for (label, bytes) in npy_corruptions(&good, &[40, 2]) {
        for side in ["unlearned", "retrained"] {
            let dir = b.dir(&format!("epsilon-{side}-{label}"));
            let path = dir.join(format!("{side}.npy"));
            write(&path, &bytes);
            let other = dir.join("other.npy");
            write(&other, &sample_set(2, 40, 2));
            let args = if side == "unlearned" {
                epsilon_args(&path, &other)
            } else {
                epsilon_args(&other, &path)
            };
            b.push(
                format!("epsilon/{side}/{label}"),
                args,
                Expect::Refused,
                vec![format!("{side}.npy")],
            );
        }
    }
    // Sample-set directories.
    {
        let dir = b.dir("epsilon-dir-mixed");
        let set = dir.join("runs");
        write(&set.join("t0.npy"), &npy_f64(&[3], &[1.0, 2.0, 3.0]));
        write(&set.join("t1.npy"), &npy_f64(&[4], &[1.0, 2.0, 3.0, 4.0]));
        b.push(
            "epsilon/dir/mixed-lengths".into(),
            epsilon_args(&set, &r_good),
            Expect::Refused,
            vec!["t1.npy".into()],
        );
        let dir = b.dir("epsilon-dir-empty");
        let set = dir.join("runs");
        std::fs::create_dir_all(&set).unwrap();
        b.push(
            "epsilon/dir/empty".into(),
            epsilon_args(&set, &r_good),
            Expect::Refused,
            vec!["runs".into()],
        );
        let dir = b.dir("epsilon-dir-fifo");
        let set = dir.join("runs");
        std::fs::create_dir_all(&set).unwrap();
        write(&set.join("t0.npy"), &npy_f64(&[1], &[1.0]));
        mkfifo(&set.join("t1.npy"));
        b.push(
            "epsilon/dir/fifo-member".into(),
            epsilon_args(&set, &r_good),
            Expect::Refused,
            vec!["t1.npy".into()],
        );
        let dir = b.dir("epsilon-dir-corrupt");
        let set = dir.join("runs");
        write(&set.join("t0.npy"), &npy_f64(&[1], &[1.0]));
        write(
            &set.join("t1.npy"),
            b"\x93NUMPY\x01\x00\x10\x00{'descr': '<f8'}",
        );
        b.push(
            "epsilon/dir/corrupt-member".into(),
            epsilon_args(&set, &r_good),
            Expect::Refused,
            vec!["t1.npy".into()],
        );
        let dir = b.dir("epsilon-dim-mismatch");
        let path = dir.join("unlearned.npy");
        write(&path, &sample_set(3, 40, 3));
        b.push(
            "epsilon/dim-mismatch".into(),
            epsilon_args(&path, &r_good),
            Expect::Refused,
            vec![],
        );
    }
    // --- sample over corrupt CSVs ------------------------------------------------------------------
    for (label, text, mention) in csv_corruptions() {
        let dir = b.dir(&format!("sample-csv-{label}"));
        let path = dir.join("data.csv");
        write(&path, text.as_bytes());
        let mut needles = vec!["data.csv".to_string()];
        needles.extend(mention);
        for mechanism in ["retrain", "guo"] {
            let extra: &[&str] = if mechanism == "guo" {
                &[
                    "--mechanism",
                    "guo",
                    "--lambda",
                    "0.01",
                    "--sigma",
                    "0.1",
                    "--epsilon",
                    "1",
                    "--delta",
                    "1e-4",
                ]
            } else {
                &[
                    "--mechanism",
                    "retrain",
                    "--model",
                    "softmax",
                    "--lambda",
                    "0.01",
                ]
            };
            b.push(
                format!("sample/csv/{mechanism}/{label}"),
                sample_args(&path, &dir.join(format!("out-{mechanism}")), extra),
                Expect::Refused,
                needles.clone(),
            );
        }
    }
    {
        let dir = b.dir("sample-guo-sigma-1e10");
        b.push(
            "sample/guo/sigma-1e10".into(),
            sample_args(
                &good_csv,
                &dir.join("out"),
                &[
                    "--mechanism",
                    "guo",
                    "--lambda",
                    "0.01",
                    "--sigma",
                    "1e10",
                    "--epsilon",
                    "1",
                    "--delta",
                    "1e-4",
                ],
            ),
            Expect::Any,
            vec![],
        );
    }
    // --- certify parameters ------------------------------------------------------------------------
    let certify_cases: Vec<(&str, Vec<&str>, Expect)> = vec![
        (
            "gaussian/sigma-nan",
            vec![
                "gaussian",
                "--sensitivity",
                "1",
                "--sigma",
                "NaN",
                "--delta",
                "1e-5",
            ],
            Expect::Refused,
        ),
        (
            "gaussian/sigma-inf",
            vec![
                "gaussian",
                "--sensitivity",
                "1",
                "--sigma",
                "inf",
                "--delta",
                "1e-5",
            ],
            Expect::Refused,
        ),
        (
            "gaussian/sigma-negative",
            vec![
                "gaussian",
                "--sensitivity",
                "1",
                "--sigma",
                "-1",
                "--delta",
                "1e-5",
            ],
            Expect::Refused,
        ),
        (
            "gaussian/sigma-zero",
            vec![
                "gaussian",
                "--sensitivity",
                "1",
                "--sigma",
                "0",
                "--delta",
                "1e-5",
            ],
            Expect::Refused,
        ),
        (
            "gaussian/delta-one",
            vec![
                "gaussian",
                "--sensitivity",
                "1",
                "--sigma",
                "1",
                "--delta",
                "1",
            ],
            Expect::Refused,
        ),
        (
            "gaussian/delta-nan",
            vec![
                "gaussian",
                "--sensitivity",
                "1",
                "--sigma",
                "1",
                "--delta",
                "nan",
            ],
            Expect::Refused,
        ),
        (
            "gaussian/sigma-1e-308",
            vec![
                "gaussian",
                "--sensitivity",
                "1",
                "--sigma",
                "1e-308",
                "--delta",
                "1e-5",
            ],
            Expect::Any,
        ),
        (
            "gaussian/sigma-1e308",
            vec![
                "gaussian",
                "--sensitivity",
                "1",
                "--sigma",
                "1e308",
                "--delta",
                "1e-5",
            ],
            Expect::Any,
        ),
        (
            "guo/sigma-1e-308",
            vec![
                "guo",
                "--residual-bound",
                "0.1",
                "--sigma",
                "1e-308",
                "--delta",
                "1e-4",
            ],
            Expect::Any,
        ),
        (
            "guo/sigma-nan",
            vec![
                "guo",
                "--residual-bound",
                "0.1",
                "--sigma",
                "nan",
                "--delta",
                "1e-4",
            ],
            Expect::Refused,
        ),
        (
            "guo/residual-negative",
            vec![
                "guo",
                "--residual-bound",
                "-0.1",
                "--sigma",
                "1",
                "--delta",
                "1e-4",
            ],
            Expect::Refused,
        ),
        (
            "guo/n-zero",
            vec![
                "guo",
                "--lambda",
                "0.1",
                "--n",
                "0",
                "--epsilon",
                "1",
                "--delta",
                "1e-4",
            ],
            Expect::Refused,
        ),
        (
            "koloskova-model-clip/steps-u64-max",
            vec![
                "koloskova-model-clip",
                "--model-clip",
                "7",
                "--projection-radius",
                "1",
                "--sigma",
                "1",
                "--epsilon",
                "1",
                "--steps",
                "18446744073709551615",
            ],
            Expect::Any,
        ),
        (
            "koloskova-model-clip/steps-zero",
            vec![
                "koloskova-model-clip",
                "--model-clip",
                "7",
                "--projection-radius",
                "1",
                "--sigma",
                "1",
                "--epsilon",
                "1",
                "--steps",
                "0",
            ],
            Expect::Any,
        ),
        (
            "koloskova-model-clip/sigma-nan",
            vec![
                "koloskova-model-clip",
                "--model-clip",
                "7",
                "--projection-radius",
                "1",
                "--sigma",
                "nan",
                "--epsilon",
                "1",
                "--steps",
                "5",
            ],
            Expect::Refused,
        ),
        (
            "rdp-convert/slope-negative",
            vec!["rdp-convert", "--renyi-slope", "-1", "--delta", "1e-5"],
            Expect::Refused,
        ),
        (
            "rdp-convert/slope-inf",
            vec!["rdp-convert", "--renyi-slope", "inf", "--delta", "1e-5"],
            Expect::Refused,
        ),
        (
            "d2d/iterations-huge",
            vec![
                "d2d",
                "--n",
                "100",
                "--iterations",
                "18446744073709551615",
                "--lipschitz",
                "1",
                "--strong-convexity",
                "1",
                "--smoothness",
                "2",
                "--step-size",
                "0.5",
                "--sigma",
                "1",
                "--delta",
                "1e-5",
            ],
            Expect::Any,
        ),
        (
            "sekhari/n-zero",
            vec![
                "sekhari",
                "--hessian-lipschitz",
                "1",
                "--lipschitz",
                "1",
                "--strong-convexity",
                "1",
                "--deletions",
                "1",
                "--n",
                "0",
                "--sigma",
                "1",
                "--delta",
                "1e-5",
            ],
            Expect::Refused,
        ),
    ];
    for (label, args, expect) in certify_cases {
        let mut full = os(&["--threads", "1", "certify", "--json"]);
        full.extend(os(&args));
        b.push(format!("certify/{label}"), full, expect, vec![]);
    }
    // --- run over corrupt plans --------------------------------------------------------------------
    let plans: Vec<(&str, String)> = vec![
        ("empty", String::new()),
        ("not-toml", "this is [ not toml ==".into()),
        (
            "binary",
            String::from_utf8_lossy(&[0u8, 1, 2, 255, 254]).into_owned(),
        ),
        ("unknown-table", plan_text(&valid) + "\n[mystery]\nx = 1\n"),
        (
            "unknown-key",
            plan_text(&valid).replace("seed = 1", "seed = 1\nsede = 2"),
        ),
        (
            "seed-negative",
            plan_text(&valid).replace("seed = 1", "seed = -1"),
        ),
        (
            "seed-huge",
            plan_text(&valid).replace("seed = 1", "seed = 1e400"),
        ),
        (
            "rule-no-bound",
            plan_text(&valid).replace("at_most = 0.5", ""),
        ),
        (
            "rule-nan-bound",
            plan_text(&valid).replace("at_most = 0.5", "at_most = nan"),
        ),
        (
            "rule-unknown-metric",
            plan_text(&valid).replace("js.forget", "magic.forget"),
        ),
        (
            "evidence-missing-dir",
            plan_text(&valid).replace("/original", "/nowhere"),
        ),
        (
            "duplicate-key",
            plan_text(&valid).replace("seed = 1", "seed = 1\nseed = 2"),
        ),
        (
            "deep-nesting",
            format!("x = {}{}", "[".repeat(5000), "]".repeat(5000)),
        ),
        (
            "long-string",
            format!("[plan]\nname = \"{}\"\n", "a".repeat(1 << 20)),
        ),
    ];
    for (label, text) in plans {
        let dir = b.dir(&format!("run-plan-{label}"));
        let path = dir.join("plan.toml");
        write(&path, text.as_bytes());
        b.push(
            format!("run/plan/{label}"),
            run_args(&path, &dir.join("report")),
            Expect::Refused,
            vec!["plan.toml".into()],
        );
    }
    // Plans pointing at corrupt evidence.
    for (label, bytes, _) in npz_corruptions(&outputs_arrays(2), "forget")
        .into_iter()
        .take(12)
    {
        let dir = b.dir(&format!("run-evidence-{label}"));
        write_bundles(&dir);
        let path = dir.join("unlearned").join("outputs.npz");
        write(&path, &bytes);
        let plan = dir.join("plan.toml");
        write(&plan, plan_text(&dir).as_bytes());
        b.push(
            format!("run/evidence/{label}"),
            run_args(&plan, &dir.join("report")),
            Expect::Refused,
            vec!["outputs.npz".into()],
        );
    }
    b.cases
}

fn owner_of(name: &str) -> Option<(&'static str, &'static str)> {
    OWNED_ELSEWHERE
        .iter()
        .find(|(prefix, _, _)| name.starts_with(prefix))
        .map(|&(_, owner, what)| (owner, what))
}

#[test]
fn bad_input_campaign() {
    let root = tempfile::tempdir().unwrap();
    let cases = build_cases(root.path());
    assert!(cases.len() >= 300, "only {} cases", cases.len());
    let commands = [
        "compare",
        "mia",
        "mia lira",
        "mia rmia",
        "mia ulira",
        "epsilon",
        "certify",
        "sample",
        "run",
    ];
    for command in commands {
        let words: Vec<&str> = command.split(' ').collect();
        assert!(
            cases.iter().any(|c| {
                let args: Vec<String> = c
                    .args
                    .iter()
                    .map(|a| a.to_string_lossy().into_owned())
                    .collect();
                args.windows(words.len()).any(|w| w == words.as_slice())
            }),
            "no case for `{command}`"
        );
    }
    let next = Mutex::new(0usize);
    let outcomes = Mutex::new(Vec::new());
    let workers = 4;
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let index = {
                        let mut n = next.lock().unwrap();
                        let i = *n;
                        *n += 1;
                        i
                    };
                    let Some(case) = cases.get(index) else { break };
                    let run = run_limited(&case.args, root.path());
                    let failures = judge(case, &run);
                    let mut failures_with_output = failures.clone();
                    if !failures.is_empty() {
                        failures_with_output.push(format!(
                            "stderr: {}",
                            run.stderr.chars().take(400).collect::<String>()
                        ));
                    }
                    outcomes.lock().unwrap().push(Outcome {
                        name: case.name.clone(),
                        failures: if failures.is_empty() {
                            failures
                        } else {
                            failures_with_output
                        },
                        exit: run.code,
                        seconds: run.seconds,
                        max_rss_kb: run.max_rss_kb,
                    });
                }
            });
        }
    });
    let mut outcomes = outcomes.into_inner().unwrap();
    outcomes.sort_by(|a, b| a.name.cmp(&b.name));
    let slowest = outcomes.iter().map(|o| o.seconds).fold(0.0, f64::max);
    let peak = outcomes.iter().map(|o| o.max_rss_kb).max().unwrap_or(0);
    let refused = outcomes.iter().filter(|o| o.exit == Some(2)).count();
    eprintln!(
        "campaign: {} cases, {} refused with exit 2, slowest {:.2} s, peak RSS {} MiB",
        outcomes.len(),
        refused,
        slowest,
        peak / 1024
    );
    let mut unexpected = Vec::new();
    for outcome in &outcomes {
        match (owner_of(&outcome.name), outcome.failures.is_empty()) {
            (Some((owner, what)), false) => eprintln!(
                "owned elsewhere ({owner}: {what}): {} — {}",
                outcome.name,
                outcome.failures.join("; ")
            ),
            (Some((owner, _)), true) => eprintln!(
                "owned elsewhere ({owner}) but passes now, remove it from OWNED_ELSEWHERE: {}",
                outcome.name
            ),
            (None, false) => {
                unexpected.push(format!("{}: {}", outcome.name, outcome.failures.join("; ")))
            }
            (None, true) => {}
        }
    }
    assert!(
        unexpected.is_empty(),
        "{} of {} cases failed:\n{}",
        unexpected.len(),
        outcomes.len(),
        unexpected.join("\n")
    );
}
