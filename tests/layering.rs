//! Layering: no module of an earlier stage imports a later one
//! (DESIGN.md's module tree). Each top-level module of `src/` has a rank;
//! every `crate::MODULE` path in its files must name a module of the same
//! or a lower rank. Same rank is allowed for modules that form one stage
//! (manifest and distro judge input together; tree and bootc prepare
//! trees). `error` is exempt: it classifies errors of every stage into
//! exit codes, so it names their error types and nothing else.
//!
//! This reads the source text rather than compiling a graph: a `crate::`
//! path is the only way one module of this crate reaches another (the
//! crate has no `super::super` across top-level modules; the test checks
//! that too), so the text is the graph.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const RANKS: &[(&str, u32)] = &[
    // leaves: no stage, used by all
    ("civil", 0),
    ("report", 0),
    ("tools", 0),
    ("sys", 0),
    ("tarball", 0),
    ("progress", 0),
    // input: the manifest and the distro/arch models it is judged against
    ("manifest", 1),
    ("distro", 1),
    ("secureboot", 1),
    ("fetch", 1),
    ("stages", 1),
    // the OCI model, layout, references and registry client
    ("oci", 2),
    // installer kickstarts: pure functions of the manifest's customizations
    ("kickstart", 2),
    // the plan: the contract every later stage reads
    ("plan", 3),
    ("resolve", 4),
    ("tree", 5),
    ("bootc", 5),
    ("sigstore", 6),
    ("artifact", 7),
    ("verify", 8),
    ("publish", 9),
    ("pipeline", 10),
    ("commands", 11),
    ("cli", 11),
    ("main", 11),
];
const EXEMPT: &[&str] = &["error", "lib"];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut es: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    es.sort();
    for p in es {
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// Top-level module names a file's text reaches through `crate::NAME`.
fn uses(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, _) in text.match_indices("crate::") {
        // `$crate::` in macros and identifiers ending in "crate" are not paths.
        let before = text[..i].chars().last();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        let rest = &text[i + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            out.push(name);
        }
    }
    // `use crate::{a, b}` groups
    for (i, _) in text.match_indices("crate::{") {
        let rest = &text[i + "crate::{".len()..];
        let mut depth = 1;
        let mut group = String::new();
        for c in rest.chars() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            }
            if depth == 1 {
                group.push(c);
            } else {
                group.push(' ');
            }
        }
        for part in group.split(',') {
            let name: String = part
                .trim()
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.push(name);
            }
        }
    }
    out
}

fn module_of(root: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(root).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

#[test]
fn every_top_level_module_has_a_rank() {
    let root = src();
    let mut all = Vec::new();
    files(&root, &mut all);
    let ranks: BTreeMap<&str, u32> = RANKS.iter().copied().collect();
    let mut missing = std::collections::BTreeSet::new();
    for f in &all {
        let m = module_of(&root, f);
        if !ranks.contains_key(m.as_str()) && !EXEMPT.contains(&m.as_str()) {
            missing.insert(m);
        }
    }
    assert!(
        missing.is_empty(),
        "modules without a rank in tests/layering.rs: {missing:?}"
    );
}

#[test]
fn no_stage_imports_a_later_one() {
    let root = src();
    let mut all = Vec::new();
    files(&root, &mut all);
    let ranks: BTreeMap<&str, u32> = RANKS.iter().copied().collect();
    let mut bad = Vec::new();
    let mut edges = 0;
    for f in &all {
        let m = module_of(&root, f);
        if EXEMPT.contains(&m.as_str()) {
            continue;
        }
        let Some(&own) = ranks.get(m.as_str()) else {
            continue;
        };
        let text = std::fs::read_to_string(f).unwrap();
        for u in uses(&text) {
            if u == m || EXEMPT.contains(&u.as_str()) {
                continue;
            }
            edges += 1;
            match ranks.get(u.as_str()) {
                Some(&r) if r <= own => {}
                Some(&r) => bad.push(format!(
                    "{} ({m}, rank {own}) uses crate::{u} (rank {r})",
                    f.strip_prefix(&root).unwrap().display()
                )),
                None => bad.push(format!(
                    "{} uses crate::{u}, which has no rank",
                    f.strip_prefix(&root).unwrap().display()
                )),
            }
        }
    }
    // The scan must see the crate's real edges, or it proves nothing.
    assert!(edges > 200, "only {edges} crate:: edges found");
    assert!(bad.is_empty(), "layering violations:\n{}", bad.join("\n"));
}

#[test]
fn no_relative_path_leaves_a_top_level_module() {
    // `super::super::...` deep enough to leave the top-level module would
    // bypass the crate:: scan; every file's depth bounds how far it may go.
    let root = src();
    let mut all = Vec::new();
    files(&root, &mut all);
    let mut bad = Vec::new();
    for f in &all {
        let rel = f.strip_prefix(&root).unwrap();
        // a/b/c.rs sits two modules below `a`; a/b/mod.rs one.
        let mut depth = rel.components().count() - 1;
        if rel.file_name().is_some_and(|n| n == "mod.rs") {
            depth -= 1;
        }
        let text = std::fs::read_to_string(f).unwrap();
        for line in text.lines() {
            let line = line.trim_start();
            if line.starts_with("//") {
                continue;
            }
            if let Some(i) = line.find("super::") {
                let n = line[i..].matches("super::").count();
                // inside `mod tests` one more level is legitimate
                if n > depth + 1 {
                    bad.push(format!("{}: {line}", rel.display()));
                }
            }
        }
    }
    assert!(
        bad.is_empty(),
        "relative paths out of a top-level module:\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_scanner_reads_groups_and_ignores_macros() {
    let u = uses("use crate::{plan::{self, X}, oci};\n$crate::foo\nlet x = crate::tree::a;");
    assert_eq!(u, vec!["tree", "plan", "oci"]);
}
