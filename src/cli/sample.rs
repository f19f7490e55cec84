//! `unlearn-audit sample`: runs a mechanism and its reference procedure many times (in-process)
//! or drives the user's own command once per run (`--trial-command`), and writes the two
//! sample sets plus a manifest. See `docs/sampling.md`.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use ndarray_npy::WriteNpyExt;
use unlearn_audit::mechanisms::{self, MechanismOptions, ModelKind, Split};
use unlearn_audit::models::Dataset;
use unlearn_audit::sampling::external::{ExternalOptions, run_external};
use unlearn_audit::sampling::{
    Checkpoint, Record, checkpoint_configuration, run_trials_checkpointed,
};

use super::progress::ProgressBarObserver;

/// Arguments of `unlearn-audit sample`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Mechanism: retrain, finetune, fisher, guo, sekhari, d2d, koloskova-gradient-clip, or a
    /// faulty variant (see docs/mechanisms.md).
    #[arg(long, value_name = "NAME", required_unless_present = "trial_command")]
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
    /// Reference model: logistic (binary or one-vs-rest) or softmax.
    #[arg(long)]
    model: Option<String>,
    /// Per-example L2 coefficient λ.
    #[arg(long)]
    lambda: Option<f64>,
    /// Noise standard deviation σ.
    #[arg(long)]
    sigma: Option<f64>,
    /// Target ε of the certificate.
    #[arg(long)]
    epsilon: Option<f64>,
    /// Target δ of the certificate.
    #[arg(long)]
    delta: Option<f64>,
    /// Descent / fine-tuning steps.
    #[arg(long)]
    steps: Option<usize>,
    /// Step size.
    #[arg(long)]
    learning_rate: Option<f64>,
    /// Fisher forgetting's noise scale α.
    #[arg(long)]
    alpha: Option<f64>,
    /// Koloskova et al.: C0, clipping radius of the initial model.
    #[arg(long)]
    model_clip: Option<f64>,
    /// koloskova-gradient-clip: C1, gradient clipping norm.
    #[arg(long)]
    gradient_clip: Option<f64>,
    /// koloskova-model-clip: C2, projection radius of each noisy step; zhang: norm bound C
    /// of training.
    #[arg(long)]
    projection_radius: Option<f64>,
    /// koloskova-model-clip: σ0, noise on the clipped initial model (default 0).
    #[arg(long)]
    initial_sigma: Option<f64>,
    /// zhang: the approximation-error bound Δ ≥ ‖w̃ − w̃*‖ the noise is calibrated to (required).
    #[arg(long)]
    approximation_error: Option<f64>,
    /// zhang: hidden tanh units of the MLP (default 16).
    #[arg(long)]
    hidden: Option<usize>,
    /// zhang: local convex approximation γ added to the Hessian (default 0.01).
    #[arg(long)]
    damping: Option<f64>,
    /// zhang: LiSSA scale (default 10).
    #[arg(long)]
    lissa_scale: Option<f64>,
    /// zhang: LiSSA recursion depth (default 1000).
    #[arg(long)]
    lissa_steps: Option<usize>,
    /// zhang: LiSSA mini-batch size (default 64).
    #[arg(long)]
    lissa_batch: Option<usize>,
    /// zhang: number of sequential requests the forget set is split into (default 1).
    #[arg(long)]
    rounds: Option<usize>,
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
    let data_path = args.data.as_deref().context("--data is required")?;
    let table = unlearn_audit::io::read_labelled_csv(data_path, &args.label_column)?;
    let num_classes = table.num_classes.max(2);
    let data = Dataset::new(table.features, table.labels, num_classes)
        .with_context(|| format!("{}", data_path.display()))?;
    let forget = match (&args.forget, args.forget_count) {
        (Some(indices), None) => indices.clone(),
        (None, Some(count)) => {
            if count == 0 || count >= data.len() {
                bail!(
                    "--forget-count {count}: must lie in 1..{} (the data has {} rows)",
                    data.len(),
                    data.len()
                );
            }
            Split::choose_forget_indices(data.len(), count, args.seed)
        }
        _ => bail!("give exactly one of --forget I,J,.. or --forget-count N"),
    };
    let split = Split::new(&data, &forget)?;
    let model = match args.model.as_deref() {
        None => None,
        Some(text) => Some(
            ModelKind::parse(text)
                .with_context(|| format!("--model {text}: expected logistic or softmax"))?,
        ),
    };
    let options = MechanismOptions {
        model,
        lambda: args.lambda,
        sigma: args.sigma,
        epsilon: args.epsilon,
        delta: args.delta,
        steps: args.steps,
        learning_rate: args.learning_rate,
        alpha: args.alpha,
        model_clip: args.model_clip,
        gradient_clip: args.gradient_clip,
        projection_radius: args.projection_radius,
        initial_sigma: args.initial_sigma,
        approximation_error: args.approximation_error,
        hidden: args.hidden,
        damping: args.damping,
        lissa_scale: args.lissa_scale,
        lissa_steps: args.lissa_steps,
        lissa_batch: args.lissa_batch,
        rounds: args.rounds,
    };
    let mechanism = mechanisms::build(name, split, &options)?;
    let observer = ProgressBarObserver::new(name);
    // Finished runs are checkpointed under OUT/.checkpoint and reloaded on resume
    // (docs/sampling.md §1.1); the directory is removed once the outputs are written.
    let data_sha256 = unlearn_audit::report::sha256_file(data_path)
        .with_context(|| format!("{}", data_path.display()))?;
    let checkpoint = Checkpoint::open(
        &args.out.join(".checkpoint"),
        checkpoint_configuration(
            mechanism.as_ref(),
            args.seed,
            record,
            serde_json::json!({
                "data_sha256": data_sha256,
                "label_column": args.label_column,
                "forget_indices": forget,
            }),
        ),
    )?;
    let samples = run_trials_checkpointed(
        mechanism.as_ref(),
        args.trials,
        args.seed,
        record,
        &observer,
        Some(&checkpoint),
    )?;
    write_npy(&args.out.join("unlearned.npy"), &samples.unlearned)?;
    write_npy(&args.out.join("retrained.npy"), &samples.retrained)?;
    let certificate = mechanism.certificate();
    let manifest = serde_json::json!({
        "tool": env!("CARGO_PKG_NAME"),
        "version": env!("CARGO_PKG_VERSION"),
        "mechanism": name,
        "parameters": mechanism.parameters(),
        "certified_epsilon": certificate.epsilon,
        "certified_delta": certificate.delta,
        "certificate": certificate,
        "seed": args.seed,
        "trials": args.trials,
        "record": record,
        "record_dimension": samples.unlearned.ncols(),
        "record_description": record_description(record, mechanism.model().name()),
        "data": {
            "file": data_path.file_name().map(|n| n.to_string_lossy().into_owned()),
            "sha256": unlearn_audit::report::sha256_file(data_path)
                .with_context(|| format!("{}", data_path.display()))?,
            "rows": data.len(),
            "features": data.num_features(),
            "num_classes": data.num_classes,
            "label_column": args.label_column,
        },
        "forget_indices": forget,
        "files": { "unlearned": "unlearned.npy", "retrained": "retrained.npy" },
        "rng": "ChaCha8Rng::seed_from_u64(seed), set_stream(2 * run + side), side 0 = unlearned, 1 = retrained",
    });
    write_manifest(&args.out, &manifest)?;
    checkpoint.remove()?;
    Ok(0)
}

fn parse_record(text: &str) -> anyhow::Result<Record> {
    Record::parse(text).with_context(|| {
        format!("--record {text}: expected weights, forget-scores, forget-losses or statistic")
    })
}

fn record_description(record: Record, model: &str) -> &'static str {
    match record {
        Record::Weights if model == "mlp" => {
            "flattened MLP parameters: W1 [d, h], b1 [h], W2 [h, k], b2 [k], row-major \
             (docs/mechanisms.md §1.6)"
        }
        Record::Weights => "flattened parameters, [d, k] row-major (docs/mechanisms.md §1)",
        Record::ForgetScores => {
            "per forget example: logit-scaled confidence ln p_y − ln(1 − p_y), nats"
        }
        Record::ForgetLosses => "per forget example: loss −ln p_y, nats",
        Record::Statistic => "mean logit-scaled confidence over the forget set",
    }
}

fn run_command(args: &Args, command: &str) -> anyhow::Result<u8> {
    // What the user's command records, as declared (docs/sampling.md §3.2).
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
    let manifest = serde_json::json!({
        "tool": env!("CARGO_PKG_NAME"),
        "version": env!("CARGO_PKG_VERSION"),
        "mechanism": "external",
        "trial_command": command,
        "seed": args.seed,
        "trials": args.trials,
        "first_trial": args.first_trial,
        "files": { "unlearned": "unlearned/", "retrained": "retrained/" },
        "seed_rule": "{seed} = first u64 of ChaCha8Rng::seed_from_u64(seed) with set_stream(2 * run + side)",
        "runs_executed": summary.executed,
        "runs_skipped_existing": summary.skipped,
        "runs_replaced_invalid": summary.replaced_invalid,
        "record": record,
        "record_dimension": summary.dimension,
        "record_description": record.map(|r| match r {
            Record::Weights => "parameters as flattened by the trial command (declared with --record)",
            r => record_description(r, "external"),
        }),
        "stacked_files": summary.complete.then(|| serde_json::json!({
            "unlearned": "unlearned.npy", "retrained": "retrained.npy"
        })),
    });
    if summary.replaced_invalid > 0 {
        eprintln!(
            "note: {} existing run file(s) did not validate and were re-run",
            summary.replaced_invalid
        );
    }
    write_manifest(&args.out, &manifest)?;
    Ok(0)
}

fn write_npy(path: &Path, array: &ndarray::Array2<f64>) -> anyhow::Result<()> {
    let file = std::fs::File::create(path)
        .with_context(|| format!("could not create {}", path.display()))?;
    array
        .write_npy(std::io::BufWriter::new(file))
        .with_context(|| format!("could not write {}", path.display()))
}

fn write_manifest(dir: &Path, manifest: &serde_json::Value) -> anyhow::Result<()> {
    let path = dir.join("manifest.json");
    let text = unlearn_audit::report::to_json(manifest)?;
    std::fs::write(&path, text).with_context(|| format!("could not write {}", path.display()))
}
