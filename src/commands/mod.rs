//! One function per subcommand. Each returns data or an error; printing is
//! here, exit codes are in `error`.

pub mod build;
pub mod cache;
pub mod lint;
pub mod lock;
pub mod plan;
pub mod publish;
pub mod secureboot;
pub mod sign;
pub mod verify;

use crate::cli::{Cli, Command, RunArgs, SelectArgs};
use crate::manifest::{self, validate::Selection, Document};
use anyhow::Result;

/// Output settings every command honors.
#[derive(Debug, Clone, Copy)]
pub struct Ctx<'a> {
    pub json: bool,
    /// `--cache-dir`, if given.
    pub cache_dir: Option<&'a std::path::Path>,
}

pub fn run(cli: Cli) -> Result<()> {
    let ctx = Ctx {
        json: cli.json,
        cache_dir: cli.cache_dir.as_deref(),
    };
    match cli.command {
        Command::Build(args) => build::run(ctx, &args),
        Command::Validate(args) => plan::validate(ctx, &args),
        Command::Plan(sel) => plan::plan(ctx, &sel),
        Command::Lock(args) => lock::run(ctx, &args),
        Command::Cache(c) => cache::run(ctx, &c),
        Command::Verify(args) => verify::run(ctx, &args),
        Command::Secureboot(c) => secureboot::run(ctx, &c),
        Command::Publish(args) => publish::run(ctx, &args),
        Command::Sign(c) => sign::run(ctx, &c),
        Command::Lint(args) => lint::run(ctx, &args),
        Command::Distros => plan::distros(ctx),
    }
}

pub(crate) fn load(sel: &SelectArgs) -> Result<(Document, Selection)> {
    let doc = manifest::load(&sel.manifest)?;
    let selection = Selection {
        arches: sel.arches.clone(),
        types: sel.types.clone(),
        only: sel.only.clone(),
        mirror: sel.mirror.clone(),
    };
    crate::plan::check_mirror_flag(&selection)?;
    Ok((doc, selection))
}

/// The plan's view of a run's flags.
pub(crate) fn flags(r: &RunArgs) -> crate::plan::Flags {
    crate::plan::Flags {
        output_dir: r.output_dir.clone(),
        push: r.push.clone(),
        tls_verify: r.tls_verify,
        sign_key: r.sign_key.clone(),
        verify: r.verify,
    }
}

pub(crate) fn print_json(v: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).expect("JSON values serialize")
    );
}
