//! The shim's C signatures (csrc/solv_shim.c), nothing else: every call
//! goes through the safe types in `super`, which own the pointers and
//! check every id before it crosses this line.

use std::ffi::{c_char, c_int, c_ulonglong, c_void};

pub(super) type Id = c_int;

#[repr(C)]
pub(super) struct RawPool {
    _p: [u8; 0],
}
#[repr(C)]
pub(super) struct RawRepo {
    _p: [u8; 0],
}
#[repr(C)]
pub(super) struct RawQueue {
    _p: [u8; 0],
}
#[repr(C)]
pub(super) struct RawSolver {
    _p: [u8; 0],
}

extern "C" {
    pub(super) fn ib_read_compressed(path: *const c_char, len: *mut usize) -> *mut c_char;
    pub(super) fn ib_free(p: *mut c_void);
    pub(super) fn ib_solv_version() -> *const c_char;
    pub(super) fn ib_pool_new(archpolicy: *const c_char) -> *mut RawPool;
    pub(super) fn ib_pool_free(pool: *mut RawPool);
    pub(super) fn ib_pool_errstr(pool: *mut RawPool) -> *const c_char;
    pub(super) fn ib_pool_nsolvables(pool: *mut RawPool) -> c_int;
    pub(super) fn ib_solvable_valid(pool: *mut RawPool, p: Id) -> c_int;
    pub(super) fn ib_repo_new(
        pool: *mut RawPool,
        name: *const c_char,
        prio: c_int,
        sub: c_int,
    ) -> *mut RawRepo;
    pub(super) fn ib_repo_id(repo: *mut RawRepo) -> c_int;
    pub(super) fn ib_repo_add_rpmmd(
        repo: *mut RawRepo,
        path: *const c_char,
        extend: c_int,
    ) -> c_int;
    pub(super) fn ib_repo_internalize(repo: *mut RawRepo);
    pub(super) fn ib_repo_add_solv(repo: *mut RawRepo, path: *const c_char) -> c_int;
    pub(super) fn ib_repo_write(repo: *mut RawRepo, path: *const c_char) -> c_int;
    pub(super) fn ib_pool_hide(pool: *mut RawPool, ids: *const Id, n: c_int);
    pub(super) fn ib_pool_prepare(pool: *mut RawPool);
    pub(super) fn ib_pool_prepare_unresolved_files(pool: *mut RawPool, out: *mut RawQueue);
    pub(super) fn ib_pool_show_all(pool: *mut RawPool);
    pub(super) fn ib_chain_install(
        pool: *mut RawPool,
        ids: *const Id,
        n: *mut c_int,
        created: *mut c_int,
    ) -> Id;
    pub(super) fn ib_chain_free(pool: *mut RawPool, start: Id, n: c_int, created: c_int);
    pub(super) fn ib_job_one_of(
        pool: *mut RawPool,
        job: *mut RawQueue,
        how: c_int,
        ids: *mut RawQueue,
    );
    pub(super) fn ib_job_provides(
        pool: *mut RawPool,
        job: *mut RawQueue,
        how: c_int,
        dep: *const c_char,
    );
    pub(super) fn ib_str2id(pool: *mut RawPool, s: *const c_char, create: c_int) -> Id;
    pub(super) fn ib_id2str(pool: *mut RawPool, id: Id) -> *const c_char;
    pub(super) fn ib_queue_new() -> *mut RawQueue;
    pub(super) fn ib_queue_free(q: *mut RawQueue);
    pub(super) fn ib_queue_count(q: *const RawQueue) -> c_int;
    pub(super) fn ib_queue_get(q: *const RawQueue, i: c_int) -> Id;
    pub(super) fn ib_queue_push(q: *mut RawQueue, v: Id);
    pub(super) fn ib_selection_make(
        pool: *mut RawPool,
        sel: *mut RawQueue,
        spec: *const c_char,
        flags: c_int,
    ) -> c_int;
    pub(super) fn ib_selection_solvables(
        pool: *mut RawPool,
        sel: *mut RawQueue,
        out: *mut RawQueue,
    );
    pub(super) fn ib_obsoleters(pool: *mut RawPool, p: Id, out: *mut RawQueue);
    pub(super) fn ib_solvable_str(pool: *mut RawPool, p: Id, what: c_int) -> *const c_char;
    pub(super) fn ib_solvable_num(pool: *mut RawPool, p: Id, what: c_int) -> c_ulonglong;
    pub(super) fn ib_solvable_repoid(pool: *mut RawPool, p: Id) -> c_int;
    pub(super) fn ib_solver_new(pool: *mut RawPool, ignore_weak: c_int) -> *mut RawSolver;
    pub(super) fn ib_solver_solve(solv: *mut RawSolver, job: *mut RawQueue) -> c_int;
    pub(super) fn ib_solver_free(solv: *mut RawSolver);
    pub(super) fn ib_solver_installs(solv: *mut RawSolver, out: *mut RawQueue);
    pub(super) fn ib_solver_removals(solv: *mut RawSolver, out: *mut RawQueue);
    pub(super) fn ib_pool_add_installed(pool: *mut RawPool, root: *const c_char) -> *mut RawRepo;
    pub(super) fn ib_problem_str(solv: *mut RawSolver, problem: Id) -> *const c_char;
    pub(super) fn ib_solution_count(solv: *mut RawSolver, problem: Id) -> c_int;
    pub(super) fn ib_solution_elements(
        solv: *mut RawSolver,
        problem: Id,
        solution: Id,
        out: *mut RawQueue,
    );
    pub(super) fn ib_solutionelement_str(solv: *mut RawSolver, p: Id, rp: Id) -> *const c_char;
    pub(super) fn ib_problem_rule(
        solv: *mut RawSolver,
        problem: Id,
        source: *mut Id,
        target: *mut Id,
        dep: *mut *const c_char,
    ) -> c_int;
}
