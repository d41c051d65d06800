//! Messages for people on stderr, at the verbosity the CLI chose. Data goes
//! to stdout; this never does.

use std::sync::atomic::{AtomicU8, Ordering};

static LEVEL: AtomicU8 = AtomicU8::new(1);

/// 0 quiet, 1 normal, 2 verbose, 3+ debug.
pub fn set_level(level: u8) {
    LEVEL.store(level, Ordering::Relaxed);
}

pub fn level() -> u8 {
    LEVEL.load(Ordering::Relaxed)
}

/// A progress or status line at normal verbosity.
pub fn info(msg: impl AsRef<str>) {
    if level() >= 1 {
        eprintln!("{}", msg.as_ref());
    }
}

/// Detail shown with -v.
pub fn verbose(msg: impl AsRef<str>) {
    if level() >= 2 {
        eprintln!("{}", msg.as_ref());
    }
}

/// Debug detail shown with -vv (command lines, timings).
pub fn debug(msg: impl AsRef<str>) {
    if level() >= 3 {
        eprintln!("debug: {}", msg.as_ref());
    }
}
