//! `lock`: resolve every arch and output, write MANIFEST.lock.

use super::Ctx;
use crate::cli::LockArgs;
use anyhow::{bail, Result};

pub fn run(_ctx: Ctx, _a: &LockArgs) -> Result<()> {
    bail!("lock is not available yet")
}
