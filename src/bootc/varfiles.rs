//! The two state rules that compare the image with systemd's own
//! declarations: `var-tmpfiles` (content in /var without a tmpfiles.d
//! entry) and `sysusers` (users and groups without a sysusers.d entry).
//!
//! Why they matter for bootc: /var and a locally changed /etc are the
//! machine's, not the image's. /var from the image is unpacked once, at
//! install; what an upgrade brings in /var never lands, so /var content
//! should be made at boot by tmpfiles.d. Likewise a user an upgrade adds
//! to /etc/passwd is lost when the machine's /etc has diverged; sysusers.d
//! creates it at boot instead. Both are warnings, as in bootc.
//!
//! Only the configuration files are read; /var is walked by directory
//! entries, stopping at the first path no entry covers.

use super::rules::{entries, is_dir, lstat};
use super::{image_path, list};
use anyhow::{Context, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// systemd's search path for a configuration directory, highest priority
/// first (/lib too, for trees without merged /usr).
fn search_path(kind: &str) -> [String; 5] {
    [
        format!("etc/{kind}"),
        format!("run/{kind}"),
        format!("usr/local/lib/{kind}"),
        format!("usr/lib/{kind}"),
        format!("lib/{kind}"),
    ]
}

/// The texts of `kind`'s *.conf files: one per name, the first directory
/// in the search path wins, a link to /dev/null masks the name.
fn conf_texts(root: &Path, kind: &str) -> Result<Vec<(String, String)>> {
    let mut chosen: BTreeMap<String, Option<std::path::PathBuf>> = BTreeMap::new();
    for dir in search_path(kind) {
        if !is_dir(root, &dir)? {
            continue;
        }
        for e in entries(&root.join(&dir))? {
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".conf") || chosen.contains_key(&name) {
                continue;
            }
            let ft = e.file_type()?;
            let masked = ft.is_symlink() && std::fs::read_link(e.path())? == Path::new("/dev/null");
            let file = (ft.is_file() && !masked).then(|| e.path());
            chosen.insert(name, file);
        }
    }
    let mut out = Vec::new();
    for (name, p) in chosen {
        if let Some(p) = p {
            let bytes = std::fs::read(&p).with_context(|| format!("reading {}", p.display()))?;
            out.push((name, String::from_utf8_lossy(&bytes).into_owned()));
        }
    }
    Ok(out)
}

/// The significant lines of a tmpfiles.d/sysusers.d file, split into
/// fields (a double-quoted field may hold spaces).
fn fields(text: &str) -> impl Iterator<Item = Vec<String>> + '_ {
    text.lines().filter_map(|l| {
        let l = l.trim();
        if l.is_empty() || l.starts_with('#') {
            return None;
        }
        let mut out = Vec::new();
        let mut cur = String::new();
        let mut quoted = false;
        let mut chars = l.chars();
        while let Some(c) = chars.next() {
            match c {
                '"' => quoted = !quoted,
                '\\' if quoted => cur.extend(chars.next()),
                c if c.is_whitespace() && !quoted => {
                    if !cur.is_empty() {
                        out.push(std::mem::take(&mut cur));
                    }
                }
                c => cur.push(c),
            }
        }
        if !cur.is_empty() {
            out.push(cur);
        }
        Some(out)
    })
}

/// A tmpfiles.d path as a pattern: specifiers (`%m`, `%H`, …) match any
/// text within a component, `%%` is a percent sign.
fn tmpfiles_pattern(path: &str) -> String {
    let mut out = String::new();
    let mut chars = path.chars();
    while let Some(c) = chars.next() {
        if c == '%' {
            match chars.next() {
                Some('%') => out.push('%'),
                _ => out.push('*'),
            }
        } else {
            out.push(c);
        }
    }
    let trimmed = out.trim_end_matches('/');
    if trimmed.is_empty() {
        "/".into()
    } else {
        trimmed.into()
    }
}

/// Shell-style match of `name` against `pat` (`*`, `?` within a path
/// component; `[...]` classes are taken literally).
fn glob(pat: &[u8], name: &[u8]) -> bool {
    match (pat.first(), name.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            glob(&pat[1..], name) || (!name.is_empty() && name[0] != b'/' && glob(pat, &name[1..]))
        }
        (Some(b'?'), Some(&n)) if n != b'/' => glob(&pat[1..], &name[1..]),
        (Some(&p), Some(&n)) if p == n => glob(&pat[1..], &name[1..]),
        _ => false,
    }
}

/// The paths tmpfiles.d declares: exact ones, and patterns.
struct Declared {
    exact: BTreeSet<String>,
    patterns: Vec<String>,
}

impl Declared {
    fn load(root: &Path) -> Result<Declared> {
        let mut exact = BTreeSet::new();
        let mut patterns = Vec::new();
        for (_, text) in conf_texts(root, "tmpfiles.d")? {
            for f in fields(&text) {
                let Some(path) = f.get(1) else { continue };
                let p = tmpfiles_pattern(path);
                if p.contains(['*', '?']) {
                    patterns.push(p);
                } else {
                    exact.insert(p);
                }
            }
        }
        Ok(Declared { exact, patterns })
    }

    fn covers(&self, path: &str) -> bool {
        self.exact.contains(path)
            || self
                .patterns
                .iter()
                .any(|p| glob(p.as_bytes(), path.as_bytes()))
    }
}

/// `var-tmpfiles`: paths in /var no tmpfiles.d entry declares. A
/// directory without an entry is reported once, not with its contents.
pub(super) fn tmpfiles(root: &Path) -> Result<Vec<String>> {
    if !is_dir(root, "var")? {
        return Ok(vec![]);
    }
    let declared = Declared::load(root)?;
    let mut missing = Vec::new();
    let mut stack = vec![root.join("var")];
    while let Some(dir) = stack.pop() {
        for e in entries(&dir)? {
            let p = e.path();
            let shown = image_path(root, &p);
            // /var/run is the var-run rule's.
            if shown == "/var/run" {
                continue;
            }
            if !declared.covers(&shown) {
                missing.push(shown);
            } else if e.file_type()?.is_dir() {
                stack.push(p);
            }
        }
    }
    if missing.is_empty() {
        return Ok(vec![]);
    }
    missing.sort();
    Ok(vec![format!(
        "{} path{} in /var without a tmpfiles.d entry (the image's /var is only unpacked at install): {}",
        missing.len(),
        if missing.len() == 1 { "" } else { "s" },
        list(&missing)
    )])
}

/// The names in a passwd/group style file (first field of each line).
fn names(root: &Path, rel: &str) -> Result<Vec<String>> {
    if !lstat(root, rel)?.is_some_and(|m| m.is_file()) {
        return Ok(vec![]);
    }
    let bytes = std::fs::read(root.join(rel)).with_context(|| format!("reading /{rel}"))?;
    let text = String::from_utf8_lossy(&bytes);
    let mut v: Vec<String> = text
        .lines()
        .filter_map(|l| l.split(':').next())
        .map(str::trim)
        .filter(|n| !n.is_empty() && !n.starts_with(['#', '+', '-']))
        .map(String::from)
        .collect();
    v.sort();
    v.dedup();
    Ok(v)
}

/// `sysusers`: users in /etc/passwd and groups in /etc/group that no
/// sysusers.d line creates (`u` makes a user and its group, `g` a group).
pub(super) fn sysusers(root: &Path) -> Result<Vec<String>> {
    let passwd = names(root, "etc/passwd")?;
    let group = names(root, "etc/group")?;
    if passwd.is_empty() && group.is_empty() {
        return Ok(vec![]);
    }
    let mut users = BTreeSet::new();
    let mut groups = BTreeSet::new();
    for (_, text) in conf_texts(root, "sysusers.d")? {
        for f in fields(&text) {
            let (Some(kind), Some(name)) = (f.first(), f.get(1)) else {
                continue;
            };
            match kind.trim_end_matches('!') {
                "u" => {
                    users.insert(name.clone());
                    groups.insert(name.clone());
                }
                "g" => {
                    groups.insert(name.clone());
                }
                _ => {}
            }
        }
    }
    let lost_users: Vec<&String> = passwd.iter().filter(|u| !users.contains(*u)).collect();
    let lost_groups: Vec<&String> = group.iter().filter(|g| !groups.contains(*g)).collect();
    let mut out = Vec::new();
    if !lost_users.is_empty() {
        out.push(format!(
            "{} user{} in /etc/passwd without a sysusers.d entry: {}",
            lost_users.len(),
            if lost_users.len() == 1 { "" } else { "s" },
            list(&lost_users)
        ));
    }
    if !lost_groups.is_empty() {
        out.push(format!(
            "{} group{} in /etc/group without a sysusers.d entry: {}",
            lost_groups.len(),
            if lost_groups.len() == 1 { "" } else { "s" },
            list(&lost_groups)
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_and_globs() {
        assert_eq!(
            tmpfiles_pattern("/var/log/journal/%m/"),
            "/var/log/journal/*"
        );
        assert_eq!(tmpfiles_pattern("/var/lib/100%%"), "/var/lib/100%");
        assert!(glob(b"/var/log/journal/*", b"/var/log/journal/abc"));
        assert!(!glob(b"/var/log/journal/*", b"/var/log/journal/abc/x"));
        assert!(glob(b"/var/cache/?ar", b"/var/cache/bar"));
        assert!(!glob(b"/var/cache/?ar", b"/var/cache/ar"));
    }

    #[test]
    fn quoted_fields() {
        let f: Vec<_> = fields("# c\n\nd \"/var/lib/a b\" 0755 - -\nu! x - \"X Y\"\n").collect();
        assert_eq!(f[0], ["d", "/var/lib/a b", "0755", "-", "-"]);
        assert_eq!(f[1], ["u!", "x", "-", "X Y"]);
    }
}
