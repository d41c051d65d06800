//! The host's `rpm`, reading what a tree's database lists as installed.
//!
//! A disk deployed from a bootc image holds packages that came with the
//! image, not from our lock, so its SBOM is read from the image's own
//! rpm database (`rpm --root TREE --dbpath DB -qa`). The query format
//! separates fields and records with the ASCII unit and record
//! separators (rpm copies them verbatim), so no summary or license text
//! can break a record apart.

use anyhow::{bail, Result};
use std::path::Path;

/// The tags read, in record order.
const TAGS: [&str; 10] = [
    "NAME",
    "EPOCHNUM",
    "VERSION",
    "RELEASE",
    "ARCH",
    "LICENSE",
    "SOURCERPM",
    "SUMMARY",
    "VENDOR",
    "URL",
];
const FIELD: char = '\x1f';
const RECORD: char = '\x1e';

/// One package as the database lists it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Installed {
    pub name: String,
    pub epoch: u32,
    pub version: String,
    pub release: String,
    pub arch: String,
    pub license: String,
    pub source_rpm: Option<String>,
    pub summary: String,
    pub vendor: Option<String>,
    pub url: Option<String>,
}

/// `rpm -qa` over the database at `dbpath` (an in-tree path) of `root`,
/// with the `backend` (`sqlite`, `bdb`) it is kept in.
pub fn query_all_args(root: &Path, dbpath: &str, backend: &str) -> Vec<String> {
    let format: String = TAGS
        .iter()
        .map(|t| format!("%{{{t}}}"))
        .collect::<Vec<_>>()
        .join(&FIELD.to_string())
        + &RECORD.to_string();
    let mut v = db_args(root, dbpath, backend);
    v.extend(["-qa".into(), "--queryformat".into(), format]);
    v
}

/// rpm's options for the database at `dbpath` (an in-tree path) of
/// `root`, kept in `backend` (`sqlite`, `bdb`): every rpm run on a tree
/// starts with these.
pub fn db_args(root: &Path, dbpath: &str, backend: &str) -> Vec<String> {
    vec![
        "--root".into(),
        root.display().to_string(),
        "--dbpath".into(),
        dbpath.into(),
        "--define".into(),
        format!("_db_backend {backend}"),
    ]
}

/// Parses `query_all_args`' output; sorted by name, EVR and arch.
pub fn parse_query_all(out: &str) -> Result<Vec<Installed>> {
    let opt = |s: &str| (s != "(none)" && !s.is_empty()).then(|| s.to_string());
    let mut v = vec![];
    for rec in out.split(RECORD).filter(|r| !r.trim().is_empty()) {
        let f: Vec<&str> = rec.split(FIELD).collect();
        if f.len() != TAGS.len() {
            bail!(
                "rpm -qa: a record with {} fields, not {}: {rec:?}",
                f.len(),
                TAGS.len()
            );
        }
        let Ok(epoch) = f[1].parse::<u32>() else {
            bail!("rpm -qa: epoch {:?} of {} is not a number", f[1], f[0]);
        };
        v.push(Installed {
            name: f[0].to_string(),
            epoch,
            version: f[2].to_string(),
            release: f[3].to_string(),
            arch: f[4].to_string(),
            license: opt(f[5]).unwrap_or_default(),
            source_rpm: opt(f[6]),
            summary: opt(f[7]).unwrap_or_default(),
            vendor: opt(f[8]),
            url: opt(f[9]),
        });
    }
    v.sort();
    Ok(v)
}

/// Every package the database of `root` lists.
pub fn query_all(root: &Path, dbpath: &str, backend: &str) -> Result<Vec<Installed>> {
    let o = super::run("rpm", &query_all_args(root, dbpath, backend))?;
    parse_query_all(&String::from_utf8_lossy(&o.stdout))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_name_root_db_and_backend() {
        let a = query_all_args(Path::new("/t"), "/usr/lib/sysimage/rpm", "sqlite");
        assert_eq!(
            a[..7],
            [
                "--root",
                "/t",
                "--dbpath",
                "/usr/lib/sysimage/rpm",
                "--define",
                "_db_backend sqlite",
                "-qa"
            ]
        );
        assert_eq!(
            a[8],
            "%{NAME}\x1f%{EPOCHNUM}\x1f%{VERSION}\x1f%{RELEASE}\x1f%{ARCH}\x1f%{LICENSE}\x1f%{SOURCERPM}\x1f%{SUMMARY}\x1f%{VENDOR}\x1f%{URL}\x1e"
        );
    }

    #[test]
    fn records_parse_sorted_with_none_as_absent() {
        let out = "zlib\x1f0\x1f1.2\x1f1\x1fx86_64\x1fZlib\x1fzlib-1.2-1.src.rpm\x1fcompression\ttool\x1f(none)\x1fhttps://zlib.net\x1e\
                   bash\x1f2\x1f5.2\x1f3\x1fx86_64\x1fGPL-3.0-or-later\x1f(none)\x1fThe shell\x1fAlmaLinux\x1f(none)\x1e\n";
        let v = parse_query_all(out).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].name, "bash");
        assert_eq!(v[0].epoch, 2);
        assert_eq!(v[0].source_rpm, None);
        assert_eq!(v[0].vendor.as_deref(), Some("AlmaLinux"));
        assert_eq!(v[0].url, None);
        assert_eq!(v[1].summary, "compression\ttool");
        assert_eq!(v[1].url.as_deref(), Some("https://zlib.net"));
        assert!(parse_query_all("").unwrap().is_empty());
    }

    #[test]
    fn malformed_records_are_errors() {
        assert!(parse_query_all("a\x1fb\x1e").is_err());
        let bad_epoch = "a\x1fx\x1f1\x1f1\x1fnoarch\x1fMIT\x1f(none)\x1fs\x1f(none)\x1f(none)\x1e";
        assert!(parse_query_all(bad_epoch).is_err());
    }
}
