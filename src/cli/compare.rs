//! `unlearn-audit compare`: distances between original, unlearned and retrained bundles.
//! The analysis is `unlearn_audit::metrics::compare::compare_bundles`; this file only parses
//! arguments.

use std::path::PathBuf;

use unlearn_audit::metrics::OutputKind;
use unlearn_audit::metrics::compare::{CompareOptions, compare_bundles};

/// What `outputs.npz` holds.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum OutputsAre {
    /// Unnormalised scores; softmax is applied.
    Logits,
    /// Rows are probability vectors (validated: non-negative, summing to one).
    Probabilities,
}

/// Arguments of `unlearn-audit compare`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Bundle directory of the original model (weights.safetensors / outputs.npz / activations.npz).
    #[arg(long, value_name = "DIR")]
    original: PathBuf,
    /// Bundle directory of the unlearned model.
    #[arg(long, value_name = "DIR")]
    unlearned: PathBuf,
    /// Bundle directory of the model retrained without the forget set (the reference).
    #[arg(long, value_name = "DIR")]
    retrained: PathBuf,
    /// Bundle directory of a second model retrained without the forget set, independently of
    /// --retrained (another seed): d(r, r′) is the noise floor every distance is judged
    /// against. Without it no distance check can pass (docs/verdicts.md).
    #[arg(long, value_name = "DIR", visible_alias = "retrained-2")]
    retrained_again: Option<PathBuf>,
    /// labels.npz: one integer array per output split (enables accuracy).
    #[arg(long, value_name = "FILE")]
    labels: Option<PathBuf>,
    /// Whether outputs.npz holds logits or probabilities.
    #[arg(long, value_enum, default_value = "logits")]
    outputs_are: OutputsAre,
    /// Record the SHA-256 of every input file (reads every file once more).
    #[arg(long)]
    sha256: bool,
    /// Print the JSON report on stdout instead of tables.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let mut options = CompareOptions::new(&args.original, &args.unlearned, &args.retrained);
    options.labels = args.labels;
    options.sha256 = args.sha256;
    options.retrained_again = args.retrained_again;
    options.output_kind = match args.outputs_are {
        OutputsAre::Logits => OutputKind::Logits,
        OutputsAre::Probabilities => OutputKind::Probabilities,
    };
    let comparison = compare_bundles(&options)?;
    super::emit(&comparison, args.json)
}
