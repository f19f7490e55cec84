//! One set of defaults for the CLI and audit plans: clap's `default_value_t` and the plans'
//! serde `default` functions both read these constants, so `unlearn-audit mia …` and a plan's
//! `[mia]` table agree unless told otherwise. The table in `docs/plans.md` §Defaults lists them.

/// Confidence of every interval and bound (`--confidence`, `confidence`).
pub const CONFIDENCE: f64 = 0.95;

/// Stratified bootstrap replicates for AUC and TPR@FPR intervals (`--bootstrap`, `bootstrap`).
pub const BOOTSTRAP: usize = 1000;

/// FPR levels α of TPR at FPR α (`--fpr`, `fprs`).
pub const FPRS: [f64; 3] = [0.001, 0.01, 0.1];

/// `--fpr`'s default as clap text (the same numbers as [`FPRS`]; a unit test checks it).
pub const FPRS_TEXT: &str = "0.001,0.01,0.1";

/// Share of members and non-members used to fit the fitted attacks (`--fit-fraction`,
/// `fit_fraction`).
pub const FIT_FRACTION: f64 = 0.5;

/// Equivalence margin in AUC of the MIA verdicts (`--margin`, `margin`; `docs/verdicts.md`).
pub const MARGIN: f64 = crate::mia::DEFAULT_MARGIN;

/// Shadow worlds of `[ulira]` (`shadow_models`). With forget_share 0.5 a point is "unlearned"
/// in a quarter of the worlds; 64 worlds leave a point of a 1797-row data set without any such
/// world with probability ≈ 1797·0.75⁶⁴ ≈ 2e-5.
pub const SHADOW_MODELS: usize = 64;

/// Share of each shadow world's training half that the mechanism unlearns (`forget_share`).
pub const FORGET_SHARE: f64 = 0.5;

/// Default output split names of the members and non-members (`--members`, `members`).
pub const MEMBERS: &str = "forget";
/// See [`MEMBERS`].
pub const NONMEMBERS: &str = "test";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fpr_text_spells_the_fpr_constants() {
        let parsed: Vec<f64> = FPRS_TEXT.split(',').map(|t| t.parse().unwrap()).collect();
        assert_eq!(parsed, FPRS.to_vec());
    }

    #[test]
    fn record_accepts_both_spellings_and_prints_the_canonical_one() {
        use crate::sampling::Record;
        for text in ["forget_scores", "forget-scores"] {
            assert_eq!(Record::parse(text), Some(Record::ForgetScores));
            let json = format!("\"{text}\"");
            assert_eq!(
                serde_json::from_str::<Record>(&json).unwrap(),
                Record::ForgetScores
            );
        }
        assert_eq!(Record::parse("forget-losses"), Some(Record::ForgetLosses));
        assert_eq!(Record::parse("forget scores"), None);
        assert_eq!(
            serde_json::to_string(&Record::ForgetScores).unwrap(),
            "\"forget_scores\""
        );
    }

    #[test]
    fn plans_take_the_library_defaults() {
        let spec: crate::plan::schema::MiaSpec = toml::from_str("").unwrap();
        assert_eq!(spec.bootstrap, BOOTSTRAP);
        assert_eq!(spec.fprs, FPRS.to_vec());
        assert_eq!(*spec.confidence.get_ref(), CONFIDENCE);
        assert_eq!(spec.fit_fraction, FIT_FRACTION);
        assert_eq!(spec.margin, MARGIN);
        assert_eq!(
            (spec.members.as_str(), spec.nonmembers.as_str()),
            (MEMBERS, NONMEMBERS)
        );
        let ulira: crate::plan::schema::UliraSpec = toml::from_str("").unwrap();
        assert_eq!(ulira.shadow_models, SHADOW_MODELS);
        assert_eq!(ulira.forget_share, FORGET_SHARE);
        assert_eq!(ulira.fprs, FPRS.to_vec());
    }
}
