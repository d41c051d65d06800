//! `build`: plan, resolve (or take MANIFEST.lock with `--locked`), fetch,
//! then the later stages. Stages land one issue at a time; where they end
//! today `build` stops with a build error that says so (exit 1), having
//! written nothing at the output path.

use super::{load, print_json, Ctx};
use crate::cli::BuildArgs;
use crate::error::InputError;
use crate::fetch::Cache;
use crate::manifest::Document;
use crate::plan;
use crate::resolve::{self, lockfile, lockfile::Lockfile};
use anyhow::{bail, Result};
use serde_json::json;

pub fn run(ctx: Ctx, args: &BuildArgs) -> Result<()> {
    let (doc, selection) = load(&args.select)?;
    let p = plan::make(&doc, &selection)?;
    let outputs: Vec<(String, String)> = p
        .arches
        .iter()
        .flat_map(|a| {
            a.outputs
                .iter()
                .map(move |o| (a.arch.clone(), o.name.clone()))
        })
        .collect();
    if outputs.is_empty() {
        return Err(InputError(format!(
            "{}: nothing to build: the manifest has no [[output]]; pass --type (e.g. --type qcow2)",
            doc.file()
        ))
        .into());
    }
    if args.output_dir.exists() && !args.output_dir.is_dir() {
        return Err(InputError(format!(
            "--output-dir {} is not a directory",
            args.output_dir.display()
        ))
        .into());
    }
    if ctx.json {
        print_json(&json!({"event": "planned", "outputs": outputs}));
    }
    let lock = locked_or_resolved(ctx, args, &doc, &p)?;
    let cache = Cache::open(ctx.cache_dir)?;
    let keydir = tempfile::Builder::new()
        .prefix("keys.")
        .tempdir_in(&cache.root)?;
    let mut fetched = 0;
    for a in &p.arches {
        for o in &a.outputs {
            let t = lock
                .target(&a.arch, &o.name)
                .expect("stale() checked every target");
            let items = resolve::fetch_items(t, keydir.path())?;
            fetched += fetch_packages(ctx, &items, &cache)?;
        }
    }
    bail!(
        "{fetched} packages are resolved, fetched and verified in {}; installing them into a tree \
         (issue 4) and the artifact stages have not landed yet",
        cache.root.display()
    )
}

/// With `--locked`: MANIFEST.lock as it is, refused when stale. Without:
/// resolve now and (re)write the lock.
fn locked_or_resolved(
    ctx: Ctx,
    args: &BuildArgs,
    doc: &Document,
    p: &plan::BuildPlan,
) -> Result<Lockfile> {
    let path = lockfile::path_for(&args.select.manifest);
    if args.locked {
        let l = Lockfile::load(&path)?;
        let stale = resolve::stale(p, &l);
        if !stale.is_empty() {
            return Err(InputError(format!(
                "--locked: {} no longer matches {}:\n  {}\nrun `image-builder lock {}` to update it",
                path.display(),
                doc.file(),
                stale.join("\n  "),
                doc.file()
            ))
            .into());
        }
        return Ok(l);
    }
    let cache = Cache::open(ctx.cache_dir)?;
    let name = args
        .select
        .manifest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (mut l, warnings) = resolve::lock(p, &cache, &name)?;
    for w in warnings {
        crate::report::info(format!("warning: {w}"));
    }
    if let Ok(old) = Lockfile::load(&path) {
        for t in old.targets {
            if l.target(&t.arch, &t.output).is_none() {
                l.targets.push(t);
            }
        }
    }
    l.targets
        .sort_by(|x, y| (&x.arch, &x.output).cmp(&(&y.arch, &y.output)));
    l.write(&path)?;
    Ok(l)
}

fn fetch_packages(ctx: Ctx, items: &[crate::fetch::Item], cache: &Cache) -> Result<usize> {
    let progress = crate::progress::for_cli(ctx.json);
    let paths = crate::fetch::fetch_all(
        items,
        cache,
        &crate::fetch::FetchOptions::default(),
        progress.as_ref(),
    )?;
    Ok(paths.len())
}
