//! Boot preparation inside a tree, shared by every kernel-bearing output
//! (disks, bootc images, OSTree commits, ISOs): finding the kernels,
//! `modules.dep`, the initramfs made by the tree's own dracut, the kernel
//! copied to /boot and BLS entries. What is specific to one medium (fstab,
//! GRUB configuration, partition UUIDs) stays with its artifact builder.

use anyhow::{bail, Context, Result};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Kernel versions in the tree (directories of /usr/lib/modules or
/// /lib/modules holding a vmlinuz), sorted.
pub fn kernels(tree: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    for base in ["usr/lib/modules", "lib/modules"] {
        let dir = tree.join(base);
        if dir.is_symlink() || !dir.is_dir() {
            continue;
        }
        for e in std::fs::read_dir(&dir)? {
            let e = e?;
            let v = e.path().join("vmlinuz");
            if v.is_file() {
                let kver = e.file_name().to_string_lossy().into_owned();
                if !out.iter().any(|(k, _)| *k == kver) {
                    out.push((kver, v));
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Boot preparation of a package tree for a medium with a /boot (disks,
/// ISOs): every kernel prepared (`prepare_kernels`). Returns the kernels,
/// sorted, the newest (the default entry) last. A tree without a kernel
/// is the package list at fault, and the error says so.
pub fn prepare(tree: &Path, source_date_epoch: i64) -> Result<Vec<(String, PathBuf)>> {
    let ks = kernels(tree)?;
    if ks.is_empty() {
        bail!("the tree has no kernel (/usr/lib/modules/*/vmlinuz): add the kernel package");
    }
    prepare_kernels(tree, &ks, source_date_epoch)?;
    Ok(ks)
}

/// Mount points, an empty machine-id (systemd fills it on first boot),
/// and for each kernel: `modules.dep` when the package did not make it,
/// the kernel in /boot, and an initramfs made with the tree's dracut.
pub fn prepare_kernels(
    tree: &Path,
    ks: &[(String, PathBuf)],
    source_date_epoch: i64,
) -> Result<()> {
    prepare_kernels_with(tree, ks, source_date_epoch, &[])
}

/// `prepare_kernels` with extra dracut flags (a live medium's initramfs
/// adds `dmsquash-live`).
pub fn prepare_kernels_with(
    tree: &Path,
    ks: &[(String, PathBuf)],
    source_date_epoch: i64,
    dracut_extra: &[&str],
) -> Result<()> {
    let sde = source_date_epoch.to_string();
    for d in ["proc", "sys", "dev", "run", "tmp", "boot", "var/tmp"] {
        std::fs::create_dir_all(tree.join(d)).with_context(|| format!("creating /{d}"))?;
    }
    let mid = tree.join("etc/machine-id");
    if !mid.exists() {
        std::fs::create_dir_all(tree.join("etc")).context("creating /etc")?;
        std::fs::write(&mid, "").context("writing /etc/machine-id")?;
    }
    for (kver, vmlinuz) in ks {
        // Module autoloading needs modules.dep; distro kernels make it in
        // their scriptlets, repackaged ones may not have.
        let moddir = vmlinuz
            .parent()
            .expect("vmlinuz sits in its module directory");
        if !moddir.join("modules.dep").exists() {
            depmod(tree, kver)?;
        }
        let dest = tree.join(format!("boot/vmlinuz-{kver}"));
        if !dest.exists() {
            std::fs::copy(vmlinuz, &dest).context("copying the kernel to /boot")?;
        }
        let initrd = format!("/boot/initramfs-{kver}.img");
        if !tree.join(&initrd[1..]).exists() {
            dracut(
                tree,
                &initrd,
                kver,
                dracut_extra,
                &[("SOURCE_DATE_EPOCH", sde.clone())],
            )?;
        }
    }
    Ok(())
}

/// What a BLS entry says besides its kernel.
pub struct Bls<'a> {
    pub title: &'a str,
    pub machine_id: &'a str,
    pub cmdline: &'a str,
    /// Where /boot's files are as the boot loader sees them: "" when /boot
    /// is its own filesystem, "/boot" when it is on root.
    pub prefix: &'a str,
}

/// Writes `/boot/loader/entries/MACHINEID-KVER.conf` for every kernel,
/// newest first, and returns the same entries as explicit GRUB
/// `menuentry` blocks for a GRUB without `blscfg`.
pub fn write_bls(tree: &Path, b: &Bls, ks: &[(String, PathBuf)]) -> Result<String> {
    let mut menu = String::new();
    let (title, cmdline) = (b.title, b.cmdline);
    for (kver, _) in ks.iter().rev() {
        let linux = format!("{}/vmlinuz-{kver}", b.prefix);
        let initrd = format!("{}/initramfs-{kver}.img", b.prefix);
        let entry = format!(
            "title {title} ({kver})\nversion {kver}\nlinux {linux}\ninitrd {initrd}\noptions {cmdline}\n\
             grub_users $grub_users\ngrub_arg --unrestricted\ngrub_class kernel\n"
        );
        let p = tree.join(format!("boot/loader/entries/{}-{kver}.conf", b.machine_id));
        std::fs::create_dir_all(p.parent().expect("entries dir"))
            .context("creating /boot/loader/entries")?;
        std::fs::write(&p, entry).with_context(|| format!("writing {}", p.display()))?;
        let _ = writeln!(
            menu,
            "menuentry '{title} ({kver})' --class kernel {{\n  linux {linux} {cmdline}\n  initrd {initrd}\n}}"
        );
    }
    Ok(menu)
}

/// Makes `modules.dep` for `kver` in the tree (chrooted), with the tree's
/// kmod depmod or busybox's. Shared by disks and bootc images.
pub fn depmod(tree: &Path, kver: &str) -> Result<()> {
    let (prog, mut args): (&str, Vec<&str>) = if ["usr/sbin/depmod", "sbin/depmod"]
        .iter()
        .any(|p| tree.join(p).exists())
    {
        ("depmod", vec![])
    } else if ["bin/busybox", "usr/bin/busybox"]
        .iter()
        .any(|p| tree.join(p).exists())
    {
        ("busybox", vec!["depmod"])
    } else {
        bail!("{kver} has no modules.dep and the tree has no depmod (kmod) to make it");
    };
    args.push(kver);
    crate::tools::run_in_root(tree, prog, &args).with_context(|| format!("depmod for {kver}"))?;
    Ok(())
}

/// Makes the initramfs at in-tree path `initrd` for `kver` with the
/// tree's dracut (chrooted, not host-only), `extra` flags before the
/// output path. Shared by disks and bootc images.
pub fn dracut(
    tree: &Path,
    initrd: &str,
    kver: &str,
    extra: &[&str],
    env: &[(&str, String)],
) -> Result<()> {
    let dracut = ["usr/bin/dracut", "usr/sbin/dracut", "sbin/dracut"]
        .iter()
        .find(|p| tree.join(p).exists())
        .with_context(|| {
            format!("the tree has no dracut to make {initrd}: add dracut to the packages")
        })?;
    let mut args = vec!["--force", "--no-hostonly"];
    args.extend_from_slice(extra);
    args.extend([initrd, kver]);
    crate::tools::run_in_root_env(tree, &format!("/{dracut}"), &args, env)
        .with_context(|| format!("making {initrd}"))?;
    Ok(())
}
