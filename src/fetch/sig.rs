//! OpenPGP signatures of downloaded RPMs, checked by rpm itself.
//!
//! `rpmkeys -Kv` against a throwaway rpm database holding only the repo's
//! keys: rpm is the reference implementation of its own header and
//! payload digests and signatures, and it is on every machine that
//! builds RPM-based images. We parse its per-file report; a package
//! passes only if every digest is OK and a signature made by one of the
//! given keys is OK.

use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What rpmkeys said about one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Signed by this key (short id, lowercase hex), digests OK.
    Ok(String),
    Refused(String),
}

/// Parses `rpmkeys -Kv` output into a verdict per file path.
pub fn parse(out: &str) -> BTreeMap<String, Verdict> {
    let mut by_file: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut cur: Option<String> = None;
    for line in out.lines() {
        if !line.starts_with(char::is_whitespace) && line.ends_with(':') {
            let f = line.trim_end_matches(':').to_string();
            by_file.entry(f.clone()).or_default();
            cur = Some(f);
        } else if let Some(f) = &cur {
            by_file
                .get_mut(f)
                .expect("inserted")
                .push(line.trim().to_string());
        }
    }
    by_file
        .into_iter()
        .map(|(f, lines)| (f, verdict(&lines)))
        .collect()
}

fn verdict(lines: &[String]) -> Verdict {
    if lines.iter().any(|l| l.contains(": BAD")) {
        return Verdict::Refused(
            "its digests or signature do not verify: tampered or corrupt".into(),
        );
    }
    let sigs: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("Signature, key ID"))
        .collect();
    if sigs.is_empty() {
        return Verdict::Refused("not signed".into());
    }
    for l in &sigs {
        if l.ends_with(": OK") {
            let id = l
                .split("key ID ")
                .nth(1)
                .and_then(|r| r.split(':').next())
                .unwrap_or("")
                .to_ascii_lowercase();
            return Verdict::Ok(id);
        }
    }
    let id = sigs[0]
        .split("key ID ")
        .nth(1)
        .and_then(|r| r.split(':').next())
        .unwrap_or("?");
    Verdict::Refused(format!(
        "signed with key 0x{id}, which is not among the repo's keys"
    ))
}

/// A temporary rpm database with exactly these keys imported.
pub struct Keyring {
    dir: tempfile::TempDir,
}

impl Keyring {
    pub fn new(keys: &[PathBuf], parent: &Path) -> Result<Keyring> {
        let dir = tempfile::Builder::new()
            .prefix("rpmkeys.")
            .tempdir_in(parent)?;
        for k in keys {
            crate::tools::run(
                "rpmkeys",
                &[
                    "--dbpath".as_ref(),
                    dir.path().as_os_str(),
                    "--import".as_ref(),
                    k.as_os_str(),
                ],
            )
            .with_context(|| format!("importing key {}", k.display()))?;
        }
        Ok(Keyring { dir })
    }

    /// Verdicts for `files` (rpmkeys exits non-zero when any fails; the
    /// report is what counts).
    pub fn check(&self, files: &[PathBuf]) -> Result<BTreeMap<String, Verdict>> {
        let mut args: Vec<&std::ffi::OsStr> = vec![
            "--dbpath".as_ref(),
            self.dir.path().as_os_str(),
            "-Kv".as_ref(),
        ];
        args.extend(files.iter().map(|f| f.as_os_str()));
        let out = crate::tools::run_any_status("rpmkeys", &args)?;
        let v = parse(&String::from_utf8_lossy(&out.stdout));
        for f in files {
            if !v.contains_key(&f.display().to_string()) {
                anyhow::bail!(
                    "rpmkeys said nothing about {}: {}",
                    f.display(),
                    crate::tools::tail(&out.stderr, 500)
                );
            }
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Real rpmkeys 4.18 output (Debian 12) for the fixture packages.
    const OUT: &str = "/r/busybox.rpm:
    Header V4 RSA/SHA512 Signature, key ID ce32d517: OK
    Header SHA256 digest: OK
    Header SHA1 digest: OK
    Payload SHA256 digest: OK
    MD5 digest: OK
/r/fixture-tampered-1.0-1.noarch.rpm:
    Header V4 RSA/SHA512 Signature, key ID ce32d517: OK
    Header SHA256 digest: OK
    Payload SHA256 digest: BAD (Expected 674d != 7cef)
    RSA signature: NOTFOUND
/r/fixture-unsigned-1.0-1.noarch.rpm:
    Header SHA256 digest: OK
    Payload SHA256 digest: OK
/r/other.rpm:
    Header V4 RSA/SHA256 Signature, key ID 3abb34f8: NOKEY
    Header SHA256 digest: OK
";

    #[test]
    fn verdict_table() {
        let v = parse(OUT);
        assert_eq!(v["/r/busybox.rpm"], Verdict::Ok("ce32d517".into()));
        let r = |k: &str| match &v[k] {
            Verdict::Refused(r) => r.clone(),
            x => panic!("{k}: {x:?}"),
        };
        assert!(r("/r/fixture-tampered-1.0-1.noarch.rpm").contains("tampered"));
        assert_eq!(r("/r/fixture-unsigned-1.0-1.noarch.rpm"), "not signed");
        assert!(r("/r/other.rpm").contains("0x3abb34f8"));
    }
}
