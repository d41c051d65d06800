//! Deployed sysroots kept in the build cache, so a rebuild of a disk from
//! the same image skips reading the image, the OSTree commit and the
//! deployment.
//!
//! Why: a disk deployed from a bootc image pays, on every build, for
//! applying the image's layers (hundreds of MB written as thousands of
//! new files), committing them and checking the deployment out; a disk
//! from packages reuses its cached RPMs. The sysroot right after
//! `sysroot::deploy` depends only on the image (its manifest digest), the
//! origin, the stateroot, the kernel arguments given to the deployment,
//! SOURCE_DATE_EPOCH and the ostree that wrote it, so it is kept under a
//! key of exactly those ([`Key`]), with [`SCHEMA`] for changes of this
//! code.
//!
//! An entry is `ostree-sysroots/v1/KEY/` in the cache: `sysroot/` and
//! `entry.json` (what the deployment is, and the digest of the whole
//! tree: every path, type, mode, owner, mtime, link target and file
//! content). It is written in a `.tmp-` directory beside it and renamed
//! into place, so a killed build leaves no half entry; it is re-verified
//! against that digest before every use, and removed when it does not
//! match. Entries are hard links (`cp -al`), both ways: the work sysroot
//! shares its files with the entry, and [`make_private`] gives the files
//! the build edits (`/etc`, `/var`, the BLS entries, the origin) their
//! own copies first. If the cache is on another
//! filesystem, nothing is cached.

use crate::tools;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Bumped when what a sysroot holds changes for the same key.
pub const SCHEMA: u32 = 1;

/// Everything the deployed sysroot depends on.
#[derive(Debug, Serialize)]
pub struct Key<'a> {
    pub digest: &'a str,
    pub origin: &'a str,
    pub stateroot: &'a str,
    /// The kernel arguments before the image's kargs.d (`root=`, `rw`).
    pub kargs_before: &'a [String],
    /// The plan's kernel arguments (after the image's).
    pub kargs_after: &'a [String],
    pub source_date_epoch: i64,
    /// The host's ostree version (it writes the sysroot when the image
    /// has none).
    pub host_ostree: &'a str,
}

impl Key<'_> {
    /// The entry's directory name.
    pub fn id(&self) -> String {
        let json = serde_json::to_vec(&(SCHEMA, self)).expect("serializable");
        hex(&Sha256::digest(json))
    }
}

/// What an entry records besides its sysroot.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    pub commit: String,
    pub kver: String,
    /// Every kernel argument given to the deployment.
    pub kargs: Vec<String>,
    /// Which ostree wrote it.
    pub tool: String,
    pub image_ref: String,
    /// Digest of the sysroot tree (`tree_digest`).
    pub tree: String,
}

/// The cache's directory of sysroots.
pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    /// Under the build cache at `root`.
    pub fn new(root: &Path) -> Cache {
        Cache {
            dir: root.join("ostree-sysroots/v1"),
        }
    }

    /// Links the verified entry `id` to `sysroot` (which must not exist)
    /// and returns it; None when there is none. An entry that fails
    /// verification is removed (and None returned).
    pub fn restore(&self, id: &str, sysroot: &Path) -> Result<Option<Entry>> {
        let dir = self.dir.join(id);
        let json = dir.join("entry.json");
        let Ok(text) = std::fs::read(&json) else {
            return Ok(None);
        };
        let entry: Option<Entry> = serde_json::from_slice(&text).ok();
        let ok = match &entry {
            Some(e) => tree_digest(&dir.join("sysroot")).ok().as_deref() == Some(&e.tree),
            None => false,
        };
        if !ok {
            crate::report::info(format!(
                "ostree: the cached sysroot {} does not verify; removing it",
                dir.display()
            ));
            std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
            return Ok(None);
        }
        tools::link_tree(&dir.join("sysroot"), sysroot)?;
        Ok(entry)
    }

    /// Keeps `sysroot` as entry `id` (hard links). False when the cache is
    /// on another filesystem, or another build stored it first.
    pub fn store(&self, id: &str, sysroot: &Path, entry: &Entry) -> Result<bool> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        let tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempdir_in(&self.dir)
            .with_context(|| format!("making a directory in {}", self.dir.display()))?;
        if !same_filesystem(sysroot, tmp.path())? {
            return Ok(false);
        }
        tools::link_tree(sysroot, &tmp.path().join("sysroot"))?;
        let entry = Entry {
            tree: tree_digest(&tmp.path().join("sysroot"))?,
            ..entry.clone()
        };
        let json = tmp.path().join("entry.json");
        std::fs::write(&json, serde_json::to_vec_pretty(&entry)?)
            .with_context(|| format!("writing {}", json.display()))?;
        let dest = self.dir.join(id);
        if dest.exists() {
            return Ok(false);
        }
        let tmp = tmp.keep();
        match std::fs::rename(&tmp, &dest) {
            Ok(()) => Ok(true),
            Err(_) if dest.exists() => {
                std::fs::remove_dir_all(&tmp)
                    .with_context(|| format!("removing {}", tmp.display()))?;
                Ok(false)
            }
            Err(e) => {
                let _ = std::fs::remove_dir_all(&tmp);
                Err(e).with_context(|| format!("renaming the entry to {}", dest.display()))
            }
        }
    }
}

fn same_filesystem(a: &Path, b: &Path) -> Result<bool> {
    let dev = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.dev())
            .with_context(|| format!("reading {}", p.display()))
    };
    Ok(dev(a)? == dev(b)?)
}

/// Gives every multiply-linked file of `sysroot` its own copy, so what
/// the build edits (the deployment's `/etc`, the stateroot's `/var`, the
/// BLS entries, the origin) never reaches a cached file; except where
/// nothing is edited after the deployment: the repository, the kernels
/// and initramfs under `/boot/ostree` and the deployment's tree but its
/// `/etc` (hard links to the repository's objects, as ostree made them;
/// copying them would store them twice on the disk).
pub fn make_private(sysroot: &Path, deployment_rel: &str) -> Result<()> {
    let dep = sysroot.join(deployment_rel);
    let skip = [sysroot.join("ostree/repo"), sysroot.join("boot/ostree")];
    fn walk(dir: &Path, skip: &[PathBuf], dep: &Path) -> Result<()> {
        for e in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
            let e = e?;
            let p = e.path();
            let ft = e.file_type()?;
            if ft.is_dir() {
                if p == dep {
                    let etc = p.join("etc");
                    if etc.is_dir() {
                        walk(&etc, skip, dep)?;
                    }
                } else if !skip.contains(&p) {
                    walk(&p, skip, dep)?;
                }
            } else if ft.is_file() && e.metadata()?.nlink() > 1 {
                let tmp = p.with_extension("image-builder-copy");
                copy_exact(&p, &tmp)?;
                std::fs::rename(&tmp, &p)
                    .with_context(|| format!("renaming {} to {}", tmp.display(), p.display()))?;
            }
        }
        Ok(())
    }
    walk(sysroot, &skip, &dep)
}

/// A copy of regular file `src` at `dst` with its owner, mode, xattrs
/// and times.
fn copy_exact(src: &Path, dst: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let m = std::fs::symlink_metadata(src).with_context(|| format!("reading {}", src.display()))?;
    std::fs::copy(src, dst)
        .with_context(|| format!("copying {} to {}", src.display(), dst.display()))?;
    std::os::unix::fs::lchown(dst, Some(m.uid()), Some(m.gid()))
        .with_context(|| format!("setting the owner of {}", dst.display()))?;
    std::fs::set_permissions(dst, std::fs::Permissions::from_mode(m.mode() & 0o7777))?;
    for n in xattr::list(src).with_context(|| format!("listing xattrs of {}", src.display()))? {
        if let Some(v) = xattr::get(src, &n)? {
            xattr::set(dst, &n, &v)
                .with_context(|| format!("setting xattrs of {}", dst.display()))?;
        }
    }
    let ts = |s: i64, ns: i64| libc::timespec {
        tv_sec: s as libc::time_t,
        tv_nsec: ns as _,
    };
    let times = [ts(m.atime(), m.atime_nsec()), ts(m.mtime(), m.mtime_nsec())];
    let c = std::ffi::CString::new(dst.as_os_str().as_bytes())?;
    // SAFETY: a valid NUL-terminated path and a two-element timespec array.
    if unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), times.as_ptr(), 0) } != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("setting the times of {}", dst.display()));
    }
    Ok(())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn file_digest(p: &Path) -> Result<String> {
    let mut f = std::fs::File::open(p).with_context(|| format!("opening {}", p.display()))?;
    let mut fh = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f
            .read(&mut buf)
            .with_context(|| format!("reading {}", p.display()))?;
        if n == 0 {
            break;
        }
        fh.update(&buf[..n]);
    }
    Ok(hex(&fh.finalize()))
}

/// One digest over a tree: each path in byte order with its type, mode,
/// owner, mtime and link target or content digest (a file's content is
/// read once per inode).
pub fn tree_digest(root: &Path) -> Result<String> {
    let mut h = Sha256::new();
    let mut seen: HashMap<(u64, u64), String> = HashMap::new();
    fn rec(
        dir: &Path,
        rel: &Path,
        h: &mut Sha256,
        seen: &mut HashMap<(u64, u64), String>,
    ) -> Result<()> {
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<std::io::Result<_>>()?;
        names.sort();
        for n in names {
            let p = dir.join(&n);
            let r = rel.join(&n);
            let m = std::fs::symlink_metadata(&p)
                .with_context(|| format!("reading {}", p.display()))?;
            h.update(r.as_os_str().as_bytes());
            h.update(
                format!("\0{:o} {} {} {}\0", m.mode(), m.uid(), m.gid(), m.mtime()).as_bytes(),
            );
            let ft = m.file_type();
            if ft.is_symlink() {
                h.update(std::fs::read_link(&p)?.as_os_str().as_bytes());
            } else if ft.is_file() {
                let k = (m.dev(), m.ino());
                if let std::collections::hash_map::Entry::Vacant(v) = seen.entry(k) {
                    v.insert(file_digest(&p)?);
                }
                h.update(seen[&k].as_bytes());
            } else if ft.is_dir() {
                rec(&p, &r, h, seen)?;
            }
            h.update(b"\n");
        }
        Ok(())
    }
    rec(root, Path::new(""), &mut h, &mut seen)?;
    Ok(hex(&h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key<'a>(k: &'a [String]) -> Key<'a> {
        Key {
            digest: "sha256:1",
            origin: "o",
            stateroot: "default",
            kargs_before: k,
            kargs_after: &[],
            source_date_epoch: 1,
            host_ostree: "2022.7",
        }
    }

    #[test]
    fn an_entry_round_trips_verified_and_a_changed_one_is_dropped() {
        let t = tempfile::tempdir().unwrap();
        let sysroot = t.path().join("sysroot");
        std::fs::create_dir_all(sysroot.join("ostree/repo/objects/ab")).unwrap();
        std::fs::create_dir_all(sysroot.join("boot")).unwrap();
        std::fs::write(sysroot.join("ostree/repo/objects/ab/cd.file"), "obj").unwrap();
        std::fs::write(sysroot.join("boot/entry.conf"), "title x\n").unwrap();
        std::os::unix::fs::symlink("boot", sysroot.join("link")).unwrap();
        let k = ["root=UUID=1".to_string()];
        let id = key(&k).id();
        assert_ne!(id, key(&[]).id());
        let cache = Cache::new(&t.path().join("cache"));
        let e = Entry {
            commit: "c".into(),
            kver: "6.1".into(),
            kargs: k.to_vec(),
            tool: "the host's ostree 2022.7".into(),
            image_ref: "ostree/container/image/x".into(),
            tree: String::new(),
        };
        assert!(cache.store(&id, &sysroot, &e).unwrap());
        assert!(!cache.store(&id, &sysroot, &e).unwrap(), "stored once");
        make_private(&sysroot, "ostree/deploy/default/deploy/c.0").unwrap();
        // The build edits its own copy; the entry is unchanged.
        std::fs::write(sysroot.join("boot/entry.conf"), "edited\n").unwrap();
        let back = t.path().join("back");
        let got = cache.restore(&id, &back).unwrap().unwrap();
        assert_eq!((got.commit.as_str(), got.kargs.clone()), ("c", k.to_vec()));
        assert_eq!(
            std::fs::read_to_string(back.join("boot/entry.conf")).unwrap(),
            "title x\n"
        );
        // An object changed in place (through a hard link): dropped.
        std::fs::write(back.join("ostree/repo/objects/ab/cd.file"), "bad").unwrap();
        assert!(cache
            .restore(&id, &t.path().join("again"))
            .unwrap()
            .is_none());
        assert!(!t.path().join("again").exists());
        assert!(cache
            .restore(&id, &t.path().join("again"))
            .unwrap()
            .is_none());
        // No temporary directories are left.
        let left: Vec<_> = std::fs::read_dir(t.path().join("cache/ostree-sysroots/v1"))
            .unwrap()
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }
}
