//! Fetch: packages into a versioned, content-addressed cache, each one
//! checksummed and then signature-checked before it becomes visible.
//!
//! Cache layout (`rpms-v1/`, bumped if the layout ever changes):
//! - `<sha256>.rpm` — a verified package, named by its content's sha256;
//! - `<sha256>.json` — its sidecar (NEVRA, signer key id), written before
//!   the `.rpm` is renamed into place, so an entry visible at its final
//!   name is always complete and verified;
//! - `by-checksum/<kind>-<hex>` — symlinks for repos whose checksums are
//!   not sha256;
//! - `unverified/` — packages from repos with `gpgcheck = false`, kept out
//!   of the verified namespace;
//! - `tmp/` — downloads in flight (one directory per run, removed after).

mod download;
pub mod sig;

use crate::progress::Progress;
use anyhow::{bail, Context, Result};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use download::hash_file;

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
        std::fs::create_dir_all(&root)
            .with_context(|| format!("creating cache {}", root.display()))?;
        Ok(Cache { root })
    }

    /// Repository metadata lives under here (`repodata-v1/`).
    pub fn metadata_dir(&self) -> PathBuf {
        self.root.join("repodata-v1")
    }

    /// Packages live under here (`rpms-v1/`).
    pub fn rpms_dir(&self) -> PathBuf {
        self.root.join("rpms-v1")
    }

    /// Where a verified package with this content sha256 lives.
    pub fn entry(&self, sha256: &str) -> PathBuf {
        self.rpms_dir().join(format!("{sha256}.rpm"))
    }

    /// An existing entry for a repo checksum, verified or not.
    fn lookup(&self, c: &Checksum, verified: bool) -> Option<PathBuf> {
        let base = if verified {
            self.rpms_dir()
        } else {
            self.rpms_dir().join("unverified")
        };
        let p = if c.kind == "sha256" {
            base.join(format!("{}.rpm", c.hex))
        } else {
            base.join("by-checksum")
                .join(format!("{}-{}", c.kind, c.hex))
        };
        p.canonicalize().ok().filter(|p| p.is_file())
    }
}

/// Downloads in flight live in `rpms-v1/tmp/run.*` (one locked work
/// directory per run).
pub const RUN_PREFIX: &str = "run.";

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

/// Knobs for downloads; tests shrink the backoff.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Retries per mirror for transient failures.
    pub retries: u32,
    /// First backoff; doubles per retry.
    pub backoff: Duration,
    /// Parallel downloads per mirror host.
    pub per_host: usize,
    /// Parallel downloads overall.
    pub total: usize,
    /// No bytes for this long: the attempt fails.
    pub read_timeout: Duration,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            retries: 3,
            backoff: Duration::from_millis(500),
            per_host: 4,
            total: 8,
            read_timeout: Duration::from_secs(60),
        }
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Sidecar {
    nevra: String,
    /// Short key id rpm reported, lowercase hex; empty when unverified.
    signer: String,
    repo_checksum: Checksum,
}

fn host_of(url: &str) -> String {
    url.split("://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap_or("")
        .to_string()
}

fn client(opts: &FetchOptions) -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .user_agent(concat!("image-builder/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(30))
        .read_timeout(opts.read_timeout)
        .build()?)
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

/// Downloads one file (repo metadata, a key) atomically to `dest`.
pub fn download_file(
    urls: &[String],
    dest: &Path,
    expected: Option<&Checksum>,
    opts: &FetchOptions,
) -> Result<()> {
    let part = dest.with_extension(format!("part.{}", std::process::id()));
    let rt = runtime()?;
    let c = client(opts)?;
    rt.block_on(download::fetch_one(
        &c,
        urls,
        &part,
        expected,
        None,
        opts,
        &crate::progress::NoProgress,
    ))?;
    std::fs::rename(&part, dest).with_context(|| format!("writing {}", dest.display()))
}

/// A small text body (mirrorlist, metalink).
pub fn fetch_text(urls: &[String], opts: &FetchOptions) -> Result<String> {
    let dir = tempfile::tempdir()?;
    let p = dir.path().join("body");
    download_file(urls, &p, None, opts)?;
    Ok(std::fs::read_to_string(&p)?)
}

fn place(cache: &Cache, tmp: &Path, sha256: &str, item: &Item, signer: &str) -> Result<PathBuf> {
    let verified = item.keys.is_some();
    let dir = if verified {
        cache.rpms_dir()
    } else {
        cache.rpms_dir().join("unverified")
    };
    std::fs::create_dir_all(dir.join("by-checksum"))?;
    let side = Sidecar {
        nevra: item.name.clone(),
        signer: signer.to_string(),
        repo_checksum: item.checksum.clone(),
    };
    let final_path = dir.join(format!("{sha256}.rpm"));
    // Atomically too: a build sharing the cache may read it right now.
    let side_tmp = tmp.with_extension("json");
    std::fs::write(&side_tmp, serde_json::to_vec_pretty(&side)?)?;
    std::fs::rename(&side_tmp, dir.join(format!("{sha256}.json")))?;
    std::fs::rename(tmp, &final_path)?;
    if item.checksum.kind != "sha256" {
        let link = dir
            .join("by-checksum")
            .join(format!("{}-{}", item.checksum.kind, item.checksum.hex));
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(format!("../{sha256}.rpm"), &link)?;
    }
    Ok(final_path)
}

/// Downloads, verifies and caches every item; returns each one's cache
/// path in order. Fails listing every package that could not be fetched
/// or verified, and why.
pub fn fetch_all(
    items: &[Item],
    cache: &Cache,
    opts: &FetchOptions,
    progress: &dyn Progress,
) -> Result<Vec<PathBuf>> {
    let unverified_repos: Vec<&str> = items
        .iter()
        .filter(|i| i.keys.is_none())
        .map(|i| i.name.as_str())
        .collect();
    if !unverified_repos.is_empty() {
        crate::report::info(format!(
            "warning: {} package(s) come from repositories with gpgcheck = false and will NOT be signature-checked (e.g. {})",
            unverified_repos.len(),
            unverified_repos[0]
        ));
    }
    let mut out: Vec<Option<PathBuf>> = vec![None; items.len()];
    let mut todo = vec![];
    let mut keyrings: BTreeMap<Vec<PathBuf>, Option<sig::Keyring>> = BTreeMap::new();
    for (i, it) in items.iter().enumerate() {
        match cache.lookup(&it.checksum, it.keys.is_some()) {
            Some(p) => out[i] = Some(p),
            None => todo.push(i),
        }
        if let Some(k) = &it.keys {
            keyrings.entry(k.clone()).or_insert(None);
        }
    }
    // rpm installs with --nodigest: a cached entry is checked against its
    // name (its content's sha256) right before it is used, and a damaged
    // one is evicted and fetched again.
    let hits: Vec<(usize, PathBuf)> = out
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.clone().map(|p| (i, p)))
        .collect();
    for (i, why) in damaged_entries(&hits) {
        crate::report::info(format!(
            "warning: cached package {} ({}) is damaged ({why}): evicted, fetching it again",
            items[i].name,
            hits.iter()
                .find(|(j, _)| *j == i)
                .map(|(_, p)| p.display().to_string())
                .unwrap_or_default(),
        ));
        if let Some(p) = out[i].take() {
            evict(&p, &items[i].checksum);
        }
        todo.push(i);
    }
    todo.sort_unstable();
    let tmp_root = cache.rpms_dir().join("tmp");
    std::fs::create_dir_all(&tmp_root)?;
    let run_dir = crate::sys::workdir::WorkDir::create(&tmp_root, RUN_PREFIX)?;
    let total_bytes: u64 = todo.iter().filter_map(|&i| items[i].size).sum();
    progress.start("fetch", todo.len() as u64, Some(total_bytes));
    for (i, it) in items.iter().enumerate() {
        if out[i].is_some() {
            progress.item_done(&it.name, true);
        }
    }

    // Download everything missing, bounded overall and per host.
    let mut hosts: HashMap<String, Arc<tokio::sync::Semaphore>> = HashMap::new();
    for &i in &todo {
        for u in &items[i].urls {
            hosts
                .entry(host_of(u))
                .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(opts.per_host.max(1))));
        }
    }
    let rt = runtime()?;
    let http = client(opts)?;
    let results: Vec<(usize, Result<(PathBuf, String)>)> = rt.block_on(async {
        futures_util::stream::iter(todo.iter().copied())
            .map(|i| {
                let it = &items[i];
                let part = run_dir.path().join(format!("{i}.part"));
                let host = it.urls.first().map(|u| host_of(u)).unwrap_or_default();
                let sem = hosts.get(&host).cloned();
                let http = &http;
                async move {
                    let _permit = match &sem {
                        Some(s) => Some(s.acquire().await.expect("semaphore open")),
                        None => None,
                    };
                    let r = download::fetch_one(
                        http,
                        &it.urls,
                        &part,
                        Some(&it.checksum),
                        it.size,
                        opts,
                        progress,
                    )
                    .await
                    .map(|sha| (part, sha));
                    (i, r)
                }
            })
            .buffer_unordered(opts.total.max(1))
            .collect()
            .await
    });
    use futures_util::StreamExt;

    let mut errors = vec![];
    let mut downloaded: BTreeMap<usize, (PathBuf, String)> = BTreeMap::new();
    for (i, r) in results {
        match r {
            Ok(x) => {
                downloaded.insert(i, x);
            }
            Err(e) => errors.push(format!("{}: {e:#}", items[i].name)),
        }
    }

    // Signatures, in one rpmkeys run per distinct key set.
    for (keys, ring) in keyrings.iter_mut() {
        *ring = Some(sig::Keyring::new(keys, run_dir.path())?);
    }
    let mut verdicts: HashMap<usize, sig::Verdict> = HashMap::new();
    for (keys, ring) in &keyrings {
        let ring = ring.as_ref().expect("made above");
        let mine: Vec<usize> = downloaded
            .keys()
            .copied()
            .filter(|&i| items[i].keys.as_ref() == Some(keys))
            .collect();
        for chunk in mine.chunks(200) {
            let files: Vec<PathBuf> = chunk.iter().map(|i| downloaded[i].0.clone()).collect();
            let v = ring.check(&files)?;
            for (&i, f) in chunk.iter().zip(&files) {
                verdicts.insert(i, v[&f.display().to_string()].clone());
            }
        }
    }
    for (i, (part, sha)) in downloaded {
        let it = &items[i];
        let signer = match (&it.keys, verdicts.remove(&i)) {
            (None, _) => String::new(),
            (Some(_), Some(sig::Verdict::Ok(id))) => id,
            (Some(_), Some(sig::Verdict::Refused(why))) => {
                errors.push(format!("{}: refused: {why}", it.name));
                continue;
            }
            (Some(_), None) => {
                errors.push(format!("{}: refused: no signature verdict", it.name));
                continue;
            }
        };
        out[i] = Some(place(cache, &part, &sha, it, &signer)?);
        progress.item_done(&it.name, false);
    }
    progress.finish();
    if !errors.is_empty() {
        errors.sort();
        bail!(
            "{} of {} packages could not be fetched and verified:\n  {}",
            errors.len(),
            items.len(),
            errors.join("\n  ")
        );
    }
    Ok(out
        .into_iter()
        .map(|p| p.expect("every item placed or failed"))
        .collect())
}

/// The cache hits whose bytes no longer hash to their name, with why;
/// hashed on every core (one sha256 pass over the package set).
fn damaged_entries(hits: &[(usize, PathBuf)]) -> Vec<(usize, String)> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let bad = std::sync::Mutex::new(vec![]);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some((i, p)) = hits.get(k) else { break };
                let want = p.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
                let why = match sha256_file(p) {
                    Ok(got) if got == want => continue,
                    Ok(got) => format!("sha256 {got}, expected {want}"),
                    Err(e) => format!("{e:#}"),
                };
                bad.lock().expect("no panics while held").push((*i, why));
            });
        }
    });
    let mut v = bad.into_inner().expect("no panics while held");
    v.sort();
    v
}

/// Removes a cache entry (`<sha256>.rpm`), its sidecar and its
/// by-checksum link, so the next lookup misses.
fn evict(entry: &Path, repo_checksum: &Checksum) {
    let _ = std::fs::remove_file(entry.with_extension("json"));
    let _ = std::fs::remove_file(entry);
    if let Some(dir) = entry.parent() {
        let _ = std::fs::remove_file(
            dir.join("by-checksum")
                .join(format!("{}-{}", repo_checksum.kind, repo_checksum.hex)),
        );
    }
}

/// SHA-256 (hex) of a file, streamed.
pub fn sha256_file(path: &std::path::Path) -> Result<String> {
    use sha2::Digest;
    let mut f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = std::io::Read::read(&mut f, &mut buf)
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(
            host_of("https://repo.almalinux.org/almalinux/9/"),
            "repo.almalinux.org"
        );
        assert_eq!(host_of("http://127.0.0.1:8080/x.rpm"), "127.0.0.1:8080");
        assert_eq!(host_of("file:///srv/repo/x.rpm"), "");
    }
}
