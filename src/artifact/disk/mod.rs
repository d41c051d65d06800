//! Disk images from a finished tree: partition table, filesystems, boot
//! chain, then the requested format.
//!
//! Nothing here mounts anything or needs a loop device for ext4 and FAT:
//! the ESP is written natively (`esp`), ext4 filesystems are populated by
//! `mkfs.ext4 -d`, and the partition table by `sfdisk` on a plain file.
//! Filesystem images are made as separate sparse files and copied into the
//! disk at their offsets, holes kept. The tree is split by renaming its
//! /boot/efi and /boot aside (cheap, same filesystem), so each filesystem
//! gets exactly its own files.
//!
//! Identifiers (disk GUID, partition UUIDs, filesystem UUIDs, the BLS
//! machine id) are derived from a seed (the artifact name and the locked
//! package checksums), so rebuilding from one lockfile names everything
//! the same.

pub mod bootloader;
pub mod builder;
pub mod deploy;
pub mod esp;
pub mod fs;
pub mod gce;
pub mod split;
pub mod table;
pub mod uki;

use crate::distro::{Arch, DistroDef};
use crate::plan::boot::BootPlan;
use crate::plan::layout::{DiskLayout, Partition, Role};
use anyhow::{bail, Context, Result};
use bootloader::ExtraFs;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Everything a disk build needs.
pub struct Input<'a> {
    pub tree: &'a Path,
    pub layout: &'a DiskLayout,
    pub boot: &'a BootPlan,
    pub arch: &'static Arch,
    pub distro: &'a DistroDef,
    /// Seed for every identifier (see the module doc).
    pub seed: &'a str,
    pub source_date_epoch: i64,
    /// Scratch space on the output's filesystem.
    pub work: &'a Path,
    /// The db key for `secureboot = "custom"` (a signed UKI boots).
    pub signer: Option<&'a crate::secureboot::keys::Signer>,
    /// A disk deployed from a bootc image: `tree` is the (empty) sysroot
    /// and this is what goes into it (see `deploy`).
    pub deploy: Option<&'a deploy::DeployInput<'a>>,
}

/// What the disk holds, for reports and tests.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    pub kernel: String,
    pub root_uuid: String,
    pub boot_uuid: Option<String>,
    pub esp_uuid: Option<String>,
    pub cmdline: String,
    /// Extra data filesystems and swap areas, as fstab lists them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<ExtraFs>,
}

/// Deterministic identifiers.
pub struct Ids {
    seed: [u8; 32],
}

impl Ids {
    pub fn new(seed: &str) -> Ids {
        Ids {
            seed: Sha256::digest(seed.as_bytes()).into(),
        }
    }

    fn bytes(&self, what: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.seed);
        h.update(what.as_bytes());
        h.finalize().into()
    }

    /// A version-4-shaped UUID for `what`.
    pub fn uuid(&self, what: &str) -> String {
        let mut b = self.bytes(what);
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        let h = hex::encode(&b[..16]);
        format!(
            "{}-{}-{}-{}-{}",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
    }

    /// 32 hex digits (a machine id).
    pub fn hex32(&self, what: &str) -> String {
        hex::encode(&self.bytes(what)[..16])
    }

    pub fn u32(&self, what: &str) -> u32 {
        let b = self.bytes(what);
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }
}

/// Builds the raw disk image at `out`.
pub fn build_raw(input: &Input, out: &Path) -> Result<Report> {
    let ids = Ids::new(input.seed);
    let l = input.layout;
    let part = |r: Role| l.partitions.iter().find(|p| p.role == r);
    let root = part(Role::Root).context("the layout has no root partition")?;
    let boot_part = part(Role::Boot);
    let esp_part = part(Role::Esp);
    if l.partitions.iter().any(|p| p.role == Role::Lvm) {
        bail!("LVM is not supported by the disk builder yet");
    }
    // Extra data filesystems and swap areas, named from their mountpoint
    // (or partition label for swap) so adding one renames nothing else.
    let extras: Vec<(&Partition, ExtraFs)> = l
        .partitions
        .iter()
        .filter(|p| matches!(p.role, Role::Swap | Role::Data))
        .map(|p| {
            let key = match (&p.mountpoint, p.role) {
                (Some(mp), Role::Data) => format!("fs:{mp}"),
                _ => format!("swap:{}", p.label),
            };
            let fs =
                p.fs.clone()
                    .unwrap_or_else(|| input.distro.default_fs.clone());
            let x = ExtraFs {
                mountpoint: if p.role == Role::Data {
                    p.mountpoint.clone()
                } else {
                    None
                },
                fs,
                uuid: ids.uuid(&key),
            };
            (p, x)
        })
        .collect();
    let mut fstab_extra: Vec<ExtraFs> = extras.iter().map(|(_, x)| x.clone()).collect();
    fstab_extra.sort_by_key(|x| (x.mountpoint.is_none(), x.mountpoint.clone()));
    let root_fs = root
        .fs
        .clone()
        .unwrap_or_else(|| input.distro.default_fs.clone());
    let uuids = bootloader::Uuids {
        root: ids.uuid("fs:root"),
        root_fs: root_fs.clone(),
        boot: boot_part.map(|_| ids.uuid("fs:boot")),
        boot_fs: boot_part.and_then(|p| p.fs.clone()),
        esp: esp_part.map(|_| format!("{:08X}", ids.u32("fs:esp"))),
        extra: fstab_extra,
    };
    let (prepared, grub_tree) = match input.deploy {
        Some(d) => deploy::prepare(input, d, &uuids, &ids)?,
        None => (
            bootloader::prepare_tree(input, &uuids, &ids)?,
            input.tree.to_path_buf(),
        ),
    };
    if input.boot.uki {
        let signer = input
            .signer
            .context("a UKI is signed with the db key: secureboot = \"custom\" and [boot.keys]")?;
        uki::install(
            input.tree,
            input.arch,
            &prepared.kver,
            &prepared.cmdline,
            signer,
        )?;
    }

    // Split the tree: ESP, /boot, root.
    let work = input.work;
    let esp_src = work.join("esp-src");
    let boot_src = work.join("boot-src");
    let t = input.tree;
    if esp_part.is_some() {
        std::fs::rename(t.join("boot/efi"), &esp_src).context("moving /boot/efi aside")?;
    }
    if boot_part.is_some() {
        std::fs::rename(t.join("boot"), &boot_src).context("moving /boot aside")?;
        std::fs::create_dir(t.join("boot"))?;
        if esp_part.is_some() {
            std::fs::create_dir(boot_src.join("efi"))?;
        }
    } else if esp_part.is_some() {
        std::fs::create_dir(t.join("boot/efi"))?;
    }

    // Then each extra data filesystem, nested mountpoints first.
    let mut data_mps: Vec<String> = extras
        .iter()
        .filter_map(|(_, x)| x.mountpoint.clone())
        .collect();
    split::deepest_first(&mut data_mps);
    let data_src = |mp: &str| work.join(format!("data-src{}", mp.replace('/', "-")));
    for mp in &data_mps {
        split::take(t, mp, &data_src(mp))?;
    }

    let mut images: Vec<(u64, PathBuf)> = Vec::new();
    for (i, (p, x)) in extras.iter().enumerate() {
        let img = work.join(format!("extra-{i}.img"));
        match &x.mountpoint {
            Some(mp) => fs::make(
                &x.fs,
                &img,
                p.size,
                &data_src(mp),
                &x.uuid,
                &p.label,
                input.source_date_epoch,
            )?,
            None => fs::swap(&img, p.size, &x.uuid, &p.label, swap_page(input.arch))?,
        }
        images.push((p.start, img));
    }
    if let Some(p) = esp_part {
        let img = work.join("esp.img");
        esp::build(
            &img,
            p.size,
            &esp_src,
            ids.u32("fs:esp"),
            input.source_date_epoch,
        )?;
        images.push((p.start, img));
    }
    if let (Some(p), true) = (boot_part, boot_src.exists()) {
        let img = work.join("boot.img");
        let kind = p.fs.as_deref().unwrap_or("ext4");
        fs::make(
            kind,
            &img,
            p.size,
            &boot_src,
            uuids.boot.as_deref().unwrap_or_default(),
            "boot",
            input.source_date_epoch,
        )?;
        images.push((p.start, img));
    }
    let img = work.join("root.img");
    fs::make(
        &root_fs,
        &img,
        root.size,
        t,
        &uuids.root,
        "root",
        input.source_date_epoch,
    )?;
    images.push((root.start, img));

    table::write(out, l, &ids)?;
    for (offset, img) in &images {
        table::copy_into(img, out, *offset)?;
        std::fs::remove_file(img)?;
    }
    if let Some(bb) = part(Role::BiosBoot) {
        let grub_dir = if boot_part.is_some() {
            "/grub2"
        } else {
            "/boot/grub2"
        };
        bootloader::install_bios(input, &grub_tree, out, bb, &uuids, grub_dir)?;
    }
    Ok(Report {
        kernel: prepared.kver,
        root_uuid: uuids.root,
        boot_uuid: uuids.boot,
        esp_uuid: uuids.esp,
        cmdline: prepared.cmdline,
        extra: uuids.extra,
    })
}

/// Page size of the arch's distro kernels: a swap signature sits at the
/// end of the first page, so it must match the kernel's.
fn swap_page(arch: &Arch) -> u64 {
    if arch.name == "ppc64le" {
        64 * 1024
    } else {
        4096
    }
}

/// Converts the raw image into the artifact at `out` and returns the disk
/// `--verify` boots when it is not the artifact itself: a GCE archive is
/// not a disk QEMU boots, so the raw disk inside it is kept in `work`
/// until the pipeline ends.
pub fn finish(
    raw: &Path,
    format: &str,
    out: &Path,
    source_date_epoch: i64,
    work: &Path,
) -> Result<Option<std::path::PathBuf>> {
    convert(raw, format, out, source_date_epoch)?;
    if raw.exists() && format == "gce" {
        let name = out.file_name().unwrap_or_default().to_string_lossy();
        let keep = work.join(format!("{name}.disk.raw"));
        std::fs::rename(raw, &keep).with_context(|| format!("keeping {}", keep.display()))?;
        return Ok(Some(keep));
    }
    Ok(None)
}

/// Converts the raw image to `format` at `out` (raw/ami: the raw file
/// itself, moved; gce: an archive of it, `raw` left in place). Written to
/// a temporary name, renamed at the end.
pub fn convert(raw: &Path, format: &str, out: &Path, source_date_epoch: i64) -> Result<()> {
    let tmp = out.with_extension("partial");
    let args: Vec<String> = match format {
        "gce" => return gce::write(raw, out, source_date_epoch),
        "raw" | "ami" => {
            // Durable before it appears at the output path (qemu-img
            // flushes its own output for the other formats).
            std::fs::File::open(raw)
                .and_then(|f| f.sync_all())
                .context("flushing the raw image")?;
            std::fs::rename(raw, out).context("moving the raw image into place")?;
            return Ok(());
        }
        "qcow2" => vec![
            "-O".into(),
            "qcow2".into(),
            "-o".into(),
            "compat=1.1".into(),
        ],
        "vmdk" => vec![
            "-O".into(),
            "vmdk".into(),
            "-o".into(),
            "subformat=streamOptimized".into(),
        ],
        // Azure: fixed VHD, size a whole number of MiB (the layout is).
        "vhd" => vec![
            "-O".into(),
            "vpc".into(),
            "-o".into(),
            "subformat=fixed,force_size=on".into(),
        ],
        other => bail!("disk format {other} is not supported"),
    };
    let mut all = vec![
        "convert".to_string(),
        "-q".into(),
        "-f".into(),
        "raw".into(),
    ];
    all.extend(args);
    all.push(raw.display().to_string());
    all.push(tmp.display().to_string());
    crate::tools::run("qemu-img", &all).context("converting the disk image")?;
    std::fs::rename(&tmp, out).with_context(|| format!("renaming to {}", out.display()))?;
    Ok(())
}
