//! `sign`: (being written; see issue 6).

use super::Ctx;
use crate::cli::SignCommand;
use anyhow::Result;

pub fn run(_ctx: Ctx, _c: &SignCommand) -> Result<()> {
    anyhow::bail!("`sign` is not implemented yet (issue 6)")
}
