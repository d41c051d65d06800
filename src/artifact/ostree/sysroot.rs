//! An OSTree sysroot holding one deployment of a bootc image: what
//! `bootc install to-filesystem` leaves on a disk's root filesystem.
//!
//! The unpacked image is converted as an OSTree commit is
//! (`rootfs::convert`: `/etc` → `/usr/etc`, `/var` as tmpfiles.d), then
//! committed into the sysroot's own `bare` repository, and `ostree admin
//! deploy` checks it out under `/ostree/deploy/STATEROOT/deploy/CSUM.0`,
//! merges `/usr/etc` into the deployment's `/etc`, copies the kernel and
//! initramfs from `/usr/lib/modules/KVER` to `/boot/ostree/…` and writes
//! the BLS entry with `ostree=` (`sysroot.bootloader = none`: the entry
//! only, no bootloader configuration; bootupd's files and our grub.cfg do
//! the rest).
//!
//! A flattened commit, not bootc's container-image form (one ref per
//! layer and the manifest in the commit metadata): libostree 2022.7 has no
//! container support. What that costs on the booted machine, and why
//! `bootc upgrade` still works: the `.origin` names the image, so bootc
//! pulls it anew (all layers once, no layer-level dedup against this
//! commit), and `bootc status` shows no image metadata for the first
//! deployment. The commit records the image reference and manifest digest
//! as `ostree.manifest-digest` and `image-builder.image` metadata.
//!
//! Deterministic: the commit time is SOURCE_DATE_EPOCH and the tree is
//! the image's, so the same image gives the same commit and deployment
//! checksums.

use crate::tools::ostree as cli;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// What to deploy and how.
pub struct Request<'a> {
    /// The sysroot directory (becomes the root filesystem); created.
    pub sysroot: &'a Path,
    /// The image's unpacked root; converted in place and committed.
    pub image_root: &'a Path,
    pub stateroot: &'a str,
    /// The `.origin`'s `container-image-reference`.
    pub origin: &'a str,
    /// The image's manifest digest (`sha256:…`).
    pub digest: &'a str,
    /// Kernel arguments of the deployment's BLS entry (ostree adds
    /// `ostree=`).
    pub kargs: &'a [String],
    pub source_date_epoch: i64,
    /// Scratch space for the origin file.
    pub work: &'a Path,
}

/// The deployment made.
#[derive(Debug, Clone)]
pub struct Deployed {
    pub commit: String,
    /// `/ostree/deploy/STATEROOT/deploy/CSUM.0`, on the host.
    pub dir: PathBuf,
    /// The deployment's path inside the sysroot.
    pub rel: String,
    /// The stateroot's `/var` on the host.
    pub var: PathBuf,
    pub kver: String,
}

/// The ref the commit is kept under in the sysroot's repository.
pub const REF: &str = "image-builder/deployed";

/// Commits and deploys; see the module doc.
pub fn deploy(r: &Request) -> Result<Deployed> {
    let kver = match crate::tree::boot::kernels(r.image_root)?.as_slice() {
        [(k, _)] => k.clone(),
        [] => bail!(
            "the image has no kernel at /usr/lib/modules/KVER/vmlinuz: it is not a bootc image"
        ),
        many => bail!(
            "the image has {} kernels in /usr/lib/modules; a bootc image carries one",
            many.len()
        ),
    };
    if !r
        .image_root
        .join(format!("usr/lib/modules/{kver}/initramfs.img"))
        .is_file()
    {
        bail!("the image has no /usr/lib/modules/{kver}/initramfs.img: a bootc image carries its initramfs beside the kernel");
    }
    super::rootfs::convert(r.image_root).context("converting the image for OSTree")?;
    std::fs::create_dir_all(r.sysroot)
        .with_context(|| format!("creating {}", r.sysroot.display()))?;
    cli::init_fs(r.sysroot)?;
    cli::os_init(r.sysroot, r.stateroot)?;
    let repo = r.sysroot.join("ostree/repo");
    // The BLS entry only: the disk's GRUB reads it (bootupd's model).
    cli::config_set(&repo, "sysroot.bootloader", "none")?;
    let meta = [
        ("ostree.manifest-digest", r.digest.to_string()),
        ("image-builder.image", r.origin.to_string()),
    ];
    let commit = cli::commit(&cli::Commit {
        repo: &repo,
        branch: REF,
        tree: r.image_root,
        timestamp: r.source_date_epoch,
        subject: &format!("{} {}", r.origin, r.digest),
        metadata: &meta,
    })?;
    let origin_file = r.work.join("deploy.origin");
    std::fs::write(&origin_file, origin_text(r.origin))
        .with_context(|| format!("writing {}", origin_file.display()))?;
    cli::deploy(&cli::Deploy {
        sysroot: r.sysroot,
        stateroot: r.stateroot,
        origin_file: &origin_file,
        kargs: r.kargs,
        rev: &commit,
    })?;
    let rel = format!("ostree/deploy/{}/deploy/{commit}.0", r.stateroot);
    let dir = r.sysroot.join(&rel);
    if !dir.is_dir() {
        bail!("ostree admin deploy left no {rel}");
    }
    // ostree marks the deployment root immutable; the staged copy must
    // stay removable with its work directory (`sys::attr`).
    crate::sys::attr::clear_immutable(&dir)?;
    // Scratch state of the repository, not part of what was installed.
    for d in ["tmp/cache", "tmp"] {
        let p = repo.join(d);
        if p.is_dir() {
            for e in std::fs::read_dir(&p)? {
                let e = e?.path();
                if e.is_dir() {
                    std::fs::remove_dir_all(&e)
                } else {
                    std::fs::remove_file(&e)
                }
                .with_context(|| format!("removing {}", e.display()))?;
            }
        }
    }
    let _ = std::fs::remove_file(repo.join(".lock"));
    Ok(Deployed {
        commit,
        dir,
        rel,
        var: r.sysroot.join(format!("ostree/deploy/{}/var", r.stateroot)),
        kver,
    })
}

/// The `.origin` bootc writes for a container image.
pub fn origin_text(reference: &str) -> String {
    format!("[origin]\ncontainer-image-reference={reference}\n")
}

/// Moves what was written into the deployment's `/var` (a customization
/// creating a home directory under `/var/home`) into the stateroot's
/// `/var`, which is what is mounted there at boot; the deployment's own
/// `/var` is left empty, as ostree checks it out.
pub fn move_var(deployed: &Deployed) -> Result<()> {
    let from = deployed.dir.join("var");
    if !from.is_dir() {
        return Ok(());
    }
    merge_into(&from, &deployed.var)
}

fn merge_into(from: &Path, to: &Path) -> Result<()> {
    let mut names: Vec<_> = std::fs::read_dir(from)
        .with_context(|| format!("reading {}", from.display()))?
        .collect::<std::io::Result<Vec<_>>>()?;
    names.sort_by_key(|e| e.file_name());
    for e in names {
        let src = e.path();
        let dst = to.join(e.file_name());
        let is_dir = e.file_type()?.is_dir();
        match std::fs::symlink_metadata(&dst) {
            Ok(m) if m.is_dir() && is_dir => {
                merge_into(&src, &dst)?;
                std::fs::remove_dir(&src).with_context(|| format!("removing {}", src.display()))?;
            }
            Ok(_) => bail!(
                "{} exists in the deployment's /var and in the stateroot's",
                dst.display()
            ),
            Err(_) => {
                std::fs::create_dir_all(to)?;
                std::fs::rename(&src, &dst)
                    .with_context(|| format!("moving {} to {}", src.display(), dst.display()))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_is_bootcs() {
        assert_eq!(
            origin_text("ostree-unverified-registry:quay.io/a/b:1"),
            "[origin]\ncontainer-image-reference=ostree-unverified-registry:quay.io/a/b:1\n"
        );
    }

    #[test]
    fn var_merges_into_the_stateroot() {
        let d = tempfile::tempdir().unwrap();
        let dep = Deployed {
            commit: String::new(),
            dir: d.path().join("dep"),
            rel: String::new(),
            var: d.path().join("var"),
            kver: String::new(),
        };
        std::fs::create_dir_all(dep.dir.join("var/home/tester")).unwrap();
        std::fs::write(dep.dir.join("var/home/tester/.profile"), "x").unwrap();
        std::fs::create_dir_all(dep.var.join("home")).unwrap();
        move_var(&dep).unwrap();
        assert!(dep.var.join("home/tester/.profile").is_file());
        assert_eq!(std::fs::read_dir(dep.dir.join("var")).unwrap().count(), 0);
    }
}
