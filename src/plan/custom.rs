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
    c.kernel.as_ref().and_then(|k| k.append.as_ref()).map(|a| a.split_whitespace().map(str::to_string).collect()).unwrap_or_default()
}

pub fn filesystems(c: &Customizations) -> Result<Vec<FsRequest>, String> {
    Ok(c.filesystem.iter().map(|f| FsRequest { mountpoint: f.mountpoint.clone(), minsize: f.minsize.bytes(), fs: None, label: None }).collect())
}

pub fn disk_table(_m: &Manifest) -> Option<PartitionTableType> {
    None
}

pub fn disk_minsize(_m: &Manifest) -> Option<Size> {
    None
}

/// Packages a customization needs in the image to take effect.
pub fn implied_packages(c: &Customizations) -> Vec<String> {
    let mut v = vec![];
    if let Some(k) = &c.kernel {
        if let Some(n) = &k.name {
            v.push(n.clone());
        }
    }
    v
}
