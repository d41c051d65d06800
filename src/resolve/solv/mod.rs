//! Safe Rust over `csrc/solv_shim.c`, our narrow C face of libsolv.
//!
//! libsolv is the solver dnf and zypper use; going through it (not a
//! solver of our own) is what makes "same answer as dnf" achievable. The
//! shim keeps struct layouts on the C side; here every pointer is owned by
//! a type whose `Drop` frees it, and every string is copied out at once
//! (libsolv returns many strings in a temporary buffer that the next call
//! may reuse).
//!
//! Soundness: no safe function here can make libsolv read out of bounds,
//! whatever it is given. How:
//! - a solvable id is only dereferenced through [`Pool::solvable`], which
//!   checks it against the pool (the shim checks again: `ib_solvable_valid`);
//!   the returned [`Solvable`] borrows the pool, so no mutation can free it
//!   while it is in use;
//! - a [`RepoHandle`] borrows its pool mutably: it cannot outlive the pool
//!   or be used with another one;
//! - selections and jobs carry their pool's serial and generation (bumped
//!   whenever solvables go away): handing one to another pool, or using
//!   one after the pool's ids changed, is an error, not a wild read;
//! - job kinds are a closed enum, so no caller can smuggle libsolv's
//!   "what" selector bits (a repo id read as a pointer) into a job;
//! - the pool prepares itself (file provides, provides index) before any
//!   lookup that needs it, and every mutation that changes the number of
//!   solvables drops the hide map sized for the old count.

mod ffi;
mod solved;

use ffi::*;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

pub use solved::{Problem, Solved};

// selection.h
pub const SEL_NAME: i32 = 1 << 0;
pub const SEL_PROVIDES: i32 = 1 << 1;
pub const SEL_FILELIST: i32 = 1 << 2;
pub const SEL_CANON: i32 = 1 << 3;
pub const SEL_DOTARCH: i32 = 1 << 4;
pub const SEL_REL: i32 = 1 << 5;
pub const SEL_GLOB: i32 = 1 << 9;
/// The selection flags callers may pass (libsolv's others change what a
/// selection's ids mean, e.g. SEL_SETVENDOR).
const SEL_ALLOWED: i32 = SEL_NAME | SEL_PROVIDES | SEL_FILELIST | SEL_CANON | SEL_DOTARCH | SEL_REL | SEL_GLOB | (1 << 10) /* NOCASE */ | (1 << 12) /* SKIP_KIND */;
// solver.h
const JOB_INSTALL: i32 = 0x0100;
const JOB_MULTIVERSION: i32 = 0x0500;
const JOB_FORCEBEST: i32 = 0x100000;

/// What a job asks for its packages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Install one of them.
    Install,
    /// Install one of them, the best or none (dnf's `best=True`).
    InstallBest,
    /// They may be installed in several versions (kernels).
    Multiversion,
}

impl Action {
    fn bits(self) -> c_int {
        match self {
            Action::Install => JOB_INSTALL,
            Action::InstallBest => JOB_INSTALL | JOB_FORCEBEST,
            Action::Multiversion => JOB_MULTIVERSION,
        }
    }
}

/// What went wrong in the wrapper.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SolvError {
    #[error("solvable {0} is not a package of this pool")]
    NoSolvable(i32),
    #[error("{0} was made for another pool, or before the pool's packages changed")]
    Stale(&'static str),
    #[error("selection flags {0:#x} are not supported")]
    Flags(i32),
    #[error("{0}")]
    Libsolv(String),
}

/// The libsolv version we were linked against.
pub fn version() -> String {
    // SAFETY: a static NUL-terminated string inside libsolv.
    unsafe { text(ib_solv_version()) }.unwrap_or_default()
}

/// Copies a C string libsolv returned (possibly from its temp space).
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string alive for this call.
unsafe fn text(p: *const c_char) -> Option<String> {
    if p.is_null() {
        None
    } else {
        // SAFETY: per this function's contract.
        Some(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
    }
}

fn cstr(s: &str) -> CString {
    CString::new(s.replace('\0', "")).expect("NULs removed")
}

fn cpath(p: &Path) -> CString {
    use std::os::unix::ffi::OsStrExt;
    CString::new(p.as_os_str().as_bytes()).unwrap_or_else(|_| cstr("\u{1}invalid path"))
}

/// A libsolv queue of ids; private, so only this module fills queues that
/// libsolv reads.
struct Queue(*mut RawQueue);

impl Queue {
    fn new() -> Queue {
        // SAFETY: returns a fresh, initialized, heap-allocated queue.
        Queue(unsafe { ib_queue_new() })
    }
    fn push(&mut self, v: i32) {
        // SAFETY: self.0 is a live queue.
        unsafe { ib_queue_push(self.0, v) }
    }
    fn to_vec(&self) -> Vec<i32> {
        // SAFETY: self.0 is live; every index is below its count.
        unsafe {
            (0..ib_queue_count(self.0))
                .map(|i| ib_queue_get(self.0, i))
                .collect()
        }
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        // SAFETY: allocated by ib_queue_new, freed once.
        unsafe { ib_queue_free(self.0) }
    }
}

/// Which pool, and which of its states, a selection or job belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    serial: u64,
    generation: u64,
}

/// A libsolv selection (pairs of how, what), from [`Pool::select`].
pub struct Selection {
    q: Queue,
    stamp: Stamp,
}

/// Solver jobs, built only through [`Pool`]'s job methods.
pub struct Job {
    q: Queue,
    stamp: Option<Stamp>,
}

impl Job {
    pub fn new() -> Job {
        Job {
            q: Queue::new(),
            stamp: None,
        }
    }
}

impl Default for Job {
    fn default() -> Self {
        Job::new()
    }
}

/// Copies of earlier transactions' packages in the installed repo.
#[derive(Debug, Clone, Copy)]
struct ChainBlock {
    start: i32,
    n: i32,
    created: bool,
}

static SERIAL: AtomicU64 = AtomicU64::new(1);

/// A pool: every repo's packages for one architecture policy.
pub struct Pool {
    raw: *mut RawPool,
    /// (libsolv's repo id, our index, the repo), for every added repo.
    repos: Vec<(i32, usize, *mut RawRepo)>,
    serial: u64,
    /// Bumped whenever solvables are freed (ids may be reused).
    generation: u64,
    /// Repos changed since the last prepare.
    dirty: bool,
    chain: Option<ChainBlock>,
}

// SAFETY: the pool owns all its libsolv state, which libsolv keeps no
// thread-local references to; Pool is not Sync, so one thread at a time.
unsafe impl Send for Pool {}

/// A repo inside a pool; borrows the pool, which owns the repo.
pub struct RepoHandle<'p> {
    pool: &'p mut Pool,
    raw: *mut RawRepo,
}

/// A checked package id; borrows its pool, so it stays valid.
#[derive(Clone, Copy)]
pub struct Solvable<'a> {
    pool: &'a Pool,
    id: i32,
}

impl Pool {
    /// `archpolicy` is libsolv's string, e.g. `x86_64_v2:x86_64`; noarch
    /// is always accepted.
    pub fn new(archpolicy: &str) -> Pool {
        let a = cstr(archpolicy);
        Pool {
            // SAFETY: pool_create never fails; the string is copied.
            raw: unsafe { ib_pool_new(a.as_ptr()) },
            repos: vec![],
            serial: SERIAL.fetch_add(1, Ordering::Relaxed),
            generation: 0,
            dirty: true,
            chain: None,
        }
    }

    fn err(&self) -> String {
        // SAFETY: the pool is alive; the string is copied at once.
        unsafe { text(ib_pool_errstr(self.raw)) }.unwrap_or_else(|| "unknown libsolv error".into())
    }

    fn stamp(&self) -> Stamp {
        Stamp {
            serial: self.serial,
            generation: self.generation,
        }
    }

    /// Solvables are about to change: the hide map and the provides
    /// index no longer fit.
    fn touch(&mut self) {
        // SAFETY: the pool is alive.
        unsafe { ib_pool_show_all(self.raw) };
        self.dirty = true;
    }

    /// Rebuilds the provides index when repos changed. That moves
    /// libsolv's whatprovides offsets, which jobs and selections hold:
    /// a new generation makes the old ones stale.
    fn ensure_prepared(&mut self) {
        if self.dirty {
            // SAFETY: the pool is alive.
            unsafe { ib_pool_prepare(self.raw) };
            self.dirty = false;
            self.generation += 1;
        }
    }

    /// A new repo; `index` is the caller's number for it. libsolv prefers
    /// higher priorities; callers map dnf's "lower wins" before this.
    pub fn add_repo(&mut self, name: &str, index: usize, priority: i32) -> RepoHandle<'_> {
        let n = cstr(name);
        // SAFETY: the pool is alive; the name is copied.
        let r = unsafe { ib_repo_new(self.raw, n.as_ptr(), priority, 0) };
        // SAFETY: r is a live repo of this pool.
        self.repos.push((unsafe { ib_repo_id(r) }, index, r));
        RepoHandle { pool: self, raw: r }
    }

    /// The repo the caller numbered `index`.
    pub fn repo(&mut self, index: usize) -> Option<RepoHandle<'_>> {
        let raw = self.repos.iter().find(|r| r.1 == index)?.2;
        Some(RepoHandle { pool: self, raw })
    }

    /// Makes the rpm database of the tree at `root` the installed set
    /// (dnf's `@System`): solving then adds to it instead of starting
    /// from nothing. Returns how many packages it holds.
    pub fn add_installed(&mut self, root: &Path) -> Result<usize, SolvError> {
        if self.chain.is_some() {
            return Err(SolvError::Libsolv(
                "an installed set exists already (a transaction chain)".into(),
            ));
        }
        let before = self.len();
        let p = cpath(root);
        self.touch();
        // SAFETY: the pool is alive; the path is copied by libsolv.
        let r = unsafe { ib_pool_add_installed(self.raw, p.as_ptr()) };
        if r.is_null() {
            return Err(SolvError::Libsolv(format!(
                "reading the rpm database under {}: {}",
                root.display(),
                self.err()
            )));
        }
        Ok(self.len() - before)
    }

    /// Makes solvables invisible to selections and the solver (installed
    /// ones stay: excludes do not apply to them). Invalid ids are ignored.
    pub fn hide(&mut self, ids: &[i32]) {
        self.ensure_prepared();
        let n = c_int::try_from(ids.len()).unwrap_or(c_int::MAX);
        // SAFETY: ids has at least n elements; the shim checks every id.
        unsafe { ib_pool_hide(self.raw, ids.as_ptr(), n) }
    }

    /// Undoes every `hide`.
    pub fn show_all(&mut self) {
        // SAFETY: the pool is alive.
        unsafe { ib_pool_show_all(self.raw) }
    }

    /// File provides and the provides index. Lookups prepare on their own;
    /// this is for callers that want the cost at a time of their choosing.
    pub fn prepare(&mut self) {
        self.ensure_prepared();
    }

    /// Prepares, and returns the file dependencies nothing provides (what
    /// only a repo's filelists can answer).
    pub fn prepare_unresolved_files(&mut self) -> Vec<String> {
        let q = Queue::new();
        // SAFETY: the pool and q are alive.
        unsafe { ib_pool_prepare_unresolved_files(self.raw, q.0) };
        self.dirty = false;
        self.generation += 1;
        q.to_vec()
            .into_iter()
            // SAFETY: ib_id2str checks the id; the string is copied.
            .filter_map(|id| unsafe { text(ib_id2str(self.raw, id)) })
            .collect()
    }

    fn check_stamp(&self, s: Option<Stamp>, what: &'static str) -> Result<(), SolvError> {
        match s {
            Some(s) if s != self.stamp() => Err(SolvError::Stale(what)),
            _ => Ok(()),
        }
    }

    /// Adds `action` on one of `ids` to a job.
    pub fn job_one_of(
        &mut self,
        job: &mut Job,
        action: Action,
        ids: &[i32],
    ) -> Result<(), SolvError> {
        self.ensure_prepared();
        self.check_stamp(job.stamp, "the job")?;
        let mut q = Queue::new();
        for &i in ids {
            self.solvable(i)?;
            q.push(i);
        }
        // SAFETY: queues and pool alive; every id checked above.
        unsafe { ib_job_one_of(self.raw, job.q.0, action.bits(), q.0) };
        job.stamp = Some(self.stamp());
        Ok(())
    }

    /// Adds `action` on whatever provides `dep` to a job.
    pub fn job_provides(
        &mut self,
        job: &mut Job,
        action: Action,
        dep: &str,
    ) -> Result<(), SolvError> {
        self.ensure_prepared();
        self.check_stamp(job.stamp, "the job")?;
        let c = cstr(dep);
        // SAFETY: queue and pool alive; the string is copied into the pool.
        unsafe { ib_job_provides(self.raw, job.q.0, action.bits(), c.as_ptr()) };
        job.stamp = Some(self.stamp());
        Ok(())
    }

    /// Solvables in the pool, libsolv's two reserved ones included.
    pub fn len(&self) -> usize {
        // SAFETY: the pool is alive.
        unsafe { ib_pool_nsolvables(self.raw) }.max(0) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() <= 2
    }

    /// Every package id (libsolv reserves 0 and 1; freed slots skipped).
    pub fn ids(&self) -> impl Iterator<Item = i32> + '_ {
        (2..self.len() as i32).filter(|&p| self.solvable(p).is_ok())
    }

    /// A checked handle on package `id`.
    pub fn solvable(&self, id: i32) -> Result<Solvable<'_>, SolvError> {
        // SAFETY: the shim bounds-checks id before reading the solvable.
        if unsafe { ib_solvable_valid(self.raw, id) } != 0 {
            Ok(Solvable { pool: self, id })
        } else {
            Err(SolvError::NoSolvable(id))
        }
    }

    /// Whether the pool knows a string or dependency name.
    pub fn knows(&mut self, s: &str) -> bool {
        let c = cstr(s);
        // SAFETY: the pool is alive; create = 0 adds nothing.
        unsafe { ib_str2id(self.raw, c.as_ptr(), 0) != 0 }
    }

    /// A libsolv selection for `spec` with `flags` (SEL_*).
    pub fn select(&mut self, spec: &str, flags: i32) -> Result<Selection, SolvError> {
        if flags & !SEL_ALLOWED != 0 {
            return Err(SolvError::Flags(flags));
        }
        self.ensure_prepared();
        let q = Queue::new();
        let c = cstr(spec);
        // SAFETY: q and the pool are alive; the spec is copied.
        unsafe { ib_selection_make(self.raw, q.0, c.as_ptr(), flags) };
        Ok(Selection {
            q,
            stamp: self.stamp(),
        })
    }

    /// The solvables a selection stands for.
    pub fn selection_ids(&mut self, sel: &Selection) -> Result<Vec<i32>, SolvError> {
        self.ensure_prepared();
        self.check_stamp(Some(sel.stamp), "the selection")?;
        let out = Queue::new();
        // SAFETY: the selection came from this pool in its current state.
        unsafe { ib_selection_solvables(self.raw, sel.q.0, out.0) };
        Ok(out.to_vec())
    }

    /// Packages whose Obsoletes match `p`'s name = evr.
    pub fn obsoleters(&mut self, p: i32) -> Result<Vec<i32>, SolvError> {
        self.solvable(p)?;
        self.ensure_prepared();
        let out = Queue::new();
        // SAFETY: p checked above; queue and pool alive.
        unsafe { ib_obsoleters(self.raw, p, out.0) };
        Ok(out.to_vec())
    }

    /// Makes `ids` (packages an earlier transaction chose) installed, as
    /// copies in the installed repo, until [`Pool::uninstall_chain`].
    /// Returns the copies' ids. Replaces an earlier chain.
    pub fn install_chain(&mut self, ids: &[i32]) -> Result<std::ops::Range<i32>, SolvError> {
        for &p in ids {
            self.solvable(p)?;
        }
        self.uninstall_chain();
        self.ensure_prepared();
        let mut n = c_int::try_from(ids.len())
            .map_err(|_| SolvError::Libsolv("too many packages".into()))?;
        let mut created = 0;
        self.touch();
        // SAFETY: ids holds n checked ids; the shim re-checks, allocates
        // the block and rebuilds the provides index.
        let start = unsafe { ib_chain_install(self.raw, ids.as_ptr(), &mut n, &mut created) };
        self.dirty = true;
        self.generation += 1;
        if n > 0 {
            self.chain = Some(ChainBlock {
                start,
                n,
                created: created != 0,
            });
        }
        Ok(start..start + n)
    }

    /// Removes the copies `install_chain` made (no-op without any).
    pub fn uninstall_chain(&mut self) {
        if let Some(c) = self.chain.take() {
            self.touch();
            // SAFETY: the block install_chain made, freed once.
            unsafe { ib_chain_free(self.raw, c.start, c.n, c.created as c_int) };
            self.generation += 1;
        }
    }

    /// Whether `p` is one of the chain's installed copies.
    pub fn in_chain(&self, p: i32) -> bool {
        self.chain
            .is_some_and(|c| p >= c.start && p < c.start + c.n)
    }

    /// Runs the solver over `job`.
    pub fn solve(&mut self, job: &Job, weak_deps: bool) -> Result<Solved<'_>, SolvError> {
        self.ensure_prepared();
        self.check_stamp(job.stamp, "the job")?;
        Ok(Solved::new(self, &job.q, weak_deps))
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // SAFETY: created by ib_pool_new; handles and solvers borrow the
        // pool, so none is left.
        unsafe { ib_pool_free(self.raw) }
    }
}

impl RepoHandle<'_> {
    /// Loads primary (or, with `extend`, filelists) XML, compressed or not.
    pub fn load_rpmmd(&mut self, path: &Path, extend: bool) -> Result<(), SolvError> {
        let p = cpath(path);
        self.pool.touch();
        // SAFETY: the repo belongs to the borrowed pool; the path is copied.
        let r = unsafe { ib_repo_add_rpmmd(self.raw, p.as_ptr(), extend as c_int) };
        if r != 0 {
            return Err(SolvError::Libsolv(format!(
                "{}: {}",
                path.display(),
                self.pool.err()
            )));
        }
        Ok(())
    }

    pub fn internalize(&mut self) {
        self.pool.touch();
        // SAFETY: the repo belongs to the borrowed pool.
        unsafe { ib_repo_internalize(self.raw) }
    }

    /// Loads a `.solv` cache written by `write_solv`.
    pub fn load_solv(&mut self, path: &Path) -> Result<(), SolvError> {
        let p = cpath(path);
        self.pool.touch();
        // SAFETY: as above.
        if unsafe { ib_repo_add_solv(self.raw, p.as_ptr()) } != 0 {
            return Err(SolvError::Libsolv(format!(
                "{}: {}",
                path.display(),
                self.pool.err()
            )));
        }
        Ok(())
    }

    pub fn write_solv(&mut self, path: &Path) -> Result<(), SolvError> {
        let p = cpath(path);
        // SAFETY: as above.
        if unsafe { ib_repo_write(self.raw, p.as_ptr()) } != 0 {
            return Err(SolvError::Libsolv(format!("writing {}", path.display())));
        }
        Ok(())
    }
}

impl<'a> Solvable<'a> {
    pub fn id(&self) -> i32 {
        self.id
    }

    fn s(&self, what: c_int) -> Option<String> {
        // SAFETY: self.id was checked against this (borrowed, unchanged)
        // pool; the shim checks again; the string is copied at once.
        unsafe { text(ib_solvable_str(self.pool.raw, self.id, what)) }
    }

    pub fn name(&self) -> String {
        self.s(0).unwrap_or_default()
    }
    pub fn evr(&self) -> String {
        self.s(1).unwrap_or_default()
    }
    pub fn arch(&self) -> String {
        self.s(2).unwrap_or_default()
    }
    pub fn location(&self) -> Option<String> {
        self.s(3)
    }
    /// (type, hex), e.g. ("sha256", "ab12…").
    pub fn checksum(&self) -> Option<(String, String)> {
        Some((self.s(5)?, self.s(4)?))
    }
    pub fn sourcerpm(&self) -> Option<String> {
        self.s(7)
    }
    /// libsolv's own rendering, `name-evr.arch`.
    pub fn display(&self) -> String {
        self.s(8).unwrap_or_default()
    }
    pub fn download_size(&self) -> u64 {
        // SAFETY: as in `s`.
        unsafe { ib_solvable_num(self.pool.raw, self.id, 0) }
    }
    pub fn install_size(&self) -> u64 {
        // SAFETY: as in `s`.
        unsafe { ib_solvable_num(self.pool.raw, self.id, 1) }
    }
    /// The caller's index of the repo holding it (None: the installed set).
    pub fn repo(&self) -> Option<usize> {
        // SAFETY: as in `s`.
        let id = unsafe { ib_solvable_repoid(self.pool.raw, self.id) };
        self.pool
            .repos
            .iter()
            .find(|(r, _, _)| *r == id)
            .map(|(_, i, _)| *i)
    }
}

/// Reads a file whole, decompressing by suffix (.gz, .xz, .zst, .bz2) the
/// way libsolv reads repodata, so every metadata file goes through one
/// decompressor.
pub fn read_compressed(path: &Path) -> Result<Vec<u8>, String> {
    let p = cpath(path);
    let mut len: usize = 0;
    // SAFETY: the shim returns a solv_malloc'd buffer of len bytes or NULL.
    let buf = unsafe { ib_read_compressed(p.as_ptr(), &mut len) };
    if buf.is_null() {
        return Err(format!("cannot read {}", path.display()));
    }
    // SAFETY: buf holds len initialized bytes until freed just below.
    let v = unsafe { std::slice::from_raw_parts(buf as *const u8, len) }.to_vec();
    // SAFETY: allocated by the shim with solv_malloc, freed once.
    unsafe { ib_free(buf as *mut c_void) };
    Ok(v)
}
