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
//! host has (6.1; its protofile drops xattrs and times), so it needs a
//! loop mount; until that lands with the verify stage's mount guards, an
//! xfs root is refused with that explanation.

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
            crate::artifact::tar::write(src, &tar, epoch)?;
            let r = ext4(img, &tar, uuid, label, epoch);
            std::fs::remove_file(&tar)?;
            r
        }
        "xfs" => bail!(
            "an xfs {label} filesystem needs a loop mount to populate on this host (xfsprogs 6.1 \
             cannot copy a directory with its xattrs); use ext4 for now (`fs_type = \"ext4\"`)"
        ),
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
