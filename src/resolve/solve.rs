//! From a package request to an exact set of packages, as dnf would pick.
//!
//! A `Universe` is one arch's view of every repo (loaded once, solved many
//! times: one solve per output). How a request turns into solver jobs
//! follows dnf's `install` closely, because the oracle tests compare our
//! answers with Debian's dnf on the same repos:
//! - a spec matches names (globs, `name-version`, `name.arch`) first, then
//!   provides (`foo >= 1`), then file paths;
//! - packages that obsolete a matched package join the candidates (dnf's
//!   `obsoletes=True`), so a request for a renamed package gets its
//!   successor;
//! - `@group` expands through comps: mandatory and default members, a
//!   missing member is skipped with a warning, conditional members join
//!   when the package they name is in the transaction;
//! - `best=True` (AlmaLinux's dnf.conf): the best candidate or a problem,
//!   never a silent older version;
//! - install-only packages (kernels) may be installed in several versions.

use super::comps::Comps;
use super::modules::{nevra_with_epoch, Modules};
use super::solv::{self, Pool, Problem, Queue};
use anyhow::{Context, Result};
use std::path::PathBuf;

/// One repo's metadata files, already on disk.
#[derive(Debug, Clone, Default)]
pub struct RepoFiles {
    pub id: String,
    pub primary: PathBuf,
    pub filelists: Option<PathBuf>,
    pub comps: Option<PathBuf>,
    pub modules: Option<PathBuf>,
    /// dnf's priority: lower wins (default 99).
    pub priority: i32,
    pub module_hotfixes: bool,
    /// Where a libsolv `.solv` cache of primary+filelists may be kept.
    pub solv_cache: Option<PathBuf>,
}

/// What to install.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    /// `name:stream` (EL8/EL9 modules).
    pub modules: Vec<String>,
    pub weak_deps: bool,
}

/// One package of a resolution.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Resolved {
    pub name: String,
    pub epoch: u64,
    pub version: String,
    pub release: String,
    pub arch: String,
    /// Index into the universe's repos.
    #[serde(skip)]
    pub repo: usize,
    pub location: String,
    pub checksum_type: String,
    pub checksum: String,
    pub size: u64,
}

impl Resolved {
    /// `name-[epoch:]version-release.arch`, epoch shown only when set.
    pub fn nevra(&self) -> String {
        if self.epoch > 0 {
            format!(
                "{}-{}:{}-{}.{}",
                self.name, self.epoch, self.version, self.release, self.arch
            )
        } else {
            format!(
                "{}-{}-{}.{}",
                self.name, self.version, self.release, self.arch
            )
        }
    }
}

/// Why a request could not be solved.
#[derive(Debug, thiserror::Error)]
pub enum SolveError {
    #[error("no package matches {}", .0.iter().map(|s| format!("'{s}'")).collect::<Vec<_>>().join(", "))]
    NoMatch(Vec<String>),
    #[error("the request cannot be satisfied:\n{}", render(.0))]
    Unsatisfiable(Vec<Problem>),
    #[error("{0}")]
    Modules(String),
    #[error("adding these packages would remove or replace packages of the base image ({}); a derived image only adds packages", .0.join(", "))]
    ReplacesBase(Vec<String>),
}

/// Problems as readable sentences, with the ways out libsolv offers.
pub fn render(problems: &[Problem]) -> String {
    let mut s = String::new();
    for (i, p) in problems.iter().enumerate() {
        s.push_str(&format!("  problem {}: {}\n", i + 1, p.text));
        for (j, sol) in p.solutions.iter().take(3).enumerate() {
            s.push_str(&format!("    fix {}: {}\n", j + 1, sol.join("; ")));
        }
    }
    s.trim_end().to_string()
}

/// dnf's installonlypkgs default.
const INSTALL_ONLY: &[&str] = &[
    "kernel",
    "kernel-core",
    "kernel-PAE",
    "installonlypkg(kernel)",
    "installonlypkg(kernel-module)",
    "installonlypkg(vm)",
    "multiversion(kernel)",
];

pub struct Universe {
    pool: Pool,
    pub repos: Vec<RepoFiles>,
    pub comps: Comps,
    pub modules: Modules,
}

/// Splits libsolv's `[E:]V-R`.
pub fn split_evr(evr: &str) -> (u64, String, String) {
    let (e, vr) = match evr.split_once(':') {
        Some((e, vr)) if e.chars().all(|c| c.is_ascii_digit()) => (e.parse().unwrap_or(0), vr),
        _ => (0, evr),
    };
    let (v, r) = vr.rsplit_once('-').unwrap_or((vr, ""));
    (e, v.to_string(), r.to_string())
}

impl Universe {
    /// Loads every repo for one arch policy (`x86_64_v2:x86_64`).
    pub fn load(archpolicy: &str, repos: Vec<RepoFiles>) -> Result<Universe> {
        let mut pool = Pool::new(archpolicy);
        let mut comps = Comps::default();
        let mut modules = Modules::default();
        for (i, r) in repos.iter().enumerate() {
            // libsolv prefers higher priorities; dnf lets lower numbers win.
            let h = pool.add_repo(&r.id, i, -r.priority);
            let cached = r.solv_cache.as_ref().filter(|p| p.is_file());
            let from_cache = match cached {
                Some(c) => pool.load_solv(h, c).is_ok(),
                None => false,
            };
            if !from_cache {
                pool.load_rpmmd(h, &r.primary, false)
                    .map_err(|e| anyhow::anyhow!("repo {}: reading primary metadata: {e}", r.id))?;
                if let Some(f) = &r.filelists {
                    pool.load_rpmmd(h, f, true)
                        .map_err(|e| anyhow::anyhow!("repo {}: reading filelists: {e}", r.id))?;
                }
                pool.internalize(h);
                if let Some(c) = &r.solv_cache {
                    let tmp = c.with_extension(format!("tmp.{}", std::process::id()));
                    if pool.write_solv(h, &tmp).is_ok() {
                        let _ = std::fs::rename(&tmp, c);
                    } else {
                        let _ = std::fs::remove_file(&tmp);
                    }
                }
            }
            if let Some(c) = &r.comps {
                let raw = solv::read_compressed(c).map_err(anyhow::Error::msg)?;
                comps
                    .add_xml(&String::from_utf8_lossy(&raw), &format!("of repo {}", r.id))
                    .with_context(|| format!("repo {}", r.id))?;
            }
            if let Some(m) = &r.modules {
                let raw = solv::read_compressed(m).map_err(anyhow::Error::msg)?;
                modules.add_yaml(
                    &String::from_utf8_lossy(&raw),
                    &format!("modules.yaml of repo {}", r.id),
                )?;
            }
        }
        pool.prepare();
        Ok(Universe {
            pool,
            repos,
            comps,
            modules,
        })
    }

    /// Makes the rpm database of the tree at `root` the installed set, so
    /// solving adds to it (a derived image's base). Trees keep it where
    /// the distro does; libsolv's librpm reader looks in /var/lib/rpm, so
    /// an EL10 tree's /usr/lib/sysimage/rpm is linked into a scratch
    /// root's var/lib/rpm (librpm does not follow a symlink there).
    pub fn set_installed(&mut self, root: &std::path::Path) -> Result<usize> {
        let scratch = tempfile::tempdir()?;
        let db = crate::distro::rpmdb_dir(root);
        let to = scratch.path().join("var/lib/rpm");
        std::fs::create_dir_all(&to)?;
        for e in std::fs::read_dir(root.join(db.trim_start_matches('/')))? {
            let e = e?;
            if e.file_type()?.is_file() {
                let dst = to.join(e.file_name());
                if std::fs::hard_link(e.path(), &dst).is_err() {
                    std::fs::copy(e.path(), &dst)?;
                }
            }
        }
        let n = self
            .pool
            .add_installed(scratch.path())
            .map_err(anyhow::Error::msg)?;
        self.pool.prepare();
        Ok(n)
    }

    /// Packages across all repos.
    pub fn package_count(&self) -> usize {
        self.pool.len().saturating_sub(2)
    }

    /// Hides what modular filtering and the excludes hide; returns the
    /// hidden ids.
    fn apply_visibility(&mut self, req: &Request) -> Result<Vec<i32>, SolveError> {
        self.pool.show_all();
        let mut hide = vec![];
        if !self.modules.is_empty() {
            let active = self
                .modules
                .active(&req.modules)
                .map_err(SolveError::Modules)?;
            let f = self.modules.filter(&active);
            for p in self.pool.ids() {
                let Some(repo) = self.pool.repo_of(p) else {
                    continue;
                };
                let name = self.pool.name(p);
                let nevra = nevra_with_epoch(&name, &self.pool.evr(p), &self.pool.arch(p));
                if f.hides(&name, &nevra, self.repos[repo].module_hotfixes) {
                    hide.push(p);
                }
            }
        } else if let Some(m) = req.modules.first() {
            return Err(SolveError::Modules(format!(
                "module stream {m} requested, but no repository has module metadata"
            )));
        }
        for e in &req.exclude {
            let sel = self.pool.select(
                e,
                solv::SEL_NAME | solv::SEL_CANON | solv::SEL_DOTARCH | solv::SEL_GLOB,
            );
            hide.extend(self.pool.selection_ids(&sel));
        }
        self.pool.hide(&hide);
        Ok(hide)
    }

    /// Solver candidates for one spec; empty when nothing matches.
    fn candidates(&mut self, spec: &str) -> Vec<i32> {
        let name_flags = solv::SEL_NAME | solv::SEL_CANON | solv::SEL_DOTARCH | solv::SEL_GLOB;
        let tries: &[i32] = if spec.starts_with('/') {
            &[
                solv::SEL_FILELIST | solv::SEL_GLOB,
                solv::SEL_PROVIDES | solv::SEL_GLOB,
            ]
        } else {
            &[
                name_flags,
                solv::SEL_PROVIDES | solv::SEL_REL | solv::SEL_GLOB,
                solv::SEL_FILELIST | solv::SEL_GLOB,
            ]
        };
        for (i, &flags) in tries.iter().enumerate() {
            let sel = self.pool.select(spec, flags);
            let ids = self.pool.selection_ids(&sel);
            if ids.is_empty() {
                continue;
            }
            if i == 0 && flags == name_flags {
                // dnf adds the packages that obsolete what matched.
                let mut all = ids.clone();
                for &p in &ids {
                    all.extend(self.pool.obsoleters(p));
                }
                all.sort_unstable();
                all.dedup();
                return all;
            }
            return ids;
        }
        vec![]
    }

    /// Solves one request. Warnings (skipped group members) are returned.
    pub fn solve(&mut self, req: &Request) -> Result<(Vec<Resolved>, Vec<String>), SolveError> {
        let hidden: std::collections::HashSet<i32> =
            self.apply_visibility(req)?.into_iter().collect();
        let mut warnings = vec![];
        let mut missing = vec![];
        let mut specs: Vec<(String, bool)> = vec![]; // (spec, from a group)
        let mut conditional = vec![];
        for s in &req.include {
            if let Some(g) = s.strip_prefix('@') {
                match self.comps.expand(g, false) {
                    Some(x) => {
                        specs.extend(x.packages.into_iter().map(|p| (p, true)));
                        conditional.extend(x.conditional);
                    }
                    None => missing.push(s.clone()),
                }
            } else {
                specs.push((s.clone(), false));
            }
        }
        let mut cands: Vec<(String, Vec<i32>)> = vec![];
        for (s, from_group) in specs {
            let c = self.candidates(&s);
            // dnf skips a group member the request excludes (`@core`'s
            // dracut-config-rescue under an image type that excludes it).
            if from_group && !c.is_empty() && c.iter().all(|p| hidden.contains(p)) {
                warnings.push(format!(
                    "group member {s} is excluded; skipped (as dnf does)"
                ));
                continue;
            }
            if c.is_empty() {
                if from_group {
                    warnings.push(format!(
                        "group member {s} is not available; skipped (as dnf does)"
                    ));
                } else {
                    missing.push(s);
                }
                continue;
            }
            cands.push((s, c));
        }
        if !missing.is_empty() {
            return Err(SolveError::NoMatch(missing));
        }
        let mut extra: Vec<Vec<i32>> = vec![];
        loop {
            let mut job = Queue::new();
            for dep in INSTALL_ONLY {
                if self.pool.str2id(dep, false) != 0 {
                    self.pool
                        .job_provides(&mut job, solv::JOB_MULTIVERSION, dep);
                }
            }
            for (_, c) in &cands {
                self.pool
                    .job_one_of(&mut job, solv::JOB_INSTALL | solv::JOB_FORCEBEST, c);
            }
            for c in &extra {
                self.pool
                    .job_one_of(&mut job, solv::JOB_INSTALL | solv::JOB_FORCEBEST, c);
            }
            let solved = self.pool.solve(&mut job, req.weak_deps);
            if solved.problem_count() > 0 {
                return Err(SolveError::Unsatisfiable(solved.problems()));
            }
            let ids = solved.installs();
            let removed: Vec<String> = solved
                .removals()
                .into_iter()
                .map(|p| solved.pool.display(p))
                .collect();
            drop(solved);
            if !removed.is_empty() {
                return Err(SolveError::ReplacesBase(removed));
            }
            // Conditional group members whose trigger made it in.
            let names: std::collections::BTreeSet<String> =
                ids.iter().map(|&p| self.pool.name(p)).collect();
            let mut added = false;
            conditional.retain(|(pkg, trigger)| {
                if names.contains(trigger) && !names.contains(pkg) {
                    let sel = self.pool.select(pkg, solv::SEL_NAME);
                    let c = self.pool.selection_ids(&sel);
                    if !c.is_empty() {
                        extra.push(c);
                        added = true;
                    }
                    false
                } else {
                    true
                }
            });
            if added {
                continue;
            }
            let mut out: Vec<Resolved> = ids.iter().map(|&p| self.describe(p)).collect();
            out.sort();
            return Ok((out, warnings));
        }
    }

    fn describe(&self, p: i32) -> Resolved {
        let (epoch, version, release) = split_evr(&self.pool.evr(p));
        let (checksum_type, checksum) = self.pool.checksum(p).unwrap_or_default();
        Resolved {
            name: self.pool.name(p),
            epoch,
            version,
            release,
            arch: self.pool.arch(p),
            repo: self.pool.repo_of(p).unwrap_or(0),
            location: self.pool.location(p).unwrap_or_default(),
            checksum_type,
            checksum,
            size: self.pool.download_size(p),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evr_split_table() {
        for (evr, want) in [
            ("1.0-1", (0, "1.0", "1")),
            ("2:1.0-1.el9", (2, "1.0", "1.el9")),
            ("1.2.3", (0, "1.2.3", "")),
            ("1:8.2-1.3", (1, "8.2", "1.3")),
            ("0~20171227-0.3+deb12u1", (0, "0~20171227", "0.3+deb12u1")),
        ] {
            let (e, v, r) = split_evr(evr);
            assert_eq!((e, v.as_str(), r.as_str()), want, "{evr}");
        }
    }

    #[test]
    fn linked_libsolv_has_a_version() {
        assert!(solv::version().starts_with("0."), "{}", solv::version());
    }
}
