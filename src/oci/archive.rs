//! oci-archives: an OCI image layout as one tar, written by `build` and by
//! the registry client's `oci-archive:` destinations, read by `lint`,
//! `publish` and pulls. One writer and one reader for both, so an archive
//! is the same bytes whichever path wrote it.
//!
//! Writing is deterministic (entries in byte order of paths, mtimes
//! clamped to SOURCE_DATE_EPOCH, owners 0 and no names, fixed modes, no
//! xattrs: the host's metadata of a layout means nothing) and goes through
//! a temporary file renamed into place. Reading streams the entries and
//! accepts only the names a layout has: an archive is input, and a path
//! outside the layout, a link or a device is refused, never unpacked.

use super::layout::{parent_dir, persist, Layout};
use crate::error::InputError;
use anyhow::{bail, Context, Result};
use std::fs;
use std::io::{BufWriter, Read, Write};
use std::path::Path;

/// Writes the layout at `layout_dir` as an oci-archive at `out`.
/// Temporary files (names starting with a dot) are left out.
pub fn write_archive(layout_dir: &Path, out: &Path, source_date_epoch: i64) -> Result<()> {
    Layout::open(layout_dir)?;
    let dir = parent_dir(out);
    let tmp = tempfile::Builder::new()
        .prefix(".oci-archive.")
        .tempfile_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    {
        let mut w = crate::tarball::Writer::new(
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
    tmp.as_file().sync_all()?;
    persist(tmp, out).with_context(|| format!("renaming the archive to {}", out.display()))
}

/// Unpacks the oci-archive `file` into `into` (created; must be empty) and
/// opens it. Only the layout's own names are accepted (`oci-layout`,
/// `index.json`, `blobs/<alg>/<encoded>` as plain files and their
/// directories): anything else — absolute or `..` paths, links, devices —
/// is refused.
pub fn read_archive(file: &Path, into: &Path) -> Result<Layout> {
    let bad = |why: String| InputError(format!("{} is not an OCI archive: {why}", file.display()));
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
            ["blobs", alg] => kind.is_dir() && is_part(alg),
            ["blobs", alg, hex] => kind.is_file() && is_part(alg) && is_part(hex),
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
    // Name the archive, not the scratch directory, when what it held is
    // not a layout (an empty file, a tar of something else).
    Layout::open(into).map_err(|e| bad(format!("{e:#}")).into())
}

/// One file of the oci-archive `file` (`index.json`, `blobs/<alg>/<hex>`),
/// at most `max` bytes, read without unpacking the rest (the tar is
/// seeked past other entries); None if the archive has no such file.
pub fn read_archive_entry(file: &Path, name: &str, max: u64) -> Result<Option<Vec<u8>>> {
    let bad = |why: String| InputError(format!("{} is not an OCI archive: {why}", file.display()));
    let f = fs::File::open(file).map_err(|e| bad(e.to_string()))?;
    let mut ar = tar::Archive::new(f);
    for entry in ar.entries_with_seek().map_err(|e| bad(e.to_string()))? {
        let mut e = entry.map_err(|e| bad(format!("corrupt archive: {e}")))?;
        let raw = e.path_bytes().into_owned();
        if String::from_utf8_lossy(&raw).trim_start_matches("./") != name {
            continue;
        }
        if !e.header().entry_type().is_file() {
            bail!(bad(format!("{name} is not a file")));
        }
        if e.size() > max {
            bail!(bad(format!("{name} is too large")));
        }
        let mut v = Vec::with_capacity(e.size() as usize);
        e.read_to_end(&mut v)
            .map_err(|e| bad(format!("reading {name}: {e}")))?;
        return Ok(Some(v));
    }
    Ok(None)
}

/// A blob directory or file name: the spec's algorithm and encoded
/// characters (letters, digits, `+._-=`), never `.`-led (so never `.` or
/// `..`).
fn is_part(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('.')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+._-=".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::image::MEDIA_CONFIG;

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
            ("blobs/sha256/a/b", tar::EntryType::Regular),
            ("blobs/..", tar::EntryType::Directory),
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
