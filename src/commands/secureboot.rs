//! `secureboot genkey DIR`. TODO(helper).

use super::Ctx;
use crate::cli::SecurebootCommand;
use anyhow::{bail, Result};

pub fn run(_ctx: Ctx, _c: &SecurebootCommand) -> Result<()> {
    bail!("secureboot: not implemented yet")
}
