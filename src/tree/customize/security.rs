//! TODO(helper): module doc that says why.

use super::Env;
use crate::manifest::blueprint::*;
use anyhow::{bail, Result};

pub fn fips(_env: &Env, _on: bool) -> Result<()> {
    bail!("not implemented")
}
pub fn cacerts(_env: &Env, _c: &CaCerts) -> Result<()> {
    bail!("not implemented")
}
