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
//! The layout is written by `oci::layout`, like the images.

use super::cosign_key::CosignKey;
use crate::error::InputError;
use crate::oci::image::{Descriptor, Manifest, MEDIA_CONFIG, MEDIA_MANIFEST};
use crate::oci::layout::{self, Layout};
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

    let l = Layout::create(layout_dir)?;
    let mut layer = l.write_bytes(SIMPLE_SIGNING_MEDIA_TYPE, &payload)?;
    layer
        .annotations
        .insert(SIGNATURE_ANNOTATION.to_string(), signature);
    // Signatures already under this tag (another key's, or fetched from
    // the registry before re-signing) stay, as with `cosign sign`;
    // the same signature twice is kept once.
    let mut layers = existing_signatures(&l, &tag)?;
    if !layers.contains(&layer) {
        layers.push(layer);
    }
    let config = l.write_bytes(MEDIA_CONFIG, config_json(&layers).as_bytes())?;
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(MEDIA_MANIFEST.into()),
        artifact_type: None,
        config,
        layers,
        subject: None,
        annotations: Default::default(),
    };
    let desc = l.put_manifest(&manifest, &tag)?;
    Ok(SignatureImage {
        tag,
        manifest_digest: desc.digest,
    })
}

/// Signs each of `digests` (an index's and its images', as `cosign sign
/// --recursive` does) for the repository `dest` names and pushes the
/// signature images to its cosign tags. The signature images are built in
/// a scratch layout, so the artifact being published is never changed.
pub fn push_signatures(
    digests: &[String],
    dest: &crate::oci::reference::Reference,
    key: &CosignKey,
    o: &crate::oci::registry::Options,
) -> Result<Vec<crate::oci::registry::PushReport>> {
    let Some(identity) = dest.repository_name() else {
        return Err(InputError(format!(
            "{dest}: signatures go to a registry (docker://HOST/REPO:TAG)"
        ))
        .into());
    };
    let scratch = tempfile::Builder::new()
        .prefix("image-builder-sign.")
        .tempdir()?;
    let mut out = vec![];
    for d in digests {
        let sig = write_signature(scratch.path(), &identity, d, key)?;
        out.push(crate::oci::registry::push(
            scratch.path(),
            &sig.tag,
            &dest.with_tag(&sig.tag),
            o,
        )?);
    }
    Ok(out)
}

/// The digests an image's signatures cover: the top manifest's and, for
/// an index, each image's in it.
pub fn covered_digests(l: &Layout, top: &Descriptor) -> Result<Vec<String>> {
    let mut v = vec![top.digest.clone()];
    if top.media_type.contains("index") {
        let ix: crate::oci::image::Index = l.read_json(top)?;
        v.extend(ix.manifests.into_iter().map(|m| m.digest));
    }
    Ok(v)
}

/// The signature layers of the manifest tagged `tag` in the layout, if
/// any (other layers are dropped: a signature image holds only these).
fn existing_signatures(l: &Layout, tag: &str) -> Result<Vec<Descriptor>> {
    let Some(d) = l.find(tag)? else {
        return Ok(Vec::new());
    };
    #[derive(serde::Deserialize)]
    struct Layers {
        #[serde(default)]
        layers: Vec<Descriptor>,
    }
    let m: Layers = l.read_json(&d).map_err(|e| {
        anyhow::anyhow!(
            "the signature image tagged {tag} in {} does not parse: {e}",
            l.dir().display()
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
fn config_json(layers: &[Descriptor]) -> String {
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
    layout::digest_hex(d).map_err(|_| {
        InputError(format!(
            "`{d}` is not a manifest digest (expected sha256: and 64 lowercase hex digits)"
        ))
        .into()
    })
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
        use crate::oci::image::ANNOTATION_REF_NAME;
        let dir = tempfile::tempdir().unwrap();
        let l = Layout::create(dir.path()).unwrap();
        let cfg = l.write_bytes(MEDIA_CONFIG, b"{}").unwrap();
        let m = |n: &str| Manifest {
            schema_version: 2,
            media_type: Some(MEDIA_MANIFEST.into()),
            artifact_type: None,
            config: cfg.clone(),
            layers: vec![],
            subject: None,
            annotations: [("n".to_string(), n.to_string())].into(),
        };
        l.put_manifest(&m("a"), "one").unwrap();
        l.put_manifest(&m("b"), "two").unwrap();
        let c = l.put_manifest(&m("c"), "one").unwrap();
        let index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("index.json")).unwrap()).unwrap();
        let names: Vec<_> = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["annotations"][ANNOTATION_REF_NAME]
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
        assert_eq!(layout::sha256_digest(&blob), c.digest);
        assert_eq!(blob.len() as u64, c.size);
    }
}
