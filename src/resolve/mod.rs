//! Resolve: a BuildPlan becomes an exact, locked set of packages per arch
//! and output.
//!
//! `repodata` fetches and caches repository metadata, `solv` is our FFI to
//! libsolv (the solver dnf uses), `solve` turns requests into solver jobs
//! the way dnf does, `comps` and `modules` handle groups and EL8/EL9
//! module streams, `lockfile` writes and checks `MANIFEST.lock`.

pub mod base;
pub mod comps;
pub mod lockfile;
pub mod modules;
pub mod net;
pub mod repodata;
pub mod solv;
pub mod solve;

use crate::fetch::Cache;
use crate::plan::{ArchPlan, BuildPlan, OutputPlan};
use anyhow::{Context, Result};
use lockfile::{LockedPackage, LockedRepo, LockedRequest, LockedTransaction, Lockfile, Target};
use std::collections::BTreeMap;

/// libsolv's arch policy for an arch's compatible rpm arches
/// (`x86_64_v2:x86_64`); noarch is implied.
pub fn arch_policy(a: &ArchPlan) -> String {
    let v: Vec<&str> = a
        .rpm_arches
        .iter()
        .map(String::as_str)
        .filter(|x| *x != "noarch")
        .collect();
    v.join(":")
}

/// The request an output's packages make, as the lock records it.
pub fn request_for(plan: &BuildPlan, a: &ArchPlan, o: &OutputPlan) -> LockedRequest {
    LockedRequest {
        transactions: o
            .packages
            .chain
            .iter()
            .map(|s| LockedTransaction {
                name: s.name.clone(),
                include: s.include.clone(),
                exclude: s.exclude.clone(),
            })
            .collect(),
        modules: o.packages.modules.clone(),
        weak_deps: plan.weak_deps,
        repos: a.repos.iter().map(|r| r.id.clone()).collect(),
        // Derived images and disks deployed from a base pin its digest;
        // `output:NAME` is built in the run, not locked.
        base: plan
            .base_image
            .clone()
            .filter(|_| matches!(o.tree.source, crate::plan::TreeSource::BaseImage { .. })),
        scripts: o
            .tree
            .scripts
            .iter()
            .map(|s| lockfile::LockedScript {
                name: s.name.clone(),
                interpreter: s.interpreter.clone(),
                network: s.network,
                digest: s.digest.clone(),
            })
            .collect(),
    }
}

/// Full fingerprints of armored keys (gpg --show-keys).
pub fn fingerprints(keys: &[std::path::PathBuf]) -> Result<Vec<String>> {
    let mut out = vec![];
    for k in keys {
        let o = crate::tools::run(
            "gpg",
            &[
                "--batch".as_ref(),
                "--with-colons".as_ref(),
                "--show-keys".as_ref(),
                k.as_os_str(),
            ],
        )
        .with_context(|| format!("reading key {}", k.display()))?;
        let text = String::from_utf8_lossy(&o.stdout);
        // The first fpr after a pub line is the primary key's.
        let mut want = false;
        for l in text.lines() {
            if l.starts_with("pub:") {
                want = true;
            } else if want && l.starts_with("fpr:") {
                if let Some(f) = l.split(':').nth(9) {
                    out.push(f.to_string());
                }
                want = false;
            }
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// A plan key as the lockfile's `key_urls` holds it.
fn key_entry(k: &crate::plan::RepoKey) -> String {
    match k {
        crate::plan::RepoKey::Url { url } => url.clone(),
        other => other.armored().unwrap_or_default().to_string(),
    }
}

/// Resolves every arch and output of a plan into a lockfile.
pub fn lock(
    plan: &BuildPlan,
    cache: &Cache,
    manifest_name: &str,
) -> Result<(Lockfile, Vec<String>)> {
    let mut targets = vec![];
    let mut warnings = vec![];
    for a in &plan.arches {
        crate::report::info(format!("resolving {} ({} repos)", a.arch, a.repos.len()));
        let mut synced = vec![];
        for r in &a.repos {
            synced.push(repodata::sync(r, cache)?);
        }
        let mut locked_repos = vec![];
        for (r, s) in a.repos.iter().zip(&synced) {
            locked_repos.push(LockedRepo {
                id: r.id.clone(),
                baseurls: s.bases.clone(),
                gpgcheck: r.gpgcheck,
                keys: fingerprints(&s.keys)?,
                // Keys the plan carries (embedded, inline) travel in the
                // lock as their armored text; fetched keys as their URL.
                key_urls: r.gpgkeys.iter().map(key_entry).collect(),
                revision: s.revision.clone(),
            });
        }
        let mut u = solve::Universe::load(
            &arch_policy(a),
            synced.iter().map(|s| s.files.clone()).collect(),
        )?;
        for o in &a.outputs {
            let request = request_for(plan, a, o);
            // A derived image adds to its base's packages: they are the
            // installed set, read from the base image's rpm database.
            let (base, mut derived) = match &request.base {
                Some(reference) => {
                    let b = base::installed(reference, a, plan.base_tls_verify, cache)
                        .with_context(|| format!("reading the base image {reference}"))?;
                    let mut du = solve::Universe::load(
                        &arch_policy(a),
                        synced.iter().map(|s| s.files.clone()).collect(),
                    )?;
                    let mut b = b;
                    b.locked.packages = du.set_installed(b.root.path())?;
                    (Some(b), Some(du))
                }
                None => (None, None),
            };
            let u = derived.as_mut().unwrap_or(&mut u);
            let req = solve::Request {
                chain: request
                    .transactions
                    .iter()
                    .map(|t| solve::Transaction {
                        name: t.name.clone(),
                        include: t.include.clone(),
                        exclude: t.exclude.clone(),
                    })
                    .collect(),
                modules: request.modules.clone(),
                weak_deps: request.weak_deps,
            };
            // The SolveError stays the error's source, so `--json` can
            // still find its problems.
            let (pkgs, warns) = u
                .solve(&req)
                .map_err(|e| {
                    anyhow::Error::new(e.error)
                        .context(format!("in the {} package set", e.transaction))
                })
                .with_context(|| format!("resolving {} for {}", o.name, a.arch))?;
            warnings.extend(
                warns
                    .into_iter()
                    .map(|w| format!("{}/{}: {w}", a.arch, o.name)),
            );
            let packages = pkgs
                .into_iter()
                .map(|p| {
                    let repo = &locked_repos[p.repo];
                    LockedPackage {
                        key: if repo.gpgcheck {
                            repo.keys
                                .first()
                                .map(|f| f[f.len().saturating_sub(16)..].to_string())
                                .unwrap_or_default()
                        } else {
                            String::new()
                        },
                        repo: repo.id.clone(),
                        checksum: format!("{}:{}", p.checksum_type, p.checksum),
                        name: p.name,
                        epoch: p.epoch,
                        version: p.version,
                        release: p.release,
                        arch: p.arch,
                        location: p.location,
                        size: p.size,
                    }
                })
                .collect();
            targets.push(Target {
                arch: a.arch.clone(),
                output: o.name.clone(),
                request,
                repos: locked_repos.clone(),
                packages,
                base: base.map(|b| b.locked),
            });
        }
    }
    Ok((
        Lockfile {
            version: lockfile::LOCK_VERSION,
            manifest: manifest_name.to_string(),
            targets,
        },
        warnings,
    ))
}

/// Checks that `lock` still answers `plan`: same targets, same requests.
/// Returns every difference, each naming arch/output.
pub fn stale(plan: &BuildPlan, lock: &Lockfile) -> Vec<String> {
    let mut out = vec![];
    let mut wanted = BTreeMap::new();
    for a in &plan.arches {
        for o in &a.outputs {
            wanted.insert((a.arch.clone(), o.name.clone()), request_for(plan, a, o));
        }
    }
    for ((arch, output), req) in &wanted {
        match lock.target(arch, output) {
            None => out.push(format!("{arch}/{output}: not in the lockfile")),
            Some(t) => out.extend(
                lockfile::request_changes(&t.request, req)
                    .into_iter()
                    .map(|c| format!("{arch}/{output}: {c}")),
            ),
        }
    }
    out
}

/// What to download for one locked target: an `Item` per package, URLs
/// from every base URL of its repo (mirror order), keys fetched from the
/// lock's key URLs into `keydir` and checked against the locked
/// fingerprints (a key that changed behind its URL is refused).
pub fn fetch_items(t: &Target, keydir: &std::path::Path) -> Result<Vec<crate::fetch::Item>> {
    use anyhow::bail;
    let mut keys_of: BTreeMap<String, Option<Vec<std::path::PathBuf>>> = BTreeMap::new();
    for r in &t.repos {
        if !r.gpgcheck {
            keys_of.insert(r.id.clone(), None);
            continue;
        }
        let dir = keydir.join(&r.id);
        std::fs::create_dir_all(&dir)?;
        let mut files = vec![];
        for (i, u) in r.key_urls.iter().enumerate() {
            let f = dir.join(format!("key-{i}.asc"));
            if u.contains("BEGIN PGP PUBLIC KEY BLOCK") {
                std::fs::write(&f, u)?;
            } else {
                net::download(std::slice::from_ref(u), &f, None)
                    .with_context(|| format!("repo {}: fetching gpgkey {u}", r.id))?;
            }
            files.push(f);
        }
        let got = fingerprints(&files)?;
        if got != r.keys {
            bail!(
                "repo {}: the keys at {} (fingerprints {}) are not the ones locked ({}); re-run `image-builder lock` if the change is expected",
                r.id,
                r.key_urls.join(", "),
                got.join(", "),
                r.keys.join(", ")
            );
        }
        keys_of.insert(r.id.clone(), Some(files));
    }
    t.packages
        .iter()
        .map(|p| {
            let repo = t.repos.iter().find(|r| r.id == p.repo).with_context(|| {
                format!("lockfile: {} names unknown repo {}", p.nevra(), p.repo)
            })?;
            let (kind, hex) = p.checksum.split_once(':').with_context(|| {
                format!(
                    "lockfile: {}: checksum {:?} is not TYPE:HEX",
                    p.nevra(),
                    p.checksum
                )
            })?;
            Ok(crate::fetch::Item {
                name: p.nevra(),
                urls: repo
                    .baseurls
                    .iter()
                    .map(|b| format!("{b}{}", p.location))
                    .collect(),
                checksum: crate::fetch::Checksum {
                    kind: kind.to_string(),
                    hex: hex.to_string(),
                },
                size: Some(p.size).filter(|s| *s > 0),
                keys: keys_of.get(&p.repo).cloned().flatten(),
            })
        })
        .collect()
}
