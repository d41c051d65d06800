//! `validate`, `plan` and `distros`: decide, print, do nothing.

use super::{load, print_json, Ctx};
use crate::cli::SelectArgs;
use crate::distro::{self, arch};
use crate::plan::{self, render};
use anyhow::Result;
use serde_json::json;

pub fn validate(ctx: Ctx, sel: &SelectArgs) -> Result<()> {
    let (doc, selection) = load(sel)?;
    let p = plan::make(&doc, &selection)?;
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
