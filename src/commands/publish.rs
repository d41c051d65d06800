//! `publish ARTIFACT REF`: push an OCI layout or oci-archive written by
//! `build` to a registry, an oci: layout or an oci-archive.
//!
//! The artifact must hold exactly one tagged image (what `build` writes);
//! with several we would have to guess, so we list them and stop.

use super::Ctx;
use crate::cli::PublishArgs;
use crate::error::InputError;
use crate::oci::reference;
use crate::oci::registry::{self, layout, Options};
use anyhow::{bail, Result};
use serde_json::json;
use std::path::Path;

pub fn run(ctx: Ctx, args: &PublishArgs) -> Result<()> {
    let dest = reference::parse(&args.reference)?;
    // Read the key first: a wrong password fails before anything is sent.
    let key = match &args.sign_key {
        Some(k) => {
            if dest.repository_name().is_none() {
                bail!(InputError(format!(
                    "--sign-key: signatures go to a registry; {dest} is not docker://HOST/REPO:TAG"
                )));
            }
            Some(crate::publish::cosign_key::load(k, None)?)
        }
        None => None,
    };
    let o = Options {
        tls_verify: args.tls_verify,
        authfile: args.authfile.clone(),
    };
    let (report, signatures) = with_layout(&args.artifact, |dir| {
        let l = layout::Layout::open(dir)?;
        let tag = single_tag(&l, &args.artifact)?;
        let report = registry::push(dir, &tag, &dest, &o)?;
        let signatures = match &key {
            Some(k) => {
                let top = l.resolve(&tag)?;
                let digests = crate::publish::sign::covered_digests(&l, &top)?;
                crate::publish::sign::push_signatures(&digests, &dest, k, &o)?.len()
            }
            None => 0,
        };
        Ok((report, signatures))
    })?;
    if ctx.json {
        super::print_json(&json!({
            "ok": true,
            "reference": dest.to_string(),
            "digest": report.digest,
            "blobs_uploaded": report.blobs_uploaded,
            "blobs_skipped": report.blobs_skipped,
            "bytes_uploaded": report.bytes_uploaded,
            "manifests_pushed": report.manifests_pushed,
            "signatures": signatures,
        }));
    } else {
        println!("{}", report.digest);
        eprintln!(
            "{dest}: {} blobs uploaded ({} bytes), {} already present",
            report.blobs_uploaded, report.bytes_uploaded, report.blobs_skipped
        );
        if signatures > 0 {
            eprintln!("{dest}: {signatures} signature(s) pushed");
        }
    }
    Ok(())
}

/// Runs `f` on the artifact as a layout directory: a directory as is, an
/// oci-archive unpacked into a temporary directory first.
fn with_layout<T>(artifact: &Path, f: impl FnOnce(&Path) -> Result<T>) -> Result<T> {
    let meta = std::fs::metadata(artifact)
        .map_err(|e| InputError(format!("artifact {}: {e}", artifact.display())))?;
    if meta.is_dir() {
        return f(artifact);
    }
    let work = tempfile::Builder::new()
        .prefix("image-builder-publish.")
        .tempdir()?;
    let dir = work.path().join("layout");
    crate::oci::layout::read_archive(artifact, &dir)?;
    f(&dir)
}

/// The one tag in the layout, or bad input listing them.
fn single_tag(l: &layout::Layout, artifact: &Path) -> Result<String> {
    let tags = l.tags()?;
    match tags.as_slice() {
        [one] => Ok(one.clone()),
        [] => bail!(InputError(format!(
            "{}: no tagged image in index.json",
            artifact.display()
        ))),
        _ => bail!(InputError(format!(
            "{}: several tagged images ({}); publish takes an artifact with one",
            artifact.display(),
            tags.join(", ")
        ))),
    }
}
