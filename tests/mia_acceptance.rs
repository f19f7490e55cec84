//! Acceptance of U-LiRA on real shadow models (issue 6): on digits, with shadow models that
//! trained on random halves and then fine-tuned away a forget set, U-LiRA flags the leak of
//! fine-tuning while the population attack on the same target sees no significant gap.

use std::path::Path;

use assert_cmd::Command;
use serde_json::Value;

/// Needs `fixtures/mia/digits_ulira.npz` in the layout of `docs/mia.md` §5 (`shadow_scores`,
/// `shadow_state`, `target_scores`, `target_state`, `retrained_scores`), produced by
/// `unlearn-audit sample`. The `sample` command of branch `mechanisms` records per-run forget
/// scores of unlearned vs retrained models, not shadow-model matrices over random halves with
/// trained / unlearned / never-seen states, so the fixture cannot be produced yet; the
/// simulated version (`tests/mia_properties.rs::ulira_flags_a_leak_that_the_population_attack_misses`)
/// runs in CI meanwhile.
#[test]
#[ignore = "needs shadow-model matrices from `sample` (not yet emitted by branch mechanisms)"]
fn ulira_flags_fine_tuning_on_digits_where_population_attacks_do_not() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/mia/digits_ulira.npz");
    assert!(file.exists(), "missing {}", file.display());
    let output = Command::cargo_bin("unlearn-audit")
        .unwrap()
        .args(["mia", "ulira", "--scores", file.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    let gaps = json["reference"]["gaps"].as_array().unwrap();
    let gap = |name: &str| {
        gaps.iter()
            .find(|g| g["attack"] == name)
            .unwrap_or_else(|| panic!("no gap for {name}"))
            .clone()
    };
    assert_eq!(gap("ulira")["indistinguishable"], Value::Bool(false));
    assert_eq!(
        gap("global_threshold")["indistinguishable"],
        Value::Bool(true)
    );
}
