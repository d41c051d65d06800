//! `cache`: where the cache is, and pruning it.

use super::Ctx;
use crate::cli::CacheCommand;
use anyhow::{bail, Result};

pub fn run(_ctx: Ctx, _c: &CacheCommand) -> Result<()> {
    bail!("cache commands are not available yet")
}
