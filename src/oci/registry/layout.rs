//! Reading OCI image layouts for publishing: any spec-conforming layout
//! (one skopeo wrote, say) is accepted, and nothing in it is trusted.
//!
//! The layout itself — files, blob paths, hashing, atomic writes,
//! `index.json` edits and the oci-archive form — is
//! `oci::layout`, the one implementation. What is here is the
//! publishing view of it: descriptors read as raw JSON (`Desc`: the fields
//! we act on, checked, plus everything else so platform, annotations and
//! artifactType survive a copy), manifests read against their descriptors
//! with the distribution spec's size limit, and the walk over everything a
//! tag reaches, every manifest checked on the way, so that each blob can be
//! verified before it leaves the machine.

use crate::error::InputError;
use crate::oci::image::{MEDIA_DOCKER_LIST, MEDIA_DOCKER_MANIFEST, MEDIA_INDEX, MEDIA_MANIFEST};
pub use crate::oci::layout::{sha256_digest, Layout};
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// Manifests above this size are refused (the distribution spec's advice).
pub const MAX_MANIFEST: u64 = 4 << 20;

/// A content descriptor: the fields we act on, plus the original JSON so
/// platform, annotations and artifactType survive a copy.
#[derive(Debug, Clone)]
pub struct Desc {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    pub raw: Value,
}

impl Desc {
    pub fn from_value(v: &Value, what: &str) -> Result<Desc> {
        let digest = v
            .get("digest")
            .and_then(Value::as_str)
            .with_context(|| format!("{what}: descriptor without a digest"))?;
        super::super::reference::check_digest(digest)
            .map_err(|e| anyhow::anyhow!("{what}: {e}"))?;
        let size = v
            .get("size")
            .and_then(Value::as_u64)
            .with_context(|| format!("{what}: descriptor {digest} without a size"))?;
        Ok(Desc {
            media_type: v
                .get("mediaType")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            digest: digest.to_string(),
            size,
            raw: v.clone(),
        })
    }

    pub fn is_index(&self) -> bool {
        self.media_type == MEDIA_INDEX || self.media_type == MEDIA_DOCKER_LIST
    }

    /// The `index.json` entry for this descriptor: media type, digest and
    /// size as checked, platform, artifactType and annotations as they were.
    pub fn entry(&self) -> Value {
        let mut e = json!({
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.size,
        });
        for k in ["platform", "artifactType", "annotations"] {
            if let Some(v) = self.raw.get(k) {
                e[k] = v.clone();
            }
        }
        e
    }
}

/// The media types of manifests and indexes (as opposed to blobs).
pub const MANIFEST_TYPES: [&str; 4] = [
    MEDIA_MANIFEST,
    MEDIA_INDEX,
    MEDIA_DOCKER_MANIFEST,
    MEDIA_DOCKER_LIST,
];

/// Is this media type a manifest or an index (as opposed to a blob)?
pub fn is_manifest_type(mt: &str) -> bool {
    MANIFEST_TYPES.contains(&mt)
}

/// A manifest's media type: its descriptor's, else its own `mediaType`,
/// else index or manifest by shape.
pub fn manifest_media_type(desc_mt: &str, body: &[u8]) -> String {
    if !desc_mt.is_empty() {
        return desc_mt.to_string();
    }
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    if let Some(mt) = v.get("mediaType").and_then(Value::as_str) {
        return mt.to_string();
    }
    if v.get("manifests").is_some() {
        MEDIA_INDEX.into()
    } else {
        MEDIA_MANIFEST.into()
    }
}

/// Everything one tagged image consists of, in push order.
#[derive(Debug, Default)]
pub struct Closure {
    /// Configs and layers, each once, in first-seen order.
    pub blobs: Vec<Desc>,
    /// Child manifests (deepest first) with their exact bytes.
    pub children: Vec<(Desc, Vec<u8>)>,
}

/// Child descriptors of a manifest or index body: (blobs, manifests).
pub fn references(body: &[u8], what: &str) -> Result<(Vec<Desc>, Vec<Desc>)> {
    let v: Value = serde_json::from_slice(body).with_context(|| format!("{what} is not JSON"))?;
    let mut blobs = vec![];
    let mut manifests = vec![];
    if let Some(ms) = v.get("manifests").and_then(Value::as_array) {
        for m in ms {
            let mut d = Desc::from_value(m, what)?;
            if d.media_type.is_empty() {
                d.media_type = MEDIA_MANIFEST.into();
            }
            manifests.push(d);
        }
    }
    if let Some(c) = v.get("config") {
        blobs.push(Desc::from_value(c, what)?);
    }
    for l in v
        .get("layers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        blobs.push(Desc::from_value(l, what)?);
    }
    Ok((blobs, manifests))
}

/// `index.json`'s entries, each checked (digest, size) and kept whole.
pub fn entries(l: &Layout) -> Result<Vec<Desc>> {
    let index = l.raw_index()?;
    index["manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| Desc::from_value(m, "index.json"))
        .collect()
}

/// The descriptor tagged `tag`; a missing tag is bad input naming the
/// tags there are.
pub fn find(l: &Layout, tag: &str) -> Result<Desc> {
    match l.find_raw(tag)? {
        Some(v) => Desc::from_value(&v, "index.json")
            .map_err(|e| InputError(format!("{}: {e:#}", l.dir().display())).into()),
        None => Err(l.no_such_tag(tag)),
    }
}

/// A manifest's bytes, checked against its descriptor.
pub fn read_manifest(l: &Layout, d: &Desc) -> Result<Vec<u8>> {
    l.read_verified(&d.digest, d.size, MAX_MANIFEST)
}

/// The blobs and child manifests under `root`, every manifest read and
/// checked on the way.
pub fn closure(l: &Layout, root: &Desc, root_body: &[u8]) -> Result<Closure> {
    let mut c = Closure::default();
    let mut seen = BTreeSet::new();
    walk(l, root, root_body, &mut c, &mut seen, 0)?;
    Ok(c)
}

fn walk(
    l: &Layout,
    d: &Desc,
    body: &[u8],
    c: &mut Closure,
    seen: &mut BTreeSet<String>,
    depth: usize,
) -> Result<()> {
    if depth > 8 {
        bail!(InputError(format!(
            "{}: indexes nested too deep",
            l.dir().display()
        )));
    }
    let (blobs, manifests) = references(body, &format!("manifest {}", d.digest))
        .map_err(|e| InputError(format!("{}: {e:#}", l.dir().display())))?;
    for m in manifests {
        let mb = read_manifest(l, &m)?;
        walk(l, &m, &mb, c, seen, depth + 1)?;
        if seen.insert(m.digest.clone()) {
            c.children.push((m, mb));
        }
    }
    for b in blobs {
        if seen.insert(b.digest.clone()) {
            c.blobs.push(b);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::layout::read_archive;

    fn tar_of(entries: &[(&str, &[u8])]) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        let mut b = tar::Builder::new(f.reopen().unwrap());
        for (name, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            // Raw name bytes: the builder itself refuses `..`.
            h.as_mut_bytes()[..name.len()].copy_from_slice(name.as_bytes());
            h.set_cksum();
            b.append(&h, *data).unwrap();
        }
        b.finish().unwrap();
        f
    }

    #[test]
    fn unpack_accepts_only_layout_entries() {
        let layout: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;
        let index: &[u8] = br#"{"schemaVersion":2,"manifests":[]}"#;
        let ok = tar_of(&[
            ("./oci-layout", layout),
            ("index.json", index),
            ("blobs/sha256/ab", b"x"),
        ]);
        let d = tempfile::tempdir().unwrap();
        let l = read_archive(ok.path(), &d.path().join("l")).unwrap();
        assert!(l.tags().unwrap().is_empty());
        for evil in ["blobs/../../escape", "etc/passwd", "blobs/sha256/a/b"] {
            let t = tar_of(&[("oci-layout", layout), (evil, b"x")]);
            let d = tempfile::tempdir().unwrap();
            let e = read_archive(t.path(), &d.path().join("l")).unwrap_err();
            assert!(e.downcast_ref::<InputError>().is_some(), "{evil}: {e:#}");
            assert!(!d.path().join("escape").exists());
        }
    }

    #[test]
    fn set_ref_replaces_a_tag_and_adds_untagged_once() {
        let d = tempfile::tempdir().unwrap();
        let l = Layout::open_or_create(&d.path().join("l")).unwrap();
        let desc = |n: u8| Desc {
            media_type: MEDIA_MANIFEST.into(),
            digest: format!("sha256:{}", hex::encode([n; 32])),
            size: 1,
            raw: json!({}),
        };
        l.set_ref(Some("a"), desc(1).entry()).unwrap();
        l.set_ref(Some("a"), desc(2).entry()).unwrap();
        l.set_ref(None, desc(3).entry()).unwrap();
        l.set_ref(None, desc(3).entry()).unwrap();
        assert_eq!(entries(&l).unwrap().len(), 2);
        assert_eq!(find(&l, "a").unwrap().digest, desc(2).digest);
        let e = find(&l, "b").unwrap_err();
        assert!(
            e.to_string().contains("no image tagged `b` (tags: a)"),
            "{e}"
        );
    }
}
