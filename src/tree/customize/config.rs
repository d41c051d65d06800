//! TODO(helper): module doc that says why.

use super::Env;
use crate::manifest::blueprint::*;
use anyhow::{bail, Result};

pub fn repositories(_env: &Env, _r: &[RepositoryCustomization]) -> Result<()> {
    bail!("not implemented")
}
pub fn sshd(_env: &Env, _s: &Sshd) -> Result<()> {
    bail!("not implemented")
}
/// The full kernel command line (distro + boot + `[customizations.kernel] append` + fips=1),
/// as the plan computed it, without root=.
pub fn kernel_cmdline(_env: &Env, _args: &[String]) -> Result<()> {
    bail!("not implemented")
}
