//! TODO(helper): module doc that says why.

use super::Env;
use crate::manifest::blueprint::*;
use anyhow::{bail, Result};

pub fn import_keys(_env: &Env, _r: &Rpm) -> Result<()> {
    bail!("not implemented")
}
