//! bootc: the bootable-container layout of a tree and the lints that
//! `bootc container lint` runs.
//!
//! Why a layout step: a bootc image is an ordinary container image that
//! `bootc install` / ostree deploy turns into a booted system, and they
//! expect a shape a package install alone does not leave behind — one
//! kernel at /usr/lib/modules/KVER/vmlinuz with its initramfs beside it
//! (the image carries the kernel; /boot is the deployed system's and must
//! be empty in the image), /sysroot and /ostree -> sysroot/ostree, composefs
//! enabled for ostree-prepare-root, kernel arguments as kargs.d files, and
//! /var/run a link into /run. `prepare` makes that shape (`layout`).
//!
//! Why native lints: the same checks `bootc container lint` makes, run
//! over the tree on the host without bootc (which the build host does not
//! have and which would need the image mounted in a container). The rules
//! carry bootc's names so a finding reads the same as bootc's. Fatal ones
//! fail the build (`check`); warnings are reported. `nonempty-boot` is
//! fatal here (bootc warns): a kernel left in /boot is the usual sign of a
//! tree that skipped the layout step, and it would be masked at run time.
//!
//! The walks read directory entries only; the few files read are the
//! kargs.d, prepare-root.conf, tmpfiles.d, sysusers.d, passwd and group
//! configuration.

mod composefs;
mod kargs;
mod layout;
mod rules;
#[cfg(test)]
mod tests;
mod varfiles;

use anyhow::{bail, Result};
use serde::Serialize;
use std::path::Path;

pub use layout::{add_kargs, prepare};

/// What `prepare` needs besides the tree.
#[derive(Debug, Clone, Copy)]
pub struct Options<'a> {
    /// Kernel arguments from the manifest (written to kargs.d when any).
    pub kargs: &'a [String],
    pub arch: &'static crate::distro::Arch,
    pub distro: &'static crate::distro::DistroDef,
    /// Every file and directory `prepare` creates or changes gets this mtime.
    pub source_date_epoch: i64,
}

/// What `prepare` decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// The kernel version (the directory name under /usr/lib/modules).
    pub kernel: String,
}

/// Whether a finding fails the build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Fatal,
    Warning,
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Severity::Fatal => "fatal",
            Severity::Warning => "warning",
        })
    }
}

/// One lint result: a rule (bootc's name) that does not hold for the tree.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Finding {
    pub rule: &'static str,
    pub severity: Severity,
    pub message: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.severity, self.rule, self.message)
    }
}

/// A rule: its name, severity, and a check returning the problems found
/// (each becomes one finding).
struct Rule {
    name: &'static str,
    severity: Severity,
    check: fn(&Path) -> Result<Vec<String>>,
}

/// Every rule, by name.
const RULES: &[Rule] = &[
    Rule {
        name: "api-base-directories",
        severity: Severity::Fatal,
        check: rules::api_dirs,
    },
    Rule {
        name: "baseimage-composefs",
        severity: Severity::Warning,
        check: composefs::lint,
    },
    Rule {
        name: "baseimage-root",
        severity: Severity::Fatal,
        check: rules::baseimage_root,
    },
    Rule {
        name: "bootc-kargs",
        severity: Severity::Fatal,
        check: kargs::lint,
    },
    Rule {
        name: "etc-usretc",
        severity: Severity::Fatal,
        check: rules::usretc,
    },
    Rule {
        name: "kernel",
        severity: Severity::Fatal,
        check: rules::kernel,
    },
    Rule {
        name: "nonempty-boot",
        severity: Severity::Fatal,
        check: rules::boot,
    },
    Rule {
        name: "nonempty-run-tmp",
        severity: Severity::Warning,
        check: rules::run_tmp,
    },
    Rule {
        name: "sysusers",
        severity: Severity::Warning,
        check: varfiles::sysusers,
    },
    Rule {
        name: "utf8",
        severity: Severity::Fatal,
        check: rules::utf8,
    },
    Rule {
        name: "var-log",
        severity: Severity::Warning,
        check: rules::var_log,
    },
    Rule {
        name: "var-run",
        severity: Severity::Fatal,
        check: rules::var_run,
    },
    Rule {
        name: "var-tmpfiles",
        severity: Severity::Warning,
        check: varfiles::tmpfiles,
    },
];

/// The names and severities of every rule, for documentation and tests.
pub fn rules() -> Vec<(&'static str, Severity)> {
    RULES.iter().map(|r| (r.name, r.severity)).collect()
}

/// Runs every rule over the tree at `root`; findings sorted (fatal first,
/// then by rule and message). An error is a tree that cannot be read, not
/// a rule that fails.
pub fn lint(root: &Path) -> Result<Vec<Finding>> {
    let md =
        std::fs::symlink_metadata(root).map_err(|e| anyhow::anyhow!("{}: {e}", root.display()))?;
    if !md.is_dir() {
        bail!("{}: not a directory", root.display());
    }
    let mut out = Vec::new();
    for r in RULES {
        let problems = (r.check)(root).map_err(|e| e.context(format!("lint {}", r.name)))?;
        out.extend(problems.into_iter().map(|message| Finding {
            rule: r.name,
            severity: r.severity,
            message,
        }));
    }
    out.sort_by(|a, b| (a.severity, a.rule, &a.message).cmp(&(b.severity, b.rule, &b.message)));
    Ok(out)
}

/// `lint`, failing when any finding is fatal: the error lists every fatal
/// finding as `RULE: message`. Otherwise returns the warnings.
pub fn check(root: &Path) -> Result<Vec<Finding>> {
    let findings = lint(root)?;
    let fatal: Vec<String> = findings
        .iter()
        .filter(|f| f.severity == Severity::Fatal)
        .map(|f| format!("{}: {}", f.rule, f.message))
        .collect();
    if !fatal.is_empty() {
        bail!(
            "the tree fails {} bootc lint{}:\n  {}",
            fatal.len(),
            if fatal.len() == 1 { "" } else { "s" },
            fatal.join("\n  ")
        );
    }
    Ok(findings)
}

/// Up to `LIST_MAX` items joined, with how many were left out.
fn list<S: AsRef<str>>(items: &[S]) -> String {
    const LIST_MAX: usize = 5;
    let shown: Vec<&str> = items.iter().take(LIST_MAX).map(|s| s.as_ref()).collect();
    let mut s = shown.join(", ");
    if items.len() > LIST_MAX {
        s.push_str(&format!(" and {} more", items.len() - LIST_MAX));
    }
    s
}

/// `p` relative to the tree as an absolute path in the image, lossily
/// (for messages).
fn image_path(root: &Path, p: &Path) -> String {
    let rel = p.strip_prefix(root).unwrap_or(p);
    format!("/{}", rel.to_string_lossy())
}
