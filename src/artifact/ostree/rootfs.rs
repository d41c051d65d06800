//! A bootc-prepared tree → the shape of an rpm-ostree compose.
//!
//! Why: an OSTree commit is deployed read-only, and ostree owns three
//! places a package install leaves as ordinary directories. `/etc` is
//! committed as `/usr/etc` (ostree merges it into the deployment's
//! writable `/etc` at deploy and upgrade); `/var` is the machine's and is
//! never updated from a commit, so its content is declared as tmpfiles.d
//! lines and the directory committed empty; and the top-level directories
//! that hold local state (`/home`, `/root`, `/opt`, `/srv`, `/mnt`,
//! `/usr/local`, `/media`) become links into `/var` or `/run`, exactly as
//! rpm-ostree links them, so a booted system writes where ostree expects.
//! An rpmdb still in `/var/lib/rpm` (AlmaLinux 8 and 9) moves to
//! `/usr/share/rpm` with a link back, as rpm-ostree does; AlmaLinux 10's
//! `/usr/lib/sysimage/rpm` is already in `/usr`.
//!
//! The kernel layout (`/usr/lib/modules/KVER/vmlinuz` with its initramfs,
//! an empty `/boot`, `/sysroot`, `/ostree`) is `bootc::prepare`'s, done
//! when the tree was made.

use anyhow::{bail, Context, Result};
use std::collections::BTreeSet;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

/// Where the generated tmpfiles.d lines for `/var` go.
pub const AUTOVAR: &str = "usr/lib/tmpfiles.d/image-builder-autovar.conf";

/// Top-level state directories and the link each becomes, as rpm-ostree
/// makes them: (path, link target, where its content moves).
const LINKS: &[(&str, &str, Option<&str>)] = &[
    ("home", "var/home", Some("var/home")),
    ("root", "var/roothome", Some("var/roothome")),
    ("opt", "var/opt", Some("var/opt")),
    ("srv", "var/srv", Some("var/srv")),
    ("mnt", "var/mnt", Some("var/mnt")),
    ("usr/local", "../var/usrlocal", Some("var/usrlocal")),
    ("media", "run/media", None),
];

/// What the conversion did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Converted {
    /// tmpfiles.d lines written for `/var`.
    pub var_entries: usize,
    /// Regular files found under `/var`, dropped (tmpfiles cannot carry
    /// content; rpm-ostree drops them too). Sorted, image paths.
    pub var_files_dropped: Vec<String>,
}

/// Converts a prepared tree in place.
pub fn convert(root: &Path) -> Result<Converted> {
    if !root.join("usr").is_dir() {
        bail!("the tree has no /usr: an OSTree commit is made from a /usr-merged tree");
    }
    move_etc(root)?;
    rpmdb_to_usr(root)?;
    for (dir, target, content) in LINKS {
        to_link(root, dir, target, *content)?;
    }
    let mut out = Converted::default();
    let declared = declared_paths(root)?;
    let mut lines = vec![];
    if root.join("var").is_dir() {
        walk_var(
            root,
            "var",
            &declared,
            &mut lines,
            &mut out.var_files_dropped,
        )?;
        for e in sorted_entries(&root.join("var"))? {
            remove(&e)?;
        }
    } else {
        std::fs::create_dir(root.join("var")).context("creating /var")?;
    }
    out.var_entries = lines.len();
    if !lines.is_empty() {
        let text = format!(
            "# /var as the image built it, made at boot (ostree never updates /var).\n{}\n",
            lines.join("\n")
        );
        let p = root.join(AUTOVAR);
        std::fs::create_dir_all(p.parent().expect("has a parent"))?;
        std::fs::write(&p, text).with_context(|| format!("writing /{AUTOVAR}"))?;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644))?;
    }
    Ok(out)
}

/// `/etc` → `/usr/etc`.
fn move_etc(root: &Path) -> Result<()> {
    let etc = root.join("etc");
    let usr_etc = root.join("usr/etc");
    if std::fs::symlink_metadata(&usr_etc).is_ok() {
        bail!("the tree has both /etc and /usr/etc: ostree's /usr/etc is made from /etc, so /usr/etc must not exist before");
    }
    if etc.is_dir() {
        std::fs::rename(&etc, &usr_etc).context("moving /etc to /usr/etc")?;
    }
    Ok(())
}

/// A real `/var/lib/rpm` directory → `/usr/share/rpm`, linked back.
fn rpmdb_to_usr(root: &Path) -> Result<()> {
    let old = root.join("var/lib/rpm");
    match std::fs::symlink_metadata(&old) {
        Ok(m) if m.is_dir() => {}
        _ => return Ok(()),
    }
    let new = root.join("usr/share/rpm");
    if std::fs::symlink_metadata(&new).is_ok() {
        bail!("the tree has both /var/lib/rpm and /usr/share/rpm");
    }
    std::fs::create_dir_all(root.join("usr/share"))?;
    std::fs::rename(&old, &new).context("moving the rpmdb to /usr/share/rpm")?;
    std::os::unix::fs::symlink("../../usr/share/rpm", &old).context("linking /var/lib/rpm")?;
    Ok(())
}

/// Makes `dir` a link to `target`, moving what it held to `content`.
fn to_link(root: &Path, dir: &str, target: &str, content: Option<&str>) -> Result<()> {
    let p = root.join(dir);
    match std::fs::symlink_metadata(&p) {
        Ok(m) if m.is_dir() => {
            let entries = sorted_entries(&p)?;
            match content {
                Some(c) if !entries.is_empty() => {
                    let dest = root.join(c);
                    if std::fs::symlink_metadata(&dest).is_ok() {
                        bail!("both /{dir} and /{c} have content: the tree cannot be committed");
                    }
                    std::fs::create_dir_all(dest.parent().expect("has a parent"))?;
                    std::fs::rename(&p, &dest).with_context(|| format!("moving /{dir} to /{c}"))?;
                }
                Some(c) => {
                    // Keep the (empty) directory's mode and owner under /var.
                    let dest = root.join(c);
                    if std::fs::symlink_metadata(&dest).is_err() {
                        std::fs::create_dir_all(dest.parent().expect("has a parent"))?;
                        std::fs::rename(&p, &dest)
                            .with_context(|| format!("moving /{dir} to /{c}"))?;
                    } else {
                        std::fs::remove_dir(&p)?;
                    }
                }
                None if entries.is_empty() => std::fs::remove_dir(&p)?,
                None => bail!("/{dir} has content, but it becomes a link to /{target}"),
            }
        }
        Ok(m) if m.is_symlink() => return Ok(()),
        Ok(_) => bail!("/{dir} is a file, where ostree needs a link to {target}"),
        Err(_) => {}
    }
    std::os::unix::fs::symlink(target, &p).with_context(|| format!("linking /{dir} -> {target}"))
}

/// Paths the tree's own tmpfiles.d files already declare (their second
/// column): the generated file does not declare them again.
fn declared_paths(root: &Path) -> Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    for dir in ["usr/lib/tmpfiles.d", "usr/etc/tmpfiles.d"] {
        let d = root.join(dir);
        if !d.is_dir() {
            continue;
        }
        for e in sorted_entries(&d)? {
            if e.extension().and_then(|x| x.to_str()) != Some("conf") {
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&e) else {
                continue;
            };
            for l in text.lines() {
                let l = l.trim();
                if l.is_empty() || l.starts_with('#') {
                    continue;
                }
                if let Some(path) = l.split_whitespace().nth(1) {
                    out.insert(path.trim_end_matches('/').to_string());
                }
            }
        }
    }
    Ok(out)
}

/// tmpfiles.d escapes: whitespace, backslash and non-printing bytes as
/// `\xNN`.
fn escape(s: &str) -> String {
    let mut o = String::new();
    for b in s.bytes() {
        if b.is_ascii_graphic() && b != b'\\' {
            o.push(b as char);
        } else {
            o.push_str(&format!("\\x{b:02x}"));
        }
    }
    o
}

/// One `d` line per directory and `L` per link under `rel`, in sorted
/// order, parents first.
fn walk_var(
    root: &Path,
    rel: &str,
    declared: &BTreeSet<String>,
    lines: &mut Vec<String>,
    dropped: &mut Vec<String>,
) -> Result<()> {
    for e in sorted_entries(&root.join(rel))? {
        let name = e
            .file_name()
            .and_then(|n| n.to_str())
            .with_context(|| format!("a non-UTF-8 name under /{rel}"))?
            .to_string();
        let child = format!("{rel}/{name}");
        let image = format!("/{child}");
        let m = std::fs::symlink_metadata(&e)?;
        let known = declared.contains(&image);
        if m.is_symlink() {
            if !known {
                let target = std::fs::read_link(&e)?;
                let target = target
                    .to_str()
                    .with_context(|| format!("{image}: a non-UTF-8 link target"))?;
                lines.push(format!("L {} - - - - {}", escape(&image), escape(target)));
            }
        } else if m.is_dir() {
            if !known {
                lines.push(format!(
                    "d {} {:04o} {} {} - -",
                    escape(&image),
                    m.mode() & 0o7777,
                    m.uid(),
                    m.gid()
                ));
            }
            walk_var(root, &child, declared, lines, dropped)?;
        } else {
            dropped.push(image);
        }
    }
    Ok(())
}

fn sorted_entries(dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    v.sort();
    Ok(v)
}

fn remove(p: &Path) -> Result<()> {
    let m = std::fs::symlink_metadata(p)?;
    if m.is_dir() {
        std::fs::remove_dir_all(p)
    } else {
        std::fs::remove_file(p)
    }
    .with_context(|| format!("removing {}", p.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tree() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        for d in [
            "usr/lib/tmpfiles.d",
            "etc/ssh",
            "var/lib/rpm",
            "var/lib/app data",
            "var/log",
            "home/tester",
            "root",
            "opt",
            "usr/local/bin",
            "media",
        ] {
            std::fs::create_dir_all(r.join(d)).unwrap();
        }
        std::fs::write(r.join("etc/hostname"), "h\n").unwrap();
        std::fs::write(r.join("var/lib/rpm/rpmdb.sqlite"), "db").unwrap();
        std::fs::write(r.join("var/log/boot.log"), "x").unwrap();
        symlink("../run", r.join("var/run")).unwrap();
        std::fs::write(
            r.join("usr/lib/tmpfiles.d/systemd.conf"),
            "# c\nd /var/log 0755 root root -\n",
        )
        .unwrap();
        t
    }

    #[test]
    fn a_tree_becomes_an_rpm_ostree_shape() {
        let t = tree();
        let r = t.path();
        let c = convert(r).unwrap();
        assert!(!r.join("etc").exists());
        assert_eq!(
            std::fs::read_to_string(r.join("usr/etc/hostname")).unwrap(),
            "h\n"
        );
        assert!(r.join("usr/share/rpm/rpmdb.sqlite").is_file());
        assert_eq!(std::fs::read_dir(r.join("var")).unwrap().count(), 0);
        for (dir, target) in [
            ("home", "var/home"),
            ("root", "var/roothome"),
            ("opt", "var/opt"),
            ("usr/local", "../var/usrlocal"),
            ("media", "run/media"),
            ("srv", "var/srv"),
            ("mnt", "var/mnt"),
        ] {
            assert_eq!(
                std::fs::read_link(r.join(dir)).unwrap(),
                Path::new(target),
                "{dir}"
            );
        }
        let autovar = std::fs::read_to_string(r.join(AUTOVAR)).unwrap();
        let lines: Vec<&str> = autovar.lines().skip(1).collect();
        // /var/log is the tree's own; its file is dropped, not declared.
        assert!(!autovar.contains("d /var/log "), "{autovar}");
        assert!(
            lines.contains(&"d /var/home/tester 0755 0 0 - -"),
            "{autovar}"
        );
        assert!(
            lines.contains(&"d /var/lib/app\\x20data 0755 0 0 - -"),
            "{autovar}"
        );
        assert!(
            lines.contains(&"L /var/lib/rpm - - - - ../../usr/share/rpm"),
            "{autovar}"
        );
        assert!(lines.contains(&"L /var/run - - - - ../run"), "{autovar}");
        let at = |l: &str| lines.iter().position(|x| *x == l).unwrap();
        assert!(at("d /var/lib 0755 0 0 - -") < at("d /var/lib/app\\x20data 0755 0 0 - -"));
        assert_eq!(c.var_files_dropped, vec!["/var/log/boot.log"]);
        assert_eq!(c.var_entries, lines.len());
    }

    #[test]
    fn conflicts_are_refused() {
        let t = tree();
        std::fs::create_dir_all(t.path().join("usr/etc")).unwrap();
        let e = convert(t.path()).unwrap_err().to_string();
        assert!(e.contains("/usr/etc"), "{e}");
        let t = tree();
        std::fs::write(t.path().join("media/x"), "").unwrap();
        let e = convert(t.path()).unwrap_err().to_string();
        assert!(e.contains("/media has content"), "{e}");
    }
}
