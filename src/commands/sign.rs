//! `sign genkey DIR`: a cosign key pair, as `cosign generate-key-pair`
//! writes it, so keys made here and keys made by cosign are
//! interchangeable. The password comes from `$COSIGN_PASSWORD` (empty is
//! allowed, as with cosign); it is never prompted for, so CI can run it.
//! Prints the two paths, never key material.

use super::Ctx;
use crate::cli::SignCommand;
use crate::error::InputError;
use crate::publish::cosign_key;
use anyhow::Result;
use serde_json::json;

pub fn run(ctx: Ctx, c: &SignCommand) -> Result<()> {
    match c {
        SignCommand::Genkey { dir } => {
            let password = password_from_env()?;
            let (key, public) = cosign_key::genkey(dir, &password)?;
            if ctx.json {
                super::print_json(&json!({
                    "ok": true,
                    "private_key": key,
                    "public_key": public,
                }));
            } else {
                println!("{}", key.display());
                println!("{}", public.display());
            }
            Ok(())
        }
    }
}

fn password_from_env() -> Result<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    match std::env::var_os(cosign_key::PASSWORD_ENV) {
        Some(p) => Ok(p.as_bytes().to_vec()),
        None => Err(InputError(format!(
            "set ${} to the password for the new key (an empty value means no password)",
            cosign_key::PASSWORD_ENV
        ))
        .into()),
    }
}
