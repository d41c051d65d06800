//! The deliver stage for images: push a built layout to its registry
//! destination, sign what was pushed (cosign-compatible, `.sig` tags) and
//! attach the SBOMs as OCI referrers.

use crate::artifact::oci::builder::Pushable;
use crate::oci::reference::{self, Reference};
use crate::oci::registry;
use crate::progress::{Event, Progress};
use anyhow::Result;
use std::path::Path;

/// Pushes `img` to `dest` (tagged with the image's tag), signs it with
/// `sign_key` if given, and attaches its SBOMs.
pub fn push_image(
    img: &Pushable,
    dest: &str,
    tls_verify: bool,
    sign_key: Option<&Path>,
    progress: &dyn Progress,
) -> Result<()> {
    let dest = reference::parse(dest)?.with_tag(&img.tag);
    let ro = registry::Options {
        tls_verify,
        authfile: None,
    };
    let r = registry::push(img.layout.dir(), &img.tag, &dest, &ro)?;
    report(progress, &dest, &r, "image");
    if let Some(key_path) = sign_key {
        let key = super::cosign_key::load(key_path, None)?;
        let digests = super::sign::covered_digests(&img.layout, &img.top)?;
        for r in super::sign::push_signatures(&digests, &dest, &key, &ro)? {
            report(progress, &dest, &r, "signature");
        }
    }
    if matches!(dest, Reference::Docker { .. }) {
        for (desc, [spdx, cdx]) in &img.sboms {
            let subject = super::attach::Subject {
                digest: desc.digest.clone(),
                media_type: desc.media_type.clone(),
                size: desc.size,
            };
            let a = super::attach::sbom_artifact(img.layout.dir(), &subject, spdx, cdx)?;
            registry::push_referrer(img.layout.dir(), &a, &dest, &ro)?;
            progress.event(&Event::Pushed {
                what: "sbom",
                reference: None,
                subject: Some(desc.digest.clone()),
                digest: a.to_string(),
                blobs_uploaded: None,
                blobs_skipped: None,
                bytes_uploaded: None,
            });
        }
    }
    Ok(())
}

fn report(progress: &dyn Progress, dest: &Reference, r: &registry::PushReport, what: &'static str) {
    progress.event(&Event::Pushed {
        what,
        reference: Some(dest.to_string()),
        subject: None,
        digest: r.digest.clone(),
        blobs_uploaded: Some(r.blobs_uploaded),
        blobs_skipped: Some(r.blobs_skipped),
        bytes_uploaded: Some(r.bytes_uploaded),
    });
}
