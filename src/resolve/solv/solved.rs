//! A solver run and what it says: installs, removals, problems.

use super::ffi::*;
use super::{text, Pool, Queue};
use std::ffi::c_int;

/// A solver run's result; borrows the pool it solved over.
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

impl<'a> Solved<'a> {
    /// Solves `job` (built by the pool's job methods for its current
    /// generation: the caller checked) over `pool`.
    pub(super) fn new(pool: &'a mut Pool, job: &Queue, weak_deps: bool) -> Solved<'a> {
        // SAFETY: the pool is alive and prepared; the solver is freed in
        // Drop, before the borrow of the pool ends.
        let raw = unsafe { ib_solver_new(pool.raw, (!weak_deps) as c_int) };
        // SAFETY: raw and the job queue are alive; the job's ids and
        // offsets belong to this pool's current generation.
        let problems = unsafe { ib_solver_solve(raw, job.0) }.max(0) as u32;
        Solved {
            raw,
            problems,
            pool,
        }
    }

    pub fn problem_count(&self) -> u32 {
        self.problems
    }

    fn name_of(&self, p: Id) -> Option<String> {
        self.pool.solvable(p).ok().map(|s| s.display())
    }

    pub fn problems(&self) -> Vec<Problem> {
        (1..=self.problems as Id)
            .map(|pr| {
                // SAFETY: pr is in 1..=count of this solver; the string is
                // copied at once.
                let text_ = unsafe { text(ib_problem_str(self.raw, pr)) }.unwrap_or_default();
                let (mut src, mut tgt, mut dep) = (0, 0, std::ptr::null());
                // SAFETY: as above; the out pointers are valid locals.
                let rule = unsafe { ib_problem_rule(self.raw, pr, &mut src, &mut tgt, &mut dep) };
                // SAFETY: dep is NULL or libsolv's temp string, copied now.
                let dep = unsafe { text(dep) };
                let mut solutions = vec![];
                // SAFETY: as above.
                let count = unsafe { ib_solution_count(self.raw, pr) };
                for so in 1..=count {
                    let q = Queue::new();
                    // SAFETY: so is in 1..=count for problem pr.
                    unsafe { ib_solution_elements(self.raw, pr, so, q.0) };
                    let v = q.to_vec();
                    solutions.push(
                        v.chunks_exact(2)
                            // SAFETY: (p, rp) pairs libsolv just produced
                            // for this solver; the string is copied.
                            .filter_map(|e| unsafe {
                                text(ib_solutionelement_str(self.raw, e[0], e[1]))
                            })
                            .collect(),
                    );
                }
                Problem {
                    text: text_,
                    rule,
                    package: self.name_of(src),
                    target: self.name_of(tgt),
                    dep,
                    solutions,
                }
            })
            .collect()
    }

    /// Packages to install, in transaction order.
    pub fn installs(&self) -> Vec<i32> {
        let q = Queue::new();
        // SAFETY: solver and queue alive.
        unsafe { ib_solver_installs(self.raw, q.0) };
        q.to_vec()
    }

    /// Installed packages the transaction would erase or replace.
    pub fn removals(&self) -> Vec<i32> {
        let q = Queue::new();
        // SAFETY: solver and queue alive.
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
