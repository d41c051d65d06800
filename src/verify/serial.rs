//! Runs QEMU and follows its serial log until something decides the boot.
//!
//! A boot that fails never ends by itself: shim waits in a dialog, GRUB
//! waits for a key, OVMF drops into its shell. So the host reads the log as
//! it grows and stops at the first decisive line — the guest's report
//! marker (success), a refusal or failure message, or the hard timeout —
//! then kills QEMU by its PID. The process guard from `tools::spawn` makes
//! sure QEMU dies on every path out of here, errors and panics included.

use anyhow::{Context, Result};
use serde_json::Value;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::{Duration, Instant};

use super::guest;

/// Messages that mean Secure Boot refused a binary.
pub const REFUSALS: &[&str] = &[
    "Security Violation",
    "Verification failed",
    "Access Denied",
    "bad shim signature",
    "you need to load the kernel first",
    "Invalid signature",
];

/// Messages that mean the boot failed for another reason.
pub const FAILURES: &[&str] = &[
    "Kernel panic",
    "No bootable device",
    "not a bootable disk",
    "Boot failed: not a bootable",
];

/// How a boot ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The guest printed its report.
    Report(Value),
    /// Firmware, shim or GRUB refused to run a binary.
    Refused { pattern: String, line: String },
    /// The boot failed otherwise (panic, nothing bootable).
    Failed { pattern: String, line: String },
    /// Nothing decisive before the deadline.
    Timeout,
    /// QEMU ended on its own without a report.
    Exited { code: Option<i32> },
}

impl Outcome {
    /// One word for text and JSON output.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Report(_) => "report",
            Self::Refused { .. } => "refused",
            Self::Failed { .. } => "failed",
            Self::Timeout => "timeout",
            Self::Exited { .. } => "exited",
        }
    }
}

/// The result of one watched run.
#[derive(Debug, Clone)]
pub struct Watched {
    pub outcome: Outcome,
    /// The serial log, escape sequences removed.
    pub log: String,
    /// From QEMU's start to the decisive line (or the end).
    pub elapsed: Duration,
    /// QEMU's own stderr (tail).
    pub stderr: String,
}

/// Removes terminal escape sequences, carriage returns and other control
/// characters that firmware menus paint the console with.
pub fn clean(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut it = raw.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '\u{1b}' => match it.peek() {
                Some('[') => {
                    it.next();
                    // CSI: parameters, then one final byte in @..~. A
                    // cursor move starts a new line (shim paints its
                    // dialogs row by row with them).
                    for d in it.by_ref() {
                        if ('@'..='~').contains(&d) {
                            if (d == 'H' || d == 'f') && !out.is_empty() && !out.ends_with('\n') {
                                out.push('\n');
                            }
                            break;
                        }
                    }
                }
                Some('(') | Some(')') => {
                    it.next();
                    it.next();
                }
                Some(_) => {
                    it.next();
                }
                None => {}
            },
            '\n' | '\t' => out.push(c),
            // Box-drawing bytes of the firmware's code page.
            '\u{fffd}' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// The first decisive thing in a (cleaned) log, if any. Only complete
/// lines count for the report (its JSON may still be arriving); a refusal
/// counts as soon as its words are there.
pub fn scan(log: &str) -> Option<Outcome> {
    let complete = match log.rfind('\n') {
        Some(i) => &log[..=i],
        None => "",
    };
    // Line by line, so whichever came first wins.
    for line in log.split_inclusive('\n') {
        if line.contains(guest::MARKER) && line.ends_with('\n') {
            if let Some(v) = guest::parse_report(line) {
                return Some(Outcome::Report(v));
            }
        }
        for (list, refusal) in [(REFUSALS, true), (FAILURES, false)] {
            if let Some(p) = list.iter().find(|p| line.contains(*p)) {
                let line = line.split_whitespace().collect::<Vec<_>>().join(" ");
                let pattern = p.to_string();
                return Some(if refusal {
                    Outcome::Refused { pattern, line }
                } else {
                    Outcome::Failed { pattern, line }
                });
            }
        }
    }
    // A report split oddly across reads: let the guest parser see it whole.
    guest::parse_report(complete).map(Outcome::Report)
}

/// Reads what was appended to `path` since `pos`.
fn read_more(path: &Path, pos: &mut u64, buf: &mut Vec<u8>) -> Result<()> {
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    f.seek(SeekFrom::Start(*pos))?;
    let n = f.read_to_end(buf)?;
    *pos += n as u64;
    Ok(())
}

/// Runs `program args` (QEMU writing its serial console to `serial_log`)
/// and watches the log with `decide` until it returns an outcome, QEMU
/// exits, or `timeout` passes. QEMU is killed and reaped before returning.
pub fn watch(
    program: &str,
    args: &[String],
    serial_log: &Path,
    stderr_log: &Path,
    timeout: Duration,
    decide: &dyn Fn(&str) -> Option<Outcome>,
) -> Result<Watched> {
    std::fs::write(serial_log, b"")
        .with_context(|| format!("creating {}", serial_log.display()))?;
    let start = Instant::now();
    let mut qemu = crate::tools::spawn(program, args, stderr_log)?;
    crate::report::verbose(format!("qemu pid {}: {}", qemu.pid(), qemu.line()));
    let mut raw = Vec::new();
    let mut pos = 0u64;
    let poll = Duration::from_millis(100);
    let outcome = loop {
        let exited = qemu.try_wait()?;
        read_more(serial_log, &mut pos, &mut raw)?;
        let log = clean(&String::from_utf8_lossy(&raw));
        if let Some(o) = decide(&log) {
            break o;
        }
        if let Some(st) = exited {
            break Outcome::Exited { code: st.code() };
        }
        if start.elapsed() >= timeout {
            break Outcome::Timeout;
        }
        std::thread::sleep(poll);
    };
    let elapsed = start.elapsed();
    qemu.kill();
    read_more(serial_log, &mut pos, &mut raw)?;
    let stderr = std::fs::read(stderr_log).unwrap_or_default();
    Ok(Watched {
        outcome,
        log: clean(&String::from_utf8_lossy(&raw)),
        elapsed,
        stderr: crate::tools::tail(&stderr, 2000),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_strips_escapes() {
        let raw = "\u{1b}[2J\u{1b}[01;01H\u{1b}[=3h\u{1b}(BWelcome\r\n\u{1b}cto GRUB!\r\n";
        assert_eq!(clean(raw), "Welcome\nto GRUB!\n");
    }

    #[test]
    fn shim_dialog_becomes_lines() {
        let raw = "\u{1b}[01;01H\u{fffd}\u{fffd}\u{fffd}\u{1b}[02;01H\u{fffd}   \
                   Verification failed: (0x1A) Security Violation    \u{fffd}\u{1b}[03;01H\u{fffd}";
        match scan(&clean(raw)) {
            Some(Outcome::Refused { line, .. }) => {
                assert_eq!(line, "Verification failed: (0x1A) Security Violation")
            }
            o => panic!("{o:?}"),
        }
    }

    #[test]
    fn scan_table() {
        let report = r#"IMAGE-BUILDER-REPORT {"secureboot":1,"hostname":"h"}"#;
        let cases: &[(&str, &str)] = &[
            ("BdsDxe: loading Boot0001\n", "none"),
            (&format!("boot\n{report}\n"), "report"),
            // JSON still arriving: not yet.
            ("IMAGE-BUILDER-REPORT {\"secureboot\":1,", "none"),
            ("Verification failed: (0x1A) Security Violation", "refused"),
            (
                "error: bad shim signature.\nerror: you need to load the kernel first.\n",
                "refused",
            ),
            (
                "BdsDxe: failed to load Boot0002 \"UEFI Misc Device\": Access Denied\n",
                "refused",
            ),
            (
                "Kernel panic - not syncing: VFS: Unable to mount root fs\n",
                "failed",
            ),
            // First decisive line wins.
            (&format!("{report}\nKernel panic - not syncing\n"), "report"),
            (&format!("Security Violation\n{report}\n"), "refused"),
            // A marker without a valid report is not success.
            ("Starting IMAGE-BUILDER-REPORT service\n", "none"),
        ];
        for (log, want) in cases {
            let got = scan(log).map(|o| o.kind()).unwrap_or("none");
            assert_eq!(got, *want, "{log:?}");
        }
        match scan("x\nshim: Verification failed: (0x1A) Security Violation\n") {
            Some(Outcome::Refused { pattern, line }) => {
                assert_eq!(pattern, "Security Violation");
                assert_eq!(line, "shim: Verification failed: (0x1A) Security Violation");
            }
            o => panic!("{o:?}"),
        }
    }

    fn sh(script: &str) -> Vec<String> {
        vec!["-c".into(), script.into()]
    }

    #[test]
    fn watch_stops_at_the_marker_and_kills() {
        let d = tempfile::tempdir().unwrap();
        let log = d.path().join("serial.log");
        let err = d.path().join("err");
        let script = format!(
            "echo $$ > {pid}; printf 'booting\\n' >> {log}; sleep 0.3; \
             printf 'IMAGE-BUILDER-REPORT {{\"secureboot\":1}}\\n' >> {log}; exec sleep 30",
            pid = d.path().join("pid").display(),
            log = log.display()
        );
        let w = watch(
            "sh",
            &sh(&script),
            &log,
            &err,
            Duration::from_secs(20),
            &scan,
        )
        .unwrap();
        assert_eq!(w.outcome.kind(), "report");
        assert!(w.elapsed < Duration::from_secs(10), "{:?}", w.elapsed);
        assert!(w.log.contains("booting"));
        let pid = std::fs::read_to_string(d.path().join("pid")).unwrap();
        assert!(!Path::new(&format!("/proc/{}", pid.trim())).exists());
    }

    #[test]
    fn watch_times_out_and_sees_exits() {
        let d = tempfile::tempdir().unwrap();
        let log = d.path().join("serial.log");
        let err = d.path().join("err");
        let w = watch(
            "sleep",
            &["30".into()],
            &log,
            &err,
            Duration::from_millis(300),
            &scan,
        )
        .unwrap();
        assert_eq!(w.outcome, Outcome::Timeout);
        let w = watch(
            "sh",
            &sh("echo oops >&2; exit 4"),
            &log,
            &err,
            Duration::from_secs(20),
            &scan,
        )
        .unwrap();
        assert_eq!(w.outcome, Outcome::Exited { code: Some(4) });
        assert!(w.stderr.contains("oops"));
    }
}
