//! Reading the blueprint customizations the plan needs: filesystems for the
//! disk layout, kernel arguments, packages a customization implies.

use super::layout::FsRequest;
use crate::manifest::blueprint::Customizations;
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
            match p.kind.as_deref().unwrap_or("plain") {
                "plain" => {
                    let Some(mp) = &p.mountpoint else {
                        if p.fs_type.as_deref() == Some("swap") {
                            out.push(FsRequest { mountpoint: "swap".into(), minsize: p.minsize.map(|s| s.bytes()).unwrap_or(0), fs: Some("swap".into()), label: p.label.clone() });
                            continue;
                        }
                        return Err("a plain partition in [customizations.disk] needs a mountpoint".into());
                    };
                    out.push(FsRequest { mountpoint: mp.clone(), minsize: p.minsize.map(|s| s.bytes()).unwrap_or(0), fs: p.fs_type.clone(), label: p.label.clone() });
                }
                kind @ ("lvm" | "btrfs") => {
                    return Err(format!("{kind} partitions in [customizations.disk] are not supported yet; use plain partitions or [[customizations.filesystem]]"))
                }
                other => return Err(format!("unknown partition type \"{other}\" in [customizations.disk] (plain, lvm or btrfs)")),
            }
        }
    }
    Ok(out)
}

pub fn disk_table(m: &Manifest) -> Option<PartitionTableType> {
    match m.customizations.as_ref()?.disk.as_ref()?.table.as_deref()? {
        "gpt" => Some(PartitionTableType::Gpt),
        "dos" | "mbr" => Some(PartitionTableType::Dos),
        _ => None,
    }
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
