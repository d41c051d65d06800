//! The OSTree repository an `ostree` output holds, written by the host's
//! `ostree` CLI (libostree, the format's reference implementation) through
//! `tools`.
//!
//! Why the CLI and not the `ostree` crate: the CLI is the same libostree
//! (2022.7 on Debian 12) without a glib/gio binding tree to compile and
//! keep sound, every step we need (init, pull of a parent's metadata,
//! commit with a fixed timestamp, summary) is one command,
//! and a failure arrives as the tool's own message through `tools::run`.
//!
//! Reproducibility: a commit's checksum covers its tree, metadata, parent
//! and timestamp; the timestamp is SOURCE_DATE_EPOCH and the metadata is
//! fixed, so one lockfile gives one checksum. libostree stamps the summary
//! with the wall clock (`ostree.summary.last-modified`) and 2022.7 has no
//! way to set it, so `summary` rewrites that one big-endian u64 to
//! SOURCE_DATE_EPOCH before the summary is signed (by `sign`, not by
//! libostree, which would regenerate it).

use super::sign::{self, GpgSigner};
use crate::tools;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// A repository being written.
pub struct Repo {
    pub path: PathBuf,
}

/// What `commit` records besides the tree.
pub struct Commit<'a> {
    pub tree: &'a Path,
    pub reference: &'a str,
    pub parent: Option<&'a str>,
    pub timestamp: i64,
    pub subject: &'a str,
    pub version: &'a str,
}

fn repo_arg(p: &Path) -> String {
    format!("--repo={}", p.display())
}

impl Repo {
    /// A new `archive` repository (the mode served over HTTP).
    pub fn init(path: &Path) -> Result<Repo> {
        tools::run("ostree", &["init", "--mode=archive", &repo_arg(path)])?;
        Ok(Repo {
            path: path.to_path_buf(),
        })
    }

    /// Pulls the metadata of commit or ref `rev` at `url` and returns the
    /// commit checksum. The remote is removed again: the output repo
    /// holds the parent commit, not a configured origin.
    pub fn pull_parent(&self, url: &str, rev: &str) -> Result<String> {
        let r = repo_arg(&self.path);
        tools::run(
            "ostree",
            &[
                "remote",
                "add",
                &r,
                "--no-gpg-verify",
                "image-builder-parent",
                url,
            ],
        )?;
        let pulled = tools::run(
            "ostree",
            &[
                "pull",
                &r,
                "--commit-metadata-only",
                "--depth=0",
                "image-builder-parent",
                rev,
            ],
        )
        .with_context(|| format!("fetching the parent commit {rev} from {url}"));
        let checksum = pulled.and_then(|_| {
            let spec = if is_checksum(rev) {
                rev.to_string()
            } else {
                format!("image-builder-parent:{rev}")
            };
            let o = tools::run("ostree", &["rev-parse", &r, &spec])?;
            Ok(String::from_utf8_lossy(&o.stdout).trim().to_string())
        });
        tools::run("ostree", &["remote", "delete", &r, "image-builder-parent"])?;
        let remote_refs = self.path.join("refs/remotes/image-builder-parent");
        if remote_refs.exists() {
            std::fs::remove_dir_all(&remote_refs)
                .with_context(|| format!("removing {}", remote_refs.display()))?;
        }
        let checksum = checksum?;
        if !is_checksum(&checksum) {
            bail!("ostree rev-parse gave {checksum:?} for the parent {rev}");
        }
        Ok(checksum)
    }

    /// Signs commit `checksum`: its detached signature in the object's
    /// `.commitmeta`, where libostree looks for it.
    pub fn sign_commit(&self, checksum: &str, signer: &GpgSigner, epoch: i64) -> Result<()> {
        let obj = self
            .path
            .join("objects")
            .join(&checksum[..2])
            .join(&checksum[2..]);
        let commit = obj.with_extension("commit");
        let sig = signer.detached(&commit, epoch)?;
        let meta = obj.with_extension("commitmeta");
        std::fs::write(&meta, sign::gpgsigs_variant(&[sig]))
            .with_context(|| format!("writing {}", meta.display()))
    }

    /// Commits `c.tree` on `c.reference`; returns the commit checksum.
    pub fn commit(&self, c: &Commit) -> Result<String> {
        let args = vec![
            "commit".to_string(),
            repo_arg(&self.path),
            format!("--branch={}", c.reference),
            format!("--tree=dir={}", c.tree.display()),
            format!("--timestamp=@{}", c.timestamp),
            format!("--subject={}", c.subject),
            format!("--add-metadata-string=version={}", c.version),
            "--bootable".to_string(),
            format!("--parent={}", c.parent.unwrap_or("none")),
        ];
        let o = tools::run("ostree", &args)?;
        let checksum = String::from_utf8_lossy(&o.stdout).trim().to_string();
        if !is_checksum(&checksum) {
            bail!("ostree commit printed {checksum:?}, not a checksum");
        }
        Ok(checksum)
    }

    /// Writes the summary (refs and their commits, for clients), with
    /// its time set to `epoch`, then signs it when a signer is given.
    pub fn summary(&self, epoch: i64, signer: Option<&GpgSigner>) -> Result<()> {
        let r = repo_arg(&self.path);
        let before = now();
        tools::run("ostree", &["summary", &r, "--update"])?;
        let after = now();
        let p = self.path.join("summary");
        let mut bytes = std::fs::read(&p).with_context(|| format!("reading {}", p.display()))?;
        set_last_modified(&mut bytes, before, after, epoch)?;
        std::fs::write(&p, &bytes).with_context(|| format!("writing {}", p.display()))?;
        if let Some(s) = signer {
            let sig = s.detached(&p, epoch)?;
            let sigfile = self.path.join("summary.sig");
            std::fs::write(&sigfile, sign::gpgsigs_variant(&[sig]))
                .with_context(|| format!("writing {}", sigfile.display()))?;
        }
        Ok(())
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Replaces the big-endian u64 that libostree wrote as the summary's
/// last-modified time (a value between `before` and `after`, found after
/// the key's name) with `epoch`.
fn set_last_modified(bytes: &mut [u8], before: u64, after: u64, epoch: i64) -> Result<()> {
    const KEY: &[u8] = b"ostree.summary.last-modified\0";
    let Some(k) = bytes.windows(KEY.len()).position(|w| w == KEY) else {
        bail!("the summary has no ostree.summary.last-modified");
    };
    let start = k + KEY.len();
    let end = (start + 16).min(bytes.len().saturating_sub(8));
    for i in start..=end {
        let v = u64::from_be_bytes(bytes[i..i + 8].try_into().expect("8 bytes"));
        if (before..=after).contains(&v) {
            bytes[i..i + 8].copy_from_slice(&(epoch.max(0) as u64).to_be_bytes());
            return Ok(());
        }
    }
    bail!("the summary's last-modified time is not where libostree 2022.7 puts it")
}

fn is_checksum(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_modified_is_found_after_its_key() {
        let mut b = b"xxxxostree.summary.last-modified\0\0\0\0".to_vec();
        b.extend_from_slice(&1_800_000_000u64.to_be_bytes());
        b.extend_from_slice(b"\0t");
        set_last_modified(&mut b, 1_799_999_999, 1_800_000_001, 1_700_000_000).unwrap();
        assert!(b.windows(8).any(|w| w == 1_700_000_000u64.to_be_bytes()));
        assert!(set_last_modified(&mut b, 1, 2, 3).is_err());
        assert!(set_last_modified(&mut b"nothing".to_vec(), 1, 2, 3).is_err());
    }
}
