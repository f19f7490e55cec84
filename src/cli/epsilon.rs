//! `unlearn-audit epsilon` (being built in a parallel branch).

/// Arguments of `unlearn-audit epsilon`.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<u8> {
    anyhow::bail!("`epsilon` is not available in this build yet")
}
