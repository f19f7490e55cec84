//! `unlearn-audit compare` (being built in a parallel branch).

/// Arguments of `unlearn-audit compare`.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<u8> {
    anyhow::bail!("`compare` is not available in this build yet")
}
