//! `secureboot = "custom"`: the boot path is a unified kernel image
//! (systemd-stub + kernel + initramfs + command line + os-release) signed
//! with the db key, as `EFI/BOOT/BOOT<ARCH>.EFI` on the ESP. Shim and GRUB
//! stay out of the chain (shim is signed by Microsoft, whose keys a custom
//! PK/KEK/db set does not hold). Beside the image go the enrollment files
//! (`.auth`, `.esl`, certificates) — never a private key.

use crate::distro::Arch;
use crate::secureboot::keys::Signer;
use anyhow::{bail, Context, Result};
use std::path::Path;

/// Builds the signed UKI into the tree's ESP directory and removes the
/// shim/fallback loaders that would otherwise stand first in line.
pub fn install(
    tree: &Path,
    arch: &'static Arch,
    kver: &str,
    cmdline: &str,
    signer: &Signer,
) -> Result<()> {
    let efi = arch.efi.context("this arch has no UEFI")?;
    let boot_dir = tree.join("boot/efi/EFI/BOOT");
    std::fs::create_dir_all(&boot_dir)?;
    for f in [efi.fallback, efi.removable] {
        let p = boot_dir.join(f);
        if p.exists() {
            std::fs::remove_file(&p)?;
        }
    }
    let os_release = ["etc/os-release", "usr/lib/os-release"]
        .iter()
        .map(|p| tree.join(p))
        .find(|p| p.is_file())
        .context("the tree has no os-release for the UKI's .osrel section")?;
    let kernel = tree.join(format!("boot/vmlinuz-{kver}"));
    let initrd = tree.join(format!("boot/initramfs-{kver}.img"));
    crate::secureboot::uki::build_uki(
        &kernel,
        &initrd,
        cmdline,
        &os_release,
        &boot_dir.join(efi.removable),
        arch,
        signer,
    )
    .context("building the signed UKI")
}

/// Copies the public enrollment files of a genkey directory to `out`
/// (`ARTIFACT.enroll/`); private keys are skipped by name and by content.
pub fn write_enrollment(dir: &Path, out: &Path) -> Result<()> {
    let tmp = out.with_extension("enroll.partial");
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp)?;
    }
    std::fs::create_dir_all(&tmp)?;
    let mut names: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    names.sort();
    for n in names {
        let public = [".auth", ".esl", ".crt", ".der", ".guid"]
            .iter()
            .any(|s| n.ends_with(s));
        if !public {
            continue;
        }
        let text = std::fs::read(dir.join(&n))?;
        if text.windows(11).any(|w| w == b"PRIVATE KEY") {
            bail!(
                "{}: holds a private key; refusing to copy it beside the image",
                n
            );
        }
        std::fs::write(tmp.join(&n), text)?;
    }
    if out.exists() {
        std::fs::remove_dir_all(out)?;
    }
    std::fs::rename(&tmp, out)?;
    Ok(())
}
