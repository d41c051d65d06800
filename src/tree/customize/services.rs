//! TODO(helper): module doc that says why.

use super::Env;
use crate::manifest::blueprint::*;
use anyhow::{bail, Result};

pub fn apply(_env: &Env, _s: &Services) -> Result<()> {
    bail!("not implemented")
}
/// `systemctl preset-all`, natively: enable/disable every unit as the tree's preset files say.
pub fn preset_all(_root: &std::path::Path) -> Result<()> {
    bail!("not implemented")
}
