//! A derived image's base: its packages are the installed set the
//! resolver adds to. The base is read from a registry, an OCI layout or
//! an OCI archive; this arch's image is unpacked into a scratch root so
//! libsolv can read its rpm database the way dnf reads @System.

use super::lockfile::LockedBase;
use crate::fetch::Cache;
use crate::oci::unpack as oci;
use crate::oci::{reference, registry};
use crate::plan::ArchPlan;
use anyhow::{Context, Result};

/// A base image unpacked far enough to read its rpm database.
pub struct Installed {
    pub locked: LockedBase,
    /// The base image's root filesystem.
    pub root: crate::sys::workdir::WorkDir,
}

/// Reads the base image `image` (a `[base] image`: `docker://…`,
/// `oci:DIR:TAG`, `oci-archive:FILE`, or a bare `HOST/REPO:TAG`) for arch
/// `a` and pins this arch's manifest digest.
pub fn installed(image: &str, a: &ArchPlan, tls_verify: bool, cache: &Cache) -> Result<Installed> {
    let src = reference::parse(&canonical(image))?;
    let work = crate::sys::workdir::WorkDir::create(&cache.root, "base.")?;
    let layout = crate::oci::layout::Layout::create(&work.path().join("layout"))?;
    registry::pull(
        &src,
        layout.dir(),
        "base",
        &registry::Options {
            tls_verify,
            authfile: None,
        },
    )?;
    let top = layout.resolve("base")?;
    let arch = crate::distro::arch::lookup(&a.arch).context("planned arch vanished")?;
    let d = oci::select(&layout, &top, &oci::platform(arch))?;
    let root = crate::sys::workdir::WorkDir::create(&cache.root, "base-root.")?;
    oci::unpack(&layout, &d, root.path())?;
    crate::report::info(format!("base image {image} for {}: {}", a.arch, d.digest));
    Ok(Installed {
        locked: LockedBase {
            reference: canonical(image),
            digest: d.digest,
            packages: 0,
        },
        root,
    })
}

/// `[base] image` as a transport reference: a bare name is a registry's.
pub fn canonical(image: &str) -> String {
    if image.starts_with("docker://")
        || image.starts_with("oci:")
        || image.starts_with("oci-archive:")
    {
        image.to_string()
    } else {
        format!("docker://{image}")
    }
}
