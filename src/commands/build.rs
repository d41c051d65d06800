//! `build`: parse the flags into the plan's `Flags`, make the plan (every
//! input judged there), take or make the lock, and run the library
//! pipeline. Nothing here knows an output type.

use super::{load, Ctx};
use crate::cli::BuildArgs;
use crate::pipeline;
use crate::plan;
use anyhow::Result;

pub fn run(ctx: Ctx, args: &BuildArgs) -> Result<()> {
    let (doc, selection) = load(&args.select)?;
    let flags = super::flags(&args.run);
    let p = plan::make_with(&doc, &selection, &flags)?;
    pipeline::require_outputs(&p)?;
    let progress = crate::progress::for_cli(ctx.json);
    for w in &p.warnings {
        progress.event(&crate::progress::Event::Note {
            message: format!("warning: {w}"),
        });
    }
    let env = pipeline::Env {
        output_dir: args.run.output_dir.clone(),
        cache_dir: ctx.cache_dir.map(|p| p.to_path_buf()),
        no_cache: args.no_cache,
    };
    let lock = pipeline::lock_or_load(
        &p,
        &pipeline::lock_path(&args.select.manifest),
        args.locked,
        &env,
        progress.as_ref(),
    )?;
    pipeline::run(&p, &lock, &env, progress.as_ref())?;
    Ok(())
}
