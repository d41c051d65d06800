//! The architecture model: everything that differs per CPU architecture,
//! in one table. Arches are code rather than data files because other code
//! matches on them (EFI file names, QEMU invocation, partition GUIDs) and
//! a new one needs new code anyway.

use serde::Serialize;

/// OCI image platform (`architecture` + `variant` in an image index).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct OciPlatform {
    pub os: &'static str,
    pub architecture: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<&'static str>,
}

/// File names of the UEFI boot chain on the ESP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct EfiNames {
    /// Removable-media path under EFI/BOOT/ (`BOOTX64.EFI`).
    pub removable: &'static str,
    pub shim: &'static str,
    pub grub: &'static str,
    pub mokmanager: &'static str,
    pub fallback: &'static str,
    /// Boot entry list the fallback loader reads, in the vendor directory.
    pub csv: &'static str,
    /// systemd-stub file used to build a UKI.
    pub stub: &'static str,
}

/// Firmware images QEMU boots with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct QemuFirmware {
    /// UEFI code (Secure Boot capable build), read-only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uefi_code: Option<&'static str>,
    /// Variable store template with Microsoft keys enrolled; copied per run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uefi_vars_ms: Option<&'static str>,
    /// Empty variable store template (for our own keys).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uefi_vars_empty: Option<&'static str>,
    /// Non-UEFI firmware QEMU brings itself (SeaBIOS, SLOF, s390-ccw).
    pub builtin: &'static str,
}

/// How QEMU runs a guest of this arch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct QemuModel {
    pub binary: &'static str,
    pub machine: &'static str,
    pub cpu: &'static str,
    /// Instruction set level that CPU model guarantees (for x86 levels).
    pub cpu_level: &'static str,
    pub firmware: QemuFirmware,
    /// Serial console device name in the guest.
    pub console: &'static str,
}

/// One architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Arch {
    /// Our name, also the RPM arch of its own packages.
    pub name: &'static str,
    /// `$basearch` in repo URLs.
    pub basearch: &'static str,
    /// RPM arches installable on it, most preferred first (noarch last).
    pub rpm_arches: &'static [&'static str],
    pub oci: OciPlatform,
    /// UEFI boot chain names; None where the arch has no UEFI boot.
    pub efi: Option<EfiNames>,
    /// Can also boot with BIOS (hybrid images).
    pub bios: bool,
    /// Boots from a PReP partition (ppc64le, Open Firmware).
    pub prep: bool,
    /// Root partition type GUID (Discoverable Partitions Specification).
    pub root_guid: &'static str,
    pub qemu: QemuModel,
}

const OVMF: QemuFirmware = QemuFirmware {
    uefi_code: Some("/usr/share/OVMF/OVMF_CODE_4M.secboot.fd"),
    uefi_vars_ms: Some("/usr/share/OVMF/OVMF_VARS_4M.ms.fd"),
    uefi_vars_empty: Some("/usr/share/OVMF/OVMF_VARS_4M.fd"),
    builtin: "seabios",
};

const X64_EFI: EfiNames = EfiNames {
    removable: "BOOTX64.EFI",
    shim: "shimx64.efi",
    grub: "grubx64.efi",
    mokmanager: "mmx64.efi",
    fallback: "fbx64.efi",
    csv: "BOOTX64.CSV",
    stub: "linuxx64.efi.stub",
};

const X86_ROOT: &str = "4f68bce3-e8cd-4db1-96e7-fbcaf984b709";

/// Every architecture we build for.
pub const ARCHES: &[Arch] = &[
    Arch {
        name: "x86_64",
        basearch: "x86_64",
        rpm_arches: &["x86_64", "athlon", "i686", "i586", "i486", "i386", "noarch"],
        oci: OciPlatform {
            os: "linux",
            architecture: "amd64",
            variant: None,
        },
        efi: Some(X64_EFI),
        bios: true,
        prep: false,
        root_guid: X86_ROOT,
        qemu: QemuModel {
            binary: "qemu-system-x86_64",
            machine: "q35",
            // "max" under TCG has AVX2/BMI2/FMA/MOVBE: AlmaLinux 10's x86_64 is built for x86-64-v3.
            cpu: "max",
            cpu_level: "x86-64-v3",
            firmware: OVMF,
            console: "ttyS0",
        },
    },
    Arch {
        name: "x86_64_v2",
        basearch: "x86_64_v2",
        rpm_arches: &[
            "x86_64_v2",
            "x86_64",
            "athlon",
            "i686",
            "i586",
            "i486",
            "i386",
            "noarch",
        ],
        oci: OciPlatform {
            os: "linux",
            architecture: "amd64",
            variant: Some("v2"),
        },
        efi: Some(X64_EFI),
        bios: true,
        prep: false,
        root_guid: X86_ROOT,
        qemu: QemuModel {
            binary: "qemu-system-x86_64",
            machine: "q35",
            // SSE4.2 + POPCNT + CX16, no AVX: proves the v2 build runs where v3 would not.
            cpu: "Nehalem",
            cpu_level: "x86-64-v2",
            firmware: OVMF,
            console: "ttyS0",
        },
    },
    Arch {
        name: "aarch64",
        basearch: "aarch64",
        rpm_arches: &["aarch64", "noarch"],
        oci: OciPlatform {
            os: "linux",
            architecture: "arm64",
            variant: Some("v8"),
        },
        efi: Some(EfiNames {
            removable: "BOOTAA64.EFI",
            shim: "shimaa64.efi",
            grub: "grubaa64.efi",
            mokmanager: "mmaa64.efi",
            fallback: "fbaa64.efi",
            csv: "BOOTAA64.CSV",
            stub: "linuxaa64.efi.stub",
        }),
        bios: false,
        prep: false,
        root_guid: "b921b045-1df0-41c3-af44-4c6f280d3fae",
        qemu: QemuModel {
            binary: "qemu-system-aarch64",
            machine: "virt",
            cpu: "cortex-a57",
            cpu_level: "armv8.0-a",
            firmware: QemuFirmware {
                uefi_code: Some("/usr/share/AAVMF/AAVMF_CODE.fd"),
                uefi_vars_ms: Some("/usr/share/AAVMF/AAVMF_VARS.ms.fd"),
                // Debian's AAVMF_VARS.fd is all zeros; start from the MS store with keys deleted.
                uefi_vars_empty: Some("/usr/share/AAVMF/AAVMF_VARS.ms.fd"),
                builtin: "none",
            },
            console: "ttyAMA0",
        },
    },
    Arch {
        name: "ppc64le",
        basearch: "ppc64le",
        rpm_arches: &["ppc64le", "noarch"],
        oci: OciPlatform {
            os: "linux",
            architecture: "ppc64le",
            variant: None,
        },
        efi: None,
        bios: false,
        prep: true,
        root_guid: "c31c45e6-3f39-412e-80fb-4809c4980599",
        qemu: QemuModel {
            binary: "qemu-system-ppc64",
            machine: "pseries",
            cpu: "POWER9",
            cpu_level: "power9",
            firmware: QemuFirmware {
                uefi_code: None,
                uefi_vars_ms: None,
                uefi_vars_empty: None,
                builtin: "slof",
            },
            console: "hvc0",
        },
    },
    Arch {
        name: "s390x",
        basearch: "s390x",
        rpm_arches: &["s390x", "noarch"],
        oci: OciPlatform {
            os: "linux",
            architecture: "s390x",
            variant: None,
        },
        efi: None,
        bios: false,
        prep: false,
        root_guid: "5eead9a9-fe09-4a1e-a1d7-520d00531306",
        qemu: QemuModel {
            binary: "qemu-system-s390x",
            machine: "s390-ccw-virtio",
            cpu: "max",
            cpu_level: "z14",
            firmware: QemuFirmware {
                uefi_code: None,
                uefi_vars_ms: None,
                uefi_vars_empty: None,
                builtin: "s390-ccw",
            },
            console: "ttysclp0",
        },
    },
];

/// Looks an arch up by our name or a common alias (amd64, arm64, ppc64el).
pub fn lookup(name: &str) -> Option<&'static Arch> {
    let canonical = match name {
        "amd64" => "x86_64",
        "arm64" => "aarch64",
        "ppc64el" => "ppc64le",
        other => other,
    };
    ARCHES.iter().find(|a| a.name == canonical)
}

/// The arch this program runs on, as our name.
pub fn host() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "x86_64",
        "aarch64" => "aarch64",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        _ => "x86_64",
    }
}

pub fn names() -> Vec<&'static str> {
    ARCHES.iter().map(|a| a.name).collect()
}

impl Arch {
    /// libsolv arch policy string: `x86_64_v2:x86_64:...` (noarch is implied).
    pub fn solver_policy(&self) -> String {
        self.rpm_arches
            .iter()
            .filter(|a| **a != "noarch")
            .copied()
            .collect::<Vec<_>>()
            .join(":")
    }

    /// Whether a package of RPM arch `rpm_arch` installs on this arch.
    pub fn accepts(&self, rpm_arch: &str) -> bool {
        self.rpm_arches.contains(&rpm_arch)
    }

    pub fn has_uefi(&self) -> bool {
        self.efi.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpm_compat_table() {
        let cases: &[(&str, &str, bool)] = &[
            ("x86_64", "x86_64", true),
            ("x86_64", "noarch", true),
            ("x86_64", "x86_64_v2", false),
            ("x86_64", "aarch64", false),
            ("x86_64_v2", "x86_64_v2", true),
            ("x86_64_v2", "x86_64", true),
            ("x86_64_v2", "noarch", true),
            ("aarch64", "aarch64", true),
            ("aarch64", "x86_64", false),
            ("aarch64", "noarch", true),
            ("ppc64le", "ppc64le", true),
            ("ppc64le", "ppc64", false),
            ("s390x", "s390x", true),
            ("s390x", "noarch", true),
        ];
        for (arch, rpm, ok) in cases {
            assert_eq!(
                lookup(arch).unwrap().accepts(rpm),
                *ok,
                "{arch} accepts {rpm}"
            );
        }
    }

    #[test]
    fn preference_order_puts_own_arch_first_noarch_last() {
        for a in ARCHES {
            assert_eq!(a.rpm_arches[0], a.name);
            assert_eq!(*a.rpm_arches.last().unwrap(), "noarch");
        }
        assert_eq!(
            lookup("x86_64_v2").unwrap().solver_policy(),
            "x86_64_v2:x86_64:athlon:i686:i586:i486:i386"
        );
    }

    #[test]
    fn oci_platform_table() {
        let cases = [
            ("x86_64", "amd64", None),
            ("x86_64_v2", "amd64", Some("v2")),
            ("aarch64", "arm64", Some("v8")),
            ("ppc64le", "ppc64le", None),
            ("s390x", "s390x", None),
        ];
        for (arch, oci, variant) in cases {
            let a = lookup(arch).unwrap();
            assert_eq!(
                (a.oci.architecture, a.oci.variant),
                (oci, variant),
                "{arch}"
            );
            assert_eq!(a.oci.os, "linux");
        }
    }

    #[test]
    fn efi_names_table() {
        let cases = [
            (
                "x86_64",
                Some(("BOOTX64.EFI", "shimx64.efi", "grubx64.efi")),
            ),
            (
                "x86_64_v2",
                Some(("BOOTX64.EFI", "shimx64.efi", "grubx64.efi")),
            ),
            (
                "aarch64",
                Some(("BOOTAA64.EFI", "shimaa64.efi", "grubaa64.efi")),
            ),
            ("ppc64le", None),
            ("s390x", None),
        ];
        for (arch, want) in cases {
            let got = lookup(arch)
                .unwrap()
                .efi
                .map(|e| (e.removable, e.shim, e.grub));
            assert_eq!(got, want, "{arch}");
        }
    }

    #[test]
    fn qemu_table() {
        let cases = [
            ("x86_64", "qemu-system-x86_64", "q35", "max"),
            ("x86_64_v2", "qemu-system-x86_64", "q35", "Nehalem"),
            ("aarch64", "qemu-system-aarch64", "virt", "cortex-a57"),
            ("ppc64le", "qemu-system-ppc64", "pseries", "POWER9"),
            ("s390x", "qemu-system-s390x", "s390-ccw-virtio", "max"),
        ];
        for (arch, bin, machine, cpu) in cases {
            let q = lookup(arch).unwrap().qemu;
            assert_eq!((q.binary, q.machine, q.cpu), (bin, machine, cpu), "{arch}");
        }
        // The v2 CPU must not be the v3 one: that is the point of the v2 boot test.
        assert_ne!(
            lookup("x86_64").unwrap().qemu.cpu,
            lookup("x86_64_v2").unwrap().qemu.cpu
        );
    }

    #[test]
    fn boot_capabilities_table() {
        let cases = [
            ("x86_64", true, true, false),
            ("x86_64_v2", true, true, false),
            ("aarch64", true, false, false),
            ("ppc64le", false, false, true),
            ("s390x", false, false, false),
        ];
        for (arch, uefi, bios, prep) in cases {
            let a = lookup(arch).unwrap();
            assert_eq!((a.has_uefi(), a.bios, a.prep), (uefi, bios, prep), "{arch}");
        }
    }

    #[test]
    fn aliases() {
        assert_eq!(lookup("amd64").unwrap().name, "x86_64");
        assert_eq!(lookup("arm64").unwrap().name, "aarch64");
        assert_eq!(lookup("ppc64el").unwrap().name, "ppc64le");
        assert!(lookup("i686").is_none());
    }
}
