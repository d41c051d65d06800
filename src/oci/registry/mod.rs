//! Moving images between OCI layouts, oci-archives and registries.
//!
//! The source of a push is always a local OCI layout, and every blob in it
//! is checked against its digest before the first byte is sent: a corrupt
//! layout is refused, never half-published. Pushing asks the registry for
//! each blob first (HEAD) and uploads only what it lacks — that is what
//! makes an unchanged rebuild upload no layers — then the child manifests
//! by digest, then the top manifest or index by tag, all as the exact
//! bytes in the layout, so digests survive the trip.
//!
//! The API is blocking (the rest of the program is synchronous); each call
//! runs its own small tokio runtime.

pub mod auth;
mod client;
pub mod layout;

use self::client::Client;
use self::layout::{Desc, Layout};
use super::reference::Reference;
use crate::error::InputError;
use crate::oci::archive::read_archive_entry;
use crate::oci::image::MEDIA_INDEX;
use crate::oci::layout::{digest_like, parent_dir, read_archive, ref_name, write_archive};
use anyhow::{bail, Context, Result};
use futures_util::{StreamExt, TryStreamExt};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// How to talk to registries.
#[derive(Debug, Clone)]
pub struct Options {
    /// false: accept any TLS certificate and fall back to plain HTTP.
    pub tls_verify: bool,
    /// Credentials file; None searches containers' and docker's files.
    pub authfile: Option<PathBuf>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            tls_verify: true,
            authfile: None,
        }
    }
}

/// What a push did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PushReport {
    /// The pushed top manifest's (or index's) digest.
    pub digest: String,
    pub blobs_uploaded: usize,
    pub blobs_skipped: usize,
    pub bytes_uploaded: u64,
    pub manifests_pushed: usize,
}

/// Blob uploads in flight at once.
const PARALLEL: usize = 3;
/// Further tries for a blob upload that failed in a way worth retrying
/// (a broken connection, 429, 5xx): each starts a fresh upload session.
const RETRIES: u32 = 2;

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

/// A registry's JSON error body as `CODE: message (detail)`, or the body
/// itself (shortened) when it is not one.
pub fn error_text(body: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        if let Some(errs) = v.get("errors").and_then(Value::as_array) {
            let parts: Vec<String> = errs
                .iter()
                .map(|e| {
                    let code = e.get("code").and_then(Value::as_str).unwrap_or("");
                    let msg = e.get("message").and_then(Value::as_str).unwrap_or("");
                    match e.get("detail").filter(|d| !d.is_null()) {
                        Some(d) => format!("{code}: {msg} ({d})"),
                        None => format!("{code}: {msg}"),
                    }
                })
                .collect();
            if !parts.is_empty() {
                return parts.join("; ");
            }
        }
    }
    let t = String::from_utf8_lossy(body);
    let t = t.trim();
    if t.is_empty() {
        return "(empty body)".into();
    }
    t.chars().take(500).collect()
}

/// A checked image in a local layout: its top descriptor and bytes, and
/// everything under it.
struct Image {
    root: Desc,
    body: Vec<u8>,
    closure: layout::Closure,
}

impl Image {
    /// Reads `tag` from `src` and verifies every blob under it.
    fn load(src: &Layout, tag: &str) -> Result<Image> {
        let mut root = layout::find(src, tag)?;
        let body = layout::read_manifest(src, &root)?;
        root.media_type = layout::manifest_media_type(&root.media_type, &body);
        let closure = layout::closure(src, &root, &body)?;
        for b in &closure.blobs {
            src.verify(&b.digest, b.size)?;
        }
        Ok(Image {
            root,
            body,
            closure,
        })
    }
}

/// Pushes the image tagged `tag` in the layout at `layout_dir` to `dest`.
pub fn push(layout_dir: &Path, tag: &str, dest: &Reference, o: &Options) -> Result<PushReport> {
    let src = Layout::open(layout_dir)?;
    let img = Image::load(&src, tag)?;
    match dest {
        Reference::Docker {
            registry,
            repository,
            tag: dtag,
            digest,
        } => {
            if let Some(d) = digest {
                if *d != img.root.digest {
                    bail!(InputError(format!(
                        "{dest} names digest {d} but the image is {}",
                        img.root.digest
                    )));
                }
            }
            let target = dtag.clone().unwrap_or_else(|| img.root.digest.clone());
            runtime()?
                .block_on(push_docker(&src, &img, registry, repository, &target, o))
                .with_context(|| format!("pushing to {dest}"))
        }
        Reference::OciDir { path, tag: dtag } => {
            let dst = Layout::open_or_create(path)?;
            copy_image(&src, &img, &dst, Some(dtag.as_deref().unwrap_or(tag)))
                .with_context(|| format!("writing {dest}"))
        }
        Reference::OciArchive { path, tag: dtag } => {
            let work = work_dir_for(path)?;
            let dst = Layout::open_or_create(&work.path().join("layout"))?;
            let r = copy_image(&src, &img, &dst, Some(dtag.as_deref().unwrap_or(tag)))?;
            // mtimes 0: a copied layout's own are of no account.
            write_archive(dst.dir(), path, 0).with_context(|| format!("writing {dest}"))?;
            Ok(r)
        }
    }
}

/// A temp dir beside `out`, so hard links and the final rename stay on
/// one filesystem.
fn work_dir_for(out: &Path) -> Result<tempfile::TempDir> {
    let parent = parent_dir(out);
    tempfile::Builder::new()
        .prefix(".image-builder-oci.")
        .tempdir_in(parent)
        .with_context(|| format!("creating a work dir in {}", parent.display()))
}

async fn push_docker(
    src: &Layout,
    img: &Image,
    registry: &str,
    repository: &str,
    target: &str,
    o: &Options,
) -> Result<PushReport> {
    let c = Client::connect(registry, repository, true, o).await?;
    let mut report = upload_blobs(&c, src, &img.closure.blobs).await?;
    for (d, body) in &img.closure.children {
        c.put_manifest(&d.digest, &d.media_type, body).await?;
        report.manifests_pushed += 1;
    }
    c.put_manifest(target, &img.root.media_type, &img.body)
        .await?;
    report.manifests_pushed += 1;
    report.digest = img.root.digest.clone();
    Ok(report)
}

/// HEAD each blob, upload the missing ones, a few at a time.
async fn upload_blobs(c: &Client, src: &Layout, blobs: &[Desc]) -> Result<PushReport> {
    let results: Vec<(bool, u64)> = futures_util::stream::iter(blobs)
        .map(|d| async move {
            if c.has_blob(d).await? {
                crate::report::debug(format!("blob {} already present", d.digest));
                return Ok::<_, anyhow::Error>((false, 0));
            }
            crate::report::verbose(format!("uploading blob {} ({} bytes)", d.digest, d.size));
            let mut attempt = 0;
            loop {
                match c.upload_blob(src, d).await {
                    Ok(()) => break,
                    Err(e)
                        if attempt < RETRIES && e.downcast_ref::<client::Retryable>().is_some() =>
                    {
                        attempt += 1;
                        crate::report::verbose(format!("{e:#}; retrying ({attempt}/{RETRIES})"));
                        tokio::time::sleep(std::time::Duration::from_secs(1 << attempt)).await;
                    }
                    Err(e) => return Err(e.context(format!("uploading blob {}", d.digest))),
                }
            }
            Ok((true, d.size))
        })
        .buffer_unordered(PARALLEL)
        .try_collect()
        .await?;
    let mut r = PushReport::default();
    for (up, n) in results {
        if up {
            r.blobs_uploaded += 1;
            r.bytes_uploaded += n;
        } else {
            r.blobs_skipped += 1;
        }
    }
    Ok(r)
}

/// Copies a checked image into another layout and points `tag` at it.
fn copy_image(src: &Layout, img: &Image, dst: &Layout, tag: Option<&str>) -> Result<PushReport> {
    let mut r = PushReport {
        digest: img.root.digest.clone(),
        ..PushReport::default()
    };
    for b in &img.closure.blobs {
        if dst.copy_blob_from(src, &b.digest, b.size)? {
            r.blobs_uploaded += 1;
            r.bytes_uploaded += b.size;
        } else {
            r.blobs_skipped += 1;
        }
    }
    for (d, body) in &img.closure.children {
        if !dst.has_blob(&d.digest, d.size) {
            dst.put_blob(&d.digest, body)?;
        }
        r.manifests_pushed += 1;
    }
    if !dst.has_blob(&img.root.digest, img.root.size) {
        dst.put_blob(&img.root.digest, &img.body)?;
    }
    r.manifests_pushed += 1;
    dst.set_ref(tag, img.root.entry())?;
    Ok(r)
}

/// The tag to read from a local source: the reference's, else the only
/// one there is.
fn source_tag(l: &Layout, tag: Option<&str>) -> Result<String> {
    if let Some(t) = tag {
        return Ok(t.to_string());
    }
    let tags = l.tags()?;
    match tags.as_slice() {
        [one] => Ok(one.clone()),
        _ => bail!(InputError(format!(
            "{}: name a tag (tags: {})",
            l.dir().display(),
            if tags.is_empty() {
                "none".into()
            } else {
                tags.join(", ")
            }
        ))),
    }
}

/// Pulls `src` into the layout at `layout_dir` (created if missing) as
/// `tag`, verifying every digest; returns the image's digest.
pub fn pull(src: &Reference, layout_dir: &Path, tag: &str, o: &Options) -> Result<String> {
    let dst = Layout::open_or_create(layout_dir)?;
    match src {
        Reference::Docker {
            registry,
            repository,
            tag: stag,
            digest,
        } => {
            let reference = digest
                .clone()
                .or(stag.clone())
                .unwrap_or_else(|| "latest".into());
            runtime()?
                .block_on(pull_docker(&dst, registry, repository, &reference, tag, o))
                .with_context(|| format!("pulling {src}"))
        }
        Reference::OciDir { path, tag: stag } => {
            let l = Layout::open(path)?;
            let img = Image::load(&l, &source_tag(&l, stag.as_deref())?)?;
            copy_image(&l, &img, &dst, Some(tag))?;
            Ok(img.root.digest)
        }
        Reference::OciArchive { path, tag: stag } => {
            let work = work_dir_for(layout_dir)?;
            let l = read_archive(path, &work.path().join("layout"))?;
            let img = Image::load(&l, &source_tag(&l, stag.as_deref())?)?;
            copy_image(&l, &img, &dst, Some(tag))?;
            Ok(img.root.digest)
        }
    }
}

async fn pull_docker(
    dst: &Layout,
    registry: &str,
    repository: &str,
    reference: &str,
    tag: &str,
    o: &Options,
) -> Result<String> {
    let c = Client::connect(registry, repository, false, o).await?;
    let Some((digest, mt, body)) = c.get_manifest(reference).await? else {
        bail!(
            "GET {}: HTTP 404: no manifest `{reference}` in {registry}/{repository}",
            c.url(&format!("manifests/{reference}"))
        );
    };
    let root = Desc {
        media_type: mt.clone(),
        digest: digest.clone(),
        size: body.len() as u64,
        raw: json!({"mediaType": mt, "digest": digest, "size": body.len()}),
    };
    let mut blobs = vec![];
    let mut stack = vec![(root.clone(), body)];
    let mut seen = std::collections::BTreeSet::new();
    while let Some((d, body)) = stack.pop() {
        let (bs, ms) = layout::references(&body, &format!("manifest {}", d.digest))?;
        for m in ms {
            if !seen.insert(m.digest.clone()) {
                continue;
            }
            let Some((got, _, mb)) = c.get_manifest(&m.digest).await? else {
                bail!(
                    "{}: manifest {} is missing from the registry",
                    d.digest,
                    m.digest
                );
            };
            if mb.len() as u64 != m.size || got != m.digest {
                bail!(
                    "manifest {} from the registry does not match its descriptor",
                    m.digest
                );
            }
            stack.push((m, mb));
        }
        blobs.extend(bs.into_iter().filter(|b| seen.insert(b.digest.clone())));
        dst.put_blob(&d.digest, &body)?;
    }
    futures_util::stream::iter(&blobs)
        .map(|b| {
            let c = &c;
            async move {
                if dst.has_blob(&b.digest, b.size) {
                    return Ok(());
                }
                c.get_blob(dst, b).await
            }
        })
        .buffer_unordered(PARALLEL)
        .try_collect::<Vec<()>>()
        .await?;
    dst.set_ref(Some(tag), root.entry())?;
    Ok(digest)
}

/// A manifest by reference: (digest, media type, bytes), or None when the
/// tag does not exist (a first build has no previous image).
pub fn fetch_manifest(src: &Reference, o: &Options) -> Result<Option<(String, String, Vec<u8>)>> {
    match src {
        Reference::Docker {
            registry,
            repository,
            tag,
            digest,
        } => {
            let reference = digest
                .clone()
                .or(tag.clone())
                .unwrap_or_else(|| "latest".into());
            runtime()?
                .block_on(async {
                    let c = Client::connect(registry, repository, false, o).await?;
                    c.get_manifest(&reference).await
                })
                .with_context(|| format!("reading {src}"))
        }
        Reference::OciDir { path, tag } => {
            if !path.join("oci-layout").exists() {
                return Ok(None);
            }
            let l = Layout::open(path)?;
            local_manifest(&l, tag.as_deref().unwrap_or("latest"))
        }
        Reference::OciArchive { path, tag } => {
            if !path.exists() {
                return Ok(None);
            }
            archive_manifest(path, tag.as_deref().unwrap_or("latest"))
        }
    }
}

fn local_manifest(l: &Layout, tag: &str) -> Result<Option<(String, String, Vec<u8>)>> {
    if !l.tags()?.iter().any(|t| t == tag) {
        return Ok(None);
    }
    let d = layout::find(l, tag)?;
    let body = layout::read_manifest(l, &d)?;
    let mt = layout::manifest_media_type(&d.media_type, &body);
    Ok(Some((d.digest, mt, body)))
}

/// Reads one manifest out of an oci-archive without unpacking the layers
/// (two seeking passes: index.json, then the manifest's blob).
fn archive_manifest(path: &Path, tag: &str) -> Result<Option<(String, String, Vec<u8>)>> {
    let bad = |e: String| InputError(format!("{} is not an OCI archive: {e}", path.display()));
    let index = read_archive_entry(path, "index.json", layout::MAX_MANIFEST)?
        .ok_or_else(|| bad("no index.json".into()))?;
    let v: Value = serde_json::from_slice(&index).map_err(|e| bad(format!("index.json: {e}")))?;
    let Some(d) = v
        .get("manifests")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|m| ref_name(m) == Some(tag))
    else {
        return Ok(None);
    };
    let d = Desc::from_value(d, "index.json").map_err(|e| bad(format!("{e:#}")))?;
    let (alg, hex) = d.digest.split_once(':').expect("checked digest");
    let body = read_archive_entry(path, &format!("blobs/{alg}/{hex}"), layout::MAX_MANIFEST)?
        .ok_or_else(|| bad(format!("blob {} missing", d.digest)))?;
    if digest_like(&d.digest, &body) != d.digest || body.len() as u64 != d.size {
        return Err(bad(format!("manifest {} does not match its digest", d.digest)).into());
    }
    let mt = layout::manifest_media_type(&d.media_type, &body);
    Ok(Some((d.digest, mt, body)))
}

/// The referrers-tag-schema tag for a subject: `sha256-HEX`.
pub fn referrers_tag(subject: &str) -> String {
    subject.replacen(':', "-", 1)
}

/// Pushes the artifact manifest `artifact_digest` (from the layout) and
/// its blobs to `dest_repo`, then makes it findable from its `subject`:
/// through the registry's referrers API when it has one, else through the
/// fallback index tagged `sha256-HEX` of the subject (fetched, extended
/// without duplicates, pushed back). Into an oci: layout the artifact is
/// added to `index.json` untagged.
pub fn push_referrer(
    layout_dir: &Path,
    artifact_digest: &str,
    dest_repo: &Reference,
    o: &Options,
) -> Result<()> {
    let src = Layout::open(layout_dir)?;
    let p = src
        .blob_path(artifact_digest)
        .map_err(|e| InputError(format!("{e:#}")))?;
    let size = std::fs::metadata(&p)
        .map_err(|e| {
            InputError(format!(
                "{}: artifact {artifact_digest}: {e}",
                layout_dir.display()
            ))
        })?
        .len();
    let listed = layout::entries(&src)?
        .into_iter()
        .find(|d| d.digest == artifact_digest);
    let mut root = listed.unwrap_or(Desc {
        media_type: String::new(),
        digest: artifact_digest.to_string(),
        size,
        raw: json!({}),
    });
    let body = layout::read_manifest(&src, &root)?;
    root.media_type = layout::manifest_media_type(&root.media_type, &body);
    let v: Value = serde_json::from_slice(&body)?;
    let subject = v
        .pointer("/subject/digest")
        .and_then(Value::as_str)
        .ok_or_else(|| InputError(format!("artifact {artifact_digest} has no subject")))?
        .to_string();
    let artifact_type = v
        .get("artifactType")
        .or_else(|| v.pointer("/config/mediaType"))
        .cloned()
        .unwrap_or(Value::Null);
    let mut entry = json!({
        "mediaType": root.media_type,
        "digest": root.digest,
        "size": root.size,
        "artifactType": artifact_type,
    });
    if let Some(a) = v.get("annotations").filter(|a| a.is_object()) {
        entry["annotations"] = a.clone();
    }
    root.raw = entry.clone();
    let closure = layout::closure(&src, &root, &body)?;
    for b in &closure.blobs {
        src.verify(&b.digest, b.size)?;
    }
    let img = Image {
        root,
        body,
        closure,
    };
    match dest_repo {
        Reference::Docker {
            registry,
            repository,
            ..
        } => runtime()?
            .block_on(referrer_docker(
                &src, &img, &subject, &entry, registry, repository, o,
            ))
            .with_context(|| format!("attaching {artifact_digest} to {subject} in {dest_repo}")),
        Reference::OciDir { path, .. } => {
            let dst = Layout::open_or_create(path)?;
            copy_image(&src, &img, &dst, None)?;
            Ok(())
        }
        Reference::OciArchive { path, .. } => {
            let work = work_dir_for(path)?;
            let dir = work.path().join("layout");
            let dst = if path.exists() {
                read_archive(path, &dir)?
            } else {
                Layout::open_or_create(&dir)?
            };
            copy_image(&src, &img, &dst, None)?;
            write_archive(dst.dir(), path, 0)
        }
    }
}

async fn referrer_docker(
    src: &Layout,
    img: &Image,
    subject: &str,
    entry: &Value,
    registry: &str,
    repository: &str,
    o: &Options,
) -> Result<()> {
    let c = Client::connect(registry, repository, true, o).await?;
    upload_blobs(&c, src, &img.closure.blobs).await?;
    let h = c
        .put_manifest(&img.root.digest, &img.root.media_type, &img.body)
        .await?;
    if h.contains_key("oci-subject") {
        return Ok(());
    }
    if let Some(listing) = c.referrers(subject).await? {
        let has = listing
            .get("manifests")
            .and_then(Value::as_array)
            .is_some_and(|ms| ms.iter().any(|m| m.get("digest") == entry.get("digest")));
        if has {
            return Ok(());
        }
    }
    let tag = referrers_tag(subject);
    let index = match c.get_manifest(&tag).await? {
        Some((_, _, b)) => serde_json::from_slice::<Value>(&b)
            .with_context(|| format!("referrers index {tag} is not JSON"))?,
        None => json!({"schemaVersion": 2, "mediaType": MEDIA_INDEX, "manifests": []}),
    };
    if let Some(new) = add_referrer(index, entry)? {
        c.put_manifest(&tag, MEDIA_INDEX, &new).await?;
    }
    Ok(())
}

/// The referrers index with `entry` appended; None if it is listed already.
pub fn add_referrer(mut index: Value, entry: &Value) -> Result<Option<Vec<u8>>> {
    let ms = index
        .get_mut("manifests")
        .and_then(Value::as_array_mut)
        .context("referrers index has no manifests array")?;
    if ms.iter().any(|m| m.get("digest") == entry.get("digest")) {
        return Ok(None);
    }
    ms.push(entry.clone());
    Ok(Some(serde_json::to_vec(&index)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies() {
        assert_eq!(
            error_text(br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}"#),
            "UNAUTHORIZED: authentication required"
        );
        assert_eq!(error_text(b"404 page not found\n"), "404 page not found");
        assert_eq!(error_text(b""), "(empty body)");
    }

    #[test]
    fn referrer_index_appends_once() {
        let e1 = json!({"digest": "sha256:1", "artifactType": "a"});
        let e2 = json!({"digest": "sha256:2", "artifactType": "b"});
        let i = json!({"schemaVersion": 2, "manifests": []});
        let i: Value = serde_json::from_slice(&add_referrer(i, &e1).unwrap().unwrap()).unwrap();
        assert!(add_referrer(i.clone(), &e1).unwrap().is_none());
        let i: Value = serde_json::from_slice(&add_referrer(i, &e2).unwrap().unwrap()).unwrap();
        assert_eq!(i["manifests"].as_array().unwrap().len(), 2);
        assert_eq!(referrers_tag("sha256:abc"), "sha256-abc");
    }
}
