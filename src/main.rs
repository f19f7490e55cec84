//! The `unlearn-audit` command: parses arguments, shows progress, prints reports and maps
//! outcomes to exit codes (0 pass / consistent, 1 fail / violated, 2 usage or input error,
//! 3 inconclusive). All analysis lives in the `unlearn_audit` library.

mod cli;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Audits machine-unlearning claims: metrics against a retrained reference, membership
/// inference, empirical (ε, δ) bounds by repeated sampling, and certificates.
#[derive(Debug, Parser)]
#[command(name = "unlearn-audit", version, about, long_about = None)]
struct Cli {
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long, global = true, value_name = "N")]
    threads: Option<usize>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Distances between original, unlearned and retrained model bundles (weights and outputs).
    Compare(cli::compare::Args),
    /// Empirical (ε, δ) lower bound from repeated runs, and a verdict on a claim.
    Epsilon(cli::epsilon::Args),
    /// Theoretical (ε, δ) of certified mechanisms from their parameters.
    Certify(cli::certify::Args),
    /// Runs a mechanism and its retraining reference many times, in-process or externally.
    Sample(cli::sample::Args),
    /// Membership-inference attacks with confidence intervals.
    Mia(cli::mia::Args),
    /// TOFU's forget quality (truth ratio, KS p-value) from LLM bundles, with a paired
    /// interval and, for several runs, the ε audit (docs/llm.md).
    ForgetQuality(cli::llm::ForgetQualityArgs),
    /// Runs an audit plan (TOML) and writes report.json, report.md and report.html.
    Run(cli::run::Args),
}

/// The error and its causes on one line, each cause once: a cause whose text the message
/// already holds (library errors that print their source) is not repeated.
fn error_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// The most worker threads `--threads` accepts: far above any core count this tool meets, far
/// below the point where spawning them costs more than the work.
const MAX_THREADS: usize = 1024;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            use clap::CommandFactory;
            use clap::error::ErrorKind;
            // clap suggests a close subcommand; for a distant one, list them all.
            let distant =
                error.kind() == ErrorKind::InvalidSubcommand && !error.to_string().contains("tip:");
            let _ = error.print();
            if distant {
                let names: Vec<String> = Cli::command()
                    .get_subcommands()
                    .map(|c| c.get_name().to_string())
                    .filter(|n| n != "help")
                    .collect();
                eprintln!("  tip: the subcommands are {}", names.join(", "));
            }
            return ExitCode::from(error.exit_code().clamp(0, 255) as u8);
        }
    };
    if let Some(threads) = cli.threads {
        if threads == 0 || threads > MAX_THREADS {
            eprintln!(
                "error: --threads {threads}: must lie in 1..={MAX_THREADS} (results do not \
                 depend on it; more threads than cores only add overhead)"
            );
            return ExitCode::from(2);
        }
        if let Err(e) = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build_global()
        {
            eprintln!("error: could not start {threads} threads: {e}");
            return ExitCode::from(2);
        }
    }
    let result = match cli.command {
        Command::Compare(args) => cli::compare::run(args),
        Command::Epsilon(args) => cli::epsilon::run(args),
        Command::Certify(args) => cli::certify::run(args),
        Command::Sample(args) => cli::sample::run(args),
        Command::Mia(args) => cli::mia::run(args),
        Command::ForgetQuality(args) => cli::llm::run_forget_quality(args),
        Command::Run(args) => cli::run::run(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("error: {}", error_line(&error));
            ExitCode::from(2)
        }
    }
}
