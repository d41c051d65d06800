//! The boot equipment of an ISO, shared by every kind of medium (live
//! today, installer next): one GRUB configuration for BIOS and UEFI, the
//! BIOS El Torito image, and `images/efiboot.img`.
//!
//! Why one configuration: lorax writes two (`EFI/BOOT/grub.cfg` and
//! `boot/grub2/grub.cfg`) that drift apart. Here the menu lives once in
//! `/boot/grub2/grub.cfg`; every GRUB that starts from the medium — the
//! i386-pc El Torito image, the distro's EFI GRUB reading
//! `EFI/BOOT/grub.cfg` or `EFI/<grub dir>/grub.cfg` from efiboot.img, a
//! GRUB built for CDs looking for `/boot/grub/grub.cfg` — runs the same
//! small early configuration: find the medium by its volume id, then that
//! menu.
//!
//! The pieces come from the tree, as disks take them (`disk::bootloader`,
//! `disk::esp`): GRUB's i386-pc modules and `boot_hybrid.img` from the
//! tree's `/usr/lib/grub/i386-pc`, shim, GRUB and MokManager from what the
//! packages put under `/boot/efi`, the FAT image written natively.

use crate::artifact::disk::{esp, Ids};
use crate::distro::{Arch, DistroDef};
use anyhow::{bail, Context, Result};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Where the medium keeps the kernel and initramfs (lorax's layout).
pub const VMLINUZ: &str = "/images/pxeboot/vmlinuz";
pub const INITRD: &str = "/images/pxeboot/initrd.img";
/// GRUB's directory on the medium (its modules in `i386-pc/`).
pub const GRUB_DIR: &str = "/boot/grub2";
/// The BIOS El Torito image, inside the ISO.
pub const ELTORITO: &str = "images/eltorito.img";
/// The EFI El Torito image, inside the ISO (also appended as partition 2).
pub const EFIBOOT: &str = "images/efiboot.img";

/// What the menu says and boots.
pub struct Menu<'a> {
    /// "Fixture Linux 1".
    pub title: &'a str,
    pub volume_id: &'a str,
    /// The default entry's kernel command line.
    pub cmdline: &'a [String],
    /// The serial console the arch's machines have (`ttyS0`, `ttyAMA0`).
    pub serial_tty: &'a str,
}

/// The early configuration every GRUB on the medium runs first.
pub fn early_cfg(volume_id: &str) -> String {
    format!(
        "# Written by image-builder: find this medium by its volume id, then its menu.\n\
         search --no-floppy --set=root --label '{volume_id}'\n\
         set prefix=($root){GRUB_DIR}\n\
         configfile $prefix/grub.cfg\n"
    )
}

/// The menu: start, check the medium, and troubleshooting entries (basic
/// graphics, serial console). A serial terminal too when the command line
/// has a serial console, so the menu shows where the kernel will log.
pub fn grub_cfg(m: &Menu) -> String {
    let args = m.cmdline.join(" ");
    let serial = m
        .cmdline
        .iter()
        .any(|a| a.starts_with(&format!("console={}", m.serial_tty)));
    let mut s = String::from("# Written by image-builder: the menu of this medium, for BIOS and UEFI.\nset default=0\nset timeout=5\n");
    if serial {
        s.push_str("serial --unit=0 --speed=115200\nterminal_input serial console\nterminal_output serial console\n");
    }
    let _ = writeln!(s, "search --no-floppy --set=root --label '{}'", m.volume_id);
    let entry = |s: &mut String, indent: &str, title: &str, extra: &str| {
        let _ = writeln!(
            s,
            "{indent}menuentry '{title}' --class gnu-linux --class gnu --class os {{\n\
             {indent}  linux {VMLINUZ} {args}{extra}\n\
             {indent}  initrd {INITRD}\n\
             {indent}}}"
        );
    };
    let t = m.title.replace('\'', "");
    entry(&mut s, "", &format!("Start {t}"), "");
    entry(
        &mut s,
        "",
        &format!("Test this media & start {t}"),
        " rd.live.check",
    );
    s.push_str("submenu 'Troubleshooting -->' {\n");
    entry(
        &mut s,
        "  ",
        &format!("Start {t} in basic graphics mode"),
        " nomodeset",
    );
    entry(
        &mut s,
        "  ",
        &format!("Start {t} with a serial console ({})", m.serial_tty),
        &format!(" console={},115200", m.serial_tty),
    );
    s.push_str("}\n");
    s
}

fn write(root: &Path, rel: &str, text: &str) -> Result<()> {
    let p = root.join(rel.trim_start_matches('/'));
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))
}

fn copy(from: &Path, to: &Path) -> Result<()> {
    if let Some(d) = to.parent() {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    std::fs::copy(from, to)
        .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    Ok(())
}

/// The menu and the early configurations in the staging directory, and
/// `/.disk/info`, which GRUBs built for CDs search to find the medium.
pub fn write_configs(staging: &Path, m: &Menu, info: &str) -> Result<()> {
    write(staging, &format!("{GRUB_DIR}/grub.cfg"), &grub_cfg(m))?;
    let early = early_cfg(m.volume_id);
    write(staging, "/EFI/BOOT/grub.cfg", &early)?;
    write(staging, "/boot/grub/grub.cfg", &early)?;
    write(staging, "/.disk/info", &format!("{info}\n"))
}

/// BIOS: GRUB's i386-pc modules under `/boot/grub2/i386-pc` and the El
/// Torito image (`grub-mkimage -O i386-pc-eltorito`, the tree's modules
/// and the early configuration built in). Returns the tree's
/// `boot_hybrid.img`, the MBR boot code of the hybrid layout.
pub fn bios(tree: &Path, staging: &Path, volume_id: &str, work: &Path) -> Result<PathBuf> {
    let moddir = tree.join("usr/lib/grub/i386-pc");
    let hybrid = moddir.join("boot_hybrid.img");
    if !moddir.join("iso9660.mod").is_file() || !hybrid.is_file() {
        bail!("BIOS boot of an ISO needs GRUB's i386-pc modules in the tree (/usr/lib/grub/i386-pc with iso9660.mod and boot_hybrid.img): add grub2-pc, or set [boot] firmware = \"uefi\"");
    }
    crate::artifact::disk::bootloader::copy_grub_modules(
        tree,
        &staging.join(GRUB_DIR.trim_start_matches('/')),
    )?;
    let cfg = work.join("eltorito-early.cfg");
    std::fs::write(
        &cfg,
        format!(
            "search --no-floppy --set=root --label '{volume_id}'\nset prefix=($root){GRUB_DIR}\n"
        ),
    )
    .with_context(|| format!("writing {}", cfg.display()))?;
    let out = staging.join(ELTORITO);
    if let Some(d) = out.parent() {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    let mut args: Vec<String> = vec![
        "-O".into(),
        "i386-pc-eltorito".into(),
        "-d".into(),
        moddir.display().to_string(),
        "-o".into(),
        out.display().to_string(),
        "-c".into(),
        cfg.display().to_string(),
        "-p".into(),
        GRUB_DIR.into(),
    ];
    args.extend(
        [
            "biosdisk",
            "iso9660",
            "part_msdos",
            "part_gpt",
            "search",
            "search_label",
            "configfile",
            "normal",
            "linux",
            "echo",
            "test",
            "serial",
            "terminal",
        ]
        .map(String::from),
    );
    crate::tools::run("grub-mkimage", &args).context("making GRUB's i386-pc El Torito image")?;
    std::fs::remove_file(&cfg).with_context(|| format!("removing {}", cfg.display()))?;
    Ok(hybrid)
}

/// UEFI: `efiboot.img`, a FAT image holding shim as the removable path
/// (`EFI/BOOT/BOOTX64.EFI`), GRUB and MokManager beside it (shim loads
/// them from its own directory), and the early configuration where the
/// distro's GRUB reads it. No fallback loader: a medium must not write
/// boot entries. Taken from the tree's `/boot/efi`, where the shim and
/// GRUB packages put them for disks.
pub fn efiboot(
    tree: &Path,
    distro: &DistroDef,
    arch: &Arch,
    volume_id: &str,
    seed: &str,
    epoch: i64,
    work: &Path,
) -> Result<PathBuf> {
    let efi = arch
        .efi
        .with_context(|| format!("{} has no UEFI", arch.name))?;
    let esp = tree.join("boot/efi/EFI");
    let vendor = esp.join(&distro.efi_vendor);
    let find = |name: &str| -> Result<PathBuf> {
        [vendor.join(name), esp.join("BOOT").join(name)]
            .into_iter()
            .find(|p| p.is_file())
            .with_context(|| {
                format!(
                    "the tree has no {name} under /boot/efi/EFI/{} (the shim and GRUB EFI packages put it there)",
                    distro.efi_vendor
                )
            })
    };
    let src = work.join("efiboot-src");
    let boot = src.join("EFI/BOOT");
    copy(&find(efi.shim)?, &boot.join(efi.removable))?;
    copy(&find(efi.grub)?, &boot.join(efi.grub))?;
    copy(&find(efi.mokmanager)?, &boot.join(efi.mokmanager))?;
    let early = early_cfg(volume_id);
    write(&src, "/EFI/BOOT/grub.cfg", &early)?;
    if distro.grub_efi_dir() != "BOOT" {
        write(
            &src,
            &format!("/EFI/{}/grub.cfg", distro.grub_efi_dir()),
            &early,
        )?;
    }
    let content: u64 = [efi.removable, efi.grub, efi.mokmanager]
        .iter()
        .map(|n| boot.join(n).metadata().map(|m| m.len()).unwrap_or(0))
        .sum();
    let img = work.join("efiboot.img");
    let size = efiboot_size(content);
    let volume = Ids::new(seed).u32("fs:efiboot");
    if size <= FAT16_MAX {
        esp::build_fat16(&img, size, &src, volume, epoch)
    } else {
        esp::build(&img, size, &src, volume, epoch)
    }
    .context("writing efiboot.img")?;
    std::fs::remove_dir_all(&src).with_context(|| format!("removing {}", src.display()))?;
    Ok(img)
}

const MIB: u64 = 1 << 20;

/// The largest efiboot.img written as FAT16 (2 KiB clusters, fewer than
/// 65,525 of them); a bigger one is FAT32.
const FAT16_MAX: u64 = 128 * MIB;

/// The FAT image's size: what it holds plus 2 MiB (directories, FATs,
/// slack), whole MiB, at least 8 MiB (FAT16's 4,085 clusters of 1 KiB);
/// past FAT16's reach, at least what FAT32 needs.
pub fn efiboot_size(content: u64) -> u64 {
    let want = (content + 2 * MIB).div_ceil(MIB) * MIB;
    if want <= FAT16_MAX {
        want.max(8 * MIB)
    } else {
        want.max(36 * MIB)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn menu_for_both_firmwares() {
        let cmdline = vec![
            "root=live:CDLABEL=FIXTURE-LIVE".to_string(),
            "rd.live.image".into(),
            "console=ttyS0".into(),
        ];
        let c = grub_cfg(&Menu {
            title: "Fixture Linux 1",
            volume_id: "FIXTURE-LIVE",
            cmdline: &cmdline,
            serial_tty: "ttyS0",
        });
        assert!(c.contains("search --no-floppy --set=root --label 'FIXTURE-LIVE'"));
        assert!(c.contains("terminal_output serial console"), "{c}");
        assert!(c.contains(
            "menuentry 'Start Fixture Linux 1' --class gnu-linux --class gnu --class os {\n  linux /images/pxeboot/vmlinuz root=live:CDLABEL=FIXTURE-LIVE rd.live.image console=ttyS0\n  initrd /images/pxeboot/initrd.img\n}"
        ), "{c}");
        assert!(c.contains("console=ttyS0 rd.live.check\n"));
        assert!(c.contains("submenu 'Troubleshooting -->' {"));
        assert!(c.contains("nomodeset"));
        assert!(c.contains("with a serial console (ttyS0)"));
        // No serial console on the command line: no serial terminal.
        let c = grub_cfg(&Menu {
            title: "X's",
            volume_id: "V",
            cmdline: &cmdline[..2],
            serial_tty: "ttyAMA0",
        });
        assert!(!c.contains("terminal_output serial"));
        assert!(
            c.contains("'Start Xs'"),
            "quotes cannot break the menu: {c}"
        );
        assert!(c.contains("console=ttyAMA0,115200"));
        assert_eq!(
            early_cfg("V"),
            "# Written by image-builder: find this medium by its volume id, then its menu.\nsearch --no-floppy --set=root --label 'V'\nset prefix=($root)/boot/grub2\nconfigfile $prefix/grub.cfg\n"
        );
    }

    #[test]
    fn efiboot_sizes() {
        assert_eq!(efiboot_size(0), 8 << 20);
        // shim + GRUB + MokManager of the fixture: about 7 MiB.
        assert_eq!(efiboot_size(7 << 20), 9 << 20);
        assert_eq!(efiboot_size((7 << 20) + 1), 10 << 20);
        assert_eq!(efiboot_size(200 << 20), 202 << 20);
    }
}
