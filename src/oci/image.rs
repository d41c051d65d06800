//! The OCI image-spec documents we read and write: descriptors, image
//! manifests, image indexes, platforms, and the image config.
//!
//! Manifests and indexes are typed structs because we build and inspect
//! them field by field. The image config is a `serde_json::Value`
//! underneath: a base image's config may carry fields we do not model
//! (healthchecks, volumes, vendor extensions) and deriving from it must
//! keep them, byte for byte where we change nothing.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const MEDIA_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const MEDIA_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const MEDIA_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const MEDIA_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
pub const MEDIA_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const MEDIA_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// Docker schema 2 equivalents, accepted when reading a base image.
pub const MEDIA_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const MEDIA_DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const MEDIA_DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// `index.json` annotation naming a tag.
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
/// Layer annotation: the packages whose files the layer holds, sorted,
/// comma-separated (RPM names never contain a comma). The next build reads
/// it back as its chunk plan.
pub const ANNOTATION_PACKAGES: &str = "org.almalinux.image-builder.packages";
/// Layer annotation: `packages` on package chunks, `unpackaged` on the last
/// layer (files no package owns, every directory's true metadata,
/// whiteouts).
pub const ANNOTATION_LAYER: &str = "org.almalinux.image-builder.layer";

/// A content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Required by the spec; tolerated missing in layouts others wrote.
    #[serde(default)]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
}

impl Descriptor {
    pub fn new(media_type: &str, digest: String, size: u64) -> Descriptor {
        Descriptor {
            media_type: media_type.to_string(),
            digest,
            size,
            annotations: BTreeMap::new(),
            platform: None,
            artifact_type: None,
        }
    }
}

/// An image platform (`os` + `architecture` + optional `variant`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// An image manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// An image index (`index.json` of a layout, or a multi-arch image).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Index {
    pub fn new(manifests: Vec<Descriptor>) -> Index {
        Index {
            schema_version: 2,
            media_type: Some(MEDIA_INDEX.to_string()),
            manifests,
            annotations: BTreeMap::new(),
        }
    }
}

/// The packages a layer's annotation lists (None: not one of our package
/// chunks).
pub fn layer_packages(d: &Descriptor) -> Option<Vec<String>> {
    let v = d.annotations.get(ANNOTATION_PACKAGES)?;
    Some(
        v.split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
    )
}

/// `t` seconds since the epoch as RFC 3339 UTC (`2023-11-14T22:13:20Z`);
/// negative times clamp to the epoch.
pub fn rfc3339(t: i64) -> String {
    crate::civil::rfc3339(t.max(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(4_107_542_399), "2100-02-28T23:59:59Z");
        assert_eq!(rfc3339(-5), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn descriptor_json_skips_empty_fields() {
        let d = Descriptor::new(MEDIA_CONFIG, "sha256:00".into(), 2);
        assert_eq!(
            serde_json::to_string(&d).unwrap(),
            r#"{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:00","size":2}"#
        );
        let mut d = d;
        d.annotations
            .insert(ANNOTATION_PACKAGES.into(), "bash,glibc".into());
        assert_eq!(layer_packages(&d).unwrap(), ["bash", "glibc"]);
        let back: Descriptor = serde_json::from_str(&serde_json::to_string(&d).unwrap()).unwrap();
        assert_eq!(back, d);
    }
}
