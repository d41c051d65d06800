//! The image's SBOM (SPDX and CycloneDX) as an OCI 1.1 artifact whose
//! `subject` is the image, so registries and tools that follow referrers
//! (`oras discover`, `cosign tree`, the referrers API or its tag fallback)
//! find the SBOM from the image digest alone.
//!
//! Why one artifact with two layers rather than two artifacts: both files
//! describe the same package set and are produced together; one manifest
//! keeps them one push and one referrer. `artifactType` says SPDX (the
//! format most consumers filter on); each layer carries its own media type
//! and an `org.opencontainers.image.title` naming the file. The config is
//! the spec's empty descriptor. Nothing time-dependent goes in, so the
//! same SBOM files and subject give the same artifact digest.

use crate::oci::image::{Descriptor, Index, Manifest, MEDIA_INDEX, MEDIA_MANIFEST};
use crate::oci::layout::Layout;
use anyhow::{Context, Result};
use std::path::Path;

pub const SPDX_MEDIA_TYPE: &str = "application/spdx+json";
pub const CYCLONEDX_MEDIA_TYPE: &str = "application/vnd.cyclonedx+json";
pub const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
pub const TITLE_ANNOTATION: &str = "org.opencontainers.image.title";

/// What the artifact refers to: the image manifest (or index).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// `sha256:HEX` of the image manifest.
    pub digest: String,
    /// Its media type (an OCI manifest or index).
    pub media_type: String,
    /// Its size in bytes.
    pub size: u64,
}

/// Writes the SBOM artifact for `subject` into the OCI layout
/// `layout_dir` (created if missing) and returns the artifact manifest's
/// digest. In `index.json` it is named `sha256-HEX.sbom` after the
/// subject's digest (a tag it can be pushed under), and it is listed in
/// the subject's referrers index, `sha256-HEX` (see `add_referrer`).
pub fn sbom_artifact(
    layout_dir: &Path,
    subject: &Subject,
    spdx: &Path,
    cyclonedx: &Path,
) -> Result<String> {
    let hex = super::sign::check_digest(&subject.digest)?;
    let l = Layout::create(layout_dir)?;
    let mut layers = Vec::new();
    for (path, media_type) in [(spdx, SPDX_MEDIA_TYPE), (cyclonedx, CYCLONEDX_MEDIA_TYPE)] {
        let bytes =
            std::fs::read(path).with_context(|| format!("reading SBOM {}", path.display()))?;
        serde_json::from_slice::<serde::de::IgnoredAny>(&bytes)
            .with_context(|| format!("SBOM {} is not JSON", path.display()))?;
        let mut d = l.write_bytes(media_type, &bytes)?;
        let title = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        d.annotations.insert(TITLE_ANNOTATION.to_string(), title);
        layers.push(d);
    }
    let config = l.write_bytes(EMPTY_MEDIA_TYPE, b"{}")?;
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(MEDIA_MANIFEST.into()),
        artifact_type: Some(SPDX_MEDIA_TYPE.into()),
        config,
        layers,
        subject: Some(Descriptor::new(
            &subject.media_type,
            subject.digest.clone(),
            subject.size,
        )),
        annotations: Default::default(),
    };
    let desc = l.put_manifest(&manifest, &format!("sha256-{hex}.sbom"))?;
    add_referrer(layout_dir, hex, desc.clone())?;
    Ok(desc.digest)
}

/// Adds `referrer` to the referrers index of the subject `sha256:HEX`:
/// the OCI index the distribution spec (1.1, "referrers tag schema")
/// keeps at the tag `sha256-HEX` for registries without the referrers
/// API, such as distribution 2.8. Referrers already listed in the
/// layout's index for that tag are kept; pushing that tag (with its
/// manifests) makes the SBOM discoverable from the image digest.
pub fn add_referrer(layout_dir: &Path, subject_hex: &str, referrer: Descriptor) -> Result<String> {
    let tag = format!("sha256-{subject_hex}");
    let l = Layout::create(layout_dir)?;
    let mut manifests: Vec<Descriptor> = match l.find(&tag)? {
        Some(d) => {
            #[derive(serde::Deserialize)]
            struct Listed {
                #[serde(default)]
                manifests: Vec<Descriptor>,
            }
            l.read_json::<Listed>(&d)
                .with_context(|| {
                    format!(
                        "the referrers index {tag} in {} does not parse",
                        layout_dir.display()
                    )
                })?
                .manifests
        }
        None => Vec::new(),
    };
    manifests.retain(|m| m.digest != referrer.digest);
    manifests.push(referrer);
    let d = l.write_json(MEDIA_INDEX, &Index::new(manifests))?;
    l.add_ref(&tag, &d)?;
    Ok(d.digest)
}
