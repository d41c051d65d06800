//! Work directories that say whose they are. A build killed with SIGKILL
//! leaves its work directory behind (hundreds of MB in the output
//! directory, sometimes with ostree's immutable flag set); nothing could
//! tell a dead build's directory from a running one's. Each work
//! directory now holds `.owner` (the owner's pid, for people) locked with
//! `flock` for the owner's lifetime: the kernel drops the lock when the
//! owner dies, however it dies, so the next run (and `cache prune`) can
//! reclaim exactly the directories nobody holds.

use anyhow::{Context, Result};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

const OWNER: &str = ".owner";

/// A directory without `.owner` (one made by an older version, or caught
/// between its creation and its lock) is reclaimed only when this old.
const UNOWNED_GRACE: std::time::Duration = std::time::Duration::from_secs(3600);

/// A locked work directory, removed when dropped.
pub struct WorkDir {
    dir: tempfile::TempDir,
    _lock: std::fs::File,
}

impl WorkDir {
    /// Makes `PARENT/PREFIXxxxxxx` and locks it.
    pub fn create(parent: &Path, prefix: &str) -> Result<WorkDir> {
        let dir = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir_in(parent)
            .with_context(|| format!("making a work directory in {}", parent.display()))?;
        let p = dir.path().join(OWNER);
        let f = std::fs::File::create(&p).with_context(|| format!("creating {}", p.display()))?;
        if !try_lock(&f) {
            anyhow::bail!("{} is locked by another process", p.display());
        }
        std::fs::write(&p, format!("{}\n", std::process::id()))
            .with_context(|| format!("writing {}", p.display()))?;
        Ok(WorkDir { dir, _lock: f })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Opens (creating) `path` and waits for an exclusive lock on it, held
/// until the file is dropped: serializes writers of one cache directory
/// across processes.
pub fn exclusive(path: &Path) -> Result<std::fs::File> {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    // SAFETY: the descriptor is open for the duration of the call.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("locking {}", path.display()));
    }
    Ok(f)
}

fn try_lock(f: &std::fs::File) -> bool {
    // SAFETY: the descriptor is open for the duration of the call.
    unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

/// Is `dir` a work directory whose owner is gone?
fn stale(dir: &Path) -> bool {
    match std::fs::OpenOptions::new()
        .write(true)
        .open(dir.join(OWNER))
    {
        // Locked by us now means nobody else holds it; the lock goes away
        // with the descriptor at the end of this function.
        Ok(f) => try_lock(&f),
        Err(_) => std::fs::metadata(dir)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > UNOWNED_GRACE),
    }
}

/// Removes the stale work directories named `PREFIX*` in `parent`;
/// returns what it removed (and the bytes freed).
pub fn reclaim(parent: &Path, prefix: &str) -> Vec<(PathBuf, u64)> {
    let Ok(rd) = std::fs::read_dir(parent) else {
        return vec![];
    };
    let mut gone = vec![];
    let mut dirs: Vec<PathBuf> = rd
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .map(|e| e.path())
        .collect();
    dirs.sort();
    for d in dirs {
        if !stale(&d) {
            continue;
        }
        let bytes = size(&d);
        if remove(&d).is_ok() {
            gone.push((d, bytes));
        }
    }
    gone
}

fn size(p: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(p) else {
        return 0;
    };
    rd.flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => size(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}

/// `rm -rf`, clearing the immutable flag ostree sets on deployments when
/// a plain removal is refused.
pub fn remove(d: &Path) -> std::io::Result<()> {
    if std::fs::remove_dir_all(d).is_ok() {
        return Ok(());
    }
    clear_all(d);
    std::fs::remove_dir_all(d)
}

fn clear_all(d: &Path) {
    let _ = super::attr::clear_immutable(d);
    if let Ok(rd) = std::fs::read_dir(d) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                clear_all(&e.path());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_directories_stay_and_dead_ones_go() {
        let parent = tempfile::tempdir().unwrap();
        let live = WorkDir::create(parent.path(), ".ib.").unwrap();
        // A dead owner's directory: `.owner` exists, nobody holds it.
        let dead = parent.path().join(".ib.dead");
        std::fs::create_dir_all(dead.join("trees/root")).unwrap();
        std::fs::write(dead.join(OWNER), "4194303\n").unwrap();
        std::fs::write(dead.join("trees/root/file"), vec![0u8; 4096]).unwrap();
        // Unowned and fresh: could be a run between create and lock.
        let fresh = parent.path().join(".ib.fresh");
        std::fs::create_dir(&fresh).unwrap();
        // Another prefix is not ours to touch.
        let other = parent.path().join("keep.dead");
        std::fs::create_dir(&other).unwrap();
        std::fs::write(other.join(OWNER), "1\n").unwrap();

        let gone = reclaim(parent.path(), ".ib.");
        assert_eq!(gone.len(), 1, "{gone:?}");
        assert_eq!(gone[0].0, dead);
        assert!(gone[0].1 >= 4096);
        assert!(!dead.exists());
        assert!(live.path().is_dir() && fresh.is_dir() && other.is_dir());
        let p = live.path().to_path_buf();
        drop(live);
        assert!(!p.exists());
    }
}
