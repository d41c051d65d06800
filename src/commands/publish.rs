//! `publish`: (being written; see issue 6).

use super::Ctx;
use crate::cli::PublishArgs;
use anyhow::Result;

pub fn run(_ctx: Ctx, _args: &PublishArgs) -> Result<()> {
    anyhow::bail!("`publish` is not implemented yet (issue 6)")
}
