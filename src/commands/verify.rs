//! `verify ARTIFACT`: boot it in QEMU (Secure Boot enforced by default),
//! read the guest's report from the serial console and compare it with
//! expectations.
//!
//! Exit 0 when the expectations hold (or the refusal happened with
//! `--expect-refusal` / `refused = true`), 1 otherwise, 2 for bad input. The
//! result goes to stdout as text or, with `--json`, as one JSON object that
//! also carries `ok` and `exit_code`; on a failed verification that object
//! is the only output (no second error object follows it).

use super::Ctx;
use crate::cli::VerifyArgs;
use crate::distro::arch;
use crate::error::InputError;
use crate::verify::{self, expect, qemu, Outcome, Verified};
use anyhow::{anyhow, Result};
use serde_json::{json, Value};
use std::time::Duration;

/// Lines of serial log shown when a boot did not report.
const LOG_TAIL_LINES: usize = 25;

pub fn run(ctx: Ctx, args: &VerifyArgs) -> Result<()> {
    let arch = arch::lookup(&args.arch).ok_or_else(|| {
        InputError(format!(
            "unknown --arch `{}` (known: {})",
            args.arch,
            arch::names().join(", ")
        ))
    })?;
    let test = match &args.expect {
        Some(p) => expect::load(p)?,
        None => expect::TestFile::default(),
    };
    if args.timeout == 0 {
        return Err(InputError("--timeout must be at least 1 second".into()).into());
    }
    let opts = verify::Options {
        firmware: qemu::FirmwareKind::parse(&args.firmware)?,
        secureboot: qemu::SecureBoot::parse(&args.secureboot)?,
        keys: args.keys.clone(),
        accel: qemu::Accel::parse(&args.accel)?,
        timeout: Duration::from_secs(args.timeout),
        media: args.media.as_deref().map(qemu::Media::parse).transpose()?,
        ..verify::Options::new(arch)
    };
    crate::report::info(format!(
        "booting {} ({}, {}, secure boot {}); giving up after {} s",
        args.artifact.display(),
        arch.name,
        args.firmware,
        args.secureboot,
        args.timeout
    ));
    let v = verify::verify(&args.artifact, &opts)?;
    let mismatches = expect::compare(&test.expect, &v.outcome, args.expect_refusal);
    let ok = mismatches.is_empty();
    if ctx.json {
        let mut j = to_json(args, &v, &mismatches);
        j["ok"] = json!(ok);
        j["exit_code"] = json!(if ok { 0 } else { 1 });
        super::print_json(&j);
        if !ok {
            // The object above is the whole answer; main would add another.
            std::process::exit(1);
        }
        return Ok(());
    }
    print!("{}", text(args, &v, &mismatches));
    if ok {
        Ok(())
    } else {
        Err(anyhow!(
            "verification failed: {} expectation{} not met",
            mismatches.len(),
            if mismatches.len() == 1 { "" } else { "s" }
        ))
    }
}

fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 10.0).round() / 10.0
}

fn log_tail(log: &str) -> Vec<&str> {
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].to_vec()
}

/// The JSON result (without `ok`/`exit_code`).
pub fn to_json(args: &VerifyArgs, v: &Verified, mismatches: &[String]) -> Value {
    let mut j = json!({
        "artifact": args.artifact,
        "format": v.format,
        "arch": args.arch,
        "firmware": args.firmware,
        "secureboot": v.secureboot,
        "accel": v.accel,
        "injected": v.injected,
        "media": v.media,
        "outcome": v.outcome.kind(),
        "elapsed_s": secs(v.elapsed),
        "mismatches": mismatches,
        "qemu": v.qemu_command,
    });
    match &v.outcome {
        Outcome::Report(r) => {
            j["time_to_report_s"] = json!(secs(v.elapsed));
            j["report"] = r.clone();
        }
        Outcome::Refused { pattern, line } | Outcome::Failed { pattern, line } => {
            j["pattern"] = json!(pattern);
            j["line"] = json!(line);
        }
        Outcome::Exited { code } => j["qemu_exit_code"] = json!(code),
        Outcome::Timeout => {}
    }
    if !matches!(v.outcome, Outcome::Report(_)) {
        j["serial_log_tail"] = json!(log_tail(&v.log));
        if !v.stderr.is_empty() {
            j["qemu_stderr"] = json!(v.stderr);
        }
    }
    j
}

/// The text result.
pub fn text(args: &VerifyArgs, v: &Verified, mismatches: &[String]) -> String {
    let mut s = String::new();
    let t = secs(v.elapsed);
    s += &format!(
        "artifact: {} ({} {}, {}, {}, secure boot {}, {}{})\n",
        args.artifact.display(),
        v.format.name(),
        v.media.name(),
        args.arch,
        args.firmware,
        json!(v.secureboot).as_str().unwrap_or("?"),
        json!(v.accel).as_str().unwrap_or("?"),
        if v.injected {
            ", report unit injected into a copy"
        } else {
            ""
        }
    );
    match &v.outcome {
        Outcome::Report(r) => {
            s += &format!("outcome: report\ntime-to-report: {t:.1} s\nreport:\n");
            if let Some(o) = r.as_object() {
                for (k, val) in o {
                    s += &format!("  {k}: {val}\n");
                }
            }
        }
        Outcome::Refused { line, .. } => {
            s += &format!("outcome: refused after {t:.1} s\n  {line}\n");
        }
        Outcome::Failed { line, .. } => {
            s += &format!("outcome: failed after {t:.1} s\n  {line}\n");
        }
        Outcome::Timeout => s += &format!("outcome: timeout after {t:.1} s\n"),
        Outcome::Exited { code } => {
            let c = code
                .map(|c| c.to_string())
                .unwrap_or_else(|| "a signal".into());
            s += &format!("outcome: qemu exited ({c}) after {t:.1} s without a report\n");
        }
    }
    if !matches!(v.outcome, Outcome::Report(_)) {
        s += "serial log (end):\n";
        for l in log_tail(&v.log) {
            s += &format!("  | {l}\n");
        }
        if !v.stderr.is_empty() {
            s += &format!("qemu stderr:\n  {}\n", v.stderr.replace('\n', "\n  "));
        }
    }
    if mismatches.is_empty() {
        s += "expectations: met\n";
    } else {
        s += "expectations not met:\n";
        for m in mismatches {
            s += &format!("  - {m}\n");
        }
    }
    s
}
