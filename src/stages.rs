//! The content-addressed stage store (`$CACHE/stages-v1/`): finished
//! stages of earlier builds, keyed by everything the stage read, so a
//! rebuild that changes nothing a stage depends on copies its result
//! instead of running it again. osbuild keeps pipeline trees the same way;
//! mkosi's `Incremental=` keeps one cached image per configuration.
//!
//! A key is the sha256 of the stage's kind and a JSON value of its inputs
//! (the caller lists them: package checksums, options, the tool version).
//! An entry is `KIND/KEY/` holding `data/` (what the stage made) and
//! `meta.json` (the inputs, for people, and the size); it becomes visible
//! only complete: it is filled in a locked work directory under `tmp/` and
//! renamed into place, so a killed build leaves no entry (and its work
//! directory is reclaimed like any other). Two builds inserting the same
//! key race harmlessly: the second rename finds the entry and drops its
//! copy. An entry is used by copying `data/` out (`cp --reflink=auto`:
//! free on XFS/btrfs, a plain copy elsewhere), never in place, because
//! every later stage changes the tree it is given. Hard links would share
//! inodes with the entry and let a later stage's in-place edit corrupt it.
//!
//! LRU: a hit touches `meta.json`; `cache prune --max-size` removes the
//! least recently used entries until the store fits.

use anyhow::{Context, Result};
use sha2::Digest;
use std::path::{Path, PathBuf};

/// A stage's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub kind: &'static str,
    pub hex: String,
    inputs: serde_json::Value,
}

impl Key {
    pub fn new(kind: &'static str, inputs: serde_json::Value) -> Key {
        let mut h = sha2::Sha256::new();
        h.update(kind.as_bytes());
        h.update([0]);
        // serde_json writes object keys sorted (no preserve_order): the
        // same inputs always hash the same.
        h.update(inputs.to_string().as_bytes());
        Key {
            kind,
            hex: hex::encode(h.finalize()),
            inputs,
        }
    }
}

/// The store under a cache root; a disabled store (`--no-cache`) misses
/// every lookup and keeps nothing.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
    enabled: bool,
}

/// Where the store lives under a cache root.
pub fn dir(cache_root: &Path) -> PathBuf {
    cache_root.join("stages-v1")
}

impl Store {
    pub fn open(cache_root: &Path, enabled: bool) -> Store {
        Store {
            root: dir(cache_root),
            enabled,
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    fn entry(&self, k: &Key) -> PathBuf {
        self.root.join(k.kind).join(&k.hex)
    }

    /// The entry's `data/` when `k` is stored.
    pub fn lookup(&self, k: &Key) -> Option<PathBuf> {
        if !self.enabled {
            return None;
        }
        let e = self.entry(k);
        let meta = e.join("meta.json");
        if !meta.is_file() {
            return None;
        }
        // Recently used: prune keeps it longer.
        let _ = std::fs::File::options()
            .append(true)
            .open(&meta)
            .and_then(|f| f.set_modified(std::time::SystemTime::now()));
        Some(e.join("data"))
    }

    /// Stores what `fill` writes into the directory it is given (`data/`,
    /// which does not exist yet) under `k`.
    pub fn insert(&self, k: &Key, fill: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
        if !self.enabled {
            return Ok(());
        }
        let tmp = self.root.join("tmp");
        std::fs::create_dir_all(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let work = crate::sys::workdir::WorkDir::create(&tmp, WORK_PREFIX)?;
        let data = work.path().join("data");
        fill(&data)?;
        let meta = serde_json::json!({
            "kind": k.kind,
            "key": k.hex,
            "inputs": k.inputs,
            "bytes": du(&data),
        });
        std::fs::write(
            work.path().join("meta.json"),
            serde_json::to_vec_pretty(&meta)?,
        )?;
        let _ = std::fs::remove_file(work.path().join(".owner"));
        let dest = self.entry(k);
        std::fs::create_dir_all(dest.parent().expect("KIND/KEY"))?;
        match std::fs::rename(work.path(), &dest) {
            Ok(()) => Ok(()),
            // Another build stored the same key first: keep theirs.
            Err(_) if dest.join("meta.json").is_file() => Ok(()),
            Err(e) => Err(e).with_context(|| format!("storing {}", dest.display())),
        }
    }

    /// Every complete entry: (path, bytes, last used).
    pub fn entries(&self) -> Vec<(PathBuf, u64, std::time::SystemTime)> {
        let mut v = vec![];
        let Ok(kinds) = std::fs::read_dir(&self.root) else {
            return v;
        };
        for k in kinds.flatten() {
            if k.file_name() == "tmp" {
                continue;
            }
            for e in std::fs::read_dir(k.path()).into_iter().flatten().flatten() {
                let meta = e.path().join("meta.json");
                let Ok(m) = std::fs::metadata(&meta) else {
                    continue;
                };
                let bytes = std::fs::read(&meta)
                    .ok()
                    .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                    .and_then(|v| v["bytes"].as_u64())
                    .unwrap_or(0);
                v.push((
                    e.path(),
                    bytes,
                    m.modified().unwrap_or(std::time::UNIX_EPOCH),
                ));
            }
        }
        v.sort();
        v
    }

    /// Removes least recently used entries until the store holds at most
    /// `max` bytes; returns the bytes freed.
    pub fn prune(&self, max: u64) -> u64 {
        crate::sys::workdir::reclaim(&self.root.join("tmp"), WORK_PREFIX);
        let mut v = self.entries();
        let mut total: u64 = v.iter().map(|e| e.1).sum();
        v.sort_by_key(|e| e.2);
        let mut freed = 0;
        for (p, bytes, _) in v {
            if total <= max {
                break;
            }
            // Unlink the marker first: a half-removed entry is a miss.
            let _ = std::fs::remove_file(p.join("meta.json"));
            if std::fs::remove_dir_all(&p).is_ok() {
                total -= bytes;
                freed += bytes;
            }
        }
        freed
    }
}

const WORK_PREFIX: &str = "stage.";

fn du(p: &Path) -> u64 {
    let Ok(m) = std::fs::symlink_metadata(p) else {
        return 0;
    };
    if !m.is_dir() {
        return m.len();
    }
    std::fs::read_dir(p)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| du(&e.path()))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_depend_on_every_input_and_nothing_else() {
        let a = Key::new("installed", json!({"p": ["x", "y"], "o": 1}));
        let b = Key::new("installed", json!({"o": 1, "p": ["x", "y"]}));
        assert_eq!(a.hex, b.hex, "object order does not matter");
        assert_ne!(
            a.hex,
            Key::new("installed", json!({"p": ["y", "x"], "o": 1})).hex
        );
        assert_ne!(
            a.hex,
            Key::new("customized", json!({"p": ["x", "y"], "o": 1})).hex
        );
    }

    #[test]
    fn insert_lookup_prune() {
        let cache = tempfile::tempdir().unwrap();
        let s = Store::open(cache.path(), true);
        let k = Key::new("t", json!({"n": 1}));
        assert!(s.lookup(&k).is_none());
        s.insert(&k, |d| {
            std::fs::create_dir(d)?;
            Ok(std::fs::write(d.join("f"), vec![1u8; 1000])?)
        })
        .unwrap();
        let d = s.lookup(&k).unwrap();
        assert_eq!(std::fs::read(d.join("f")).unwrap().len(), 1000);
        // A failing fill leaves nothing visible.
        let bad = Key::new("t", json!({"n": 2}));
        assert!(s.insert(&bad, |_| anyhow::bail!("killed")).is_err());
        assert!(s.lookup(&bad).is_none());
        assert_eq!(s.entries().len(), 1);
        // Disabled: misses and keeps nothing.
        let off = Store::open(cache.path(), false);
        assert!(off.lookup(&k).is_none());
        assert_eq!(s.prune(10_000), 0);
        assert_eq!(s.prune(10), 1000);
        assert!(s.lookup(&k).is_none());
    }
}
