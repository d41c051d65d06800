//! The tree stage: one tree per distinct tree plan, made from its source
//! (packages into an empty root, or a base image's root with packages
//! added; a disk deploying `[base]` gets the manifest's packages and
//! build scripts there, its customizations later in the deployment), then
//! boot-prepared for its kind (a bootc layout for images;
//! disks lay out /boot themselves from `tree::boot`). A tree needed by
//! several outputs is built once and copied for all but its last user,
//! because every artifact builder may change the tree it is given.

use crate::artifact::{BaseTree, Target, Tree};
use crate::error::InputError;
use crate::oci::reference::{self, Reference};
use crate::oci::registry;
use crate::plan::TreeSource;
use crate::progress::{Event, Progress};
use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Trees by key, with how many targets still need each.
pub(super) struct Store {
    dir: PathBuf,
    uses: HashMap<String, usize>,
    built: HashMap<String, Tree>,
    next: usize,
    /// Finished stages of earlier builds (`crate::stages`).
    stages: crate::stages::Store,
}

/// The key two targets share exactly when they get the same tree.
pub(super) fn key(t: &Target) -> String {
    let own = match &t.output.tree.source {
        // A derived tree holds its base's layout, and a deployed disk
        // converts its image in place: never shared.
        TreeSource::BaseImage { .. } => t.output.name.clone(),
        // Build scripts see IMAGE_BUILDER_OUTPUT and may act on it: each
        // output runs them on a tree of its own.
        _ if !t.output.tree.scripts.is_empty() => t.output.name.clone(),
        _ if t.output.deploy.is_some() => t.output.name.clone(),
        _ => String::new(),
    };
    let pkgs: Vec<&str> = t
        .lock
        .packages
        .iter()
        .map(|p| p.checksum.as_str())
        .collect();
    format!(
        "{}\n{own}\n{}",
        t.output.tree.key(&t.arch.arch),
        pkgs.join(",")
    )
}

impl Store {
    pub(super) fn new(dir: PathBuf, keys: &[String], stages: crate::stages::Store) -> Store {
        let mut uses = HashMap::new();
        for k in keys {
            *uses.entry(k.clone()).or_insert(0) += 1;
        }
        Store {
            dir,
            uses,
            built: HashMap::new(),
            next: 0,
            stages,
        }
    }

    fn fresh_dir(&mut self) -> Result<PathBuf> {
        self.next += 1;
        let d = self.dir.join(format!("tree-{}", self.next));
        std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
        Ok(d)
    }

    /// The tree for `t`: built now, or a copy of one built for an earlier
    /// target with the same key (the original itself for its last user).
    pub(super) fn take(
        &mut self,
        t: &Target,
        rpms: &[PathBuf],
        progress: &dyn Progress,
    ) -> Result<Tree> {
        let k = key(t);
        let left = self.uses.get(&k).copied().unwrap_or(1);
        let shared = self.built.contains_key(&k);
        let tree = match self.built.remove(&k) {
            Some(tr) => tr,
            None => {
                let dir = self.fresh_dir()?;
                build(t, rpms, &dir, progress, &self.stages).with_context(|| {
                    format!("building the {} tree for {}", t.arch.arch, t.output.name)
                })?
            }
        };
        self.uses.insert(k.clone(), left.saturating_sub(1));
        progress.event(&Event::Tree {
            arch: t.arch.arch.clone(),
            output: t.output.name.clone(),
            packages: tree.report.packages.len(),
            shared,
        });
        if left <= 1 {
            return Ok(tree);
        }
        // Others still need it: keep the original, hand out a copy.
        let dir = self.fresh_dir()?;
        let root = dir.join("root");
        crate::tools::copy_tree(&tree.root, &root)?;
        let copy = Tree {
            root,
            report: tree.report.clone(),
            base: None,
        };
        self.built.insert(k, tree);
        Ok(copy)
    }
}

/// Builds `t`'s tree under `dir`.
fn build(
    t: &Target,
    rpms: &[PathBuf],
    dir: &Path,
    progress: &dyn Progress,
    stages: &crate::stages::Store,
) -> Result<Tree> {
    let tp = &t.output.tree;
    let root = dir.join("root");
    let arch = crate::distro::arch::lookup(&t.arch.arch).context("planned arch vanished")?;
    // A disk deployed from the image as it is reads the layers only when
    // its build-cache entry is missing (`artifact::disk::deploy`).
    let unpack =
        !(t.output.deploy.is_some() && t.lock.packages.is_empty() && tp.scripts.is_empty());
    let base = match &tp.source {
        TreeSource::Packages => None,
        TreeSource::BaseImage {
            reference,
            tls_verify,
        } => {
            let locked = t.lock.base.as_ref().with_context(|| {
                format!(
                    "the lock has no base image for {}/{}",
                    t.arch.arch, t.output.name
                )
            })?;
            let layout = crate::oci::layout::Layout::create(&dir.join("base"))?;
            let image = unpack_base(
                &layout,
                &locked.reference,
                &locked.digest,
                &crate::artifact::oci::platform(arch),
                *tls_verify,
                &root,
                unpack,
            )
            .with_context(|| format!("reading the base image {reference}"))?;
            Some(BaseTree {
                image,
                layout,
                digest: locked.digest.clone(),
                unpacked: unpack,
            })
        }
        TreeSource::Output { name } if t.output.deploy.is_some() => {
            Some(own_image(t, name, dir, &root, unpack).with_context(|| {
                format!("reading the bootc image output {name} built in this run")
            })?)
        }
        TreeSource::Output { name } => {
            bail!("trees made from another output ({name}) are only deployed to disks")
        }
    };
    // A disk deployed from a bootc image takes the image as it is, or,
    // deploying [base] itself, with the manifest's additions (locked
    // packages, build scripts) made in it first; the customizations go to
    // the deployment either way (see `artifact::disk::deploy`). A bootc
    // output built in this run ran the scripts in its own tree already.
    let derived = matches!(tp.source, TreeSource::BaseImage { .. })
        && (!rpms.is_empty() || !tp.scripts.is_empty());
    if t.output.deploy.is_some() && derived {
        let base = base.context("a deployed disk has no image")?;
        let report = make_tree(t, rpms, &root, None, &[], Some(&base), progress, stages)?;
        return Ok(Tree {
            root,
            report,
            base: Some(base),
        });
    }
    if t.output.deploy.is_some() {
        let base = base.context("a deployed disk has no image")?;
        let created = created_epoch(&base.image.config);
        let sde = match std::env::var("SOURCE_DATE_EPOCH") {
            Ok(v) if !v.trim().is_empty() => crate::tree::make::source_date_epoch(&[])?,
            _ => created,
        };
        return Ok(Tree {
            root,
            report: crate::tree::make::Report {
                packages: vec![],
                customizations: vec![],
                scripts: vec![],
                selinux_labelled: false,
                source_date_epoch: sde,
            },
            base: Some(base),
        });
    }
    let kargs: &[String] = if tp.bootc { &[] } else { &tp.kernel_args };
    let report = make_tree(
        t,
        rpms,
        &root,
        tp.customizations.as_ref(),
        kargs,
        base.as_ref(),
        progress,
        stages,
    )?;
    if tp.bootc && base.is_none() {
        let p = crate::bootc::prepare(
            &root,
            &crate::bootc::Options {
                kargs: &tp.kernel_args,
                arch,
                distro: t.distro,
                source_date_epoch: report.source_date_epoch,
            },
        )?;
        crate::report::info(format!("bootc: kernel {}", p.kernel));
    } else if tp.bootc && !tp.kernel_args.is_empty() {
        // A derived image keeps its base's layout; the manifest's kernel
        // arguments still belong in it.
        let f = crate::bootc::add_kargs(
            &root,
            &tp.kernel_args,
            &t.plan.name,
            report.source_date_epoch,
        )?;
        crate::report::info(format!("bootc: kernel arguments in {f}"));
    }
    Ok(Tree { root, report, base })
}

/// Installs `rpms` into `root` (onto `base` when there is one), applies
/// `customizations` and runs the target's build scripts.
#[allow(clippy::too_many_arguments)]
fn make_tree(
    t: &Target,
    rpms: &[PathBuf],
    root: &Path,
    customizations: Option<&crate::manifest::blueprint::Customizations>,
    kargs: &[String],
    base: Option<&BaseTree>,
    progress: &dyn Progress,
    stages: &crate::stages::Store,
) -> Result<crate::tree::make::Report> {
    let tp = &t.output.tree;
    crate::tree::make::make(&crate::tree::make::Request {
        root,
        rpms,
        customizations,
        manifest_dir: &tp.manifest_dir,
        releasever: &tp.releasever,
        major: tp.major,
        rpmdb: &tp.rpmdb,
        kernel_cmdline: kargs,
        base_created: base.map(|b| created_epoch(&b.image.config)),
        scripts: &tp.scripts,
        arch: &t.arch.arch,
        output: &t.output.name,
        on_script_line: &|script: &str, line: &str| {
            progress.event(&Event::ScriptOutput {
                arch: t.arch.arch.clone(),
                output: t.output.name.clone(),
                script: script.to_string(),
                line: line.to_string(),
            })
        },
        stages: Some(stages),
    })
}

/// The image another output of this run wrote (its OCI archive in the
/// output directory), this arch's manifest unpacked into `root`.
/// The layers are applied only with `unpack`.
fn own_image(t: &Target, name: &str, dir: &Path, root: &Path, unpack: bool) -> Result<BaseTree> {
    let o = t
        .arch
        .outputs
        .iter()
        .find(|o| o.name == name)
        .with_context(|| format!("this run builds no output {name}"))?;
    let path = o
        .destinations
        .iter()
        .find_map(|d| match d {
            crate::plan::Destination::File { path } => Some(path.clone()),
            _ => None,
        })
        .with_context(|| format!("output {name} is written to no file"))?;
    let path = std::path::absolute(&path).unwrap_or(path);
    let src = reference::parse(&format!("oci-archive:{}", path.display()))?;
    let layout = crate::oci::layout::Layout::create(&dir.join("base"))?;
    registry::pull(
        &src,
        layout.dir(),
        "image",
        &registry::Options {
            tls_verify: true,
            authfile: None,
        },
    )?;
    let arch = crate::distro::arch::lookup(&t.arch.arch).context("planned arch vanished")?;
    let top = layout.resolve("image")?;
    let d = crate::artifact::oci::select(&layout, &top, &crate::artifact::oci::platform(arch))?;
    let image = if unpack {
        crate::artifact::oci::unpack(&layout, &d, root)?
    } else {
        crate::artifact::oci::read_only(&layout, &d, root)?
    };
    Ok(BaseTree {
        image,
        layout,
        digest: d.digest,
        unpacked: unpack,
    })
}

/// Pulls the locked base image into `layout` and unpacks this arch's
/// manifest into `root` (with `unpack`; else only its manifest and config
/// are read). The lock pins the manifest digest: a base that moved since
/// `lock` is refused rather than silently used.
fn unpack_base(
    layout: &crate::oci::layout::Layout,
    reference: &str,
    digest: &str,
    platform: &crate::oci::image::Platform,
    tls_verify: bool,
    root: &Path,
    unpack: bool,
) -> Result<crate::artifact::oci::BaseImage> {
    let src = reference::parse(reference)?;
    let tag = format!("base-{}", digest.replace(':', "-"));
    let src = match &src {
        Reference::Docker { .. } => src.with_digest(digest),
        _ => src,
    };
    registry::pull(
        &src,
        layout.dir(),
        &tag,
        &registry::Options {
            tls_verify,
            authfile: None,
        },
    )?;
    let top = layout.resolve(&tag)?;
    let d = crate::artifact::oci::select(layout, &top, platform)?;
    if d.digest != digest {
        return Err(InputError(format!(
            "the base image {reference} is now {} for {}, but the lock has {digest}; \
             run `image-builder lock` to move to it",
            d.digest, platform.architecture
        ))
        .into());
    }
    if unpack {
        crate::artifact::oci::unpack(layout, &d, root)
    } else {
        crate::artifact::oci::read_only(layout, &d, root)
    }
}

/// The base's `created` as seconds since 1970 (0 when absent).
pub(crate) fn created_epoch(config: &serde_json::Value) -> i64 {
    config["created"]
        .as_str()
        .and_then(crate::civil::parse_rfc3339)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rfc3339_dates() {
        assert_eq!(crate::civil::parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            crate::civil::parse_rfc3339("2023-11-14T23:13:20.123456789+01:00"),
            Some(1_700_000_000)
        );
        assert_eq!(crate::civil::parse_rfc3339("yesterday"), None);
        assert_eq!(
            created_epoch(&json!({"created": crate::oci::image::rfc3339(1_234_567_890)})),
            1_234_567_890
        );
        assert_eq!(created_epoch(&json!({})), 0);
    }
}
