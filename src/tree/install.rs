//! Installing a locked, fetched transaction into an empty root tree.
//!
//! We let rpm's own transaction do the unpacking, chrooted into the tree:
//! it orders the packages (the same tsort dnf relies on), maps owners by
//! name through the tree's own passwd/group, sets modes, capabilities and
//! xattrs, runs %pre/%post/%posttrans, triggers and file triggers — Lua
//! ones included, which only rpm's embedded interpreter can run — and
//! writes an rpmdb that the tree's rpm reads. We measured the alternative
//! (our own cpio extraction plus `rpm --justdb`): the floor is the file
//! writes, which cost the same either way, so a second unpacker would buy
//! little and lose Lua scriptlets and triggers (see bench/README.md).
//!
//! What we add around it:
//! - every header is read first (`rpmhdr`) and a package whose file list
//!   has a `..` or relative path, a device node or socket, or a symlink
//!   that climbs out of the tree is refused before anything is written;
//!   rpm itself runs chrooted, so even an unchecked path cannot leave it;
//! - digests and signatures are not checked again: fetch verified every
//!   package's checksum and OpenPGP signature before it entered the cache;
//! - /dev/null and friends exist while scriptlets run (they redirect to
//!   them) and are removed afterwards, so no device node ends up in an
//!   artifact;
//! - SOURCE_DATE_EPOCH is passed down (rpm stamps install times with it)
//!   and the database's lock and shared-memory files are removed, so the
//!   same lockfile gives the same rpmdb bytes;
//! - afterwards the database must list exactly the requested packages.

use super::rpmhdr::{self, FileEntry, Header};
use crate::error::InputError;
use anyhow::{bail, Context, Result};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// How the tree's rpm database is kept.
#[derive(Debug, Clone)]
pub struct Options {
    /// In-tree path of the database directory (`/var/lib/rpm`, or
    /// `/usr/lib/sysimage/rpm` from AlmaLinux 10 on).
    pub dbpath: String,
    /// `sqlite` or `bdb` (AlmaLinux 8).
    pub backend: String,
    pub source_date_epoch: i64,
    /// Install onto a tree that already has packages (a derived image's
    /// base): the tree need not be empty and the database is added to.
    pub onto_existing: bool,
}

/// A package as installed: its header and the file it came from.
#[derive(Debug, Clone)]
pub struct Installed {
    pub path: PathBuf,
    pub header: Header,
}

/// Device nodes scriptlets expect while they run: (name, major, minor).
const DEV_NODES: [(&str, u32, u32); 5] = [
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
];

/// Installs the packages `preflight` accepted into `root` (created if
/// missing, must be empty).
pub fn install(root: &Path, pkgs: &[Installed], opts: &Options) -> Result<()> {
    if opts.backend != "sqlite" {
        bail!(
            "this tree needs a {} rpm database, which the host's rpm cannot write \
             (AlmaLinux 8 trees are not supported yet)",
            opts.backend
        );
    }
    std::fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
    if !opts.onto_existing && std::fs::read_dir(root)?.next().is_some() {
        bail!("{} is not empty", root.display());
    }
    // A derived image that only customizes its base adds no package, and
    // rpm refuses an empty transaction: there is nothing to do.
    if pkgs.is_empty() && opts.onto_existing {
        return Ok(());
    }
    let db = super::customize::in_root(root, &opts.dbpath)?;
    std::fs::create_dir_all(&db)?;
    if opts.dbpath == "/usr/lib/sysimage/rpm" && !opts.onto_existing {
        std::fs::create_dir_all(root.join("var/lib"))?;
        std::os::unix::fs::symlink("../../usr/lib/sysimage/rpm", root.join("var/lib/rpm"))?;
    }
    let nodes = DevNodes::create(root)?;
    let rpms: Vec<&Path> = pkgs.iter().map(|p| p.path.as_path()).collect();
    let result = run_rpm(root, &rpms, opts);
    nodes.remove()?;
    result?;
    check_installed(root, opts, pkgs)?;
    tidy_db(&db)
}

/// The newest build time among `pkgs`: the default SOURCE_DATE_EPOCH, so
/// that the same lockfile gives the same bytes without one being set.
pub fn newest_build_time(pkgs: &[Installed]) -> i64 {
    pkgs.iter()
        .filter_map(|p| p.header.ints(rpmhdr::tag::BUILDTIME).first().copied())
        .max()
        .unwrap_or(0) as i64
}

/// Reads every header and refuses hostile file lists, naming the package,
/// the path and the reason.
pub fn preflight(rpms: &[PathBuf]) -> Result<Vec<Installed>> {
    let mut out = Vec::with_capacity(rpms.len());
    let mut problems = Vec::new();
    for p in rpms {
        let header = rpmhdr::read(p).map_err(|e| InputError(format!("{e:#}")))?;
        let files = header
            .files()
            .map_err(|e| InputError(format!("{}: {e}", p.display())))?;
        for f in &files {
            if let Err(why) = check_entry(f) {
                problems.push(format!(
                    "{} ({}): {}: {why}",
                    header.nevra(),
                    p.file_name().unwrap_or_default().to_string_lossy(),
                    f.path
                ));
            }
        }
        out.push(Installed {
            path: p.clone(),
            header,
        });
    }
    if !problems.is_empty() {
        return Err(InputError(format!(
            "refusing to install packages whose payload would reach outside the tree:\n  {}",
            problems.join("\n  ")
        ))
        .into());
    }
    Ok(out)
}

/// Why a file entry is unsafe, if it is.
pub fn check_entry(f: &FileEntry) -> Result<(), String> {
    let Some(rel) = f.path.strip_prefix('/') else {
        return Err("not an absolute path".into());
    };
    for c in rel.split('/') {
        match c {
            "" | "." => return Err("not a normalized path".into()),
            ".." => return Err("a `..` component would leave the tree".into()),
            _ => {}
        }
    }
    match f.mode & 0o170000 {
        0o020000 | 0o060000 => return Err("a device node".into()),
        0o140000 => return Err("a socket".into()),
        0o120000 => {
            let parent = rel.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
            if f.link_to.is_empty() {
                return Err("a symlink with an empty target".into());
            }
            if climbs_out(parent, &f.link_to) {
                return Err(format!(
                    "a symlink to `{}` points outside the tree",
                    f.link_to
                ));
            }
        }
        _ => {}
    }
    Ok(())
}

/// Whether `target`, read from the directory `dir` (relative to the tree
/// root), climbs above the root. Absolute targets start at the root.
fn climbs_out(dir: &str, target: &str) -> bool {
    let mut depth: i64 = if target.starts_with('/') {
        0
    } else {
        dir.split('/').filter(|c| !c.is_empty()).count() as i64
    };
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                depth -= 1;
                if depth < 0 {
                    return true;
                }
            }
            _ => depth += 1,
        }
    }
    false
}

fn run_rpm(root: &Path, rpms: &[&Path], opts: &Options) -> Result<()> {
    let mut args = super::rpmdb::args(root, &opts.dbpath, &opts.backend);
    args.extend(
        [
            "--define",
            "_pkgverify_level none",
            "--define",
            "_install_langs all",
            "-i",
            "--nodigest",
            "--nosignature",
            "--ignoresize",
            // The resolver chose the arch set; rpm need not agree with the
            // host (an aarch64 tree built on x86_64 runs its scriptlets
            // through qemu-user via binfmt_misc).
            "--ignorearch",
        ]
        .map(String::from),
    );
    // Debian's rpm refuses to run on a dpkg system without this flag.
    if Path::new("/var/lib/dpkg/status").exists() {
        args.push("--force-debian".into());
    }
    args.extend(rpms.iter().map(|p| p.display().to_string()));
    let out = crate::tools::run_with_env(
        "rpm",
        &args,
        &[("SOURCE_DATE_EPOCH", opts.source_date_epoch.to_string())],
    )
    .context("installing packages with rpm")?;
    for line in String::from_utf8_lossy(&out.stderr).lines() {
        if line.contains("scriptlet failed") || line.starts_with("error:") {
            crate::report::info(format!("warning: rpm: {line}"));
        }
    }
    Ok(())
}

/// Removes what rpm leaves beside the database that differs run to run
/// (lock file, SQLite shared memory, the empty write-ahead log).
pub fn tidy_db(db: &Path) -> Result<()> {
    for f in [".rpm.lock", "rpmdb.sqlite-shm"] {
        let p = db.join(f);
        if p.exists() {
            std::fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))?;
        }
    }
    let wal = db.join("rpmdb.sqlite-wal");
    if wal.metadata().map(|m| m.len() == 0).unwrap_or(false) {
        std::fs::remove_file(&wal)?;
    }
    Ok(())
}

/// The database must list exactly the packages we asked for.
fn check_installed(root: &Path, opts: &Options, pkgs: &[Installed]) -> Result<()> {
    let mut args = super::rpmdb::args(root, &opts.dbpath, &opts.backend);
    args.extend(
        [
            "-qa",
            "--qf",
            "%{NAME}-%{EPOCHNUM}:%{VERSION}-%{RELEASE}.%{ARCH}\\n",
        ]
        .map(String::from),
    );
    let out = crate::tools::run("rpm", &args)?;
    let have: BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with("gpg-pubkey-"))
        .map(str::to_string)
        .collect();
    let want: BTreeSet<String> = pkgs
        .iter()
        .map(|p| {
            let h = &p.header;
            format!(
                "{}-{}:{}-{}.{}",
                h.name(),
                h.ints(rpmhdr::tag::EPOCH).first().copied().unwrap_or(0),
                h.string(rpmhdr::tag::VERSION).unwrap_or(""),
                h.string(rpmhdr::tag::RELEASE).unwrap_or(""),
                h.string(rpmhdr::tag::ARCH).unwrap_or("")
            )
        })
        .collect();
    // Onto a base, the database also lists the base's packages.
    let extra_ok = opts.onto_existing;
    if !want.is_subset(&have) || (!extra_ok && have != want) {
        let missing: Vec<_> = want.difference(&have).collect();
        let extra: Vec<_> = have.difference(&want).collect();
        bail!(
            "the tree's rpmdb does not match the transaction: missing {missing:?}, extra {extra:?}"
        );
    }
    Ok(())
}

/// Device nodes made for the scriptlets' sake; removed before the tree
/// becomes an artifact.
struct DevNodes {
    made: Vec<PathBuf>,
}

impl DevNodes {
    fn create(root: &Path) -> Result<DevNodes> {
        let dev = root.join("dev");
        std::fs::create_dir_all(&dev)?;
        let mut made = Vec::new();
        for (name, major, minor) in DEV_NODES {
            let p = dev.join(name);
            let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes())?;
            // SAFETY: a valid NUL-terminated path; mknod has no other inputs.
            let rc = unsafe {
                libc::mknod(
                    c.as_ptr(),
                    libc::S_IFCHR | 0o666,
                    libc::makedev(major, minor),
                )
            };
            if rc != 0 {
                let e = std::io::Error::last_os_error();
                for m in &made {
                    let _ = std::fs::remove_file(m);
                }
                return Err(e).with_context(|| format!("creating device node {}", p.display()));
            }
            made.push(p);
        }
        Ok(DevNodes { made })
    }

    fn remove(self) -> Result<()> {
        use std::os::unix::fs::FileTypeExt;
        for p in &self.made {
            match std::fs::symlink_metadata(p) {
                Ok(m) if m.file_type().is_char_device() => std::fs::remove_file(p)?,
                _ => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, mode: u32, link: &str) -> FileEntry {
        FileEntry {
            path: path.into(),
            mode,
            link_to: link.into(),
        }
    }

    #[test]
    fn hostile_entries_are_refused() {
        let table = [
            (entry("/usr/bin/x", 0o100755, ""), None),
            (entry("usr/bin/x", 0o100755, ""), Some("absolute")),
            (entry("/usr/../../etc/x", 0o100644, ""), Some("..")),
            (entry("/usr//x", 0o100644, ""), Some("normalized")),
            (entry("/dev/sda", 0o060660, ""), Some("device")),
            (entry("/dev/mem", 0o020660, ""), Some("device")),
            (entry("/run/s", 0o140777, ""), Some("socket")),
            (entry("/lib64/ld.so", 0o120777, "/lib/x86_64/ld.so"), None),
            (entry("/usr/lib/a", 0o120777, "../../etc/a"), None),
            (
                entry("/usr/lib/a", 0o120777, "../../../etc/shadow"),
                Some("outside"),
            ),
            (entry("/a", 0o120777, "/../../etc"), Some("outside")),
            (entry("/a", 0o120777, ""), Some("empty")),
            (entry("/var/run", 0o120777, "../run"), None),
        ];
        for (e, want) in table {
            match (check_entry(&e), want) {
                (Ok(()), None) => {}
                (Err(why), Some(w)) => assert!(why.contains(w), "{}: {why}", e.path),
                (got, want) => panic!("{}: got {got:?}, want {want:?}", e.path),
            }
        }
    }
}
