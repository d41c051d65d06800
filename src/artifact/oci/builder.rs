//! The bootc/OCI artifact builder. Every arch of one output goes into one
//! OCI layout (an index when there are several arches), written as one
//! OCI archive; the deliver stage pushes it.
//!
//! The previous image's layer plan (the archive already at the output
//! path, else the tag at the push destination; only manifests are read)
//! keeps unchanged packages in identically-digested layers, which is what
//! makes an unchanged rebuild push nothing.

use crate::artifact::{Builder, Produced, Target, Tree};
use crate::oci::image::{Descriptor, Index, Manifest, Platform};
use crate::oci::layout::Layout;
use crate::oci::reference::{self, Reference};
use crate::oci::registry;
use crate::plan::{Destination, OciPlan, OutputPlan};
use crate::progress::{Event, Progress};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// Where the previous image's plan comes from.
enum Previous {
    None,
    Archive(Layout),
    Remote(Reference, bool),
}

/// A written image the deliver stage can push: its layout (kept alive in
/// the pipeline's work directory), tag, top descriptor and SBOMs.
pub struct Pushable {
    pub layout: Layout,
    pub tag: String,
    pub top: Descriptor,
    pub sboms: Vec<(Descriptor, [PathBuf; 2])>,
}

pub struct OciBuilder {
    work: PathBuf,
    layout: Layout,
    filename: String,
    output: String,
    output_dir: PathBuf,
    plan: OciPlan,
    /// With `--sign-key`: the image carries the policy that verifies its
    /// own updates.
    sign_key: Option<PathBuf>,
    images: Vec<(String, Descriptor, crate::artifact::sbom::Document)>,
    previous: Previous,
    source_date_epoch: i64,
}

fn registry_options(tls_verify: bool) -> registry::Options {
    registry::Options {
        tls_verify,
        authfile: None,
    }
}

impl OciBuilder {
    pub fn new(o: &OutputPlan, p: &OciPlan, work: &Path, output_dir: &Path) -> Result<OciBuilder> {
        let work = tempfile::Builder::new()
            .prefix("oci.")
            .tempdir_in(work)
            .context("making the image's work directory")?
            .keep();
        let layout = Layout::create(&work.join("layout"))?;
        let push = o.destinations.iter().find_map(|d| match d {
            Destination::Registry {
                reference,
                tls_verify,
                sign_key,
            } => Some((reference.clone(), *tls_verify, sign_key.clone())),
            _ => None,
        });
        let previous = previous_image(
            &work,
            &output_dir.join(&o.filename),
            push.as_ref().map(|(r, t, _)| (r.as_str(), *t)),
            &p.tag,
        );
        Ok(OciBuilder {
            work,
            layout,
            filename: o.filename.clone(),
            output: o.name.clone(),
            output_dir: output_dir.to_path_buf(),
            plan: p.clone(),
            sign_key: push.and_then(|x| x.2),
            images: vec![],
            previous,
            source_date_epoch: 0,
        })
    }
}

impl Builder for OciBuilder {
    fn add(&mut self, t: &Target, tree: Tree, progress: &dyn Progress) -> Result<Vec<Produced>> {
        let (a, o) = (t.arch, t.output);
        let arch = crate::distro::arch::lookup(&a.arch).context("planned arch vanished")?;
        let platform = super::platform(arch);
        let root = &tree.root;
        let sde = tree.report.source_date_epoch;
        // A derived image reuses the base's layers: their blobs join this
        // layout.
        if let Some(b) = &tree.base {
            let m = &b.image.manifest;
            for d in m.layers.iter().chain(std::iter::once(&m.config)) {
                self.layout.copy_blob_from(&b.layout, &d.digest, d.size)?;
            }
        }
        if let Some(key) = &self.sign_key {
            let pem = crate::sigstore::cosign_key::load(key, None)?.public_pem();
            let scope = self
                .plan
                .signing_scope
                .clone()
                .context("--sign-key: the image's verification policy needs its repository")?;
            crate::sigstore::policy::install(root, &pem, &scope, sde)?;
        }
        for f in crate::bootc::check(root).context("bootc lint")? {
            progress.event(&Event::Note {
                message: format!("lint warning {}: {}", f.rule, f.message),
            });
        }
        crate::tarball::clamp_mtimes(root, sde)?;
        let packages = package_files(&tree.report)?;
        let compression: super::Compression = self
            .plan
            .compression
            .parse()
            .map_err(|e| anyhow::anyhow!("[output.oci] compression: {e}"))?;
        let previous = previous_manifest(&self.previous, &platform);
        let built = super::build_image(
            &self.layout,
            &super::ImageRequest {
                root,
                packages: &packages,
                base: tree.base.as_ref().map(|b| &b.image),
                previous: previous.as_ref(),
                max_layers: self.plan.max_layers,
                compression,
                source_date_epoch: sde,
                platform,
                labels: self.plan.labels.clone(),
                cmd: vec!["/sbin/init".into()],
                stop_signal: Some("SIGRTMIN+3".into()),
                env: vec![
                    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin".into(),
                    "container=oci".into(),
                ],
            },
        )?;
        let sbom = t.sbom(&tree)?;
        progress.event(&Event::Image {
            arch: a.arch.clone(),
            output: o.name.clone(),
            digest: built.manifest.digest.clone(),
            layers_written: built.layers,
            layers: built.diff_ids.len(),
            packages: tree.report.packages.len(),
            derived: tree.base.is_some(),
            reused_plan: previous.is_some(),
        });
        self.images.push((a.arch.clone(), built.manifest, sbom));
        self.source_date_epoch = self.source_date_epoch.max(sde);
        std::fs::remove_dir_all(root).with_context(|| format!("removing {}", root.display()))?;
        Ok(vec![])
    }

    fn finish(self: Box<Self>, progress: &dyn Progress) -> Result<Vec<Produced>> {
        let s = *self;
        let top = if s.images.len() == 1 {
            let d = s.images[0].1.clone();
            s.layout.add_ref(&s.plan.tag, &d)?;
            d
        } else {
            let descs: Vec<_> = s.images.iter().map(|x| x.1.clone()).collect();
            super::write_index(&s.layout, &descs, &s.plan.tag)?
        };
        let out = s.output_dir.join(&s.filename);
        // Only the final image goes into the archive: base and previous
        // images pulled for the build stay out.
        let clean = s.work.join("archive");
        registry::push(
            s.layout.dir(),
            &s.plan.tag,
            &Reference::OciDir {
                path: clean.clone(),
                tag: Some(s.plan.tag.clone()),
            },
            &registry_options(true),
        )?;
        crate::oci::layout::write_archive(&clean, &out, s.source_date_epoch)?;
        let mut sboms = vec![];
        for (arch, desc, doc) in &s.images {
            let at = if s.images.len() == 1 {
                out.clone()
            } else {
                s.output_dir.join(format!("{}.{arch}", s.filename))
            };
            sboms.push((desc.clone(), crate::artifact::sbom::write_beside(&at, doc)?));
        }
        progress.event(&Event::Artifact {
            arch: None,
            output: s.output.clone(),
            kind: "oci".into(),
            path: out.clone(),
            packages: None,
            customizations: None,
            selinux_labelled: None,
            source_date_epoch: None,
            digest: Some(top.digest.clone()),
            tag: Some(s.plan.tag.clone()),
            arches: Some(s.images.iter().map(|x| x.0.clone()).collect()),
        });
        Ok(vec![Produced {
            output: s.output,
            arch: None,
            path: out,
            bootable: None,
            image: Some(Pushable {
                layout: s.layout,
                tag: s.plan.tag,
                top,
                sboms,
            }),
        }])
    }
}

/// The files each installed package owns, from its header.
fn package_files(report: &crate::tree::make::Report) -> Result<Vec<super::PackageFiles>> {
    report
        .packages
        .iter()
        .map(|p| {
            let h = &p.header;
            Ok(super::PackageFiles {
                name: h.name().to_string(),
                size: h
                    .ints(crate::tree::rpmhdr::tag::SIZE)
                    .first()
                    .copied()
                    .unwrap_or(0),
                paths: h
                    .files()?
                    .into_iter()
                    .map(|f| PathBuf::from(f.path))
                    .collect(),
            })
        })
        .collect()
}

/// The previous image: the archive at the output path, else the tag at
/// the push destination. Unreadable ones are a warning: the build goes on
/// without a plan (layers may then differ more than they need to).
fn previous_image(work: &Path, out: &Path, push: Option<(&str, bool)>, tag: &str) -> Previous {
    if out.is_file() {
        match crate::oci::layout::read_archive(out, &work.join("previous")) {
            Ok(l) => return Previous::Archive(l),
            Err(e) => crate::report::info(format!(
                "warning: {} is not a readable OCI archive ({e:#}); building without its layer plan",
                out.display()
            )),
        }
    }
    match push.map(|(r, t)| (reference::parse(r), t)) {
        Some((Ok(r @ Reference::Docker { .. }), t)) => Previous::Remote(r.with_tag(tag), t),
        _ => Previous::None,
    }
}

/// The previous image's manifest for `platform`, if there is one.
fn previous_manifest(prev: &Previous, platform: &Platform) -> Option<Manifest> {
    let got = match prev {
        Previous::None => return None,
        Previous::Archive(l) => l
            .index()
            .ok()
            .and_then(|ix| ix.manifests.first().cloned())
            .and_then(|top| super::select(l, &top, platform).ok())
            .and_then(|d| l.read_json::<Manifest>(&d).ok()),
        Previous::Remote(r, tls) => remote_manifest(r, platform, *tls),
    };
    if got.is_none() {
        crate::report::verbose("no previous image for this platform: a fresh layer plan");
    }
    got
}

fn remote_manifest(r: &Reference, platform: &Platform, tls_verify: bool) -> Option<Manifest> {
    let o = registry_options(tls_verify);
    let (_, media_type, bytes) = registry::fetch_manifest(r, &o).ok()??;
    if media_type.contains("index") || media_type.contains("manifest.list") {
        let ix: Index = serde_json::from_slice(&bytes).ok()?;
        let d = ix.manifests.iter().find(|m| {
            m.platform.as_ref().is_some_and(|p| {
                p.architecture == platform.architecture
                    && p.os == platform.os
                    && p.variant == platform.variant
            })
        })?;
        let (_, _, bytes) = registry::fetch_manifest(&r.with_digest(&d.digest), &o).ok()??;
        serde_json::from_slice(&bytes).ok()
    } else {
        serde_json::from_slice(&bytes).ok()
    }
}
