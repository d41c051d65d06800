//! `verify ARTIFACT`: boot it in QEMU and compare the guest's report with
//! expectations. TODO(helper).

use super::Ctx;
use crate::cli::VerifyArgs;
use anyhow::{bail, Result};

pub fn run(_ctx: Ctx, _args: &VerifyArgs) -> Result<()> {
    bail!("verify: not implemented yet")
}
