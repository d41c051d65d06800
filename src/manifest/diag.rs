//! Manifest diagnostics: one readable paragraph naming file:line:col, a
//! source excerpt, and for typos the nearest valid key or value.
//!
//! serde reports *what* is wrong ("unknown field `hostnam`, expected one of
//! ...") and toml reports *where* (a byte span). We turn the pair into our
//! wording, find which table the span sits in, and pick a suggestion. For
//! errors found after parsing (unknown distro, incompatible output), the
//! validator names a key path and we look its span up in the document.

use serde::Serialize;
use std::fmt;
use std::ops::Range;
use toml::de::{DeTable, DeValue};

/// One step of a path into a TOML document: `output[1].type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

impl From<&str> for Seg {
    fn from(s: &str) -> Seg {
        Seg::Key(s.to_string())
    }
}

impl From<usize> for Seg {
    fn from(i: usize) -> Seg {
        Seg::Index(i)
    }
}

/// Renders a path as TOML would name it: `customizations.user[0].name`.
pub fn path_string(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// A problem in a manifest, located.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub file: String,
    /// 1-based; 0 when the problem has no place in the file.
    pub line: usize,
    pub column: usize,
    pub message: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hints: Vec<String>,
    /// The offending line with a caret underneath.
    #[serde(skip)]
    pub excerpt: Option<String>,
}

impl Diagnostic {
    /// Builds a diagnostic at `span` (byte range into `src`).
    pub fn at(file: &str, src: &str, span: Option<Range<usize>>, message: String) -> Diagnostic {
        let (line, column, excerpt) = match span {
            Some(r) => {
                let (l, c) = line_col(src, r.start);
                (l, c, Some(excerpt(src, r)))
            }
            None => (0, 0, None),
        };
        Diagnostic {
            file: file.to_string(),
            line,
            column,
            message,
            hints: vec![],
            excerpt,
        }
    }

    pub fn hint(mut self, h: impl Into<String>) -> Diagnostic {
        self.hints.push(h.into());
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file, self.line, self.column, self.message
            )?;
        } else {
            write!(f, "{}: {}", self.file, self.message)?;
        }
        if let Some(ex) = &self.excerpt {
            write!(f, "\n{ex}")?;
        }
        for h in &self.hints {
            write!(f, "\nhint: {h}")?;
        }
        Ok(())
    }
}

/// 1-based line and column (in characters) of byte `offset`.
pub fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let offset = floor_char_boundary(src, offset.min(src.len()));
    let before = &src[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, col)
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The line holding the span's start, with carets under the span (clipped
/// to that line).
fn excerpt(src: &str, span: Range<usize>) -> String {
    let start = floor_char_boundary(src, span.start.min(src.len()));
    let line_start = src[..start].rfind('\n').map(|i| i + 1).unwrap_or(0);
    let line_end = src[start..]
        .find('\n')
        .map(|i| start + i)
        .unwrap_or(src.len());
    let text = src[line_start..line_end].trim_end_matches('\r');
    let (line, _) = line_col(src, start);
    let lead = src[line_start..start].chars().count();
    let end = floor_char_boundary(src, span.end.clamp(start, line_end));
    let width = src[start..end].chars().count().max(1);
    let gutter = " ".repeat(line.to_string().len());
    let pad: String = src[line_start..start]
        .chars()
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    debug_assert_eq!(pad.chars().count(), lead);
    format!(
        "{gutter} |\n{line} | {text}\n{gutter} | {pad}{}",
        "^".repeat(width)
    )
}

/// The span of the value at `path`, or of the closest ancestor that exists
/// (so "missing key" errors point at the table that lacks it).
pub fn locate(src: &str, path: &[Seg]) -> Option<Range<usize>> {
    let doc = DeTable::parse(src).ok()?;
    let mut best: Option<Range<usize>> = None;
    let mut table: &DeTable = doc.get_ref();
    let mut value: Option<&toml::Spanned<DeValue>> = None;
    for seg in path {
        let next = match (seg, value.map(|v| v.get_ref())) {
            (Seg::Key(k), None) => table
                .iter()
                .find(|(key, _)| key.get_ref() == k)
                .map(|(key, v)| (key.span(), v)),
            (Seg::Key(k), Some(DeValue::Table(t))) => t
                .iter()
                .find(|(key, _)| key.get_ref() == k)
                .map(|(key, v)| (key.span(), v)),
            (Seg::Index(i), Some(DeValue::Array(a))) => a.get(*i).map(|v| (v.span(), v)),
            _ => None,
        };
        let Some((key_span, v)) = next else { break };
        best = Some(match seg {
            // Point at the key for tables (the value span of a [table] is its body).
            Seg::Key(_) if v.get_ref().is_table() || v.get_ref().is_array() => key_span,
            _ => v.span(),
        });
        value = Some(v);
        if let DeValue::Table(t) = v.get_ref() {
            table = t;
        }
    }
    best
}

/// The deepest key path whose key or value contains byte `offset`: used to
/// name the table an unknown key sits in.
pub fn path_at(src: &str, offset: usize) -> Vec<Seg> {
    let Ok(doc) = DeTable::parse(src) else {
        return vec![];
    };
    let mut path = vec![];
    walk_table(doc.get_ref(), offset, &mut path);
    path
}

fn walk_table(t: &DeTable, offset: usize, path: &mut Vec<Seg>) {
    for (k, v) in t.iter() {
        let ks = k.span();
        if ks.contains(&offset) {
            path.push(Seg::Key(k.get_ref().to_string()));
            return;
        }
        if v.span().contains(&offset) || contains_deep(v.get_ref(), offset) {
            path.push(Seg::Key(k.get_ref().to_string()));
            walk_value(v.get_ref(), offset, path);
            return;
        }
    }
}

fn walk_value(v: &DeValue, offset: usize, path: &mut Vec<Seg>) {
    match v {
        DeValue::Table(t) => walk_table(t, offset, path),
        DeValue::Array(a) => {
            for (i, item) in a.iter().enumerate() {
                if item.span().contains(&offset) || contains_deep(item.get_ref(), offset) {
                    path.push(Seg::Index(i));
                    walk_value(item.get_ref(), offset, path);
                    return;
                }
            }
        }
        _ => {}
    }
}

/// Header-style tables (`[a.b]`) have spans that don't cover their keys,
/// so look inside.
fn contains_deep(v: &DeValue, offset: usize) -> bool {
    match v {
        DeValue::Table(t) => t.iter().any(|(k, v)| {
            k.span().contains(&offset)
                || v.span().contains(&offset)
                || contains_deep(v.get_ref(), offset)
        }),
        DeValue::Array(a) => a
            .iter()
            .any(|i| i.span().contains(&offset) || contains_deep(i.get_ref(), offset)),
        _ => false,
    }
}

/// The candidate closest to `word`, if it is close enough to be a typo.
pub fn nearest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let w = word.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| {
            let cl = c.to_ascii_lowercase();
            let d = strsim::damerau_levenshtein(&w, &cl);
            // Prefix/substring matches ("hostname" for "host") count as close.
            let contained = !w.is_empty() && (cl.contains(&w) || w.contains(&cl));
            (if contained { d.min(2) } else { d }, c)
        })
        .filter(|(d, c)| *d <= (c.len().max(word.len()) / 3).max(1) + usize::from(c.len() > 6))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Turns a toml/serde error into our wording, located in `src`.
pub fn from_toml_error(file: &str, src: &str, err: &toml::de::Error) -> Diagnostic {
    let raw = err.message().trim().to_string();
    let span = err.span();
    let table = span
        .as_ref()
        .map(|s| {
            let mut p = path_at(src, s.start);
            // The last segment is the key itself when the span is on a key.
            if let Some(Seg::Key(_)) = p.last() {
                p.pop();
            }
            p
        })
        .unwrap_or_default();
    let within = if table.is_empty() {
        "at the top level".to_string()
    } else {
        format!("in `{}`", path_string(&table))
    };

    if let Some((name, expected)) = split_expected(&raw, "unknown field `") {
        let mut d = Diagnostic::at(file, src, span, format!("unknown key `{name}` {within}"));
        if let Some(s) = nearest(&name, expected.iter().map(String::as_str)) {
            d = d.hint(format!("did you mean `{s}`?"));
        } else if !expected.is_empty() {
            d = d.hint(format!("valid keys here: {}", expected.join(", ")));
        }
        return d;
    }
    if let Some((name, expected)) = split_expected(&raw, "unknown variant `") {
        let mut d = Diagnostic::at(
            file,
            src,
            span,
            format!("unknown value \"{name}\" {within}"),
        );
        if let Some(s) = nearest(&name, expected.iter().map(String::as_str)) {
            d = d.hint(format!("did you mean \"{s}\"?"));
        }
        if !expected.is_empty() {
            d = d.hint(format!("valid values: {}", expected.join(", ")));
        }
        return d;
    }
    if let Some(rest) = raw.strip_prefix("missing field `") {
        let name = rest.split('`').next().unwrap_or(rest);
        return Diagnostic::at(
            file,
            src,
            span,
            format!("missing required key `{name}` {within}"),
        );
    }
    if let Some(rest) = raw.strip_prefix("invalid type: ") {
        return Diagnostic::at(
            file,
            src,
            span,
            format!("wrong type {within}: found {rest}"),
        );
    }
    if raw.starts_with("data did not match any variant of untagged enum") {
        return Diagnostic::at(
            file,
            src,
            span,
            format!("value has the wrong shape {within}"),
        );
    }
    if raw.starts_with("duplicate key") {
        return Diagnostic::at(file, src, span, format!("{raw} {within}"));
    }
    // Syntax errors and our own custom messages (invalid size: ...).
    let msg = if raw.starts_with("invalid size") {
        format!("{raw} {within}")
    } else {
        format!("TOML syntax: {raw}")
    };
    Diagnostic::at(file, src, span, msg)
}

/// Splits "unknown field `x`, expected one of `a`, `b`" into ("x", [a, b]).
fn split_expected(raw: &str, prefix: &str) -> Option<(String, Vec<String>)> {
    let rest = raw.strip_prefix(prefix)?;
    let (name, tail) = rest.split_once('`')?;
    let expected = tail
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect();
    Some((name.to_string(), expected))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_chars() {
        let s = "a = 1\nbé = 2\n";
        assert_eq!(line_col(s, 0), (1, 1));
        assert_eq!(line_col(s, 6), (2, 1));
        assert_eq!(line_col(s, s.find('=').unwrap()), (1, 3));
        assert_eq!(line_col(s, s.rfind('=').unwrap()), (2, 4));
    }

    #[test]
    fn nearest_finds_typos_only() {
        let keys = ["hostname", "kernel", "user", "timezone", "locale"];
        assert_eq!(nearest("hostnam", keys), Some("hostname"));
        assert_eq!(nearest("usr", keys), Some("user"));
        assert_eq!(nearest("timzone", keys), Some("timezone"));
        assert_eq!(nearest("wibble", keys), None);
    }

    #[test]
    fn locate_finds_array_tables() {
        let src = "name = \"x\"\n[[output]]\ntype = \"qcow2\"\n[[output]]\ntype = \"raw\"\n";
        let span = locate(src, &["output".into(), 1.into(), "type".into()]).unwrap();
        assert_eq!(&src[span.clone()], "\"raw\"");
        assert_eq!(line_col(src, span.start), (5, 8));
    }

    #[test]
    fn path_at_names_nested_tables() {
        let src = "[customizations]\nhostname = \"a\"\n[customizations.kernel]\nappend = \"x\"\n";
        let off = src.find("append").unwrap();
        assert_eq!(
            path_string(&path_at(src, off)),
            "customizations.kernel.append"
        );
    }
}
