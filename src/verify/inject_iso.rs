//! The guest report unit in a throwaway copy of a live ISO.
//!
//! A live medium's root is `LiveOS/squashfs.img`, read-only by design, so
//! the unit cannot be written in place as on a disk (`inject`): the image
//! is unpacked, the unit written into the tree with the same chroot-safe
//! `inject::write_unit`, the tree packed again, and a copy of the ISO made
//! with that file replaced by xorriso, which replays the original's El
//! Torito records, hybrid MBR/GPT and appended EFI partition
//! (`-boot_image any replay`). The artifact itself is only read; the
//! medium boots exactly as built apart from the one file.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// Where live media keep their root (lorax, livemedia-creator, ours).
pub const SQUASHFS: &str = "/LiveOS/squashfs.img";

/// The copy of `iso` with the report unit in its live root, under
/// `workdir`.
pub fn prepare(iso: &Path, workdir: &Path) -> Result<PathBuf> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("writing the report unit into a live ISO's root needs root (unsquashfs keeps the tree's owners)");
    }
    let img = workdir.join("squashfs.img");
    crate::tools::iso::extract(iso, SQUASHFS, &img)
        .context("the ISO has no LiveOS/squashfs.img: only live media take the report unit")?;
    let tree = workdir.join("live-root");
    crate::tools::iso::unsquashfs(&img, &tree)?;
    std::fs::remove_file(&img).with_context(|| format!("removing {}", img.display()))?;
    if !tree.join("etc/os-release").exists() && !tree.join("usr/lib/os-release").exists() {
        bail!("{SQUASHFS} holds no os-release: not a root filesystem (a rootfs.img inside it is not handled)");
    }
    super::inject::write_unit(&tree).context("writing the report unit")?;
    let packed = workdir.join("squashfs-injected.img");
    crate::tools::iso::mksquashfs(&tree, &packed, 0, 1)?;
    std::fs::remove_dir_all(&tree).with_context(|| format!("removing {}", tree.display()))?;
    let copy = workdir.join("injected.iso");
    crate::tools::iso::replace_file(iso, &copy, SQUASHFS, &packed)?;
    std::fs::remove_file(&packed).with_context(|| format!("removing {}", packed.display()))?;
    Ok(copy)
}
