//! Reading the blueprint customizations the plan needs: filesystems for the
//! disk layout, kernel arguments, packages a customization implies.

use super::layout::FsRequest;
use crate::manifest::blueprint::{Customizations, Partition, PartitionTable};
use crate::manifest::ours::PartitionTableType;
use crate::manifest::size::Size;
use crate::manifest::Manifest;

/// `name` or `name-version` (a glob when the version has one); osbuild's
/// `version = "*"` means any.
pub fn package_spec(name: &str, version: Option<&str>) -> String {
    match version.map(str::trim) {
        None | Some("") | Some("*") => name.to_string(),
        Some(v) => format!("{name}-{v}"),
    }
}

pub fn kernel_append(c: &Customizations) -> Vec<String> {
    c.kernel
        .as_ref()
        .and_then(|k| k.append.as_ref())
        .map(|a| a.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

/// Filesystem requests from `[[customizations.filesystem]]` and the plain
/// partitions of `[customizations.disk]`. LVM and btrfs layouts are
/// refused until the disk stage supports them.
pub fn filesystems(c: &Customizations) -> Result<Vec<FsRequest>, String> {
    let mut out: Vec<FsRequest> = c
        .filesystem
        .iter()
        .map(|f| FsRequest {
            mountpoint: f.mountpoint.clone(),
            minsize: f.minsize.bytes(),
            fs: None,
            label: None,
        })
        .collect();
    if let Some(d) = &c.disk {
        for p in &d.partitions {
            match p {
                Partition::Plain(p) => {
                    let mountpoint = match (&p.mountpoint, p.fs_type.as_deref()) {
                        (Some(mp), _) => mp.clone(),
                        (None, Some("swap")) => "swap".into(),
                        (None, _) => {
                            return Err("a plain partition in [customizations.disk] needs a mountpoint".into())
                        }
                    };
                    out.push(FsRequest {
                        mountpoint,
                        minsize: p.minsize.bytes(),
                        fs: p.fs_type.clone(),
                        label: p.label.clone(),
                    });
                }
                other => {
                    return Err(format!(
                        "{} partitions in [customizations.disk] are not supported yet; use plain partitions or [[customizations.filesystem]]",
                        other.kind()
                    ))
                }
            }
        }
    }
    Ok(out)
}

pub fn disk_table(m: &Manifest) -> Option<PartitionTableType> {
    Some(match m.customizations.as_ref()?.disk.as_ref()?.table? {
        PartitionTable::Gpt => PartitionTableType::Gpt,
        PartitionTable::Dos => PartitionTableType::Dos,
    })
}

pub fn disk_minsize(m: &Manifest) -> Option<Size> {
    m.customizations.as_ref()?.disk.as_ref()?.minsize
}

/// Packages a customization needs in the image to take effect.
pub fn implied_packages(c: &Customizations) -> Vec<String> {
    let mut v = vec![];
    if let Some(n) = c.kernel.as_ref().and_then(|k| k.name.clone()) {
        v.push(n);
    }
    if c.firewall.is_some() {
        v.push("firewalld".into());
    }
    if c.timezone
        .as_ref()
        .is_some_and(|t| !t.ntpservers.is_empty())
    {
        v.push("chrony".into());
    }
    // /etc/localtime links into the zone database.
    if c.timezone.as_ref().is_some_and(|t| t.timezone.is_some()) {
        v.push("tzdata".into());
    }
    if c.openscap.is_some() {
        v.extend([
            "openscap-scanner".to_string(),
            "scap-security-guide".to_string(),
        ]);
    }
    if c.sshd.is_some() || !c.sshkey.is_empty() || c.user.iter().any(|u| u.key.is_some()) {
        v.push("openssh-server".into());
    }
    if c.ignition.is_some() {
        v.push("ignition".into());
    }
    if c.fips == Some(true) {
        v.push("crypto-policies-scripts".into());
    }
    v
}
