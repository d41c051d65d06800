//! TODO(helper): module doc that says why.

use super::Env;
use crate::manifest::blueprint::*;
use anyhow::{bail, Result};

pub fn apply(_env: &Env, _o: &OpenScap) -> Result<()> {
    bail!("not implemented")
}
