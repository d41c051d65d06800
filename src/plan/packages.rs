//! What a target asks the resolver for, as osbuild asks it: a chain of
//! package sets, each solved with the earlier ones installed.
//!
//! 1. `base`: the distro's package sets for the output type (`common` and
//!    the type's own), the boot chain's packages and the release package,
//!    with the type's excludes (`plymouth`, `alsa-*`, `langpacks-*` on a
//!    qcow2 ...);
//! 2. `customizations`: packages the customizations imply (chrony for
//!    NTP servers, firewalld for firewall rules ...);
//! 3. `manifest`: the manifest's packages, groups and modules.
//!
//! Why a chain and not one merged list: an image type's excludes trim the
//! *distro's* defaults. Applied to one merged transaction they also hide
//! every package the user's packages need (`alsa-lib` for
//! java-21-openjdk-devel, `plymouth` for a GNOME desktop, ...), and those
//! requests cannot be solved at all. In a chain each exclude hides
//! packages from its own transaction only.
//!
//! `[build] distro_packages = false` leaves out step 1's distro sets and
//! their excludes, for minimal images and exact requests (what mkosi and
//! kiwi users expect). The release package stays (the tree needs its
//! repos and keys), and so do the kernel and bootloader packages of a
//! bootable output (the disk and bootc builders need them to boot it);
//! list them yourself and nothing changes.

use super::{custom, sorted, PackagePlan, PackageSet};
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
    // A disk from a bootc image deploys the image: the bootc output of
    // this manifest holds the manifest's packages when there is one
    // (`deploy::deployed_output`); otherwise they are installed onto the
    // unpacked base first, resolved against its rpmdb like a derived
    // bootc image's (`deploy::derives_tree`).
    let derived_disk = t.is_disk() && super::deploy::derives_tree(doc);
    if t.is_disk() && m.base.is_some() && !derived_disk {
        return Ok(PackagePlan::default());
    }
    let derive = derived_disk
        || (t == OutputType::Oci && m.base.is_some() && super::deploy::own_output(doc).is_none());
    let minimal = m.minimal.unwrap_or(false);
    let distro_sets = m
        .build
        .as_ref()
        .and_then(|b| b.distro_packages)
        .unwrap_or(true);
    let mut include = vec![];
    let mut exclude = vec![];
    // A directory is the tree a tar archives: same package set.
    let own = if t == OutputType::Directory {
        "tar"
    } else {
        t.as_str()
    };
    for set in ["common", own] {
        if derive || !distro_sets || (minimal && set != "common") {
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
    // The type's excludes drop the distro's common defaults it lists.
    include.retain(|p| !exclude.contains(p));
    let base = set("base", include, exclude);

    let implied = m
        .customizations
        .as_ref()
        .map(custom::implied_packages)
        .unwrap_or_default();
    let customizations = set("customizations", implied, vec![]);

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
    let own = set("manifest", requested, vec![]);

    let modules = sorted(
        m.enabled_modules
            .iter()
            .map(|em| format!("{}:{}", em.name, em.stream))
            .collect(),
    );
    Ok(PackagePlan {
        chain: [base, customizations, own]
            .into_iter()
            .filter(|s| !s.include.is_empty())
            .collect(),
        modules,
    })
}

fn set(name: &str, include: Vec<String>, exclude: Vec<String>) -> PackageSet {
    PackageSet {
        name: name.into(),
        include: sorted(include),
        exclude: sorted(exclude),
    }
}
