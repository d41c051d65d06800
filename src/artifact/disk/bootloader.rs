//! What a disk adds to a tree's boot preparation: the tree's kernels,
//! initramfs and BLS entries come from `tree::boot` (shared with bootc
//! images and ISOs); here is what depends on the disk — /etc/fstab and the
//! kernel command line naming its filesystem UUIDs, GRUB configuration
//! (BLS-aware `blscfg` for AlmaLinux's GRUB, explicit menu entries for
//! GRUBs without it), the small ESP grub.cfg that finds /boot by
//! filesystem UUID, and for BIOS boot GRUB's i386-pc core image in the
//! BIOS boot partition with the MBR boot code pointing at it (what
//! grub2-install would do, written directly into the image file).

use super::{Ids, Input};
use crate::plan::layout::Partition;
use anyhow::{bail, Context, Result};
use std::fmt::Write as _;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

/// Filesystem identifiers the boot configuration refers to.
#[derive(Debug, Clone)]
pub struct Uuids {
    pub root: String,
    pub root_fs: String,
    pub boot: Option<String>,
    pub boot_fs: Option<String>,
    /// FAT volume id as `XXXX-XXXX` is derived from this 8-hex-digit form.
    pub esp: Option<String>,
    /// Extra data filesystems and swap, in the order fstab lists them.
    pub extra: Vec<ExtraFs>,
}

/// A data filesystem (mountpoint set) or swap (no mountpoint) beyond
/// root, /boot and the ESP.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ExtraFs {
    pub mountpoint: Option<String>,
    pub fs: String,
    pub uuid: String,
}

impl Uuids {
    fn esp_fstab(&self) -> Option<String> {
        self.esp
            .as_ref()
            .map(|e| format!("{}-{}", &e[..4], &e[4..]))
    }
}

/// What `prepare_tree` decided.
pub struct Prepared {
    pub kver: String,
    pub cmdline: String,
}

fn write(tree: &Path, path: &str, text: &str) -> Result<()> {
    let p = tree.join(path.trim_start_matches('/'));
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d)?;
    }
    std::fs::write(&p, text).with_context(|| format!("writing {path}"))
}

/// The tree's boot preparation (`tree::boot`), then fstab, kernel command
/// line, BLS entries and GRUB configuration for this disk. Runs before the
/// tree is split into filesystems.
pub fn prepare_tree(input: &Input, u: &Uuids, ids: &Ids) -> Result<Prepared> {
    let tree = input.tree;
    let ks = crate::tree::boot::prepare(tree, input.source_date_epoch)?;
    let kver = ks.last().map(|k| k.0.clone()).unwrap_or_default();

    let mut fstab = String::new();
    let _ = writeln!(fstab, "# Written by image-builder.");
    // Cloud images grow root to fill a bigger disk on first boot: with
    // systemd-repart in the tree, a repart.d entry grows the partition and
    // x-systemd.growfs the filesystem (AlmaLinux's cloud images do the same
    // through cloud-init's growpart, which needs nothing from us).
    let grow = input
        .layout
        .partitions
        .iter()
        .any(|p| p.role == crate::plan::layout::Role::Root && p.grow)
        && ["usr/bin/systemd-repart", "bin/systemd-repart"]
            .iter()
            .any(|p| tree.join(p).exists());
    let root_opts = if grow {
        write(
            tree,
            "/etc/repart.d/50-root.conf",
            "# Written by image-builder: grow the root partition into free space on first boot.\n[Partition]\nType=root\n",
        )?;
        "defaults,x-systemd.growfs"
    } else {
        "defaults"
    };
    let _ = writeln!(fstab, "UUID={} / {} {root_opts} 0 1", u.root, u.root_fs);
    if let Some(b) = &u.boot {
        let _ = writeln!(
            fstab,
            "UUID={b} /boot {} defaults 0 2",
            u.boot_fs.as_deref().unwrap_or("ext4")
        );
    }
    if let Some(e) = u.esp_fstab() {
        let _ = writeln!(
            fstab,
            "UUID={e} /boot/efi vfat umask=0077,shortname=winnt 0 2"
        );
    }
    for x in &u.extra {
        match &x.mountpoint {
            Some(mp) => {
                let _ = writeln!(fstab, "UUID={} {mp} {} defaults 0 2", x.uuid, x.fs);
            }
            None => {
                let _ = writeln!(fstab, "UUID={} none swap defaults 0 0", x.uuid);
            }
        }
    }
    write(tree, "/etc/fstab", &fstab)?;

    let cmdline = std::iter::once(format!("root=UUID={}", u.root))
        .chain(std::iter::once("ro".to_string()))
        .chain(input.boot.cmdline.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ");
    write(tree, "/etc/kernel/cmdline", &format!("{cmdline}\n"))?;

    // Paths as GRUB sees them on the filesystem holding /boot.
    let on_boot = |p: &str| {
        if u.boot.is_some() {
            p.to_string()
        } else {
            format!("/boot{p}")
        }
    };
    let machine_id = ids.hex32("machine-id");
    let title = &input.distro.name;
    let menu = crate::tree::boot::write_bls(
        tree,
        &crate::tree::boot::Bls {
            title,
            machine_id: &machine_id,
            cmdline: &cmdline,
            prefix: if u.boot.is_some() { "" } else { "/boot" },
        },
        &ks,
    )?;
    let serial = input
        .boot
        .cmdline
        .iter()
        .any(|a| a.starts_with("console=ttyS"));
    let boot_fs_uuid = u.boot.as_deref().unwrap_or(&u.root);
    let mut cfg = format!(
        "# Written by image-builder.\nset timeout=1\nset default=0\nsearch --no-floppy --fs-uuid --set=root {boot_fs_uuid}\n"
    );
    if serial {
        cfg.push_str(
            "serial --unit=0 --speed=115200\nterminal_input serial console\nterminal_output serial console\n",
        );
    }
    if input.distro.grub_blscfg {
        cfg.push_str("load_env -f ${config_directory}/grubenv\ninsmod blscfg\nblscfg\n");
    } else {
        cfg.push_str(&menu);
    }
    write(tree, "/boot/grub2/grub.cfg", &cfg)?;

    // BIOS GRUB loads its modules from $prefix/i386-pc, as grub2-install
    // leaves them.
    copy_bios_modules(input.layout, tree, &tree.join("boot/grub2"))?;

    if u.esp.is_some() {
        let boot_uuid = u.boot.as_deref().unwrap_or(&u.root);
        let prefix = on_boot("/grub2");
        let early = format!(
            "search --no-floppy --fs-uuid --set=dev {boot_uuid}\nset prefix=($dev){prefix}\nexport $prefix\nconfigfile $prefix/grub.cfg\n"
        );
        write(
            tree,
            &format!("/boot/efi/EFI/{}/grub.cfg", input.distro.grub_efi_dir()),
            &early,
        )?;
    }
    Ok(Prepared { kver, cmdline })
}

/// BIOS boot: GRUB's i386-pc core image (made from the tree's own
/// modules) written into the BIOS boot partition, and the MBR boot code
/// pointing at it.
pub fn install_bios(
    input: &Input,
    grub_tree: &Path,
    disk: &Path,
    bb: &Partition,
    u: &Uuids,
    grub_dir: &str,
) -> Result<()> {
    let moddir = grub_tree.join("usr/lib/grub/i386-pc");
    if !moddir.join("boot.img").is_file() {
        bail!("BIOS boot needs GRUB's i386-pc modules in the tree (/usr/lib/grub/i386-pc): add grub2-pc");
    }
    let boot_uuid = u.boot.as_deref().unwrap_or(&u.root);
    let cfg = input.work.join("bios-early.cfg");
    std::fs::write(
        &cfg,
        format!(
            "serial --unit=0 --speed=115200\nterminal_input --append serial\nterminal_output --append serial\n\
             search --no-floppy --fs-uuid --set=root {boot_uuid}\nset prefix=($root){grub_dir}\n"
        ),
    )?;
    let core = input.work.join("core.img");
    let fs_mod = match u.boot_fs.as_deref().unwrap_or(&u.root_fs) {
        "xfs" => "xfs",
        _ => "ext2",
    };
    let args: Vec<String> = ["-O", "i386-pc", "-d"]
        .iter()
        .map(|s| s.to_string())
        .chain([
            moddir.display().to_string(),
            "-o".into(),
            core.display().to_string(),
            "-c".into(),
            cfg.display().to_string(),
            "-p".into(),
            grub_dir.into(),
            "biosdisk".into(),
            "part_gpt".into(),
            "part_msdos".into(),
            fs_mod.into(),
            "search".into(),
            "search_fs_uuid".into(),
            "configfile".into(),
            "normal".into(),
            "serial".into(),
            "terminal".into(),
        ])
        .collect();
    crate::tools::run("grub-mkimage", &args).context("making GRUB's i386-pc core image")?;
    let mut core_bytes = std::fs::read(&core)?;
    if core_bytes.len() as u64 > bb.size {
        bail!(
            "GRUB core image ({} bytes) does not fit the BIOS boot partition",
            core_bytes.len()
        );
    }
    let core_lba = bb.start / 512;
    let sectors = core_bytes.len().div_ceil(512) as u64;
    patch_core(&mut core_bytes, core_lba, sectors)?;
    let mut boot_img = [0u8; 512];
    std::fs::File::open(moddir.join("boot.img"))?.read_exact(&mut boot_img)?;

    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(disk)?;
    f.seek(SeekFrom::Start(bb.start))?;
    f.write_all(&core_bytes)?;
    let mut mbr = [0u8; 512];
    f.seek(SeekFrom::Start(0))?;
    f.read_exact(&mut mbr)?;
    patch_mbr(&mut mbr, &boot_img, core_lba);
    f.seek(SeekFrom::Start(0))?;
    f.write_all(&mbr)?;
    Ok(())
}

/// GRUB's boot.img into the MBR's code area (the partition table and disk
/// signature stay), told where core.img starts.
pub fn patch_mbr(mbr: &mut [u8; 512], boot_img: &[u8; 512], core_lba: u64) {
    // Keep the BIOS parameter block area as boot.img has it, the NT disk
    // signature (0x1b8) and the partition table (0x1be..).
    mbr[..0x1b8].copy_from_slice(&boot_img[..0x1b8]);
    // GRUB_BOOT_MACHINE_KERNEL_SECTOR
    mbr[0x5c..0x64].copy_from_slice(&core_lba.to_le_bytes());
}

/// The blocklist at the end of core.img's first sector (diskboot.img):
/// the rest of core.img follows contiguously.
pub fn patch_core(core: &mut [u8], core_lba: u64, sectors: u64) -> Result<()> {
    if core.len() < 512 || sectors < 2 {
        bail!("GRUB core image is too small");
    }
    let entry = 512 - 12;
    core[entry..entry + 8].copy_from_slice(&(core_lba + 1).to_le_bytes());
    core[entry + 8..entry + 10].copy_from_slice(&((sectors - 1) as u16).to_le_bytes());
    // segment (entry + 10) keeps diskboot.img's default (0x820).
    // The entry below is the list terminator.
    core[entry - 12..entry].fill(0);
    Ok(())
}

/// Copies GRUB's i386-pc modules (`*.mod`, `*.lst`) from `from`'s
/// `/usr/lib/grub/i386-pc` into `grub_dir/i386-pc` when the layout has a
/// BIOS boot partition and the tree ships them, in sorted order.
pub(super) fn copy_bios_modules(
    layout: &crate::plan::layout::DiskLayout,
    from: &Path,
    grub_dir: &Path,
) -> Result<()> {
    let bios = layout
        .partitions
        .iter()
        .any(|p| p.role == crate::plan::layout::Role::BiosBoot);
    if !bios || !from.join("usr/lib/grub/i386-pc").is_dir() {
        return Ok(());
    }
    copy_grub_modules(from, grub_dir)
}

/// Copies GRUB's i386-pc modules (`*.mod`, `*.lst`) from `from`'s
/// `/usr/lib/grub/i386-pc` into `grub_dir/i386-pc`, in sorted order, as
/// grub2-install leaves them (BIOS GRUB loads them from `$prefix`). Disks
/// and ISOs share it.
pub(crate) fn copy_grub_modules(from: &Path, grub_dir: &Path) -> Result<()> {
    let mods = from.join("usr/lib/grub/i386-pc");
    let dest = grub_dir.join("i386-pc");
    std::fs::create_dir_all(&dest).with_context(|| format!("creating {}", dest.display()))?;
    let mut names: Vec<_> = std::fs::read_dir(&mods)
        .with_context(|| format!("reading {}", mods.display()))?
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .collect();
    names.sort();
    for n in names {
        let keep = n
            .to_str()
            .is_some_and(|n| n.ends_with(".mod") || n.ends_with(".lst"));
        if keep {
            std::fs::copy(mods.join(&n), dest.join(&n))
                .with_context(|| format!("copying {}", mods.join(&n).display()))?;
        }
    }
    Ok(())
}
