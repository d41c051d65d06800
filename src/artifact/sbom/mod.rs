//! Software bills of materials written beside every artifact.
//!
//! Users (and scanners such as vulnerability matchers) need to know exactly
//! which RPMs went into an image without booting it, so each artifact gets
//! two SBOMs listing every installed package: SPDX 2.3 JSON (`spdx`) and
//! CycloneDX 1.6 JSON (`cyclonedx`) — the two formats tools ask for. Both
//! are pure functions of a [`Document`] that the install stage fills from
//! RPM headers; neither reads the clock or a random source, so the same
//! build yields byte-identical SBOMs (reproducible builds compare them).
//! Packages are sorted, identifiers that must be unique are derived from a
//! SHA-256 of the content, and time comes from `SOURCE_DATE_EPOCH`.
//!
//! Shared pieces live here: the input types, package URLs (purl),
//! RFC 3339 time, and the atomic writer. `license` turns RPM `License:`
//! tags into SPDX expressions for both formats.

mod from_tree;
pub use from_tree::{from_installed, from_tree};

mod cyclonedx;
mod license;
mod spdx;

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use sha2::{Digest, Sha256};

pub use cyclonedx::cyclonedx;
pub use spdx::spdx;

/// One installed package, as read from its RPM header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub name: String,
    pub epoch: u32,
    pub version: String,
    pub release: String,
    pub arch: String,
    /// RPM `License:` tag as given, e.g. "GPLv2+ and LGPLv2+" (EL8/9 Fedora
    /// short names) or "GPL-2.0-or-later AND MIT" (EL10, SPDX).
    pub license: String,
    pub source_rpm: Option<String>,
    /// SHA-256 (hex) of the .rpm file; empty when no .rpm was seen (a
    /// package that came with a base image), and then no checksum is
    /// written.
    pub sha256: String,
    /// Repository id the package was installed from; empty for a package
    /// that came with a base image.
    pub repo: String,
    pub download_url: Option<String>,
    pub summary: String,
    pub vendor: Option<String>,
    pub url: Option<String>,
}

/// Everything an SBOM says about one artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// Artifact file name.
    pub artifact: String,
    /// e.g. "almalinux".
    pub distro_id: String,
    /// e.g. "9".
    pub distro_version: String,
    pub arch: String,
    /// `SOURCE_DATE_EPOCH`.
    pub created_epoch: i64,
    pub packages: Vec<Package>,
}

const TOOL_NAME: &str = env!("CARGO_PKG_NAME");
const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Writes ARTIFACT.spdx.json and ARTIFACT.cdx.json beside `artifact`
/// atomically (temp file in the same dir + rename); returns both paths.
pub fn write_beside(artifact: &Path, doc: &Document) -> anyhow::Result<[PathBuf; 2]> {
    let file_name = artifact
        .file_name()
        .with_context(|| format!("artifact path has no file name: {}", artifact.display()))?;
    let dir = match artifact.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let beside = |suffix: &str| {
        let mut name = file_name.to_os_string();
        name.push(suffix);
        dir.join(name)
    };
    let spdx_path = beside(".spdx.json");
    let cdx_path = beside(".cdx.json");
    write_atomic(&dir, &spdx_path, &to_bytes(&spdx(doc))?).context("write spdx sbom")?;
    write_atomic(&dir, &cdx_path, &to_bytes(&cyclonedx(doc))?).context("write cyclonedx sbom")?;
    Ok([spdx_path, cdx_path])
}

/// Pretty-printed JSON with a trailing newline.
fn to_bytes(value: &serde_json::Value) -> anyhow::Result<Vec<u8>> {
    let mut bytes = serde_json::to_vec_pretty(value).context("serialize sbom")?;
    bytes.push(b'\n');
    Ok(bytes)
}

fn write_atomic(dir: &Path, path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut tmp = tempfile::Builder::new()
        .prefix(".sbom-")
        .tempfile_in(dir)
        .with_context(|| format!("create temp file in {}", dir.display()))?;
    tmp.write_all(bytes).context("write temp file")?;
    {
        use std::os::unix::fs::PermissionsExt;
        // Published beside the artifact: world-readable like it.
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    tmp.as_file().sync_all().context("sync temp file")?;
    tmp.persist(path)
        .with_context(|| format!("rename to {}", path.display()))?;
    Ok(())
}

/// Packages in a stable order (name, then EVR, arch, checksum), without
/// repeats of the same name-epoch-version-release.arch: an rpmdb cannot
/// hold one twice, and SBOM identifiers derived from it must be unique.
fn sorted_packages(doc: &Document) -> Vec<&Package> {
    type Key<'a> = (&'a str, u32, &'a str, &'a str, &'a str, &'a str);
    fn key(p: &Package) -> Key<'_> {
        (&p.name, p.epoch, &p.version, &p.release, &p.arch, &p.sha256)
    }
    let mut pkgs: Vec<&Package> = doc.packages.iter().collect();
    pkgs.sort_by(|a, b| key(a).cmp(&key(b)));
    pkgs.dedup_by(|a, b| {
        a.name == b.name
            && a.epoch == b.epoch
            && a.version == b.version
            && a.release == b.release
            && a.arch == b.arch
    });
    pkgs
}

/// `[EPOCH:]VERSION-RELEASE`, the way rpm prints it.
fn evr(p: &Package) -> String {
    if p.epoch == 0 {
        format!("{}-{}", p.version, p.release)
    } else {
        format!("{}:{}-{}", p.epoch, p.version, p.release)
    }
}

/// Percent-encodes a purl component: everything except ASCII alphanumerics,
/// the purl punctuation `.-_~` and the colon is encoded as UTF-8 octets.
fn purl_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'~' | b':') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `pkg:rpm/<distro>/NAME@VERSION-RELEASE?arch=…&distro=…[&epoch=…]`,
/// qualifiers sorted by key, epoch only when non-zero.
fn purl(doc: &Document, p: &Package) -> String {
    let mut qualifiers: Vec<(&str, String)> = vec![
        ("arch", p.arch.clone()),
        (
            "distro",
            format!("{}-{}", doc.distro_id.to_lowercase(), doc.distro_version),
        ),
    ];
    if p.epoch != 0 {
        qualifiers.push(("epoch", p.epoch.to_string()));
    }
    qualifiers.retain(|(_, v)| !v.is_empty());
    qualifiers.sort();
    let q = qualifiers
        .iter()
        .map(|(k, v)| format!("{k}={}", purl_encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let mut out = format!(
        "pkg:rpm/{}/{}@{}",
        purl_encode(&doc.distro_id.to_lowercase()),
        purl_encode(&p.name),
        purl_encode(&format!("{}-{}", p.version, p.release)),
    );
    if !q.is_empty() {
        out.push('?');
        out.push_str(&q);
    }
    out
}

/// `created_epoch` as RFC 3339 UTC (`YYYY-MM-DDThh:mm:ssZ`), clamped to
/// years 1970..=9999 so the result always has that shape.
fn rfc3339(epoch: i64) -> String {
    let secs = epoch.clamp(0, 253_402_300_799);
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Proleptic Gregorian date for a count of days since 1970-01-01 (>= 0),
/// computed over 400-year eras of 146097 days.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468; // days since 0000-03-01
    let era = z / 146_097;
    let doe = z - era * 146_097; // day of era, 0..=146096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // 0..=399
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // 0..=365, from March 1
    let mp = (5 * doy + 2) / 153; // month from March, 0..=11
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Hex SHA-256 of a JSON value's compact serialization (keys are sorted,
/// so equal values hash equally).
fn content_hash(value: &serde_json::Value) -> String {
    hex::encode(Sha256::digest(value.to_string().as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(name: &str, epoch: u32, version: &str, release: &str, arch: &str) -> Package {
        Package {
            name: name.into(),
            epoch,
            version: version.into(),
            release: release.into(),
            arch: arch.into(),
            license: "MIT".into(),
            source_rpm: None,
            sha256: "00".repeat(32),
            repo: "baseos".into(),
            download_url: None,
            summary: String::new(),
            vendor: None,
            url: None,
        }
    }

    fn doc() -> Document {
        Document {
            artifact: "disk.qcow2".into(),
            distro_id: "almalinux".into(),
            distro_version: "9".into(),
            arch: "x86_64".into(),
            created_epoch: 0,
            packages: Vec::new(),
        }
    }

    #[test]
    fn purl_has_sorted_qualifiers_and_optional_epoch() {
        let d = doc();
        assert_eq!(
            purl(&d, &pkg("bash", 0, "5.1.8", "9.el9", "x86_64")),
            "pkg:rpm/almalinux/bash@5.1.8-9.el9?arch=x86_64&distro=almalinux-9"
        );
        assert_eq!(
            purl(&d, &pkg("openssl", 1, "3.0.7", "27.el9", "x86_64")),
            "pkg:rpm/almalinux/openssl@3.0.7-27.el9?arch=x86_64&distro=almalinux-9&epoch=1"
        );
    }

    #[test]
    fn purl_percent_encodes_per_spec() {
        let d = doc();
        assert_eq!(
            purl(&d, &pkg("libstdc++", 0, "1.0+git~rc1", "1 2", "noarch")),
            "pkg:rpm/almalinux/libstdc%2B%2B@1.0%2Bgit~rc1-1%202?arch=noarch&distro=almalinux-9"
        );
        assert_eq!(
            purl_encode("a:b/c@d?e=f&g#h%"),
            "a:b%2Fc%40d%3Fe%3Df%26g%23h%25"
        );
        assert_eq!(purl_encode("é"), "%C3%A9");
    }

    #[test]
    fn rfc3339_formats_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(-5), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(i64::MAX), "9999-12-31T23:59:59Z");
    }

    #[test]
    fn packages_are_sorted_and_deduplicated() {
        let mut d = doc();
        d.packages = vec![
            pkg("b", 0, "1", "1", "x86_64"),
            pkg("a", 1, "1", "1", "x86_64"),
            pkg("a", 0, "2", "1", "x86_64"),
            pkg("b", 0, "1", "1", "x86_64"),
        ];
        let names: Vec<String> = sorted_packages(&d).iter().map(|p| evr(p)).collect();
        assert_eq!(names, ["2-1", "1:1-1", "1-1"]);
    }

    #[test]
    fn base_image_packages_have_no_checksum_or_repository() {
        let mut d = doc();
        let mut from_base = pkg("bash", 0, "5.2", "1", "x86_64");
        from_base.sha256 = String::new();
        from_base.repo = String::new();
        d.packages = vec![from_base, pkg("nginx", 0, "1.26", "1", "x86_64")];
        let s = spdx(&d);
        let p = &s["packages"];
        assert!(p[1].get("checksums").is_none(), "{}", p[1]);
        assert_eq!(p[1]["comment"], "part of the base image");
        assert_eq!(p[2]["checksums"][0]["algorithm"], "SHA256");
        let c = cyclonedx(&d);
        let comps = &c["components"];
        assert!(comps[0].get("hashes").is_none(), "{}", comps[0]);
        assert_eq!(comps[0]["properties"][0]["value"], "(base image)");
        assert_eq!(comps[1]["hashes"][0]["alg"], "SHA-256");
    }
}
