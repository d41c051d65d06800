//! Unified Kernel Images: systemd-stub + kernel + initrd + cmdline +
//! os-release in one signed PE file.
//!
//! Why a UKI: with our own keys the firmware can boot the kernel directly
//! (no shim, no GRUB), and one Authenticode signature covers the kernel,
//! the initrd and the command line, so none can be swapped on the ESP.
//! `systemd-ukify` is not packaged for Debian 12, so the image is put
//! together with objcopy the way ukify's first versions did: each payload
//! becomes a PE section placed after the stub's last section, at an
//! address aligned to the image's section alignment (read from the stub's
//! own headers by `pe`, so any stub version works). aarch64 stubs need
//! `aarch64-linux-gnu-objcopy`; the host objcopy cannot write them.

use super::keys::Signer;
use super::pe::{self, PeInfo};
use super::sign::sign_with;
use crate::distro::arch::Arch;
use crate::tools;
use anyhow::{bail, Context, Result};
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};

/// Where systemd-boot-efi installs its stubs.
pub const STUB_DIR: &str = "/usr/lib/systemd/boot/efi";
/// Overrides `STUB_DIR` (tests, hosts with the stub elsewhere).
pub const STUB_DIR_ENV: &str = "IMAGE_BUILDER_EFI_STUB_DIR";
/// Smallest alignment for added sections: a page, whatever the stub says,
/// so firmware that maps sections with page granularity is happy.
const MIN_ALIGN: u64 = 0x1000;

/// Everything that goes into one UKI.
#[derive(Debug, Clone)]
pub struct UkiSpec {
    pub stub: PathBuf,
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    pub cmdline: String,
    pub os_release: PathBuf,
    pub arch: &'static Arch,
}

/// The systemd-stub file for `arch` (`$IMAGE_BUILDER_EFI_STUB_DIR` or
/// `/usr/lib/systemd/boot/efi`).
pub fn default_stub(arch: &Arch) -> Result<PathBuf> {
    let Some(efi) = arch.efi else {
        bail!("{} has no UEFI boot, so no UKI", arch.name);
    };
    let dir = std::env::var_os(STUB_DIR_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(STUB_DIR));
    Ok(dir.join(efi.stub))
}

/// objcopy able to edit EFI files of `arch` and the PE machine it must see.
fn objcopy_for(arch: &Arch) -> Result<(&'static str, u16)> {
    match arch.name {
        "x86_64" => Ok(("objcopy", pe::MACHINE_X64)),
        "aarch64" => Ok(("aarch64-linux-gnu-objcopy", pe::MACHINE_ARM64)),
        other => bail!("building a UKI for {other} is not supported"),
    }
}

/// One section to add: name, file, size.
struct Payload {
    name: &'static str,
    file: PathBuf,
    size: u64,
}

/// Assigns each payload an address after the stub's sections; returns
/// (name, absolute VMA) pairs for objcopy.
fn layout(stub: &PeInfo, payloads: &[Payload]) -> Vec<(&'static str, u64)> {
    let align = u64::from(stub.section_alignment).max(MIN_ALIGN);
    let mut next = pe::align_up(stub.end_of_sections(), align);
    payloads
        .iter()
        .map(|p| {
            let vma = next;
            next = pe::align_up(vma + p.size.max(1), align);
            (p.name, stub.image_base + vma)
        })
        .collect()
}

fn size_of(p: &Path) -> Result<u64> {
    let m = fs::metadata(p).with_context(|| format!("reading {}", p.display()))?;
    if !m.is_file() {
        bail!("{} is not a file", p.display());
    }
    Ok(m.len())
}

impl UkiSpec {
    /// Builds the UKI and signs it with `signer` into `out`.
    pub fn build(&self, out: &Path, signer: &Signer) -> Result<()> {
        let (objcopy, machine) = objcopy_for(self.arch)?;
        if self.cmdline.contains('\0') {
            bail!("kernel command line contains a NUL byte");
        }
        let stub_bytes = fs::read(&self.stub).with_context(|| {
            format!(
                "reading EFI stub {} (package systemd-boot-efi)",
                self.stub.display()
            )
        })?;
        let stub = PeInfo::parse(&stub_bytes).context("reading EFI stub")?;
        if stub.machine != machine {
            bail!(
                "EFI stub {} is for machine {:#x}, not {}",
                self.stub.display(),
                stub.machine,
                self.arch.name
            );
        }
        for s in [".osrel", ".cmdline", ".linux", ".initrd"] {
            if stub.section(s).is_some() {
                bail!("EFI stub {} already has a {s} section", self.stub.display());
            }
        }
        let scratch = tempfile::tempdir().context("creating a scratch directory")?;
        let cmdline = scratch.path().join("cmdline");
        fs::write(&cmdline, self.cmdline.trim().as_bytes()).context("writing cmdline")?;

        // .linux last: the kernel may want more memory than its file size
        // once loaded, and nothing follows it.
        let mut payloads = Vec::new();
        for (name, file) in [
            (".osrel", self.os_release.clone()),
            (".cmdline", cmdline),
            (".initrd", self.initrd.clone()),
            (".linux", self.kernel.clone()),
        ] {
            let size = size_of(&file)?;
            if size == 0 && name == ".cmdline" {
                continue;
            }
            if size == 0 {
                bail!("{} is empty", file.display());
            }
            payloads.push(Payload { name, file, size });
        }

        let unsigned = scratch.path().join("uki.unsigned.efi");
        let mut args: Vec<OsString> = Vec::new();
        for (p, (name, vma)) in payloads.iter().zip(layout(&stub, &payloads)) {
            let mut add = OsString::from(format!("{name}="));
            add.push(&p.file);
            args.extend([
                "--add-section".into(),
                add,
                "--change-section-vma".into(),
                format!("{name}={vma:#x}").into(),
            ]);
        }
        args.push(self.stub.clone().into());
        args.push(unsigned.clone().into());
        tools::run(objcopy, &args).context("assembling UKI")?;

        check_layout(&unsigned, &payloads)?;
        sign_with(&unsigned, out, signer).context("signing UKI")
    }
}

/// Checks the assembled image: every payload section present with its
/// file's size, and no two sections overlapping in memory.
fn check_layout(file: &Path, payloads: &[Payload]) -> Result<()> {
    let bytes = fs::read(file).context("reading assembled UKI")?;
    let info = PeInfo::parse(&bytes).context("reading assembled UKI")?;
    for p in payloads {
        let Some(s) = info.section(p.name) else {
            bail!("assembled UKI lacks section {}", p.name);
        };
        if u64::from(s.virtual_size) != p.size {
            bail!(
                "UKI section {} holds {} bytes, expected {}",
                p.name,
                s.virtual_size,
                p.size
            );
        }
    }
    if let Some((a, b)) = info.overlaps().into_iter().next() {
        bail!("UKI sections {a} and {b} overlap");
    }
    Ok(())
}

/// Builds a signed UKI from the default stub for `arch`.
pub fn build_uki(
    kernel: &Path,
    initrd: &Path,
    cmdline: &str,
    os_release: &Path,
    out: &Path,
    arch: &'static Arch,
    signer: &Signer,
) -> Result<()> {
    UkiSpec {
        stub: default_stub(arch)?,
        kernel: kernel.to_path_buf(),
        initrd: initrd.to_path_buf(),
        cmdline: cmdline.to_string(),
        os_release: os_release.to_path_buf(),
        arch,
    }
    .build(out, signer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stub(end: u32, align: u32, base: u64) -> PeInfo {
        PeInfo {
            machine: pe::MACHINE_X64,
            image_base: base,
            section_alignment: align,
            file_alignment: 0x200,
            size_of_image: end,
            sections: vec![pe::Section {
                name: ".sdmagic".into(),
                virtual_size: 0x34,
                virtual_address: end - 0x34,
                raw_size: 0x200,
                raw_offset: 0x400,
            }],
        }
    }

    fn payload(name: &'static str, size: u64) -> Payload {
        Payload {
            name,
            file: PathBuf::new(),
            size,
        }
    }

    #[test]
    fn sections_follow_the_stub_aligned() {
        // The Debian 12 stub: last section ends at 0x19300, alignment 0x200.
        let s = stub(0x19134, 0x200, 0);
        let l = layout(
            &s,
            &[
                payload(".osrel", 100),
                payload(".cmdline", 0x1000),
                payload(".linux", 0x1001),
            ],
        );
        assert_eq!(
            l,
            vec![
                (".osrel", 0x1a000),
                (".cmdline", 0x1b000),
                (".linux", 0x1c000)
            ]
        );
    }

    #[test]
    fn honours_large_alignment_and_image_base() {
        let s = stub(0x10010, 0x10000, 0x1_0000_0000);
        let l = layout(&s, &[payload(".osrel", 1), payload(".linux", 1)]);
        assert_eq!(
            l,
            vec![(".osrel", 0x1_0002_0000), (".linux", 0x1_0003_0000)]
        );
    }

    #[test]
    fn unsupported_arch_is_an_error() {
        let ppc = crate::distro::arch::lookup("ppc64le").unwrap();
        assert!(default_stub(ppc).is_err() || objcopy_for(ppc).is_err());
    }
}
