//! ostree-prepare-root's configuration (/usr/lib/ostree/prepare-root.conf,
//! a GLib key file): composefs on, so the deployed root is a verified,
//! read-only composefs mount rather than a plain hardlink farm. `prepare`
//! merges `[composefs] enabled = true` into whatever the tree's ostree
//! package shipped (`enabled = false` for a distro whose libostree has no
//! composefs, `composefs = false` in its definition: the fixture's); the
//! `baseimage-composefs` lint warns when it is off.

use super::rules::lstat;
use anyhow::{Context, Result};
use std::path::Path;

/// Where ostree-prepare-root reads its configuration in the image.
pub(super) const CONF: &str = "usr/lib/ostree/prepare-root.conf";

/// Values of `[composefs] enabled` that turn composefs on (`maybe` uses it
/// when the deployment has one, which bootc's deployments always do).
const ON: &[&str] = &["yes", "true", "1", "maybe", "signed", "verity"];

/// Values that turn it on and that `prepare` keeps as they are.
const KEEP: &[&str] = &["yes", "true", "1", "signed", "verity"];

/// A `[group]` header's name.
fn group(line: &str) -> Option<&str> {
    let t = line.trim();
    t.strip_prefix('[')?.strip_suffix(']').map(str::trim)
}

/// A `key = value` line's key and value.
fn key_value(line: &str) -> Option<(&str, &str)> {
    let t = line.trim();
    if t.starts_with('#') {
        return None;
    }
    let (k, v) = t.split_once('=')?;
    Some((k.trim(), v.trim()))
}

/// The value of `[composefs] enabled` (the last one, as GLib reads it).
pub(super) fn enabled(text: &str) -> Option<&str> {
    let mut in_group = false;
    let mut found = None;
    for line in text.lines() {
        if let Some(g) = group(line) {
            in_group = g == "composefs";
        } else if in_group {
            if let Some(("enabled", v)) = key_value(line) {
                found = Some(v);
            }
        }
    }
    found
}

/// `existing` (the tree's file, if any) with composefs enabled; other
/// groups and keys kept as they were.
pub(super) fn merge(existing: Option<&str>) -> String {
    if existing
        .and_then(enabled)
        .is_some_and(|v| KEEP.contains(&v))
    {
        return existing.unwrap_or_default().to_string();
    }
    set_enabled(existing, "true")
}

/// `existing` with `[composefs] enabled = VALUE`, other groups and keys
/// kept. `false` is for distros whose libostree has no composefs (the
/// fixture's Debian 2022.7): its prepare-root.conf must not ask for it.
pub(super) fn set_enabled(existing: Option<&str>, value: &str) -> String {
    let set_line = format!("enabled = {value}\n");
    let Some(text) = existing else {
        return format!("[composefs]\n{set_line}");
    };
    let mut out = String::new();
    let mut in_group = false;
    let mut seen_group = false;
    let mut set = false;
    for line in text.lines() {
        if let Some(g) = group(line) {
            if in_group && !set {
                out.push_str(&set_line);
                set = true;
            }
            in_group = g == "composefs";
            seen_group |= in_group;
            out.push_str(line);
            out.push('\n');
            continue;
        }
        if in_group && matches!(key_value(line), Some(("enabled", _))) {
            if !set {
                out.push_str(&set_line);
                set = true;
            }
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    if in_group && !set {
        out.push_str(&set_line);
    } else if !seen_group {
        if !out.is_empty() && !out.ends_with("\n\n") {
            out.push('\n');
        }
        out.push_str("[composefs]\n");
        out.push_str(&set_line);
    }
    out
}

/// `baseimage-composefs`: prepare-root.conf is there and enables composefs.
pub(super) fn lint(root: &Path) -> Result<Vec<String>> {
    match lstat(root, CONF)? {
        None => return Ok(vec![format!("/{CONF} is not present to enable composefs")]),
        Some(m) if !m.is_file() => return Ok(vec![format!("/{CONF} is not a regular file")]),
        Some(_) => {}
    }
    let bytes = std::fs::read(root.join(CONF)).with_context(|| format!("reading /{CONF}"))?;
    let text = String::from_utf8_lossy(&bytes);
    match enabled(&text) {
        Some(v) if ON.contains(&v) => Ok(vec![]),
        Some(v) => Ok(vec![format!(
            "/{CONF} does not enable composefs ([composefs] enabled = {v})"
        )]),
        None => Ok(vec![format!(
            "/{CONF} does not enable composefs (no [composefs] enabled)"
        )]),
    }
}
