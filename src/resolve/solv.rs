//! Safe Rust over `csrc/solv_shim.c`, our narrow C face of libsolv.
//!
//! libsolv is the solver dnf and zypper use; going through it (not a
//! solver of our own) is what makes "same answer as dnf" achievable. The
//! shim keeps struct layouts on the C side; here every pointer is owned by
//! a type whose `Drop` frees it, and every string is copied out at once
//! (libsolv returns many strings in a temporary buffer that the next call
//! may reuse).

use std::ffi::{c_char, c_int, c_ulonglong, c_void, CStr, CString};
use std::path::Path;

type Id = c_int;

#[repr(C)]
struct RawPool {
    _p: [u8; 0],
}
#[repr(C)]
struct RawRepo {
    _p: [u8; 0],
}
#[repr(C)]
struct RawQueue {
    _p: [u8; 0],
}
#[repr(C)]
struct RawSolver {
    _p: [u8; 0],
}

extern "C" {
    fn ib_read_compressed(path: *const c_char, len: *mut usize) -> *mut c_char;
    fn ib_free(p: *mut c_void);
    fn ib_solv_version() -> *const c_char;
    fn ib_pool_new(archpolicy: *const c_char) -> *mut RawPool;
    fn ib_pool_free(pool: *mut RawPool);
    fn ib_pool_errstr(pool: *mut RawPool) -> *const c_char;
    fn ib_pool_nsolvables(pool: *mut RawPool) -> c_int;
    fn ib_repo_new(
        pool: *mut RawPool,
        name: *const c_char,
        prio: c_int,
        sub: c_int,
    ) -> *mut RawRepo;
    fn ib_repo_id(repo: *mut RawRepo) -> c_int;
    fn ib_repo_add_rpmmd(repo: *mut RawRepo, path: *const c_char, extend: c_int) -> c_int;
    fn ib_repo_internalize(repo: *mut RawRepo);
    fn ib_repo_add_solv(repo: *mut RawRepo, path: *const c_char) -> c_int;
    fn ib_repo_write(repo: *mut RawRepo, path: *const c_char) -> c_int;
    fn ib_pool_hide(pool: *mut RawPool, ids: *const Id, n: c_int);
    fn ib_pool_prepare(pool: *mut RawPool);
    fn ib_pool_show_all(pool: *mut RawPool);
    fn ib_job_one_of(pool: *mut RawPool, job: *mut RawQueue, how: c_int, ids: *mut RawQueue);
    fn ib_job_provides(pool: *mut RawPool, job: *mut RawQueue, how: c_int, dep: *const c_char);
    fn ib_str2id(pool: *mut RawPool, s: *const c_char, create: c_int) -> Id;
    fn ib_queue_new() -> *mut RawQueue;
    fn ib_queue_free(q: *mut RawQueue);
    fn ib_queue_count(q: *const RawQueue) -> c_int;
    fn ib_queue_get(q: *const RawQueue, i: c_int) -> Id;
    fn ib_queue_push(q: *mut RawQueue, v: Id);
    fn ib_selection_make(
        pool: *mut RawPool,
        sel: *mut RawQueue,
        spec: *const c_char,
        flags: c_int,
    ) -> c_int;
    fn ib_selection_solvables(pool: *mut RawPool, sel: *mut RawQueue, out: *mut RawQueue);
    fn ib_obsoleters(pool: *mut RawPool, p: Id, out: *mut RawQueue);
    fn ib_solvable_str(pool: *mut RawPool, p: Id, what: c_int) -> *const c_char;
    fn ib_solvable_num(pool: *mut RawPool, p: Id, what: c_int) -> c_ulonglong;
    fn ib_solvable_repoid(pool: *mut RawPool, p: Id) -> c_int;
    fn ib_solver_new(pool: *mut RawPool, ignore_weak: c_int) -> *mut RawSolver;
    fn ib_solver_solve(solv: *mut RawSolver, job: *mut RawQueue) -> c_int;
    fn ib_solver_free(solv: *mut RawSolver);
    fn ib_solver_installs(solv: *mut RawSolver, out: *mut RawQueue);
    fn ib_solver_removals(solv: *mut RawSolver, out: *mut RawQueue);
    fn ib_pool_add_installed(pool: *mut RawPool, root: *const c_char) -> *mut RawRepo;
    fn ib_problem_str(solv: *mut RawSolver, problem: Id) -> *const c_char;
    fn ib_solution_count(solv: *mut RawSolver, problem: Id) -> c_int;
    fn ib_solution_elements(solv: *mut RawSolver, problem: Id, solution: Id, out: *mut RawQueue);
    fn ib_solutionelement_str(solv: *mut RawSolver, p: Id, rp: Id) -> *const c_char;
    fn ib_problem_rule(
        solv: *mut RawSolver,
        problem: Id,
        source: *mut Id,
        target: *mut Id,
        dep: *mut *const c_char,
    ) -> c_int;
}

// selection.h
pub const SEL_NAME: i32 = 1 << 0;
pub const SEL_PROVIDES: i32 = 1 << 1;
pub const SEL_FILELIST: i32 = 1 << 2;
pub const SEL_CANON: i32 = 1 << 3;
pub const SEL_DOTARCH: i32 = 1 << 4;
pub const SEL_REL: i32 = 1 << 5;
pub const SEL_GLOB: i32 = 1 << 9;
// solver.h
pub const JOB_SOLVABLE_PROVIDES: i32 = 0x03;
pub const JOB_SOLVABLE_ONE_OF: i32 = 0x04;
pub const JOB_INSTALL: i32 = 0x0100;
pub const JOB_MULTIVERSION: i32 = 0x0500;
pub const JOB_FORCEBEST: i32 = 0x100000;

/// The libsolv version we were linked against.
pub fn version() -> String {
    // SAFETY: a static string inside libsolv.
    unsafe { text(ib_solv_version()) }.unwrap_or_default()
}

/// Copies a C string libsolv returned (possibly from its temp space).
unsafe fn text(p: *const c_char) -> Option<String> {
    if p.is_null() {
        None
    } else {
        Some(CStr::from_ptr(p).to_string_lossy().into_owned())
    }
}

fn cstr(s: &str) -> CString {
    CString::new(s.replace('\0', "")).expect("NULs removed")
}

fn cpath(p: &Path) -> CString {
    use std::os::unix::ffi::OsStrExt;
    CString::new(p.as_os_str().as_bytes()).unwrap_or_else(|_| cstr("\u{0}invalid"))
}

/// A libsolv queue of ids.
pub struct Queue(*mut RawQueue);

impl Queue {
    pub fn new() -> Queue {
        // SAFETY: returns a fresh, initialized queue.
        Queue(unsafe { ib_queue_new() })
    }
    pub fn push(&mut self, v: i32) {
        // SAFETY: self.0 is a live queue.
        unsafe { ib_queue_push(self.0, v) }
    }
    pub fn to_vec(&self) -> Vec<i32> {
        // SAFETY: indices are within count.
        unsafe {
            (0..ib_queue_count(self.0))
                .map(|i| ib_queue_get(self.0, i))
                .collect()
        }
    }
    pub fn len(&self) -> usize {
        // SAFETY: self.0 is a live queue.
        unsafe { ib_queue_count(self.0) as usize }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for Queue {
    fn default() -> Self {
        Queue::new()
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        // SAFETY: allocated by ib_queue_new, freed once.
        unsafe { ib_queue_free(self.0) }
    }
}

/// A pool: every repo's packages for one architecture policy.
pub struct Pool {
    raw: *mut RawPool,
    /// repo ids as libsolv numbers them → our repo index.
    repos: Vec<(i32, usize)>,
}

// The pool is only ever used from one thread at a time.
unsafe impl Send for Pool {}

/// A handle on a repo inside a pool (the pool owns it).
#[derive(Clone, Copy)]
pub struct RepoHandle(*mut RawRepo);

impl Pool {
    /// `archpolicy` is libsolv's string, e.g. `x86_64_v2:x86_64`; noarch
    /// is always accepted.
    pub fn new(archpolicy: &str) -> Pool {
        let a = cstr(archpolicy);
        // SAFETY: pool_create never fails; the string is copied.
        Pool {
            raw: unsafe { ib_pool_new(a.as_ptr()) },
            repos: vec![],
        }
    }

    fn err(&self) -> String {
        // SAFETY: the pool is alive.
        unsafe { text(ib_pool_errstr(self.raw)) }.unwrap_or_else(|| "unknown libsolv error".into())
    }

    /// A new repo; `index` is the caller's number for it. libsolv prefers
    /// higher priorities; callers map dnf's "lower wins" before this.
    pub fn add_repo(&mut self, name: &str, index: usize, priority: i32) -> RepoHandle {
        let n = cstr(name);
        // SAFETY: the pool is alive; the name is copied.
        let r = unsafe { ib_repo_new(self.raw, n.as_ptr(), priority, 0) };
        // SAFETY: r is a live repo of this pool.
        self.repos.push((unsafe { ib_repo_id(r) }, index));
        RepoHandle(r)
    }

    /// Loads primary (or, with `extend`, filelists) XML, compressed or not.
    pub fn load_rpmmd(
        &mut self,
        repo: RepoHandle,
        path: &Path,
        extend: bool,
    ) -> Result<(), String> {
        let p = cpath(path);
        // SAFETY: repo belongs to this pool; the path is copied.
        let r = unsafe { ib_repo_add_rpmmd(repo.0, p.as_ptr(), extend as c_int) };
        if r != 0 {
            return Err(format!("{}: {}", path.display(), self.err()));
        }
        Ok(())
    }

    /// Makes the rpm database of the tree at `root` the installed set
    /// (dnf's `@System`): solving then adds to it instead of starting
    /// from nothing. Returns how many packages it holds.
    pub fn add_installed(&mut self, root: &Path) -> Result<usize, String> {
        let before = self.len();
        let p = cpath(root);
        // SAFETY: the pool is alive; the path is copied by libsolv.
        let r = unsafe { ib_pool_add_installed(self.raw, p.as_ptr()) };
        if r.is_null() {
            return Err(format!(
                "reading the rpm database under {}: {}",
                root.display(),
                self.err()
            ));
        }
        Ok(self.len() - before)
    }

    pub fn internalize(&mut self, repo: RepoHandle) {
        // SAFETY: repo belongs to this pool.
        unsafe { ib_repo_internalize(repo.0) }
    }

    /// Loads a `.solv` cache written by `write_solv`.
    pub fn load_solv(&mut self, repo: RepoHandle, path: &Path) -> Result<(), String> {
        let p = cpath(path);
        // SAFETY: as above.
        let r = unsafe { ib_repo_add_solv(repo.0, p.as_ptr()) };
        if r != 0 {
            return Err(format!("{}: {}", path.display(), self.err()));
        }
        Ok(())
    }

    pub fn write_solv(&mut self, repo: RepoHandle, path: &Path) -> Result<(), String> {
        let p = cpath(path);
        // SAFETY: as above.
        if unsafe { ib_repo_write(repo.0, p.as_ptr()) } != 0 {
            return Err(format!("writing {}", path.display()));
        }
        Ok(())
    }

    /// Makes solvables invisible to selections and the solver.
    pub fn hide(&mut self, ids: &[i32]) {
        // SAFETY: the shim bounds-checks every id.
        unsafe { ib_pool_hide(self.raw, ids.as_ptr(), ids.len() as c_int) }
    }

    /// Undoes every `hide`.
    pub fn show_all(&mut self) {
        // SAFETY: the pool is alive.
        unsafe { ib_pool_show_all(self.raw) }
    }

    /// Adds `how | one of ids` to a job.
    pub fn job_one_of(&mut self, job: &mut Queue, how: i32, ids: &[i32]) {
        let mut q = Queue::new();
        for &i in ids {
            q.push(i);
        }
        // SAFETY: queues and pool alive.
        unsafe { ib_job_one_of(self.raw, job.0, how, q.0) }
    }

    /// Adds `how | provides(dep)` to a job.
    pub fn job_provides(&mut self, job: &mut Queue, how: i32, dep: &str) {
        let c = cstr(dep);
        // SAFETY: queues and pool alive; the string is copied.
        unsafe { ib_job_provides(self.raw, job.0, how, c.as_ptr()) }
    }

    /// File provides and the provides index; call after loading, before
    /// selecting or solving.
    pub fn prepare(&mut self) {
        // SAFETY: the pool is alive.
        unsafe { ib_pool_prepare(self.raw) }
    }

    pub fn len(&self) -> usize {
        // SAFETY: the pool is alive.
        unsafe { ib_pool_nsolvables(self.raw) as usize }
    }

    pub fn is_empty(&self) -> bool {
        self.len() <= 2
    }

    /// Every real package id (libsolv reserves 0 and 1).
    pub fn ids(&self) -> std::ops::Range<i32> {
        2..self.len() as i32
    }

    /// The id of a string or dependency name, if the pool knows it.
    pub fn str2id(&mut self, s: &str, create: bool) -> i32 {
        let c = cstr(s);
        // SAFETY: the pool is alive; the string is copied.
        unsafe { ib_str2id(self.raw, c.as_ptr(), create as c_int) }
    }

    /// A libsolv selection (pairs of how, what) for `spec` with `flags`.
    pub fn select(&mut self, spec: &str, flags: i32) -> Queue {
        let q = Queue::new();
        let c = cstr(spec);
        // SAFETY: q and the pool are alive.
        unsafe { ib_selection_make(self.raw, q.0, c.as_ptr(), flags) };
        q
    }

    /// The solvables a selection stands for.
    pub fn selection_ids(&mut self, sel: &Queue) -> Vec<i32> {
        let out = Queue::new();
        // SAFETY: queues and pool alive.
        unsafe { ib_selection_solvables(self.raw, sel.0, out.0) };
        out.to_vec()
    }

    /// Packages whose Obsoletes match `p`'s name = evr.
    pub fn obsoleters(&mut self, p: i32) -> Vec<i32> {
        let out = Queue::new();
        // SAFETY: p comes from this pool.
        unsafe { ib_obsoleters(self.raw, p, out.0) };
        out.to_vec()
    }

    fn s(&self, p: i32, what: c_int) -> Option<String> {
        // SAFETY: p is a solvable id of this pool; the string is copied.
        unsafe { text(ib_solvable_str(self.raw, p, what)) }
    }

    pub fn name(&self, p: i32) -> String {
        self.s(p, 0).unwrap_or_default()
    }
    pub fn evr(&self, p: i32) -> String {
        self.s(p, 1).unwrap_or_default()
    }
    pub fn arch(&self, p: i32) -> String {
        self.s(p, 2).unwrap_or_default()
    }
    pub fn location(&self, p: i32) -> Option<String> {
        self.s(p, 3)
    }
    /// (type, hex), e.g. ("sha256", "ab12…").
    pub fn checksum(&self, p: i32) -> Option<(String, String)> {
        Some((self.s(p, 5)?, self.s(p, 4)?))
    }
    pub fn sourcerpm(&self, p: i32) -> Option<String> {
        self.s(p, 7)
    }
    /// libsolv's own rendering, `name-evr.arch`.
    pub fn display(&self, p: i32) -> String {
        self.s(p, 8).unwrap_or_default()
    }
    pub fn download_size(&self, p: i32) -> u64 {
        // SAFETY: as above.
        unsafe { ib_solvable_num(self.raw, p, 0) }
    }
    pub fn install_size(&self, p: i32) -> u64 {
        // SAFETY: as above.
        unsafe { ib_solvable_num(self.raw, p, 1) }
    }
    /// Our index of the repo holding `p`.
    pub fn repo_of(&self, p: i32) -> Option<usize> {
        // SAFETY: as above.
        let id = unsafe { ib_solvable_repoid(self.raw, p) };
        self.repos.iter().find(|(r, _)| *r == id).map(|(_, i)| *i)
    }

    /// Runs the solver over `job` (pairs of how, what).
    pub fn solve(&mut self, job: &mut Queue, weak_deps: bool) -> Solved<'_> {
        // SAFETY: pool alive; the solver borrows the pool (lifetime 'a).
        let raw = unsafe { ib_solver_new(self.raw, (!weak_deps) as c_int) };
        // SAFETY: raw and job alive.
        let problems = unsafe { ib_solver_solve(raw, job.0) } as u32;
        Solved {
            raw,
            problems,
            pool: self,
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // SAFETY: created by ib_pool_new; repos and solvers are gone.
        unsafe { ib_pool_free(self.raw) }
    }
}

/// A solver run's result.
pub struct Solved<'a> {
    raw: *mut RawSolver,
    problems: u32,
    pub pool: &'a Pool,
}

/// One solver problem, as text and structured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Problem {
    /// libsolv's sentence, e.g. "nothing provides foo needed by bar".
    pub text: String,
    /// The deciding rule's kind (libsolv SOLVER_RULE_* number).
    pub rule: i32,
    pub package: Option<String>,
    pub target: Option<String>,
    pub dep: Option<String>,
    /// Ways out libsolv found, each a list of steps.
    pub solutions: Vec<Vec<String>>,
}

impl Solved<'_> {
    pub fn problem_count(&self) -> u32 {
        self.problems
    }

    pub fn problems(&self) -> Vec<Problem> {
        (1..=self.problems as Id)
            .map(|pr| {
                // SAFETY: pr in 1..=count; strings copied at once.
                unsafe {
                    let text_ = text(ib_problem_str(self.raw, pr)).unwrap_or_default();
                    let (mut src, mut tgt, mut dep) = (0, 0, std::ptr::null());
                    let rule = ib_problem_rule(self.raw, pr, &mut src, &mut tgt, &mut dep);
                    let dep = text(dep);
                    let n = |p: Id| (p > 1).then(|| self.pool.display(p));
                    let mut solutions = vec![];
                    for so in 1..=ib_solution_count(self.raw, pr) {
                        let q = Queue::new();
                        ib_solution_elements(self.raw, pr, so, q.0);
                        let v = q.to_vec();
                        solutions.push(
                            v.chunks(2)
                                .filter_map(|e| text(ib_solutionelement_str(self.raw, e[0], e[1])))
                                .collect(),
                        );
                    }
                    Problem {
                        text: text_,
                        rule,
                        package: n(src),
                        target: n(tgt),
                        dep,
                        solutions,
                    }
                }
            })
            .collect()
    }

    /// Packages to install, in transaction order.
    pub fn installs(&self) -> Vec<i32> {
        let q = Queue::new();
        // SAFETY: solver alive.
        unsafe { ib_solver_installs(self.raw, q.0) };
        q.to_vec()
    }

    /// Installed packages the transaction would erase or replace.
    pub fn removals(&self) -> Vec<i32> {
        let q = Queue::new();
        // SAFETY: solver alive.
        unsafe { ib_solver_removals(self.raw, q.0) };
        q.to_vec()
    }
}

impl Drop for Solved<'_> {
    fn drop(&mut self) {
        // SAFETY: created by ib_solver_new, freed once.
        unsafe { ib_solver_free(self.raw) }
    }
}

/// Reads a file whole, decompressing by suffix (.gz, .xz, .zst, .bz2) the
/// way libsolv reads repodata, so every metadata file goes through one
/// decompressor.
pub fn read_compressed(path: &Path) -> Result<Vec<u8>, String> {
    let p = cpath(path);
    let mut len: usize = 0;
    // SAFETY: the shim returns a solv_malloc'd buffer of len bytes or NULL.
    unsafe {
        let buf = ib_read_compressed(p.as_ptr(), &mut len);
        if buf.is_null() {
            return Err(format!("cannot read {}", path.display()));
        }
        let v = std::slice::from_raw_parts(buf as *const u8, len).to_vec();
        ib_free(buf as *mut c_void);
        Ok(v)
    }
}
