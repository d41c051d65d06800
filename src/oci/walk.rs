//! Sorted walks of a tree and snapshots of its metadata, for choosing what
//! goes into which layer and, when deriving from a base image, for telling
//! which paths the build changed.
//!
//! Change detection compares everything a layer would carry — type, mode,
//! owner, mtime, size, device, link target, xattrs — and, when all of that
//! matches, the content's SHA-256. Mtime alone is not trusted: a build may
//! rewrite a file with the same clamped time. Mtimes compare after clamping
//! to SOURCE_DATE_EPOCH (as the layer would store them), so clamping an
//! unpacked base tree does not make every file look new.

use crate::error::InputError;
use anyhow::{Context, Result};
use std::collections::HashMap;
use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// What the walk records of one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    /// `S_IFMT` bits.
    pub kind: u32,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: i64,
    pub size: u64,
    pub rdev: u64,
    pub link: Option<PathBuf>,
    /// Sorted (name, value); only when asked for.
    pub xattrs: Vec<(OsString, Vec<u8>)>,
    pub dev: u64,
    pub ino: u64,
    pub nlink: u64,
}

impl Meta {
    pub fn is_dir(&self) -> bool {
        self.kind == libc::S_IFDIR
    }
    pub fn is_file(&self) -> bool {
        self.kind == libc::S_IFREG
    }

    /// Same as far as a layer can tell, mtimes compared after clamping to
    /// `epoch` (directory sizes are the filesystem's business).
    fn same(&self, o: &Meta, epoch: i64) -> bool {
        self.kind == o.kind
            && self.mode == o.mode
            && self.uid == o.uid
            && self.gid == o.gid
            && self.mtime.min(epoch) == o.mtime.min(epoch)
            && (self.is_dir() || self.size == o.size)
            && self.rdev == o.rdev
            && self.link == o.link
            && self.xattrs == o.xattrs
    }
}

/// One path of a walk: tree-relative (`usr/bin/sh`; empty for the root).
#[derive(Debug, Clone)]
pub struct Node {
    pub rel: String,
    pub meta: Meta,
}

fn meta(path: &Path, xattrs: bool) -> Result<Meta> {
    let md = fs::symlink_metadata(path).with_context(|| format!("reading {}", path.display()))?;
    let kind = md.mode() & libc::S_IFMT;
    let link = if kind == libc::S_IFLNK {
        Some(fs::read_link(path).with_context(|| format!("reading {}", path.display()))?)
    } else {
        None
    };
    let mut xa = Vec::new();
    if xattrs {
        for n in
            xattr::list(path).with_context(|| format!("listing xattrs of {}", path.display()))?
        {
            if let Some(v) = xattr::get(path, &n)? {
                xa.push((n, v));
            }
        }
        xa.sort();
    }
    Ok(Meta {
        kind,
        mode: md.mode() & 0o7777,
        uid: md.uid(),
        gid: md.gid(),
        mtime: md.mtime(),
        size: md.size(),
        rdev: md.rdev(),
        link,
        xattrs: xa,
        dev: md.dev(),
        ino: md.ino(),
        nlink: md.nlink(),
    })
}

/// Every path under `root` (the root first), depth first with the names of
/// each directory in byte order: the order layer entries are written in.
pub fn walk(root: &Path, xattrs: bool) -> Result<Vec<Node>> {
    fn rec(root: &Path, rel: &str, xattrs: bool, out: &mut Vec<Node>) -> Result<()> {
        let dir = root.join(rel);
        let mut names: Vec<OsString> = fs::read_dir(&dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<std::io::Result<_>>()?;
        names.sort_by(|a, b| a.as_encoded_bytes().cmp(b.as_encoded_bytes()));
        for n in names {
            let Some(name) = n.to_str() else {
                return Err(InputError(format!(
                    "{}: file name is not UTF-8",
                    dir.join(&n).display()
                ))
                .into());
            };
            let child = if rel.is_empty() {
                name.to_string()
            } else {
                format!("{rel}/{name}")
            };
            let m = meta(&root.join(&child), xattrs)?;
            let is_dir = m.is_dir();
            out.push(Node {
                rel: child.clone(),
                meta: m,
            });
            if is_dir {
                rec(root, &child, xattrs, out)?;
            }
        }
        Ok(())
    }
    let mut out = vec![Node {
        rel: String::new(),
        meta: meta(root, xattrs)?,
    }];
    rec(root, "", xattrs, &mut out)?;
    Ok(out)
}

/// The metadata (and regular files' content hashes) of a tree, to diff a
/// later state of the same tree against.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    entries: HashMap<String, (Meta, Option<String>)>,
}

impl Snapshot {
    pub fn take(root: &Path) -> Result<Snapshot> {
        let mut entries = HashMap::new();
        for n in walk(root, true)? {
            let hash = if n.meta.is_file() {
                Some(crate::fetch::sha256_file(&root.join(&n.rel))?)
            } else {
                None
            };
            entries.insert(n.rel, (n.meta, hash));
        }
        Ok(Snapshot { entries })
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether `node` (from a walk with xattrs of `root`) differs from the
    /// snapshot: new, or changed in metadata or content.
    pub fn changed(&self, root: &Path, node: &Node, epoch: i64) -> Result<bool> {
        let Some((old, hash)) = self.entries.get(&node.rel) else {
            return Ok(true);
        };
        if !old.same(&node.meta, epoch) {
            return Ok(true);
        }
        match hash {
            Some(h) => Ok(*h != crate::fetch::sha256_file(&root.join(&node.rel))?),
            None => Ok(false),
        }
    }

    /// Snapshot paths missing from `present`, each only where its parent
    /// is still a directory (a deleted directory's children go with it),
    /// sorted.
    pub fn deleted(&self, present: &HashMap<&str, &Meta>) -> Vec<String> {
        let mut out: Vec<String> = self
            .entries
            .keys()
            .filter(|k| !k.is_empty() && !present.contains_key(k.as_str()))
            .filter(|k| {
                let parent = k.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
                present.get(parent).is_some_and(|m| m.is_dir())
            })
            .cloned()
            .collect();
        out.sort();
        out
    }
}
