//! `unlearn-audit certify` (being built in a parallel branch).

/// Arguments of `unlearn-audit certify`.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<u8> {
    anyhow::bail!("`certify` is not available in this build yet")
}
