//! A finished tree → the bootc layout (see the module doc of `bootc`).
//!
//! Runs after the tree is made (packages, customizations, SELinux labels)
//! and before the OCI image is written. Idempotent: a prepared tree
//! prepared again is left as it was (an initramfs already beside the
//! kernel is kept). Every path it creates or changes, and each directory
//! whose entries it changes, gets SOURCE_DATE_EPOCH as its mtime, so the
//! layout adds nothing time-dependent to the image.

use super::rules::{entries, is_dir, lstat, usr_kernels, API_DIRS};
use super::{composefs, kargs, Options, Prepared};
use crate::error::InputError;
use anyhow::{bail, Context, Result};
use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Paths whose mtime becomes SOURCE_DATE_EPOCH at the end.
struct Touched {
    root: PathBuf,
    paths: BTreeSet<PathBuf>,
}

impl Touched {
    /// `rel` was created or changed: it and its parent directory.
    fn add(&mut self, rel: &str) {
        let p = self.root.join(rel);
        if let Some(parent) = p.parent() {
            if parent.starts_with(&self.root) {
                self.paths.insert(parent.to_path_buf());
            }
        }
        self.paths.insert(p);
    }

    fn apply(&self, t: i64) -> Result<()> {
        for p in &self.paths {
            if std::fs::symlink_metadata(p).is_ok() {
                crate::tarball::set_time(p, t)?;
            }
        }
        Ok(())
    }
}

/// Creates directory `rel` (and missing parents), each recorded.
fn mkdir(root: &Path, rel: &str, touched: &mut Touched) -> Result<()> {
    let mut cur = String::new();
    for part in rel.split('/').filter(|s| !s.is_empty()) {
        if !cur.is_empty() {
            cur.push('/');
        }
        cur.push_str(part);
        match lstat(root, &cur)? {
            Some(m) if m.is_dir() => {}
            Some(_) => bail!("/{cur} is in the way of the bootc layout: it is not a directory"),
            None => {
                std::fs::create_dir(root.join(&cur)).with_context(|| format!("creating /{cur}"))?;
                touched.add(&cur);
            }
        }
    }
    Ok(())
}

/// Writes `rel` when its content differs.
fn write(root: &Path, rel: &str, text: &str, touched: &mut Touched) -> Result<()> {
    let p = root.join(rel);
    if std::fs::read(&p).ok().as_deref() == Some(text.as_bytes()) {
        return Ok(());
    }
    if let Some(parent) = Path::new(rel).parent().and_then(|p| p.to_str()) {
        mkdir(root, parent, touched)?;
    }
    std::fs::write(&p, text).with_context(|| format!("writing /{rel}"))?;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644))?;
    touched.add(rel);
    Ok(())
}

/// Makes `rel` a symlink to `target`, replacing whatever is there.
fn symlink(root: &Path, rel: &str, target: &str, touched: &mut Touched) -> Result<()> {
    let p = root.join(rel);
    match lstat(root, rel)? {
        Some(m) if m.is_symlink() && std::fs::read_link(&p)? == Path::new(target) => return Ok(()),
        Some(m) if m.is_dir() => {
            std::fs::remove_dir_all(&p).with_context(|| format!("removing /{rel}"))?
        }
        Some(_) => std::fs::remove_file(&p).with_context(|| format!("removing /{rel}"))?,
        None => {}
    }
    std::os::unix::fs::symlink(target, &p)
        .with_context(|| format!("linking /{rel} -> {target}"))?;
    touched.add(rel);
    Ok(())
}

/// Kernel module directories of a tree whose /lib is a real directory
/// (no merged /usr) move to /usr/lib/modules, where bootc looks, and
/// /lib/modules becomes a link there for the tree's own tools.
fn modules_under_usr(root: &Path, touched: &mut Touched) -> Result<()> {
    if !is_dir(root, "lib")? || !is_dir(root, "lib/modules")? {
        return Ok(());
    }
    mkdir(root, "usr/lib/modules", touched)?;
    for e in entries(&root.join("lib/modules"))? {
        let name = e.file_name().to_string_lossy().into_owned();
        let dest = format!("usr/lib/modules/{name}");
        if lstat(root, &dest)?.is_some() {
            bail!("both /lib/modules/{name} and /{dest} exist: the tree has two copies of one kernel's modules");
        }
        std::fs::rename(e.path(), root.join(&dest))
            .with_context(|| format!("moving /lib/modules/{name} to /{dest}"))?;
        touched.add(&dest);
    }
    std::fs::remove_dir(root.join("lib/modules")).context("removing /lib/modules")?;
    symlink(root, "lib/modules", "../usr/lib/modules", touched)
}

/// The one kernel of the tree. None or several is the manifest's package
/// list at fault, so an `InputError` (exit 2) naming them.
fn the_kernel(root: &Path, o: &Options) -> Result<String> {
    let found = crate::tree::boot::kernels(root)?;
    match found.as_slice() {
        [] => {
            let pkg = o
                .distro
                .boot
                .get(o.arch.name)
                .map(|b| b.kernel.as_str())
                .unwrap_or("kernel");
            Err(InputError(format!(
                "the tree has no kernel (/usr/lib/modules/KVER/vmlinuz): a bootc image carries its kernel, add the {pkg} package"
            ))
            .into())
        }
        [(k, _)] => Ok(k.clone()),
        many => Err(InputError(format!(
            "the tree has {} kernels ({}): a bootc image carries exactly one, install one kernel package",
            many.len(),
            many.iter()
                .map(|(_, p)| format!("/{}", p.strip_prefix(root).unwrap_or(p).display()))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .into()),
    }
}

/// The module dependency files module autoloading needs; made in the
/// tree (chrooted) when the kernel package left none.
fn depmod(root: &Path, kver: &str, touched: &mut Touched) -> Result<()> {
    let moddir = format!("usr/lib/modules/{kver}");
    if lstat(root, &format!("{moddir}/modules.dep"))?.is_some() {
        return Ok(());
    }
    let before: BTreeSet<_> = entries(&root.join(&moddir))?
        .iter()
        .map(|e| e.file_name())
        .collect();
    crate::tree::boot::depmod(root, kver)?;
    for e in entries(&root.join(&moddir))? {
        if !before.contains(&e.file_name()) {
            touched.add(&format!("{moddir}/{}", e.file_name().to_string_lossy()));
        }
    }
    Ok(())
}

/// The initramfs beside the kernel, made by the tree's dracut (chrooted,
/// not host-only: the image boots on machines it has never seen).
fn initramfs(root: &Path, kver: &str, sde: i64, touched: &mut Touched) -> Result<()> {
    let rel = format!("usr/lib/modules/{kver}/initramfs.img");
    if lstat(root, &rel)?.is_some_and(|m| m.is_file() && m.len() > 0) {
        return Ok(());
    }
    crate::tree::boot::dracut(
        root,
        &format!("/{rel}"),
        kver,
        &["--reproducible"],
        // Its scratch space in /tmp (emptied here), not in the image's /var.
        &[
            ("SOURCE_DATE_EPOCH", sde.to_string()),
            ("TMPDIR", "/tmp".to_string()),
        ],
    )?;
    if !lstat(root, &rel)?.is_some_and(|m| m.is_file()) {
        bail!("dracut succeeded but wrote no /{rel}");
    }
    touched.add(&rel);
    Ok(())
}

/// Empties directory `rel` (kept, with its mode); returns what was removed.
fn empty_dir(root: &Path, rel: &str, touched: &mut Touched) -> Result<Vec<String>> {
    let mut removed = Vec::new();
    for e in entries(&root.join(rel))? {
        let p = e.path();
        if e.file_type()?.is_dir() {
            std::fs::remove_dir_all(&p)
        } else {
            std::fs::remove_file(&p)
        }
        .with_context(|| format!("removing {}", super::image_path(root, &p)))?;
        removed.push(super::image_path(root, &p));
    }
    if !removed.is_empty() {
        touched.add(rel);
    }
    Ok(removed)
}

/// Moves /boot/efi/EFI (what shim and GRUB packages install) to
/// /usr/lib/bootupd/updates/EFI, unless the tree has that already.
fn efi_to_bootupd(root: &Path, touched: &mut Touched) -> Result<()> {
    let from = root.join("boot/efi/EFI");
    let to_rel = "usr/lib/bootupd/updates/EFI";
    let to = root.join(to_rel);
    let is_dir = |p: &Path| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_dir());
    if !is_dir(&from) || std::fs::symlink_metadata(&to).is_ok() {
        return Ok(());
    }
    mkdir(root, "usr/lib/bootupd/updates", touched)?;
    std::fs::rename(&from, &to).with_context(|| format!("moving /boot/efi/EFI to /{to_rel}"))?;
    touched.add(to_rel);
    touched.add("boot/efi");
    Ok(())
}

/// The mode of each directory bootc expects at the root.
fn dir_mode(d: &str) -> u32 {
    match d {
        "proc" | "sys" => 0o555,
        "tmp" => 0o1777,
        _ => 0o755,
    }
}

/// Finished tree → bootc layout (see the module doc).
pub fn prepare(root: &Path, o: &Options) -> Result<Prepared> {
    let sde = o.source_date_epoch;
    let mut touched = Touched {
        root: root.to_path_buf(),
        paths: BTreeSet::new(),
    };
    let t = &mut touched;
    let kver = the_kernel(root, o)?;
    modules_under_usr(root, t)?;
    if usr_kernels(root)? != [kver.clone()] {
        bail!("the kernel {kver} is not at /usr/lib/modules/{kver}/vmlinuz after moving the modules under /usr");
    }

    // The API mount points, /var and /sysroot, with the modes the
    // filesystem package gives them.
    for d in API_DIRS.iter().chain(&["sysroot", "boot"]) {
        mkdir(root, d, t)?;
        let p = root.join(d);
        let mode = dir_mode(d);
        if std::fs::symlink_metadata(&p)?.permissions().mode() & 0o7777 != mode {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode))
                .with_context(|| format!("setting the mode of /{d}"))?;
        }
    }

    depmod(root, &kver, t)?;
    initramfs(root, &kver, sde, t)?;
    // Whatever dracut or a scriptlet left in /tmp is build debris.
    empty_dir(root, "tmp", t)?;

    // The vendor's EFI binaries (shim, GRUB) go where bootupd installs
    // and updates them from, as `bootupctl backend generate-update-metadata`
    // leaves them: /usr/lib/bootupd/updates/EFI.
    efi_to_bootupd(root, t)?;
    // Kernel packages' scriptlets copy the kernel and an initramfs into
    // /boot; in a bootc image /boot is the deployed system's.
    let removed = empty_dir(root, "boot", t)?;
    if !removed.is_empty() {
        crate::report::verbose(format!("bootc: emptied /boot ({})", super::list(&removed)));
    }

    symlink(root, "ostree", "sysroot/ostree", t)?;
    symlink(root, "var/run", "../run", t)?;

    let existing = match std::fs::read(root.join(composefs::CONF)) {
        Ok(b) => Some(
            String::from_utf8(b)
                .with_context(|| format!("/{} is not UTF-8 text", composefs::CONF))?,
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("reading /{}", composefs::CONF)),
    };
    write(
        root,
        composefs::CONF,
        &if o.distro.composefs {
            composefs::merge(existing.as_deref())
        } else {
            composefs::set_enabled(existing.as_deref(), "false")
        },
        t,
    )?;

    if !o.kargs.is_empty() {
        write(
            root,
            &format!("{}/{}", kargs::DIR, kargs::OURS),
            &kargs::render(o.kargs)?,
            t,
        )?;
    }

    // An empty machine-id: systemd makes one on first boot, the image has
    // no identity of its own.
    mkdir(root, "etc", t)?;
    match lstat(root, "etc/machine-id")? {
        Some(m) if m.is_file() && m.len() == 0 => {}
        Some(m) if !m.is_file() => bail!("/etc/machine-id is not a regular file"),
        _ => {
            std::fs::write(root.join("etc/machine-id"), "").context("writing /etc/machine-id")?;
            std::fs::set_permissions(
                root.join("etc/machine-id"),
                std::fs::Permissions::from_mode(0o444),
            )?;
            t.add("etc/machine-id");
        }
    }

    // Files made here need labels like the rest of the tree (a no-op for
    // a tree without an SELinux policy).
    crate::tree::selinux::label(root).context("labelling the bootc layout for SELinux")?;
    touched.apply(sde)?;
    Ok(Prepared { kernel: kver })
}

/// A derived image (a base image's root with packages added): the
/// manifest's kernel arguments as their own kargs.d file beside the
/// base's (`kargs::derived_file`). The rest of the layout is the base's
/// and is left alone. Returns the file's path in the image.
pub fn add_kargs(root: &Path, kargs_: &[String], manifest: &str, sde: i64) -> Result<String> {
    let mut touched = Touched {
        root: root.to_path_buf(),
        paths: BTreeSet::new(),
    };
    let rel = format!("{}/{}", kargs::DIR, kargs::derived_file(manifest));
    write(root, &rel, &kargs::render(kargs_)?, &mut touched)?;
    crate::tree::selinux::label(root).context("labelling kargs.d for SELinux")?;
    touched.apply(sde)?;
    Ok(format!("/{rel}"))
}
