//! TODO(helper): module doc that says why.

use super::Env;
use crate::manifest::blueprint::*;
use anyhow::{bail, Result};

pub fn hostname(_env: &Env, _h: &str) -> Result<()> {
    bail!("not implemented")
}
pub fn timezone(_env: &Env, _t: &Timezone) -> Result<()> {
    bail!("not implemented")
}
pub fn locale(_env: &Env, _l: &Locale) -> Result<()> {
    bail!("not implemented")
}
