//! A derived image's base: its packages are the installed set the
//! resolver adds to. The base is read from a registry, an OCI layout or
//! an OCI archive; this arch's image is unpacked into a scratch root so
//! libsolv can read its rpm database the way dnf reads @System.

use super::lockfile::LockedBase;
use crate::fetch::Cache;
use crate::plan::ArchPlan;
use anyhow::Result;

/// A base image unpacked far enough to read its rpm database.
pub struct Installed {
    pub locked: LockedBase,
    /// A root holding (at least) the base's rpm database.
    pub root: tempfile::TempDir,
}

/// Reads the base image `reference` for arch `a`.
pub fn installed(
    reference: &str,
    a: &ArchPlan,
    tls_verify: bool,
    cache: &Cache,
) -> Result<Installed> {
    let _ = (reference, a, tls_verify, cache);
    anyhow::bail!("deriving from a base image: being written")
}
