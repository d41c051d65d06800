//! `lint`: (being written; see issue 6).

use super::Ctx;
use crate::cli::LintArgs;
use anyhow::Result;

pub fn run(_ctx: Ctx, _args: &LintArgs) -> Result<()> {
    anyhow::bail!("`lint` is not implemented yet (issue 6)")
}
