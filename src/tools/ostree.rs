//! Typed wrappers for the `ostree` CLI steps a disk deployed from a bootc
//! image needs: a sysroot (`admin init-fs`, `admin os-init`), repository
//! configuration, a commit with a fixed timestamp and metadata, refs, and
//! `admin deploy` with an origin file and kernel arguments. The argv is
//! built by pure functions (table tests below); `run` puts the command
//! and its stderr into any error.
//!
//! Which `ostree` runs is a [`Tool`]: the host's, or the image's own,
//! chrooted into a root that holds the image's `/usr` (as bootc-image-
//! builder and coreos-assembler run the target's tools), so the ostree
//! version that boots the machine is the one that wrote its sysroot. The
//! chrooted tool runs under `unshare` in a private mount and PID
//! namespace: `/proc`, `/sys` (read-only), a small `/dev` and a tmpfs
//! `/run` are mounted in the tool root, and one directory holding
//! everything the tool touches (the unpacked image, the sysroot, the
//! origin file) is bound at [`BIND_AT`]. One bind for all of them keeps
//! `commit --consume` a rename (a rename across two mounts fails with
//! EXDEV even on one filesystem). The mounts exist only in that
//! namespace: when the tool exits or image-builder is killed, the kernel
//! drops them; nothing is ever mounted on the host.

use anyhow::{bail, Context, Result};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Where the shared work directory appears inside a chrooted tool root.
pub const BIND_AT: &str = "/run/image-builder";

/// Exit status of the setup shell when a mount failed.
const SETUP_FAILED: i32 = 125;

/// The setup shell (host `sh`, inside the new namespaces). Arguments:
/// ROOT WORK PROGRAM ARGS…; only positional parameters are expanded.
const SETUP: &str = concat!(
    r#"r=$1; w=$2; shift 2
fail() { echo "image-builder ostree: $*" >&2; exit 125; }
"#,
    super::sandbox::api_mounts!(),
    r#"mkdir -p "$r/run/image-builder" && mount --bind "$w" "$r/run/image-builder" ||
  fail "binding the work directory"
exec chroot "$r" "$@" < /dev/null
"#
);

/// The `ostree` that writes the sysroot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tool {
    /// The host's `ostree` on PATH.
    Host,
    /// The image's `/usr/bin/ostree`, chrooted into `root` (a tree holding
    /// the image's `/usr`), with `work` bound at [`BIND_AT`]: every path
    /// given to the tool must be under `work`.
    Image { root: PathBuf, work: PathBuf },
}

impl Tool {
    /// `p` as the tool sees it.
    pub fn path(&self, p: &Path) -> Result<PathBuf> {
        match self {
            Tool::Host => Ok(p.to_path_buf()),
            Tool::Image { work, .. } => {
                let rel = p.strip_prefix(work).with_context(|| {
                    format!(
                        "{} is outside {}, which the chrooted ostree sees",
                        p.display(),
                        work.display()
                    )
                })?;
                Ok(Path::new(BIND_AT).join(rel))
            }
        }
    }

    /// (program, argv) that runs `ostree ARGS` with this tool.
    pub fn command(&self, args: &[String]) -> (&'static str, Vec<OsString>) {
        match self {
            Tool::Host => ("ostree", args.iter().map(OsString::from).collect()),
            Tool::Image { root, work } => {
                let mut v: Vec<OsString> = super::sandbox::UNSHARE_FLAGS
                    .iter()
                    .chain(&["--", "sh", "-c", SETUP, "image-builder-ostree"])
                    .map(OsString::from)
                    .collect();
                v.push(root.as_os_str().to_os_string());
                v.push(work.as_os_str().to_os_string());
                v.push("/usr/bin/ostree".into());
                v.extend(args.iter().map(OsString::from));
                ("unshare", v)
            }
        }
    }

    /// Runs `ostree ARGS`; the output on success.
    pub fn run(&self, args: &[String]) -> Result<super::Output> {
        let (program, argv) = self.command(args);
        super::run(program, &argv).map_err(|e| {
            if format!("{e:#}").contains("image-builder ostree: ") {
                e.context(format!(
                    "setting up the namespace for the image's ostree (exit {SETUP_FAILED})"
                ))
            } else {
                e
            }
        })
    }

    /// The tool's libostree version (`ostree --version`'s `Version:`).
    pub fn version(&self) -> Result<String> {
        let o = self.run(&["--version".to_string()])?;
        parse_version(&String::from_utf8_lossy(&o.stdout))
    }

    /// "the image's ostree 2022.7 (chrooted)" or "the host's ostree 2022.7".
    pub fn describe(&self, version: &str) -> String {
        match self {
            Tool::Host => format!("the host's ostree {version}"),
            Tool::Image { .. } => format!("the image's ostree {version} (chrooted)"),
        }
    }
}

/// The `Version:` line of `ostree --version` (YAML-ish, quoted).
pub fn parse_version(out: &str) -> Result<String> {
    out.lines()
        .find_map(|l| l.trim().strip_prefix("Version:"))
        .map(|v| v.trim().trim_matches(['\'', '"']).to_string())
        .filter(|v| !v.is_empty())
        .with_context(|| format!("ostree --version printed no version: {:?}", out.trim()))
}

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

pub fn init_fs(t: &Tool, sysroot: &Path) -> Result<()> {
    t.run(&init_fs_args(&t.path(sysroot)?))?;
    Ok(())
}

pub fn os_init(t: &Tool, sysroot: &Path, stateroot: &str) -> Result<()> {
    t.run(&os_init_args(&t.path(sysroot)?, stateroot))?;
    Ok(())
}

pub fn config_set(t: &Tool, repo: &Path, key: &str, value: &str) -> Result<()> {
    t.run(&config_set_args(&t.path(repo)?, key, value))?;
    Ok(())
}

/// Commits and returns the checksum `ostree commit` prints.
pub fn commit(t: &Tool, c: &Commit) -> Result<String> {
    let (repo, tree) = (t.path(c.repo)?, t.path(c.tree)?);
    let o = t.run(&commit_args(&Commit {
        repo: &repo,
        tree: &tree,
        ..*c
    }))?;
    parse_checksum(&String::from_utf8_lossy(&o.stdout))
}

/// `ostree refs --repo=R --create=REF CHECKSUM`.
pub fn ref_create_args(repo: &Path, name: &str, checksum: &str) -> Vec<String> {
    vec![
        "refs".into(),
        arg("--repo", repo),
        format!("--create={name}"),
        checksum.into(),
    ]
}

pub fn ref_create(t: &Tool, repo: &Path, name: &str, checksum: &str) -> Result<()> {
    t.run(&ref_create_args(&t.path(repo)?, name, checksum))?;
    Ok(())
}

pub fn deploy(t: &Tool, d: &Deploy) -> Result<()> {
    let (sysroot, origin) = (t.path(d.sysroot)?, t.path(d.origin_file)?);
    t.run(&deploy_args(&Deploy {
        sysroot: &sysroot,
        origin_file: &origin,
        ..*d
    }))?;
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
    fn chrooted_tool() {
        let t = Tool::Image {
            root: PathBuf::from("/w/tools"),
            work: PathBuf::from("/w"),
        };
        assert_eq!(
            t.path(Path::new("/w/disk/sysroot")).unwrap(),
            Path::new("/run/image-builder/disk/sysroot")
        );
        assert!(t.path(Path::new("/elsewhere")).is_err());
        assert_eq!(Tool::Host.path(Path::new("/x")).unwrap(), Path::new("/x"));
        let (p, argv) = t.command(&["--version".to_string()]);
        assert_eq!(p, "unshare");
        let argv: Vec<String> = argv
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .filter(|a| a != SETUP)
            .collect();
        assert_eq!(
            argv,
            [
                "--mount",
                "--propagation",
                "private",
                "--pid",
                "--fork",
                "--kill-child",
                "--",
                "sh",
                "-c",
                "image-builder-ostree",
                "/w/tools",
                "/w",
                "/usr/bin/ostree",
                "--version"
            ]
        );
        assert!(SETUP.contains(BIND_AT));
        let (p, argv) = Tool::Host.command(&["refs".to_string()]);
        assert_eq!((p, argv), ("ostree", vec![OsString::from("refs")]));
        assert_eq!(
            ref_create_args(Path::new("/r"), "a/b", "c"),
            ["refs", "--repo=/r", "--create=a/b", "c"]
        );
    }

    #[test]
    fn versions() {
        let out = "libostree:\n Version: '2022.7'\n Git: 1\n Features:\n  - libcurl\n";
        assert_eq!(parse_version(out).unwrap(), "2022.7");
        assert!(parse_version("nothing").is_err());
    }

    #[test]
    fn checksums() {
        let c = "ab".repeat(32);
        assert_eq!(parse_checksum(&format!("{c}\n")).unwrap(), c);
        assert!(parse_checksum("error").is_err());
        assert!(parse_checksum(&"AB".repeat(32)).is_err());
    }
}
