//! `lock`: resolve every arch and output, write MANIFEST.lock beside the
//! manifest. With `--check`, only say whether the lock still matches.

use super::{load, print_json, Ctx};
use crate::cli::LockArgs;
use crate::error::InputError;
use crate::plan;
use crate::resolve::{self, lockfile};
use anyhow::Result;
use serde_json::json;

/// `12.3 MiB`-style sizes for people.
pub fn human(bytes: u64) -> String {
    let mut v = bytes as f64;
    for unit in ["B", "KiB", "MiB", "GiB"] {
        if v < 1024.0 || unit == "GiB" {
            return if unit == "B" {
                format!("{bytes} B")
            } else {
                format!("{v:.1} {unit}")
            };
        }
        v /= 1024.0;
    }
    unreachable!()
}

pub fn run(ctx: Ctx, a: &LockArgs) -> Result<()> {
    let (doc, selection) = load(&a.select)?;
    let p = plan::make(&doc, &selection)?;
    crate::pipeline::require_outputs(&p)?;
    let path = lockfile::path_for(&a.select.manifest);
    if a.check {
        let l = lockfile::Lockfile::load(&path)?;
        let stale = resolve::stale(&p, &l);
        if !stale.is_empty() {
            return Err(InputError(format!(
                "{} no longer matches {}:\n  {}\nrun `image-builder lock {}`",
                path.display(),
                doc.file(),
                stale.join("\n  "),
                doc.file()
            ))
            .into());
        }
        if ctx.json {
            print_json(&json!({"ok": true, "lockfile": path}));
        } else {
            crate::report::info(format!("{} is up to date", path.display()));
        }
        return Ok(());
    }
    let env = crate::pipeline::Env {
        output_dir: ".".into(),
        cache_dir: ctx.cache_dir.map(|p| p.to_path_buf()),
        no_cache: false,
    };
    // A partial run (--arch, --only) keeps the other targets of an old lock.
    let (lock, warnings) = crate::pipeline::lock(&p, &path, &env)?;
    for w in &warnings {
        crate::report::info(format!("warning: {w}"));
    }
    if ctx.json {
        let targets: Vec<_> = lock
            .targets
            .iter()
            .map(|t| {
                json!({
                    "arch": t.arch,
                    "output": t.output,
                    "packages": t.packages.iter().map(|p| json!({
                        "name": p.name, "epoch": p.epoch, "version": p.version,
                        "release": p.release, "arch": p.arch, "repo": p.repo,
                        "checksum": p.checksum, "size": p.size,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        print_json(
            &json!({"ok": true, "lockfile": path, "targets": targets, "warnings": warnings}),
        );
    } else {
        for t in &lock.targets {
            let size: u64 = t.packages.iter().map(|p| p.size).sum();
            crate::report::info(format!(
                "{}/{}: {} packages, {}",
                t.arch,
                t.output,
                t.packages.len(),
                human(size)
            ));
        }
        crate::report::info(format!("wrote {}", path.display()));
    }
    Ok(())
}
