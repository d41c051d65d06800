//! TODO(helper): SELinux labelling with the tree's own file_contexts.

use anyhow::Result;
use std::path::Path;

/// Labels every file under `root` when the tree carries a policy
/// (/etc/selinux/config names a SELINUXTYPE whose file_contexts exist);
/// returns whether it labelled.
pub fn label(_root: &Path) -> Result<bool> {
    Ok(false)
}
