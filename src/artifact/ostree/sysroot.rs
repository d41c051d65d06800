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
//! Which `ostree` writes the sysroot (`tools::ostree::Tool`): the image's
//! own `/usr/bin/ostree` when it has one, chrooted into a tool root made
//! of hard links to the unpacked image's `/usr` (the links keep the
//! binaries alive while `commit --consume` moves the image's files into
//! the repository), as bootc-image-builder and coreos-assembler run the
//! target's tools, so the libostree that boots the machine is the one
//! that wrote it; otherwise the host's. Which one ran, with its version,
//! is in `Deployed::tool`.
//!
//! The repository holds the image in the shape bootc's container store
//! (ostree-rs-ext's `container::store`) reads, as far as one flattened
//! commit can: the commit is on the image ref
//! `ostree/container/image/ESCAPED` (the image reference as ostree-ext
//! names it, `registry:HOST/NAME:TAG` or `oci-archive:PATH`, escaped as
//! its `refescape` does: `_` → `__`, other non-alphanumerics but `-` and
//! inner `/` → `_XX_`), and carries the merge commit's metadata
//! `ostree.manifest-digest`, `ostree.manifest` (the manifest JSON) and
//! `ostree.container.image-config` (the config JSON), plus
//! `image-builder.image` (the origin). That is what `bootc status` reads
//! for the booted deployment (`query_image_commit`: digest, version and
//! architecture from the manifest and config). What it lacks: the
//! per-layer refs `ostree/container/blob/sha256_3A_…` with one commit per
//! layer (libostree 2022.7's CLI cannot write ostree-ext's layer commits,
//! and the image is committed flattened). So `bootc upgrade` and `bootc
//! switch` work (the `.origin` names the image; bootc pulls it), but the
//! first upgrade fetches every layer once instead of only the changed
//! ones, and `ostree container image list` shows the image without layers.
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
    /// Scratch space for the origin file and the tool root.
    pub work: &'a Path,
    /// The image's manifest and config as JSON (the image ref's commit
    /// metadata).
    pub manifest_json: &'a str,
    pub config_json: &'a str,
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
    /// Which ostree wrote the sysroot ("the image's ostree 2022.7
    /// (chrooted)").
    pub tool: String,
    /// The image ref the commit is on.
    pub image_ref: String,
}

/// The ref prefix of ostree-ext's image refs.
pub const IMAGE_PREFIX: &str = "ostree/container/image";

/// ostree-ext's name of the image an origin's `container-image-reference`
/// points at (its `ImageReference`, without the signature policy):
/// `ostree-unverified-registry:N` → `registry:N`, the transport of
/// `ostree-unverified-image:T:N` (and `ostree-image-signed:`,
/// `ostree-remote-image:REMOTE:`) kept, `docker://N` → `registry:N`.
pub fn image_reference(origin: &str) -> String {
    let rest = if let Some(r) = origin.strip_prefix("ostree-unverified-registry:") {
        return format!("registry:{r}");
    } else if let Some(r) = origin
        .strip_prefix("ostree-unverified-image:")
        .or_else(|| origin.strip_prefix("ostree-image-signed:"))
    {
        r
    } else if let Some(r) = origin.strip_prefix("ostree-remote-image:") {
        r.split_once(':').map(|(_, r)| r).unwrap_or(r)
    } else {
        origin
    };
    match rest.strip_prefix("docker://") {
        Some(n) => format!("registry:{n}"),
        None => rest.to_string(),
    }
}

/// `s` escaped for an ostree ref as ostree-ext's `refescape` does.
pub fn escape_for_ref(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::new();
    let mut prev_alnum = false;
    for (i, &c) in chars.iter().enumerate() {
        let alnum = c.is_ascii_alphanumeric();
        match c {
            _ if alnum => out.push(c),
            '/' if prev_alnum && i + 1 < chars.len() => out.push('/'),
            '-' => out.push('-'),
            '_' => out.push_str("__"),
            o => out.push_str(&format!("_{:02X}_", o as u32)),
        }
        prev_alnum = alnum;
    }
    out
}

/// The image ref for an origin.
pub fn image_ref(origin: &str) -> String {
    format!(
        "{IMAGE_PREFIX}/{}",
        escape_for_ref(&image_reference(origin))
    )
}

/// The deepest directory holding every path (all absolute).
fn common_dir(paths: &[&Path]) -> PathBuf {
    let mut out = paths[0].to_path_buf();
    for p in &paths[1..] {
        while !p.starts_with(&out) {
            if !out.pop() {
                break;
            }
        }
    }
    out
}

/// The ostree to run: the image's own, chrooted (its `/usr` linked into a
/// tool root under `work`), when the converted image root has one.
fn choose_tool(r: &Request) -> Result<cli::Tool> {
    if !r.image_root.join("usr/bin/ostree").is_file() {
        return Ok(cli::Tool::Host);
    }
    let abs = |p: &Path| std::path::absolute(p).with_context(|| format!("{}", p.display()));
    let (image, sysroot, work) = (abs(r.image_root)?, abs(r.sysroot)?, abs(r.work)?);
    let root = work.join("ostree-tool");
    link_tool_root(&image, &root)?;
    Ok(cli::Tool::Image {
        root,
        work: common_dir(&[&image, &sysroot, &work]),
    })
}

/// A root for running the image's tools: `/usr` as hard links to the
/// image's files (directories made anew), the image's top-level links
/// (`bin`, `lib64`, …), `/etc` as a link to `/usr/etc` (the converted
/// image's), and empty mount points.
fn link_tool_root(image: &Path, root: &Path) -> Result<()> {
    std::fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
    for d in ["proc", "sys", "dev", "run", "tmp", "var/tmp"] {
        std::fs::create_dir_all(root.join(d))?;
    }
    for e in std::fs::read_dir(image).with_context(|| format!("reading {}", image.display()))? {
        let e = e?;
        if e.file_type()?.is_symlink() {
            let t = std::fs::read_link(e.path())?;
            std::os::unix::fs::symlink(&t, root.join(e.file_name()))?;
        }
    }
    std::os::unix::fs::symlink("usr/etc", root.join("etc"))?;
    link_dir(&image.join("usr"), &root.join("usr"))
}

fn link_dir(from: &Path, to: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let m = std::fs::symlink_metadata(from)?;
    std::fs::create_dir(to).with_context(|| format!("creating {}", to.display()))?;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(m.permissions().mode()))?;
    for e in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let e = e?;
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let ft = e.file_type()?;
        if ft.is_dir() {
            link_dir(&src, &dst)?;
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src)?, &dst)?;
        } else {
            std::fs::hard_link(&src, &dst)
                .with_context(|| format!("linking {} to {}", src.display(), dst.display()))?;
        }
    }
    Ok(())
}

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
    let tool = choose_tool(r)?;
    let tool_note = tool.describe(&tool.version()?);
    cli::init_fs(&tool, r.sysroot)?;
    cli::os_init(&tool, r.sysroot, r.stateroot)?;
    let repo = r.sysroot.join("ostree/repo");
    // The BLS entry only: the disk's GRUB reads it (bootupd's model).
    cli::config_set(&tool, &repo, "sysroot.bootloader", "none")?;
    for (what, text) in [("manifest", r.manifest_json), ("config", r.config_json)] {
        // One argument each: stay under the kernel's 128 KiB per argument.
        if text.len() > 120 * 1024 {
            bail!(
                "the image's {what} is {} bytes, more than the 120 KiB the commit metadata takes here",
                text.len()
            );
        }
    }
    let meta = [
        ("ostree.manifest-digest", r.digest.to_string()),
        ("ostree.manifest", r.manifest_json.to_string()),
        ("ostree.container.image-config", r.config_json.to_string()),
        ("image-builder.image", r.origin.to_string()),
    ];
    let image_ref = image_ref(r.origin);
    let commit = cli::commit(
        &tool,
        &cli::Commit {
            repo: &repo,
            branch: &image_ref,
            tree: r.image_root,
            timestamp: r.source_date_epoch,
            subject: &format!("{} {}", r.origin, r.digest),
            metadata: &meta,
        },
    )?;
    let origin_file = r.work.join("deploy.origin");
    std::fs::write(&origin_file, origin_text(r.origin))
        .with_context(|| format!("writing {}", origin_file.display()))?;
    cli::deploy(
        &tool,
        &cli::Deploy {
            sysroot: r.sysroot,
            stateroot: r.stateroot,
            origin_file: &origin_file,
            kargs: r.kargs,
            rev: &commit,
        },
    )?;
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
        tool: tool_note,
        image_ref,
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
    fn image_refs_are_escaped_as_ostree_ext_does() {
        assert_eq!(
            image_reference("ostree-unverified-registry:quay.io/a/b:1"),
            "registry:quay.io/a/b:1"
        );
        assert_eq!(
            image_reference("ostree-unverified-image:oci-archive:/x/y.tar"),
            "oci-archive:/x/y.tar"
        );
        assert_eq!(
            image_reference("ostree-unverified-image:docker://quay.io/a:b"),
            "registry:quay.io/a:b"
        );
        assert_eq!(
            image_reference("ostree-remote-image:fedora:registry:quay.io/a"),
            "registry:quay.io/a"
        );
        // ostree-ext's own examples.
        assert_eq!(
            escape_for_ref("registry:quay.io/coreos/fedora:latest"),
            "registry_3A_quay_2E_io/coreos/fedora_3A_latest"
        );
        assert_eq!(
            escape_for_ref("localhost:5000/foo:latest"),
            "localhost_3A_5000/foo_3A_latest"
        );
        assert_eq!(
            escape_for_ref("foo/bar/baz-blah/foo"),
            "foo/bar/baz-blah/foo"
        );
        assert_eq!(escape_for_ref("/foo/"), "_2F_foo_2F_");
        assert_eq!(escape_for_ref("a_b//c"), "a__b/_2F_c");
        assert_eq!(
            image_ref("ostree-unverified-registry:127.0.0.1:5000/f/b:latest"),
            "ostree/container/image/registry_3A_127_2E_0_2E_0_2E_1_3A_5000/f/b_3A_latest"
        );
        assert_eq!(
            common_dir(&[Path::new("/w/a/b"), Path::new("/w/c"), Path::new("/w/a")]),
            Path::new("/w")
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
            tool: String::new(),
            image_ref: String::new(),
        };
        std::fs::create_dir_all(dep.dir.join("var/home/tester")).unwrap();
        std::fs::write(dep.dir.join("var/home/tester/.profile"), "x").unwrap();
        std::fs::create_dir_all(dep.var.join("home")).unwrap();
        move_var(&dep).unwrap();
        assert!(dep.var.join("home/tester/.profile").is_file());
        assert_eq!(std::fs::read_dir(dep.dir.join("var")).unwrap().count(), 0);
    }
}
