/*
 * A narrow C face over libsolv for src/resolve/solv.rs.
 *
 * Why a shim: libsolv's public API leans on struct fields and static
 * inline helpers (pool->solvables, repo->priority, queue_push2, ...).
 * Mirroring those layouts in Rust would tie us to one libsolv build; this
 * file compiles against the installed headers instead, so Rust only sees
 * opaque pointers, ints and C strings. Every function here is a few
 * lines; policy (what to ask, how to read answers) lives in Rust.
 */
#include <stdio.h>
#include <string.h>
#include <solv/pool.h>
#include <solv/poolarch.h>
#include <solv/repo.h>
#include <solv/repo_rpmmd.h>
#include <solv/repo_rpmdb.h>
#include <solv/repo_solv.h>
#include <solv/repo_write.h>
#include <solv/solv_xfopen.h>
#include <solv/solver.h>
#include <solv/selection.h>
#include <solv/transaction.h>
#include <solv/problems.h>
#include <solv/rules.h>
#include <solv/chksum.h>
#include <solv/solvversion.h>

const char *ib_solv_version(void) { return solv_version; }

void ib_pool_show_all(Pool *pool);

Pool *ib_pool_new(const char *archpolicy) {
  Pool *pool = pool_create();
  pool_setdisttype(pool, DISTTYPE_RPM);
  pool_setarchpolicy(pool, archpolicy);
  return pool;
}

void ib_pool_free(Pool *pool) { pool_free(pool); }
const char *ib_pool_errstr(Pool *pool) { return pool_errstr(pool); }
int ib_pool_nsolvables(Pool *pool) { return pool->nsolvables; }

Repo *ib_repo_new(Pool *pool, const char *name, int priority, int subpriority) {
  Repo *repo = repo_create(pool, name);
  repo->priority = priority;
  repo->subpriority = subpriority;
  return repo;
}

int ib_repo_id(Repo *repo) { return repo->repoid; }

/* Loads rpm-md XML (primary, or filelists with extend != 0); any
 * compression solv_xfopen knows (gz, xz, zst, bz2) by file suffix. */
int ib_repo_add_rpmmd(Repo *repo, const char *path, int extend) {
  FILE *fp = solv_xfopen(path, "r");
  if (!fp) {
    pool_error(repo->pool, -1, "cannot open %s", path);
    return -1;
  }
  int flags = REPO_NO_INTERNALIZE | (extend ? REPO_EXTEND_SOLVABLES : 0);
  int r = repo_add_rpmmd(repo, fp, 0, flags);
  fclose(fp);
  return r;
}

void ib_repo_internalize(Repo *repo) { repo_internalize(repo); }

int ib_repo_add_solv(Repo *repo, const char *path) {
  FILE *fp = fopen(path, "r");
  if (!fp)
    return -1;
  int r = repo_add_solv(repo, fp, 0);
  fclose(fp);
  return r;
}

int ib_repo_write(Repo *repo, const char *path) {
  FILE *fp = fopen(path, "w");
  if (!fp)
    return -1;
  int r = repo_write(repo, fp);
  if (fclose(fp))
    r = -1;
  return r;
}

/* 1 when p names a live solvable of a repo (not one of libsolv's two
 * reserved ids, not a freed slot): the one check every per-solvable
 * function below makes before touching pool->solvables. */
int ib_solvable_valid(Pool *pool, Id p) {
  return p >= 2 && p < pool->nsolvables && pool->solvables[p].repo != 0;
}

/* Hides solvables from the solver (excludes, module filtering). Installed
 * packages are never hidden: dnf's excludes apply to what may be
 * installed, not to what already is. */
void ib_pool_hide(Pool *pool, const Id *ids, int n) {
  if (!pool->considered) {
    pool->considered = solv_calloc(1, sizeof(Map));
    map_init(pool->considered, pool->nsolvables);
    map_setall(pool->considered);
  }
  for (int i = 0; i < n; i++)
    if (ib_solvable_valid(pool, ids[i]) &&
        !(pool->installed && pool->solvables[ids[i]].repo == pool->installed))
      MAPCLR(pool->considered, ids[i]);
}

void ib_pool_prepare(Pool *pool) {
  pool_addfileprovides(pool);
  pool_createwhatprovides(pool);
}

/* Like ib_pool_prepare, and pushes every file dependency (a path some
 * package requires, conflicts with, ...) that no package provides: what
 * only filelists.xml can answer. */
void ib_pool_prepare_unresolved_files(Pool *pool, Queue *out) {
  Queue idq;
  queue_init(&idq);
  pool_addfileprovides_queue(pool, &idq, 0);
  pool_createwhatprovides(pool);
  for (int i = 0; i < idq.count; i++) {
    Id p, pp, found = 0;
    FOR_PROVIDES(p, pp, idq.elements[i]) {
      found = 1;
      break;
    }
    if (!found)
      queue_push(out, idq.elements[i]);
  }
  queue_free(&idq);
}

/* Id arrays (deps) of one solvable into another repo, index by index:
 * repo_addid may move to->idarraydata, and `from` may be `to`. */
static Offset copy_ids(Repo *to, Repo *from, Offset off) {
  Offset o = 0;
  if (!off)
    return 0;
  for (Offset i = off; from->idarraydata[i]; i++)
    o = repo_addid(to, o, from->idarraydata[i]);
  return o;
}

/* The chain's installed set: copies of solvables `ids` (validated here)
 * appended, as one block, to the installed repo, which is created
 * ("@chain") when the pool has none. Copies carry what the solver reads
 * for installed packages: name, evr, arch, vendor and every dependency
 * array (provides include the file provides ib_pool_prepare added).
 * Returns the block's first id; *n is its length, *created says whether
 * the repo is ours. Call ib_pool_prepare afterwards. */
Id ib_chain_install(Pool *pool, const Id *ids, int *n, int *created) {
  int want = *n, count = 0;
  ib_pool_show_all(pool); /* the hide map is sized for the old pool */
  for (int i = 0; i < want; i++)
    if (ib_solvable_valid(pool, ids[i]))
      count++;
  *created = 0;
  *n = 0;
  if (!count)
    return 0;
  Repo *repo = pool->installed;
  if (!repo) {
    repo = repo_create(pool, "@chain");
    pool_set_installed(pool, repo);
    *created = 1;
  }
  Id start = repo_add_solvable_block(repo, count);
  Id d = start;
  for (int i = 0; i < want; i++) {
    Id p = ids[i];
    if (!ib_solvable_valid(pool, p))
      continue;
    /* pointers re-taken each round: adding ids may move arrays, never
     * the solvables themselves (the block is already allocated). */
    Solvable *s = pool->solvables + p, *t = pool->solvables + d;
    Repo *from = s->repo;
    t->name = s->name;
    t->evr = s->evr;
    t->arch = s->arch;
    t->vendor = s->vendor;
    t->provides = copy_ids(repo, from, s->provides);
    t->obsoletes = copy_ids(repo, from, s->obsoletes);
    t->conflicts = copy_ids(repo, from, s->conflicts);
    t->requires = copy_ids(repo, from, s->requires);
    t->recommends = copy_ids(repo, from, s->recommends);
    t->suggests = copy_ids(repo, from, s->suggests);
    t->supplements = copy_ids(repo, from, s->supplements);
    t->enhances = copy_ids(repo, from, s->enhances);
    d++;
  }
  *n = count;
  pool_createwhatprovides(pool);
  return start;
}

/* Undoes ib_chain_install (the same start, n and created). */
void ib_chain_free(Pool *pool, Id start, int n, int created) {
  Repo *repo = pool->installed;
  if (!repo || n <= 0)
    return;
  ib_pool_show_all(pool);
  if (created) {
    pool_set_installed(pool, 0);
    repo_free(repo, 1);
  } else {
    repo_free_solvable_block(repo, start, n, 1);
  }
  pool_createwhatprovides(pool);
}

Id ib_str2id(Pool *pool, const char *s, int create) { return pool_str2id(pool, s, create); }

/* Queues, for selections, jobs and results. */
Queue *ib_queue_new(void) {
  Queue *q = solv_calloc(1, sizeof(Queue));
  queue_init(q);
  return q;
}
void ib_queue_free(Queue *q) {
  queue_free(q);
  solv_free(q);
}
int ib_queue_count(const Queue *q) { return q->count; }
Id ib_queue_get(const Queue *q, int i) { return q->elements[i]; }
void ib_queue_push(Queue *q, Id v) { queue_push(q, v); }
void ib_queue_empty(Queue *q) { queue_empty(q); }

int ib_selection_make(Pool *pool, Queue *sel, const char *spec, int flags) {
  return selection_make(pool, sel, spec, flags);
}
void ib_selection_solvables(Pool *pool, Queue *sel, Queue *out) {
  selection_solvables(pool, sel, out);
}

/* Every solvable whose Obsoletes match solvable p's name = evr. */
void ib_obsoleters(Pool *pool, Id p, Queue *out) {
  if (!ib_solvable_valid(pool, p))
    return;
  Solvable *s = pool->solvables + p;
  Id dep = pool_rel2id(pool, s->name, s->evr, REL_EQ, 1);
  pool_whatmatchesdep(pool, SOLVABLE_OBSOLETES, dep, out, 0);
}

/* Per-solvable facts. what: 0 name, 1 evr, 2 arch, 3 location,
 * 4 checksum hex, 5 checksum type, 6 repo name, 7 sourcerpm, 8 nevra. */
const char *ib_solvable_str(Pool *pool, Id p, int what) {
  if (!ib_solvable_valid(pool, p))
    return 0;
  Solvable *s = pool->solvables + p;
  Id type = 0;
  const char *c;
  switch (what) {
  case 0: return pool_id2str(pool, s->name);
  case 1: return pool_id2str(pool, s->evr);
  case 2: return pool_id2str(pool, s->arch);
  case 3: return solvable_lookup_location(s, 0);
  case 4: return solvable_lookup_checksum(s, SOLVABLE_CHECKSUM, &type);
  case 5:
    c = solvable_lookup_checksum(s, SOLVABLE_CHECKSUM, &type);
    return c ? solv_chksum_type2str(type) : 0;
  case 6: return s->repo ? s->repo->name : 0;
  case 7: return solvable_lookup_sourcepkg(s);
  case 8: return pool_solvable2str(pool, s);
  }
  return 0;
}

/* what: 0 download size, 1 install size, 2 build time. */
unsigned long long ib_solvable_num(Pool *pool, Id p, int what) {
  if (!ib_solvable_valid(pool, p))
    return 0;
  Solvable *s = pool->solvables + p;
  switch (what) {
  case 0: return solvable_lookup_num(s, SOLVABLE_DOWNLOADSIZE, 0);
  case 1: return solvable_lookup_num(s, SOLVABLE_INSTALLSIZE, 0);
  case 2: return solvable_lookup_num(s, SOLVABLE_BUILDTIME, 0);
  }
  return 0;
}

int ib_solvable_repoid(Pool *pool, Id p) {
  if (!ib_solvable_valid(pool, p))
    return 0;
  Solvable *s = pool->solvables + p;
  return s->repo ? s->repo->repoid : 0;
}

/* Solves; returns the number of problems. */
Solver *ib_solver_new(Pool *pool, int ignore_weak) {
  Solver *solv = solver_create(pool);
  solver_set_flag(solv, SOLVER_FLAG_IGNORE_RECOMMENDED, ignore_weak);
  solver_set_flag(solv, SOLVER_FLAG_BEST_OBEY_POLICY, 1);
  solver_set_flag(solv, SOLVER_FLAG_ALLOW_VENDORCHANGE, 1);
  solver_set_flag(solv, SOLVER_FLAG_YUM_OBSOLETES, 1);
  return solv;
}
int ib_solver_solve(Solver *solv, Queue *job) { return solver_solve(solv, job); }
void ib_solver_free(Solver *solv) { solver_free(solv); }

/* Installs in transaction order (dependencies first): new packages and,
 * over an installed set, the packages that replace installed ones. */
void ib_solver_installs(Solver *solv, Queue *out) {
  Transaction *t = solver_create_transaction(solv);
  transaction_order(t, 0);
  for (int i = 0; i < t->steps.count; i++) {
    Id p = t->steps.elements[i];
    Id type = transaction_type(t, p, SOLVER_TRANSACTION_SHOW_ACTIVE | SOLVER_TRANSACTION_SHOW_ALL);
    if (type == SOLVER_TRANSACTION_INSTALL || type == SOLVER_TRANSACTION_MULTIINSTALL ||
        type == SOLVER_TRANSACTION_UPGRADE || type == SOLVER_TRANSACTION_DOWNGRADE ||
        type == SOLVER_TRANSACTION_CHANGE || type == SOLVER_TRANSACTION_OBSOLETES)
      queue_push(out, p);
  }
  transaction_free(t);
}

/* Installed packages the transaction removes (erased or replaced). */
void ib_solver_removals(Solver *solv, Queue *out) {
  Transaction *t = solver_create_transaction(solv);
  for (int i = 0; i < t->steps.count; i++) {
    Id p = t->steps.elements[i];
    Pool *pool = solv->pool;
    if (pool->installed && pool->solvables[p].repo == pool->installed)
      queue_push(out, p);
  }
  transaction_free(t);
}

/* The installed set: the rpm database of the tree at `root` (a derived
 * image's base), read through librpm, as dnf's @System. */
Repo *ib_pool_add_installed(Pool *pool, const char *root) {
  Repo *repo = repo_create(pool, "@System");
  pool_set_rootdir(pool, root);
  int r = repo_add_rpmdb(repo, 0, REPO_USE_ROOTDIR);
  pool_set_rootdir(pool, 0);
  if (r != 0) {
    repo_free(repo, 1);
    return 0;
  }
  pool_set_installed(pool, repo);
  return repo;
}

const char *ib_problem_str(Solver *solv, Id problem) { return solver_problem2str(solv, problem); }
int ib_solution_count(Solver *solv, Id problem) { return solver_solution_count(solv, problem); }

/* Pairs (p, rp) of one solution's elements into out. */
void ib_solution_elements(Solver *solv, Id problem, Id solution, Queue *out) {
  Id p, rp, element = 0;
  while ((element = solver_next_solutionelement(solv, problem, solution, element, &p, &rp)) != 0) {
    queue_push(out, p);
    queue_push(out, rp);
  }
}
const char *ib_solutionelement_str(Solver *solv, Id p, Id rp) {
  return solver_solutionelement2str(solv, p, rp);
}

/* The problem's deciding rule: type, source, target, dep (as text). */
int ib_problem_rule(Solver *solv, Id problem, Id *source, Id *target, const char **dep) {
  Id rid = solver_findproblemrule(solv, problem);
  Id d = 0;
  int type = solver_ruleinfo(solv, rid, source, target, &d);
  *dep = d ? pool_dep2str(solv->pool, d) : 0;
  return type;
}

/* Reads a whole file through libsolv's decompressors; NULL on error. */
char *ib_read_compressed(const char *path, size_t *len) {
  FILE *fp = solv_xfopen(path, "r");
  if (!fp)
    return 0;
  size_t cap = 1 << 16, n = 0;
  char *buf = solv_malloc(cap);
  for (;;) {
    size_t r = fread(buf + n, 1, cap - n, fp);
    n += r;
    if (n < cap) {
      if (ferror(fp)) {
        fclose(fp);
        solv_free(buf);
        return 0;
      }
      break;
    }
    cap *= 2;
    buf = solv_realloc(buf, cap);
  }
  fclose(fp);
  *len = n;
  return buf;
}

void ib_free(void *p) { solv_free(p); }

/* Makes every solvable visible again (undoes ib_pool_hide). */
void ib_pool_show_all(Pool *pool) {
  if (pool->considered) {
    map_free(pool->considered);
    solv_free(pool->considered);
    pool->considered = 0;
  }
}

/* Pushes `how | ONE_OF(ids)` onto a job queue. */
void ib_job_one_of(Pool *pool, Queue *job, int how, Queue *ids) {
  queue_push2(job, how | SOLVER_SOLVABLE_ONE_OF, pool_queuetowhatprovides(pool, ids));
}

/* Pushes `how | PROVIDES(dep)` for a dependency string. */
void ib_job_provides(Pool *pool, Queue *job, int how, const char *dep) {
  queue_push2(job, how | SOLVER_SOLVABLE_PROVIDES, pool_str2id(pool, dep, 1));
}

/* The string of an id (a name, a dependency), or NULL for an id the pool
 * does not have. */
const char *ib_id2str(Pool *pool, Id id) {
  if (id == 0)
    return 0;
  if (ISRELDEP(id) ? (int)GETRELID(id) >= pool->nrels : (int)id >= (int)pool->ss.nstrings)
    return 0;
  return pool_dep2str(pool, id);
}
