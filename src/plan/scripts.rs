//! `[[build.script]]` as the plan carries it: each script's bytes (a
//! `file` is read here, once, so no later stage opens a manifest path and
//! what ran is exactly what was planned and locked), its digest, its
//! interpreter and whether it gets the network.

use crate::manifest::rules::{self, ScriptSource};
use crate::manifest::Document;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::Path;

/// The interpreter a script runs with when it names none.
pub const DEFAULT_INTERPRETER: &str = "/bin/sh";

/// One build-time script, judged and read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScriptPlan {
    /// `name`, else `script N`.
    pub name: String,
    /// `inline`, or the file as the manifest names it.
    pub source: String,
    /// `sha256:HEX` of the script's bytes (`sha256sum` of a `file`).
    pub digest: String,
    /// Absolute path in the tree.
    pub interpreter: String,
    /// The host's network (true) or a namespace with none (false).
    pub network: bool,
    /// The script itself.
    #[serde(skip)]
    pub contents: Vec<u8>,
}

/// The scripts of `doc`, in order. Validation judged them already; what
/// still fails here (a file that vanished since) is an error naming it.
pub fn plan(doc: &Document, manifest_dir: &Path) -> Result<Vec<ScriptPlan>, String> {
    let Some(b) = &doc.manifest.build else {
        return Ok(vec![]);
    };
    let mut out = vec![];
    for (i, s) in b.scripts.iter().enumerate() {
        let name = s.display_name(i);
        let src = rules::script_source(manifest_dir, s.run.as_deref(), s.file.as_deref())
            .map_err(|e| format!("build script {name:?}: {e}"))?;
        let (source, contents) = match src {
            ScriptSource::Inline(r) => ("inline".to_string(), r.as_bytes().to_vec()),
            ScriptSource::File(p) => (
                s.file.as_deref().unwrap_or(&p).display().to_string(),
                crate::manifest::validate::scripts::read_script(&p)?,
            ),
        };
        out.push(ScriptPlan {
            name,
            source,
            digest: format!("sha256:{}", hex::encode(Sha256::digest(&contents))),
            interpreter: s
                .interpreter
                .clone()
                .unwrap_or_else(|| DEFAULT_INTERPRETER.to_string()),
            network: s.network.unwrap_or(false),
            contents,
        });
    }
    Ok(out)
}
