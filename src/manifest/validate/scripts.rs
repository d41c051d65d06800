//! `[[build.script]]`: each script has exactly one source (`run` inline
//! or a readable `file`), an absolute interpreter and a name no other
//! script has. A `file` is opened and read now, so a missing or
//! unreadable script stops the run before any download, at its key.

use super::{judge, keys};
use crate::manifest::rules::{self, ScriptSource};
use crate::manifest::{Diagnostic, Document};
use std::collections::BTreeMap;

pub(super) fn check(doc: &Document, out: &mut Vec<Diagnostic>) {
    let Some(b) = &doc.manifest.build else {
        return;
    };
    let dir = doc
        .path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    for (i, s) in b.scripts.iter().enumerate() {
        let at = |k: &str| keys!["build", "script", i, k];
        let whole = keys!["build", "script", i];
        // Blame `file` for "both" (the second source written), the table
        // for "neither".
        let blame = if s.file.is_some() {
            at("file").to_vec()
        } else {
            whole.to_vec()
        };
        let src = judge(
            doc,
            out,
            &blame,
            rules::script_source(dir, s.run.as_deref(), s.file.as_deref()),
        );
        if let Some(ScriptSource::File(p)) = src {
            if let Err(e) = read_script(&p) {
                out.push(
                    doc.diag(&at("file"), e)
                        .hint("`file` is relative to the manifest's directory"),
                );
            }
        }
        if let Some(i) = &s.interpreter {
            judge(doc, out, &at("interpreter"), rules::interpreter(i));
        }
        let name = s.display_name(i);
        let name_at = if s.name.is_some() {
            at("name").to_vec()
        } else {
            whole.to_vec()
        };
        if judge(doc, out, &name_at, rules::script_name(&name)).is_some() {
            if let Some(first) = names.insert(name.clone(), i) {
                out.push(
                    doc.diag(
                        &name_at,
                        format!("build.script[{first}] is also named {name:?}"),
                    )
                    .hint("give each [[build.script]] its own `name`"),
                );
            }
        }
    }
}

/// The bytes of a `file` script; an error says why it cannot be used.
pub(crate) fn read_script(p: &std::path::Path) -> Result<Vec<u8>, String> {
    match std::fs::metadata(p) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!("build script {} does not exist", p.display()))
        }
        Err(e) => return Err(format!("build script {}: {e}", p.display())),
        Ok(m) if !m.is_file() => {
            return Err(format!(
                "build script {} is not a regular file",
                p.display()
            ))
        }
        Ok(_) => {}
    }
    std::fs::read(p).map_err(|e| format!("build script {}: {e}", p.display()))
}
