//! `build`: plan, then run the stages. Stages land one issue at a time;
//! until an output type's stages exist, `build` stops after planning with
//! a build error that says so (exit 1), having written nothing.

use super::{load, print_json, Ctx};
use crate::cli::BuildArgs;
use crate::error::InputError;
use crate::plan;
use anyhow::{bail, Result};
use serde_json::json;

pub fn run(ctx: Ctx, args: &BuildArgs) -> Result<()> {
    let (doc, selection) = load(&args.select)?;
    let p = plan::make(&doc, &selection)?;
    let outputs: Vec<(String, String)> = p
        .arches
        .iter()
        .flat_map(|a| {
            a.outputs
                .iter()
                .map(move |o| (a.arch.clone(), o.name.clone()))
        })
        .collect();
    if outputs.is_empty() {
        return Err(InputError(format!(
            "{}: nothing to build: the manifest has no [[output]]; pass --type (e.g. --type qcow2)",
            doc.file()
        ))
        .into());
    }
    if args.output_dir.exists() && !args.output_dir.is_dir() {
        return Err(InputError(format!(
            "--output-dir {} is not a directory",
            args.output_dir.display()
        ))
        .into());
    }
    if ctx.json {
        print_json(&json!({"event": "planned", "outputs": outputs}));
    }
    bail!(
        "building is not available yet: package resolution (issue 3) and the later stages have not landed; \
         `image-builder plan {}` shows what would be built",
        doc.file()
    )
}
