//! `secureboot genkey DIR`: prints what was written (never key material).

use super::Ctx;
use crate::cli::SecurebootCommand;
use crate::secureboot;
use anyhow::Result;
use serde_json::json;

pub fn run(ctx: Ctx, c: &SecurebootCommand) -> Result<()> {
    match c {
        SecurebootCommand::Genkey { dir, name } => {
            let set = secureboot::genkey(dir, name)?;
            if ctx.json {
                super::print_json(&json!({
                    "ok": true,
                    "dir": set.dir,
                    "owner_guid": set.owner.to_string(),
                    "timestamp": set.time.to_string(),
                    "files": set.files,
                }));
            } else {
                crate::report::info(format!(
                    "wrote PK, KEK, db and MOK keys to {} (owner {})",
                    set.dir.display(),
                    set.owner
                ));
                crate::report::verbose(format!("files: {}", set.files.join(" ")));
            }
            Ok(())
        }
    }
}
