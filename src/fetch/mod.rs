//! Fetch: downloads into a versioned, content-addressed cache.
//!
//! STUB — being written (see the fetch helper's brief). The API below is
//! the contract the resolver and `build` code against.

use anyhow::Result;
use std::path::{Path, PathBuf};

/// A checksum as repo metadata states it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Checksum {
    /// `sha256`, `sha512`, `sha384`, `sha224` or `sha1` (`sha` means sha1).
    pub kind: String,
    /// Lowercase hex.
    pub hex: String,
}

/// The cache root and its versioned parts.
#[derive(Debug, Clone)]
pub struct Cache {
    pub root: PathBuf,
}

impl Cache {
    /// `dir`, else `$XDG_CACHE_HOME/image-builder`, else
    /// `~/.cache/image-builder`; created if missing.
    pub fn open(dir: Option<&Path>) -> Result<Cache> {
        let root = match dir {
            Some(d) => d.to_path_buf(),
            None => match std::env::var_os("XDG_CACHE_HOME") {
                Some(x) if !x.is_empty() => PathBuf::from(x).join("image-builder"),
                _ => PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()))
                    .join(".cache/image-builder"),
            },
        };
        std::fs::create_dir_all(&root)?;
        Ok(Cache { root })
    }

    /// Repository metadata lives under here (`repodata-v1/`).
    pub fn metadata_dir(&self) -> PathBuf {
        self.root.join("repodata-v1")
    }
}

/// One package to download.
#[derive(Debug, Clone)]
pub struct Item {
    /// NEVRA, for messages.
    pub name: String,
    /// Full URLs in mirror order (first tried first).
    pub urls: Vec<String>,
    pub checksum: Checksum,
    pub size: Option<u64>,
    /// Armored public key files the package must be signed with; `None`
    /// when the repo says `gpgcheck = false`.
    pub keys: Option<Vec<PathBuf>>,
}
