//! What a target asks the resolver for: the distro's package sets for the
//! output type, the boot chain's packages, the release package, the
//! manifest's own packages, groups and modules, and what customizations
//! imply.

use super::{custom, sorted, PackagePlan};
use crate::distro::{Arch, DistroDef};
use crate::manifest::ours::{Firmware, OutputType};
use crate::manifest::Document;

pub(super) fn package_plan(
    doc: &Document,
    distro: &DistroDef,
    ar: &Arch,
    t: OutputType,
    firmware: Firmware,
) -> Result<PackagePlan, (Option<&'static str>, String)> {
    let m = &doc.manifest;
    // Deriving from a bootc base: the base already has the distro's
    // sets, kernel and boot chain; only what the manifest adds is asked.
    let derive = t == OutputType::Oci && m.base.is_some();
    // Packages: distro sets, boot chain, the manifest's own, customizations'.
    let mut include = vec![];
    let mut exclude = vec![];
    let minimal = m.minimal.unwrap_or(false);
    // A directory is the tree a tar archives: same package set.
    let own = if t == OutputType::Directory {
        "tar"
    } else {
        t.as_str()
    };
    for set in ["common", own] {
        if derive || (minimal && set != "common") {
            continue;
        }
        let (i, e) = distro.package_set(set, ar.name);
        include.extend(i);
        exclude.extend(e);
    }
    let boot_def = distro.boot.get(ar.name).ok_or_else(|| {
        (
            None,
            format!("{} has no boot definition for {}", distro.id, ar.name),
        )
    })?;
    if !derive && (t.is_bootable() || matches!(t, OutputType::Oci | OutputType::Ostree)) {
        include.push(boot_def.kernel.clone());
        if matches!(firmware, Firmware::Uefi | Firmware::Hybrid) {
            include.extend(boot_def.uefi_packages.iter().cloned());
        }
        if matches!(firmware, Firmware::Bios | Firmware::Hybrid) || !ar.has_uefi() {
            include.extend(boot_def.legacy_packages.iter().cloned());
        }
    }
    if !derive {
        include.push(distro.release_package.clone());
    }
    // An output type's excludes drop the distro's common defaults ...
    include.retain(|p| !exclude.contains(p));
    let mut requested = vec![];
    for p in &m.packages {
        requested.push(custom::package_spec(&p.name, p.version.as_deref()));
    }
    for p in &m.modules {
        requested.push(custom::package_spec(&p.name, p.version.as_deref()));
    }
    for g in &m.groups {
        requested.push(format!("@{}", g.name));
    }
    if let Some(c) = &m.customizations {
        requested.extend(custom::implied_packages(c));
    }
    // ... and the manifest's own requests win over any exclude.
    exclude.retain(|e| !requested.contains(e));
    include.extend(requested);
    let include = sorted(include);
    exclude.retain(|e| !include.contains(e));
    let modules = sorted(
        m.enabled_modules
            .iter()
            .map(|em| format!("{}:{}", em.name, em.stream))
            .collect(),
    );

    Ok(PackagePlan {
        include,
        exclude: sorted(exclude),
        modules,
    })
}
