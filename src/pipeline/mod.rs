//! Runs a plan: resolve (or take the lock as it is) → fetch → trees → artifacts
//! in dependency order → verify → deliver. The CLI parses arguments and
//! calls `lock` and `run`; everything a stage needs comes from the plan and
//! the lock, never from the manifest, and everything the user should see
//! goes through the `Progress` reporter.
//!
//! Before the first download, `run` refuses what cannot be built (an output
//! whose stage has not landed, a target missing from the lock), so a build
//! that starts fetching has nothing left to reject in its input.

mod trees;

use crate::artifact::{self, Builder, Produced, Target};
use crate::error::InputError;
use crate::fetch::Cache;
use crate::plan::{ArtifactPlan, BuildPlan, Destination};
use crate::progress::{Event, Progress};
use crate::resolve::{self, lockfile, lockfile::Lockfile};
use crate::sys::workdir::WorkDir;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where a run keeps things.
pub struct Env {
    /// Where artifacts go (created if missing).
    pub output_dir: PathBuf,
    /// `--cache-dir`, else the default cache.
    pub cache_dir: Option<PathBuf>,
    /// `--no-cache`: run every stage, store none.
    pub no_cache: bool,
}

/// Refuses a plan with nothing to build (no `[[output]]` and no `--type`).
pub fn require_outputs(plan: &BuildPlan) -> Result<()> {
    if plan.arches.iter().all(|a| a.outputs.is_empty()) {
        return Err(InputError(format!(
            "{}: nothing to build: the manifest has no [[output]]\nhint: add an [[output]] table (type = \"qcow2\") or pass --type (e.g. --type qcow2)",
            plan.manifest
        ))
        .into());
    }
    Ok(())
}

/// Resolves the plan and writes `lock_path`, keeping targets of an older
/// lock that this run did not resolve (a partial `--arch`/`--only` run).
/// Returns the lock and the resolver's warnings.
pub fn lock(plan: &BuildPlan, lock_path: &Path, env: &Env) -> Result<(Lockfile, Vec<String>)> {
    require_outputs(plan)?;
    let cache = Cache::open(env.cache_dir.as_deref())?;
    let name = Path::new(&plan.manifest)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (mut l, warnings) = resolve::lock(plan, &cache, &name)?;
    if let Ok(old) = Lockfile::load(lock_path) {
        for t in old.targets {
            if l.target(&t.arch, &t.output).is_none() {
                l.targets.push(t);
            }
        }
    }
    l.targets
        .sort_by(|x, y| (&x.arch, &x.output).cmp(&(&y.arch, &y.output)));
    l.write(lock_path)?;
    Ok((l, warnings))
}

/// With `locked`: the lock at `lock_path` as it is, refused when it no
/// longer answers the plan. Without: resolve now and (re)write it.
pub fn lock_or_load(
    plan: &BuildPlan,
    lock_path: &Path,
    locked: bool,
    env: &Env,
    progress: &dyn Progress,
) -> Result<Lockfile> {
    require_outputs(plan)?;
    require_landed(plan)?;
    if locked {
        let l = Lockfile::load(lock_path)?;
        let stale = resolve::stale(plan, &l);
        if !stale.is_empty() {
            return Err(InputError(format!(
                "--locked: {} no longer matches {}:\n  {}\nrun `image-builder lock {}` to update it",
                lock_path.display(),
                plan.manifest,
                stale.join("\n  "),
                plan.manifest
            ))
            .into());
        }
        return Ok(l);
    }
    progress.event(&Event::Stage { stage: "resolve" });
    let (l, warnings) = lock(plan, lock_path, env)?;
    for w in warnings {
        progress.event(&Event::Note {
            message: format!("warning: {w}"),
        });
    }
    Ok(l)
}

/// Output names in build order: an output after every output it depends
/// on, otherwise in manifest order.
fn build_order(plan: &BuildPlan) -> Result<Vec<String>> {
    let mut deps: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut order_seen = vec![];
    for a in &plan.arches {
        for o in &a.outputs {
            if !deps.contains_key(&o.name) {
                order_seen.push(o.name.clone());
            }
            deps.entry(o.name.clone())
                .or_default()
                .extend(o.depends_on.iter().cloned());
        }
    }
    let mut out: Vec<String> = vec![];
    let mut visiting = vec![];
    fn visit(
        n: &str,
        deps: &BTreeMap<String, Vec<String>>,
        out: &mut Vec<String>,
        visiting: &mut Vec<String>,
    ) -> Result<()> {
        if out.iter().any(|x| x == n) {
            return Ok(());
        }
        if visiting.iter().any(|x| x == n) {
            bail!(
                "outputs depend on each other: {} → {n}",
                visiting.join(" → ")
            );
        }
        visiting.push(n.to_string());
        for d in deps.get(n).into_iter().flatten() {
            if !deps.contains_key(d) {
                bail!("output {n} depends on {d}, which this run does not build");
            }
            visit(d, deps, out, visiting)?;
        }
        visiting.pop();
        out.push(n.to_string());
        Ok(())
    }
    for n in &order_seen {
        visit(n, &deps, &mut out, &mut visiting)?;
    }
    Ok(out)
}

/// Refuses outputs whose artifact stage has not landed, before anything
/// is resolved or downloaded.
pub fn require_landed(plan: &BuildPlan) -> Result<()> {
    let pending: Vec<String> = plan
        .arches
        .iter()
        .flat_map(|a| a.outputs.iter().map(move |o| (a, o)))
        .filter_map(|(a, o)| match &o.artifact {
            ArtifactPlan::Pending { stage } => {
                Some(format!("{}/{} ({}: {stage})", a.arch, o.name, o.kind))
            }
            _ => None,
        })
        .collect();
    if !pending.is_empty() {
        bail!(
            "the artifact stage for {} has not landed yet; nothing was resolved or downloaded",
            pending.join(", ")
        );
    }
    Ok(())
}

/// Everything `run` refuses before the first download.
fn preflight(plan: &BuildPlan, lock: &Lockfile) -> Result<()> {
    require_outputs(plan)?;
    require_landed(plan)?;
    for a in &plan.arches {
        for o in &a.outputs {
            if lock.target(&a.arch, &o.name).is_none() {
                bail!("{}/{}: not in the lockfile", a.arch, o.name);
            }
        }
    }
    build_order(plan)?;
    Ok(())
}

/// Runs every stage after resolve. Returns the artifacts' paths.
pub fn run(
    plan: &BuildPlan,
    lock: &Lockfile,
    env: &Env,
    progress: &dyn Progress,
) -> Result<Vec<PathBuf>> {
    preflight(plan, lock)?;
    let distro = crate::distro::lookup(&plan.distro.id)
        .map_err(anyhow::Error::msg)?
        .context("planned distro vanished")?;
    let targets: Vec<Target> = plan
        .arches
        .iter()
        .flat_map(|a| {
            a.outputs.iter().map(move |o| Target {
                plan,
                arch: a,
                output: o,
                lock: lock.target(&a.arch, &o.name).expect("preflight checked"),
                distro,
            })
        })
        .collect();
    progress.event(&Event::Planned {
        outputs: targets
            .iter()
            .map(|t| (t.arch.arch.clone(), t.output.name.clone()))
            .collect(),
    });

    progress.event(&Event::Stage { stage: "fetch" });
    let cache = Cache::open(env.cache_dir.as_deref())?;
    reclaim_stale(&cache, &env.output_dir, progress);
    let keydir = WorkDir::create(&cache.root, "keys.")?;
    let mut rpms: Vec<Vec<PathBuf>> = vec![];
    for t in &targets {
        let items = resolve::fetch_items(t.lock, keydir.path())?;
        rpms.push(crate::fetch::fetch_all(
            &items,
            &cache,
            &crate::fetch::FetchOptions::default(),
            progress,
        )?);
    }

    std::fs::create_dir_all(&env.output_dir)
        .with_context(|| format!("creating {}", env.output_dir.display()))?;
    let work = WorkDir::create(&env.output_dir, WORK_PREFIX)?;

    progress.event(&Event::Stage { stage: "build" });
    let keys: Vec<String> = targets.iter().map(trees::key).collect();
    let mut store = trees::Store::new(
        work.path().join("trees"),
        &keys,
        crate::stages::Store::open(&cache.root, !env.no_cache),
    );
    let mut produced: Vec<Produced> = vec![];
    for name in build_order(plan)? {
        let mut builder: Option<Box<dyn Builder>> = None;
        for (i, t) in targets.iter().enumerate() {
            if t.output.name != name {
                continue;
            }
            let b = match &mut builder {
                Some(b) => b,
                None => builder.insert(artifact::builder_for(
                    t.output,
                    work.path(),
                    &env.output_dir,
                    &cache.root,
                )?),
            };
            let tree = store.take(t, &rpms[i], progress)?;
            produced.extend(
                b.add(t, tree, progress)
                    .with_context(|| format!("building {} for {}", t.output.name, t.arch.arch))?,
            );
        }
        if let Some(b) = builder {
            produced.extend(
                b.finish(progress)
                    .with_context(|| format!("finishing {name}"))?,
            );
        }
    }

    let want_verify = targets.iter().any(|t| t.output.verify);
    if want_verify {
        progress.event(&Event::Stage { stage: "verify" });
    }
    for p in &produced {
        let verify = targets
            .iter()
            .any(|t| t.output.name == p.output && t.output.verify);
        if let (true, Some(b)) = (verify, &p.bootable) {
            crate::verify::artifact::boot_check(b.disk.as_ref().unwrap_or(&p.path), b, progress)?;
        }
    }

    progress.event(&Event::Stage { stage: "deliver" });
    for p in &produced {
        let Some(img) = &p.image else { continue };
        let Some(t) = targets.iter().find(|t| t.output.name == p.output) else {
            continue;
        };
        for d in &t.output.destinations {
            if let Destination::Registry {
                reference,
                tls_verify,
                sign_key,
            } = d
            {
                crate::publish::deliver::push_image(
                    img,
                    reference,
                    *tls_verify,
                    sign_key.as_deref(),
                    progress,
                )?;
            }
        }
    }
    Ok(produced.into_iter().map(|p| p.path).collect())
}

/// The lock path beside a manifest.
pub fn lock_path(manifest: &Path) -> PathBuf {
    lockfile::path_for(manifest)
}

/// The work directory's name in the output directory.
pub const WORK_PREFIX: &str = ".image-builder.";

/// Work directories of builds that died (killed, power lost) in the
/// output directory and the cache: removed before this run starts, with a
/// note each (`sys::workdir` knows which are dead).
pub fn reclaim_stale(cache: &Cache, output_dir: &Path, progress: &dyn Progress) {
    let mut gone = crate::sys::workdir::reclaim(output_dir, WORK_PREFIX);
    for p in CACHE_WORK_PREFIXES {
        gone.extend(crate::sys::workdir::reclaim(&cache.root, p));
    }
    gone.extend(crate::sys::workdir::reclaim(
        &cache.rpms_dir().join("tmp"),
        crate::fetch::RUN_PREFIX,
    ));
    for (d, bytes) in gone {
        progress.event(&Event::Note {
            message: format!(
                "reclaimed {} ({} bytes) left by a build that died",
                d.display(),
                bytes
            ),
        });
    }
}

/// Work directories runs make in the cache root.
pub const CACHE_WORK_PREFIXES: &[&str] = &["keys.", "base.", "base-root."];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependencies_order_outputs() {
        let doc = crate::manifest::parse(
            "name = \"t\"\ndistro = \"fixture\"\n[[output]]\ntype = \"tar\"\nname = \"a\"\n[[output]]\ntype = \"qcow2\"\nname = \"b\"\n",
            Path::new("t.toml"),
        )
        .unwrap();
        let mut p = crate::plan::make(&doc, &Default::default()).unwrap();
        assert_eq!(build_order(&p).unwrap(), vec!["a", "b"]);
        p.arches[0].outputs[0].depends_on = vec!["b".into()];
        assert_eq!(build_order(&p).unwrap(), vec!["b", "a"]);
        p.arches[0].outputs[1].depends_on = vec!["a".into()];
        assert!(build_order(&p).is_err());
        p.arches[0].outputs[1].depends_on = vec!["zzz".into()];
        assert!(build_order(&p).is_err());
    }
}
