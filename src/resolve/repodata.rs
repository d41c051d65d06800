//! Repository metadata: finding a repo's mirrors, fetching `repomd.xml`
//! and the files it lists, keeping them in the cache.
//!
//! Revalidation is cheap by construction: `repomd.xml` (a few KiB) is
//! fetched every time, and every file it points to is stored under its
//! checksum, so an unchanged repo costs one small request and a changed
//! one downloads only what changed. With a metalink, repomd.xml must match
//! one of the metalink's hashes; with `repo_gpgcheck`, its detached
//! signature must verify against the repo's keys, before anything it lists
//! is trusted.

use super::solve::RepoFiles;
use crate::fetch::{Cache, Checksum};
use crate::plan::{PlanRepo, RepoKey};
use anyhow::{anyhow, bail, Context, Result};
use sha2::Digest;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One `<data>` entry of repomd.xml.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataRef {
    pub href: String,
    pub checksum: Checksum,
    pub size: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepoMd {
    pub revision: Option<String>,
    /// By type: primary, filelists, group, group_gz, modules, ...
    pub data: BTreeMap<String, DataRef>,
}

fn norm_kind(k: &str) -> String {
    match k {
        "sha" => "sha1".into(),
        k => k.to_ascii_lowercase(),
    }
}

pub fn parse_repomd(xml: &str, origin: &str) -> Result<RepoMd> {
    let doc = roxmltree::Document::parse_with_options(
        xml,
        roxmltree::ParsingOptions {
            allow_dtd: true,
            ..Default::default()
        },
    )
    .with_context(|| format!("{origin}: not valid XML"))?;
    let root = doc.root_element();
    if root.tag_name().name() != "repomd" {
        bail!(
            "{origin}: not a repomd.xml (root element <{}>)",
            root.tag_name().name()
        );
    }
    let mut md = RepoMd::default();
    for n in root.children().filter(|n| n.is_element()) {
        match n.tag_name().name() {
            "revision" => md.revision = n.text().map(|t| t.trim().to_string()),
            "data" => {
                let Some(kind) = n.attribute("type") else {
                    continue;
                };
                let href = n
                    .children()
                    .find(|c| c.has_tag_name("location"))
                    .and_then(|c| c.attribute("href"))
                    .ok_or_else(|| anyhow!("{origin}: <data type=\"{kind}\"> has no location"))?;
                let ck = n
                    .children()
                    .find(|c| c.has_tag_name("checksum"))
                    .ok_or_else(|| anyhow!("{origin}: <data type=\"{kind}\"> has no checksum"))?;
                let size = n
                    .children()
                    .find(|c| c.has_tag_name("size"))
                    .and_then(|c| c.text())
                    .and_then(|t| t.trim().parse().ok());
                md.data.insert(
                    kind.to_string(),
                    DataRef {
                        href: href.to_string(),
                        checksum: Checksum {
                            kind: norm_kind(ck.attribute("type").unwrap_or("sha256")),
                            hex: ck.text().unwrap_or("").trim().to_ascii_lowercase(),
                        },
                        size,
                    },
                );
            }
            _ => {}
        }
    }
    if !md.data.contains_key("primary") {
        bail!("{origin}: repomd.xml lists no primary metadata");
    }
    Ok(md)
}

/// A mirrorlist: one URL per line, `#` comments.
pub fn parse_mirrorlist(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter(|l| {
            l.starts_with("http://") || l.starts_with("https://") || l.starts_with("file://")
        })
        .map(str::to_string)
        .collect()
}

/// A metalink's repomd.xml URLs (as repo base URLs) and hashes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metalink {
    pub bases: Vec<String>,
    pub hashes: Vec<Checksum>,
}

pub fn parse_metalink(xml: &str, origin: &str) -> Result<Metalink> {
    let doc = roxmltree::Document::parse_with_options(
        xml,
        roxmltree::ParsingOptions {
            allow_dtd: true,
            ..Default::default()
        },
    )
    .with_context(|| format!("{origin}: not valid XML"))?;
    let mut m = Metalink::default();
    let file = doc
        .descendants()
        .find(|n| n.has_tag_name("file") && n.attribute("name") == Some("repomd.xml"))
        .ok_or_else(|| anyhow!("{origin}: metalink has no <file name=\"repomd.xml\">"))?;
    for h in file.descendants().filter(|n| n.has_tag_name("hash")) {
        if let (Some(t), Some(v)) = (h.attribute("type"), h.text()) {
            if matches!(t, "sha256" | "sha512" | "sha1" | "sha384" | "sha224") {
                m.hashes.push(Checksum {
                    kind: t.to_string(),
                    hex: v.trim().to_ascii_lowercase(),
                });
            }
        }
    }
    for u in file.descendants().filter(|n| n.has_tag_name("url")) {
        if let Some(t) = u.text() {
            let t = t.trim();
            if let Some(base) = t.strip_suffix("repodata/repomd.xml") {
                m.bases.push(base.to_string());
            }
        }
    }
    if m.bases.is_empty() {
        bail!("{origin}: metalink lists no mirrors");
    }
    Ok(m)
}

/// Hex digest of `data` for a checksum kind.
pub fn digest(kind: &str, data: &[u8]) -> Option<String> {
    Some(match kind {
        "sha256" => hex::encode(sha2::Sha256::digest(data)),
        "sha512" => hex::encode(sha2::Sha512::digest(data)),
        "sha384" => hex::encode(sha2::Sha384::digest(data)),
        "sha224" => hex::encode(sha2::Sha224::digest(data)),
        "sha1" | "sha" => hex::encode(sha1::Sha1::digest(data)),
        _ => return None,
    })
}

fn with_slash(u: &str) -> String {
    if u.ends_with('/') {
        u.to_string()
    } else {
        format!("{u}/")
    }
}

/// A repo's metadata, on disk and checked.
#[derive(Debug, Clone)]
pub struct Synced {
    pub files: RepoFiles,
    /// Base URLs packages are fetched from, in order.
    pub bases: Vec<String>,
    pub revision: Option<String>,
    /// Armored keys, on disk.
    pub keys: Vec<PathBuf>,
}

/// The cache directory for one repo definition.
pub fn repo_dir(cache: &Cache, r: &PlanRepo) -> PathBuf {
    let ident = format!("{:?}|{:?}|{:?}", r.baseurls, r.mirrorlist, r.metalink);
    let h = hex::encode(sha2::Sha256::digest(ident.as_bytes()));
    let safe: String =
        r.id.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
    cache.metadata_dir().join(format!("{safe}-{}", &h[..16]))
}

/// Fetches (or revalidates) one repo's metadata into the cache.
pub fn sync(r: &PlanRepo, cache: &Cache) -> Result<Synced> {
    let dir = repo_dir(cache, r);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut hashes = vec![];
    let bases: Vec<String> = if !r.baseurls.is_empty() {
        r.baseurls.iter().map(|u| with_slash(u)).collect()
    } else if let Some(ml) = &r.metalink {
        let text = super::net::fetch_text(std::slice::from_ref(ml))
            .with_context(|| format!("repo {}: metalink", r.id))?;
        let m = parse_metalink(&text, ml)?;
        hashes = m.hashes;
        m.bases
    } else if let Some(ml) = &r.mirrorlist {
        let text = super::net::fetch_text(std::slice::from_ref(ml))
            .with_context(|| format!("repo {}: mirrorlist", r.id))?;
        let v: Vec<String> = parse_mirrorlist(&text)
            .iter()
            .map(|u| with_slash(u))
            .collect();
        if v.is_empty() {
            bail!("repo {}: mirrorlist {ml} lists no mirrors", r.id);
        }
        v
    } else {
        bail!("repo {}: no baseurl, mirrorlist or metalink", r.id);
    };
    let urls = |rel: &str| {
        bases
            .iter()
            .map(|b| format!("{b}{rel}"))
            .collect::<Vec<_>>()
    };

    // One writer per repo directory at a time: builds sharing a cache
    // must not prune or replace each other's files mid-flight.
    let _lock = crate::sys::workdir::exclusive(&dir.join(".lock"))?;
    let keys = fetch_keys(r, &dir)?;
    let fresh = dir.join("repomd.xml.new");
    super::net::download(&urls("repodata/repomd.xml"), &fresh, None)
        .with_context(|| format!("repo {}: fetching repomd.xml", r.id))?;
    let bytes = std::fs::read(&fresh)?;
    if !hashes.is_empty()
        && !hashes
            .iter()
            .any(|h| digest(&h.kind, &bytes).as_deref() == Some(h.hex.as_str()))
    {
        let _ = std::fs::remove_file(&fresh);
        bail!(
            "repo {}: repomd.xml does not match the metalink's checksums (a stale or tampered mirror)",
            r.id
        );
    }
    if r.repo_gpgcheck {
        let asc = dir.join("repomd.xml.asc.new");
        super::net::download(&urls("repodata/repomd.xml.asc"), &asc, None).with_context(|| {
            format!(
                "repo {}: repo_gpgcheck is on but repomd.xml.asc is missing",
                r.id
            )
        })?;
        let res = verify_detached(&fresh, &asc, &keys, &dir);
        let _ = std::fs::remove_file(&asc);
        if let Err(e) = res {
            let _ = std::fs::remove_file(&fresh);
            return Err(e.context(format!("repo {}: repomd.xml signature", r.id)));
        }
    }
    let md = parse_repomd(
        &String::from_utf8_lossy(&bytes),
        &format!("repo {} repomd.xml", r.id),
    )?;
    std::fs::rename(&fresh, dir.join("repomd.xml"))?;

    let get = |kind: &str| -> Result<Option<PathBuf>> {
        let Some(d) = md.data.get(kind) else {
            return Ok(None);
        };
        let base = d.href.rsplit('/').next().unwrap_or("data");
        let path = dir.join(format!(
            "{}-{}",
            &d.checksum.hex[..d.checksum.hex.len().min(16)],
            base
        ));
        // A cached file is named by its checksum; one whose bytes no
        // longer match (a disk fault, a stray write) is fetched again.
        if path.is_file() {
            let ok = std::fs::read(&path)
                .ok()
                .and_then(|b| digest(&d.checksum.kind, &b))
                .is_some_and(|h| h == d.checksum.hex);
            if !ok {
                crate::report::info(format!(
                    "warning: cached {kind} metadata {} of repo {} is damaged ({} mismatch): fetching it again",
                    path.display(),
                    r.id,
                    d.checksum.kind
                ));
                let _ = std::fs::remove_file(&path);
            }
        }
        if !path.is_file() {
            super::net::download(&urls(&d.href), &path, Some(&d.checksum))
                .with_context(|| format!("repo {}: fetching {kind} metadata", r.id))?;
        }
        Ok(Some(path))
    };
    let primary = get("primary")?.expect("checked in parse_repomd");
    let filelists = get("filelists")?;
    let comps = match get("group_gz")? {
        Some(p) => Some(p),
        None => match get("group_xz")? {
            Some(p) => Some(p),
            None => get("group")?,
        },
    };
    let modules = get("modules")?;
    // The .solv cache holds primary only: filelists load on demand.
    let p_ck = &md.data["primary"].checksum.hex;
    let solv_key = hex::encode(sha2::Sha256::digest(
        format!("{p_ck}|primary|{}", super::solv::version()).as_bytes(),
    ));
    let solv_cache = dir.join(format!("{}.solv", &solv_key[..16]));
    prune_dir(
        &dir,
        &[
            Some(&primary),
            filelists.as_deref(),
            comps.as_deref(),
            modules.as_deref(),
            Some(&solv_cache),
            Some(&super::solve::solv_sum(&solv_cache)),
        ],
    );
    Ok(Synced {
        files: RepoFiles {
            id: r.id.clone(),
            primary,
            filelists,
            comps,
            modules,
            priority: r.priority,
            module_hotfixes: r.module_hotfixes,
            solv_cache: Some(solv_cache),
        },
        bases,
        revision: md.revision,
        keys,
    })
}

/// Drops files of older metadata revisions (keeps the dir bounded).
fn prune_dir(dir: &Path, keep: &[Option<&Path>]) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if !p.is_file() || name == "repomd.xml" || name == ".lock" || name.ends_with(".new") {
            continue;
        }
        if !keep.iter().flatten().any(|k| *k == p) {
            let _ = std::fs::remove_file(&p);
        }
    }
}

/// The repo's keys on disk: the plan's own (embedded or inline) written
/// out, URLs fetched.
fn fetch_keys(r: &PlanRepo, dir: &Path) -> Result<Vec<PathBuf>> {
    let kdir = dir.join("keys");
    std::fs::create_dir_all(&kdir).with_context(|| format!("creating {}", kdir.display()))?;
    let mut out = vec![];
    for (i, k) in r.gpgkeys.iter().enumerate() {
        let path = kdir.join(format!("key-{i}.asc"));
        match k {
            RepoKey::Url { url } => {
                super::net::download(std::slice::from_ref(url), &path, None)
                    .with_context(|| format!("repo {}: fetching gpgkey {url}", r.id))?;
            }
            other => {
                let text = other.armored().unwrap_or_default();
                std::fs::write(&path, text)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
        }
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if !text.contains("BEGIN PGP PUBLIC KEY BLOCK") {
            bail!(
                "repo {}: gpgkey {} is not an armored OpenPGP public key",
                r.id,
                k.label()
            );
        }
        out.push(path);
    }
    if r.gpgcheck && out.is_empty() {
        bail!(
            "repo {}: gpgcheck is on but the repo names no gpgkey; add gpgkey = \"...\" or, if you accept unverified packages, gpgcheck = false",
            r.id
        );
    }
    Ok(out)
}

/// Checks a detached armored signature with gpgv against `keys`.
fn verify_detached(file: &Path, sig: &Path, keys: &[PathBuf], dir: &Path) -> Result<()> {
    if keys.is_empty() {
        bail!("repo_gpgcheck is on but the repo has no gpgkey");
    }
    let home = tempfile::Builder::new().prefix("gpg.").tempdir_in(dir)?;
    let ring = home.path().join("keys.gpg");
    let mut all = vec![];
    for k in keys {
        let out = crate::tools::run(
            "gpg",
            &[
                "--homedir".as_ref(),
                home.path().as_os_str(),
                "--batch".as_ref(),
                "--dearmor".as_ref(),
                "--output".as_ref(),
                "-".as_ref(),
                k.as_os_str(),
            ],
        )?;
        all.extend(out.stdout);
    }
    std::fs::write(&ring, all)?;
    crate::tools::run(
        "gpgv",
        &[
            "--homedir".as_ref(),
            home.path().as_os_str(),
            "--keyring".as_ref(),
            ring.as_os_str(),
            sig.as_os_str(),
            file.as_os_str(),
        ],
    )
    .map_err(|e| anyhow!("does not verify against the repo's keys: {e:#}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repomd_parses() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">
  <revision>1700000000</revision>
  <data type="primary">
    <checksum type="sha256">AABB</checksum>
    <location href="repodata/aabb-primary.xml.zst"/>
    <size>123</size>
  </data>
  <data type="group"><checksum type="sha">cc</checksum><location href="repodata/comps.xml"/></data>
</repomd>"#;
        let md = parse_repomd(xml, "t").unwrap();
        assert_eq!(md.revision.as_deref(), Some("1700000000"));
        assert_eq!(md.data["primary"].checksum.hex, "aabb");
        assert_eq!(md.data["primary"].size, Some(123));
        assert_eq!(md.data["group"].checksum.kind, "sha1");
        let e = parse_repomd("<repomd/>", "x").unwrap_err().to_string();
        assert!(e.contains("no primary"), "{e}");
        let e = parse_repomd("<html>", "u").unwrap_err().to_string();
        assert!(e.contains("u: not valid XML"), "{e}");
    }

    #[test]
    fn mirrorlist_and_metalink() {
        let ml =
            "# comment\nhttps://a.example/9/BaseOS/x86_64/os/\n\nnot a url\nhttp://b.example/x/\n";
        assert_eq!(
            parse_mirrorlist(ml),
            [
                "https://a.example/9/BaseOS/x86_64/os/",
                "http://b.example/x/"
            ]
        );
        let mlk = r#"<?xml version="1.0"?>
<metalink version="3.0" xmlns="http://www.metalinker.org/">
 <files><file name="repomd.xml">
  <verification><hash type="md5">x</hash><hash type="sha256">ABCD</hash></verification>
  <resources>
   <url protocol="https" type="https">https://m1.example/os/repodata/repomd.xml</url>
   <url protocol="http" type="http">http://m2.example/os/repodata/repomd.xml</url>
  </resources></file></files></metalink>"#;
        let m = parse_metalink(mlk, "t").unwrap();
        assert_eq!(m.bases, ["https://m1.example/os/", "http://m2.example/os/"]);
        assert_eq!(
            m.hashes,
            [Checksum {
                kind: "sha256".into(),
                hex: "abcd".into()
            }]
        );
    }

    #[test]
    fn digests() {
        assert_eq!(
            digest("sha256", b"").unwrap(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            digest("sha", b"").unwrap(),
            "da39a3ee5e6b4b0d3255bfef95601890afd80709"
        );
        assert!(digest("md5", b"").is_none());
    }
}
