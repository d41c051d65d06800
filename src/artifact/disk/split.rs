//! Splitting the tree between filesystems: what lives under an extra
//! mountpoint (/var, /home, /srv, …) is renamed out of the tree into its
//! own source directory, so it lands in that filesystem and not also in
//! root. A rename on one filesystem is cheap and copies nothing.
//!
//! The mountpoint left behind is an empty directory with the original's
//! owner, mode and extended attributes (its SELinux label), so the path
//! looks the same before the filesystem is mounted over it. The moved
//! directory keeps its own metadata and becomes the new filesystem's root
//! directory (the tar's `./` entry).
//!
//! Nested mountpoints (/var and /var/log) are split deepest first, so
//! /var's filesystem gets an empty `log` directory to mount /var/log on.

use anyhow::{bail, Context, Result};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Orders mountpoints so that a nested one comes before its parent.
pub fn deepest_first(mps: &mut [String]) {
    mps.sort_by(|a, b| {
        let depth = |s: &str| s.split('/').filter(|c| !c.is_empty()).count();
        depth(b).cmp(&depth(a)).then_with(|| a.cmp(b))
    });
}

/// Moves `tree`'s `mountpoint` to `dest` (which must not exist) and leaves
/// an empty directory with the same metadata in its place. A mountpoint
/// the tree lacks gives an empty `dest`; one reached through a symlink or
/// that is not a directory is an error (the filesystem would end up
/// mounted somewhere else than its contents came from).
pub fn take(tree: &Path, mountpoint: &str, dest: &Path) -> Result<()> {
    let rel = mountpoint.trim_start_matches('/');
    if rel.is_empty() {
        bail!("the root filesystem is not split off");
    }
    let mut at = tree.to_path_buf();
    for comp in rel.split('/') {
        at.push(comp);
        match std::fs::symlink_metadata(&at) {
            Ok(md) if md.file_type().is_symlink() => bail!(
                "cannot give {mountpoint} its own filesystem: /{} is a symlink in the tree",
                at.strip_prefix(tree).unwrap_or(&at).display()
            ),
            Ok(md) if !md.is_dir() => bail!(
                "cannot give {mountpoint} its own filesystem: /{} is not a directory in the tree",
                at.strip_prefix(tree).unwrap_or(&at).display()
            ),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir(&at).with_context(|| format!("creating {}", at.display()))?;
                std::fs::set_permissions(&at, std::fs::Permissions::from_mode(0o755))?;
            }
            Err(e) => return Err(e).with_context(|| format!("reading {}", at.display())),
        }
    }
    let src: PathBuf = at;
    std::fs::rename(&src, dest).with_context(|| format!("moving {mountpoint} out of the tree"))?;
    let md = std::fs::symlink_metadata(dest)?;
    std::fs::create_dir(&src).with_context(|| format!("recreating {mountpoint}"))?;
    std::os::unix::fs::chown(&src, Some(md.uid()), Some(md.gid()))
        .with_context(|| format!("chown {mountpoint}"))?;
    std::fs::set_permissions(&src, std::fs::Permissions::from_mode(md.mode() & 0o7777))?;
    for name in xattr::list(dest).with_context(|| format!("listing xattrs of {mountpoint}"))? {
        if let Some(v) = xattr::get(dest, &name)? {
            xattr::set(&src, &name, &v)
                .with_context(|| format!("copying xattr {name:?} to {mountpoint}"))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_mountpoints_come_first() {
        let mut v: Vec<String> = ["/var", "/home", "/var/log", "/srv/a/b"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        deepest_first(&mut v);
        assert_eq!(v, ["/srv/a/b", "/var/log", "/home", "/var"]);
    }

    #[test]
    fn take_moves_content_and_keeps_an_empty_mountpoint() {
        let d = tempfile::tempdir().unwrap();
        let t = d.path().join("tree");
        std::fs::create_dir_all(t.join("var/log")).unwrap();
        std::fs::write(t.join("var/log/x"), "x").unwrap();
        std::fs::set_permissions(t.join("var/log"), std::fs::Permissions::from_mode(0o750))
            .unwrap();
        let a = d.path().join("log");
        take(&t, "/var/log", &a).unwrap();
        assert!(a.join("x").is_file());
        assert_eq!(std::fs::read_dir(t.join("var/log")).unwrap().count(), 0);
        let mode = std::fs::metadata(t.join("var/log")).unwrap().mode() & 0o7777;
        assert_eq!(mode, 0o750);
        // Missing mountpoints give an empty filesystem.
        let h = d.path().join("home");
        take(&t, "/home", &h).unwrap();
        assert!(h.is_dir() && t.join("home").is_dir());
        // Symlinks and files are refused.
        std::os::unix::fs::symlink("var", t.join("lnk")).unwrap();
        assert!(take(&t, "/lnk/x", &d.path().join("l")).is_err());
        std::fs::write(t.join("f"), "").unwrap();
        assert!(take(&t, "/f", &d.path().join("f")).is_err());
    }
}
