//! Disk layouts: the partition table a disk output will get, decided from
//! the distro's defaults, the arch, the firmware and the manifest's
//! filesystem customizations. Everything is in bytes, 1 MiB aligned, so
//! the disk builder only has to write what this says.
//!
//! Defaults follow AlmaLinux's cloud images: BIOS boot 1 MiB (x86 hybrid),
//! ESP 200 MiB, /boot 1 GiB, root filling the rest; ppc64le gets a 4 MiB
//! PReP partition and an MBR, s390x an MBR with /boot and root.

use crate::distro::Arch;
use crate::manifest::ours::{Firmware, PartitionTableType};
use crate::manifest::size::Size;
use serde::Serialize;

pub const MIB: u64 = 1 << 20;
pub const GIB: u64 = 1 << 30;
/// Disk size when neither the output nor the customizations say.
pub const DEFAULT_DISK: u64 = 10 * GIB;
/// Smallest root filesystem we accept.
const MIN_ROOT: u64 = 512 * MIB;

/// GPT type GUIDs (UEFI spec and the Discoverable Partitions Specification).
pub mod guid {
    pub const ESP: &str = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b";
    pub const BIOS_BOOT: &str = "21686148-6449-6e6f-744e-656564454649";
    pub const XBOOTLDR: &str = "bc13c2ff-59e6-4262-a352-b275fd6f7172";
    pub const SWAP: &str = "0657fd6d-a4ab-43c4-84e5-0933c84b4f4f";
    pub const HOME: &str = "933ac7e1-2eb4-4f13-b844-0e14e2aef915";
    pub const SRV: &str = "3b8f8425-20e0-4f3b-907f-1a25a76f98e8";
    pub const VAR: &str = "4d21b016-b534-45c2-a9fb-5c16e091fd2d";
    pub const VAR_TMP: &str = "7ec6f557-3bc5-4aca-b293-16ef5df639d1";
    pub const LINUX_DATA: &str = "0fc63daf-8483-4772-8e79-3d69d8477de4";
    pub const LVM: &str = "e6d6d379-f507-44c2-a23c-238f2a3df928";
    pub const PREP: &str = "9e1a2d38-c612-4316-aa26-8b49521e5a8b";
}

/// What a partition is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    BiosBoot,
    Prep,
    Esp,
    Boot,
    Root,
    Data,
    Swap,
    Lvm,
}

/// One partition of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Partition {
    pub role: Role,
    /// GPT partition name (PARTLABEL).
    pub label: String,
    /// GPT type GUID, or MBR type byte as `0x83` on a dos table.
    pub type_id: String,
    pub start: u64,
    pub size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fs: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mountpoint: Option<String>,
    /// Grows to fill the disk (and on first boot, to fill a bigger one).
    pub grow: bool,
    /// Bootable flag (MBR) / legacy BIOS bootable attribute (GPT).
    pub bootable: bool,
}

/// A disk layout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiskLayout {
    pub table: PartitionTableType,
    pub size: u64,
    pub partitions: Vec<Partition>,
}

/// A filesystem request: `[[customizations.filesystem]]` or a plain
/// partition from `[customizations.disk]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsRequest {
    pub mountpoint: String,
    pub minsize: u64,
    pub fs: Option<String>,
    pub label: Option<String>,
}

/// Inputs of a layout decision.
pub struct LayoutInput<'a> {
    pub arch: &'a Arch,
    pub firmware: Firmware,
    pub table: Option<PartitionTableType>,
    pub size: Option<Size>,
    pub default_fs: &'a str,
    pub filesystems: &'a [FsRequest],
    /// Cloud images grow root on first boot; installer targets do not care.
    pub swap: Option<u64>,
}

fn align(n: u64) -> u64 {
    n.div_ceil(MIB) * MIB
}

fn mbr(t: &str) -> String {
    t.to_string()
}

fn data_guid(arch: &Arch, mp: &str) -> &'static str {
    match mp {
        "/" => arch.root_guid,
        "/home" => guid::HOME,
        "/srv" => guid::SRV,
        "/var" => guid::VAR,
        "/var/tmp" => guid::VAR_TMP,
        "/boot" => guid::XBOOTLDR,
        _ => guid::LINUX_DATA,
    }
}

fn label_for(mp: &str) -> String {
    match mp {
        "/" => "root".into(),
        other => other.trim_start_matches('/').replace('/', "-"),
    }
}

/// Decides the layout. Errors are sentences for the user.
pub fn decide(input: &LayoutInput) -> Result<DiskLayout, String> {
    let arch = input.arch;
    let table = input.table.unwrap_or(if arch.prep || arch.name == "s390x" {
        PartitionTableType::Dos
    } else {
        PartitionTableType::Gpt
    });
    let gpt = table == PartitionTableType::Gpt;
    let mut parts: Vec<Partition> = vec![];
    let mut push = |role,
                    label: &str,
                    gpt_type: &str,
                    mbr_type: &str,
                    size: u64,
                    fs: Option<&str>,
                    mp: Option<&str>,
                    bootable: bool| {
        parts.push(Partition {
            role,
            label: label.to_string(),
            type_id: if gpt {
                gpt_type.to_string()
            } else {
                mbr(mbr_type)
            },
            start: 0,
            size: align(size),
            fs: fs.map(str::to_string),
            mountpoint: mp.map(str::to_string),
            grow: false,
            bootable,
        })
    };

    let uefi = matches!(input.firmware, Firmware::Uefi | Firmware::Hybrid) && arch.has_uefi();
    let bios = matches!(input.firmware, Firmware::Bios | Firmware::Hybrid) && arch.bios;
    if bios && gpt {
        push(
            Role::BiosBoot,
            "bios-boot",
            guid::BIOS_BOOT,
            "",
            MIB,
            None,
            None,
            false,
        );
    }
    if arch.prep {
        push(
            Role::Prep,
            "prep",
            guid::PREP,
            "0x41",
            4 * MIB,
            None,
            None,
            true,
        );
    }
    if uefi {
        push(
            Role::Esp,
            "esp",
            guid::ESP,
            "0xef",
            200 * MIB,
            Some("vfat"),
            Some("/boot/efi"),
            false,
        );
    }

    let mut reqs: Vec<FsRequest> = input.filesystems.to_vec();
    reqs.sort_by(|a, b| a.mountpoint.cmp(&b.mountpoint));
    for w in reqs.windows(2) {
        if w[0].mountpoint == w[1].mountpoint {
            return Err(format!("mountpoint \"{}\" is given twice", w[0].mountpoint));
        }
    }
    for r in reqs.iter().filter(|r| r.fs.as_deref() != Some("swap")) {
        crate::manifest::mountpoint::check(&r.mountpoint)?;
    }
    let boot_req = reqs.iter().find(|r| r.mountpoint == "/boot");
    let boot_size = boot_req.map(|r| r.minsize.max(512 * MIB)).unwrap_or(GIB);
    let boot_fs = boot_req
        .and_then(|r| r.fs.clone())
        .unwrap_or_else(|| input.default_fs.to_string());
    push(
        Role::Boot,
        "boot",
        guid::XBOOTLDR,
        "0x83",
        boot_size,
        Some(&boot_fs),
        Some("/boot"),
        !gpt && !arch.prep,
    );
    for r in reqs
        .iter()
        .filter(|r| r.mountpoint != "/" && r.mountpoint != "/boot")
    {
        let fs = r.fs.clone().unwrap_or_else(|| input.default_fs.to_string());
        if fs == "swap" {
            push(
                Role::Swap,
                &r.label.clone().unwrap_or_else(|| "swap".into()),
                guid::SWAP,
                "0x82",
                r.minsize,
                Some("swap"),
                None,
                false,
            );
        } else {
            let label = r.label.clone().unwrap_or_else(|| label_for(&r.mountpoint));
            push(
                Role::Data,
                &label,
                data_guid(arch, &r.mountpoint),
                "0x83",
                r.minsize,
                Some(&fs),
                Some(&r.mountpoint),
                false,
            );
        }
    }
    if let Some(s) = input.swap {
        push(
            Role::Swap,
            "swap",
            guid::SWAP,
            "0x82",
            s,
            Some("swap"),
            None,
            false,
        );
    }
    let root_req = reqs.iter().find(|r| r.mountpoint == "/");
    let root_min = root_req.map(|r| r.minsize).unwrap_or(0).max(MIN_ROOT);
    let root_fs = root_req
        .and_then(|r| r.fs.clone())
        .unwrap_or_else(|| input.default_fs.to_string());
    if !gpt && parts.len() >= 4 {
        return Err(format!(
            "an MBR (dos) table holds 4 primary partitions and this layout needs {}; use partition_table = \"gpt\"",
            parts.len() + 1
        ));
    }

    // Place partitions: 1 MiB in, 1 MiB spare at the end for the GPT backup.
    let mut offset = MIB;
    for p in parts.iter_mut() {
        p.start = offset;
        offset += p.size;
    }
    let fixed_end = offset;
    let needed = fixed_end + align(root_min) + MIB;
    let size = match input.size {
        Some(s) if align(s.bytes()) < needed => {
            return Err(format!(
                "the disk size {} is too small: this layout needs at least {}",
                s,
                Size(needed)
            ))
        }
        Some(s) => align(s.bytes()),
        None => DEFAULT_DISK.max(needed),
    };
    parts.push(Partition {
        role: Role::Root,
        label: "root".into(),
        type_id: if gpt {
            arch.root_guid.to_string()
        } else {
            mbr("0x83")
        },
        start: fixed_end,
        size: size - MIB - fixed_end,
        fs: Some(root_fs),
        mountpoint: Some("/".into()),
        grow: true,
        bootable: false,
    });
    Ok(DiskLayout {
        table,
        size,
        partitions: parts,
    })
}

/// Grows the disk to a whole number of `unit`s, the growing partition
/// (root, always last) taking the extra space. Google's image import
/// takes raw disks of whole GiB only; a layout that already is one is
/// left as it is.
pub fn round_up(l: &mut DiskLayout, unit: u64) {
    let size = l.size.div_ceil(unit) * unit;
    let extra = size - l.size;
    if extra == 0 {
        return;
    }
    if let Some(p) = l.partitions.iter_mut().rev().find(|p| p.grow) {
        p.size += extra;
        l.size = size;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::distro::arch::lookup;

    fn input<'a>(arch: &'a str, fw: Firmware, fs: &'a [FsRequest]) -> LayoutInput<'a> {
        LayoutInput {
            arch: lookup(arch).unwrap(),
            firmware: fw,
            table: None,
            size: None,
            default_fs: "xfs",
            filesystems: fs,
            swap: None,
        }
    }

    fn roles(l: &DiskLayout) -> Vec<Role> {
        l.partitions.iter().map(|p| p.role).collect()
    }

    #[test]
    fn default_layouts_per_arch() {
        let x = decide(&input("x86_64", Firmware::Hybrid, &[])).unwrap();
        assert_eq!(
            roles(&x),
            [Role::BiosBoot, Role::Esp, Role::Boot, Role::Root]
        );
        assert_eq!(x.size, DEFAULT_DISK);
        assert_eq!(x.partitions[0].start, MIB);
        assert_eq!(
            x.partitions[3].type_id,
            "4f68bce3-e8cd-4db1-96e7-fbcaf984b709"
        );
        let a = decide(&input("aarch64", Firmware::Uefi, &[])).unwrap();
        assert_eq!(roles(&a), [Role::Esp, Role::Boot, Role::Root]);
        assert_eq!(
            a.partitions[2].type_id,
            "b921b045-1df0-41c3-af44-4c6f280d3fae"
        );
        let p = decide(&input("ppc64le", Firmware::Bios, &[])).unwrap();
        assert_eq!(p.table, PartitionTableType::Dos);
        assert_eq!(roles(&p), [Role::Prep, Role::Boot, Role::Root]);
        assert_eq!(p.partitions[0].type_id, "0x41");
        let s = decide(&input("s390x", Firmware::Bios, &[])).unwrap();
        assert_eq!(roles(&s), [Role::Boot, Role::Root]);
    }

    #[test]
    fn partitions_are_aligned_contiguous_and_fit() {
        let fs = [
            FsRequest {
                mountpoint: "/var".into(),
                minsize: 3 * GIB + 5,
                fs: None,
                label: None,
            },
            FsRequest {
                mountpoint: "/".into(),
                minsize: 8 * GIB,
                fs: None,
                label: None,
            },
        ];
        let l = decide(&input("x86_64", Firmware::Hybrid, &fs)).unwrap();
        let mut end = MIB;
        for p in &l.partitions {
            assert_eq!(p.start % MIB, 0);
            assert_eq!(p.size % MIB, 0);
            assert_eq!(p.start, end);
            end = p.start + p.size;
        }
        assert_eq!(end + MIB, l.size);
        let root = l.partitions.last().unwrap();
        assert!(root.size >= 8 * GIB);
        let var = l
            .partitions
            .iter()
            .find(|p| p.mountpoint.as_deref() == Some("/var"))
            .unwrap();
        assert_eq!(var.size, 3 * GIB + MIB);
        assert_eq!(var.type_id, guid::VAR);
    }

    #[test]
    fn too_small_disk_and_bad_mountpoints_are_errors() {
        let mut i = input("x86_64", Firmware::Uefi, &[]);
        i.size = Some(Size(1 << 30));
        assert!(decide(&i).unwrap_err().contains("too small"));
        for mp in [
            "usr",
            "/usr",
            "/etc/x",
            "/var/../etc",
            "/home/",
            "/boot/efi",
            "/boot/grub2",
        ] {
            let fs = [FsRequest {
                mountpoint: mp.into(),
                minsize: GIB,
                fs: None,
                label: None,
            }];
            assert!(
                decide(&input("x86_64", Firmware::Uefi, &fs)).is_err(),
                "{mp}"
            );
        }
    }

    #[test]
    fn swap_and_data_partitions_get_dps_types_and_root_stays_last() {
        let fs = [
            FsRequest {
                mountpoint: "swap".into(),
                minsize: 128 * MIB,
                fs: Some("swap".into()),
                label: None,
            },
            FsRequest {
                mountpoint: "/var/log".into(),
                minsize: 256 * MIB,
                fs: Some("ext4".into()),
                label: None,
            },
            FsRequest {
                mountpoint: "/home".into(),
                minsize: 320 * MIB,
                fs: None,
                label: None,
            },
        ];
        let l = decide(&input("x86_64", Firmware::Uefi, &fs)).unwrap();
        let got: Vec<(Role, &str, Option<&str>, &str)> = l
            .partitions
            .iter()
            .map(|p| {
                (
                    p.role,
                    p.type_id.as_str(),
                    p.mountpoint.as_deref(),
                    p.fs.as_deref().unwrap_or(""),
                )
            })
            .collect();
        assert_eq!(
            got[2..],
            [
                (Role::Data, guid::HOME, Some("/home"), "xfs"),
                (Role::Data, guid::LINUX_DATA, Some("/var/log"), "ext4"),
                (Role::Swap, guid::SWAP, None, "swap"),
                (
                    Role::Root,
                    lookup("x86_64").unwrap().root_guid,
                    Some("/"),
                    "xfs"
                ),
            ]
        );
        assert_eq!(l.partitions[3].label, "var-log");
        // MBR: four primary partitions at most, swap typed 0x82.
        let mut i = input("x86_64", Firmware::Uefi, &fs);
        i.table = Some(PartitionTableType::Dos);
        assert!(decide(&i).unwrap_err().contains("4 primary partitions"));
        let mut i = input("x86_64", Firmware::Bios, &fs[..2]);
        i.table = Some(PartitionTableType::Dos);
        let d = decide(&i).unwrap();
        assert_eq!(
            d.partitions
                .iter()
                .map(|p| p.type_id.as_str())
                .collect::<Vec<_>>(),
            ["0x83", "0x83", "0x82", "0x83"]
        );
    }

    #[test]
    fn dos_table_has_no_bios_boot_partition_and_marks_boot_bootable() {
        let mut i = input("x86_64", Firmware::Bios, &[]);
        i.table = Some(PartitionTableType::Dos);
        let l = decide(&i).unwrap();
        assert_eq!(roles(&l), [Role::Boot, Role::Root]);
        assert!(l.partitions[0].bootable);
        assert_eq!(l.partitions[0].type_id, "0x83");
    }

    #[test]
    fn round_up_grows_root_to_whole_gib() {
        let fs: Vec<FsRequest> = vec![];
        for (asked, want) in [
            (2500 * MIB, 3 * GIB),
            (3 * GIB, 3 * GIB),
            (8705 * MIB, 9 * GIB),
        ] {
            let mut i = input("x86_64", Firmware::Hybrid, &fs);
            i.size = Some(Size(asked));
            let mut l = decide(&i).unwrap();
            let before = l.clone();
            round_up(&mut l, GIB);
            assert_eq!(l.size, want);
            let (root, rest) = l.partitions.split_last().unwrap();
            assert_eq!(rest, &before.partitions[..rest.len()]);
            assert_eq!(root.role, Role::Root);
            assert_eq!(
                root.start + root.size + MIB,
                l.size,
                "1 MiB kept for the backup GPT"
            );
        }
    }
}
