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
//!
//! A request is a **chain of transactions**, as osbuild asks for an image
//! (the image type's base set with its excludes, then what customizations
//! imply, then the manifest's packages). Each transaction is solved with
//! the earlier ones' results *installed*: their packages are copied into
//! libsolv's installed repo, exactly as if dnf had installed them into
//! the root before the next `dnf install`. We chose that over osbuild's
//! way (re-adding the earlier packages as strict install jobs of one
//! fresh solve) because it is the sound one for excludes: with jobs, the
//! earlier packages are "new" again, so their Recommends are re-evaluated
//! without the earlier transaction's excludes, and adding any package to a
//! qcow2 would bring back the `plymouth` or `alsa-*` its base set excluded.
//! As installed packages, their weak deps were decided once, under their
//! own transaction's excludes. An exclude hides packages from its own
//! transaction only, never installed ones (dnf's rule). A later
//! transaction may not remove or replace an earlier one's packages: that
//! is refused (dnf would upgrade; osbuild's strict jobs refuse too). The
//! result is the union of every transaction's installs.
//!
//! File dependencies: primary.xml lists only the "interesting" paths
//! (`/etc/*`, `*bin/*`, `/usr/lib/sendmail`); a requirement on any other
//! path is answered by filelists.xml, which dnf 4 always loads. Filelists
//! are several times primary's size, and almost no request needs them, so
//! we load them on demand: after primary, libsolv names the file deps
//! nothing provides; only when there are some (or a requested path
//! matches nothing) are the filelists of every repo parsed into the pool.
//! The `.solv` cache holds primary only, so the common case loads fast.

use super::comps::Comps;
use super::modules::{nevra_with_epoch, Modules};
use super::solv::{self, Action, Job, Pool, Problem, SolvError};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

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

/// One transaction of a chain: what it installs, what it hides from
/// itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transaction {
    /// For messages: `base`, `customizations`, `manifest`.
    pub name: String,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
}

/// What to install: transactions solved in order, each over the earlier
/// ones' results.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub chain: Vec<Transaction>,
    /// `name:stream` (EL8/EL9 modules), for every transaction.
    pub modules: Vec<String>,
    pub weak_deps: bool,
}

impl Request {
    /// A request of one transaction.
    pub fn single(include: Vec<String>, exclude: Vec<String>, weak_deps: bool) -> Request {
        Request {
            chain: vec![Transaction {
                name: "request".into(),
                include,
                exclude,
            }],
            modules: vec![],
            weak_deps,
        }
    }
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
    #[error("these packages would remove or replace packages an earlier transaction installed ({}); request them in the same package set", .0.join(", "))]
    ReplacesEarlier(Vec<String>),
    #[error("{0}")]
    Metadata(String),
    #[error("libsolv wrapper: {0}")]
    Solv(#[from] SolvError),
}

/// A chain's failure: which transaction, and why.
#[derive(Debug, thiserror::Error)]
#[error("{transaction} packages: {error}")]
pub struct ChainError {
    pub transaction: String,
    pub error: SolveError,
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
    /// Whether every repo's filelists are in the pool.
    filelists_loaded: bool,
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

/// The `.solv` cache's sidecar: the sha256 of the cache's bytes.
pub(super) fn solv_sum(c: &Path) -> PathBuf {
    let mut s = c.as_os_str().to_owned();
    s.push(".sha256");
    PathBuf::from(s)
}

/// Does the `.solv` cache still hash to what was written? libsolv reads
/// whatever a damaged file holds, so it is checked before it is loaded; a
/// damaged one is removed (and rebuilt from the XML by the caller).
fn solv_cache_intact(c: &Path, repo: &str) -> bool {
    let want = std::fs::read_to_string(solv_sum(c)).unwrap_or_default();
    let got = crate::fetch::sha256_file(c).unwrap_or_default();
    if !want.trim().is_empty() && want.trim() == got {
        return true;
    }
    crate::report::info(format!(
        "warning: the solver cache {} of repo {repo} is damaged or unsealed: rebuilding it from the metadata",
        c.display()
    ));
    let _ = std::fs::remove_file(c);
    let _ = std::fs::remove_file(solv_sum(c));
    false
}

/// Writes the `.solv` cache and its sidecar, each atomically (the cache
/// is an optimisation: failures only cost the next run a reparse).
fn write_solv_cache(h: &mut solv::RepoHandle<'_>, c: &Path) {
    let pid = std::process::id();
    let tmp = c.with_extension(format!("tmp.{pid}"));
    let sum_tmp = c.with_extension(format!("sum.tmp.{pid}"));
    let ok = h.write_solv(&tmp).is_ok()
        && std::fs::File::open(&tmp).and_then(|f| f.sync_all()).is_ok()
        && crate::fetch::sha256_file(&tmp)
            .ok()
            .is_some_and(|sum| std::fs::write(&sum_tmp, sum).is_ok())
        && std::fs::rename(&sum_tmp, solv_sum(c)).is_ok()
        && std::fs::rename(&tmp, c).is_ok();
    if !ok {
        let _ = std::fs::remove_file(&tmp);
        let _ = std::fs::remove_file(&sum_tmp);
    }
}

impl Universe {
    /// Loads every repo's primary metadata for one arch policy
    /// (`x86_64_v2:x86_64`), and their filelists when primary leaves a
    /// file dependency unanswered.
    pub fn load(archpolicy: &str, repos: Vec<RepoFiles>) -> Result<Universe> {
        let mut pool = Pool::new(archpolicy);
        let mut comps = Comps::default();
        let mut modules = Modules::default();
        for (i, r) in repos.iter().enumerate() {
            // libsolv prefers higher priorities; dnf lets lower numbers win.
            let mut h = pool.add_repo(&r.id, i, -r.priority);
            let cached = r
                .solv_cache
                .as_ref()
                .filter(|p| p.is_file())
                .filter(|p| solv_cache_intact(p, &r.id));
            let from_cache = match cached {
                Some(c) => h.load_solv(c).is_ok(),
                None => false,
            };
            if !from_cache {
                h.load_rpmmd(&r.primary, false)
                    .map_err(|e| anyhow::anyhow!("repo {}: reading primary metadata: {e}", r.id))?;
                h.internalize();
                if let Some(c) = &r.solv_cache {
                    write_solv_cache(&mut h, c);
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
        let unresolved = pool.prepare_unresolved_files();
        let mut u = Universe {
            pool,
            repos,
            comps,
            modules,
            filelists_loaded: false,
        };
        if !unresolved.is_empty() {
            crate::report::debug(format!(
                "{} file dependencies are not in primary metadata (e.g. {}): loading filelists",
                unresolved.len(),
                unresolved[0]
            ));
            u.load_filelists()?;
        }
        Ok(u)
    }

    /// Parses every repo's filelists into the pool (once).
    pub fn load_filelists(&mut self) -> Result<()> {
        if self.filelists_loaded {
            return Ok(());
        }
        self.filelists_loaded = true;
        for (i, r) in self.repos.iter().enumerate() {
            let Some(f) = &r.filelists else {
                continue;
            };
            let mut h = self.pool.repo(i).context("repo handle")?;
            h.load_rpmmd(f, true)
                .map_err(|e| anyhow::anyhow!("repo {}: reading filelists: {e}", r.id))?;
            h.internalize();
        }
        self.pool.prepare();
        Ok(())
    }

    /// Whether the filelists are loaded (for tests and reports).
    pub fn has_filelists(&self) -> bool {
        self.filelists_loaded
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
        let n = self.pool.add_installed(scratch.path())?;
        self.pool.prepare();
        Ok(n)
    }

    /// Packages across all repos.
    pub fn package_count(&self) -> usize {
        self.pool.len().saturating_sub(2)
    }

    /// Hides what modular filtering and this transaction's excludes hide;
    /// returns the hidden ids.
    fn apply_visibility(
        &mut self,
        modules: &[String],
        exclude: &[String],
    ) -> Result<Vec<i32>, SolveError> {
        self.pool.show_all();
        let mut hide = vec![];
        if !self.modules.is_empty() {
            let active = self.modules.active(modules).map_err(SolveError::Modules)?;
            let f = self.modules.filter(&active);
            for p in self.pool.ids() {
                let s = self.pool.solvable(p)?;
                let Some(repo) = s.repo() else {
                    continue;
                };
                let name = s.name();
                let nevra = nevra_with_epoch(&name, &s.evr(), &s.arch());
                if f.hides(&name, &nevra, self.repos[repo].module_hotfixes) {
                    hide.push(p);
                }
            }
        } else if let Some(m) = modules.first() {
            return Err(SolveError::Modules(format!(
                "module stream {m} requested, but no repository has module metadata"
            )));
        }
        for e in exclude {
            let sel = self.pool.select(
                e,
                solv::SEL_NAME | solv::SEL_CANON | solv::SEL_DOTARCH | solv::SEL_GLOB,
            )?;
            hide.extend(self.pool.selection_ids(&sel)?);
        }
        self.pool.hide(&hide);
        Ok(hide)
    }

    /// Solver candidates for one spec; empty when nothing matches.
    fn candidates(&mut self, spec: &str) -> Result<Vec<i32>, SolveError> {
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
            let sel = self.pool.select(spec, flags)?;
            let ids = self.pool.selection_ids(&sel)?;
            if ids.is_empty() {
                continue;
            }
            if i == 0 && flags == name_flags {
                // dnf adds the packages that obsolete what matched.
                let mut all = ids.clone();
                for &p in &ids {
                    all.extend(self.pool.obsoleters(p)?);
                }
                all.sort_unstable();
                all.dedup();
                return Ok(all);
            }
            return Ok(ids);
        }
        Ok(vec![])
    }

    /// Solves a request: its transactions in order, each over the
    /// earlier ones' results. Warnings (skipped group members) are
    /// returned with the union of every transaction's packages.
    pub fn solve(&mut self, req: &Request) -> Result<(Vec<Resolved>, Vec<String>), ChainError> {
        let r = self.solve_chain(req);
        self.pool.uninstall_chain();
        self.pool.show_all();
        r
    }

    fn solve_chain(&mut self, req: &Request) -> Result<(Vec<Resolved>, Vec<String>), ChainError> {
        let mut chosen: Vec<i32> = vec![];
        let mut warnings = vec![];
        for t in &req.chain {
            let fail = |error: SolveError| ChainError {
                transaction: t.name.clone(),
                error,
            };
            if !chosen.is_empty() {
                self.pool
                    .install_chain(&chosen)
                    .map_err(|e| fail(e.into()))?;
            }
            let (new, w) = self
                .solve_one(t, &req.modules, req.weak_deps, &chosen)
                .map_err(fail)?;
            warnings.extend(w);
            chosen.extend(new);
            chosen.sort_unstable();
            chosen.dedup();
        }
        let mut out = vec![];
        for &p in &chosen {
            out.push(self.describe(p).map_err(|e| ChainError {
                transaction: "result".into(),
                error: e.into(),
            })?);
        }
        out.sort();
        Ok((out, warnings))
    }

    /// One transaction over the installed set; returns the packages it
    /// adds (ids of the available repos).
    fn solve_one(
        &mut self,
        t: &Transaction,
        modules: &[String],
        weak_deps: bool,
        earlier: &[i32],
    ) -> Result<(Vec<i32>, Vec<String>), SolveError> {
        let mut hidden: std::collections::HashSet<i32> = self
            .apply_visibility(modules, &t.exclude)?
            .into_iter()
            .collect();
        let mut warnings = vec![];
        let mut missing = vec![];
        let mut specs: Vec<(String, bool)> = vec![]; // (spec, from a group)
        let mut conditional = vec![];
        for s in &t.include {
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
            let mut c = self.candidates(&s)?;
            if c.is_empty() && s.starts_with('/') && !self.filelists_loaded {
                // A path only filelists know: load them, ask again.
                self.load_filelists()
                    .map_err(|e| SolveError::Metadata(format!("{e:#}")))?;
                hidden = self
                    .apply_visibility(modules, &t.exclude)?
                    .into_iter()
                    .collect();
                c = self.candidates(&s)?;
            }
            // dnf skips a group member the transaction excludes (`@core`'s
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
        let mut names_before = std::collections::BTreeSet::new();
        for &p in earlier {
            names_before.insert(self.pool.solvable(p)?.name());
        }
        let mut extra: Vec<Vec<i32>> = vec![];
        loop {
            let mut job = Job::new();
            for dep in INSTALL_ONLY {
                if self.pool.knows(dep) {
                    self.pool
                        .job_provides(&mut job, Action::Multiversion, dep)?;
                }
            }
            for (_, c) in &cands {
                self.pool.job_one_of(&mut job, Action::InstallBest, c)?;
            }
            for c in &extra {
                self.pool.job_one_of(&mut job, Action::InstallBest, c)?;
            }
            let solved = self.pool.solve(&job, weak_deps)?;
            if solved.problem_count() > 0 {
                return Err(SolveError::Unsatisfiable(solved.problems()));
            }
            let ids = solved.installs();
            let (mut base, mut chain) = (vec![], vec![]);
            for p in solved.removals() {
                let name = solved
                    .pool
                    .solvable(p)
                    .map(|s| s.display())
                    .unwrap_or_default();
                if solved.pool.in_chain(p) {
                    chain.push(name);
                } else {
                    base.push(name);
                }
            }
            drop(solved);
            if !base.is_empty() {
                return Err(SolveError::ReplacesBase(base));
            }
            if !chain.is_empty() {
                return Err(SolveError::ReplacesEarlier(chain));
            }
            // Conditional group members whose trigger made it in.
            let mut names = names_before.clone();
            for &p in &ids {
                names.insert(self.pool.solvable(p)?.name());
            }
            let mut added = false;
            let mut keep = vec![];
            for (pkg, trigger) in std::mem::take(&mut conditional) {
                if names.contains(&trigger) && !names.contains(&pkg) {
                    let sel = self.pool.select(&pkg, solv::SEL_NAME)?;
                    let c = self.pool.selection_ids(&sel)?;
                    if !c.is_empty() {
                        extra.push(c);
                        added = true;
                    }
                } else {
                    keep.push((pkg, trigger));
                }
            }
            conditional = keep;
            if added {
                continue;
            }
            return Ok((ids, warnings));
        }
    }

    fn describe(&self, p: i32) -> Result<Resolved, SolvError> {
        let s = self.pool.solvable(p)?;
        let (epoch, version, release) = split_evr(&s.evr());
        let (checksum_type, checksum) = s.checksum().unwrap_or_default();
        Ok(Resolved {
            name: s.name(),
            epoch,
            version,
            release,
            arch: s.arch(),
            repo: s.repo().unwrap_or(0),
            location: s.location().unwrap_or_default(),
            checksum_type,
            checksum,
            size: s.download_size(),
        })
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
