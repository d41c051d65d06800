//! Filesystem images populated from a directory.
//!
//! ext4: `mkfs.ext4 -d` copies a tree (contents, owners, modes, xattrs,
//! hard links) into a fresh image file with no mount. It is fed our
//! reproducible tar of the directory rather than the directory itself:
//! from a directory it copies each file's ctime, which no one can set, so
//! two builds would differ; from the tar every time is the clamped one.
//! The creation time comes from SOURCE_DATE_EPOCH (E2FSPROGS_FAKE_TIME),
//! the hash seed from the filesystem UUID. (Tar input needs e2fsprogs
//! 1.47.1; bookworm-backports has it.) Features newer kernels need only are turned
//! off so the distro kernels of EL8–10 mount it (orphan_file,
//! metadata_csum_seed).
//!
//! xfs: mkfs.xfs cannot populate from a directory in the xfsprogs this
//! host has (6.1; its protofile drops xattrs and times), so the fresh
//! filesystem is loop-mounted (RAII guards in `crate::sys`, released on
//! every path) and the same reproducible tar is unpacked into it with
//! xattrs. This needs root and a loop device, and XFS stamps inode change
//! times itself, so xfs images are not byte-reproducible (ext4 ones are).
//!
//! swap: `mkswap` on a sparse file of the partition's size with a seeded
//! UUID; it writes one header page, so the rest stays a hole.

use anyhow::{bail, Context, Result};
use std::path::Path;

/// Makes a `kind` filesystem of `size` bytes at `img` holding `src`.
pub fn make(
    kind: &str,
    img: &Path,
    size: u64,
    src: &Path,
    uuid: &str,
    label: &str,
    epoch: i64,
) -> Result<()> {
    let f = std::fs::File::create(img).with_context(|| format!("creating {}", img.display()))?;
    f.set_len(size)?;
    drop(f);
    match kind {
        "ext4" => {
            let tar = img.with_extension("tar");
            crate::tarball::write(src, &tar, epoch)?;
            let r = ext4(img, &tar, uuid, label, epoch);
            std::fs::remove_file(&tar)?;
            r
        }
        "xfs" => {
            let tar = img.with_extension("tar");
            crate::tarball::write(src, &tar, epoch)?;
            let r = xfs(img, &tar, uuid, label);
            std::fs::remove_file(&tar)?;
            r
        }
        other => bail!("filesystem type {other} is not supported for {label}"),
    }
}

fn ext4(img: &Path, src: &Path, uuid: &str, label: &str, epoch: i64) -> Result<()> {
    let args: Vec<String> = vec![
        "-q".into(),
        "-F".into(),
        "-t".into(),
        "ext4".into(),
        "-b".into(),
        "4096".into(),
        "-O".into(),
        "^orphan_file,^metadata_csum_seed".into(),
        "-U".into(),
        uuid.into(),
        "-E".into(),
        format!("hash_seed={uuid},root_owner=0:0"),
        "-L".into(),
        label.into(),
        "-d".into(),
        src.display().to_string(),
        img.display().to_string(),
    ];
    crate::tools::run_with_env(
        "mkfs.ext4",
        &args,
        &[("E2FSPROGS_FAKE_TIME", epoch.to_string())],
    )
    .with_context(|| format!("making the {label} filesystem"))?;
    Ok(())
}

fn xfs(img: &Path, tar: &Path, uuid: &str, label: &str) -> Result<()> {
    let img_s = img.display().to_string();
    crate::tools::run(
        "mkfs.xfs",
        &[
            "-q",
            "-f",
            "-m",
            &format!("uuid={uuid}"),
            "-L",
            label,
            &img_s,
        ],
    )
    .with_context(|| format!("making the {label} filesystem"))?;
    let mnt = img.with_extension("mnt");
    std::fs::create_dir_all(&mnt)?;
    let r = (|| -> Result<()> {
        let dev = crate::sys::loopdev::LoopDevice::attach(img)
            .context("xfs filesystems are populated through a loop device (needs root)")?;
        let m = crate::sys::mount::Mount::new(dev.path(), &mnt, "")?;
        crate::tools::run(
            "tar",
            &[
                "-x",
                "-p",
                "--numeric-owner",
                "--xattrs",
                "--xattrs-include=*",
                "-f",
                &tar.display().to_string(),
                "-C",
                &mnt.display().to_string(),
            ],
        )
        .with_context(|| format!("filling the {label} filesystem"))?;
        m.release()?;
        dev.release()?;
        Ok(())
    })();
    let _ = std::fs::remove_dir(&mnt);
    r
}

/// Makes a swap area of `size` bytes at `img` for a kernel with `page`-byte
/// pages (the signature sits at the end of the first page).
pub fn swap(img: &Path, size: u64, uuid: &str, label: &str, page: u64) -> Result<()> {
    let f = std::fs::File::create(img).with_context(|| format!("creating {}", img.display()))?;
    f.set_len(size)?;
    drop(f);
    crate::tools::run(
        "mkswap",
        &[
            "-U",
            uuid,
            "-L",
            label,
            "--pagesize",
            &page.to_string(),
            &img.display().to_string(),
        ],
    )
    .with_context(|| format!("making the {label} swap area"))?;
    Ok(())
}
