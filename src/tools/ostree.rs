//! Typed wrappers for the `ostree` CLI steps a disk deployed from a bootc
//! image needs: a sysroot (`admin init-fs`, `admin os-init`), repository
//! configuration, a commit with a fixed timestamp and metadata, and
//! `admin deploy` with an origin file and kernel arguments. The argv is
//! built by pure functions (table tests below); `run` puts the command
//! and its stderr into any error.
//!
//! The host's `ostree` runs them (libostree 2022.7 on Debian 12). bootc
//! and bootc-image-builder run the image's own bootc/ostree chrooted so
//! the version that boots the machine writes its sysroot; on the fixture
//! both are Debian's 2022.7, and running a chrooted tool needs the sysroot
//! bind-mounted into the image (a mount namespace), which this step does
//! not take yet. See `artifact::ostree::sysroot`.

use anyhow::{bail, Result};
use std::path::Path;

fn arg(flag: &str, p: &Path) -> String {
    format!("{flag}={}", p.display())
}

/// `ostree admin init-fs --modern SYSROOT`: the sysroot skeleton (a
/// `bare` repository in `ostree/repo`, `boot`, `ostree/deploy`).
pub fn init_fs_args(sysroot: &Path) -> Vec<String> {
    vec![
        "admin".into(),
        "init-fs".into(),
        "--modern".into(),
        sysroot.display().to_string(),
    ]
}

/// `ostree admin os-init --sysroot=S STATEROOT`.
pub fn os_init_args(sysroot: &Path, stateroot: &str) -> Vec<String> {
    vec![
        "admin".into(),
        "os-init".into(),
        arg("--sysroot", sysroot),
        stateroot.into(),
    ]
}

/// `ostree config --repo=R set KEY VALUE`.
pub fn config_set_args(repo: &Path, key: &str, value: &str) -> Vec<String> {
    vec![
        "config".into(),
        arg("--repo", repo),
        "set".into(),
        key.into(),
        value.into(),
    ]
}

/// One commit of a directory, which the commit consumes (it is left
/// empty or gone).
pub struct Commit<'a> {
    pub repo: &'a Path,
    pub branch: &'a str,
    pub tree: &'a Path,
    /// Seconds since 1970 (SOURCE_DATE_EPOCH).
    pub timestamp: i64,
    pub subject: &'a str,
    /// `--add-metadata-string` pairs, in order.
    pub metadata: &'a [(&'a str, String)],
}

pub fn commit_args(c: &Commit) -> Vec<String> {
    let mut v = vec![
        "commit".to_string(),
        arg("--repo", c.repo),
        format!("--branch={}", c.branch),
        format!("--tree=dir={}", c.tree.display()),
        format!("--timestamp=@{}", c.timestamp),
        format!("--subject={}", c.subject),
        "--bootable".into(),
        // The tree is scratch (the deployment is checked out of the
        // repository), so its files move into the repository instead of
        // being copied; and the repository is staged for a disk image that
        // is flushed as a whole when finished, so no fsync per object.
        "--consume".into(),
        "--fsync=false".into(),
    ];
    for (k, val) in c.metadata {
        v.push(format!("--add-metadata-string={k}={val}"));
    }
    v
}

/// `ostree admin deploy`: a deployment of `rev` in `stateroot`.
pub struct Deploy<'a> {
    pub sysroot: &'a Path,
    pub stateroot: &'a str,
    pub origin_file: &'a Path,
    pub kargs: &'a [String],
    pub rev: &'a str,
}

pub fn deploy_args(d: &Deploy) -> Vec<String> {
    let mut v = vec![
        "admin".to_string(),
        "deploy".into(),
        arg("--sysroot", d.sysroot),
        format!("--os={}", d.stateroot),
        arg("--origin-file", d.origin_file),
    ];
    for k in d.kargs {
        v.push(format!("--karg={k}"));
    }
    v.push(d.rev.into());
    v
}

pub fn init_fs(sysroot: &Path) -> Result<()> {
    super::run("ostree", &init_fs_args(sysroot))?;
    Ok(())
}

pub fn os_init(sysroot: &Path, stateroot: &str) -> Result<()> {
    super::run("ostree", &os_init_args(sysroot, stateroot))?;
    Ok(())
}

pub fn config_set(repo: &Path, key: &str, value: &str) -> Result<()> {
    super::run("ostree", &config_set_args(repo, key, value))?;
    Ok(())
}

/// Commits and returns the checksum `ostree commit` prints.
pub fn commit(c: &Commit) -> Result<String> {
    let o = super::run("ostree", &commit_args(c))?;
    parse_checksum(&String::from_utf8_lossy(&o.stdout))
}

pub fn deploy(d: &Deploy) -> Result<()> {
    super::run("ostree", &deploy_args(d))?;
    Ok(())
}

/// The one checksum a command printed.
pub fn parse_checksum(out: &str) -> Result<String> {
    let c = out.trim();
    if c.len() == 64 && c.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(c.to_string())
    } else {
        bail!("ostree printed {c:?}, not a checksum")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv() {
        let s = Path::new("/w/sysroot");
        assert_eq!(
            init_fs_args(s),
            ["admin", "init-fs", "--modern", "/w/sysroot"]
        );
        assert_eq!(
            os_init_args(s, "default"),
            ["admin", "os-init", "--sysroot=/w/sysroot", "default"]
        );
        assert_eq!(
            config_set_args(Path::new("/r"), "sysroot.bootloader", "none"),
            ["config", "--repo=/r", "set", "sysroot.bootloader", "none"]
        );
        let meta = [("version", "1".to_string())];
        assert_eq!(
            commit_args(&Commit {
                repo: Path::new("/r"),
                branch: "b/x",
                tree: Path::new("/t"),
                timestamp: 7,
                subject: "s t",
                metadata: &meta,
            }),
            [
                "commit",
                "--repo=/r",
                "--branch=b/x",
                "--tree=dir=/t",
                "--timestamp=@7",
                "--subject=s t",
                "--bootable",
                "--consume",
                "--fsync=false",
                "--add-metadata-string=version=1"
            ]
        );
        let kargs = ["root=UUID=x".to_string(), "rw".to_string()];
        assert_eq!(
            deploy_args(&Deploy {
                sysroot: s,
                stateroot: "default",
                origin_file: Path::new("/w/o"),
                kargs: &kargs,
                rev: "abc",
            }),
            [
                "admin",
                "deploy",
                "--sysroot=/w/sysroot",
                "--os=default",
                "--origin-file=/w/o",
                "--karg=root=UUID=x",
                "--karg=rw",
                "abc"
            ]
        );
    }

    #[test]
    fn checksums() {
        let c = "ab".repeat(32);
        assert_eq!(parse_checksum(&format!("{c}\n")).unwrap(), c);
        assert!(parse_checksum("error").is_err());
        assert!(parse_checksum(&"AB".repeat(32)).is_err());
    }
}
