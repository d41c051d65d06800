//! bootc/OCI outputs of `build`. Every arch of one output goes into one
//! OCI layout (an index when there are several arches), written as one
//! OCI archive and, with `--push`, pushed, signed and given its SBOMs as
//! referrers.
//!
//! Compose mode builds the tree from repos and lays it out the bootc way;
//! derive mode unpacks the locked base image and adds to it. Either way
//! the previous image's layer plan (the archive already at the output
//! path, else the tag at `--push`; only manifests are read) keeps
//! unchanged packages in identically-digested layers, which is what makes
//! an unchanged rebuild push nothing.

use super::super::{print_json_line, Ctx};
use crate::artifact::{self, oci};
use crate::cli::BuildArgs;
use crate::error::InputError;
use crate::manifest::ours::OciOptions;
use crate::manifest::Document;
use crate::plan::{self, ArchPlan, OutputPlan};
use crate::publish::{self, reference::Reference, registry};
use crate::resolve::lockfile::Target;
use crate::tree;
use anyhow::{Context, Result};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where the previous image's plan comes from.
enum Previous {
    None,
    Archive(oci::layout::Layout),
    Remote(Reference),
}

/// One OCI output across its arches.
pub struct Session {
    work: tempfile::TempDir,
    layout: oci::layout::Layout,
    filename: String,
    tag: String,
    images: Vec<(String, oci::image::Descriptor, artifact::sbom::Document)>,
    previous: Previous,
    source_date_epoch: i64,
}

/// Sessions by output name.
pub type Sessions = BTreeMap<String, Session>;

/// `--push`, parsed.
pub fn push_target(args: &BuildArgs) -> Result<Option<Reference>> {
    Ok(args
        .push
        .as_deref()
        .map(publish::reference::parse)
        .transpose()?)
}

fn registry_options(tls_verify: bool) -> registry::Options {
    registry::Options {
        tls_verify,
        authfile: None,
    }
}

fn oci_options(doc: &Document, o: &OutputPlan) -> OciOptions {
    doc.manifest
        .output
        .iter()
        .find(|x| x.name() == o.name)
        .and_then(|x| x.oci.clone())
        .unwrap_or_default()
}

/// The manifest's `[output.oci] reference`, as a docker reference.
fn manifest_reference(doc: &Document, o: &OutputPlan) -> Result<Option<Reference>> {
    let Some(r) = oci_options(doc, o).reference else {
        return Ok(None);
    };
    let s = if r.contains("://") || r.starts_with("oci:") || r.starts_with("oci-archive:") {
        r
    } else {
        format!("docker://{r}")
    };
    Ok(Some(publish::reference::parse(&s).map_err(|e| {
        InputError(format!("{}: [output.oci] reference: {e}", doc.file()))
    })?))
}

/// The tag an output is written under: `--push`'s, else the manifest's
/// `[output.oci] reference`'s, else `latest`.
fn tag_for(doc: &Document, o: &OutputPlan, push: Option<&Reference>) -> Result<String> {
    if let Some(t) = push.and_then(|r| r.tag()) {
        return Ok(t.to_string());
    }
    Ok(manifest_reference(doc, o)?
        .and_then(|r| r.tag().map(str::to_string))
        .unwrap_or_else(|| "latest".into()))
}

/// What one arch of one OCI output is built from.
pub struct ArchInput<'a> {
    pub doc: &'a Document,
    pub plan: &'a plan::BuildPlan,
    pub arch: &'a ArchPlan,
    pub output: &'a OutputPlan,
    pub rpms: &'a [PathBuf],
    pub target: &'a Target,
    pub manifest_dir: &'a Path,
    pub distro: &'static crate::distro::DistroDef,
}

/// Builds one arch's image into its output's session.
pub fn build_arch(
    ctx: Ctx,
    args: &BuildArgs,
    sessions: &mut Sessions,
    i: &ArchInput,
) -> Result<()> {
    let o = i.output;
    let push = push_target(args)?;
    if !sessions.contains_key(&o.name) {
        let work = tempfile::Builder::new()
            .prefix(".image-builder.")
            .tempdir_in(&args.output_dir)?;
        let layout = oci::layout::Layout::create(&work.path().join("layout"))?;
        let tag = tag_for(i.doc, o, push.as_ref())?;
        let previous = previous_image(args, &work, &o.filename, push.as_ref(), &tag);
        sessions.insert(
            o.name.clone(),
            Session {
                work,
                layout,
                filename: o.filename.clone(),
                tag,
                images: vec![],
                previous,
                source_date_epoch: 0,
            },
        );
    }
    let s = sessions.get_mut(&o.name).expect("inserted above");
    let arch = crate::distro::arch::lookup(&i.arch.arch).context("planned arch vanished")?;
    let root = s.work.path().join(format!("tree-{}", i.arch.arch));
    let platform = oci::platform(arch);

    // Derive mode: the locked base image, unpacked.
    let base = match &i.target.base {
        Some(b) => Some(
            unpack_base(&s.layout, &b.reference, &b.digest, &platform, i.plan, &root)
                .with_context(|| format!("reading the base image {}", b.reference))?,
        ),
        None => None,
    };
    let base_created = base.as_ref().map(|b| created_epoch(&b.config));
    let kargs: Vec<String> = o
        .boot
        .as_ref()
        .map(|b| b.cmdline.clone())
        .unwrap_or_default();
    let report = tree::make::make(&tree::make::Request {
        root: &root,
        rpms: i.rpms,
        customizations: i.doc.manifest.customizations.as_ref(),
        manifest_dir: i.manifest_dir,
        releasever: &i.plan.distro.releasever,
        major: i.distro.major,
        rpmdb: &i.plan.distro.rpmdb,
        kernel_cmdline: &[],
        base_created,
    })
    .with_context(|| format!("building the {} tree for {}", i.arch.arch, o.name))?;
    let sde = report.source_date_epoch;
    if base.is_none() {
        let p = crate::bootc::prepare(
            &root,
            &crate::bootc::Options {
                kargs: &kargs,
                arch,
                distro: i.distro,
                source_date_epoch: sde,
            },
        )?;
        crate::report::info(format!("bootc: kernel {}", p.kernel));
    }
    // A signed image carries the policy that verifies its own updates.
    if let Some(key) = &args.sign_key {
        let pem = publish::cosign_key::load(key, None)?.public_pem();
        let scope = signing_scope(push.as_ref(), i.doc, o)?;
        publish::policy::install(&root, &pem, &scope, sde)?;
    }
    for f in crate::bootc::check(&root).context("bootc lint")? {
        crate::report::info(format!("lint warning {}: {}", f.rule, f.message));
    }
    artifact::tar::clamp_mtimes(&root, sde)?;
    let packages = package_files(&report)?;
    let opts = oci_options(i.doc, o);
    let compression: oci::Compression = opts
        .compression
        .as_deref()
        .unwrap_or("gzip")
        .parse()
        .map_err(|e| anyhow::anyhow!("{}: [output.oci] compression: {e}", i.doc.file()))?;
    let mut labels: BTreeMap<String, String> = BTreeMap::new();
    labels.insert("containers.bootc".into(), "1".into());
    labels.insert("ostree.bootable".into(), "1".into());
    labels.insert(
        "org.opencontainers.image.version".into(),
        i.plan
            .version
            .clone()
            .unwrap_or_else(|| i.plan.distro.releasever.clone()),
    );
    labels.extend(opts.labels.clone());
    let previous = previous_manifest(&s.previous, &platform, args.tls_verify);
    let built = oci::build_image(
        &s.layout,
        &oci::ImageRequest {
            root: &root,
            packages: &packages,
            base: base.as_ref(),
            previous: previous.as_ref(),
            max_layers: opts.max_layers.unwrap_or(64).max(2) as usize,
            compression,
            source_date_epoch: sde,
            platform,
            labels,
            cmd: vec!["/sbin/init".into()],
            stop_signal: Some("SIGRTMIN+3".into()),
            env: vec![
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin".into(),
                "container=oci".into(),
            ],
        },
    )?;
    let sbom = super::sbom_document(&report, i.target, &o.filename, &i.plan.distro, &i.arch.arch)?;
    if ctx.json {
        print_json_line(&json!({
            "event": "image",
            "arch": i.arch.arch,
            "output": o.name,
            "digest": built.manifest.digest,
            "layers_written": built.layers,
            "layers": built.diff_ids.len(),
            "packages": report.packages.len(),
            "derived": base.is_some(),
            "reused_plan": previous.is_some(),
        }));
    } else {
        crate::report::info(format!(
            "{}: image {} ({} layers, {} written by this build)",
            i.arch.arch,
            built.manifest.digest,
            built.diff_ids.len(),
            built.layers
        ));
    }
    s.images.push((i.arch.arch.clone(), built.manifest, sbom));
    s.source_date_epoch = s.source_date_epoch.max(sde);
    std::fs::remove_dir_all(&root).with_context(|| format!("removing {}", root.display()))?;
    Ok(())
}

/// The files each installed package owns, from its header.
fn package_files(report: &tree::make::Report) -> Result<Vec<oci::PackageFiles>> {
    report
        .packages
        .iter()
        .map(|p| {
            let h = &p.header;
            Ok(oci::PackageFiles {
                name: h.name().to_string(),
                size: h
                    .ints(tree::rpmhdr::tag::SIZE)
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

/// Pulls the locked base image into the session layout and unpacks this
/// arch's manifest into `root`. The lock pins the manifest digest: a base
/// that moved since `lock` is refused rather than silently used.
fn unpack_base(
    layout: &oci::layout::Layout,
    reference: &str,
    digest: &str,
    platform: &oci::image::Platform,
    p: &plan::BuildPlan,
    root: &Path,
) -> Result<oci::BaseImage> {
    let src = publish::reference::parse(reference)?;
    let tag = format!("base-{}", digest.replace(':', "-"));
    let src = match &src {
        Reference::Docker { .. } => src.with_digest(digest),
        _ => src,
    };
    registry::pull(
        &src,
        layout.dir(),
        &tag,
        &registry_options(p.base_tls_verify),
    )?;
    let top = layout.resolve(&tag)?;
    let d = oci::select(layout, &top, platform)?;
    if d.digest != digest {
        return Err(InputError(format!(
            "the base image {reference} is now {} for {}, but the lock has {digest}; \
             run `image-builder lock` to move to it",
            d.digest, platform.architecture
        ))
        .into());
    }
    oci::unpack(layout, &d, root)
}

/// Writes each output's archive and, with `--push`, pushes, signs and
/// attaches the SBOMs.
pub fn finish(ctx: Ctx, args: &BuildArgs, sessions: Sessions) -> Result<()> {
    let push = push_target(args)?;
    for (name, s) in sessions {
        let top = if s.images.len() == 1 {
            let d = s.images[0].1.clone();
            s.layout.add_ref(&s.tag, &d)?;
            d
        } else {
            let descs: Vec<_> = s.images.iter().map(|x| x.1.clone()).collect();
            oci::write_index(&s.layout, &descs, &s.tag)?
        };
        let out = args.output_dir.join(&s.filename);
        // Only the final image goes into the archive: base and previous
        // images pulled for the build stay out.
        let clean = s.work.path().join("archive");
        registry::push(
            s.layout.dir(),
            &s.tag,
            &Reference::OciDir {
                path: clean.clone(),
                tag: Some(s.tag.clone()),
            },
            &registry_options(true),
        )?;
        oci::layout::write_archive(&clean, &out, s.source_date_epoch)?;
        let mut sboms = vec![];
        for (arch, desc, doc) in &s.images {
            let at = if s.images.len() == 1 {
                out.clone()
            } else {
                args.output_dir.join(format!("{}.{arch}", s.filename))
            };
            sboms.push((desc.clone(), artifact::sbom::write_beside(&at, doc)?));
        }
        if ctx.json {
            print_json_line(&json!({
                "event": "artifact",
                "output": name,
                "type": "oci",
                "path": out,
                "digest": top.digest,
                "tag": s.tag,
                "arches": s.images.iter().map(|x| x.0.clone()).collect::<Vec<_>>(),
            }));
        } else {
            println!("{}", out.display());
        }
        if let Some(dest) = &push {
            publish_session(ctx, args, &s, &top, &dest.with_tag(&s.tag), &sboms)?;
        }
    }
    Ok(())
}

fn publish_session(
    ctx: Ctx,
    args: &BuildArgs,
    s: &Session,
    top: &oci::image::Descriptor,
    dest: &Reference,
    sboms: &[(oci::image::Descriptor, [PathBuf; 2])],
) -> Result<()> {
    let ro = registry_options(args.tls_verify);
    let r = registry::push(s.layout.dir(), &s.tag, dest, &ro)?;
    report_push(ctx, dest, &r, "image");
    if let Some(key_path) = &args.sign_key {
        let key = publish::cosign_key::load(key_path, None)?;
        let digests = publish::sign::covered_digests(&s.layout, top)?;
        for r in publish::sign::push_signatures(&digests, dest, &key, &ro)? {
            report_push(ctx, dest, &r, "signature");
        }
    }
    if matches!(dest, Reference::Docker { .. }) {
        for (desc, [spdx, cdx]) in sboms {
            let subject = publish::attach::Subject {
                digest: desc.digest.clone(),
                media_type: desc.media_type.clone(),
                size: desc.size,
            };
            let a = publish::attach::sbom_artifact(s.layout.dir(), &subject, spdx, cdx)?;
            registry::push_referrer(s.layout.dir(), &a, dest, &ro)?;
            if ctx.json {
                print_json_line(&json!({
                    "event": "pushed",
                    "what": "sbom",
                    "subject": desc.digest,
                    "digest": a,
                }));
            }
        }
    }
    Ok(())
}

fn report_push(ctx: Ctx, dest: &Reference, r: &registry::PushReport, what: &str) {
    if ctx.json {
        print_json_line(&json!({
            "event": "pushed",
            "what": what,
            "reference": dest.to_string(),
            "digest": r.digest,
            "blobs_uploaded": r.blobs_uploaded,
            "blobs_skipped": r.blobs_skipped,
            "bytes_uploaded": r.bytes_uploaded,
        }));
    } else {
        crate::report::info(format!(
            "pushed {what} {dest}@{}: {} blobs uploaded, {} already present",
            r.digest, r.blobs_uploaded, r.blobs_skipped
        ));
    }
}

/// The previous image: the archive at the output path, else the tag at
/// `--push`. Unreadable ones are a warning: the build goes on without a
/// plan (layers may then differ more than they need to).
fn previous_image(
    args: &BuildArgs,
    work: &tempfile::TempDir,
    filename: &str,
    push: Option<&Reference>,
    tag: &str,
) -> Previous {
    let out = args.output_dir.join(filename);
    if out.is_file() {
        match oci::layout::read_archive(&out, &work.path().join("previous")) {
            Ok(l) => return Previous::Archive(l),
            Err(e) => crate::report::info(format!(
                "warning: {} is not a readable OCI archive ({e:#}); building without its layer plan",
                out.display()
            )),
        }
    }
    match push {
        Some(r @ Reference::Docker { .. }) => Previous::Remote(r.with_tag(tag)),
        _ => Previous::None,
    }
}

/// The previous image's manifest for `platform`, if there is one.
fn previous_manifest(
    prev: &Previous,
    platform: &oci::image::Platform,
    tls_verify: bool,
) -> Option<oci::image::Manifest> {
    let got = match prev {
        Previous::None => return None,
        Previous::Archive(l) => l
            .index()
            .ok()
            .and_then(|ix| ix.manifests.first().cloned())
            .and_then(|top| oci::select(l, &top, platform).ok())
            .and_then(|d| l.read_json::<oci::image::Manifest>(&d).ok()),
        Previous::Remote(r) => remote_manifest(r, platform, tls_verify),
    };
    if got.is_none() {
        crate::report::verbose("no previous image for this platform: a fresh layer plan");
    }
    got
}

fn remote_manifest(
    r: &Reference,
    platform: &oci::image::Platform,
    tls_verify: bool,
) -> Option<oci::image::Manifest> {
    let o = registry_options(tls_verify);
    let (_, media_type, bytes) = registry::fetch_manifest(r, &o).ok()??;
    if media_type.contains("index") || media_type.contains("manifest.list") {
        let ix: oci::image::Index = serde_json::from_slice(&bytes).ok()?;
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

/// The base's `created` as seconds since 1970 (0 when absent).
fn created_epoch(config: &serde_json::Value) -> i64 {
    config["created"]
        .as_str()
        .and_then(crate::civil::parse_rfc3339)
        .unwrap_or(0)
}

/// The repository an image's verification policy names: `--push`'s, else
/// `[output.oci] reference`'s.
fn signing_scope(push: Option<&Reference>, doc: &Document, o: &OutputPlan) -> Result<String> {
    if let Some(n) = push.and_then(Reference::repository_name) {
        return Ok(n);
    }
    if let Some(n) = manifest_reference(doc, o)?.and_then(|r| r.repository_name()) {
        return Ok(n);
    }
    Err(InputError(
        "--sign-key: the image's verification policy needs its repository: pass --push docker://HOST/REPO:TAG or set [output.oci] reference".into(),
    )
    .into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates() {
        assert_eq!(crate::civil::parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            crate::civil::parse_rfc3339("2023-11-14T22:13:20Z"),
            Some(1_700_000_000)
        );
        assert_eq!(
            crate::civil::parse_rfc3339("2023-11-14T23:13:20.123456789+01:00"),
            Some(1_700_000_000)
        );
        assert_eq!(
            crate::civil::parse_rfc3339("2000-02-29T12:00:00Z"),
            Some(951_825_600)
        );
        assert_eq!(crate::civil::parse_rfc3339("yesterday"), None);
        assert_eq!(
            created_epoch(&json!({"created": oci::image::rfc3339(1_234_567_890)})),
            1_234_567_890
        );
    }
}
