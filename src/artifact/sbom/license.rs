//! RPM `License:` tag → SPDX license expression.
//!
//! EL10 packages already carry SPDX expressions; EL8/9 packages carry
//! Fedora's legacy short names ("GPLv2+ and LGPLv2+", "ASL 2.0"). SBOM
//! consumers only understand SPDX, so each operand of the tag is resolved
//! on its own: a known SPDX identifier is kept (in its canonical case,
//! deprecated GNU forms upgraded to `-only`/`-or-later`), a common legacy
//! name is mapped through a small hand-written table, and anything else
//! becomes a `LicenseRef-…` whose original text the SPDX writer records in
//! `hasExtractedLicensingInfos`. Resolving per operand keeps the parts we
//! do understand machine-readable ("GPLv2+ and Foo" → "GPL-2.0-or-later AND
//! LicenseRef-Foo"). A tag that does not even parse as an expression
//! (unbalanced parentheses, free text such as "Debian (see /usr/share/doc)")
//! becomes a single `LicenseRef-…` for the whole text.

use sha2::{Digest, Sha256};

/// SPDX License List identifiers (public data, one a line).
const LICENSE_IDS: &str = include_str!("spdx-licenses.txt");
/// SPDX license exception identifiers (public data, one a line).
const EXCEPTION_IDS: &str = include_str!("spdx-exceptions.txt");

/// Fedora legacy short names (EL8/EL9 `License:` tags) for which one SPDX
/// expression is the accepted meaning. Ambiguous names ("LGPLv2", "GPLv2
/// with exceptions") are left out on purpose: they become `LicenseRef-…`.
const LEGACY: &[(&str, &str)] = &[
    ("GPLv1", "GPL-1.0-only"),
    ("GPL+", "GPL-1.0-or-later"),
    ("GPLv2", "GPL-2.0-only"),
    ("GPLv2+", "GPL-2.0-or-later"),
    ("GPLv3", "GPL-3.0-only"),
    ("GPLv3+", "GPL-3.0-or-later"),
    ("LGPLv2+", "LGPL-2.0-or-later"),
    ("LGPLv2.1", "LGPL-2.1-only"),
    ("LGPLv2.1+", "LGPL-2.1-or-later"),
    ("LGPLv3", "LGPL-3.0-only"),
    ("LGPLv3+", "LGPL-3.0-or-later"),
    ("AGPLv3", "AGPL-3.0-only"),
    ("AGPLv3+", "AGPL-3.0-or-later"),
    ("GFDL", "GFDL-1.1-or-later"),
    ("ASL 1.0", "Apache-1.0"),
    ("ASL 1.1", "Apache-1.1"),
    ("ASL 2.0", "Apache-2.0"),
    ("BSD", "BSD-3-Clause"),
    ("BSD with advertising", "BSD-4-Clause"),
    ("MIT", "MIT"),
    ("MPLv1.0", "MPL-1.0"),
    ("MPLv1.1", "MPL-1.1"),
    ("MPLv2.0", "MPL-2.0"),
    ("Public Domain", "LicenseRef-Fedora-Public-Domain"),
    ("Boost", "BSL-1.0"),
    ("Python", "Python-2.0"),
    ("Artistic", "Artistic-1.0-Perl"),
    ("Artistic 2.0", "Artistic-2.0"),
    ("Artistic clarified", "ClArtistic"),
    ("EPL", "EPL-1.0"),
    ("CDDL", "CDDL-1.0"),
    ("OFL", "OFL-1.1"),
    ("CC0", "CC0-1.0"),
    ("zlib", "Zlib"),
    ("Bitstream Vera", "Bitstream-Vera"),
    ("QPL", "QPL-1.0"),
    ("IBM", "IPL-1.0"),
    ("UCD", "Unicode-DFS-2016"),
];

/// Deprecated GNU identifiers that SPDX replaced with `-only`/`-or-later`.
const GNU_DEPRECATED: &[&str] = &[
    "GPL-1.0", "GPL-2.0", "GPL-3.0", "LGPL-2.0", "LGPL-2.1", "LGPL-3.0", "AGPL-1.0", "AGPL-3.0",
    "GFDL-1.1", "GFDL-1.2", "GFDL-1.3",
];

/// A `LicenseRef-…` used in an expression and the text it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtractedRef {
    pub id: String,
    pub text: String,
}

/// Result of converting one RPM `License:` tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Converted {
    /// A syntactically valid SPDX license expression.
    pub expression: String,
    /// Every `LicenseRef-…` the expression uses, in order of appearance.
    pub refs: Vec<ExtractedRef>,
    /// Some part of the tag was not understood (an invented `LicenseRef`).
    pub unknown: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Open,
    Close,
    And,
    Or,
    With,
    Word(String),
}

/// Converts an RPM `License:` tag; `None` for an empty tag.
pub fn convert(tag: &str) -> Option<Converted> {
    let tag = tag.trim();
    if tag.is_empty() {
        return None;
    }
    Some(convert_expression(tag).unwrap_or_else(|| {
        let r = invented_ref(tag);
        Converted {
            expression: r.id.clone(),
            refs: vec![r],
            unknown: true,
        }
    }))
}

fn tokenize(tag: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut Vec<Token>| {
        if word.is_empty() {
            return;
        }
        let w = std::mem::take(word);
        out.push(match w.to_ascii_lowercase().as_str() {
            "and" => Token::And,
            "or" => Token::Or,
            "with" => Token::With,
            _ => Token::Word(w),
        });
    };
    for c in tag.chars() {
        match c {
            '(' | ')' => {
                flush(&mut word, &mut out);
                out.push(if c == '(' { Token::Open } else { Token::Close });
            }
            c if c.is_whitespace() => flush(&mut word, &mut out),
            c => word.push(c),
        }
    }
    flush(&mut word, &mut out);
    out
}

/// Checks the operator/operand structure and resolves each operand.
/// Operands are maximal runs of words (and `with`), so multi-word legacy
/// names like "ASL 2.0" stay together.
fn convert_expression(tag: &str) -> Option<Converted> {
    let tokens = tokenize(tag);
    let mut out = String::new();
    let mut refs: Vec<ExtractedRef> = Vec::new();
    let mut unknown = false;
    let mut depth = 0usize;
    // true when the next token must be an operand or '('.
    let mut want_operand = true;
    let mut i = 0;
    while i < tokens.len() {
        match &tokens[i] {
            Token::Open => {
                if !want_operand {
                    return None;
                }
                depth += 1;
                out.push('(');
                i += 1;
            }
            Token::Close => {
                if want_operand || depth == 0 {
                    return None;
                }
                depth -= 1;
                out.push(')');
                i += 1;
            }
            Token::And | Token::Or => {
                if want_operand {
                    return None;
                }
                out.push_str(if tokens[i] == Token::And {
                    " AND "
                } else {
                    " OR "
                });
                want_operand = true;
                i += 1;
            }
            Token::Word(_) | Token::With => {
                if !want_operand {
                    return None;
                }
                let start = i;
                while i < tokens.len() && matches!(tokens[i], Token::Word(_) | Token::With) {
                    i += 1;
                }
                let op = resolve_operand(&tokens[start..i])?;
                unknown |= op.unknown;
                for r in op.refs {
                    if !refs.contains(&r) {
                        refs.push(r);
                    }
                }
                out.push_str(&op.expression);
                want_operand = false;
            }
        }
    }
    if want_operand || depth != 0 {
        return None;
    }
    Some(Converted {
        expression: out,
        refs,
        unknown,
    })
}

fn phrase(tokens: &[Token]) -> Option<String> {
    let words: Vec<&str> = tokens
        .iter()
        .map(|t| match t {
            Token::Word(w) => Some(w.as_str()),
            Token::With => Some("with"),
            _ => None,
        })
        .collect::<Option<_>>()?;
    Some(words.join(" "))
}

fn resolve_operand(tokens: &[Token]) -> Option<Converted> {
    let text = phrase(tokens)?;
    let simple = |expression: String, refs: Vec<ExtractedRef>| Converted {
        expression,
        refs,
        unknown: false,
    };
    match tokens {
        [Token::Word(w)] => {
            if let Some(id) = license_ref(w) {
                let r = ExtractedRef {
                    id: id.clone(),
                    text: id.clone(),
                };
                return Some(simple(id, vec![r]));
            }
            if let Some(id) = license_id(w) {
                return Some(simple(id, Vec::new()));
            }
        }
        [Token::Word(l), Token::With, Token::Word(e)] => {
            if let (Some(l), Some(e)) = (license_id(l), exception_id(e)) {
                return Some(simple(format!("{l} WITH {e}"), Vec::new()));
            }
        }
        _ => {}
    }
    if let Some(mapped) = legacy(&text) {
        let refs = mapped
            .split(' ')
            .filter(|w| w.starts_with("LicenseRef-"))
            .map(|id| ExtractedRef {
                id: id.to_string(),
                text: text.clone(),
            })
            .collect();
        return Some(simple(mapped.to_string(), refs));
    }
    let r = invented_ref(&text);
    Some(Converted {
        expression: r.id.clone(),
        refs: vec![r],
        unknown: true,
    })
}

fn legacy(text: &str) -> Option<&'static str> {
    LEGACY
        .iter()
        .find(|(k, _)| *k == text)
        .or_else(|| LEGACY.iter().find(|(k, _)| k.eq_ignore_ascii_case(text)))
        .map(|(_, v)| *v)
}

fn lookup(list: &'static str, word: &str) -> Option<&'static str> {
    list.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| l.eq_ignore_ascii_case(word))
}

/// A license identifier (optionally with `+`) in canonical form.
fn license_id(word: &str) -> Option<String> {
    let (base, plus) = match word.strip_suffix('+') {
        Some(b) => (b, true),
        None => (word, false),
    };
    let id = lookup(LICENSE_IDS, base)?;
    if GNU_DEPRECATED.contains(&id) {
        return Some(format!("{id}-{}", if plus { "or-later" } else { "only" }));
    }
    Some(if plus {
        format!("{id}+")
    } else {
        id.to_string()
    })
}

fn exception_id(word: &str) -> Option<&'static str> {
    lookup(EXCEPTION_IDS, word)
}

/// `LicenseRef-<idstring>` as written in the tag, if well-formed.
fn license_ref(word: &str) -> Option<String> {
    let rest = word.strip_prefix("LicenseRef-")?;
    (!rest.is_empty() && rest.chars().all(id_char)).then(|| word.to_string())
}

fn id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '.' || c == '-'
}

/// Replaces every run of characters outside `[A-Za-z0-9.-]` with one `-`.
pub fn sanitize_id(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if id_char(c) {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

/// A `LicenseRef-…` for text we do not understand. Readable where the text
/// allows; a short hash keeps lossy sanitizations from colliding.
fn invented_ref(text: &str) -> ExtractedRef {
    let clean = sanitize_id(text);
    let id = if clean == text && !clean.is_empty() {
        format!("LicenseRef-{clean}")
    } else {
        let hash = hex::encode(Sha256::digest(text.as_bytes()));
        let short = &hash[..8];
        if clean.is_empty() {
            format!("LicenseRef-{short}")
        } else {
            format!("LicenseRef-{clean}-{short}")
        }
    };
    ExtractedRef {
        id,
        text: text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expr(tag: &str) -> String {
        convert(tag).map(|c| c.expression).unwrap_or_default()
    }

    #[test]
    fn spdx_expressions_are_kept_and_canonicalized() {
        assert_eq!(expr("GPL-2.0-or-later AND MIT"), "GPL-2.0-or-later AND MIT");
        assert_eq!(expr("mit or apache-2.0"), "MIT OR Apache-2.0");
        assert_eq!(
            expr("(MIT OR Apache-2.0) AND Zlib"),
            "(MIT OR Apache-2.0) AND Zlib"
        );
        assert_eq!(
            expr("GPL-2.0-or-later WITH Classpath-exception-2.0"),
            "GPL-2.0-or-later WITH Classpath-exception-2.0"
        );
        assert_eq!(expr("GPL-2.0+"), "GPL-2.0-or-later");
        assert_eq!(expr("LGPL-2.1"), "LGPL-2.1-only");
        let c = convert("GPL-2.0-only AND MIT").unwrap();
        assert!(!c.unknown && c.refs.is_empty());
    }

    #[test]
    fn legacy_fedora_names_are_mapped() {
        assert_eq!(
            expr("GPLv2+ and LGPLv2+"),
            "GPL-2.0-or-later AND LGPL-2.0-or-later"
        );
        assert_eq!(expr("ASL 2.0"), "Apache-2.0");
        assert_eq!(expr("ASL 2.0 or MIT"), "Apache-2.0 OR MIT");
        assert_eq!(
            expr("(GPLv3+ or BSD) and MIT"),
            "(GPL-3.0-or-later OR BSD-3-Clause) AND MIT"
        );
        assert_eq!(
            expr("GPL+ or Artistic"),
            "GPL-1.0-or-later OR Artistic-1.0-Perl"
        );
        let c = convert("Public Domain").unwrap();
        assert_eq!(c.expression, "LicenseRef-Fedora-Public-Domain");
        assert_eq!(c.refs[0].text, "Public Domain");
        assert!(!c.unknown);
    }

    #[test]
    fn unknown_operands_become_license_refs() {
        let c = convert("GPLv2+ and Foo").unwrap();
        assert_eq!(c.expression, "GPL-2.0-or-later AND LicenseRef-Foo");
        assert!(c.unknown);
        assert_eq!(c.refs.len(), 1);
        assert_eq!(c.refs[0].text, "Foo");

        let c = convert("GPLv2 with exceptions").unwrap();
        assert!(c
            .expression
            .starts_with("LicenseRef-GPLv2-with-exceptions-"));
        assert_eq!(c.refs[0].text, "GPLv2 with exceptions");
    }

    #[test]
    fn unparsable_tags_become_one_license_ref() {
        for tag in [
            "Debian (see /usr/share/doc)",
            "MIT and",
            "(MIT",
            "MIT)",
            "and",
        ] {
            let c = convert(tag).unwrap();
            assert!(c.unknown, "{tag}");
            assert_eq!(c.refs.len(), 1, "{tag}");
            assert_eq!(c.refs[0].text, tag);
            assert_eq!(c.expression, c.refs[0].id);
            assert!(c.expression[11..].chars().all(id_char), "{tag}");
        }
        assert_eq!(convert("   "), None);
    }

    #[test]
    fn invented_refs_do_not_collide() {
        let a = convert("Foo Bar").unwrap().expression;
        let b = convert("Foo-Bar").unwrap().expression;
        let c = convert("Foo/Bar").unwrap().expression;
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(b, "LicenseRef-Foo-Bar");
        assert_eq!(sanitize_id("ünï code++"), "n-code");
    }
}
