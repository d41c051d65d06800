//! OCI image layouts (a directory: `oci-layout`, `index.json`,
//! `blobs/sha256/<hex>`) and oci-archives (the same directory as a tar).
//!
//! Blobs are streamed into a temporary file at the layout's top level while
//! being hashed, then renamed to their digest, so a blob path either does
//! not exist or holds exactly the bytes its name promises, and no blob is
//! ever held in memory. Everything read back is checked against the
//! descriptor that named it (size first, then digest): a layout is input,
//! and a corrupt or tampered blob is reported by digest, never trusted.

use super::image::{Descriptor, Index, ANNOTATION_REF_NAME, MEDIA_INDEX};
use crate::error::InputError;
use anyhow::{bail, Context, Result};
use serde::{de::DeserializeOwned, Serialize};
use sha2::{Digest, Sha256};
use std::fs;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// JSON documents (manifests, configs, indexes) larger than this are
/// refused rather than read into memory.
const MAX_JSON: u64 = 16 << 20;

/// A writer that hashes (SHA-256) and counts what passes through it.
pub(crate) struct Hashing<W> {
    pub inner: W,
    hasher: Sha256,
    size: u64,
}

impl<W> Hashing<W> {
    pub fn new(inner: W) -> Self {
        Hashing {
            inner,
            hasher: Sha256::new(),
            size: 0,
        }
    }

    /// (`sha256:<hex>`, byte count, inner writer).
    pub fn finish(self) -> (String, u64, W) {
        let d = format!("sha256:{}", hex::encode(self.hasher.finalize()));
        (d, self.size, self.inner)
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
}

/// The hex part of a `sha256:<64 hex>` digest.
pub fn digest_hex(digest: &str) -> Result<&str> {
    match digest.strip_prefix("sha256:") {
        Some(h)
            if h.len() == 64
                && h.bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) =>
        {
            Ok(h)
        }
        _ => Err(InputError(format!("{digest}: not a sha256 digest")).into()),
    }
}

/// An image layout directory.
#[derive(Debug, Clone)]
pub struct Layout {
    dir: PathBuf,
}

/// A blob being written: hashed while streamed to a temporary file.
pub struct BlobWriter {
    out: Hashing<BufWriter<tempfile::NamedTempFile>>,
    blobs: PathBuf,
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.out.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

impl BlobWriter {
    /// Renames the blob to its digest; returns (digest, size).
    pub fn finish(self) -> Result<(String, u64)> {
        let (digest, size, w) = self.out.finish();
        let tmp = w.into_inner().map_err(|e| e.into_error())?;
        let path = self.blobs.join(digest_hex(&digest)?);
        tmp.as_file().sync_all()?;
        tmp.persist(&path)
            .with_context(|| format!("storing blob {}", path.display()))?;
        Ok((digest, size))
    }
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
            l.write_index(&Index::new(Vec::new()))?;
        }
        Ok(l)
    }

    /// Opens an existing layout (InputError if `dir` is not one).
    pub fn open(dir: &Path) -> Result<Layout> {
        let text = fs::read_to_string(dir.join("oci-layout")).map_err(|e| {
            InputError(format!(
                "{}: not an OCI image layout (oci-layout: {e})",
                dir.display()
            ))
        })?;
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| InputError(format!("{}/oci-layout: {e}", dir.display())))?;
        if v["imageLayoutVersion"] != "1.0.0" {
            bail!(InputError(format!(
                "{}/oci-layout: unsupported imageLayoutVersion {}",
                dir.display(),
                v["imageLayoutVersion"]
            )));
        }
        let l = Layout {
            dir: dir.to_path_buf(),
        };
        l.index()?;
        Ok(l)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the blob `digest` lives (whether or not it exists).
    pub fn blob_path(&self, digest: &str) -> Result<PathBuf> {
        Ok(self.dir.join("blobs/sha256").join(digest_hex(digest)?))
    }

    /// Starts a streamed blob.
    pub fn blob_writer(&self) -> Result<BlobWriter> {
        let blobs = self.dir.join("blobs/sha256");
        fs::create_dir_all(&blobs)?;
        let tmp = tempfile::Builder::new()
            .prefix(".tmp-blob-")
            .tempfile_in(&self.dir)
            .with_context(|| format!("creating a temporary blob in {}", self.dir.display()))?;
        Ok(BlobWriter {
            out: Hashing::new(BufWriter::with_capacity(1 << 20, tmp)),
            blobs,
        })
    }

    /// Stores everything `r` yields as a blob; returns (digest, size).
    pub fn write_blob(&self, mut r: impl Read) -> Result<(String, u64)> {
        let mut w = self.blob_writer()?;
        std::io::copy(&mut r, &mut w)?;
        w.finish()
    }

    /// Stores `v` as compact JSON (same value → same bytes → same digest).
    pub fn write_json<T: Serialize>(&self, media_type: &str, v: &T) -> Result<Descriptor> {
        let bytes = serde_json::to_vec(v)?;
        let (digest, size) = self.write_blob(bytes.as_slice())?;
        Ok(Descriptor::new(media_type, digest, size))
    }

    /// Opens a blob after checking its size against `d` (content is not
    /// checked here; see `verify_blob`).
    pub fn open_blob(&self, d: &Descriptor) -> Result<fs::File> {
        let path = self.blob_path(&d.digest)?;
        let f = fs::File::open(&path).map_err(|e| InputError(format!("blob {}: {e}", d.digest)))?;
        let len = f.metadata()?.len();
        if len != d.size {
            bail!(InputError(format!(
                "blob {}: {len} bytes, the descriptor says {}",
                d.digest, d.size
            )));
        }
        Ok(f)
    }

    /// Streams the blob through SHA-256 and compares with its name.
    pub fn verify_blob(&self, d: &Descriptor) -> Result<()> {
        let mut h = Hashing::new(std::io::sink());
        std::io::copy(&mut self.open_blob(d)?, &mut h)
            .with_context(|| format!("reading blob {}", d.digest))?;
        let (got, _, _) = h.finish();
        check_digest(&d.digest, &got)
    }

    /// A small blob's bytes, verified.
    pub fn read_blob(&self, d: &Descriptor) -> Result<Vec<u8>> {
        if d.size > MAX_JSON {
            bail!(InputError(format!(
                "blob {}: {} bytes is too large for a JSON document",
                d.digest, d.size
            )));
        }
        let mut bytes = Vec::with_capacity(d.size as usize);
        self.open_blob(d)?
            .read_to_end(&mut bytes)
            .with_context(|| format!("reading blob {}", d.digest))?;
        let got = format!("sha256:{}", hex::encode(Sha256::digest(&bytes)));
        check_digest(&d.digest, &got)?;
        Ok(bytes)
    }

    /// A JSON blob, verified and parsed.
    pub fn read_json<T: DeserializeOwned>(&self, d: &Descriptor) -> Result<T> {
        let bytes = self.read_blob(d)?;
        serde_json::from_slice(&bytes)
            .map_err(|e| InputError(format!("blob {} ({}): {e}", d.digest, d.media_type)).into())
    }

    /// The layout's `index.json`.
    pub fn index(&self) -> Result<Index> {
        let path = self.dir.join("index.json");
        let text = fs::read_to_string(&path)
            .map_err(|e| InputError(format!("{}: {e}", path.display())))?;
        serde_json::from_str(&text)
            .map_err(|e| InputError(format!("{}: {e}", path.display())).into())
    }

    /// Points `tag` at `d` in `index.json` (replacing what it named).
    pub fn add_ref(&self, tag: &str, d: &Descriptor) -> Result<()> {
        check_tag(tag)?;
        let mut index = self.index()?;
        index
            .manifests
            .retain(|m| m.annotations.get(ANNOTATION_REF_NAME).map(String::as_str) != Some(tag));
        let mut d = d.clone();
        d.annotations
            .insert(ANNOTATION_REF_NAME.to_string(), tag.to_string());
        index.manifests.push(d);
        index.manifests.sort_by(|a, b| {
            a.annotations
                .get(ANNOTATION_REF_NAME)
                .cmp(&b.annotations.get(ANNOTATION_REF_NAME))
        });
        self.write_index(&index)
    }

    /// The descriptor `tag` names, without its ref-name annotation.
    pub fn resolve(&self, tag: &str) -> Result<Descriptor> {
        let index = self.index()?;
        let found = index
            .manifests
            .iter()
            .find(|m| m.annotations.get(ANNOTATION_REF_NAME).map(String::as_str) == Some(tag));
        match found {
            Some(d) => {
                let mut d = d.clone();
                d.annotations.remove(ANNOTATION_REF_NAME);
                Ok(d)
            }
            None => {
                let tags: Vec<&str> = index
                    .manifests
                    .iter()
                    .filter_map(|m| m.annotations.get(ANNOTATION_REF_NAME).map(String::as_str))
                    .collect();
                Err(InputError(format!(
                    "{}: no image tagged {tag:?} (tags: {})",
                    self.dir.display(),
                    if tags.is_empty() {
                        "none".to_string()
                    } else {
                        tags.join(", ")
                    }
                ))
                .into())
            }
        }
    }

    fn write_index(&self, index: &Index) -> Result<()> {
        let mut index = index.clone();
        index.media_type = Some(MEDIA_INDEX.to_string());
        self.write_file("index.json", &serde_json::to_vec(&index)?)
    }

    fn write_file(&self, name: &str, data: &[u8]) -> Result<()> {
        let mut tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(&self.dir)?;
        tmp.write_all(data)?;
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(fs::Permissions::from_mode(0o644))?;
        tmp.persist(self.dir.join(name))
            .with_context(|| format!("writing {}/{name}", self.dir.display()))?;
        Ok(())
    }
}

fn check_digest(want: &str, got: &str) -> Result<()> {
    if want != got {
        bail!(InputError(format!(
            "blob {want}: content digest is {got}; the blob is corrupt or was tampered with"
        )));
    }
    Ok(())
}

/// Tags as `skopeo` and the layout spec accept them (a safe subset).
fn check_tag(tag: &str) -> Result<()> {
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        && !tag.starts_with(['.', '-']);
    if !ok {
        bail!(InputError(format!(
            "{tag:?}: not a valid tag (letters, digits, `.`, `_`, `-`; at most 128)"
        )));
    }
    Ok(())
}

/// Writes the layout at `layout_dir` as an oci-archive at `out`: a tar in
/// byte order of paths, mtimes clamped to `source_date_epoch`, owners 0 and
/// no names, fixed modes, no xattrs (the host's metadata of a layout means
/// nothing). Temporary files (top-level dot files) are left out.
pub fn write_archive(layout_dir: &Path, out: &Path, source_date_epoch: i64) -> Result<()> {
    Layout::open(layout_dir)?;
    let dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = tempfile::Builder::new()
        .prefix(".oci-archive.")
        .tempfile_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    {
        let mut w = crate::artifact::tar::Writer::new(
            BufWriter::with_capacity(1 << 20, tmp.as_file()),
            source_date_epoch,
            true,
        );
        let mut names: Vec<String> = Vec::new();
        for e in fs::read_dir(layout_dir)? {
            let n = e?.file_name();
            let Some(n) = n.to_str() else { continue };
            if !n.starts_with('.') {
                names.push(n.to_string());
            }
        }
        names.sort();
        for n in names {
            let path = layout_dir.join(&n);
            if fs::symlink_metadata(&path)?.is_dir() {
                w.entry(&path, &format!("{n}/"))?;
                w.walk(&path, &format!("{n}/"))?;
            } else {
                w.entry(&path, &n)?;
            }
        }
        w.finish()?.flush()?;
    }
    use std::os::unix::fs::PermissionsExt;
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(0o644))?;
    tmp.as_file().sync_all()?;
    tmp.persist(out)
        .with_context(|| format!("renaming the archive to {}", out.display()))?;
    Ok(())
}

/// Unpacks the oci-archive `file` into `into` (created; must be empty) and
/// opens it. Only the layout's own names are accepted (`oci-layout`,
/// `index.json`, `blobs/<alg>/<hex>` as plain files and their directories):
/// anything else — absolute or `..` paths, links, devices — is refused.
pub fn read_archive(file: &Path, into: &Path) -> Result<Layout> {
    let bad = |why: String| InputError(format!("{}: {why}", file.display()));
    fs::create_dir_all(into).with_context(|| format!("creating {}", into.display()))?;
    if fs::read_dir(into)?.next().is_some() {
        bail!(InputError(format!(
            "{}: must be empty to unpack an oci-archive",
            into.display()
        )));
    }
    let f = fs::File::open(file).map_err(|e| bad(e.to_string()))?;
    let mut ar = tar::Archive::new(std::io::BufReader::new(f));
    for entry in ar.entries().map_err(|e| bad(e.to_string()))? {
        let mut e = entry.map_err(|e| bad(format!("corrupt archive: {e}")))?;
        let raw = e.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw).to_string();
        let rel = name.trim_start_matches("./").trim_end_matches('/');
        let parts: Vec<&str> = rel.split('/').collect();
        let kind = e.header().entry_type();
        let name_ok = match parts.as_slice() {
            [""] => kind.is_dir(),
            ["oci-layout"] | ["index.json"] => kind.is_file(),
            ["blobs"] => kind.is_dir(),
            ["blobs", alg] => kind.is_dir() && is_word(alg),
            ["blobs", alg, hex] => kind.is_file() && is_word(alg) && is_word(hex),
            _ => false,
        };
        if !name_ok {
            bail!(bad(format!(
                "refusing entry {name:?} ({kind:?}): not part of an OCI image layout"
            )));
        }
        let dest = into.join(rel);
        if kind.is_dir() {
            fs::create_dir_all(&dest)?;
        } else {
            if let Some(p) = dest.parent() {
                fs::create_dir_all(p)?;
            }
            let mut out =
                fs::File::create(&dest).with_context(|| format!("creating {}", dest.display()))?;
            std::io::copy(&mut e, &mut out).map_err(|e| bad(format!("reading {name}: {e}")))?;
        }
    }
    Layout::open(into)
}

fn is_word(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifact::oci::image::MEDIA_CONFIG;

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

    #[test]
    fn archive_round_trip_and_hostile_archives() {
        let t = tempfile::tempdir().unwrap();
        let l = Layout::create(&t.path().join("a")).unwrap();
        let d = l.write_json(MEDIA_CONFIG, &serde_json::json!({})).unwrap();
        l.add_ref("t", &d).unwrap();
        let ar1 = t.path().join("1.tar");
        let ar2 = t.path().join("2.tar");
        write_archive(l.dir(), &ar1, 1000).unwrap();
        // Newer mtimes, same archive.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        l.add_ref("t", &d).unwrap();
        write_archive(l.dir(), &ar2, 1000).unwrap();
        assert_eq!(fs::read(&ar1).unwrap(), fs::read(&ar2).unwrap());
        let back = read_archive(&ar1, &t.path().join("b")).unwrap();
        assert_eq!(back.resolve("t").unwrap(), d);
        back.verify_blob(&d).unwrap();

        for (name, kind) in [
            ("../evil", tar::EntryType::Regular),
            ("blobs/sha256/../../x", tar::EntryType::Regular),
            ("blobs/sha256/abc", tar::EntryType::Symlink),
            ("etc/passwd", tar::EntryType::Regular),
        ] {
            let p = t.path().join("bad.tar");
            let mut b = tar::Builder::new(fs::File::create(&p).unwrap());
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(kind);
            h.set_size(0);
            // Bypass the tar crate's own path checks to write hostile names.
            h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
            h.set_cksum();
            b.append(&h, std::io::empty()).unwrap();
            b.finish().unwrap();
            drop(b);
            let into = t.path().join("c");
            let _ = fs::remove_dir_all(&into);
            let e = read_archive(&p, &into).unwrap_err();
            assert!(e.downcast_ref::<InputError>().is_some(), "{name}: {e}");
            assert!(!t.path().join("evil").exists() && !t.path().join("x").exists());
        }
    }
}
