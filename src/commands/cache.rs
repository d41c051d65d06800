//! `cache info` and `cache prune`.

use super::{print_json, Ctx};
use crate::cli::CacheCommand;
use crate::fetch::Cache;
use anyhow::Result;
use serde_json::json;
use std::path::Path;
use std::time::{Duration, SystemTime};

fn size_of(p: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(p) else {
        return 0;
    };
    rd.flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => size_of(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}

pub fn run(ctx: Ctx, c: &CacheCommand) -> Result<()> {
    let cache = Cache::open(ctx.cache_dir)?;
    match c {
        CacheCommand::Info => {
            let (r, m) = (size_of(&cache.rpms_dir()), size_of(&cache.metadata_dir()));
            let stages = crate::stages::Store::open(&cache.root, true).entries();
            let s: u64 = stages.iter().map(|e| e.1).sum();
            let sys = size_of(&cache.root.join("ostree-sysroots"));
            if ctx.json {
                print_json(
                    &json!({"root": cache.root, "rpms_bytes": r, "metadata_bytes": m,
                    "stages_bytes": s, "stages": stages.len(), "ostree_sysroots_bytes": sys}),
                );
            } else {
                println!("cache: {}", cache.root.display());
                println!("packages (rpms-v1): {}", super::lock::human(r));
                println!("metadata (repodata-v1): {}", super::lock::human(m));
                println!(
                    "stages (stages-v1): {} in {} stage(s)",
                    super::lock::human(s),
                    stages.len()
                );
                println!(
                    "deployed sysroots (ostree-sysroots): {}",
                    super::lock::human(sys)
                );
            }
        }
        CacheCommand::Prune(a) => {
            let before = size_of(&cache.root);
            if let Some(max) = &a.max_size {
                let bytes = crate::manifest::size::Size::parse(max)
                    .map_err(|e| crate::error::InputError(format!("--max-size {max}: {e}")))?;
                crate::stages::Store::open(&cache.root, true).prune(bytes.bytes());
            }
            if a.all {
                let stages = crate::stages::dir(&cache.root);
                let sysroots = cache.root.join("ostree-sysroots");
                for d in [cache.rpms_dir(), cache.metadata_dir(), stages, sysroots] {
                    if d.exists() {
                        // Deployments may carry ostree's immutable flag.
                        crate::sys::workdir::remove(&d)?;
                    }
                }
            } else {
                let rpms = cache.rpms_dir();
                let unverified = rpms.join("unverified");
                if unverified.exists() {
                    std::fs::remove_dir_all(&unverified)?;
                }
                // Work directories of runs that died; a running build's
                // (locked) are left alone.
                crate::sys::workdir::reclaim(&rpms.join("tmp"), crate::fetch::RUN_PREFIX);
                for p in crate::pipeline::CACHE_WORK_PREFIXES {
                    crate::sys::workdir::reclaim(&cache.root, p);
                }
                let cutoff =
                    SystemTime::now() - Duration::from_secs(a.older_than.unwrap_or(30) * 86400);
                if let Ok(rd) = std::fs::read_dir(&rpms) {
                    for e in rd.flatten() {
                        let p = e.path();
                        if p.extension().is_some_and(|x| x == "rpm") {
                            let used = e
                                .metadata()
                                .and_then(|m| m.accessed().or_else(|_| m.modified()));
                            if used.map(|t| t < cutoff).unwrap_or(false) {
                                let _ = std::fs::remove_file(p.with_extension("json"));
                                let _ = std::fs::remove_file(&p);
                            }
                        }
                    }
                }
                // Dangling by-checksum links.
                if let Ok(rd) = std::fs::read_dir(rpms.join("by-checksum")) {
                    for e in rd.flatten() {
                        if !e.path().exists() {
                            let _ = std::fs::remove_file(e.path());
                        }
                    }
                }
            }
            let freed = before.saturating_sub(size_of(&cache.root));
            if ctx.json {
                print_json(&json!({"root": cache.root, "freed_bytes": freed}));
            } else {
                println!(
                    "freed {} in {}",
                    super::lock::human(freed),
                    cache.root.display()
                );
            }
        }
    }
    Ok(())
}
