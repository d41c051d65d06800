//! TODO(helper): module doc that says why.

use super::Env;
use crate::manifest::blueprint::*;
use anyhow::{bail, Result};

pub fn apply(_env: &Env, _f: &Firstboot) -> Result<()> {
    bail!("not implemented")
}
