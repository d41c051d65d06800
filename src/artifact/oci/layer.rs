//! Layer blobs: writing a chosen set of tree paths as a compressed,
//! deterministic tar (applying one is `crate::oci::extract`).
//!
//! Writing streams tar → SHA-256 (the uncompressed `diff_id`) → compressor
//! → SHA-256 (the blob digest) → a temporary file in the layout, so a layer
//! is never held in memory whatever its size. The gzip header is fixed
//! (mtime 0, no file name) and zstd runs single-threaded at a fixed level,
//! so the same entries give the same blob.

use crate::error::InputError;
use crate::oci::compression::Compression;
use crate::oci::image::*;
use crate::oci::layout::{Hashing, Layout};
use crate::tarball::Writer;
use anyhow::{bail, Context, Result};
use std::fs;
use std::io::{BufWriter, Write};
use std::path::Path;

/// What one layer entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// The path as it is on disk (metadata, content, xattrs).
    Disk,
    /// A directory with fixed metadata and mtime SOURCE_DATE_EPOCH, no
    /// xattrs: an implied parent in a package layer.
    Dir { mode: u32, uid: u64, gid: u64 },
    /// A whiteout marker deleting the path from lower layers.
    Whiteout,
}

/// One entry: a tree-relative path (`usr/bin/sh`; empty for the root).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub rel: String,
    pub item: Item,
}

/// A layer blob as written.
#[derive(Debug, Clone)]
pub struct Written {
    pub descriptor: Descriptor,
    /// `sha256:` digest of the uncompressed tar.
    pub diff_id: String,
}

enum Encoder<W: Write> {
    Gzip(flate2::write::GzEncoder<W>),
    Zstd(zstd::stream::write::Encoder<'static, W>),
    None(W),
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Encoder::Gzip(w) => w.write(buf),
            Encoder::Zstd(w) => w.write(buf),
            Encoder::None(w) => w.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Encoder::Gzip(w) => w.flush(),
            Encoder::Zstd(w) => w.flush(),
            Encoder::None(w) => w.flush(),
        }
    }
}

impl<W: Write> Encoder<W> {
    fn new(c: Compression, w: W) -> Result<Self> {
        Ok(match c {
            Compression::Gzip => Encoder::Gzip(
                flate2::GzBuilder::new()
                    .mtime(0)
                    .operating_system(3)
                    .write(w, flate2::Compression::default()),
            ),
            Compression::Zstd => Encoder::Zstd(zstd::stream::write::Encoder::new(w, 3)?),
            Compression::None => Encoder::None(w),
        })
    }
    fn finish(self) -> Result<W> {
        Ok(match self {
            Encoder::Gzip(w) => w.finish()?,
            Encoder::Zstd(w) => w.finish()?,
            Encoder::None(w) => w,
        })
    }
}

/// The tar name of `rel`: as is (`/` suffix for directories), the root as
/// `./`. No `./` prefix elsewhere, so entry names and hard-link targets
/// read the same.
fn tar_name(rel: &str, dir: bool) -> String {
    match (rel.is_empty(), dir) {
        (true, _) => "./".to_string(),
        (false, true) => format!("{rel}/"),
        (false, false) => rel.to_string(),
    }
}

/// Writes `entries` (in the order given, which must be a sorted walk:
/// parents before children) of the tree at `root` as one layer blob.
pub fn write(
    layout: &Layout,
    root: &Path,
    entries: &[Entry],
    compression: Compression,
    source_date_epoch: i64,
) -> Result<Written> {
    let blob = layout.blob_writer()?;
    let enc = Encoder::new(compression, blob)?;
    let raw = BufWriter::with_capacity(1 << 20, Hashing::new(enc));
    let mut w = Writer::new(raw, source_date_epoch, false);
    for e in entries {
        let name = e.rel.rsplit('/').next().unwrap_or("");
        match &e.item {
            Item::Disk => {
                if name.starts_with(".wh.") {
                    bail!(InputError(format!(
                        "/{}: a file named .wh.* cannot be stored in an OCI layer (it means a deletion)",
                        e.rel
                    )));
                }
                let path = root.join(&e.rel);
                let dir = fs::symlink_metadata(&path)
                    .with_context(|| format!("reading {}", path.display()))?
                    .is_dir();
                w.entry(&path, &tar_name(&e.rel, dir))?;
            }
            Item::Dir { mode, uid, gid } => w.dir(&tar_name(&e.rel, true), *mode, *uid, *gid)?,
            Item::Whiteout => {
                let (parent, base) = match e.rel.rsplit_once('/') {
                    Some((p, b)) => (format!("{p}/"), b),
                    None => (String::new(), e.rel.as_str()),
                };
                w.empty_file(&format!("{parent}.wh.{base}"))?;
            }
        }
    }
    let raw = w.finish()?;
    let hashing = raw.into_inner().map_err(|e| e.into_error())?;
    let (diff_id, _, enc) = hashing.finish();
    let (digest, size) = enc.finish()?.finish()?;
    Ok(Written {
        descriptor: Descriptor::new(compression.media_type(), digest, size),
        diff_id,
    })
}
