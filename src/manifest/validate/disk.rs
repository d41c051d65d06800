//! `[customizations.disk]`: the partitions the disk builder can make.

use crate::manifest::{Diagnostic, Document, Seg};

/// `[[customizations.disk.partitions]]` the disk builder can make: plain
/// xfs/ext4 filesystems and swap. LVM and btrfs are refused at their
/// `type` line until the builder supports them, so nothing is silently
/// laid out differently from what was asked.
pub(super) fn check_disk_partitions(doc: &Document, out: &mut Vec<Diagnostic>) {
    use crate::manifest::blueprint::Partition;
    let Some(d) = doc
        .manifest
        .customizations
        .as_ref()
        .and_then(|c| c.disk.as_ref())
    else {
        return;
    };
    for (i, p) in d.partitions.iter().enumerate() {
        let at = |key: &str| -> Vec<Seg> {
            vec![
                "customizations".into(),
                "disk".into(),
                "partitions".into(),
                i.into(),
                key.into(),
            ]
        };
        match p {
            Partition::Lvm(l) => {
                let what = l
                    .name
                    .as_deref()
                    .map(|n| format!("volume group \"{n}\""))
                    .unwrap_or_else(|| "a volume group".into());
                out.push(
                    doc.diag(
                        &at("type"),
                        format!(
                            "LVM is not supported yet: {what} with {} logical volume(s) cannot be built",
                            l.logical_volumes.len()
                        ),
                    )
                    .hint("use plain partitions (type = \"plain\") or [[customizations.filesystem]]"),
                );
            }
            Partition::Btrfs(_) => out.push(
                doc.diag(
                    &at("type"),
                    "btrfs partitions are not supported yet by the disk builder",
                )
                .hint("use plain partitions with fs_type = \"xfs\" or \"ext4\""),
            ),
            Partition::Plain(p) => {
                let fs = p.fs_type.as_deref();
                if let Some(f) = fs {
                    if !matches!(f, "xfs" | "ext4" | "swap") {
                        out.push(
                            doc.diag(
                                &at("fs_type"),
                                format!("fs_type \"{f}\" is not supported for a plain partition"),
                            )
                            .hint("fs_type: \"xfs\", \"ext4\" or \"swap\""),
                        );
                        continue;
                    }
                }
                match (&p.mountpoint, fs) {
                    (Some(_), Some("swap")) => {
                        out.push(doc.diag(&at("mountpoint"), "a swap partition has no mountpoint"))
                    }
                    (None, Some("swap")) => {}
                    (None, _) => out.push(doc.diag(
                        &at("minsize"),
                        "a plain partition needs a mountpoint (or fs_type = \"swap\")",
                    )),
                    (Some(mp), _) => {
                        if let Err(why) = crate::manifest::mountpoint::check(mp) {
                            out.push(doc.diag(&at("mountpoint"), why));
                        }
                    }
                }
            }
        }
    }
}
