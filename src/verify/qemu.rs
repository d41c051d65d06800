//! The QEMU command line for a verification boot, as a pure function of
//! the arch, firmware files, accelerator and disk, so every flag that
//! matters (SMM, secure pflash, `-smp 1`, `-nic none`, the read-only disk
//! with a throwaway overlay) is pinned by table tests instead of being
//! rediscovered in a failing boot.
//!
//! Why these flags: OVMF's Secure Boot build needs SMM and a secure pflash,
//! or the variable store is not protected and the firmware refuses to start;
//! more than one vCPU doubles SMM boot time under TCG; without `-nic none`
//! the firmware spends minutes on PXE. UEFI guests may reset once on
//! their own: shim's fallback loader (EFI/BOOT/fbx64.efi) writes the boot
//! entries of a fresh disk and resets, as on real hardware, so UEFI boots
//! keep resets; a reboot loop still cannot hide a failure, because panics
//! and refusals are matched on the console and a deadline bounds the run.
//! BIOS boots get `-no-reboot`.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

use crate::distro::arch::Arch;
use crate::error::InputError;

/// Secure Boot setting of a verification boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SecureBoot {
    /// Microsoft keys enrolled, enforced (what real PCs ship with).
    Ms,
    /// Our own PK/KEK/db enrolled from a keys directory, enforced.
    Custom,
    /// No keys: Secure Boot disabled.
    Off,
}

impl SecureBoot {
    pub fn parse(s: &str) -> Result<Self, InputError> {
        match s {
            "ms" | "microsoft" | "distro" => Ok(Self::Ms),
            "custom" => Ok(Self::Custom),
            "off" | "none" => Ok(Self::Off),
            _ => Err(InputError(format!(
                "unknown --secureboot `{s}` (expected ms, custom or off)"
            ))),
        }
    }
}

/// Firmware kind of a verification boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FirmwareKind {
    Uefi,
    Bios,
}

impl FirmwareKind {
    pub fn parse(s: &str) -> Result<Self, InputError> {
        match s {
            "uefi" | "efi" => Ok(Self::Uefi),
            "bios" | "seabios" => Ok(Self::Bios),
            _ => Err(InputError(format!(
                "unknown --firmware `{s}` (expected uefi or bios)"
            ))),
        }
    }
}

/// Accelerator as asked for on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Accel {
    Tcg,
    Kvm,
    /// KVM if a probe boot shows it works, else TCG.
    Auto,
}

impl Accel {
    pub fn parse(s: &str) -> Result<Self, InputError> {
        match s {
            "tcg" => Ok(Self::Tcg),
            "kvm" => Ok(Self::Kvm),
            "auto" => Ok(Self::Auto),
            _ => Err(InputError(format!(
                "unknown --accel `{s}` (expected tcg, kvm or auto)"
            ))),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Tcg | Self::Auto => "tcg",
            Self::Kvm => "kvm",
        }
    }
}

/// Disk image formats QEMU is given explicitly (never probed by QEMU,
/// which would let a raw image pose as qcow2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DiskFormat {
    Raw,
    Qcow2,
    Vmdk,
    Vpc,
}

impl DiskFormat {
    pub fn name(self) -> &'static str {
        match self {
            Self::Raw => "raw",
            Self::Qcow2 => "qcow2",
            Self::Vmdk => "vmdk",
            Self::Vpc => "vpc",
        }
    }
}

/// The format from `qemu-img info --output=json`.
pub fn parse_format(info_json: &str) -> Result<DiskFormat, String> {
    let v: serde_json::Value =
        serde_json::from_str(info_json).map_err(|e| format!("unreadable qemu-img info: {e}"))?;
    match v.get("format").and_then(|f| f.as_str()) {
        Some("raw") => Ok(DiskFormat::Raw),
        Some("qcow2") => Ok(DiskFormat::Qcow2),
        Some("vmdk") => Ok(DiskFormat::Vmdk),
        Some("vpc") => Ok(DiskFormat::Vpc),
        Some(other) => Err(format!(
            "unsupported disk format `{other}` (expected raw, qcow2, vmdk or vpc)"
        )),
        None => Err("qemu-img info reported no format".into()),
    }
}

/// Detects the format of `disk`; an unknown format is bad input.
pub fn detect_format(disk: &Path) -> Result<DiskFormat> {
    let out = crate::tools::run(
        "qemu-img",
        &["info".as_ref(), "--output=json".as_ref(), disk.as_os_str()],
    )
    .with_context(|| format!("inspecting {}", disk.display()))?;
    parse_format(&String::from_utf8_lossy(&out.stdout))
        .map_err(|e| InputError(format!("{}: {e}", disk.display())).into())
}

/// How the artifact is attached: a fixed virtio disk, or removable media
/// (an ISO as a CD-ROM drive, or as a USB stick on an xHCI controller).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Media {
    Disk,
    Cdrom,
    Usb,
}

impl Media {
    pub fn parse(s: &str) -> Result<Self, InputError> {
        match s {
            "disk" => Ok(Self::Disk),
            "cdrom" | "cd" | "dvd" => Ok(Self::Cdrom),
            "usb" => Ok(Self::Usb),
            _ => Err(InputError(format!(
                "unknown --media `{s}` (expected disk, cdrom or usb)"
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Disk => "disk",
            Self::Cdrom => "cdrom",
            Self::Usb => "usb",
        }
    }
}

/// Firmware files of one boot (already prepared: `vars` is a private copy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirmwareFiles {
    /// QEMU's own BIOS (SeaBIOS on x86); no pflash.
    Bios,
    Uefi {
        code: PathBuf,
        vars: PathBuf,
    },
}

/// Everything one QEMU run needs.
#[derive(Debug, Clone)]
pub struct Spec<'a> {
    pub arch: &'static Arch,
    pub firmware: FirmwareFiles,
    /// Resolved accelerator (`Auto` means TCG here).
    pub accel: Accel,
    /// None for firmware-only probe boots.
    pub disk: Option<(&'a Path, DiskFormat)>,
    pub media: Media,
    pub serial_log: &'a Path,
    pub memory_mib: u32,
}

/// QEMU's option syntax doubles commas inside values.
fn esc(p: &Path) -> String {
    p.to_string_lossy().replace(',', ",,")
}

fn is_x86(arch: &Arch) -> bool {
    arch.name.starts_with("x86_64")
}

/// The program and arguments for `spec`.
pub fn command(spec: &Spec) -> (String, Vec<String>) {
    let q = &spec.arch.qemu;
    let x86 = is_x86(spec.arch);
    let uefi = matches!(spec.firmware, FirmwareFiles::Uefi { .. });
    let mut machine = q.machine.to_string();
    if x86 && uefi {
        machine.push_str(",smm=on");
    }
    machine.push_str(",accel=");
    machine.push_str(spec.accel.name());
    let mut a: Vec<String> = vec![
        "-machine".into(),
        machine,
        "-cpu".into(),
        q.cpu.into(),
        "-smp".into(),
        "1".into(),
        "-m".into(),
        spec.memory_mib.to_string(),
        "-nic".into(),
        "none".into(),
        "-display".into(),
        "none".into(),
        "-monitor".into(),
        "none".into(),
        "-chardev".into(),
        format!("file,id=serial0,path={}", esc(spec.serial_log)),
        "-serial".into(),
        "chardev:serial0".into(),
    ];
    if !matches!(spec.firmware, FirmwareFiles::Uefi { .. }) {
        a.push("-no-reboot".into());
    }
    if let FirmwareFiles::Uefi { code, vars } = &spec.firmware {
        if x86 {
            a.extend([
                "-global".into(),
                "driver=cfi.pflash01,property=secure,value=on".into(),
            ]);
        }
        a.extend([
            "-drive".into(),
            format!("if=pflash,format=raw,unit=0,readonly=on,file={}", esc(code)),
            "-drive".into(),
            format!("if=pflash,format=raw,unit=1,file={}", esc(vars)),
        ]);
    }
    if let Some((disk, fmt)) = spec.disk {
        // snapshot=on: writes go to a temporary overlay QEMU deletes; the
        // image itself is only read. A CD-ROM is read-only anyway.
        match spec.media {
            Media::Disk => a.extend([
                "-drive".into(),
                format!(
                    "if=virtio,format={},snapshot=on,file={}",
                    fmt.name(),
                    esc(disk)
                ),
            ]),
            Media::Cdrom => a.extend([
                "-drive".into(),
                format!(
                    "if=none,id=cd0,media=cdrom,readonly=on,format={},file={}",
                    fmt.name(),
                    esc(disk)
                ),
                "-device".into(),
                if x86 {
                    "ide-cd,drive=cd0,bootindex=0"
                } else {
                    "scsi-cd,drive=cd0,bootindex=0"
                }
                .into(),
            ]),
            Media::Usb => a.extend([
                "-device".into(),
                "qemu-xhci,id=xhci".into(),
                "-drive".into(),
                format!(
                    "if=none,id=usb0,format={},snapshot=on,file={}",
                    fmt.name(),
                    esc(disk)
                ),
                "-device".into(),
                "usb-storage,bus=xhci.0,drive=usb0,removable=on,bootindex=0".into(),
            ]),
        }
        if spec.media == Media::Cdrom && !x86 {
            a.extend(["-device".into(), "virtio-scsi-pci".into()]);
        }
    }
    (q.binary.to_string(), a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::distro::arch::lookup;

    fn line(spec: &Spec) -> String {
        let (p, a) = command(spec);
        format!("{p} {}", a.join(" "))
    }

    #[test]
    fn command_lines_table() {
        let log = Path::new("/w/serial.log");
        let disk = Path::new("/img/disk.qcow2");
        let uefi = |code: &str| FirmwareFiles::Uefi {
            code: code.into(),
            vars: "/w/vars.fd".into(),
        };
        let cases: &[(&str, FirmwareFiles, Accel, &str)] = &[
            (
                "x86_64",
                uefi("/usr/share/OVMF/OVMF_CODE_4M.secboot.fd"),
                Accel::Tcg,
                "qemu-system-x86_64 -machine q35,smm=on,accel=tcg -cpu max -smp 1 -m 1024 \
                 -nic none -display none -monitor none \
                 -chardev file,id=serial0,path=/w/serial.log -serial chardev:serial0 \
                 -global driver=cfi.pflash01,property=secure,value=on \
                 -drive if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.secboot.fd \
                 -drive if=pflash,format=raw,unit=1,file=/w/vars.fd \
                 -drive if=virtio,format=qcow2,snapshot=on,file=/img/disk.qcow2",
            ),
            (
                "x86_64",
                FirmwareFiles::Bios,
                Accel::Kvm,
                "qemu-system-x86_64 -machine q35,accel=kvm -cpu max -smp 1 -m 1024 \
                 -nic none -display none -monitor none \
                 -chardev file,id=serial0,path=/w/serial.log -serial chardev:serial0 -no-reboot \
                 -drive if=virtio,format=qcow2,snapshot=on,file=/img/disk.qcow2",
            ),
            (
                "aarch64",
                uefi("/usr/share/AAVMF/AAVMF_CODE.fd"),
                Accel::Auto,
                "qemu-system-aarch64 -machine virt,accel=tcg -cpu cortex-a57 -smp 1 -m 1024 \
                 -nic none -display none -monitor none \
                 -chardev file,id=serial0,path=/w/serial.log -serial chardev:serial0 \
                 -drive if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/AAVMF/AAVMF_CODE.fd \
                 -drive if=pflash,format=raw,unit=1,file=/w/vars.fd \
                 -drive if=virtio,format=qcow2,snapshot=on,file=/img/disk.qcow2",
            ),
        ];
        for (arch, fw, accel, want) in cases {
            let spec = Spec {
                arch: lookup(arch).unwrap(),
                firmware: fw.clone(),
                accel: *accel,
                disk: Some((disk, DiskFormat::Qcow2)),
                media: Media::Disk,
                serial_log: log,
                memory_mib: 1024,
            };
            let want = want.split_whitespace().collect::<Vec<_>>().join(" ");
            assert_eq!(line(&spec), want, "{arch} {fw:?}");
        }
    }

    #[test]
    fn commas_in_paths_are_escaped_and_probe_has_no_disk() {
        let spec = Spec {
            arch: lookup("x86_64").unwrap(),
            firmware: FirmwareFiles::Bios,
            accel: Accel::Tcg,
            disk: None,
            media: Media::Disk,
            serial_log: Path::new("/w/a,b.log"),
            memory_mib: 256,
        };
        let l = line(&spec);
        assert!(l.contains("path=/w/a,,b.log"), "{l}");
        assert!(!l.contains("if=virtio"), "{l}");
        assert!(l.contains("-m 256"), "{l}");
    }

    #[test]
    fn removable_media() {
        let spec = |media, arch| Spec {
            arch: lookup(arch).unwrap(),
            firmware: FirmwareFiles::Bios,
            accel: Accel::Tcg,
            disk: Some((Path::new("/o/live.iso"), DiskFormat::Raw)),
            media,
            serial_log: Path::new("/w/s.log"),
            memory_mib: 1024,
        };
        let l = line(&spec(Media::Cdrom, "x86_64"));
        assert!(
            l.ends_with("-drive if=none,id=cd0,media=cdrom,readonly=on,format=raw,file=/o/live.iso -device ide-cd,drive=cd0,bootindex=0"),
            "{l}"
        );
        let l = line(&spec(Media::Usb, "x86_64"));
        assert!(
            l.ends_with("-device qemu-xhci,id=xhci -drive if=none,id=usb0,format=raw,snapshot=on,file=/o/live.iso -device usb-storage,bus=xhci.0,drive=usb0,removable=on,bootindex=0"),
            "{l}"
        );
        let l = line(&spec(Media::Cdrom, "aarch64"));
        assert!(
            l.contains("scsi-cd,drive=cd0") && l.contains("virtio-scsi-pci"),
            "{l}"
        );
        assert_eq!(Media::parse("usb").unwrap(), Media::Usb);
        assert!(Media::parse("floppy").is_err());
    }

    #[test]
    fn formats_from_qemu_img_info() {
        for (json, want) in [
            (
                r#"{"format": "raw", "virtual-size": 1}"#,
                Ok(DiskFormat::Raw),
            ),
            (r#"{"format": "qcow2"}"#, Ok(DiskFormat::Qcow2)),
            (r#"{"format": "vmdk"}"#, Ok(DiskFormat::Vmdk)),
            (r#"{"format": "vpc"}"#, Ok(DiskFormat::Vpc)),
        ] {
            assert_eq!(parse_format(json), want);
        }
        assert!(parse_format(r#"{"format": "vdi"}"#)
            .unwrap_err()
            .contains("unsupported disk format `vdi`"));
        assert!(parse_format("{}").is_err());
        assert!(parse_format("not json").is_err());
    }

    #[test]
    fn flags_parse() {
        assert_eq!(SecureBoot::parse("ms").unwrap(), SecureBoot::Ms);
        assert_eq!(SecureBoot::parse("custom").unwrap(), SecureBoot::Custom);
        assert_eq!(SecureBoot::parse("off").unwrap(), SecureBoot::Off);
        assert!(SecureBoot::parse("on").is_err());
        assert_eq!(FirmwareKind::parse("bios").unwrap(), FirmwareKind::Bios);
        assert!(FirmwareKind::parse("coreboot").is_err());
        assert_eq!(Accel::parse("auto").unwrap(), Accel::Auto);
        assert!(Accel::parse("hvf").is_err());
    }
}
