//! OCI image layouts (a directory: `oci-layout`, `index.json`,
//! `blobs/<alg>/<hex>`); their tar form, the oci-archive, is in `archive`.
//!
//! Blobs are streamed into a temporary file at the layout's top level while
//! being hashed, then renamed to their digest, so a blob path either does
//! not exist or holds exactly the bytes its name promises, and no blob is
//! ever held in memory. Everything read back is checked against the
//! descriptor that named it (size first, then digest): a layout is input,
//! and a corrupt or tampered blob is reported by digest, never trusted.
//!
//! This is the one layout implementation: images we build, signatures and
//! SBOM artifacts (`publish::sign`, `publish::attach`) and the registry
//! client's copies (`oci::registry`) all go through it. Layouts other
//! tools wrote are accepted as the spec allows (sha512 blobs too), and
//! `index.json` is edited as JSON, so entries we do not model keep every
//! field they had.

use super::image::{Descriptor, Index, Manifest, ANNOTATION_REF_NAME, MEDIA_INDEX, MEDIA_MANIFEST};
use crate::error::InputError;
use anyhow::{bail, Context, Result};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256, Sha512};
use std::fs;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

pub use super::archive::{read_archive, write_archive};

/// JSON documents (manifests, configs, indexes) larger than this are
/// refused rather than read into memory.
const MAX_JSON: u64 = 16 << 20;

/// SHA-256 or SHA-512, whichever a digest names.
enum Hasher {
    S256(Sha256),
    S512(Sha512),
}

/// A writer (or reader) that hashes and counts what passes through it.
pub(crate) struct Hashing<W> {
    pub inner: W,
    hasher: Hasher,
    size: u64,
}

impl<W> Hashing<W> {
    /// SHA-256.
    pub fn new(inner: W) -> Self {
        Hashing {
            inner,
            hasher: Hasher::S256(Sha256::new()),
            size: 0,
        }
    }

    /// The algorithm `digest` names (sha512 or, otherwise, sha256).
    pub fn like(inner: W, digest: &str) -> Self {
        let mut h = Hashing::new(inner);
        if digest.starts_with("sha512:") {
            h.hasher = Hasher::S512(Sha512::new());
        }
        h
    }

    fn update(&mut self, buf: &[u8]) {
        match &mut self.hasher {
            Hasher::S256(h) => h.update(buf),
            Hasher::S512(h) => h.update(buf),
        }
        self.size += buf.len() as u64;
    }

    /// (`alg:<hex>`, byte count, inner writer).
    pub fn finish(self) -> (String, u64, W) {
        let d = match self.hasher {
            Hasher::S256(h) => format!("sha256:{}", hex::encode(h.finalize())),
            Hasher::S512(h) => format!("sha512:{}", hex::encode(h.finalize())),
        };
        (d, self.size, self.inner)
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.update(&buf[..n]);
        Ok(n)
    }
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// (algorithm, hex) of a digest we can verify: `sha256:` + 64 or
/// `sha512:` + 128 lowercase hex digits; None for anything else.
pub fn parse_digest(digest: &str) -> Option<(&str, &str)> {
    let (alg, hex) = digest.split_once(':')?;
    let len = match alg {
        "sha256" => 64,
        "sha512" => 128,
        _ => return None,
    };
    let ok = hex.len() == len && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    ok.then_some((alg, hex))
}

/// The hex part of a `sha256:<64 hex>` digest.
pub fn digest_hex(digest: &str) -> Result<&str> {
    match parse_digest(digest) {
        Some(("sha256", h)) => Ok(h),
        _ => Err(InputError(format!("{digest}: not a sha256 digest")).into()),
    }
}

/// The `(alg):<hex>` of `bytes`, in the algorithm `like` names.
pub fn digest_like(like: &str, bytes: &[u8]) -> String {
    let mut h = Hashing::like(std::io::sink(), like);
    h.update(bytes);
    h.finish().0
}

/// The directory `path` is in (`.` for a bare file name): where its
/// temporary files go, so that the final rename stays on one filesystem.
pub fn parent_dir(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Writes `path` whole or not at all (a temporary file beside it, 0644,
/// renamed over it), so a reader never sees half a file.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let dir = parent_dir(path);
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    tmp.write_all(data)
        .with_context(|| format!("writing {}", path.display()))?;
    persist(tmp, path)
}

/// Renames a finished temporary file to `path`, readable by all (0644).
pub(crate) fn persist(tmp: tempfile::NamedTempFile, path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(0o644))?;
    tmp.persist(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// An image layout directory.
#[derive(Debug, Clone)]
pub struct Layout {
    dir: PathBuf,
}

/// A blob being written: hashed while streamed to a temporary file; when
/// its digest and size are known beforehand (a copy, a download), bytes
/// past the size are refused and a mismatch leaves nothing behind.
pub struct BlobWriter {
    out: Hashing<BufWriter<tempfile::NamedTempFile>>,
    dir: PathBuf,
    expect: Option<(String, u64)>,
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Some((digest, size)) = &self.expect {
            if self.out.size + buf.len() as u64 > *size {
                return Err(std::io::Error::other(format!(
                    "blob {digest} is longer than its descriptor's {size} bytes"
                )));
            }
        }
        self.out.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

impl BlobWriter {
    /// Renames the blob to its digest (after checking it against the
    /// expected one, if any); returns (digest, size).
    pub fn finish(self) -> Result<(String, u64)> {
        let (digest, size, w) = self.out.finish();
        if let Some((want, want_size)) = &self.expect {
            if *want != digest || *want_size != size {
                bail!(
                    "blob {want} arrived as {size} bytes hashing to {digest} (expected {want_size} bytes); discarded"
                );
            }
        }
        let tmp = w.into_inner().map_err(|e| e.into_error())?;
        let path = blob_path(&self.dir, &digest)?;
        fs::create_dir_all(path.parent().expect("blobs/<alg>"))?;
        tmp.as_file().sync_all()?;
        persist(tmp, &path).with_context(|| format!("storing blob {digest}"))?;
        Ok((digest, size))
    }
}

fn blob_path(dir: &Path, digest: &str) -> Result<PathBuf> {
    let (alg, hex) = parse_digest(digest).ok_or_else(|| {
        InputError(format!(
            "bad digest `{digest}` (expected sha256:<64 hex> or sha512:<128 hex>)"
        ))
    })?;
    Ok(dir.join("blobs").join(alg).join(hex))
}

/// The tag an `index.json` entry carries, if any.
pub fn ref_name(entry: &Value) -> Option<&str> {
    entry.get("annotations")?.get(ANNOTATION_REF_NAME)?.as_str()
}

impl Layout {
    /// Creates the layout at `dir` (or opens the one there), with an empty
    /// index when none exists.
    pub fn create(dir: &Path) -> Result<Layout> {
        fs::create_dir_all(dir.join("blobs/sha256"))
            .with_context(|| format!("creating {}", dir.display()))?;
        let l = Layout {
            dir: dir.to_path_buf(),
        };
        if !dir.join("oci-layout").exists() {
            l.write_file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        }
        if !dir.join("index.json").exists() {
            l.write_index(&serde_json::to_value(Index::new(Vec::new()))?)?;
        }
        Ok(l)
    }

    /// Opens the layout at `dir`, or creates one where nothing is; a
    /// directory holding something else is bad input.
    pub fn open_or_create(dir: &Path) -> Result<Layout> {
        if dir.join("oci-layout").exists() {
            return Layout::open(dir);
        }
        if dir.exists() && fs::read_dir(dir)?.next().is_some() {
            bail!(InputError(format!(
                "{} exists, is not empty and is not an OCI layout",
                dir.display()
            )));
        }
        Layout::create(dir)
    }

    /// Opens an existing layout (InputError if `dir` is not one).
    pub fn open(dir: &Path) -> Result<Layout> {
        let bad =
            |why: String| InputError(format!("{} is not an OCI layout: {why}", dir.display()));
        if !dir.is_dir() {
            bail!(bad("not a directory".into()));
        }
        let text = fs::read_to_string(dir.join("oci-layout"))
            .map_err(|e| bad(format!("oci-layout: {e}")))?;
        let v: Value = serde_json::from_str(&text).map_err(|e| bad(format!("oci-layout: {e}")))?;
        if v["imageLayoutVersion"] != "1.0.0" {
            bail!(bad(format!(
                "oci-layout: unsupported imageLayoutVersion {}",
                v["imageLayoutVersion"]
            )));
        }
        let l = Layout {
            dir: dir.to_path_buf(),
        };
        l.index().map_err(|e| bad(format!("{e:#}")))?;
        Ok(l)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the blob `digest` lives (whether or not it exists).
    pub fn blob_path(&self, digest: &str) -> Result<PathBuf> {
        blob_path(&self.dir, digest)
    }

    /// Is the blob here, with that size? (Content is not checked.)
    pub fn has_blob(&self, digest: &str, size: u64) -> bool {
        self.blob_path(digest)
            .ok()
            .and_then(|p| fs::metadata(p).ok())
            .is_some_and(|m| m.len() == size)
    }

    /// Starts a streamed blob; its digest is what was written.
    pub fn blob_writer(&self) -> Result<BlobWriter> {
        self.writer(None)
    }

    /// Starts a streamed blob that must turn out to be `digest`, `size`
    /// bytes long; anything else is discarded.
    pub fn blob_writer_for(&self, digest: &str, size: u64) -> Result<BlobWriter> {
        self.blob_path(digest)?;
        self.writer(Some((digest.to_string(), size)))
    }

    fn writer(&self, expect: Option<(String, u64)>) -> Result<BlobWriter> {
        let tmp = tempfile::Builder::new()
            .prefix(".tmp-blob-")
            .tempfile_in(&self.dir)
            .with_context(|| format!("creating a temporary blob in {}", self.dir.display()))?;
        let inner = BufWriter::with_capacity(1 << 20, tmp);
        let out = match &expect {
            Some((d, _)) => Hashing::like(inner, d),
            None => Hashing::new(inner),
        };
        Ok(BlobWriter {
            out,
            dir: self.dir.clone(),
            expect,
        })
    }

    /// Stores everything `r` yields as a blob; returns (digest, size).
    pub fn write_blob(&self, mut r: impl Read) -> Result<(String, u64)> {
        let mut w = self.blob_writer()?;
        std::io::copy(&mut r, &mut w)?;
        w.finish()
    }

    /// Stores bytes that must be `digest` (a manifest fetched or copied).
    pub fn put_blob(&self, digest: &str, data: &[u8]) -> Result<()> {
        let mut w = self.blob_writer_for(digest, data.len() as u64)?;
        w.write_all(data)?;
        w.finish()?;
        Ok(())
    }

    /// Copies a blob from another layout: a hard link when possible (blobs
    /// are immutable), else a hashed copy. Returns false if it was here.
    pub fn copy_blob_from(&self, src: &Layout, digest: &str, size: u64) -> Result<bool> {
        if self.has_blob(digest, size) {
            return Ok(false);
        }
        let from = src.blob_path(digest)?;
        let to = self.blob_path(digest)?;
        fs::create_dir_all(to.parent().expect("blobs/<alg>"))?;
        if fs::hard_link(&from, &to).is_ok() {
            return Ok(true);
        }
        let mut w = self.blob_writer_for(digest, size)?;
        let mut f = fs::File::open(&from).with_context(|| format!("opening {}", from.display()))?;
        std::io::copy(&mut f, &mut w).with_context(|| format!("copying blob {digest}"))?;
        w.finish()?;
        Ok(true)
    }

    /// Stores `bytes` as a blob of type `media_type`.
    pub fn write_bytes(&self, media_type: &str, bytes: &[u8]) -> Result<Descriptor> {
        let (digest, size) = self.write_blob(bytes)?;
        Ok(Descriptor::new(media_type, digest, size))
    }

    /// Stores `v` as compact JSON (same value → same bytes → same digest).
    pub fn write_json<T: Serialize>(&self, media_type: &str, v: &T) -> Result<Descriptor> {
        self.write_bytes(media_type, &serde_json::to_vec(v)?)
    }

    /// Stores an image manifest and tags it; returns its descriptor (with
    /// the manifest's `artifactType`, without the tag).
    pub fn put_manifest(&self, m: &Manifest, tag: &str) -> Result<Descriptor> {
        let mt = m.media_type.as_deref().unwrap_or(MEDIA_MANIFEST);
        let mut d = self.write_json(mt, m)?;
        d.artifact_type = m.artifact_type.clone();
        self.add_ref(tag, &d)?;
        Ok(d)
    }

    /// Opens a blob after checking its size (content is not checked here;
    /// see `verify`).
    fn open_sized(&self, digest: &str, size: u64) -> Result<fs::File> {
        let path = self.blob_path(digest)?;
        let f = fs::File::open(&path)
            .map_err(|e| InputError(format!("{}: blob {digest}: {e}", self.dir.display())))?;
        let len = f.metadata()?.len();
        if len != size {
            bail!(InputError(format!(
                "{}: blob {digest} is {len} bytes but its descriptor says {size}",
                self.dir.display()
            )));
        }
        Ok(f)
    }

    /// Opens a blob after checking its size against `d` (content is not
    /// checked here; see `verify_blob`).
    pub fn open_blob(&self, d: &Descriptor) -> Result<fs::File> {
        self.open_sized(&d.digest, d.size)
    }

    /// Streams the blob through its digest's hash and compares.
    pub fn verify(&self, digest: &str, size: u64) -> Result<()> {
        let mut h = Hashing::like(std::io::sink(), digest);
        std::io::copy(&mut self.open_sized(digest, size)?, &mut h)
            .with_context(|| format!("reading blob {digest}"))?;
        self.check_digest(digest, &h.finish().0)
    }

    /// `verify` for a descriptor.
    pub fn verify_blob(&self, d: &Descriptor) -> Result<()> {
        self.verify(&d.digest, d.size)
    }

    /// A small blob's bytes (at most `max`), verified.
    pub fn read_verified(&self, digest: &str, size: u64, max: u64) -> Result<Vec<u8>> {
        if size > max {
            bail!(InputError(format!(
                "{}: blob {digest} is {size} bytes, more than {max} for a JSON document",
                self.dir.display()
            )));
        }
        let mut r = Hashing::like(self.open_sized(digest, size)?, digest);
        let mut bytes = Vec::with_capacity(size as usize);
        r.read_to_end(&mut bytes)
            .with_context(|| format!("reading blob {digest}"))?;
        self.check_digest(digest, &r.finish().0)?;
        Ok(bytes)
    }

    /// A small blob's bytes, verified.
    pub fn read_blob(&self, d: &Descriptor) -> Result<Vec<u8>> {
        self.read_verified(&d.digest, d.size, MAX_JSON)
    }

    /// A JSON blob, verified and parsed.
    pub fn read_json<T: DeserializeOwned>(&self, d: &Descriptor) -> Result<T> {
        let bytes = self.read_blob(d)?;
        serde_json::from_slice(&bytes)
            .map_err(|e| InputError(format!("blob {} ({}): {e}", d.digest, d.media_type)).into())
    }

    pub(crate) fn check_digest(&self, want: &str, got: &str) -> Result<()> {
        if want != got {
            bail!(InputError(format!(
                "{}: blob {want} does not match its digest (its content hashes to {got}); the blob is corrupt or was tampered with",
                self.dir.display()
            )));
        }
        Ok(())
    }

    /// `index.json` as it is (entries keep fields we do not model).
    pub fn raw_index(&self) -> Result<Value> {
        let path = self.dir.join("index.json");
        let bad = |e: String| InputError(format!("{}: {e}", path.display()));
        let text = fs::read(&path).map_err(|e| bad(e.to_string()))?;
        let v: Value = serde_json::from_slice(&text).map_err(|e| bad(e.to_string()))?;
        if !v.get("manifests").is_some_and(Value::is_array) {
            bail!(bad("no manifests array".into()));
        }
        Ok(v)
    }

    /// The layout's `index.json`.
    pub fn index(&self) -> Result<Index> {
        let path = self.dir.join("index.json");
        serde_json::from_value(self.raw_index()?)
            .map_err(|e| InputError(format!("{}: {e}", path.display())).into())
    }

    /// The tags `index.json` names, sorted, each once.
    pub fn tags(&self) -> Result<Vec<String>> {
        let index = self.raw_index()?;
        let mut tags: Vec<String> = index["manifests"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| ref_name(e).map(str::to_string))
            .collect();
        tags.sort();
        tags.dedup();
        Ok(tags)
    }

    /// The `index.json` entry tagged `tag`, as it is.
    pub fn find_raw(&self, tag: &str) -> Result<Option<Value>> {
        let index = self.raw_index()?;
        Ok(index["manifests"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| ref_name(e) == Some(tag))
            .cloned())
    }

    /// The descriptor `tag` names, without its ref-name annotation; None
    /// when nothing has that tag.
    pub fn find(&self, tag: &str) -> Result<Option<Descriptor>> {
        let Some(v) = self.find_raw(tag)? else {
            return Ok(None);
        };
        let mut d: Descriptor = serde_json::from_value(v)
            .map_err(|e| InputError(format!("{}/index.json: {tag}: {e}", self.dir.display())))?;
        d.annotations.remove(ANNOTATION_REF_NAME);
        Ok(Some(d))
    }

    /// Like `find`, but a missing tag is bad input naming the tags there are.
    pub fn resolve(&self, tag: &str) -> Result<Descriptor> {
        match self.find(tag)? {
            Some(d) => Ok(d),
            None => Err(self.no_such_tag(tag)),
        }
    }

    /// The error for a tag that is not in `index.json`.
    pub fn no_such_tag(&self, tag: &str) -> anyhow::Error {
        let tags = self.tags().unwrap_or_default();
        InputError(format!(
            "{}: no image tagged `{tag}` (tags: {})",
            self.dir.display(),
            if tags.is_empty() {
                "none".to_string()
            } else {
                tags.join(", ")
            }
        ))
        .into()
    }

    /// Points `tag` at `d` in `index.json` (replacing what it named).
    pub fn add_ref(&self, tag: &str, d: &Descriptor) -> Result<()> {
        crate::oci::reference::check_tag(tag).map_err(InputError)?;
        self.set_ref(Some(tag), serde_json::to_value(d)?)
    }

    /// Lists `entry` (a descriptor as JSON) in `index.json`: under `tag`,
    /// replacing what it named (the tag is not checked: it is one a
    /// reference or another layout already carried); with no tag,
    /// untagged unless its digest is listed already. Other entries are
    /// kept as they are, in their order; the new one goes last.
    pub fn set_ref(&self, tag: Option<&str>, mut entry: Value) -> Result<()> {
        let mut index = self.raw_index()?;
        let entries = index["manifests"].as_array_mut().expect("checked");
        match tag {
            Some(t) => {
                entries.retain(|e| ref_name(e) != Some(t));
                let obj = entry.as_object_mut().context("a descriptor is an object")?;
                let ann = obj.entry("annotations").or_insert_with(|| json!({}));
                if !ann.is_object() {
                    *ann = json!({});
                }
                ann[ANNOTATION_REF_NAME] = json!(t);
            }
            None => {
                if entries
                    .iter()
                    .any(|e| e.get("digest") == entry.get("digest"))
                {
                    return Ok(());
                }
                if let Some(a) = entry.get_mut("annotations").and_then(Value::as_object_mut) {
                    a.remove(ANNOTATION_REF_NAME);
                }
            }
        }
        entries.push(entry);
        self.write_index(&index)
    }

    fn write_index(&self, index: &Value) -> Result<()> {
        let mut index = index.clone();
        index["mediaType"] = json!(MEDIA_INDEX);
        self.write_file("index.json", &serde_json::to_vec(&index)?)
    }

    fn write_file(&self, name: &str, data: &[u8]) -> Result<()> {
        write_atomic(&self.dir.join(name), data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::image::MEDIA_CONFIG;

    #[test]
    fn blobs_refs_and_verification() {
        let t = tempfile::tempdir().unwrap();
        let l = Layout::create(t.path()).unwrap();
        let d = l
            .write_json(MEDIA_CONFIG, &serde_json::json!({"a": 1}))
            .unwrap();
        assert_eq!(d.size, 7);
        assert_eq!(
            d.digest,
            format!("sha256:{}", hex::encode(Sha256::digest(br#"{"a":1}"#)))
        );
        l.add_ref("v1", &d).unwrap();
        l.add_ref("v1", &d).unwrap();
        assert_eq!(l.index().unwrap().manifests.len(), 1);
        assert_eq!(Layout::open(t.path()).unwrap().resolve("v1").unwrap(), d);
        let e = l.resolve("v2").unwrap_err();
        assert!(e.downcast_ref::<InputError>().is_some());
        assert!(e.to_string().contains("tags: v1"), "{e}");
        assert!(l.add_ref("../x", &d).is_err());

        // Same size, other content: named by digest.
        fs::write(l.blob_path(&d.digest).unwrap(), br#"{"a":2}"#).unwrap();
        for e in [
            l.read_json::<serde_json::Value>(&d).unwrap_err(),
            l.verify_blob(&d).unwrap_err(),
        ] {
            assert!(e.downcast_ref::<InputError>().is_some());
            assert!(e.to_string().contains(&d.digest), "{e}");
        }
        // No temporary files left behind.
        let stray: Vec<_> = fs::read_dir(t.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n.to_string_lossy().starts_with('.'))
            .collect();
        assert!(stray.is_empty(), "{stray:?}");
    }

    #[test]
    fn bad_digests_are_input_errors() {
        for d in ["sha256:zz", "md5:00", "sha256:../../etc/passwd"] {
            assert!(digest_hex(d)
                .unwrap_err()
                .downcast_ref::<InputError>()
                .is_some());
        }
    }
}
