//! `unlearn-audit mia` (being built in a parallel branch).

/// Arguments of `unlearn-audit mia`.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<u8> {
    anyhow::bail!("`mia` is not available in this build yet")
}
