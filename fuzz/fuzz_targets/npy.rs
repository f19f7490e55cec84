#![no_main]
//! Fuzz target: the npy loader over arbitrary bytes must return Ok or an error, never panic,
//! abort or allocate beyond what the bytes hold. See docs/robustness.md.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = unlearn_audit::io::fuzzing::npy(data);
});
