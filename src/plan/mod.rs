//! Manifest + distro + arch → BuildPlan: everything decided, nothing done.
//!
//! The plan is the contract between "what the user asked" and the stages
//! that do the work: each later stage reads only the plan. `image-builder
//! plan` prints it, and snapshot tests pin it for every example manifest,
//! so a change in what we would build shows up in review.

pub mod boot;
pub mod custom;
pub mod deploy;
pub mod layout;
pub mod mirror;
mod oci_input;
mod packages;
pub mod render;
mod repos;
pub mod scripts;
pub mod target;

pub use scripts::ScriptPlan;
pub use target::{
    ArtifactPlan, Destination, Flags, IsoPlan, OciPlan, OstreeParent, OstreePlan, SignerPlan,
    TreePlan, TreeSource,
};

use crate::distro::{self, arch, Arch, DistroDef};
use crate::manifest::ours::OutputType;
use crate::manifest::validate::{self, Selection};
use crate::manifest::{Diagnostic, Document, ManifestError};
use serde::Serialize;

/// Format version of the plan's JSON form.
pub const PLAN_VERSION: u32 = 2;

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
    /// Where the distro repos were moved (`--mirror`, `[build] mirror`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mirror: Option<String>,
    /// `[base] tls_verify` (default true).
    #[serde(skip)]
    pub base_tls_verify: bool,
    pub arches: Vec<ArchPlan>,
    /// What the plan builds as asked but the user should know about
    /// (`validate`, `plan` and `build` show them; nothing is refused).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Diagnostic>,
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
    pub gpgkeys: Vec<RepoKey>,
    pub gpgcheck: bool,
    pub repo_gpgcheck: bool,
    pub priority: i32,
    pub module_hotfixes: bool,
}

/// A key a repo's packages are signed with, as the plan carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "source", rename_all = "kebab-case")]
pub enum RepoKey {
    /// Fetched when the repo is synced (`file://`, `https://`).
    Url { url: String },
    /// One of the distro's keys, compiled into this binary.
    Embedded {
        name: String,
        fingerprint: String,
        #[serde(skip)]
        armored: String,
    },
    /// An armored key written in the manifest; its fingerprint when it
    /// parses here (the resolver checks it either way).
    Inline {
        #[serde(skip_serializing_if = "Option::is_none")]
        fingerprint: Option<String>,
        #[serde(skip)]
        armored: String,
    },
}

impl RepoKey {
    /// The armored key, when the plan carries it.
    pub fn armored(&self) -> Option<&str> {
        match self {
            RepoKey::Url { .. } => None,
            RepoKey::Embedded { armored, .. } | RepoKey::Inline { armored, .. } => Some(armored),
        }
    }

    /// How the plan names it: the URL, the key's name and fingerprint.
    pub fn label(&self) -> String {
        match self {
            RepoKey::Url { url } => url.clone(),
            RepoKey::Embedded {
                name, fingerprint, ..
            } => format!("{name} (embedded, fingerprint {fingerprint})"),
            RepoKey::Inline {
                fingerprint: Some(f),
                ..
            } => format!("(inline key, fingerprint {f})"),
            RepoKey::Inline { .. } => "(inline key)".into(),
        }
    }
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
    /// How the tree is made, and from what.
    pub tree: TreePlan,
    /// What is made of the tree.
    pub artifact: ArtifactPlan,
    /// Boot the artifact in QEMU after it is built (`--verify`).
    pub verify: bool,
    pub destinations: Vec<Destination>,
    /// Outputs of this manifest that must be built first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// A disk made from a bootc image: the OSTree deployment its root
    /// holds (see `deploy`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deploy: Option<deploy::DeployPlan>,
}

/// What a target installs: a chain of package sets, solved in order, each
/// with the earlier ones' results installed (see `resolve::solve`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct PackagePlan {
    /// Non-empty sets only, in order: `base`, `customizations`, `manifest`.
    pub chain: Vec<PackageSet>,
    /// `name:stream` module streams to enable (EL8/EL9), for every set.
    pub modules: Vec<String>,
}

/// One transaction of the chain. Its excludes hide packages from this
/// transaction only: a later set may still install them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PackageSet {
    /// `base` (the image type's distro sets, boot chain and release
    /// package), `customizations` (what they imply), `manifest` (the
    /// manifest's packages, groups and modules).
    pub name: String,
    /// Names, `name-version` globs, `@group`s; sorted, unique.
    pub include: Vec<String>,
    pub exclude: Vec<String>,
}

impl PackagePlan {
    /// Every spec any set includes (sorted, unique).
    pub fn all_includes(&self) -> Vec<String> {
        sorted(self.chain.iter().flat_map(|s| s.include.clone()).collect())
    }
}

/// Arches a manifest builds for, after `--arch`: the manifest's list, or
/// the host's arch when it names none.
pub fn arches_of(doc: &Document, distro: &DistroDef, sel: &Selection) -> Vec<String> {
    crate::manifest::arches::of(doc, distro, &sel.arches)
}

/// Validates `doc` and makes its plan with the default flags (what
/// `validate` and `plan` judge).
pub fn make(doc: &Document, sel: &Selection) -> Result<BuildPlan, ManifestError> {
    make_plan(doc, sel, &Flags::default())
}

/// Validates `doc`, makes its plan, and judges the run's flags against it:
/// what `build` and `validate` run, so that `validate` refuses exactly
/// what `build` would refuse before downloading anything. Every refusal is
/// a diagnostic (exit 2), located at the output or key it is about.
pub fn make_with(doc: &Document, sel: &Selection, flags: &Flags) -> anyhow::Result<BuildPlan> {
    let p = make_plan(doc, sel, flags)?;
    let selected = validate::selected_types(doc, sel);
    let mut problems = target::check_flags(flags, &selected);
    // Outputs whose artifact stage has not landed: refused now, not after
    // the lock resolved every package.
    for (at, t) in &selected {
        let pending = p
            .arches
            .iter()
            .flat_map(|a| &a.outputs)
            .any(|o| o.kind == *t && matches!(o.artifact, ArtifactPlan::Pending { .. }));
        if pending {
            problems.push((
                at.clone(),
                format!("the {t} output cannot be built yet: its artifact stage has not landed"),
            ));
        }
    }
    // A disk deploying a bootc output of this manifest needs it built in
    // the same run (`--only` may leave it out).
    let planned: Vec<&str> = p
        .arches
        .iter()
        .flat_map(|a| &a.outputs)
        .map(|o| o.name.as_str())
        .collect();
    for (at, t) in &selected {
        let missing = p
            .arches
            .iter()
            .flat_map(|a| &a.outputs)
            .filter(|o| o.kind == *t)
            .flat_map(|o| &o.depends_on)
            .find(|d| !planned.contains(&d.as_str()));
        if let Some(d) = missing {
            problems.push((
                at.clone(),
                format!("the {t} output deploys the bootc output {d:?} built in the same run, and this run does not build it (--only or --type left it out)"),
            ));
        }
    }
    let signers: Vec<&SignerPlan> = p
        .arches
        .iter()
        .flat_map(|a| &a.outputs)
        .filter_map(|o| match &o.artifact {
            ArtifactPlan::Disk {
                signer: Some(s), ..
            } => Some(s),
            _ => None,
        })
        .collect();
    let keys_at = keys_path(doc);
    problems.extend(
        target::check_files(&signers)
            .into_iter()
            .map(|m| (keys_at.clone(), m)),
    );
    if problems.is_empty() {
        return Ok(p);
    }
    let mut diags: Vec<Diagnostic> = problems
        .into_iter()
        .map(|(at, m)| {
            if at.is_empty() {
                Diagnostic::at(&doc.file(), &doc.text, None, m)
            } else {
                doc.diag(&at, m)
            }
        })
        .collect();
    diags.dedup();
    Err(ManifestError::Invalid(diags).into())
}

/// The `[boot.keys]` key that names the db key: `db_key`, else `dir`.
fn keys_path(doc: &Document) -> Vec<crate::manifest::Seg> {
    let k = doc.manifest.boot.as_ref().and_then(|b| b.keys.as_ref());
    let key = match k {
        Some(k) if k.db_key.is_some() => "db_key",
        Some(k) if k.dir.is_some() => "dir",
        _ => return vec!["boot".into(), "keys".into()],
    };
    vec!["boot".into(), "keys".into(), key.into()]
}

fn make_plan(doc: &Document, sel: &Selection, flags: &Flags) -> Result<BuildPlan, ManifestError> {
    let mut oci_diags = vec![];
    oci_input::check(doc, &mut oci_diags);
    let distro = match validate::check(doc, sel) {
        Ok(d) if oci_diags.is_empty() => d,
        Ok(_) => return Err(ManifestError::Invalid(oci_diags)),
        Err(mut d) => {
            d.extend(oci_diags);
            return Err(ManifestError::Invalid(d));
        }
    };
    let m = &doc.manifest;
    let mut diags: Vec<Diagnostic> = vec![];
    let weak_deps =
        m.build.as_ref().and_then(|b| b.weak_deps).unwrap_or(true) && !m.minimal.unwrap_or(false);
    let mirror = match chosen_mirror(doc, sel) {
        Ok(m) => m,
        Err(d) => {
            diags.push(d);
            None
        }
    };
    let mut arches = vec![];
    let mut warnings: Vec<Diagnostic> = vec![];
    for a in arches_of(doc, distro, sel) {
        let ar = arch::lookup(&a).expect("validated");
        let repos = repos::repos_for(doc, distro, ar, mirror.as_deref());
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
            match output_plan(doc, distro, ar, t, out, flags) {
                Ok(o) => {
                    if let Some(w) = derived_disk_warning(doc, &path, &o) {
                        if !warnings.contains(&w) {
                            warnings.push(w);
                        }
                    }
                    outputs.push(o)
                }
                Err((key, msg)) => {
                    let mut blame = path.clone();
                    if let (Some(k), Some(o)) = (key, out) {
                        if k == "size" && o.size.is_some() {
                            blame.pop();
                            blame.push(k.into());
                        } else if k.contains('.') {
                            // A key of a sub-table (`ostree.ref`): as deep
                            // as the manifest has it.
                            blame.pop();
                            blame.extend(k.split('.').map(crate::manifest::Seg::from));
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
        mirror,
        base_tls_verify: m.base.as_ref().and_then(|b| b.tls_verify).unwrap_or(true),
        arches,
        warnings,
    })
}

/// The warning of a disk that deploys `[base]` with the manifest's
/// additions installed (`deploy::derived_warning`), at its output.
fn derived_disk_warning(
    doc: &Document,
    path: &[crate::manifest::Seg],
    o: &OutputPlan,
) -> Option<Diagnostic> {
    let TreeSource::BaseImage { reference, .. } = &o.tree.source else {
        return None;
    };
    if o.deploy.is_none() || (o.packages.chain.is_empty() && o.tree.scripts.is_empty()) {
        return None;
    }
    let (msg, hint) = deploy::derived_warning(reference, o.kind);
    let at: Vec<crate::manifest::Seg> = if path.is_empty() {
        vec!["base".into(), "image".into()]
    } else {
        path.to_vec()
    };
    Some(doc.diag(&at, msg).hint(hint))
}

/// The mirror root in effect: `--mirror` over `[build] mirror`, checked.
/// A bad flag is the CLI's to report (`check_mirror_flag`); reaching here
/// it is still a diagnostic, never a panic.
fn chosen_mirror(doc: &Document, sel: &Selection) -> Result<Option<String>, Diagnostic> {
    if let Some(f) = &sel.mirror {
        return mirror::parse(f)
            .map(Some)
            .map_err(|e| doc.diag(&[], format!("--mirror: {e}")));
    }
    let Some(m) = doc.manifest.build.as_ref().and_then(|b| b.mirror.as_ref()) else {
        return Ok(None);
    };
    mirror::parse(m).map(Some).map_err(|e| {
        doc.diag(&["build".into(), "mirror".into()], e)
            .hint("a mirror is the directory holding $releasever/ (https://HOST/almalinux/)")
    })
}

/// `--mirror URL` judged alone, so a bad one is an input error naming the
/// flag (exit 2) before anything else happens.
pub fn check_mirror_flag(sel: &Selection) -> Result<(), crate::error::InputError> {
    match &sel.mirror {
        Some(f) => mirror::parse(f)
            .map(|_| ())
            .map_err(|e| crate::error::InputError(format!("--mirror: {e}"))),
        None => Ok(()),
    }
}

fn default_name(doc: &Document) -> String {
    doc.path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "image".into())
}

/// `VENDOR/MAJOR/ARCH/NAME` as rpm-ostree composes name their branches
/// (`fedora/40/x86_64/silverblue`): `almalinux-10` gives
/// `almalinux/10/ARCH/NAME`; a distro id without a version uses the
/// release version.
fn default_ostree_ref(distro: &DistroDef, ar: &Arch, name: &str) -> String {
    let (vendor, major) = match distro.id.rsplit_once('-') {
        Some((v, n)) if n.bytes().all(|b| b.is_ascii_digit()) => (v.to_string(), n.to_string()),
        _ => (distro.id.clone(), distro.releasever.clone()),
    };
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    format!(
        "{}/{}/{}/{}",
        clean(&vendor),
        clean(&major),
        ar.name,
        clean(name)
    )
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
    flags: &Flags,
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
    let firmware = boot::firmware(m, ar, t);

    let packages = packages::package_plan(doc, distro, ar, t, firmware)?;

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
            .map(|mut l| {
                // Google's image import takes whole GiB only.
                if t == OutputType::Gce {
                    layout::round_up(&mut l, layout::GIB);
                }
                l
            })
            .map_err(|e| (Some("size"), e))?,
        )
    } else {
        None
    };
    let boot = boot::plan(doc, distro, ar, t, firmware);
    let dir = target::manifest_dir(doc);
    let source = match (
        &m.base,
        deploy::own_output(doc),
        deploy::deployed_output(doc),
    ) {
        // `output:NAME`: that bootc output composes from packages, and the
        // disks deploy what it built.
        (Some(_), Some(_), _) if t == OutputType::Oci => TreeSource::Packages,
        // A bootc output built in this run (composed, or derived from
        // [base]) is the image the disks deploy.
        (Some(_), _, Some(name)) if t.is_disk() => TreeSource::Output { name },
        (Some(_), Some(name), _) => TreeSource::Output {
            name: name.to_string(),
        },
        (Some(b), None, _) => TreeSource::BaseImage {
            reference: b.image.clone(),
            tls_verify: b.tls_verify.unwrap_or(true),
        },
        (None, ..) => TreeSource::Packages,
    };
    let archive_of = |n: &str| {
        m.output.iter().find(|o| o.name() == n).map(|o| {
            let f = o
                .filename
                .clone()
                .unwrap_or_else(|| format!("{base}.{}", o.kind.extension()));
            flags.output_dir.join(f).display().to_string()
        })
    };
    let deploy = deploy::plan(doc, t, flags, &archive_of).map_err(|e| (None, e))?;
    let kernel_args = if matches!(t, OutputType::Oci | OutputType::Ostree) {
        boot::manifest_kernel_args(m)
    } else if t.is_bootable() {
        boot::kernel_args(m, distro, ar)
    } else {
        vec![]
    };
    let tree = TreePlan {
        source,
        releasever: distro.releasever.clone(),
        major: distro.major,
        rpmdb: distro.rpmdb.clone(),
        dbpath: if distro.major >= 10 {
            "/usr/lib/sysimage/rpm".into()
        } else {
            "/var/lib/rpm".into()
        },
        kernel_args,
        bootc: matches!(t, OutputType::Oci | OutputType::Ostree),
        customizations: m.customizations.clone(),
        scripts: scripts::plan(doc, &dir).map_err(|e| (None, e))?,
        manifest_dir: dir.clone(),
    };
    let version = m
        .version
        .clone()
        .unwrap_or_else(|| distro.releasever.clone());
    let artifact = match t {
        OutputType::Tar => ArtifactPlan::Tar,
        OutputType::Directory => ArtifactPlan::Directory,
        OutputType::Oci => ArtifactPlan::Oci(
            target::oci_plan(out, flags, &version).map_err(|(k, e)| (Some(k), e))?,
        ),
        k if k.is_disk() => ArtifactPlan::Disk {
            format: k.as_str().to_string(),
            signer: boot
                .as_ref()
                .map(|b| target::signer_plan(doc, b, &dir))
                .transpose()
                .map_err(|e| (None, e))?
                .flatten(),
        },
        OutputType::Ostree => ArtifactPlan::Ostree(
            target::ostree_plan(
                out,
                default_ostree_ref(distro, ar, &base),
                ar.basearch,
                &version,
                &dir,
            )
            .map_err(|(k, e)| (Some(k), e))?,
        ),
        OutputType::IsoLive => {
            let Some(b) = boot.as_ref().filter(|_| ar.has_uefi() || ar.bios) else {
                return Err((
                    None,
                    format!("an iso-live output boots through UEFI or BIOS, and {} has neither: ISOs are built for x86_64 and aarch64", ar.name),
                ));
            };
            ArtifactPlan::IsoLive(
                target::iso_plan(out, target::default_volume_id(&base, &version, ar.name), b)
                    .map_err(|e| (None, e))?,
            )
        }
        _ => ArtifactPlan::Pending {
            stage: "installer ISOs".into(),
        },
    };
    let mut destinations = vec![Destination::File {
        path: flags.output_dir.join(&filename),
    }];
    if let (Some(p), OutputType::Oci) = (&flags.push, t) {
        destinations.push(Destination::Registry {
            reference: p.clone(),
            tls_verify: flags.tls_verify,
            sign_key: flags.sign_key.clone(),
        });
    }
    let depends_on = match &tree.source {
        TreeSource::Output { name } => vec![name.clone()],
        _ => vec![],
    };
    Ok(OutputPlan {
        name,
        kind: t,
        filename,
        packages,
        customizations,
        disk,
        verify: flags.verify && boot.is_some(),
        boot,
        tree,
        artifact,
        destinations,
        depends_on,
        deploy,
    })
}

/// Helper for the CLI: does the distro registry load at all.
pub fn distros_ok() -> Result<(), String> {
    distro::all().map(|_| ())
}
