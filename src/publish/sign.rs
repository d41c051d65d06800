//! Cosign-compatible image signatures, written as an OCI image layout that
//! any registry client can push beside the image.
//!
//! Why this shape: it is what `cosign sign --key` stores and what
//! containers/image (skopeo, podman, bootc's pulls) verifies under a
//! `sigstoreSigned` policy with `use-sigstore-attachments`. For an image
//! whose manifest digest is `sha256:HEX`, the signatures live in the same
//! repository under the tag `sha256-HEX.sig`: an OCI manifest whose every
//! layer is one signature. A layer's blob is the "simple signing" payload
//! (JSON naming the repository and the manifest digest), its media type
//! `application/vnd.dev.cosign.simplesigning.v1+json`, and the annotation
//! `dev.cosignproject.cosign/signature` carries the base64 of the DER
//! ECDSA signature over exactly those payload bytes. The payload binds the
//! digest, so the signature survives retagging but not a changed image.
//!
//! The layout is written with a few lines of our own (`layout` below)
//! rather than the OCI writer in `artifact::oci`, so that signing does not
//! wait on it; the two meet in the same on-disk format.

use super::cosign_key::CosignKey;
use crate::error::InputError;
use anyhow::Result;
use base64::Engine;
use std::path::Path;

/// Media type of a cosign signature layer (the payload blob).
pub const SIMPLE_SIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// Layer annotation holding the base64 DER signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// The `critical.type` every cosign payload carries.
pub const PAYLOAD_TYPE: &str = "cosign container image signature";

/// The signature image written into a layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureImage {
    /// `sha256-HEX.sig`: the tag to push it under, in the image's repository.
    pub tag: String,
    /// Digest of the signature manifest.
    pub manifest_digest: String,
}

/// The payload cosign signs for `docker_reference` (a repository, e.g.
/// `quay.io/org/image`, no tag or digest) at `manifest_digest`.
/// Byte-for-byte cosign's layout: keys in this order, `optional` null.
pub fn payload(docker_reference: &str, manifest_digest: &str) -> Vec<u8> {
    let s = |v: &str| serde_json::Value::String(v.to_string()).to_string();
    format!(
        "{{\"critical\":{{\"identity\":{{\"docker-reference\":{}}},\"image\":{{\"docker-manifest-digest\":{}}},\"type\":{}}},\"optional\":null}}",
        s(docker_reference),
        s(manifest_digest),
        s(PAYLOAD_TYPE)
    )
    .into_bytes()
}

/// The cosign tag for the signatures of `manifest_digest`.
pub fn signature_tag(manifest_digest: &str) -> Result<String> {
    let hex = check_digest(manifest_digest)?;
    Ok(format!("sha256-{hex}.sig"))
}

/// Signs `docker_reference@manifest_digest` with `key` and writes the
/// signature image into the OCI layout `layout_dir` (created if missing;
/// other images in it are kept), referenced in `index.json` by its tag.
/// Same key, reference and digest → same bytes (RFC 6979 signatures,
/// fixed config).
pub fn write_signature(
    layout_dir: &Path,
    docker_reference: &str,
    manifest_digest: &str,
    key: &CosignKey,
) -> Result<SignatureImage> {
    let tag = signature_tag(manifest_digest)?;
    check_repository(docker_reference)?;
    let payload = payload(docker_reference, manifest_digest);
    let signature = base64::engine::general_purpose::STANDARD.encode(key.sign(&payload));

    layout::init(layout_dir)?;
    let mut layer = layout::write_blob(layout_dir, SIMPLE_SIGNING_MEDIA_TYPE, &payload)?;
    layer.annotations = Some([(SIGNATURE_ANNOTATION.to_string(), signature)].into());
    // Signatures already under this tag (another key's, or fetched from
    // the registry before re-signing) stay, as with `cosign sign`;
    // the same signature twice is kept once.
    let mut layers = existing_signatures(layout_dir, &tag)?;
    if !layers.contains(&layer) {
        layers.push(layer);
    }
    let config = layout::write_blob(
        layout_dir,
        layout::OCI_CONFIG,
        &config_json(&layers).into_bytes(),
    )?;
    let manifest = layout::Manifest {
        schema_version: 2,
        media_type: layout::OCI_MANIFEST.into(),
        artifact_type: None,
        config,
        layers,
        subject: None,
        annotations: None,
    };
    let desc = layout::put_manifest(layout_dir, &manifest, Some(&tag))?;
    Ok(SignatureImage {
        tag,
        manifest_digest: desc.digest,
    })
}

/// The signature layers of the manifest tagged `tag` in the layout, if
/// any (other layers are dropped: a signature image holds only these).
fn existing_signatures(layout_dir: &Path, tag: &str) -> Result<Vec<layout::Descriptor>> {
    let Some(bytes) = layout::manifest_by_ref(layout_dir, tag)? else {
        return Ok(Vec::new());
    };
    #[derive(serde::Deserialize)]
    struct Layers {
        #[serde(default)]
        layers: Vec<layout::Descriptor>,
    }
    let m: Layers = serde_json::from_slice(&bytes).map_err(|e| {
        anyhow::anyhow!(
            "the signature image tagged {tag} in {} does not parse: {e}",
            layout_dir.display()
        )
    })?;
    Ok(m.layers
        .into_iter()
        .filter(|l| l.media_type == SIMPLE_SIGNING_MEDIA_TYPE)
        .collect())
}

/// The image config of a signature image: an empty image whose layers are
/// the payloads (as go-containerregistry's `empty.Image` plus layers
/// gives, with its zero timestamps, so the bytes never depend on time).
fn config_json(layers: &[layout::Descriptor]) -> String {
    let zero = "\"created\":\"0001-01-01T00:00:00Z\"";
    let history = vec![format!("{{{zero}}}"); layers.len()].join(",");
    let diff_ids = layers
        .iter()
        .map(|l| format!("\"{}\"", l.digest))
        .collect::<Vec<_>>()
        .join(",");
    format!(
        "{{\"architecture\":\"\",{zero},\"history\":[{history}],\"os\":\"\",\"rootfs\":{{\"type\":\"layers\",\"diff_ids\":[{diff_ids}]}},\"config\":{{}}}}"
    )
}

/// `sha256:` and 64 lowercase hex digits; returns the hex.
pub(crate) fn check_digest(d: &str) -> Result<&str> {
    match d.strip_prefix("sha256:") {
        Some(h)
            if h.len() == 64
                && h.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) =>
        {
            Ok(h)
        }
        _ => Err(InputError(format!(
            "`{d}` is not a manifest digest (expected sha256: and 64 lowercase hex digits)"
        ))
        .into()),
    }
}

/// A repository name as cosign puts it in the payload: no digest, no
/// whitespace, lowercase path.
fn check_repository(r: &str) -> Result<()> {
    let (host, path) = r.split_once('/').unwrap_or(("", r));
    let ok = !r.is_empty()
        && !r.contains('@')
        && !r.contains(char::is_whitespace)
        && !path.is_empty()
        && !path.contains(':')
        && path
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-/".contains(&b))
        && !host.contains(char::is_whitespace);
    if ok {
        Ok(())
    } else {
        Err(InputError(format!(
            "`{r}` is not a repository to sign for (expected e.g. quay.io/org/image, without tag or digest)"
        ))
        .into())
    }
}

/// The minimal OCI image-layout writer signing and SBOM attachment share:
/// `oci-layout`, `index.json`, `blobs/sha256/HEX`, per the image-spec.
/// Every file is written to a temporary name and renamed, so a reader
/// never sees half a blob or half an index.
pub(crate) mod layout {
    use anyhow::{Context, Result};
    use serde::{Deserialize, Serialize};
    use sha2::{Digest, Sha256};
    use std::collections::BTreeMap;
    use std::io::Write;
    use std::path::Path;

    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

    /// An OCI content descriptor.
    #[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
    #[serde(rename_all = "camelCase")]
    pub struct Descriptor {
        pub media_type: String,
        pub digest: String,
        pub size: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub artifact_type: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub annotations: Option<BTreeMap<String, String>>,
    }

    /// An OCI image manifest (fields in the spec's order).
    #[derive(Debug, Clone, Serialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Manifest {
        pub schema_version: u32,
        pub media_type: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub artifact_type: Option<String>,
        pub config: Descriptor,
        pub layers: Vec<Descriptor>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub subject: Option<Descriptor>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub annotations: Option<BTreeMap<String, String>>,
    }

    /// `sha256:HEX` of `bytes`.
    pub fn digest(bytes: &[u8]) -> String {
        format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
    }

    /// Creates `dir` with `oci-layout` and `blobs/sha256` if missing.
    pub fn init(dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir.join("blobs/sha256"))
            .with_context(|| format!("creating {}", dir.display()))?;
        let marker = dir.join("oci-layout");
        if !marker.exists() {
            write_atomic(&marker, br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        }
        Ok(())
    }

    /// Stores `bytes` as a blob (once) and describes it.
    pub fn write_blob(dir: &Path, media_type: &str, bytes: &[u8]) -> Result<Descriptor> {
        let digest = digest(bytes);
        let path = dir.join("blobs/sha256").join(&digest["sha256:".len()..]);
        if std::fs::metadata(&path).map(|m| m.len()).ok() != Some(bytes.len() as u64) {
            write_atomic(&path, bytes)?;
        }
        Ok(Descriptor {
            media_type: media_type.to_string(),
            digest,
            size: bytes.len() as u64,
            artifact_type: None,
            annotations: None,
        })
    }

    /// The bytes of the manifest `index.json` names `ref_name`, if any
    /// (checked against its digest).
    pub fn manifest_by_ref(dir: &Path, ref_name: &str) -> Result<Option<Vec<u8>>> {
        let index_path = dir.join("index.json");
        let index: serde_json::Value = match std::fs::read(&index_path) {
            Ok(b) => serde_json::from_slice(&b)
                .with_context(|| format!("parsing {}", index_path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading {}", index_path.display())),
        };
        let pointer = format!("/annotations/{}", REF_NAME.replace('/', "~1"));
        let Some(digest) = index
            .get("manifests")
            .and_then(|m| m.as_array())
            .into_iter()
            .flatten()
            .find(|e| e.pointer(&pointer).and_then(|n| n.as_str()) == Some(ref_name))
            .and_then(|e| e.get("digest"))
            .and_then(|d| d.as_str())
        else {
            return Ok(None);
        };
        let hex = super::check_digest(digest)
            .with_context(|| format!("{} names {ref_name}", index_path.display()))?;
        let path = dir.join("blobs/sha256").join(hex);
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        if self::digest(&bytes) != digest {
            anyhow::bail!("{} does not match its digest", path.display());
        }
        Ok(Some(bytes))
    }

    /// Stores `manifest` and lists it in `index.json`, under `ref_name`
    /// when given (replacing what had that name). Entries for other
    /// manifests are kept as they were.
    pub fn put_manifest(
        dir: &Path,
        manifest: &Manifest,
        ref_name: Option<&str>,
    ) -> Result<Descriptor> {
        let bytes = serde_json::to_vec(manifest)?;
        let mut desc = write_blob(dir, &manifest.media_type, &bytes)?;
        desc.artifact_type = manifest.artifact_type.clone();
        record(dir, desc, ref_name)
    }

    /// Stores an OCI index of `manifests` and lists it in `index.json`
    /// like `put_manifest`.
    pub fn put_index(
        dir: &Path,
        manifests: Vec<Descriptor>,
        ref_name: Option<&str>,
    ) -> Result<Descriptor> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Index {
            schema_version: u32,
            media_type: &'static str,
            manifests: Vec<Descriptor>,
        }
        let bytes = serde_json::to_vec(&Index {
            schema_version: 2,
            media_type: OCI_INDEX,
            manifests,
        })?;
        let desc = write_blob(dir, OCI_INDEX, &bytes)?;
        record(dir, desc, ref_name)
    }

    /// Lists `desc` in `index.json`, named `ref_name` when given
    /// (replacing what had that name); other entries are kept.
    fn record(dir: &Path, mut desc: Descriptor, ref_name: Option<&str>) -> Result<Descriptor> {
        if let Some(r) = ref_name {
            desc.annotations = Some([(REF_NAME.to_string(), r.to_string())].into());
        }
        let index_path = dir.join("index.json");
        let mut entries: Vec<serde_json::Value> = match std::fs::read(&index_path) {
            Ok(b) => {
                let v: serde_json::Value = serde_json::from_slice(&b)
                    .with_context(|| format!("parsing {}", index_path.display()))?;
                v.get("manifests")
                    .and_then(|m| m.as_array())
                    .cloned()
                    .unwrap_or_default()
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", index_path.display())),
        };
        entries.retain(|e| {
            let name = e.pointer(&format!("/annotations/{}", REF_NAME.replace('/', "~1")));
            match ref_name {
                Some(r) => name.and_then(|n| n.as_str()) != Some(r),
                None => {
                    name.is_some() || e.get("digest").and_then(|d| d.as_str()) != Some(&desc.digest)
                }
            }
        });
        entries.push(serde_json::to_value(&desc)?);
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Index {
            schema_version: u32,
            media_type: &'static str,
            manifests: Vec<serde_json::Value>,
        }
        let index = Index {
            schema_version: 2,
            media_type: OCI_INDEX,
            manifests: entries,
        };
        write_atomic(&index_path, &serde_json::to_vec(&index)?)?;
        Ok(desc)
    }

    fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(dir)
            .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
        tmp.write_all(bytes)
            .with_context(|| format!("writing {}", path.display()))?;
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .with_context(|| format!("chmod {}", path.display()))?;
        tmp.persist(path)
            .with_context(|| format!("renaming into {}", path.display()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn payload_is_cosigns_layout() {
        let p = String::from_utf8(payload("quay.io/org/img", D)).unwrap();
        assert_eq!(
            p,
            format!("{{\"critical\":{{\"identity\":{{\"docker-reference\":\"quay.io/org/img\"}},\"image\":{{\"docker-manifest-digest\":\"{D}\"}},\"type\":\"cosign container image signature\"}},\"optional\":null}}")
        );
        // Quotes in a reference cannot break out of the JSON string.
        let v: serde_json::Value = serde_json::from_slice(&payload("a\"b", D)).unwrap();
        assert_eq!(v["critical"]["identity"]["docker-reference"], "a\"b");
    }

    #[test]
    fn tags_and_bad_inputs() {
        assert_eq!(signature_tag(D).unwrap(), format!("sha256-{}.sig", &D[7..]));
        for bad in ["sha256:abc", "sha512:00", &D.to_uppercase()[..], ""] {
            let e = signature_tag(bad).unwrap_err();
            assert!(e.downcast_ref::<InputError>().is_some(), "{bad}");
        }
        assert!(check_repository("127.0.0.1:5000/test/img").is_ok());
        assert!(check_repository("quay.io/org/img").is_ok());
        for bad in [
            "quay.io/org/img:tag",
            "quay.io/org/img@sha256:00",
            "",
            "quay.io/Org",
        ] {
            assert!(check_repository(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn signatures_accumulate_under_one_tag() {
        use super::super::cosign_key;
        let dir = tempfile::tempdir().unwrap();
        let t = tempfile::tempdir().unwrap();
        let (k1, _) = cosign_key::genkey(&t.path().join("1"), b"").unwrap();
        let (k2, _) = cosign_key::genkey(&t.path().join("2"), b"").unwrap();
        let k1 = cosign_key::load(&k1, Some(b"")).unwrap();
        let k2 = cosign_key::load(&k2, Some(b"")).unwrap();
        let read = |digest: &str| -> serde_json::Value {
            let b = std::fs::read(dir.path().join("blobs/sha256").join(&digest[7..])).unwrap();
            serde_json::from_slice(&b).unwrap()
        };
        let layers =
            |s: &SignatureImage| read(&s.manifest_digest)["layers"].as_array().unwrap().len();
        let a = write_signature(dir.path(), "x.io/a", D, &k1).unwrap();
        assert_eq!(layers(&a), 1);
        let b = write_signature(dir.path(), "x.io/a", D, &k2).unwrap();
        assert_eq!(b.tag, a.tag);
        assert_eq!(layers(&b), 2);
        let c = write_signature(dir.path(), "x.io/a", D, &k1).unwrap();
        assert_eq!(c, b, "the same signature again changes nothing");
        let config = read(
            read(&b.manifest_digest)["config"]["digest"]
                .as_str()
                .unwrap(),
        );
        assert_eq!(config["rootfs"]["diff_ids"].as_array().unwrap().len(), 2);
        assert_eq!(config["history"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn index_keeps_other_entries_and_replaces_same_name() {
        let dir = tempfile::tempdir().unwrap();
        layout::init(dir.path()).unwrap();
        let cfg = layout::write_blob(dir.path(), layout::OCI_CONFIG, b"{}").unwrap();
        let m = |n: &str| layout::Manifest {
            schema_version: 2,
            media_type: layout::OCI_MANIFEST.into(),
            artifact_type: None,
            config: cfg.clone(),
            layers: vec![],
            subject: None,
            annotations: Some([("n".to_string(), n.to_string())].into()),
        };
        layout::put_manifest(dir.path(), &m("a"), Some("one")).unwrap();
        layout::put_manifest(dir.path(), &m("b"), Some("two")).unwrap();
        let c = layout::put_manifest(dir.path(), &m("c"), Some("one")).unwrap();
        let index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("index.json")).unwrap()).unwrap();
        let names: Vec<_> = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["annotations"][layout::REF_NAME]
                        .as_str()
                        .unwrap()
                        .to_string(),
                    e["digest"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(names.contains(&("one".into(), c.digest.clone())));
        let blob = std::fs::read(dir.path().join("blobs/sha256").join(&c.digest[7..])).unwrap();
        assert_eq!(layout::digest(&blob), c.digest);
        assert_eq!(blob.len() as u64, c.size);
    }
}
