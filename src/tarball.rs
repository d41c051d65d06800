//! Reproducible tar archives of a tree.
//!
//! Same tree → same bytes: entries in byte order of their paths, every
//! mtime clamped to SOURCE_DATE_EPOCH, numeric owners only (no user or
//! group names, which depend on the host), extended attributes (file
//! capabilities, SELinux labels) as `SCHILY.xattr.*` PAX records in sorted
//! order, hard links stored once and linked after. File contents are
//! streamed from disk, never held in memory. The archive is written to a
//! temporary file beside the target and renamed into place at the end.

use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use std::fs;
use std::io::{BufWriter, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use tar::{EntryType, Header};

/// Writes `root` as a tar archive at `out`.
pub fn write(root: &Path, out: &Path, source_date_epoch: i64) -> Result<()> {
    let dir = out.parent().unwrap_or(Path::new("."));
    let tmp = tempfile::Builder::new()
        .prefix(".tar.")
        .tempfile_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    {
        let mut w = Writer::new(
            BufWriter::with_capacity(1 << 20, tmp.as_file()),
            source_date_epoch,
            false,
        );
        w.entry(root, "./")?;
        w.walk(root, "./")?;
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

/// The entry writer `write` uses, shared with the OCI layer and archive
/// writers (which pick the entries themselves rather than a whole tree).
pub(crate) struct Writer<W: Write> {
    tar: tar::Builder<W>,
    clamp: u64,
    /// (device, inode) of multiply-linked files already stored → their name.
    links: HashMap<(u64, u64), String>,
    /// Store owners as 0, modes as 0644/0755 and no xattrs (for archives
    /// of files whose host metadata means nothing, e.g. an OCI layout).
    normalize: bool,
}

impl<W: Write> Writer<W> {
    pub(crate) fn new(w: W, source_date_epoch: i64, normalize: bool) -> Self {
        let mut tar = tar::Builder::new(w);
        tar.follow_symlinks(false);
        Writer {
            tar,
            clamp: source_date_epoch.max(0) as u64,
            links: HashMap::new(),
            normalize,
        }
    }

    /// Writes the end-of-archive blocks and returns the inner writer.
    pub(crate) fn finish(self) -> Result<W> {
        Ok(self.tar.into_inner()?)
    }

    /// A directory entry with the given metadata (not read from disk) and
    /// mtime SOURCE_DATE_EPOCH.
    pub(crate) fn dir(&mut self, name: &str, mode: u32, uid: u64, gid: u64) -> Result<()> {
        let mut h = Header::new_gnu();
        h.set_entry_type(EntryType::Directory);
        h.set_mode(mode);
        h.set_uid(uid);
        h.set_gid(gid);
        h.set_mtime(self.clamp);
        h.set_size(0);
        self.tar.append_data(&mut h, name, std::io::empty())?;
        Ok(())
    }

    /// An empty regular file entry (an OCI whiteout marker).
    pub(crate) fn empty_file(&mut self, name: &str) -> Result<()> {
        let mut h = Header::new_gnu();
        h.set_entry_type(EntryType::Regular);
        h.set_mode(0o644);
        h.set_mtime(self.clamp);
        h.set_size(0);
        self.tar.append_data(&mut h, name, std::io::empty())?;
        Ok(())
    }

    pub(crate) fn walk(&mut self, dir: &Path, prefix: &str) -> Result<()> {
        let mut names: Vec<_> = fs::read_dir(dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<std::io::Result<_>>()?;
        names.sort_by(|a, b| a.as_encoded_bytes().cmp(b.as_encoded_bytes()));
        for n in names {
            let path = dir.join(&n);
            let Some(name) = n.to_str() else {
                bail!("{}: file name is not UTF-8", path.display());
            };
            let is_dir = fs::symlink_metadata(&path)?.is_dir();
            let tar_name = if is_dir {
                format!("{prefix}{name}/")
            } else {
                format!("{prefix}{name}")
            };
            self.entry(&path, &tar_name)?;
            if is_dir {
                self.walk(&path, &tar_name)?;
            }
        }
        Ok(())
    }

    /// Stores `path` (read from disk, symlinks not followed) as `name`.
    pub(crate) fn entry(&mut self, path: &Path, name: &str) -> Result<()> {
        let md =
            fs::symlink_metadata(path).with_context(|| format!("reading {}", path.display()))?;
        let ft = md.file_type();
        let mut h = Header::new_gnu();
        if self.normalize {
            h.set_mode(if ft.is_dir() { 0o755 } else { 0o644 });
            h.set_uid(0);
            h.set_gid(0);
        } else {
            h.set_mode(md.mode() & 0o7777);
            h.set_uid(md.uid() as u64);
            h.set_gid(md.gid() as u64);
            self.xattrs(path)?;
        }
        h.set_mtime((md.mtime().max(0) as u64).min(self.clamp));
        h.set_size(0);
        if ft.is_file() && md.nlink() > 1 {
            let key = (md.dev(), md.ino());
            if let Some(first) = self.links.get(&key) {
                h.set_entry_type(EntryType::Link);
                let first = first.clone();
                self.tar.append_link(&mut h, name, first)?;
                return Ok(());
            }
            self.links.insert(key, name.to_string());
        }
        if ft.is_file() {
            h.set_entry_type(EntryType::Regular);
            h.set_size(md.len());
            let f = fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
            self.tar
                .append_data(&mut h, name, f)
                .with_context(|| format!("archiving {}", path.display()))?;
        } else if ft.is_dir() {
            h.set_entry_type(EntryType::Directory);
            self.tar.append_data(&mut h, name, std::io::empty())?;
        } else if ft.is_symlink() {
            h.set_entry_type(EntryType::Symlink);
            let target = fs::read_link(path)?;
            self.tar.append_link(&mut h, name, target)?;
        } else if ft.is_fifo() || ft.is_char_device() || ft.is_block_device() {
            h.set_entry_type(if ft.is_fifo() {
                EntryType::Fifo
            } else if ft.is_char_device() {
                EntryType::Char
            } else {
                EntryType::Block
            });
            let rdev = md.rdev();
            h.set_device_major(libc::major(rdev))?;
            h.set_device_minor(libc::minor(rdev))?;
            self.tar.append_data(&mut h, name, std::io::empty())?;
        } else {
            crate::report::info(format!("warning: tar: skipping socket {}", path.display()));
        }
        Ok(())
    }

    /// Emits the PAX record block for `path`'s extended attributes, if any.
    fn xattrs(&mut self, path: &Path) -> Result<()> {
        let mut attrs: Vec<(String, Vec<u8>)> = Vec::new();
        for n in
            xattr::list(path).with_context(|| format!("listing xattrs of {}", path.display()))?
        {
            let Some(name) = n.to_str() else { continue };
            if let Some(v) = xattr::get(path, &n)? {
                attrs.push((format!("SCHILY.xattr.{name}"), v));
            }
        }
        if attrs.is_empty() {
            return Ok(());
        }
        attrs.sort();
        self.tar
            .append_pax_extensions(attrs.iter().map(|(k, v)| (k.as_str(), v.as_slice())))?;
        Ok(())
    }
}

/// Sets every entry's access and modification time under `root` to
/// min(mtime, `epoch`) (symlinks themselves, never their targets), so
/// filesystem images made from the tree carry reproducible times.
pub fn clamp_mtimes(root: &Path, epoch: i64) -> Result<()> {
    fn walk(dir: &Path, epoch: i64) -> Result<()> {
        for e in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
            let e = e?;
            let p = e.path();
            let md = fs::symlink_metadata(&p)?;
            if md.is_dir() {
                walk(&p, epoch)?;
            }
            set_time(&p, md.mtime().min(epoch))?;
        }
        Ok(())
    }
    walk(root, epoch)?;
    set_time(root, fs::symlink_metadata(root)?.mtime().min(epoch))
}

/// Sets atime and mtime of `p` itself (a symlink is not followed).
pub(crate) fn set_time(p: &Path, t: i64) -> Result<()> {
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes())?;
    let ts = libc::timespec {
        tv_sec: t as libc::time_t,
        tv_nsec: 0,
    };
    let times = [ts, ts];
    // SAFETY: a valid NUL-terminated path and a two-element timespec array.
    let rc = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("setting times of {}", p.display()));
    }
    Ok(())
}
