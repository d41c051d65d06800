//! Failure classes and how they are shown. Exit 2 is the user's input
//! (manifest, flags), exit 1 is everything that went wrong while building.

use crate::manifest::{Diagnostic, ManifestError};
use crate::resolve::solve::SolveError;
use serde_json::json;

/// Bad input that is not a manifest diagnostic (a flag, a missing file).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InputError(pub String);

/// Exit code for an error returned by a command.
pub fn exit_code(e: &anyhow::Error) -> i32 {
    if e.downcast_ref::<ManifestError>().is_some() || e.downcast_ref::<InputError>().is_some() {
        2
    } else {
        1
    }
}

/// Text form: `error: ...` with causes joined by ": ", and `hint:` lines.
pub fn render_text(e: &anyhow::Error) -> String {
    if let Some(ManifestError::Invalid(diags)) = e.downcast_ref::<ManifestError>() {
        return diags
            .iter()
            .map(|d| format!("error: {d}"))
            .collect::<Vec<_>>()
            .join("\n\n");
    }
    format!("error: {e:#}")
}

/// JSON form, printed on stdout with `--json`.
pub fn render_json(e: &anyhow::Error) -> serde_json::Value {
    let diags: Vec<Diagnostic> = e
        .downcast_ref::<ManifestError>()
        .map(|m| m.diagnostics().to_vec())
        .unwrap_or_default();
    let mut v = json!({
        "ok": false,
        "exit_code": exit_code(e),
        "error": format!("{e:#}"),
        "diagnostics": diags,
    });
    match e.downcast_ref::<SolveError>() {
        Some(SolveError::Unsatisfiable(problems)) => v["problems"] = json!(problems),
        Some(SolveError::NoMatch(specs)) => v["no_match"] = json!(specs),
        _ => {}
    }
    v
}
