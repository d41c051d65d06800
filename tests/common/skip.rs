//! Skips that are counted. A Rust test that returns early is reported as
//! "ok" by libtest, which would count a test that checked nothing as
//! passed. A test that cannot run here (no root, a tool missing) calls
//! [`skip`] instead: it says why on stderr and appends one line to
//! `target/tmp/skipped.log`, which `scripts/test.sh` subtracts from the
//! passed count and lists as skipped.

#![allow(dead_code)]

use std::io::Write;

/// Records that the running test was skipped for `reason` (libtest names
/// each test's thread after the test). The caller returns right after.
pub fn skip(reason: &str) {
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("unknown test");
    eprintln!("skipped: {test}: {reason}");
    let log = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("skipped.log");
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
    {
        let _ = writeln!(f, "{test}\t{reason}");
    }
}
