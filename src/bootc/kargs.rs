//! Kernel arguments as bootc carries them: TOML files in
//! /usr/lib/bootc/kargs.d (`kargs = [...]`, optionally
//! `match-architectures = [...]`), which bootc applies at install and
//! carries across upgrades. The image's kernel command line lives there, not
//! in a bootloader configuration, because the image has none.
//!
//! The lint mirrors bootc's parser: a file it would reject (bad TOML, a
//! wrong type, an unknown key) fails `bootc install`, so it fails the build.

use super::rules::{entries, lstat};
use anyhow::Result;
use std::path::Path;

/// Where kargs.d lives in the image.
pub(super) const DIR: &str = "usr/lib/bootc/kargs.d";
/// The file `prepare` writes.
pub(super) const OURS: &str = "10-image-builder.toml";

/// The file a derived image adds on top of its base's kargs.d: named for
/// the manifest, after ours (`10-`), so the base's arguments stay (bootc
/// applies every file, in name order) and a rebuild of the same manifest
/// replaces its own file.
pub(super) fn derived_file(manifest: &str) -> String {
    let safe: String = manifest
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("20-image-builder-{safe}.toml")
}

/// The kargs.d file for `kargs` (TOML-escaped by the serializer).
pub(super) fn render(kargs: &[String]) -> Result<String> {
    #[derive(serde::Serialize)]
    struct File<'a> {
        kargs: &'a [String],
    }
    Ok(format!(
        "# Kernel arguments from the image-builder manifest.\n{}",
        toml::to_string(&File { kargs })?
    ))
}

fn type_name(v: &toml::Value) -> &'static str {
    v.type_str()
}

/// `key` is an array of strings.
fn strings(key: &str, v: &toml::Value, problems: &mut Vec<String>) {
    match v {
        toml::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                if !item.is_str() {
                    problems.push(format!(
                        "`{key}` item {} is {}, not a string",
                        i + 1,
                        type_name(item)
                    ));
                }
            }
        }
        other => problems.push(format!(
            "`{key}` must be an array of strings, not {}",
            type_name(other)
        )),
    }
}

/// What is wrong with one kargs.d file's text (empty: nothing).
pub(super) fn validate(text: &str) -> Vec<String> {
    let table: toml::Table = match toml::from_str(text) {
        Ok(t) => t,
        Err(e) => {
            let at = e
                .span()
                .map(|s| format!(" at line {}", text[..s.start].matches('\n').count() + 1))
                .unwrap_or_default();
            return vec![format!("not valid TOML{at}: {}", e.message().trim())];
        }
    };
    let mut problems = Vec::new();
    match table.get("kargs") {
        None => problems.push("has no `kargs` (an array of strings)".to_string()),
        Some(v) => strings("kargs", v, &mut problems),
    }
    if let Some(v) = table.get("match-architectures") {
        strings("match-architectures", v, &mut problems);
    }
    for k in table.keys() {
        if k != "kargs" && k != "match-architectures" {
            problems.push(format!(
                "unknown key `{k}` (allowed: kargs, match-architectures)"
            ));
        }
    }
    problems
}

/// `bootc-kargs`: every kargs.d/*.toml parses as bootc expects.
pub(super) fn lint(root: &Path) -> Result<Vec<String>> {
    match lstat(root, DIR)? {
        None => return Ok(vec![]),
        Some(m) if !m.is_dir() => return Ok(vec![format!("/{DIR} is not a directory")]),
        Some(_) => {}
    }
    let mut out = Vec::new();
    for e in entries(&root.join(DIR))? {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".toml") {
            continue;
        }
        let shown = format!("/{DIR}/{name}");
        if !e.file_type()?.is_file() {
            out.push(format!("{shown}: not a regular file"));
            continue;
        }
        let Ok(text) = String::from_utf8(std::fs::read(e.path())?) else {
            out.push(format!("{shown}: not UTF-8 text"));
            continue;
        };
        let problems = validate(&text);
        if !problems.is_empty() {
            out.push(format!("{shown}: {}", problems.join("; ")));
        }
    }
    Ok(out)
}
