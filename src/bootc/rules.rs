//! The structural rules: where the kernel is, what must be empty, which
//! directories and links must exist, and the UTF-8 walk. Each returns the
//! problems it found as messages (none: the rule holds). Nothing here
//! follows a symlink out of the tree: every check looks at the link itself.

use super::{image_path, list};
use anyhow::{Context, Result};
use std::ffi::OsString;
use std::fs::Metadata;
use std::path::{Path, PathBuf};

/// The API filesystems' mount points (<https://systemd.io/API_FILE_SYSTEMS/>)
/// and /var, which bootc mounts the machine's state on.
pub(super) const API_DIRS: &[&str] = &["dev", "proc", "sys", "run", "tmp", "var"];

/// `rel` under `root` without following a final symlink; `None` when absent.
pub(super) fn lstat(root: &Path, rel: &str) -> Result<Option<Metadata>> {
    let p = root.join(rel);
    match std::fs::symlink_metadata(&p) {
        Ok(m) => Ok(Some(m)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        // A path whose parent is a file (ENOTDIR) does not exist either.
        Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading /{rel}")),
    }
}

/// `rel` is a real directory (not a link to one).
pub(super) fn is_dir(root: &Path, rel: &str) -> Result<bool> {
    Ok(lstat(root, rel)?.is_some_and(|m| m.is_dir()))
}

/// The entries of directory `dir`, sorted by name.
pub(super) fn entries(dir: &Path) -> Result<Vec<std::fs::DirEntry>> {
    let mut v = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .collect::<std::io::Result<Vec<_>>>()
        .with_context(|| format!("reading {}", dir.display()))?;
    v.sort_by_key(|e| e.file_name());
    Ok(v)
}

/// Directories under /usr/lib/modules holding a vmlinuz, sorted.
pub(super) fn usr_kernels(root: &Path) -> Result<Vec<String>> {
    if !is_dir(root, "usr/lib/modules")? {
        return Ok(vec![]);
    }
    let mut out = Vec::new();
    for e in entries(&root.join("usr/lib/modules"))? {
        let name = e.file_name().to_string_lossy().into_owned();
        if e.file_type()?.is_dir()
            && lstat(root, &format!("usr/lib/modules/{name}/vmlinuz"))?.is_some_and(|m| m.is_file())
        {
            out.push(name);
        }
    }
    Ok(out)
}

/// `kernel`: exactly one /usr/lib/modules/KVER/vmlinuz, initramfs.img beside it.
pub(super) fn kernel(root: &Path) -> Result<Vec<String>> {
    let ks = usr_kernels(root)?;
    match ks.as_slice() {
        [] => {
            let mut m = "no kernel: the image needs /usr/lib/modules/KVER/vmlinuz".to_string();
            if is_dir(root, "boot")? {
                let boot: Vec<String> = entries(&root.join("boot"))?
                    .iter()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.starts_with("vmlinuz-"))
                    .collect();
                if !boot.is_empty() {
                    m.push_str(&format!(
                        " (found /boot/{}: the kernel belongs under /usr/lib/modules)",
                        boot[0]
                    ));
                }
            }
            Ok(vec![m])
        }
        [k] => {
            if lstat(root, &format!("usr/lib/modules/{k}/initramfs.img"))?
                .is_some_and(|m| m.is_file())
            {
                Ok(vec![])
            } else {
                Ok(vec![format!(
                    "/usr/lib/modules/{k}/vmlinuz has no initramfs.img beside it"
                )])
            }
        }
        many => {
            let paths: Vec<String> = many
                .iter()
                .map(|k| format!("/usr/lib/modules/{k}/vmlinuz"))
                .collect();
            Ok(vec![format!(
                "{} kernels, only one is supported: {}",
                many.len(),
                list(&paths)
            )])
        }
    }
}

/// `nonempty-boot`: /boot exists and is empty (the deployed system's
/// /boot is mounted over it; the kernel lives in /usr/lib/modules).
pub(super) fn boot(root: &Path) -> Result<Vec<String>> {
    match lstat(root, "boot")? {
        None => return Ok(vec!["missing /boot directory".into()]),
        Some(m) if !m.is_dir() => return Ok(vec!["/boot is not a directory".into()]),
        Some(_) => {}
    }
    let names: Vec<String> = entries(&root.join("boot"))?
        .iter()
        .map(|e| format!("/boot/{}", e.file_name().to_string_lossy()))
        .collect();
    if names.is_empty() {
        Ok(vec![])
    } else {
        Ok(vec![format!(
            "/boot must be empty, found {} entr{}: {}",
            names.len(),
            if names.len() == 1 { "y" } else { "ies" },
            list(&names)
        )])
    }
}

/// `var-run`: /var/run, when present, is a link to /run.
pub(super) fn var_run(root: &Path) -> Result<Vec<String>> {
    let Some(m) = lstat(root, "var/run")? else {
        return Ok(vec![]);
    };
    if !m.is_symlink() {
        let what = if m.is_dir() {
            "a directory"
        } else {
            "not a symlink"
        };
        return Ok(vec![format!(
            "/var/run is {what}; it must be a symlink to ../run"
        )]);
    }
    let target = std::fs::read_link(root.join("var/run"))?;
    if target != Path::new("../run") && target != Path::new("/run") {
        return Ok(vec![format!(
            "/var/run -> {}; it must point at ../run",
            target.to_string_lossy()
        )]);
    }
    Ok(vec![])
}

/// `etc-usretc`: /usr/etc beside /etc (ostree's own layout leaking into
/// an image: bootc would not know which one is the configuration).
pub(super) fn usretc(root: &Path) -> Result<Vec<String>> {
    if lstat(root, "etc")?.is_some() && lstat(root, "usr/etc")?.is_some() {
        return Ok(vec![
            "found /usr/etc beside /etc: /usr/etc is a bootc implementation detail, keep configuration in /etc".into(),
        ]);
    }
    Ok(vec![])
}

/// `api-base-directories`: the API mount points exist as directories.
pub(super) fn api_dirs(root: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for d in API_DIRS {
        match lstat(root, d)? {
            None => out.push(format!("missing API filesystem base directory /{d}")),
            Some(m) if !m.is_dir() => out.push(format!(
                "API filesystem base directory /{d} is not a directory"
            )),
            Some(_) => {}
        }
    }
    Ok(out)
}

/// `baseimage-root`: /sysroot (where ostree mounts the physical root) and
/// /ostree -> sysroot/ostree.
pub(super) fn baseimage_root(root: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    match lstat(root, "sysroot")? {
        None => out.push("missing /sysroot".to_string()),
        Some(m) if !m.is_dir() => out.push("/sysroot is not a directory".to_string()),
        Some(_) => {}
    }
    match lstat(root, "ostree")? {
        None => out.push("missing /ostree -> sysroot/ostree".to_string()),
        Some(m) if !m.is_symlink() => {
            out.push("/ostree is not a symlink (it must point at sysroot/ostree)".to_string())
        }
        Some(_) => {
            let t = std::fs::read_link(root.join("ostree"))?;
            if t != Path::new("sysroot/ostree") {
                out.push(format!(
                    "/ostree -> {}; it must point at sysroot/ostree",
                    t.to_string_lossy()
                ));
            }
        }
    }
    Ok(out)
}

/// Every path under `dir` (recursively, links not followed), sorted, with
/// a filter on whether to keep an entry.
fn walk(
    dir: &Path,
    keep: &mut dyn FnMut(&Path, &std::fs::DirEntry) -> Result<bool>,
) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in entries(&d)? {
            let p = e.path();
            if e.file_type()?.is_dir() {
                stack.push(p.clone());
            }
            if keep(&p, &e)? {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// `var-log`: non-empty regular files in /var/log (per-machine state that
/// carries build timestamps and host details).
pub(super) fn var_log(root: &Path) -> Result<Vec<String>> {
    if !is_dir(root, "var/log")? {
        return Ok(vec![]);
    }
    let files = walk(&root.join("var/log"), &mut |_, e| {
        Ok(e.file_type()?.is_file() && e.metadata()?.len() > 0)
    })?;
    if files.is_empty() {
        return Ok(vec![]);
    }
    let names: Vec<String> = files.iter().map(|p| image_path(root, p)).collect();
    Ok(vec![format!(
        "{} non-empty log file{} in the image: {}",
        names.len(),
        if names.len() == 1 { "" } else { "s" },
        list(&names)
    )])
}

/// `nonempty-run-tmp`: /run and /tmp are tmpfs at run time; anything the
/// image holds there is hidden and only takes space.
pub(super) fn run_tmp(root: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for d in ["run", "tmp"] {
        if is_dir(root, d)? {
            let found = walk(&root.join(d), &mut |_, _| Ok(true))?;
            names.extend(found.iter().map(|p| image_path(root, p)));
        }
    }
    if names.is_empty() {
        return Ok(vec![]);
    }
    Ok(vec![format!(
        "content in /run or /tmp (masked by a tmpfs at run time): {}",
        list(&names)
    )])
}

/// `utf8`: every file name and symlink target is UTF-8 (ostree stores
/// paths as UTF-8 strings).
pub(super) fn utf8(root: &Path) -> Result<Vec<String>> {
    let mut bad_targets = Vec::new();
    let bad_names = walk(root, &mut |p, e| {
        if e.file_name().to_str().is_none() {
            return Ok(true);
        }
        if e.file_type()?.is_symlink() {
            let t = std::fs::read_link(p)?;
            if t.to_str().is_none() {
                bad_targets.push(p.to_path_buf());
            }
        }
        Ok(false)
    })?;
    bad_targets.sort();
    let show = |ps: &[PathBuf]| -> Vec<String> {
        ps.iter()
            .map(|p| {
                let rel = p.strip_prefix(root).unwrap_or(p);
                let mut s = OsString::from("/");
                s.push(rel.as_os_str());
                // Debug escapes invalid bytes (`"/a\xFFb"`), so the name
                // can be found again.
                format!("{:?}", Path::new(&s))
            })
            .collect()
    };
    let mut out = Vec::new();
    if !bad_names.is_empty() {
        out.push(format!("non-UTF-8 file names: {}", list(&show(&bad_names))));
    }
    if !bad_targets.is_empty() {
        out.push(format!(
            "symlinks with non-UTF-8 targets: {}",
            list(&show(&bad_targets))
        ));
    }
    Ok(out)
}
