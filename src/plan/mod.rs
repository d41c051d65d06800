//! Manifest + distro + arch → BuildPlan: everything decided, nothing done.
//!
//! The plan is the contract between "what the user asked" and the stages
//! that do the work: each later stage reads only the plan. `image-builder
//! plan` prints it, and snapshot tests pin it for every example manifest,
//! so a change in what we would build shows up in review.

pub mod boot;
pub mod custom;
pub mod layout;
pub mod render;

use crate::distro::{self, arch, Arch, DistroDef};
use crate::manifest::ours::{Firmware, OutputType};
use crate::manifest::validate::{self, Selection};
use crate::manifest::{Diagnostic, Document, ManifestError};
use serde::Serialize;

/// Format version of the plan's JSON form.
pub const PLAN_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize)]
pub struct BuildPlan {
    pub plan_version: u32,
    pub manifest: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    pub distro: DistroSummary,
    pub weak_deps: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_image: Option<String>,
    /// `[base] tls_verify` (default true).
    #[serde(skip)]
    pub base_tls_verify: bool,
    pub arches: Vec<ArchPlan>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DistroSummary {
    pub id: String,
    pub name: String,
    pub releasever: String,
    pub release_package: String,
    pub rpmdb: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ArchPlan {
    pub arch: String,
    pub basearch: String,
    pub rpm_arches: Vec<String>,
    pub oci_platform: arch::OciPlatform,
    pub repos: Vec<PlanRepo>,
    pub outputs: Vec<OutputPlan>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlanRepo {
    pub id: String,
    pub name: String,
    /// `distro` or `manifest`.
    pub origin: &'static str,
    pub baseurls: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mirrorlist: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metalink: Option<String>,
    pub gpgkeys: Vec<String>,
    pub gpgcheck: bool,
    pub repo_gpgcheck: bool,
    pub priority: i32,
    pub module_hotfixes: bool,
    /// Armored keys written inline in the manifest (shown as "(inline key)").
    #[serde(skip)]
    pub inline_keys: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OutputPlan {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: OutputType,
    pub filename: String,
    pub packages: PackagePlan,
    pub customizations: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disk: Option<layout::DiskLayout>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub boot: Option<boot::BootPlan>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct PackagePlan {
    /// Names, `name-version` globs, `@group`s; sorted, unique.
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    /// `name:stream` module streams to enable (EL8/EL9).
    pub modules: Vec<String>,
}

/// Arches a manifest builds for, after `--arch`: the manifest's list, or
/// the host's arch when it names none.
pub fn arches_of(doc: &Document, distro: &DistroDef, sel: &Selection) -> Vec<String> {
    let m = &doc.manifest;
    let mut listed: Vec<String> = m
        .architecture
        .iter()
        .chain(m.architectures.iter())
        .filter_map(|a| arch::lookup(a))
        .map(|a| a.name.to_string())
        .collect();
    if listed.is_empty() {
        let host = arch::host();
        listed.push(if distro.supports_arch(host) {
            host.to_string()
        } else {
            distro.arches[0].clone()
        });
    }
    if !sel.arches.is_empty() {
        let wanted: Vec<&str> = sel
            .arches
            .iter()
            .filter_map(|a| arch::lookup(a))
            .map(|a| a.name)
            .collect();
        let from_manifest = m.architecture.is_some() || !m.architectures.is_empty();
        if from_manifest {
            listed.retain(|a| wanted.contains(&a.as_str()));
        } else {
            listed = wanted.iter().map(|s| s.to_string()).collect();
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    listed.retain(|a| seen.insert(a.clone()));
    listed
}

/// Validates `doc` and makes its plan.
pub fn make(doc: &Document, sel: &Selection) -> Result<BuildPlan, ManifestError> {
    let distro = validate::check(doc, sel).map_err(ManifestError::Invalid)?;
    let m = &doc.manifest;
    let mut diags: Vec<Diagnostic> = vec![];
    let weak_deps =
        m.build.as_ref().and_then(|b| b.weak_deps).unwrap_or(true) && !m.minimal.unwrap_or(false);
    let mut arches = vec![];
    for a in arches_of(doc, distro, sel) {
        let ar = arch::lookup(&a).expect("validated");
        let repos = repos_for(doc, distro, ar);
        let mut outputs = vec![];
        for (path, t) in validate::selected_types(doc, sel) {
            let out = if path.is_empty() {
                None
            } else {
                path.get(1).and_then(|s| {
                    if let crate::manifest::Seg::Index(i) = s {
                        m.output.get(*i)
                    } else {
                        None
                    }
                })
            };
            match output_plan(doc, distro, ar, t, out) {
                Ok(o) => outputs.push(o),
                Err((key, msg)) => {
                    let mut blame = path.clone();
                    if let (Some(k), Some(o)) = (key, out) {
                        if k == "size" && o.size.is_some() {
                            blame.pop();
                            blame.push(k.into());
                        }
                    }
                    diags.push(doc.diag(&blame, msg))
                }
            }
        }
        arches.push(ArchPlan {
            arch: ar.name.to_string(),
            basearch: ar.basearch.to_string(),
            rpm_arches: ar.rpm_arches.iter().map(|s| s.to_string()).collect(),
            oci_platform: ar.oci,
            repos,
            outputs,
        });
    }
    if !diags.is_empty() {
        diags.dedup();
        return Err(ManifestError::Invalid(diags));
    }
    Ok(BuildPlan {
        plan_version: PLAN_VERSION,
        manifest: doc.file(),
        name: m
            .name
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| default_name(doc)),
        version: m.version.clone(),
        distro: DistroSummary {
            id: distro.id.clone(),
            name: distro.name.clone(),
            releasever: distro.releasever.clone(),
            release_package: distro.release_package.clone(),
            rpmdb: distro.rpmdb.clone(),
        },
        weak_deps,
        base_image: m.base.as_ref().map(|b| b.image.clone()),
        base_tls_verify: m.base.as_ref().and_then(|b| b.tls_verify).unwrap_or(true),
        arches,
    })
}

fn default_name(doc: &Document) -> String {
    doc.path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "image".into())
}

/// Where `$fixture_root` points: the fixture script's output.
pub fn fixture_root() -> String {
    std::env::var("IMAGE_BUILDER_FIXTURE_ROOT").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/build").to_string()
    })
}

/// Substitutes `$releasever`, `$basearch` and `$fixture_root`.
pub fn expand(url: &str, distro: &DistroDef, arch: &Arch) -> String {
    url.replace("$releasever", &distro.releasever)
        .replace("$basearch", arch.basearch)
        .replace("$fixture_root", &fixture_root())
}

fn repos_for(doc: &Document, distro: &DistroDef, ar: &Arch) -> Vec<PlanRepo> {
    let m = &doc.manifest;
    let mut out = vec![];
    let distro_repos = m
        .build
        .as_ref()
        .and_then(|b| b.distro_repos)
        .unwrap_or(true);
    if distro_repos {
        for r in distro
            .repos
            .iter()
            .filter(|r| r.enabled && (r.arches.is_empty() || r.arches.iter().any(|a| a == ar.name)))
        {
            out.push(PlanRepo {
                id: r.id.clone(),
                name: expand(&r.name, distro, ar),
                origin: "distro",
                baseurls: r.baseurl.iter().map(|u| expand(u, distro, ar)).collect(),
                mirrorlist: r.mirrorlist.as_ref().map(|u| expand(u, distro, ar)),
                metalink: r.metalink.as_ref().map(|u| expand(u, distro, ar)),
                gpgkeys: r.gpgkeys.iter().map(|k| expand(k, distro, ar)).collect(),
                gpgcheck: r.gpgcheck,
                repo_gpgcheck: r.repo_gpgcheck,
                priority: 99,
                module_hotfixes: false,
                inline_keys: vec![],
            });
        }
    }
    for r in m.repositories.iter().filter(|r| {
        r.arches.is_empty()
            || r.arches
                .iter()
                .any(|a| arch::lookup(a).map(|x| x.name) == Some(ar.name))
    }) {
        out.push(PlanRepo {
            id: r.id.clone(),
            name: r.name.clone().unwrap_or_else(|| r.id.clone()),
            origin: "manifest",
            baseurls: r
                .baseurl
                .to_vec()
                .iter()
                .map(|u| expand(u, distro, ar))
                .collect(),
            mirrorlist: r.mirrorlist.as_ref().map(|u| expand(u, distro, ar)),
            metalink: r.metalink.as_ref().map(|u| expand(u, distro, ar)),
            gpgkeys: r
                .gpgkey
                .to_vec()
                .iter()
                .map(|k| {
                    if k.contains("BEGIN PGP") {
                        "(inline key)".to_string()
                    } else {
                        expand(k, distro, ar)
                    }
                })
                .collect(),
            gpgcheck: r.gpgcheck.unwrap_or(true),
            repo_gpgcheck: r.repo_gpgcheck.unwrap_or(false),
            priority: r.priority.unwrap_or(99),
            module_hotfixes: r.module_hotfixes.unwrap_or(false),
            inline_keys: r
                .gpgkey
                .to_vec()
                .into_iter()
                .filter(|k| k.contains("BEGIN PGP"))
                .collect(),
        });
    }
    out
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    v
}

fn output_plan(
    doc: &Document,
    distro: &DistroDef,
    ar: &Arch,
    t: OutputType,
    out: Option<&crate::manifest::ours::Output>,
) -> Result<OutputPlan, (Option<&'static str>, String)> {
    let m = &doc.manifest;
    let name = out
        .map(|o| o.name())
        .unwrap_or_else(|| t.as_str().to_string());
    let base = m
        .name
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| default_name(doc));
    // An OCI archive holds every arch under one index: one file.
    let filename = out
        .and_then(|o| o.filename.clone())
        .unwrap_or_else(|| match t.extension() {
            "" => format!("{base}-{}", ar.name),
            ext if t == OutputType::Oci => format!("{base}.{ext}"),
            ext => format!("{base}-{}.{ext}", ar.name),
        });
    // Deriving from a bootc base: the base already has the distro's
    // sets, kernel and boot chain; only what the manifest adds is asked.
    let derive = t == OutputType::Oci && m.base.is_some();
    let firmware = boot::firmware(m, ar, t);

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

    let customizations = m
        .customizations
        .as_ref()
        .map(|c| c.present().into_iter().map(str::to_string).collect())
        .unwrap_or_default();
    let disk = if t.is_disk() {
        let fs = m
            .customizations
            .as_ref()
            .map(custom::filesystems)
            .transpose()
            .map_err(|e| (None, e))?
            .unwrap_or_default();
        Some(
            layout::decide(&layout::LayoutInput {
                arch: ar,
                firmware,
                table: out
                    .and_then(|o| o.partition_table)
                    .or(custom::disk_table(m)),
                size: out.and_then(|o| o.size).or(custom::disk_minsize(m)),
                default_fs: &distro.default_fs,
                filesystems: &fs,
                swap: None,
            })
            .map_err(|e| (Some("size"), e))?,
        )
    } else {
        None
    };
    let boot = boot::plan(doc, distro, ar, t, firmware);
    Ok(OutputPlan {
        name,
        kind: t,
        filename,
        packages: PackagePlan {
            include,
            exclude: sorted(exclude),
            modules,
        },
        customizations,
        disk,
        boot,
    })
}

/// Helper for the CLI: does the distro registry load at all.
pub fn distros_ok() -> Result<(), String> {
    distro::all().map(|_| ())
}
