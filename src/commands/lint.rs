//! `lint PATH`: the bootc container lints (`crate::bootc::lint`) over a
//! tree, as `bootc container lint` would run them inside the image.
//!
//! Findings go to stdout (`fatal RULE: message`, `warning RULE: message`)
//! or, with `--json`, as one object `{"findings": [...], "fatal": n, "ok",
//! "exit_code"}` that is the whole answer. Exit 1 when any finding is
//! fatal, 0 otherwise, 2 when PATH is not something to lint.

use super::Ctx;
use crate::bootc::{self, Severity};
use crate::cli::LintArgs;
use crate::error::InputError;
use anyhow::{anyhow, Result};
use serde_json::json;

pub fn run(ctx: Ctx, args: &LintArgs) -> Result<()> {
    let path = &args.path;
    let md = std::fs::metadata(path).map_err(|e| InputError(format!("{}: {e}", path.display())))?;
    // An OCI layout (a directory with `oci-layout`) or archive (a file).
    if !md.is_dir() || path.join("oci-layout").exists() {
        return Err(InputError(format!(
            "{}: lint an OCI image: not yet (lint the tree: build it with --type directory)",
            path.display()
        ))
        .into());
    }
    let findings = bootc::lint(path)?;
    let fatal = findings
        .iter()
        .filter(|f| f.severity == Severity::Fatal)
        .count();
    let ok = fatal == 0;
    if ctx.json {
        super::print_json(&json!({
            "path": path,
            "findings": findings,
            "fatal": fatal,
            "ok": ok,
            "exit_code": if ok { 0 } else { 1 },
        }));
        if !ok {
            // The object above is the whole answer; main would add another.
            std::process::exit(1);
        }
        return Ok(());
    }
    for f in &findings {
        println!("{f}");
    }
    if ok {
        crate::report::info(format!(
            "{}: no fatal findings ({} warning{})",
            path.display(),
            findings.len(),
            if findings.len() == 1 { "" } else { "s" }
        ));
        Ok(())
    } else {
        Err(anyhow!(
            "{}: {fatal} fatal bootc lint finding{}",
            path.display(),
            if fatal == 1 { "" } else { "s" }
        ))
    }
}
