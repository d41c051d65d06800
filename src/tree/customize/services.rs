//! `[customizations.services]` and `systemctl preset-all`, done natively.
//!
//! Why not run `systemctl --root`: the host's systemctl is whatever the
//! build machine has (Debian's searches /lib before /usr/lib and warns
//! about split-usr; a different version has different quirks), and the
//! tree's own systemctl cannot run chrooted without a running systemd for
//! some verbs. Enabling a unit is only symlinks in /etc/systemd/system,
//! derived from the unit file's `[Install]` section, so doing it here makes
//! the result depend on the tree alone. The semantics follow systemd's
//! documentation (systemd.unit(5) "[Install] Section Options",
//! systemd.preset(5), systemctl(1)) and are checked against the host's
//! `systemctl --root` in the tests.
//!
//! Deliberate differences from systemctl: disabling a unit that does not
//! exist is an error here (systemctl 252 prints one but exits 0), because
//! a blueprint naming a missing unit is almost always a typo or a missing
//! package. Masking a unit that does not exist is allowed, as in systemctl
//! and osbuild: masking is how one makes sure a unit never runs, installed
//! or not. Link targets use the unit's path in the tree's own search order
//! (/usr/lib before /lib, as AlmaLinux's systemd does).

use super::{in_root, Env};
use crate::manifest::blueprint::*;
use crate::manifest::rules;
use anyhow::{bail, Context, Result};
use std::collections::{BTreeSet, HashSet};
use std::path::Path;

/// The unit search path inside the tree, first match wins.
const UNIT_DIRS: [&str; 3] = [
    "/etc/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
];
/// Where enable/disable/mask write.
const CONFIG_DIR: &str = "/etc/systemd/system";
/// Preset directories, by priority (same file name: the earlier wins).
const PRESET_DIRS: [&str; 3] = [
    "/etc/systemd/system-preset",
    "/usr/lib/systemd/system-preset",
    "/lib/systemd/system-preset",
];
const SUFFIXES: [&str; 11] = rules::UNIT_SUFFIXES;

/// Applies enabled, then disabled, then masked units (osbuild's order).
pub fn apply(env: &Env, s: &Services) -> Result<()> {
    for name in &s.enabled {
        let name = unit_name(name)?;
        enable(&env.root, &name, &mut HashSet::new())
            .with_context(|| format!("enabling {name}"))?;
    }
    if !s.disabled.is_empty() {
        let mut marks = HashSet::new();
        for name in &s.disabled {
            let name = unit_name(name)?;
            let found = find(&env.root, &name)
                .with_context(|| format!("disabling {name}"))?
                .with_context(|| not_found(&name))?;
            if !found.masked {
                mark(&env.root, &found.name, &mut marks, &mut HashSet::new())?;
            }
        }
        remove_marked(&env.root, &mut marks)?;
    }
    for name in &s.masked {
        let name = unit_name(name)?;
        mask(&env.root, &name).with_context(|| format!("masking {name}"))?;
    }
    Ok(())
}

/// `systemctl preset-all`, natively: enable/disable every unit as the tree's preset files say.
pub fn preset_all(root: &Path) -> Result<()> {
    let rules = read_presets(root)?;
    let mut names = BTreeSet::new();
    for dir in UNIT_DIRS {
        let host = in_root(root, dir)?;
        let Ok(entries) = std::fs::read_dir(&host) else {
            continue;
        };
        for e in entries {
            let e = e.with_context(|| format!("reading {dir}"))?;
            let ft = e.file_type().with_context(|| format!("reading {dir}"))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if (ft.is_file() || ft.is_symlink()) && is_unit_name(&name) {
                names.insert(name);
            }
        }
    }
    let (mut plus, mut minus) = (Vec::new(), Vec::new());
    for name in names {
        let Some(found) = find(root, &name)? else {
            continue;
        };
        // Masked units are left alone; aliases are handled with their unit.
        if found.masked || found.name != name {
            continue;
        }
        match query_presets(&rules, &name) {
            Preset::Enable(inst) if inst.is_empty() => plus.push(name),
            Preset::Enable(inst) => plus.extend(inst),
            Preset::Disable => minus.push(name),
        }
    }
    let mut marks = HashSet::new();
    for name in &minus {
        mark(root, name, &mut marks, &mut HashSet::new())?;
    }
    remove_marked(root, &mut marks)?;
    let mut seen = HashSet::new();
    for name in &plus {
        enable_inner(root, name, &mut seen, true).with_context(|| format!("presetting {name}"))?;
    }
    Ok(())
}

/// `systemctl enable NAME` for other customizations that ship units.
pub(crate) fn enable_unit(root: &Path, name: &str) -> Result<()> {
    let name = unit_name(name)?;
    enable(root, &name, &mut HashSet::new()).with_context(|| format!("enabling {name}"))
}

/// A manifest's unit name made whole: `sshd` → `sshd.service`.
fn unit_name(name: &str) -> Result<String> {
    Ok(rules::unit_name(name)?)
}

fn is_unit_name(name: &str) -> bool {
    match name.rsplit_once('.') {
        Some((stem, suffix)) => !stem.is_empty() && SUFFIXES.contains(&suffix),
        None => false,
    }
}

fn not_found(name: &str) -> String {
    format!(
        "unit {name} not found in the tree ({}); is its package in the package set?",
        UNIT_DIRS.join(", ")
    )
}

/// `foo@bar.service` → (`foo`, Some(`bar`), `service`); `foo@.service` has
/// an empty instance; `foo.service` none.
fn split_name(name: &str) -> (&str, Option<&str>, &str) {
    let (stem, suffix) = name.rsplit_once('.').unwrap_or((name, ""));
    match stem.split_once('@') {
        Some((prefix, inst)) => (prefix, Some(inst), suffix),
        None => (stem, None, suffix),
    }
}

fn is_template(name: &str) -> bool {
    split_name(name).1 == Some("")
}

/// `foo@.service` → `foo@inst.service`; `foo@x.service` too.
fn instantiate(name: &str, inst: &str) -> String {
    let (prefix, _, suffix) = split_name(name);
    format!("{prefix}@{inst}.{suffix}")
}

/// A unit as found on the search path.
#[derive(Debug)]
struct Found {
    /// The unit's own name after following aliases (an instance stays an
    /// instance: `foo@x.service`).
    name: String,
    /// The unit file's absolute path inside the tree.
    path: String,
    /// Linked to /dev/null.
    masked: bool,
}

/// Looks `name` up on the search path; instances fall back to their
/// template's file. Symlinks are followed inside the tree (a vendor alias
/// resolves to the unit it names).
fn find(root: &Path, name: &str) -> Result<Option<Found>> {
    let (_, inst, _) = split_name(name);
    let mut candidates = vec![name.to_string()];
    if let Some(i) = inst.filter(|i| !i.is_empty()) {
        candidates.push(name.replacen(&format!("@{i}."), "@.", 1));
    }
    for cand in &candidates {
        for dir in UNIT_DIRS {
            let rel = format!("{dir}/{cand}");
            let host = in_root(root, &rel)?;
            let Ok(meta) = std::fs::symlink_metadata(&host) else {
                continue;
            };
            let path = if meta.file_type().is_symlink() {
                chase(root, &rel)?
            } else {
                rel
            };
            if path == "/dev/null" {
                return Ok(Some(Found {
                    name: name.to_string(),
                    path,
                    masked: true,
                }));
            }
            if !in_root(root, &path)?.is_file() {
                continue; // dangling: look further
            }
            let base = path.rsplit('/').next().unwrap_or_default();
            let real = match inst.filter(|i| !i.is_empty()) {
                Some(i) if is_template(base) => instantiate(base, i),
                _ => base.to_string(),
            };
            return Ok(Some(Found {
                name: real,
                path,
                masked: false,
            }));
        }
    }
    Ok(None)
}

/// Resolves every symlink in `path` (absolute inside the tree) with the
/// tree as `/`; components that do not exist are kept as they are.
pub(crate) fn chase(root: &Path, path: &str) -> Result<String> {
    let host = super::files::resolve(root, path)?;
    let inside = host.strip_prefix(root).unwrap_or(&host);
    Ok(format!("/{}", inside.to_string_lossy()))
}

/// What a unit file's `[Install]` section says.
#[derive(Debug, Default)]
struct Install {
    wanted_by: Vec<String>,
    required_by: Vec<String>,
    alias: Vec<String>,
    also: Vec<String>,
    default_instance: Option<String>,
}

impl Install {
    fn is_empty(&self) -> bool {
        self.wanted_by.is_empty()
            && self.required_by.is_empty()
            && self.alias.is_empty()
            && self.also.is_empty()
    }
}

/// Parses the `[Install]` section of a unit file (the main file only:
/// systemd ignores `[Install]` in drop-ins). Continuation lines, comments
/// and empty assignments (which reset a list) are honoured.
fn parse_install(text: &str) -> Install {
    let mut out = Install::default();
    let mut in_install = false;
    let mut logical = String::new();
    let mut lines = Vec::new();
    for raw in text.lines() {
        let l = raw.trim();
        if logical.is_empty() && (l.starts_with('#') || l.starts_with(';')) {
            continue;
        }
        if let Some(cont) = l.strip_suffix('\\') {
            logical.push_str(cont);
            logical.push(' ');
            continue;
        }
        logical.push_str(l);
        lines.push(std::mem::take(&mut logical));
    }
    lines.push(logical);
    for l in lines {
        let l = l.trim();
        if l.starts_with('[') && l.ends_with(']') {
            in_install = l == "[Install]";
            continue;
        }
        if !in_install {
            continue;
        }
        let Some((key, value)) = l.split_once('=') else {
            continue;
        };
        let value = value.trim();
        let list = match key.trim() {
            "WantedBy" => &mut out.wanted_by,
            "RequiredBy" => &mut out.required_by,
            "Alias" => &mut out.alias,
            "Also" => &mut out.also,
            "DefaultInstance" => {
                out.default_instance = (!value.is_empty()).then(|| value.to_string());
                continue;
            }
            _ => continue,
        };
        if value.is_empty() {
            list.clear();
        } else {
            list.extend(value.split_whitespace().map(str::to_string));
        }
    }
    out
}

/// Expands the unit-name specifiers systemd allows in `[Install]`
/// (`%n %N %p %i %I %j %J %%`); others are refused.
fn specifiers(unit: &str, value: &str) -> Result<String> {
    let (prefix, inst, suffix) = split_name(unit);
    let inst = inst.unwrap_or("");
    let last_dash = prefix.rsplit('-').next().unwrap_or(prefix);
    let mut out = String::new();
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push_str(unit),
            Some('N') => out.push_str(unit.strip_suffix(&format!(".{suffix}")).unwrap_or(unit)),
            Some('p') | Some('P') => out.push_str(prefix),
            Some('i') | Some('I') => out.push_str(inst),
            Some('j') | Some('J') => out.push_str(last_dash),
            Some('%') => out.push('%'),
            Some(o) => bail!("{unit}: specifier %{o} in [Install] is not supported"),
            None => bail!("{unit}: dangling % in [Install]"),
        }
    }
    Ok(out)
}

fn enable(root: &Path, name: &str, seen: &mut HashSet<String>) -> Result<()> {
    enable_inner(root, name, seen, false)
}

/// Creates the links `systemctl enable` would. `preset`: a template with
/// no instance is skipped quietly (systemctl preset does the same) instead
/// of refused.
fn enable_inner(root: &Path, name: &str, seen: &mut HashSet<String>, preset: bool) -> Result<()> {
    let found = find(root, name)?.with_context(|| not_found(name))?;
    if found.masked {
        bail!("unit {name} is masked");
    }
    if !seen.insert(found.name.clone()) {
        return Ok(());
    }
    let text = std::fs::read_to_string(in_root(root, &found.path)?)
        .with_context(|| format!("reading {}", found.path))?;
    let install = parse_install(&text);
    let unit = found.name.as_str();
    if install.is_empty() {
        crate::report::verbose(format!(
            "unit {unit} has no [Install] section; nothing to enable"
        ));
        return Ok(());
    }
    let (_, inst, suffix) = split_name(unit);
    for a in &install.alias {
        let a = specifiers(unit, a)?;
        if !is_unit_name(&a) || split_name(&a).2 != suffix || a.contains('/') {
            bail!("{unit}: Alias={a} is not a {suffix} unit name");
        }
        let a = match inst {
            Some(i) if !i.is_empty() && is_template(&a) => instantiate(&a, i),
            _ => a,
        };
        link(root, &format!("{CONFIG_DIR}/{a}"), &found.path, unit)?;
    }
    let wants_name = if is_template(unit) {
        install
            .default_instance
            .as_deref()
            .map(|i| instantiate(unit, &specifiers(unit, i).unwrap_or_else(|_| i.into())))
    } else {
        Some(unit.to_string())
    };
    for (deps, dir_suffix) in [
        (&install.wanted_by, "wants"),
        (&install.required_by, "requires"),
    ] {
        for t in deps {
            let t = specifiers(unit, t)?;
            if !is_unit_name(&t) || t.contains('/') {
                bail!("{unit}: {t} is not a unit name");
            }
            let Some(w) = &wants_name else {
                if preset {
                    continue;
                }
                bail!(
                    "{unit} is a template without DefaultInstance=; enable an instance (e.g. {})",
                    instantiate(unit, "NAME")
                );
            };
            let t = match split_name(w).1 {
                Some(i) if is_template(&t) => instantiate(&t, i),
                _ => t,
            };
            link(
                root,
                &format!("{CONFIG_DIR}/{t}.{dir_suffix}/{w}"),
                &found.path,
                unit,
            )?;
        }
    }
    for a in &install.also {
        let a = unit_name(&specifiers(unit, a)?)?;
        enable_inner(root, &a, seen, preset).with_context(|| format!("{unit}: Also={a}"))?;
    }
    Ok(())
}

/// Creates `at` → `target` (both absolute inside the tree); an existing
/// link to the same file is fine, anything else there is an error.
fn link(root: &Path, at: &str, target: &str, unit: &str) -> Result<()> {
    let host = in_root(root, at)?;
    if let Ok(meta) = std::fs::symlink_metadata(&host) {
        if meta.file_type().is_symlink() {
            let dest = std::fs::read_link(&host)?.to_string_lossy().into_owned();
            if dest == target || chase(root, at)? == chase(root, target)? {
                return Ok(());
            }
            bail!("{at} already exists and links to {dest}, not to {unit}");
        }
        bail!("{at} already exists and is not a symlink; cannot link {unit}");
    }
    if let Some(parent) = host.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    std::os::unix::fs::symlink(target, &host).with_context(|| format!("linking {at} to {target}"))
}

/// Marks `name` and, through `Also=`, the units it brings along, for
/// removal. Missing `Also=` units are skipped, as systemctl does.
fn mark(
    root: &Path,
    name: &str,
    marks: &mut HashSet<String>,
    seen: &mut HashSet<String>,
) -> Result<()> {
    if !seen.insert(name.to_string()) {
        return Ok(());
    }
    marks.insert(name.to_string());
    let Some(found) = find(root, name)? else {
        return Ok(());
    };
    if found.masked {
        return Ok(());
    }
    marks.insert(found.name.clone());
    let text = std::fs::read_to_string(in_root(root, &found.path)?)
        .with_context(|| format!("reading {}", found.path))?;
    for a in parse_install(&text).also {
        let a = unit_name(&specifiers(&found.name, &a)?)?;
        mark(root, &a, marks, seen)?;
    }
    Ok(())
}

/// Removes every symlink under /etc/systemd/system that is named like a
/// marked unit or resolves to one; a removed link's own path is marked in
/// turn (links to an alias go with it), until nothing changes.
fn remove_marked(root: &Path, marks: &mut HashSet<String>) -> Result<()> {
    loop {
        let mut links = Vec::new();
        collect_links(root, CONFIG_DIR, &mut links)?;
        let mut again = false;
        for l in links {
            let base = l.rsplit('/').next().unwrap_or_default();
            if !is_unit_name(base) {
                continue;
            }
            let dest = chase(root, &l)?;
            let dest_base = dest.rsplit('/').next().unwrap_or_default();
            if marks.contains(base) || marks.contains(&dest) || marks.contains(dest_base) {
                let host = in_root(root, &l)?;
                std::fs::remove_file(&host).with_context(|| format!("removing {l}"))?;
                again |= marks.insert(l);
            }
        }
        if !again {
            return Ok(());
        }
    }
}

/// Symlinks under `dir` (inside the tree), not following directory links.
fn collect_links(root: &Path, dir: &str, out: &mut Vec<String>) -> Result<()> {
    let host = in_root(root, dir)?;
    let Ok(entries) = std::fs::read_dir(&host) else {
        return Ok(());
    };
    for e in entries {
        let e = e.with_context(|| format!("reading {dir}"))?;
        let ft = e.file_type().with_context(|| format!("reading {dir}"))?;
        let path = format!("{dir}/{}", e.file_name().to_string_lossy());
        if ft.is_symlink() {
            out.push(path);
        } else if ft.is_dir() {
            collect_links(root, &path, out)?;
        }
    }
    Ok(())
}

/// `systemctl mask`: /etc/systemd/system/NAME → /dev/null.
fn mask(root: &Path, name: &str) -> Result<()> {
    link(root, &format!("{CONFIG_DIR}/{name}"), "/dev/null", name)
}

/// One preset line.
#[derive(Debug)]
struct Rule {
    enable: bool,
    pattern: String,
    instances: Vec<String>,
}

enum Preset {
    /// Enable; the instances to enable for a template, if the rule named any.
    Enable(Vec<String>),
    Disable,
}

/// Reads *.preset files: by file name across the preset directories (the
/// earlier directory wins), in lexical order of file name.
fn read_presets(root: &Path) -> Result<Vec<Rule>> {
    let mut files: std::collections::BTreeMap<String, std::path::PathBuf> = Default::default();
    for dir in PRESET_DIRS {
        let Ok(entries) = std::fs::read_dir(in_root(root, dir)?) else {
            continue;
        };
        for e in entries {
            let e = e.with_context(|| format!("reading {dir}"))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".preset") {
                files.entry(name).or_insert_with(|| e.path());
            }
        }
    }
    let mut rules = Vec::new();
    for (name, path) in files {
        // An empty file or a link to /dev/null masks a preset file.
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            let mut words = line.split_whitespace();
            let (verb, Some(pattern)) = (words.next(), words.next()) else {
                crate::report::verbose(format!("{name}: ignoring preset line {line:?}"));
                continue;
            };
            let enable = match verb {
                Some("enable") => true,
                Some("disable") => false,
                _ => {
                    crate::report::verbose(format!("{name}: ignoring preset line {line:?}"));
                    continue;
                }
            };
            let instances: Vec<String> = words.map(str::to_string).collect();
            if !instances.is_empty() && (!enable || !is_template(pattern)) {
                crate::report::verbose(format!("{name}: ignoring preset line {line:?}"));
                continue;
            }
            rules.push(Rule {
                enable,
                pattern: pattern.to_string(),
                instances,
            });
        }
    }
    Ok(rules)
}

/// The first rule that matches `name` decides; no rule means enable.
fn query_presets(rules: &[Rule], name: &str) -> Preset {
    let (_, inst, _) = split_name(name);
    for r in rules {
        if !r.instances.is_empty() && inst.is_some() && instantiate(name, "") == r.pattern {
            match inst {
                Some("") => {
                    return Preset::Enable(
                        r.instances.iter().map(|i| instantiate(name, i)).collect(),
                    )
                }
                Some(i) if r.instances.iter().any(|x| x == i) => return Preset::Enable(Vec::new()),
                _ => {}
            }
        }
        if fnmatch(r.pattern.as_bytes(), name.as_bytes()) {
            return if r.enable {
                Preset::Enable(Vec::new())
            } else {
                Preset::Disable
            };
        }
    }
    Preset::Enable(Vec::new())
}

/// Shell-style glob as fnmatch(3) without flags: `*`, `?`, `[...]` (with
/// `!`/`^` negation and ranges); `\` is literal (FNM_NOESCAPE).
fn fnmatch(pat: &[u8], s: &[u8]) -> bool {
    let (mut p, mut i) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        let step = match pat.get(p) {
            Some(b'*') => {
                star = Some((p, i));
                p += 1;
                continue;
            }
            Some(b'?') => Some(p + 1),
            Some(b'[') => match class(pat, p, s[i]) {
                Some((true, next)) => Some(next),
                Some((false, _)) => None,
                None => (s[i] == b'[').then_some(p + 1),
            },
            Some(&c) => (c == s[i]).then_some(p + 1),
            None => None,
        };
        match (step, star) {
            (Some(next), _) => {
                p = next;
                i += 1;
            }
            (None, Some((sp, si))) => {
                p = sp + 1;
                i = si + 1;
                star = Some((sp, si + 1));
            }
            (None, None) => return false,
        }
    }
    pat[p..].iter().all(|&c| c == b'*')
}

/// Matches `c` against the bracket expression at `pat[p]`; returns whether
/// it matched and where the expression ends, or None when unterminated.
fn class(pat: &[u8], p: usize, c: u8) -> Option<(bool, usize)> {
    let mut j = p + 1;
    let negate = matches!(pat.get(j), Some(b'!') | Some(b'^'));
    if negate {
        j += 1;
    }
    let mut hit = false;
    let mut first = true;
    loop {
        let lo = *pat.get(j)?;
        if lo == b']' && !first {
            return Some((hit != negate, j + 1));
        }
        first = false;
        if pat.get(j + 1) == Some(&b'-') && pat.get(j + 2).is_some_and(|&h| h != b']') {
            let hi = pat[j + 2];
            hit |= lo <= c && c <= hi;
            j += 3;
        } else {
            hit |= lo == c;
            j += 1;
        }
    }
}

#[cfg(test)]
mod tests;
