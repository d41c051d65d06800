//! An independent check that a locked package set is closed: every
//! requirement of every package is provided by a package of the set,
//! judged from the repo metadata itself (not from what the resolver
//! said). Versions compare as rpm does (rpmvercmp); rich dependencies
//! (`(a if b)`, `(a or b)`, …) are evaluated against the set.

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evr {
    pub epoch: u64,
    pub version: String,
    /// None: unspecified (matches any release).
    pub release: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Dep {
    pub name: String,
    /// EQ, LT, LE, GT, GE; None: any version.
    pub flags: Option<String>,
    pub evr: Option<Evr>,
}

#[derive(Debug, Clone)]
pub struct Pkg {
    pub name: String,
    pub arch: String,
    pub evr: Evr,
    pub provides: Vec<Dep>,
    pub requires: Vec<Dep>,
    pub files: Vec<String>,
}

impl Pkg {
    pub fn key(&self) -> String {
        format!(
            "{}-{}:{}-{}.{}",
            self.name,
            self.evr.epoch,
            self.evr.version,
            self.evr.release.as_deref().unwrap_or(""),
            self.arch
        )
    }
}

fn child<'a, 'i>(n: roxmltree::Node<'a, 'i>, tag: &str) -> Option<roxmltree::Node<'a, 'i>> {
    n.children().find(|c| c.has_tag_name(tag))
}

/// Every package of a primary.xml (plus the files of a filelists.xml), by
/// `name-epoch:version-release.arch`.
pub fn index(primary: &str, filelists: &str) -> HashMap<String, Pkg> {
    let opts = || roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    let doc = roxmltree::Document::parse_with_options(primary, opts()).expect("primary.xml parses");
    let evr_of = |n: roxmltree::Node| Evr {
        epoch: n
            .attribute("epoch")
            .and_then(|e| e.parse().ok())
            .unwrap_or(0),
        version: n.attribute("ver").unwrap_or("").to_string(),
        release: n.attribute("rel").map(str::to_string),
    };
    let deps = |fmt: roxmltree::Node, tag: &str| -> Vec<Dep> {
        child(fmt, tag)
            .map(|l| {
                l.children()
                    .filter(|e| e.has_tag_name("entry"))
                    .map(|e| Dep {
                        name: e.attribute("name").unwrap_or("").to_string(),
                        flags: e.attribute("flags").map(str::to_string),
                        evr: e.attribute("ver").map(|_| evr_of(e)),
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut by_pkgid: HashMap<String, String> = HashMap::new();
    let mut out = HashMap::new();
    for p in doc
        .root_element()
        .children()
        .filter(|n| n.has_tag_name("package"))
    {
        let text = |tag: &str| child(p, tag).and_then(|n| n.text()).unwrap_or("");
        let fmt = child(p, "format").expect("package has <format>");
        let pkg = Pkg {
            name: text("name").to_string(),
            arch: text("arch").to_string(),
            evr: evr_of(child(p, "version").expect("package has <version>")),
            provides: deps(fmt, "provides"),
            requires: deps(fmt, "requires"),
            files: fmt
                .children()
                .filter(|c| c.has_tag_name("file"))
                .filter_map(|c| c.text().map(str::to_string))
                .collect(),
        };
        by_pkgid.insert(text("checksum").to_string(), pkg.key());
        out.insert(pkg.key(), pkg);
    }
    let fl = roxmltree::Document::parse_with_options(filelists, opts()).expect("filelists parses");
    for p in fl
        .root_element()
        .children()
        .filter(|n| n.has_tag_name("package"))
    {
        let Some(k) = p.attribute("pkgid").and_then(|id| by_pkgid.get(id)) else {
            continue;
        };
        let pkg = out.get_mut(k).expect("indexed above");
        pkg.files.extend(
            p.children()
                .filter(|c| c.has_tag_name("file"))
                .filter_map(|c| c.text().map(str::to_string)),
        );
    }
    out
}

/// rpm's version segment comparison.
pub fn rpmvercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        let skip = |s: &[u8]| -> usize {
            s.iter()
                .take_while(|c| !c.is_ascii_alphanumeric() && **c != b'~' && **c != b'^')
                .count()
        };
        a = &a[skip(a)..];
        b = &b[skip(b)..];
        // Tilde sorts before everything, caret after the end but before more.
        match (a.first(), b.first()) {
            (Some(b'~'), Some(b'~')) => {
                a = &a[1..];
                b = &b[1..];
                continue;
            }
            (Some(b'~'), _) => return Ordering::Less,
            (_, Some(b'~')) => return Ordering::Greater,
            (Some(b'^'), Some(b'^')) => {
                a = &a[1..];
                b = &b[1..];
                continue;
            }
            (Some(b'^'), None) => return Ordering::Greater,
            (None, Some(b'^')) => return Ordering::Less,
            (Some(b'^'), _) => return Ordering::Less,
            (_, Some(b'^')) => return Ordering::Greater,
            _ => {}
        }
        if a.is_empty() || b.is_empty() {
            return a.len().cmp(&b.len());
        }
        let numeric = a[0].is_ascii_digit();
        let seg = |s: &[u8]| -> usize {
            s.iter()
                .take_while(|c| {
                    if numeric {
                        c.is_ascii_digit()
                    } else {
                        c.is_ascii_alphabetic()
                    }
                })
                .count()
        };
        let (la, lb) = (seg(a), seg(b));
        if lb == 0 {
            // Numeric segments are newer than alphabetic ones.
            return if numeric {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        let (sa, sb) = (&a[..la], &b[..lb]);
        let ord = if numeric {
            let ta = &sa[sa.iter().take_while(|c| **c == b'0').count()..];
            let tb = &sb[sb.iter().take_while(|c| **c == b'0').count()..];
            ta.len().cmp(&tb.len()).then_with(|| ta.cmp(tb))
        } else {
            sa.cmp(sb)
        };
        if ord != Ordering::Equal {
            return ord;
        }
        a = &a[la..];
        b = &b[lb..];
    }
}

/// Compares as rpm does when one side leaves the release out.
fn evrcmp(a: &Evr, b: &Evr) -> Ordering {
    a.epoch
        .cmp(&b.epoch)
        .then_with(|| rpmvercmp(&a.version, &b.version))
        .then_with(|| match (&a.release, &b.release) {
            (Some(x), Some(y)) => rpmvercmp(x, y),
            _ => Ordering::Equal,
        })
}

/// Does a provide (name matched) satisfy a requirement's version range?
fn range_ok(req: &Dep, prov: &Dep) -> bool {
    let (Some(rf), Some(re)) = (&req.flags, &req.evr) else {
        return true;
    };
    let (Some(pf), Some(pe)) = (&prov.flags, &prov.evr) else {
        // An unversioned provide satisfies any version.
        return true;
    };
    if pf != "EQ" {
        // Ranged provides are rare; treat them as overlapping.
        return true;
    }
    let o = evrcmp(pe, re);
    match rf.as_str() {
        "EQ" => o == Ordering::Equal,
        "LT" => o == Ordering::Less,
        "LE" => o != Ordering::Greater,
        "GT" => o == Ordering::Greater,
        "GE" => o != Ordering::Less,
        _ => true,
    }
}

/// What a set of packages provides.
pub struct Provided<'a> {
    caps: HashMap<&'a str, Vec<Dep>>,
    files: BTreeSet<&'a str>,
}

impl<'a> Provided<'a> {
    pub fn new(set: &[&'a Pkg]) -> Provided<'a> {
        let mut caps: HashMap<&str, Vec<Dep>> = HashMap::new();
        let mut files = BTreeSet::new();
        for p in set {
            // Every package provides its own name at its own EVR.
            caps.entry(p.name.as_str()).or_default().push(Dep {
                name: p.name.clone(),
                flags: Some("EQ".into()),
                evr: Some(p.evr.clone()),
            });
            for d in &p.provides {
                caps.entry(d.name.as_str()).or_default().push(d.clone());
            }
            files.extend(p.files.iter().map(String::as_str));
        }
        Provided { caps, files }
    }

    fn atom(&self, d: &Dep) -> bool {
        if d.name.starts_with('/') && self.files.contains(d.name.as_str()) {
            return true;
        }
        self.caps
            .get(d.name.as_str())
            .is_some_and(|ps| ps.iter().any(|p| range_ok(d, p)))
    }

    /// Whether `d` (plain or rich) holds in the set.
    pub fn satisfied(&self, d: &Dep) -> bool {
        if d.name.starts_with('(') {
            let toks = tokens(&d.name);
            let mut pos = 0;
            let v = self.expr(&toks, &mut pos);
            assert_eq!(pos, toks.len(), "trailing tokens in {}", d.name);
            v
        } else {
            self.atom(d)
        }
    }

    /// `( term (op term)* )`.
    fn expr(&self, t: &[String], pos: &mut usize) -> bool {
        assert_eq!(t[*pos], "(", "rich dep: {t:?}");
        *pos += 1;
        let mut vals = vec![self.term(t, pos)];
        let mut ops: Vec<String> = vec![];
        while t[*pos] != ")" {
            ops.push(t[*pos].clone());
            *pos += 1;
            vals.push(self.term(t, pos));
        }
        *pos += 1;
        match ops.first().map(String::as_str) {
            None => vals[0],
            Some("and") | Some("with") => vals.iter().all(|v| *v),
            Some("or") => vals.iter().any(|v| *v),
            Some("without") => vals[0] && !vals[1],
            Some("if") => {
                if vals[1] {
                    vals[0]
                } else {
                    vals.get(2).copied().unwrap_or(true)
                }
            }
            Some("unless") => {
                if !vals[1] {
                    vals[0]
                } else {
                    vals.get(2).copied().unwrap_or(true)
                }
            }
            Some(other) => panic!("unknown rich dep operator {other}"),
        }
    }

    /// A nested expression, or `name [op evr]`.
    fn term(&self, t: &[String], pos: &mut usize) -> bool {
        if t[*pos] == "(" {
            return self.expr(t, pos);
        }
        let name = t[*pos].clone();
        *pos += 1;
        let flags = match t.get(*pos).map(String::as_str) {
            Some("=") => Some("EQ"),
            Some("<") => Some("LT"),
            Some("<=") => Some("LE"),
            Some(">") => Some("GT"),
            Some(">=") => Some("GE"),
            _ => None,
        };
        let evr = flags.map(|_| {
            let s = t[*pos + 1].clone();
            *pos += 2;
            parse_evr(&s)
        });
        self.atom(&Dep {
            name,
            flags: flags.map(str::to_string),
            evr,
        })
    }
}

fn parse_evr(s: &str) -> Evr {
    let (epoch, rest) = match s.split_once(':') {
        Some((e, r)) => (e.parse().unwrap_or(0), r),
        None => (0, s),
    };
    let (version, release) = match rest.split_once('-') {
        Some((v, r)) => (v.to_string(), Some(r.to_string())),
        None => (rest.to_string(), None),
    };
    Evr {
        epoch,
        version,
        release,
    }
}

/// Splits a rich dep into `(`, `)`, operators and atoms; an atom keeps its
/// own balanced parentheses (`libfoo.so.1()(64bit)`).
fn tokens(s: &str) -> Vec<String> {
    let b = s.as_bytes();
    let mut out = vec![];
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b' ' => i += 1,
            b'(' | b')' => {
                out.push((b[i] as char).to_string());
                i += 1;
            }
            _ => {
                let start = i;
                let mut depth = 0i32;
                while i < b.len() {
                    match b[i] {
                        b'(' => depth += 1,
                        b')' if depth == 0 => break,
                        b')' => depth -= 1,
                        b' ' if depth == 0 => break,
                        _ => {}
                    }
                    i += 1;
                }
                out.push(s[start..i].to_string());
            }
        }
    }
    out
}

/// Requirements of `set` that nothing in `set` provides, as
/// `package: requirement`.
pub fn unsatisfied(set: &[&Pkg]) -> Vec<String> {
    let prov = Provided::new(set);
    let mut out = vec![];
    for p in set {
        for r in &p.requires {
            if r.name.starts_with("rpmlib(") {
                continue;
            }
            if !prov.satisfied(r) {
                let v = match (&r.flags, &r.evr) {
                    (Some(f), Some(e)) => format!(
                        " {f} {}:{}-{}",
                        e.epoch,
                        e.version,
                        e.release.as_deref().unwrap_or("")
                    ),
                    _ => String::new(),
                };
                out.push(format!("{}: {}{v}", p.key(), r.name));
            }
        }
    }
    out
}

#[test]
fn closure_checker_self_test() {
    assert_eq!(rpmvercmp("1.10", "1.9"), Ordering::Greater);
    assert_eq!(rpmvercmp("1.0~rc1", "1.0"), Ordering::Less);
    assert_eq!(rpmvercmp("1.0^post", "1.0"), Ordering::Greater);
    assert_eq!(rpmvercmp("1.0a", "1.0"), Ordering::Greater);
    assert_eq!(rpmvercmp("2.39", "2.39"), Ordering::Equal);
    assert_eq!(
        tokens("(libdecor-0.so.0()(64bit) if libwayland-client >= 1.2)"),
        [
            "(",
            "libdecor-0.so.0()(64bit)",
            "if",
            "libwayland-client",
            ">=",
            "1.2",
            ")"
        ]
    );
    let pkg = |name: &str, provides: &[&str]| Pkg {
        name: name.into(),
        arch: "noarch".into(),
        evr: parse_evr("1.0-1"),
        provides: provides
            .iter()
            .map(|p| Dep {
                name: p.to_string(),
                flags: None,
                evr: None,
            })
            .collect(),
        requires: vec![],
        files: vec!["/usr/bin/a".into()],
    };
    let a = pkg("a", &["liba.so()(64bit)"]);
    let b = pkg("b", &[]);
    let set = [&a, &b];
    let prov = Provided::new(&set);
    let d = |n: &str| Dep {
        name: n.into(),
        flags: None,
        evr: None,
    };
    assert!(prov.satisfied(&d("(liba.so()(64bit) or c)")));
    assert!(prov.satisfied(&d("(c if d)")));
    assert!(!prov.satisfied(&d("(c if b)")));
    assert!(prov.satisfied(&d("(a >= 1.0 and (b or c))")));
    assert!(!prov.satisfied(&d("(a > 1.0-1)")));
    assert!(prov.satisfied(&d("/usr/bin/a")));
}
