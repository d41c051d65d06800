//! Applying a layer blob onto a root directory. Applying treats the layer as hostile: every entry name is a relative
//! path of plain components (absolute paths and `..` are refused), every
//! parent on the way must be a real directory (a symlinked parent would
//! let an entry land outside the root, so it is refused, never followed),
//! and existing entries are removed before being replaced, so nothing is
//! ever written through a link. Directory mtimes are set after the whole
//! layer, since creating children changes them.

use super::image::*;
use super::layout::{Hashing, Layout};
use crate::error::InputError;
use crate::tarball::set_time;
use anyhow::{bail, Context, Result};
use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use tar::EntryType;

/// Applies the layer blob `d` onto `root`, verifying it on the way: one
/// pass over the blob hashes the compressed bytes (its digest) and the
/// uncompressed tar (the diff_id, returned for the caller to check against
/// the image config). A blob that does not match its digest fails the
/// extraction after the fact; the root is scratch, and the caller's error
/// discards it.
pub fn extract(layout: &Layout, d: &Descriptor, root: &Path) -> Result<String> {
    let f = std::io::BufReader::with_capacity(1 << 20, layout.open_blob(d)?);
    let mut blob = Hashing::like(f, &d.digest);
    let what = format!("layer {}", d.digest);
    let diff_id = {
        let mut r: Box<dyn Read> = match d.media_type.as_str() {
            MEDIA_LAYER | "application/vnd.docker.image.rootfs.diff.tar" => Box::new(&mut blob),
            MEDIA_LAYER_GZIP | MEDIA_DOCKER_LAYER_GZIP => {
                Box::new(flate2::read::MultiGzDecoder::new(&mut blob))
            }
            MEDIA_LAYER_ZSTD | "application/vnd.docker.image.rootfs.diff.tar.zstd" => {
                Box::new(zstd::stream::read::Decoder::new(&mut blob)?)
            }
            other => bail!(InputError(format!(
                "{what}: unsupported media type {other}"
            ))),
        };
        let mut h = Hashing::new(&mut r);
        apply(&mut h, root, &what)?;
        std::io::copy(&mut h, &mut std::io::sink())
            .map_err(|e| InputError(format!("{what}: {e}")))?;
        h.finish().0
    };
    // Whatever follows the compressed stream is part of the blob too.
    std::io::copy(&mut blob, &mut std::io::sink())
        .map_err(|e| InputError(format!("{what}: {e}")))?;
    let (digest, size, _) = blob.finish();
    if size != d.size {
        bail!(InputError(format!(
            "{what}: {size} bytes, the manifest says {}",
            d.size
        )));
    }
    layout.check_digest(&d.digest, &digest)?;
    Ok(diff_id)
}

/// Applies the uncompressed layer tar `r` onto `root` (see the module
/// docs for what is refused). `what` names the layer in errors.
pub fn apply(r: &mut dyn Read, root: &Path, what: &str) -> Result<()> {
    let mut a = Applier {
        root,
        what,
        seen: HashSet::new(),
        dirs: Vec::new(),
    };
    let mut ar = tar::Archive::new(r);
    for entry in ar
        .entries()
        .map_err(|e| InputError(format!("{what}: {e}")))?
    {
        let mut e = entry.map_err(|e| InputError(format!("{what}: corrupt tar: {e}")))?;
        a.entry(&mut e)?;
    }
    for (p, t) in a.dirs.iter().rev() {
        set_time(p, *t)?;
    }
    Ok(())
}

struct Applier<'a> {
    root: &'a Path,
    what: &'a str,
    /// Paths this layer created (an opaque whiteout keeps them).
    seen: HashSet<PathBuf>,
    /// Directories whose mtime is set once the layer is done.
    dirs: Vec<(PathBuf, i64)>,
}

impl Applier<'_> {
    fn bad(&self, name: &[u8], why: &str) -> anyhow::Error {
        InputError(format!(
            "{}: entry {:?}: {why}",
            self.what,
            String::from_utf8_lossy(name)
        ))
        .into()
    }

    /// A relative path of plain components.
    fn rel(&self, raw: &[u8]) -> Result<PathBuf> {
        if raw.starts_with(b"/") {
            return Err(self.bad(raw, "absolute path"));
        }
        let mut p = PathBuf::new();
        for c in raw.split(|&b| b == b'/') {
            match c {
                b"" | b"." => {}
                b".." => return Err(self.bad(raw, "path escapes the root (..)")),
                c => p.push(OsStr::from_bytes(c)),
            }
        }
        Ok(p)
    }

    /// Makes sure every parent of `rel` is a real directory under the root
    /// (creating missing ones when `create`), never a symlink.
    fn parents(&self, rel: &Path, raw: &[u8], create: bool) -> Result<()> {
        let mut cur = self.root.to_path_buf();
        if let Some(parent) = rel.parent() {
            for c in parent.components() {
                cur.push(c);
                match fs::symlink_metadata(&cur) {
                    Ok(m) if m.is_dir() => {}
                    Ok(m) if m.file_type().is_symlink() => {
                        return Err(self.bad(
                            raw,
                            &format!(
                                "parent {} is a symlink; refusing to write through it",
                                cur.strip_prefix(self.root).unwrap_or(&cur).display()
                            ),
                        ))
                    }
                    Ok(_) => return Err(self.bad(raw, "a parent is not a directory")),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
                        fs::create_dir(&cur)
                            .with_context(|| format!("creating {}", cur.display()))?;
                        fs::set_permissions(&cur, fs::Permissions::from_mode(0o755))?;
                    }
                    Err(e) => return Err(self.bad(raw, &format!("parent {}: {e}", cur.display()))),
                }
            }
        }
        Ok(())
    }

    fn entry<R: Read>(&mut self, e: &mut tar::Entry<R>) -> Result<()> {
        let raw = e.path_bytes().into_owned();
        let kind = e.header().entry_type();
        if kind == EntryType::XGlobalHeader {
            return Ok(());
        }
        let rel = self.rel(&raw)?;
        if rel.as_os_str().is_empty() && kind != EntryType::Directory {
            return Err(self.bad(&raw, "the root can only be a directory"));
        }
        let name = rel.file_name().map(|n| n.as_bytes()).unwrap_or(b"");
        if name == b".wh..wh..opq" {
            self.parents(&rel, &raw, true)?;
            let parent = rel.parent().unwrap_or(Path::new(""));
            let dir = self.root.join(parent);
            for c in fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
                let c = c?;
                if !self.seen.contains(&parent.join(c.file_name())) {
                    remove(&c.path())?;
                }
            }
            return Ok(());
        }
        if let Some(victim) = name.strip_prefix(b".wh.") {
            if matches!(victim, b"" | b"." | b"..") {
                return Err(self.bad(&raw, "malformed whiteout"));
            }
            self.parents(&rel, &raw, true)?;
            let target = rel.with_file_name(OsStr::from_bytes(victim));
            remove(&self.root.join(target))?;
            return Ok(());
        }
        self.parents(&rel, &raw, true)?;
        let dest = self.root.join(&rel);
        let h = e.header().clone();
        let mode = h.mode().map_err(|x| self.bad(&raw, &x.to_string()))? & 0o7777;
        let uid = h.uid().map_err(|x| self.bad(&raw, &x.to_string()))?;
        let gid = h.gid().map_err(|x| self.bad(&raw, &x.to_string()))?;
        let mtime = h.mtime().map_err(|x| self.bad(&raw, &x.to_string()))?;
        let mut xattrs = Vec::new();
        if let Some(pax) = e
            .pax_extensions()
            .map_err(|x| self.bad(&raw, &x.to_string()))?
        {
            for ext in pax {
                let ext = ext.map_err(|x| self.bad(&raw, &x.to_string()))?;
                if let Some(n) = ext.key_bytes().strip_prefix(b"SCHILY.xattr.") {
                    xattrs.push((n.to_vec(), ext.value_bytes().to_vec()));
                }
            }
        }
        let existing = fs::symlink_metadata(&dest).ok();
        match kind {
            EntryType::Regular | EntryType::Continuous => {
                if existing.is_some() {
                    remove(&dest)?;
                }
                let mut f = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&dest)
                    .with_context(|| format!("creating {}", dest.display()))?;
                std::io::copy(e, &mut f).map_err(|x| self.bad(&raw, &x.to_string()))?;
            }
            EntryType::Directory => {
                if !existing.as_ref().is_some_and(|m| m.is_dir()) {
                    if existing.is_some() {
                        remove(&dest)?;
                    }
                    fs::create_dir(&dest)
                        .with_context(|| format!("creating {}", dest.display()))?;
                }
            }
            EntryType::Symlink => {
                let target = e
                    .link_name_bytes()
                    .ok_or_else(|| self.bad(&raw, "symlink without a target"))?
                    .into_owned();
                if existing.is_some() {
                    remove(&dest)?;
                }
                std::os::unix::fs::symlink(OsStr::from_bytes(&target), &dest)
                    .with_context(|| format!("creating {}", dest.display()))?;
            }
            EntryType::Link => {
                let target = e
                    .link_name_bytes()
                    .ok_or_else(|| self.bad(&raw, "hard link without a target"))?
                    .into_owned();
                let trel = self.rel(&target)?;
                self.parents(&trel, &target, false)?;
                let src = self.root.join(&trel);
                if trel.as_os_str().is_empty()
                    || fs::symlink_metadata(&src)
                        .map(|m| m.is_dir())
                        .unwrap_or(true)
                {
                    return Err(self.bad(&raw, "hard link to a missing file or a directory"));
                }
                if src != dest {
                    if existing.is_some() {
                        remove(&dest)?;
                    }
                    fs::hard_link(&src, &dest)
                        .with_context(|| format!("linking {}", dest.display()))?;
                }
                self.seen.insert(rel);
                return Ok(());
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                if existing.is_some() {
                    remove(&dest)?;
                }
                let major = h.device_major().ok().flatten().unwrap_or(0);
                let minor = h.device_minor().ok().flatten().unwrap_or(0);
                let ty = match kind {
                    EntryType::Char => libc::S_IFCHR,
                    EntryType::Block => libc::S_IFBLK,
                    _ => libc::S_IFIFO,
                };
                let c = cstr(&dest)?;
                // SAFETY: a valid NUL-terminated path.
                let rc =
                    unsafe { libc::mknod(c.as_ptr(), ty | 0o600, libc::makedev(major, minor)) };
                if rc != 0 {
                    return Err(std::io::Error::last_os_error())
                        .with_context(|| format!("creating device {}", dest.display()));
                }
            }
            other => return Err(self.bad(&raw, &format!("unsupported entry type {other:?}"))),
        }
        // Owner before mode (chown clears set-id bits) before xattrs
        // (chown clears security.capability); mtime last.
        let c = cstr(&dest)?;
        // SAFETY: a valid NUL-terminated path; lchown never follows links.
        if unsafe { libc::lchown(c.as_ptr(), uid as libc::uid_t, gid as libc::gid_t) } != 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("setting the owner of {}", dest.display()));
        }
        if kind != EntryType::Symlink {
            fs::set_permissions(&dest, fs::Permissions::from_mode(mode))
                .with_context(|| format!("setting the mode of {}", dest.display()))?;
        }
        for (n, v) in &xattrs {
            xattr::set(&dest, OsStr::from_bytes(n), v).with_context(|| {
                format!(
                    "setting xattr {} on {}",
                    String::from_utf8_lossy(n),
                    dest.display()
                )
            })?;
        }
        if kind == EntryType::Directory {
            self.dirs.push((dest, mtime as i64));
        } else {
            set_time(&dest, mtime as i64)?;
        }
        self.seen.insert(rel);
        Ok(())
    }
}

fn cstr(p: &Path) -> Result<std::ffi::CString> {
    Ok(std::ffi::CString::new(p.as_os_str().as_bytes())?)
}

/// Removes whatever is at `p` (a directory with its contents; a link, not
/// its target); missing is fine.
fn remove(p: &Path) -> Result<()> {
    match fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(p),
        Ok(_) => fs::remove_file(p),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
    .with_context(|| format!("removing {}", p.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (name, type, link target, content).
    type Raw<'a> = (&'a str, EntryType, &'a str, &'a [u8]);

    /// A tar with raw names (the tar crate's builder refuses hostile ones).
    fn raw_tar(entries: &[Raw]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, kind, link, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(0);
            h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
            h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
            h.set_cksum();
            b.append(&h, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn apply_bytes(bytes: &[u8], root: &Path) -> Result<()> {
        apply(&mut &bytes[..], root, "test layer")
    }

    #[test]
    fn hostile_entries_are_refused() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        let outside = t.path().join("outside");
        fs::create_dir_all(&root).unwrap();
        fs::create_dir_all(&outside).unwrap();
        let abs = format!("{}/abs", outside.display());
        let cases: Vec<Vec<Raw>> = vec![
            vec![("../outside/x", EntryType::Regular, "", b"x")],
            vec![("a/../../outside/x", EntryType::Regular, "", b"x")],
            vec![(abs.as_str(), EntryType::Regular, "", b"x")],
            // A symlinked parent must not be written through.
            vec![
                ("esc", EntryType::Symlink, "../outside", b""),
                ("esc/x", EntryType::Regular, "", b"x"),
            ],
            vec![
                ("esc2", EntryType::Symlink, "/", b""),
                ("esc2/.wh.outside", EntryType::Regular, "", b""),
            ],
            vec![("h", EntryType::Link, "../outside/victim", b"")],
            vec![("./", EntryType::Regular, "", b"x")],
            vec![("dev", EntryType::new(b'Z'), "", b"")],
        ];
        fs::write(outside.join("victim"), "v").unwrap();
        for c in cases {
            let e = apply_bytes(&raw_tar(&c), &root).unwrap_err();
            assert!(e.downcast_ref::<InputError>().is_some(), "{c:?}: {e:#}");
            let names: Vec<_> = fs::read_dir(&outside)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert_eq!(names, ["victim"], "{c:?}");
            assert!(root.exists() && !Path::new(&abs).exists());
        }
        // Not a tar at all.
        let e = apply_bytes(&[7u8; 1024], &root).unwrap_err();
        assert!(e.downcast_ref::<InputError>().is_some(), "{e:#}");
    }

    #[test]
    fn whiteouts_and_replacements() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        fs::create_dir_all(root.join("a/sub")).unwrap();
        fs::write(root.join("a/b"), "b").unwrap();
        fs::write(root.join("a/sub/c"), "c").unwrap();
        fs::write(root.join("d"), "d").unwrap();
        fs::create_dir_all(root.join("e/f")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("l")).unwrap();
        let tar = raw_tar(&[
            ("a/", EntryType::Directory, "", b""),
            ("a/-new", EntryType::Regular, "", b"n"),
            ("a/.wh..wh..opq", EntryType::Regular, "", b""),
            (".wh.d", EntryType::Regular, "", b""),
            ("e", EntryType::Regular, "", b"now a file"),
            // Replaces the symlink itself, never writes through it.
            ("l", EntryType::Regular, "", b"plain"),
            ("hl", EntryType::Link, "e", b""),
        ]);
        apply_bytes(&tar, root).unwrap();
        let mut names: Vec<_> = fs::read_dir(root.join("a"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["-new"]);
        assert!(!root.join("d").exists());
        assert_eq!(fs::read_to_string(root.join("e")).unwrap(), "now a file");
        assert_eq!(fs::read_to_string(root.join("l")).unwrap(), "plain");
        assert!(!fs::symlink_metadata(root.join("l")).unwrap().is_symlink());
        use std::os::unix::fs::MetadataExt;
        assert_eq!(
            fs::metadata(root.join("hl")).unwrap().ino(),
            fs::metadata(root.join("e")).unwrap().ino()
        );
    }

    #[test]
    fn a_tampered_layer_blob_is_refused_in_one_pass() {
        let t = tempfile::tempdir().unwrap();
        let layout = Layout::create(&t.path().join("l")).unwrap();
        let tar = raw_tar(&[("f", EntryType::Regular, "", b"good")]);
        let d = layout.write_bytes(MEDIA_LAYER, &tar).unwrap();
        let root = t.path().join("root");
        fs::create_dir_all(&root).unwrap();
        let id = extract(&layout, &d, &root).unwrap();
        assert_eq!(
            id, d.digest,
            "an uncompressed layer's diff_id is its digest"
        );
        // Same size, other bytes.
        let evil = raw_tar(&[("f", EntryType::Regular, "", b"evil")]);
        assert_eq!(evil.len(), tar.len());
        let p = layout.blob_path(&d.digest).unwrap();
        let mut perm = fs::metadata(&p).unwrap().permissions();
        perm.set_mode(0o644);
        fs::set_permissions(&p, perm).unwrap();
        fs::write(&p, &evil).unwrap();
        let e = extract(&layout, &d, &root).unwrap_err();
        assert!(e.downcast_ref::<InputError>().is_some(), "{e:#}");
        assert!(
            format!("{e:#}").contains("does not match its digest"),
            "{e:#}"
        );
    }
}
