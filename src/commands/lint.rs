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
use std::path::Path;

/// Lints every image of an OCI archive or layout (one per arch), each
/// unpacked into a scratch root; findings of a multi-arch image name
/// their arch.
fn lint_image(path: &Path, is_layout: bool) -> Result<Vec<bootc::Finding>> {
    use crate::artifact::oci;
    let scratch = tempfile::tempdir()?;
    let layout = if is_layout {
        crate::oci::layout::Layout::open(path)?
    } else {
        crate::oci::layout::read_archive(path, &scratch.path().join("layout")).map_err(|e| {
            InputError(format!(
                "{}: not a readable OCI archive: {e:#}",
                path.display()
            ))
        })?
    };
    let index = layout.index()?;
    let [top] = index.manifests.as_slice() else {
        return Err(InputError(format!(
            "{}: expected one image (tag) in the OCI index, found {}",
            path.display(),
            index.manifests.len()
        ))
        .into());
    };
    let images: Vec<crate::oci::image::Descriptor> = if top.media_type.contains("index") {
        layout.read_json::<crate::oci::image::Index>(top)?.manifests
    } else {
        vec![top.clone()]
    };
    let mut out = vec![];
    for (n, d) in images.iter().enumerate() {
        let root = scratch.path().join(format!("root-{n}"));
        oci::unpack(&layout, d, &root)?;
        let arch = d.platform.as_ref().map(|p| p.architecture.clone());
        for mut f in bootc::lint(&root)? {
            if let (Some(a), true) = (&arch, images.len() > 1) {
                f.message = format!("[{a}] {}", f.message);
            }
            out.push(f);
        }
        std::fs::remove_dir_all(&root)?;
    }
    Ok(out)
}

pub fn run(ctx: Ctx, args: &LintArgs) -> Result<()> {
    let path = &args.path;
    let md = std::fs::metadata(path).map_err(|e| InputError(format!("{}: {e}", path.display())))?;
    // A tree, or an OCI layout (a directory with `oci-layout`) or archive
    // (a file): each of its images is unpacked and linted.
    let findings = if md.is_dir() && !path.join("oci-layout").exists() {
        bootc::lint(path)?
    } else {
        lint_image(path, md.is_dir())?
    };
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
