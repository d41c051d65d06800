//! TODO(helper): module doc that says why.

use super::Env;
use crate::manifest::blueprint::*;
use anyhow::{bail, Result};

pub fn directories(_env: &Env, _d: &[Directory]) -> Result<()> {
    bail!("not implemented")
}
pub fn files(_env: &Env, _f: &[File]) -> Result<()> {
    bail!("not implemented")
}
