//! `unlearn-audit sample`: runs a mechanism and its reference procedure many times (in-process)
//! or drives the user's own command once per run (`--trial-command`), and writes the two
//! sample sets plus a manifest. The pipeline is the library's
//! (`sampling::pipeline`); this face only parses, shows progress and prints. See
//! `docs/sampling.md`.

use std::path::PathBuf;
use std::sync::LazyLock;

use anyhow::{Context, bail};
use unlearn_audit::mechanisms::{self, MechanismOptions};
use unlearn_audit::sampling::Record;
use unlearn_audit::sampling::external::{ExternalOptions, run_external};
use unlearn_audit::sampling::pipeline::{
    ForgetSelection, Manifest, SampleRequest, sample_in_process, write_in_process,
};

use super::progress::ProgressBarObserver;

/// `--mechanism`'s help, listing every mechanism of the registry.
static MECHANISM_HELP: LazyLock<String> = LazyLock::new(|| {
    format!(
        "Mechanism (docs/mechanisms.md): {}",
        mechanisms::MECHANISM_NAMES.join(", ")
    )
});

/// Arguments of `unlearn-audit sample`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(
        long,
        value_name = "NAME",
        required_unless_present = "trial_command",
        help = MECHANISM_HELP.as_str()
    )]
    mechanism: Option<String>,
    /// Labelled CSV with a header row.
    #[arg(long, value_name = "CSV", required_unless_present = "trial_command")]
    data: Option<PathBuf>,
    /// Name of the label column.
    #[arg(long, default_value = "label")]
    label_column: String,
    /// Row indices (0-based, data rows) to forget, comma-separated, removed in this order.
    #[arg(long, value_delimiter = ',', conflicts_with = "forget_count")]
    forget: Option<Vec<usize>>,
    /// Forget this many rows chosen by a seeded shuffle (stream reserved for it).
    #[arg(long, value_name = "N")]
    forget_count: Option<usize>,
    /// Runs per side.
    #[arg(long, value_name = "N")]
    trials: usize,
    /// Master seed: run t, side s uses ChaCha8 stream 2t + s.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// What each run records: weights, forget-scores, forget-losses or statistic (default
    /// weights). With --trial-command: what the command records (written to the manifest;
    /// no default).
    #[arg(long)]
    record: Option<String>,
    /// Output directory.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// The mechanism's parameters (declared once in `mechanisms::MechanismOptions`).
    #[command(flatten)]
    options: MechanismOptions,
    /// Run this shell command once per run and side instead of an in-process mechanism;
    /// placeholders {seed} {run} {side} {out}; it must write {out}.npy.
    #[arg(long, value_name = "CMD", conflicts_with = "mechanism")]
    trial_command: Option<String>,
    /// With --trial-command: run only trials K..N (for scheduler array tasks).
    #[arg(
        long,
        value_name = "K",
        default_value_t = 0,
        requires = "trial_command"
    )]
    first_trial: usize,
    /// Commands run at the same time with --trial-command.
    #[arg(long, default_value_t = 1)]
    jobs: usize,
}

fn parse_record(text: &str) -> anyhow::Result<Record> {
    Record::parse(text).with_context(|| {
        format!("--record {text}: expected weights, forget-scores, forget-losses or statistic")
    })
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    if args.trials == 0 {
        bail!("--trials must be at least 1");
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("could not create output directory {}", args.out.display()))?;
    if let Some(command) = &args.trial_command {
        return run_command(&args, command);
    }
    let record = parse_record(args.record.as_deref().unwrap_or("weights"))?;
    let name = args
        .mechanism
        .as_deref()
        .context("--mechanism is required")?;
    if !mechanisms::MECHANISM_NAMES.contains(&name) {
        bail!(
            "unknown mechanism `{name}`; known: {}",
            mechanisms::MECHANISM_NAMES.join(", ")
        );
    }
    let data = args.data.clone().context("--data is required")?;
    let forget = match (&args.forget, args.forget_count) {
        (Some(indices), None) => ForgetSelection::Indices(indices.clone()),
        (None, Some(count)) => ForgetSelection::Count(count),
        _ => bail!("give exactly one of --forget I,J,.. or --forget-count N"),
    };
    let request = SampleRequest {
        mechanism: name.to_string(),
        data,
        label_column: args.label_column.clone(),
        forget,
        trials: args.trials,
        seed: args.seed,
        record,
        options: args.options.clone(),
        checkpoint: Some(args.out.join(".checkpoint")),
    };
    let observer = ProgressBarObserver::new(name);
    let runs = sample_in_process(&request, &observer)?;
    write_in_process(&args.out, &request, &runs)?;
    Ok(0)
}

fn run_command(args: &Args, command: &str) -> anyhow::Result<u8> {
    let record = args.record.as_deref().map(parse_record).transpose()?;
    let options = ExternalOptions {
        command: command.to_string(),
        first_run: args.first_trial,
        trials: args.trials,
        seed: args.seed,
        jobs: args.jobs,
        out_dir: args.out.clone(),
    };
    let observer = ProgressBarObserver::new("external runs");
    let summary = run_external(&options, &observer)?;
    if summary.replaced_invalid > 0 {
        eprintln!(
            "note: {} existing run file(s) did not validate and were re-run",
            summary.replaced_invalid
        );
    }
    Manifest::external(&options, record, &summary).write(&args.out)?;
    Ok(0)
}
