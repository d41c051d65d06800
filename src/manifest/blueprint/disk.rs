//! `[customizations.disk]`: a full partition layout. Partitions are a
//! union told apart by `type` (`plain` when absent), each kind taking only
//! its own keys, as osbuild decodes them.

use super::deserialize_tagged;
use crate::manifest::size::Size;
use serde::{Deserialize, Deserializer, Serialize};

/// `[customizations.disk]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Disk {
    /// Partition table type (default: the image type's).
    #[serde(rename = "type")]
    pub table: Option<PartitionTable>,
    /// Minimum size of the whole disk.
    pub minsize: Option<Size>,
    pub partitions: Vec<Partition>,
    /// Where the first partition may start (default 1 MiB).
    pub start_offset: Option<Size>,
    /// Logical sector size in bytes: 512 (default) or 4096; a power of 2.
    pub sector_size: Option<u64>,
}

/// `gpt` or `dos` (MBR, at most 4 partitions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PartitionTable {
    Gpt,
    Dos,
}

/// `[[customizations.disk.partitions]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Partition {
    /// A filesystem (or swap) directly on the partition.
    Plain(PlainPartition),
    /// An LVM volume group on the partition.
    Lvm(LvmPartition),
    /// A btrfs volume with subvolumes.
    Btrfs(BtrfsPartition),
}

/// What `Partition` deserializes through once `type` is filled in.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum TaggedPartition {
    Plain(PlainPartition),
    Lvm(LvmPartition),
    Btrfs(BtrfsPartition),
}

impl<'de> Deserialize<'de> for Partition {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Partition, D::Error> {
        Ok(match deserialize_tagged(d, Some("plain"), false)? {
            TaggedPartition::Plain(p) => Partition::Plain(p),
            TaggedPartition::Lvm(p) => Partition::Lvm(p),
            TaggedPartition::Btrfs(p) => Partition::Btrfs(p),
        })
    }
}

impl Partition {
    /// `plain`, `lvm` or `btrfs`.
    pub fn kind(&self) -> &'static str {
        match self {
            Partition::Plain(_) => "plain",
            Partition::Lvm(_) => "lvm",
            Partition::Btrfs(_) => "btrfs",
        }
    }

    pub fn minsize(&self) -> Size {
        match self {
            Partition::Plain(p) => p.minsize,
            Partition::Lvm(p) => p.minsize,
            Partition::Btrfs(p) => p.minsize,
        }
    }

    /// The keys every kind shares: (`part_type`, `part_label`, `part_uuid`).
    pub fn gpt_fields(&self) -> (Option<&str>, Option<&str>, Option<&str>) {
        let (t, l, u) = match self {
            Partition::Plain(p) => (&p.part_type, &p.part_label, &p.part_uuid),
            Partition::Lvm(p) => (&p.part_type, &p.part_label, &p.part_uuid),
            Partition::Btrfs(p) => (&p.part_type, &p.part_label, &p.part_uuid),
        };
        (t.as_deref(), l.as_deref(), u.as_deref())
    }
}

/// A `type = "plain"` partition (the default).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PlainPartition {
    /// Required. The partition may end up larger (mountpoint minimums).
    pub minsize: Size,
    /// GPT type GUID, or 2 hex digits on dos (default: from mountpoint).
    pub part_type: Option<String>,
    /// GPT partition name (not the filesystem label).
    pub part_label: Option<String>,
    /// GPT partition GUID.
    pub part_uuid: Option<String>,
    /// Absent for swap and `fs_type = "none"`.
    pub mountpoint: Option<String>,
    /// Filesystem label.
    pub label: Option<String>,
    /// `xfs`, `ext4`, `vfat`, `swap` or `none`.
    pub fs_type: Option<String>,
}

/// A `type = "lvm"` partition: one volume group.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LvmPartition {
    pub minsize: Size,
    pub part_type: Option<String>,
    pub part_label: Option<String>,
    pub part_uuid: Option<String>,
    /// Volume group name (default generated).
    pub name: Option<String>,
    #[serde(default)]
    pub logical_volumes: Vec<LogicalVolume>,
}

/// `[[customizations.disk.partitions.logical_volumes]]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogicalVolume {
    /// LV name (default generated from the mountpoint).
    pub name: Option<String>,
    /// Required.
    pub minsize: Size,
    /// Absent for swap; `/boot` and `/boot/efi` are not allowed on LVM.
    pub mountpoint: Option<String>,
    pub label: Option<String>,
    /// `xfs`, `ext4` or `swap`.
    pub fs_type: Option<String>,
}

/// A `type = "btrfs"` partition: one btrfs volume.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BtrfsPartition {
    pub minsize: Size,
    pub part_type: Option<String>,
    pub part_label: Option<String>,
    pub part_uuid: Option<String>,
    /// At least one.
    #[serde(default)]
    pub subvolumes: Vec<Subvolume>,
}

/// `[[customizations.disk.partitions.subvolumes]]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Subvolume {
    /// Subvolume path on the volume (`root`, `home`, `var/log`).
    pub name: String,
    pub mountpoint: String,
}
