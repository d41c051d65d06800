//! `validate`, `plan` and `distros`: decide, print, do nothing.

use super::{load, print_json, Ctx};
use crate::cli::{SelectArgs, ValidateArgs};
use crate::distro::{self, arch};
use crate::plan::{self, render};
use anyhow::Result;
use serde_json::json;

/// `validate`: the same judgement as `build` (`plan::make_with` with the
/// same flags), then a one-line summary instead of a build.
pub fn validate(ctx: Ctx, args: &ValidateArgs) -> Result<()> {
    let (doc, selection) = load(&args.select)?;
    let p = plan::make_with(&doc, &selection, &super::flags(&args.run))?;
    for w in &p.warnings {
        crate::report::info(format!("warning: {w}"));
    }
    let outputs: Vec<String> = p
        .arches
        .first()
        .map(|a| a.outputs.iter().map(|o| o.name.clone()).collect())
        .unwrap_or_default();
    if ctx.json {
        print_json(&json!({
            "ok": true,
            "manifest": p.manifest,
            "distro": p.distro.id,
            "arches": p.arches.iter().map(|a| a.arch.clone()).collect::<Vec<_>>(),
            "outputs": outputs,
            "warnings": p.warnings,
        }));
    } else {
        let arches: Vec<&str> = p.arches.iter().map(|a| a.arch.as_str()).collect();
        let outs = if outputs.is_empty() {
            "no outputs (pass --type to build)".to_string()
        } else {
            outputs.join(", ")
        };
        println!(
            "{}: ok ({}; {}; {outs})",
            p.manifest,
            p.distro.id,
            arches.join(", ")
        );
    }
    Ok(())
}

pub fn plan(ctx: Ctx, sel: &SelectArgs) -> Result<()> {
    let (doc, selection) = load(sel)?;
    let p = plan::make(&doc, &selection)?;
    if ctx.json {
        print_json(&serde_json::to_value(&p)?);
    } else {
        print!("{}", render::text(&p));
    }
    Ok(())
}

pub fn distros(ctx: Ctx) -> Result<()> {
    let all = distro::all().map_err(anyhow::Error::msg)?;
    if ctx.json {
        print_json(&json!({
            "distros": all.iter().map(|d| json!({"id": d.id, "name": d.name, "arches": d.arches})).collect::<Vec<_>>(),
            "arches": arch::ARCHES,
        }));
    } else {
        for d in all {
            println!("{:<22} {:<18} {}", d.id, d.name, d.arches.join(" "));
        }
    }
    Ok(())
}
