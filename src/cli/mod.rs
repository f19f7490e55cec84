//! One file per subcommand. Each exposes `Args` (clap) and `run(Args) -> anyhow::Result<u8>`
//! returning the exit code; any `Err` is an input or usage error (exit 2).

pub mod certify;
pub mod compare;
pub mod epsilon;
pub mod llm;
pub mod mia;
pub mod progress;
pub mod run;
pub mod sample;

use unlearn_audit::report::{self, Finding};

/// Prints a finding as JSON (`--json`) or as readable text, and returns its exit code.
pub fn emit<F: Finding>(finding: &F, json: bool) -> anyhow::Result<u8> {
    if json {
        print!("{}", report::to_json(finding)?);
    } else {
        println!("# {}\n", finding.title());
        print!("{}", report::round_floats(&finding.text()));
    }
    Ok(finding.outcome().exit_code())
}
