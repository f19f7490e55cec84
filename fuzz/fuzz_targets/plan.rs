#![no_main]
//! Fuzz target: plan parsing and validation over arbitrary text must return Ok or an error,
//! never panic. See docs/robustness.md.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = unlearn_audit::plan::parse_plan(std::path::Path::new("fuzz/plan.toml"), text);
    }
});
