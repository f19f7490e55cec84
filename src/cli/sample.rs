//! `unlearn-audit sample` (being built in a parallel branch).

/// Arguments of `unlearn-audit sample`.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<u8> {
    anyhow::bail!("`sample` is not available in this build yet")
}
