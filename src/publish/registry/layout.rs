//! The OCI image-layout directory, read and written directly from the
//! spec (`oci-layout`, `index.json`, `blobs/ALG/HEX`), and its tar form.
//!
//! This is deliberately independent of the layout writer in
//! `artifact::oci`: publishing must accept any spec-conforming layout (one
//! skopeo wrote, say), and trusts nothing in it — every blob is checked
//! against its digest and size before it leaves the machine, and every blob
//! written here is hashed on the way in and only renamed into place when it
//! matches. `index.json` is replaced atomically, so a layout is never seen
//! half-updated.

use crate::error::InputError;
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use sha2::Digest as _;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
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
        self.media_type == OCI_INDEX || self.media_type == DOCKER_LIST
    }
}

/// Is this media type a manifest or an index (as opposed to a blob)?
pub fn is_manifest_type(mt: &str) -> bool {
    [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST].contains(&mt)
}

/// `sha256:` + hex of `data`.
pub fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)))
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
        OCI_INDEX.into()
    } else {
        OCI_MANIFEST.into()
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
                d.media_type = OCI_MANIFEST.into();
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

/// An OCI image layout on disk.
#[derive(Debug, Clone)]
pub struct Layout {
    pub dir: PathBuf,
}

impl Layout {
    /// Opens an existing layout; anything else is bad input.
    pub fn open(dir: &Path) -> Result<Layout> {
        let bad =
            |why: String| InputError(format!("{} is not an OCI layout: {why}", dir.display()));
        if !dir.is_dir() {
            return Err(bad("not a directory".into()).into());
        }
        let text = std::fs::read_to_string(dir.join("oci-layout"))
            .map_err(|e| bad(format!("oci-layout: {e}")))?;
        let v: Value = serde_json::from_str(&text).map_err(|e| bad(format!("oci-layout: {e}")))?;
        match v.get("imageLayoutVersion").and_then(Value::as_str) {
            Some("1.0.0") => {}
            other => return Err(bad(format!("unsupported imageLayoutVersion {other:?}")).into()),
        }
        let l = Layout {
            dir: dir.to_path_buf(),
        };
        l.index().map_err(|e| bad(format!("{e:#}")))?;
        Ok(l)
    }

    /// Opens the layout at `dir`, creating an empty one if nothing is there.
    pub fn open_or_create(dir: &Path) -> Result<Layout> {
        if dir.join("oci-layout").exists() {
            return Layout::open(dir);
        }
        if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
            bail!(InputError(format!(
                "{} exists, is not empty and is not an OCI layout",
                dir.display()
            )));
        }
        std::fs::create_dir_all(dir.join("blobs/sha256"))
            .with_context(|| format!("creating {}", dir.display()))?;
        let l = Layout {
            dir: dir.to_path_buf(),
        };
        l.write_file("index.json", &index_bytes(&[])?)?;
        l.write_file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        Ok(l)
    }

    /// `index.json`'s manifests.
    pub fn index(&self) -> Result<Vec<Desc>> {
        let p = self.dir.join("index.json");
        let text = std::fs::read(&p).with_context(|| format!("reading {}", p.display()))?;
        let v: Value = serde_json::from_slice(&text).context("index.json is not JSON")?;
        let ms = v
            .get("manifests")
            .and_then(Value::as_array)
            .context("index.json has no manifests array")?;
        ms.iter()
            .map(|m| Desc::from_value(m, "index.json"))
            .collect()
    }

    /// The tags named in `index.json`, sorted.
    pub fn tags(&self) -> Result<Vec<String>> {
        let mut t: Vec<String> = self
            .index()?
            .iter()
            .filter_map(|d| {
                d.raw
                    .pointer("/annotations/org.opencontainers.image.ref.name")
            })
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        t.sort();
        t.dedup();
        Ok(t)
    }

    /// The descriptor tagged `tag`; a missing tag is bad input naming the
    /// tags there are.
    pub fn find(&self, tag: &str) -> Result<Desc> {
        for d in self.index()? {
            if d.raw
                .pointer("/annotations/org.opencontainers.image.ref.name")
                == Some(&Value::String(tag.into()))
            {
                return Ok(d);
            }
        }
        let tags = self.tags()?;
        bail!(InputError(format!(
            "{}: no image tagged `{tag}` (tags: {})",
            self.dir.display(),
            if tags.is_empty() {
                "none".into()
            } else {
                tags.join(", ")
            }
        )))
    }

    pub fn blob_path(&self, digest: &str) -> Result<PathBuf> {
        super::super::reference::check_digest(digest).map_err(|e| anyhow::anyhow!(e))?;
        let (alg, hex) = digest.split_once(':').expect("checked");
        Ok(self.dir.join("blobs").join(alg).join(hex))
    }

    pub fn has_blob(&self, d: &Desc) -> bool {
        self.blob_path(&d.digest)
            .ok()
            .and_then(|p| std::fs::metadata(p).ok())
            .is_some_and(|m| m.len() == d.size)
    }

    /// A manifest's bytes, checked against its descriptor.
    pub fn read_manifest(&self, d: &Desc) -> Result<Vec<u8>> {
        if d.size > MAX_MANIFEST {
            bail!(InputError(format!(
                "{}: manifest {} is {} bytes, more than {MAX_MANIFEST}",
                self.dir.display(),
                d.digest,
                d.size
            )));
        }
        let p = self.blob_path(&d.digest)?;
        let data = std::fs::read(&p)
            .map_err(|e| InputError(format!("{}: blob {}: {e}", self.dir.display(), d.digest)))?;
        self.check(d, data.len() as u64, &sha_any(&d.digest, &data))?;
        Ok(data)
    }

    /// Hashes a blob (streamed) and checks it against its descriptor.
    pub fn verify_blob(&self, d: &Desc) -> Result<()> {
        let p = self.blob_path(&d.digest)?;
        let mut f = std::fs::File::open(&p)
            .map_err(|e| InputError(format!("{}: blob {}: {e}", self.dir.display(), d.digest)))?;
        let mut h = Hasher::new(&d.digest);
        let mut buf = vec![0u8; 1 << 20];
        let mut n = 0u64;
        loop {
            let k = f
                .read(&mut buf)
                .with_context(|| format!("reading {}", p.display()))?;
            if k == 0 {
                break;
            }
            h.update(&buf[..k]);
            n += k as u64;
        }
        self.check(d, n, &h.finish())
    }

    fn check(&self, d: &Desc, size: u64, got: &str) -> Result<()> {
        if got != d.digest {
            bail!(InputError(format!(
                "{}: blob {} does not match its digest (its content hashes to {got}); refusing to use the layout",
                self.dir.display(),
                d.digest
            )));
        }
        if size != d.size {
            bail!(InputError(format!(
                "{}: blob {} is {size} bytes but its descriptor says {}",
                self.dir.display(),
                d.digest,
                d.size
            )));
        }
        Ok(())
    }

    /// The blobs and child manifests under `root`, every manifest read and
    /// checked on the way.
    pub fn closure(&self, root: &Desc, root_body: &[u8]) -> Result<Closure> {
        let mut c = Closure::default();
        let mut seen = BTreeSet::new();
        self.walk(root, root_body, &mut c, &mut seen, 0)?;
        Ok(c)
    }

    fn walk(
        &self,
        d: &Desc,
        body: &[u8],
        c: &mut Closure,
        seen: &mut BTreeSet<String>,
        depth: usize,
    ) -> Result<()> {
        if depth > 8 {
            bail!(InputError(format!(
                "{}: indexes nested too deep",
                self.dir.display()
            )));
        }
        let (blobs, manifests) = references(body, &format!("manifest {}", d.digest))
            .map_err(|e| InputError(format!("{}: {e:#}", self.dir.display())))?;
        for m in manifests {
            let mb = self.read_manifest(&m)?;
            self.walk(&m, &mb, c, seen, depth + 1)?;
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

    /// Points `tag` at `desc` in `index.json` (replacing what it pointed
    /// at); with no tag, adds `desc` untagged unless it is already listed.
    pub fn set_ref(&self, tag: Option<&str>, desc: &Desc) -> Result<()> {
        let mut entries: Vec<Value> = self.index()?.into_iter().map(|d| d.raw).collect();
        let mut raw = json!({
            "mediaType": desc.media_type,
            "digest": desc.digest,
            "size": desc.size,
        });
        for k in ["platform", "artifactType", "annotations"] {
            if let Some(v) = desc.raw.get(k) {
                raw[k] = v.clone();
            }
        }
        match tag {
            Some(t) => {
                entries.retain(|e| {
                    e.pointer("/annotations/org.opencontainers.image.ref.name") != Some(&json!(t))
                });
                let ann = raw
                    .as_object_mut()
                    .expect("object")
                    .entry("annotations")
                    .or_insert_with(|| json!({}));
                if !ann.is_object() {
                    *ann = json!({});
                }
                ann[REF_NAME] = json!(t);
            }
            None => {
                if entries
                    .iter()
                    .any(|e| e.get("digest") == Some(&json!(desc.digest)))
                {
                    return Ok(());
                }
                if let Some(a) = raw.get_mut("annotations").and_then(Value::as_object_mut) {
                    a.remove(REF_NAME);
                }
            }
        }
        entries.push(raw);
        self.write_file("index.json", &index_bytes(&entries)?)
    }

    /// Writes `name` (top-level file) atomically.
    pub fn write_file(&self, name: &str, data: &[u8]) -> Result<()> {
        let mut t = tempfile::NamedTempFile::new_in(&self.dir)
            .with_context(|| format!("creating a temp file in {}", self.dir.display()))?;
        t.write_all(data)?;
        t.persist(self.dir.join(name))
            .with_context(|| format!("writing {}", self.dir.join(name).display()))?;
        Ok(())
    }

    /// A writer for a blob that becomes visible only once it verifies.
    pub fn blob_writer(&self, d: &Desc) -> Result<BlobWriter> {
        let dest = self.blob_path(&d.digest)?;
        let parent = dest.parent().expect("blobs/ALG");
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
        let tmp = tempfile::NamedTempFile::new_in(parent)
            .with_context(|| format!("creating a temp file in {}", parent.display()))?;
        Ok(BlobWriter {
            file: std::io::BufWriter::with_capacity(256 << 10, tmp),
            hasher: Hasher::new(&d.digest),
            n: 0,
            want: d.clone(),
            dest,
        })
    }

    /// Writes a blob we hold in memory (manifests).
    pub fn put_bytes(&self, d: &Desc, data: &[u8]) -> Result<()> {
        let mut w = self.blob_writer(d)?;
        w.write(data)?;
        w.finish()
    }

    /// Copies a blob from another layout: a hard link when possible (blobs
    /// are immutable), else a hashed copy. Returns false if it was here.
    pub fn copy_blob_from(&self, src: &Layout, d: &Desc) -> Result<bool> {
        if self.has_blob(d) {
            return Ok(false);
        }
        let from = src.blob_path(&d.digest)?;
        let to = self.blob_path(&d.digest)?;
        std::fs::create_dir_all(to.parent().expect("parent"))?;
        if std::fs::hard_link(&from, &to).is_ok() {
            return Ok(true);
        }
        let mut w = self.blob_writer(d)?;
        let mut f =
            std::fs::File::open(&from).with_context(|| format!("opening {}", from.display()))?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let k = f.read(&mut buf)?;
            if k == 0 {
                break;
            }
            w.write(&buf[..k])?;
        }
        w.finish()?;
        Ok(true)
    }
}

fn index_bytes(entries: &[Value]) -> Result<Vec<u8>> {
    Ok(serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": entries,
    }))?)
}

/// sha256 or sha512, chosen by the expected digest's algorithm.
pub enum Hasher {
    S256(sha2::Sha256),
    S512(sha2::Sha512),
}

impl Hasher {
    pub fn new(digest: &str) -> Hasher {
        if digest.starts_with("sha512:") {
            Hasher::S512(sha2::Sha512::new())
        } else {
            Hasher::S256(sha2::Sha256::new())
        }
    }
    pub fn update(&mut self, d: &[u8]) {
        match self {
            Hasher::S256(h) => h.update(d),
            Hasher::S512(h) => h.update(d),
        }
    }
    pub fn finish(self) -> String {
        match self {
            Hasher::S256(h) => format!("sha256:{}", hex::encode(h.finalize())),
            Hasher::S512(h) => format!("sha512:{}", hex::encode(h.finalize())),
        }
    }
}

fn sha_any(like: &str, data: &[u8]) -> String {
    let mut h = Hasher::new(like);
    h.update(data);
    h.finish()
}

/// A blob being written: hashed as it goes, renamed into place by
/// `finish` only if digest and size match; dropped, it leaves nothing.
pub struct BlobWriter {
    file: std::io::BufWriter<tempfile::NamedTempFile>,
    hasher: Hasher,
    n: u64,
    want: Desc,
    dest: PathBuf,
}

impl BlobWriter {
    pub fn write(&mut self, data: &[u8]) -> Result<()> {
        self.file.write_all(data)?;
        self.hasher.update(data);
        self.n += data.len() as u64;
        if self.n > self.want.size {
            bail!(
                "blob {} is longer than its descriptor's {} bytes",
                self.want.digest,
                self.want.size
            );
        }
        Ok(())
    }

    pub fn finish(self) -> Result<()> {
        let got = self.hasher.finish();
        if got != self.want.digest || self.n != self.want.size {
            bail!(
                "blob {} arrived as {} bytes hashing to {got} (expected {} bytes); discarded",
                self.want.digest,
                self.n,
                self.want.size
            );
        }
        let tmp = self.file.into_inner().map_err(|e| e.into_error())?;
        tmp.persist(&self.dest)
            .with_context(|| format!("writing {}", self.dest.display()))?;
        Ok(())
    }
}

/// Writes `layout` as a tar at `out`, deterministically (sorted names,
/// zero times and owners, fixed modes), through a temp file renamed into
/// place.
pub fn pack(layout: &Layout, out: &Path) -> Result<()> {
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = tempfile::NamedTempFile::new_in(parent)
        .with_context(|| format!("creating a temp file in {}", parent.display()))?;
    let mut b = tar::Builder::new(std::io::BufWriter::new(tmp));
    let dir_entry = |b: &mut tar::Builder<_>, name: &str| -> Result<()> {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        h.set_mtime(0);
        h.set_cksum();
        b.append_data(&mut h, name, std::io::empty())?;
        Ok(())
    };
    let file_entry = |b: &mut tar::Builder<_>, name: &str, path: &Path| -> Result<()> {
        let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o644);
        h.set_size(f.metadata()?.len());
        h.set_mtime(0);
        h.set_cksum();
        b.append_data(&mut h, name, f)?;
        Ok(())
    };
    file_entry(&mut b, "oci-layout", &layout.dir.join("oci-layout"))?;
    file_entry(&mut b, "index.json", &layout.dir.join("index.json"))?;
    dir_entry(&mut b, "blobs/")?;
    let mut algs: Vec<_> = std::fs::read_dir(layout.dir.join("blobs"))?
        .collect::<std::io::Result<Vec<_>>>()?
        .into_iter()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    algs.sort();
    for alg in algs {
        dir_entry(&mut b, &format!("blobs/{alg}/"))?;
        let mut names: Vec<String> = std::fs::read_dir(layout.dir.join("blobs").join(&alg))?
            .collect::<std::io::Result<Vec<_>>>()?
            .into_iter()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect();
        names.sort();
        for n in names {
            file_entry(
                &mut b,
                &format!("blobs/{alg}/{n}"),
                &layout.dir.join("blobs").join(&alg).join(&n),
            )?;
        }
    }
    let w = b.into_inner()?;
    let tmp = w.into_inner().map_err(|e| e.into_error())?;
    tmp.as_file().sync_all()?;
    tmp.persist(out)
        .with_context(|| format!("writing {}", out.display()))?;
    Ok(())
}

/// Unpacks an oci-archive into the empty directory `into`, accepting only
/// the entries a layout has (no links, no paths outside it).
pub fn unpack(archive: &Path, into: &Path) -> Result<Layout> {
    let f = std::fs::File::open(archive)
        .map_err(|e| InputError(format!("opening {}: {e}", archive.display())))?;
    let bad = |why: String| {
        InputError(format!(
            "{} is not an OCI archive: {why}",
            archive.display()
        ))
    };
    let mut a = tar::Archive::new(std::io::BufReader::new(f));
    std::fs::create_dir_all(into.join("blobs"))?;
    let entries = a.entries().map_err(|e| bad(e.to_string()))?;
    for e in entries {
        let mut e = e.map_err(|e| bad(e.to_string()))?;
        let name = e
            .path()
            .map_err(|e| bad(e.to_string()))?
            .to_string_lossy()
            .into_owned();
        let name = name
            .trim_start_matches("./")
            .trim_end_matches('/')
            .to_string();
        let parts: Vec<&str> = name.split('/').collect();
        let ok_part = |p: &str| {
            !p.is_empty()
                && p != "."
                && p != ".."
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        };
        let kind = e.header().entry_type();
        let allowed = match parts.as_slice() {
            [""] => continue,
            ["oci-layout"] | ["index.json"] => kind.is_file(),
            ["blobs"] => kind.is_dir(),
            ["blobs", a] => kind.is_dir() && ok_part(a),
            ["blobs", a, h] => kind.is_file() && ok_part(a) && ok_part(h),
            _ => false,
        };
        if !allowed {
            return Err(bad(format!("unexpected entry `{name}`")).into());
        }
        let dest = into.join(&name);
        if kind.is_dir() {
            std::fs::create_dir_all(&dest)?;
        } else {
            if let Some(p) = dest.parent() {
                std::fs::create_dir_all(p)?;
            }
            e.unpack(&dest)
                .with_context(|| format!("unpacking {name} from {}", archive.display()))?;
        }
    }
    Layout::open(into)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let l = unpack(ok.path(), &d.path().join("l")).unwrap();
        assert!(l.tags().unwrap().is_empty());
        for evil in ["blobs/../../escape", "etc/passwd", "blobs/sha256/a/b"] {
            let t = tar_of(&[("oci-layout", layout), (evil, b"x")]);
            let d = tempfile::tempdir().unwrap();
            let e = unpack(t.path(), &d.path().join("l")).unwrap_err();
            assert!(e.downcast_ref::<InputError>().is_some(), "{evil}: {e:#}");
            assert!(!d.path().join("escape").exists());
        }
    }

    #[test]
    fn set_ref_replaces_a_tag_and_adds_untagged_once() {
        let d = tempfile::tempdir().unwrap();
        let l = Layout::open_or_create(&d.path().join("l")).unwrap();
        let desc = |n: u8| Desc {
            media_type: OCI_MANIFEST.into(),
            digest: format!("sha256:{}", hex::encode([n; 32])),
            size: 1,
            raw: json!({}),
        };
        l.set_ref(Some("a"), &desc(1)).unwrap();
        l.set_ref(Some("a"), &desc(2)).unwrap();
        l.set_ref(None, &desc(3)).unwrap();
        l.set_ref(None, &desc(3)).unwrap();
        let idx = l.index().unwrap();
        assert_eq!(idx.len(), 2);
        assert_eq!(l.find("a").unwrap().digest, desc(2).digest);
        let e = l.find("b").unwrap_err();
        assert!(
            e.to_string().contains("no image tagged `b` (tags: a)"),
            "{e}"
        );
    }
}
