//! `[[customizations.directories]]` and `[[customizations.files]]`, and the
//! safe-path primitives every other customization writes through.
//!
//! Why a resolver of our own: the tree is a directory on the build host
//! that packages (and, for files, the manifest) filled with arbitrary
//! symlinks. Joining `root` and `/etc/foo` and letting the kernel follow a
//! link such as `/etc -> /` would write the *host's* `/etc/foo`. So every
//! path is walked component by component, each symlink read and re-rooted
//! under the tree (absolute targets restart at the root, `..` stops at it),
//! as if the kernel ran chrooted. What comes out is a host path under the
//! root with no symlink left in it except, possibly, missing components.
//!
//! Ownership by name is looked up in the tree's own `/etc/passwd` and
//! `/etc/group` (the image's users, never the host's), and every mtime we
//! write is `SOURCE_DATE_EPOCH`, so builds are byte-reproducible.

use super::Env;
use crate::manifest::blueprint::*;
use crate::manifest::rules;
use anyhow::{bail, Context, Result};
use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How many symlinks one resolution may follow (as the kernel's 40).
const MAX_LINKS: usize = 40;

/// Resolves `path` (as seen inside the tree) to a host path under `root`,
/// following every symlink, including the last component, the way a
/// chrooted process would: absolute link targets restart at `root`, `..`
/// never climbs above it. Missing components are kept as they are.
pub fn resolve(root: &Path, path: &str) -> Result<PathBuf> {
    enum Part {
        Up,
        Name(OsString),
    }
    fn parts_of(p: &Path) -> Vec<Part> {
        p.components()
            .filter_map(|c| match c {
                Component::Normal(n) => Some(Part::Name(n.to_os_string())),
                Component::ParentDir => Some(Part::Up),
                _ => None,
            })
            .collect()
    }
    let mut todo: VecDeque<Part> = parts_of(Path::new(path)).into();
    let mut done: Vec<OsString> = Vec::new();
    let mut links = 0;
    while let Some(part) = todo.pop_front() {
        let name = match part {
            Part::Up => {
                done.pop();
                continue;
            }
            Part::Name(n) => n,
        };
        let mut host = root.to_path_buf();
        host.extend(&done);
        host.push(&name);
        match std::fs::symlink_metadata(&host) {
            Ok(m) if m.file_type().is_symlink() => {
                links += 1;
                if links > MAX_LINKS {
                    bail!("{path}: too many levels of symbolic links in the tree");
                }
                let target = std::fs::read_link(&host)
                    .with_context(|| format!("reading link {}", host.display()))?;
                if target.is_absolute() {
                    done.clear();
                }
                for p in parts_of(&target).into_iter().rev() {
                    todo.push_front(p);
                }
            }
            Ok(_) => done.push(name),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => done.push(name),
            Err(e) if e.raw_os_error() == Some(20) => done.push(name), // ENOTDIR
            Err(e) => return Err(e).with_context(|| format!("inspecting {}", host.display())),
        }
    }
    let mut out = root.to_path_buf();
    out.extend(&done);
    Ok(out)
}

/// A manifest path: absolute and canonical (`rules::image_path`, which
/// validation applies too). osbuild refuses the same.
pub fn check_manifest_path(path: &str) -> Result<()> {
    Ok(rules::image_path(path)?)
}

/// `t` seconds since the epoch as a `SystemTime` (negative clamps to 0).
fn system_time(t: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(u64::try_from(t).unwrap_or(0))
}

/// Sets the mtime (and atime) of `host` (already resolved, not a symlink).
pub fn set_mtime(host: &Path, t: i64) -> Result<()> {
    let f = std::fs::File::open(host).with_context(|| format!("opening {}", host.display()))?;
    let st = system_time(t);
    f.set_times(std::fs::FileTimes::new().set_accessed(st).set_modified(st))
        .with_context(|| format!("setting mtime of {}", host.display()))
}

/// Reads a file of the tree; `None` when it does not exist.
pub fn read_opt(root: &Path, path: &str) -> Result<Option<String>> {
    let host = resolve(root, path)?;
    match std::fs::read_to_string(&host) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {path}")),
    }
}

/// Whether `path` exists in the tree (after resolving links inside it).
pub fn exists(root: &Path, path: &str) -> Result<bool> {
    Ok(resolve(root, path)?.exists())
}

/// Creates directory `path` and its missing parents in the tree (root
/// owned, 0755, mtime `mtime`). An existing non-directory is an error.
pub fn ensure_dir(root: &Path, path: &str, mtime: i64) -> Result<PathBuf> {
    let host = resolve(root, path)?;
    if host.is_dir() {
        return Ok(host);
    }
    let rel = host
        .strip_prefix(root)
        .with_context(|| format!("{path}: resolved outside the tree"))?;
    let mut cur = root.to_path_buf();
    let mut created = Vec::new();
    for c in rel.components() {
        cur.push(c);
        let shown = format!("/{}", cur.strip_prefix(root).unwrap_or(rel).display());
        match std::fs::symlink_metadata(&cur) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => bail!("{shown} exists and is not a directory (creating {path})"),
            Err(_) => {
                std::fs::create_dir(&cur).with_context(|| format!("creating {shown}"))?;
                std::fs::set_permissions(&cur, std::fs::Permissions::from_mode(0o755))
                    .with_context(|| format!("chmod {shown}"))?;
                created.push(cur.clone());
            }
        }
    }
    // Children first: creating a directory changes its parent's mtime.
    for d in created.iter().rev() {
        set_mtime(d, mtime)?;
    }
    if let Some(first) = created.first().and_then(|d| d.parent()) {
        set_mtime(first, mtime)?;
    }
    Ok(host)
}

/// Mode and owner of a file written into the tree.
#[derive(Debug, Clone, Copy)]
pub struct Meta {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// Writes `data` to `path` in the tree atomically (temporary file in the
/// same directory, then rename), with `meta` and mtime `mtime`. Missing
/// parents are created; replacing a directory is refused.
pub fn write_file(root: &Path, path: &str, data: &[u8], meta: Meta, mtime: i64) -> Result<()> {
    let host = resolve(root, path)?;
    if std::fs::symlink_metadata(&host).is_ok_and(|m| m.is_dir()) {
        bail!("{path} is a directory in the tree; refusing to replace it with a file");
    }
    let parent_in_tree = match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    };
    ensure_dir(root, parent_in_tree, mtime)?;
    let dir = host
        .parent()
        .with_context(|| format!("{path}: no parent directory"))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".image-builder-")
        .tempfile_in(dir)
        .with_context(|| format!("creating a temporary file beside {path}"))?;
    tmp.write_all(data)
        .with_context(|| format!("writing {path}"))?;
    let f = tmp.as_file();
    std::os::unix::fs::fchown(f, Some(meta.uid), Some(meta.gid))
        .with_context(|| format!("chown {path}"))?;
    f.set_permissions(std::fs::Permissions::from_mode(meta.mode))
        .with_context(|| format!("chmod {path}"))?;
    let st = system_time(mtime);
    f.set_times(std::fs::FileTimes::new().set_accessed(st).set_modified(st))
        .with_context(|| format!("setting mtime of {path}"))?;
    tmp.persist(&host)
        .with_context(|| format!("renaming into {path}"))?;
    // The rename changed the directory's mtime; clamp it too.
    set_mtime(dir, mtime)
}

/// Writes a configuration file: keeps the mode and owner of the file it
/// replaces, else `mode` owned by root; mtime is `SOURCE_DATE_EPOCH`.
pub fn write_config(env: &Env, path: &str, data: &str, mode: u32) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let host = resolve(&env.root, path)?;
    let meta = match std::fs::metadata(&host) {
        Ok(m) if m.is_file() => Meta {
            mode: m.mode() & 0o7777,
            uid: m.uid(),
            gid: m.gid(),
        },
        _ => Meta {
            mode,
            uid: 0,
            gid: 0,
        },
    };
    write_file(
        &env.root,
        path,
        data.as_bytes(),
        meta,
        env.source_date_epoch,
    )
}

/// Looks `name` up in the tree's `db` (`/etc/passwd` or `/etc/group`) and
/// returns its id (third field).
pub fn lookup_id(root: &Path, db: &str, name: &str) -> Result<Option<u32>> {
    let Some(text) = read_opt(root, db)? else {
        return Ok(None);
    };
    for line in text.lines() {
        let mut f = line.split(':');
        if f.next() == Some(name) {
            let id = f.nth(1).unwrap_or("");
            return id
                .parse()
                .map(Some)
                .with_context(|| format!("{db}: bad id {id:?} for {name}"));
        }
    }
    Ok(None)
}

fn resolve_owner(root: &Path, who: &Option<IdOrName>, db: &str) -> Result<u32> {
    match who {
        None => Ok(0),
        Some(IdOrName::Id(n)) => Ok(rules::account_id("id", *n)?),
        Some(IdOrName::Name(n)) => {
            lookup_id(root, db, n)?.with_context(|| format!("{n:?} not found in the tree's {db}"))
        }
    }
}

fn parse_mode(mode: &Option<String>, default: u32) -> Result<u32> {
    match mode {
        None => Ok(default),
        Some(s) => Ok(rules::mode(s)?),
    }
}

/// `[[customizations.directories]]`: creates each directory (existing ones
/// get the mode and owner asked for); a missing parent is an error unless
/// `ensure_parents`.
pub fn directories(env: &Env, dirs: &[Directory]) -> Result<()> {
    for d in dirs {
        directory(env, d).with_context(|| format!("directory {}", d.path))?;
    }
    Ok(())
}

fn directory(env: &Env, d: &Directory) -> Result<()> {
    check_manifest_path(&d.path)?;
    let root = &env.root;
    let mode = parse_mode(&d.mode, 0o755)?;
    let uid = resolve_owner(root, &d.user, "/etc/passwd")?;
    let gid = resolve_owner(root, &d.group, "/etc/group")?;
    let host = resolve(root, &d.path)?;
    match std::fs::symlink_metadata(&host) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => bail!(
            "{} exists and is not a directory; refusing to replace it",
            d.path
        ),
        Err(_) => {
            let parent = match d.path.trim_end_matches('/').rfind('/') {
                Some(0) | None => "/".to_string(),
                Some(i) => d.path[..i].to_string(),
            };
            if d.ensure_parents == Some(true) {
                ensure_dir(root, &parent, env.source_date_epoch)?;
            } else if !resolve(root, &parent)?.is_dir() {
                bail!("parent {parent} does not exist (set ensure_parents = true)");
            }
            std::fs::create_dir(&host).with_context(|| format!("creating {}", d.path))?;
            if let Some(p) = host.parent() {
                set_mtime(p, env.source_date_epoch)?;
            }
        }
    }
    std::os::unix::fs::chown(&host, Some(uid), Some(gid))
        .with_context(|| format!("chown {}", d.path))?;
    std::fs::set_permissions(&host, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {}", d.path))?;
    set_mtime(&host, env.source_date_epoch)
}

/// `[[customizations.files]]`: writes each file from `data` or `uri`
/// (`file:///abs` or a path relative to the manifest), atomically.
pub fn files(env: &Env, files: &[File]) -> Result<()> {
    for f in files {
        file(env, f).with_context(|| format!("file {}", f.path))?;
    }
    Ok(())
}

fn file(env: &Env, f: &File) -> Result<()> {
    check_manifest_path(&f.path)?;
    let root = &env.root;
    let meta = Meta {
        mode: parse_mode(&f.mode, 0o644)?,
        uid: resolve_owner(root, &f.user, "/etc/passwd")?,
        gid: resolve_owner(root, &f.group, "/etc/group")?,
    };
    let data = match (&f.data, &f.uri) {
        (Some(_), Some(_)) => bail!("give either `data` or `uri`, not both"),
        (Some(d), None) => d.as_bytes().to_vec(),
        (None, None) => Vec::new(),
        (None, Some(uri)) => {
            let src = source_path(env, uri)?;
            std::fs::read(&src).with_context(|| format!("reading {}", src.display()))?
        }
    };
    write_file(root, &f.path, &data, meta, env.source_date_epoch)
}

/// The host path a file's `uri` names.
fn source_path(env: &Env, uri: &str) -> Result<PathBuf> {
    Ok(rules::file_source(&env.manifest_dir, uri)?)
}

#[cfg(test)]
mod tests {
    use super::super::testtree::TestTree;
    use super::*;
    use std::os::unix::fs::{symlink, MetadataExt};

    fn file_at(path: &str, data: &str) -> File {
        File {
            path: path.into(),
            data: Some(data.into()),
            ..Default::default()
        }
    }

    #[test]
    fn resolve_reroots_absolute_and_relative_links() {
        let t = TestTree::new();
        let r = t.root();
        std::fs::create_dir_all(r.join("usr/lib")).unwrap();
        symlink("/", r.join("etc")).unwrap();
        symlink("../../../../../../outside", r.join("usr/lib/up")).unwrap();
        symlink("usr/lib", r.join("lib")).unwrap();
        symlink("/usr/lib/../lib/../../..", r.join("deep")).unwrap();
        assert_eq!(resolve(r, "/etc/passwd").unwrap(), r.join("passwd"));
        assert_eq!(resolve(r, "/usr/lib/up/x").unwrap(), r.join("outside/x"));
        assert_eq!(resolve(r, "/lib/a").unwrap(), r.join("usr/lib/a"));
        assert_eq!(resolve(r, "/deep/etc/x").unwrap(), r.join("x"));
        assert_eq!(resolve(r, "/../../x").unwrap(), r.join("x"));
        symlink("loop", r.join("loop")).unwrap();
        assert!(resolve(r, "/loop/x").is_err());
    }

    #[test]
    fn hostile_symlinks_never_write_outside_the_root() {
        let t = TestTree::new();
        let r = t.root();
        let outside = t.outside();
        symlink("/", r.join("etc")).unwrap();
        std::fs::create_dir_all(r.join("var")).unwrap();
        symlink(
            format!("../../../../..{}", outside.display()),
            r.join("var/x"),
        )
        .unwrap();
        symlink(outside, r.join("abs")).unwrap();
        files(
            &t.env,
            &[
                file_at("/etc/escape", "a"),
                file_at("/var/x/escape", "b"),
                file_at("/abs/escape2", "c"),
            ],
        )
        .unwrap();
        directories(
            &t.env,
            &[Directory {
                path: "/var/x/sub/dir".into(),
                ensure_parents: Some(true),
                ..Default::default()
            }],
        )
        .unwrap();
        assert_eq!(std::fs::read_dir(outside).unwrap().count(), 0);
        assert!(!Path::new("/escape").exists());
        assert_eq!(t.read("/escape"), "a");
        let rel = outside.strip_prefix("/").unwrap();
        assert_eq!(
            std::fs::read_to_string(r.join(rel).join("escape")).unwrap(),
            "b"
        );
        assert_eq!(
            std::fs::read_to_string(r.join(rel).join("escape2")).unwrap(),
            "c"
        );
        assert!(r.join(rel).join("sub/dir").is_dir());
    }

    #[test]
    fn files_modes_owners_mtimes_and_uris() {
        let t = TestTree::new();
        t.write(
            "/etc/passwd",
            "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\n",
        );
        t.write("/etc/group", "root:x:0:\nwheel:x:10:\nalice:x:1000:\n");
        std::fs::create_dir_all(&t.env.manifest_dir).unwrap();
        std::fs::write(t.env.manifest_dir.join("motd.txt"), "hello\n").unwrap();
        let abs = t.env.manifest_dir.join("abs.txt");
        std::fs::write(&abs, "abs\n").unwrap();
        files(
            &t.env,
            &[
                File {
                    path: "/etc/motd".into(),
                    uri: Some("motd.txt".into()),
                    user: Some(IdOrName::Name("alice".into())),
                    group: Some(IdOrName::Name("wheel".into())),
                    mode: Some("0600".into()),
                    ..Default::default()
                },
                File {
                    path: "/opt/new/dir/abs".into(),
                    uri: Some(format!("file://{}", abs.display())),
                    user: Some(IdOrName::Id(4242)),
                    ..Default::default()
                },
                File {
                    path: "/etc/empty".into(),
                    ..Default::default()
                },
            ],
        )
        .unwrap();
        assert_eq!(t.read("/etc/motd"), "hello\n");
        let m = std::fs::metadata(t.host("/etc/motd")).unwrap();
        assert_eq!((m.mode() & 0o7777, m.uid(), m.gid()), (0o600, 1000, 10));
        assert_eq!(m.mtime(), t.env.source_date_epoch);
        let m = std::fs::metadata(t.host("/opt/new/dir/abs")).unwrap();
        assert_eq!((m.mode() & 0o7777, m.uid(), m.gid()), (0o644, 4242, 0));
        assert_eq!(t.read("/opt/new/dir/abs"), "abs\n");
        let d = std::fs::metadata(t.host("/opt/new")).unwrap();
        assert_eq!(
            (d.mode() & 0o7777, d.mtime()),
            (0o755, t.env.source_date_epoch)
        );
        assert_eq!(t.read("/etc/empty"), "");
        // no temporary files left behind
        let leftovers: Vec<_> = std::fs::read_dir(t.host("/etc"))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with('.')
            })
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn files_errors_name_the_path() {
        let t = TestTree::new();
        t.write("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\n");
        std::fs::create_dir_all(t.host("/srv/dir")).unwrap();
        let e = format!(
            "{:#}",
            files(&t.env, &[file_at("/srv/dir", "x")]).unwrap_err()
        );
        assert!(e.contains("/srv/dir") && e.contains("directory"), "{e}");
        let mut f = file_at("/etc/x", "x");
        f.user = Some(IdOrName::Name("nobody-here".into()));
        let e = format!("{:#}", files(&t.env, &[f]).unwrap_err());
        assert!(
            e.contains("nobody-here") && e.contains("/etc/passwd"),
            "{e}"
        );
        let e = format!(
            "{:#}",
            files(&t.env, &[file_at("/etc/../x", "x")]).unwrap_err()
        );
        assert!(e.contains("/etc/../x"), "{e}");
        let mut f = file_at("/etc/y", "x");
        f.uri = Some("https://example.com/x".into());
        assert!(files(&t.env, &[f]).is_err());
        let mut f = file_at("/etc/z", "x");
        f.data = None;
        f.uri = Some("missing.txt".into());
        let e = format!("{:#}", files(&t.env, &[f]).unwrap_err());
        assert!(e.contains("/etc/z") && e.contains("missing.txt"), "{e}");
    }

    #[test]
    fn directories_create_update_and_refuse() {
        let t = TestTree::new();
        t.write("/etc/group", "root:x:0:\nadm:x:4:\n");
        t.write(
            "/etc/passwd",
            "root:x:0:0:root:/root:/bin/bash\nbob:x:1001:1001::/home/bob:/bin/sh\n",
        );
        let d = |p: &str, parents: bool| Directory {
            path: p.into(),
            user: Some(IdOrName::Name("bob".into())),
            group: Some(IdOrName::Name("adm".into())),
            mode: Some("0750".into()),
            ensure_parents: Some(parents),
        };
        let e = format!(
            "{:#}",
            directories(&t.env, &[d("/a/b/c", false)]).unwrap_err()
        );
        assert!(e.contains("/a/b/c") && e.contains("ensure_parents"), "{e}");
        directories(&t.env, &[d("/a/b/c", true)]).unwrap();
        let m = std::fs::metadata(t.host("/a/b/c")).unwrap();
        assert_eq!((m.mode() & 0o7777, m.uid(), m.gid()), (0o750, 1001, 4));
        assert_eq!(m.mtime(), t.env.source_date_epoch);
        let p = std::fs::metadata(t.host("/a/b")).unwrap();
        assert_eq!((p.mode() & 0o7777, p.uid()), (0o755, 0));
        // existing directory: mode updated
        let mut again = d("/a/b/c", false);
        again.mode = Some("700".into());
        directories(&t.env, &[again]).unwrap();
        let m = std::fs::metadata(t.host("/a/b/c")).unwrap();
        assert_eq!(m.mode() & 0o7777, 0o700);
        t.write("/a/file", "x");
        let e = format!(
            "{:#}",
            directories(&t.env, &[d("/a/file", false)]).unwrap_err()
        );
        assert!(
            e.contains("/a/file") && e.contains("not a directory"),
            "{e}"
        );
    }
}
