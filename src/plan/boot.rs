//! The boot chain an output gets: firmware, Secure Boot mode, the files
//! on the ESP and the kernel command line, and how QEMU verifies it.

use crate::distro::{Arch, DistroDef};
use crate::manifest::ours::{Firmware, OutputType, SecureBootMode};
use crate::manifest::{Document, Manifest};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct BootPlan {
    pub firmware: Firmware,
    pub secureboot: SecureBootMode,
    pub uki: bool,
    /// The chain from firmware to kernel, one step per entry.
    pub chain: Vec<String>,
    /// Kernel command line (distro defaults, arch console, manifest).
    pub cmdline: Vec<String>,
    pub verify: VerifyPlan,
}

/// How `verify` will boot the artifact.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyPlan {
    pub qemu: String,
    pub machine: String,
    pub cpu: String,
    pub firmware: String,
    pub accel: String,
}

/// Firmware for an output: the manifest's, else hybrid on x86 disks and
/// ISOs, UEFI where there is UEFI, the platform's own otherwise.
pub fn firmware(m: &Manifest, ar: &Arch, t: OutputType) -> Firmware {
    match m.boot.as_ref().and_then(|b| b.firmware) {
        // "hybrid" is every firmware the arch has: UEFI alone on aarch64.
        Some(Firmware::Hybrid) if !ar.bios => return Firmware::Uefi,
        Some(fw) => return fw,
        None => {}
    }
    if !ar.has_uefi() {
        Firmware::Bios
    } else if ar.bios && (t.is_bootable() || t == OutputType::Oci) {
        Firmware::Hybrid
    } else {
        Firmware::Uefi
    }
}

/// The boot plan of a bootable output (None for tar/oci/ostree, which boot
/// only once deployed).
pub fn plan(
    doc: &Document,
    distro: &DistroDef,
    ar: &Arch,
    t: OutputType,
    fw: Firmware,
) -> Option<BootPlan> {
    if !t.is_bootable() {
        return None;
    }
    let m = &doc.manifest;
    let b = m.boot.clone().unwrap_or_default();
    let uefi = matches!(fw, Firmware::Uefi | Firmware::Hybrid) && ar.has_uefi();
    let sb = if uefi {
        b.secureboot.unwrap_or(SecureBootMode::Distro)
    } else {
        SecureBootMode::Off
    };
    let uki = b.uki.unwrap_or(sb == SecureBootMode::Custom);
    let vendor = &distro.efi_vendor;
    let mut chain = vec![];
    let q = &ar.qemu;

    if uefi {
        let efi = ar.efi.expect("uefi arch has EFI names");
        chain.push(match sb {
            SecureBootMode::Distro => {
                "UEFI firmware, Secure Boot enforced, Microsoft keys".to_string()
            }
            SecureBootMode::Custom => {
                "UEFI firmware, Secure Boot enforced, our PK/KEK/db enrolled".to_string()
            }
            SecureBootMode::Off => "UEFI firmware, Secure Boot off".to_string(),
        });
        if t.is_iso() {
            chain.push(format!(
                "El Torito EFI image images/efiboot.img (also GPT partition 2): EFI/BOOT/{} = {} (shim, Microsoft-signed), EFI/BOOT/{}, EFI/BOOT/{}",
                efi.removable, efi.shim, efi.grub, efi.mokmanager
            ));
            chain.push(format!(
                "EFI/BOOT/{} (GRUB{}): EFI/BOOT/grub.cfg finds the medium by its volume id, loads /boot/grub2/grub.cfg",
                efi.grub,
                signed_by(sb)
            ));
            chain.push(if t == OutputType::IsoLive {
                format!(
                    "/images/pxeboot/vmlinuz + initrd.img (dracut dmsquash-live){} → root=live: LiveOS/squashfs.img, overlay on tmpfs",
                    signed_by(sb)
                )
            } else {
                format!(
                    "/images/pxeboot/vmlinuz + initrd.img{} → the installer's stage2 on the medium",
                    signed_by(sb)
                )
            });
        } else if uki {
            chain.push(format!(
                "EFI/BOOT/{} = unified kernel image ({} + kernel + initramfs + cmdline){}",
                efi.removable,
                efi.stub,
                signed_by(sb)
            ));
        } else {
            chain.push(format!(
                "EFI/BOOT/{} = {} (shim, Microsoft-signed), EFI/BOOT/{}",
                efi.removable, efi.shim, efi.fallback
            ));
            chain.push(format!(
                "EFI/{vendor}/{}, EFI/{vendor}/{}, EFI/{vendor}/{}",
                efi.shim, efi.mokmanager, efi.csv
            ));
            chain.push(format!("EFI/{vendor}/{} (GRUB{})", efi.grub, signed_by(sb)));
            chain.push(format!(
                "EFI/{}/grub.cfg: finds /boot by filesystem UUID, loads /boot/grub2/grub.cfg",
                distro.grub_efi_dir()
            ));
            chain.push(format!(
                "/boot/loader/entries/*.conf (BLS) → kernel (dracut initramfs){}",
                signed_by(sb)
            ));
        }
    }
    if matches!(fw, Firmware::Bios | Firmware::Hybrid) && ar.bios {
        chain.push(if t.is_iso() {
            "BIOS: El Torito boot image images/eltorito.img (GRUB i386-pc), MBR boot code for USB sticks → /boot/grub2/grub.cfg".to_string()
        } else {
            "BIOS: MBR boot code → GRUB i386-pc core.img in the BIOS boot partition → /boot/grub2/grub.cfg → BLS entries".to_string()
        });
    }
    if ar.prep {
        chain.push("Open Firmware (SLOF) → GRUB core.elf in the PReP partition → /boot/grub2/grub.cfg → BLS entries".to_string());
    }
    if ar.name == "s390x" {
        chain.push(
            "IPL: zipl boot record (s390utils) reads the BLS entries in /boot/loader/entries"
                .to_string(),
        );
    }

    let cmdline = kernel_args(m, distro, ar);

    let firmware = if uefi {
        let code = q.firmware.uefi_code.unwrap_or("?");
        let vars = match sb {
            SecureBootMode::Custom => {
                "enrollment of our keys into a copy of ".to_string()
                    + q.firmware.uefi_vars_empty.unwrap_or("?")
            }
            _ => "a fresh copy of ".to_string() + q.firmware.uefi_vars_ms.unwrap_or("?"),
        };
        format!("{code} + {vars}")
    } else {
        q.firmware.builtin.to_string()
    };
    let machine = if uefi && ar.name.starts_with("x86_64") {
        format!("{},smm=on", q.machine)
    } else {
        q.machine.to_string()
    };
    Some(BootPlan {
        firmware: fw,
        secureboot: sb,
        uki,
        chain,
        cmdline,
        verify: VerifyPlan {
            qemu: q.binary.into(),
            machine,
            cpu: q.cpu.into(),
            firmware,
            accel: "tcg".into(),
        },
    })
}

/// The kernel command line of every kernel-bearing output: the distro's
/// defaults, the arch's console, `[boot] cmdline`, then
/// `customizations.kernel.append`, first occurrence kept.
pub fn kernel_args(m: &Manifest, distro: &DistroDef, ar: &Arch) -> Vec<String> {
    let mut cmdline: Vec<String> = distro.kernel_cmdline.clone();
    if let Some(bd) = distro.boot.get(ar.name) {
        cmdline.extend(bd.cmdline.iter().cloned());
    }
    cmdline.extend(manifest_kernel_args(m));
    let mut seen = std::collections::BTreeSet::new();
    cmdline.retain(|a| seen.insert(a.clone()));
    cmdline
}

/// What the manifest itself adds to the kernel command line: `[boot]
/// cmdline` then `customizations.kernel.append`. A bootc image carries
/// exactly these in `kargs.d` (the distro's console defaults belong to the
/// disk or installer that deploys it).
pub fn manifest_kernel_args(m: &Manifest) -> Vec<String> {
    let b = m.boot.clone().unwrap_or_default();
    let mut cmdline: Vec<String> = vec![];
    cmdline.extend(
        b.cmdline
            .to_vec()
            .iter()
            .flat_map(|s| s.split_whitespace().map(str::to_string).collect::<Vec<_>>()),
    );
    if let Some(c) = &m.customizations {
        cmdline.extend(super::custom::kernel_append(c));
    }
    let mut seen = std::collections::BTreeSet::new();
    cmdline.retain(|a| seen.insert(a.clone()));
    cmdline
}

fn signed_by(sb: SecureBootMode) -> &'static str {
    match sb {
        SecureBootMode::Distro => ", vendor-signed",
        SecureBootMode::Custom => ", signed with our db key",
        SecureBootMode::Off => "",
    }
}
