//! The SBOM's input from a build: the installed packages' header facts
//! joined with where the lockfile says each came from.

use crate::resolve::lockfile;
use anyhow::{bail, Result};

/// The SBOM's view of a finished tree: every installed package's header
/// facts joined with where the lockfile says it came from.
pub fn from_tree(
    report: &crate::tree::make::Report,
    target: &lockfile::Target,
    artifact: &str,
    distro: &crate::plan::DistroSummary,
    arch: &str,
) -> Result<super::Document> {
    use crate::tree::rpmhdr::tag;
    if report.packages.len() != target.packages.len() {
        bail!(
            "installed {} packages but the lock lists {}",
            report.packages.len(),
            target.packages.len()
        );
    }
    let packages = report
        .packages
        .iter()
        .zip(&target.packages)
        .map(|(i, l)| {
            let h = &i.header;
            let s = |t| h.string(t).map(str::to_string);
            let sha256 = match i.path.file_stem().and_then(|s| s.to_str()) {
                Some(stem) if stem.len() == 64 && stem.bytes().all(|b| b.is_ascii_hexdigit()) => {
                    stem.to_string()
                }
                _ => crate::fetch::sha256_file(&i.path)?,
            };
            let download_url = target
                .repos
                .iter()
                .find(|r| r.id == l.repo)
                .and_then(|r| r.baseurls.first())
                .map(|b| format!("{}/{}", b.trim_end_matches('/'), l.location));
            Ok(super::Package {
                name: h.name().to_string(),
                epoch: h.ints(tag::EPOCH).first().copied().unwrap_or(0) as u32,
                version: s(tag::VERSION).unwrap_or_default(),
                release: s(tag::RELEASE).unwrap_or_default(),
                arch: s(tag::ARCH).unwrap_or_default(),
                license: s(tag::LICENSE).unwrap_or_default(),
                source_rpm: s(tag::SOURCERPM),
                sha256,
                repo: l.repo.clone(),
                download_url,
                summary: s(tag::SUMMARY).unwrap_or_default(),
                vendor: s(tag::VENDOR),
                url: s(tag::URL),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(super::Document {
        artifact: artifact.to_string(),
        distro_id: distro_id(distro),
        distro_version: distro.releasever.clone(),
        arch: arch.to_string(),
        created_epoch: report.source_date_epoch,
        packages,
    })
}

/// The SBOM of a tree whose packages its own rpm database lists (a disk
/// deployed from a bootc image): every installed package, the ones this
/// build added (`target`'s lock) with their checksum and repository, the
/// image's own without (no .rpm file of theirs was ever seen here).
pub fn from_installed(
    installed: &[crate::tools::rpm::Installed],
    target: &lockfile::Target,
    artifact: &str,
    distro: &crate::plan::DistroSummary,
    arch: &str,
    created_epoch: i64,
) -> super::Document {
    let packages = installed
        .iter()
        .map(|i| {
            let locked = target.packages.iter().find(|l| {
                l.name == i.name
                    && l.epoch == u64::from(i.epoch)
                    && l.version == i.version
                    && l.release == i.release
                    && l.arch == i.arch
            });
            let sha256 = locked
                .and_then(|l| l.checksum.strip_prefix("sha256:"))
                .unwrap_or_default()
                .to_string();
            let download_url = locked.and_then(|l| {
                target
                    .repos
                    .iter()
                    .find(|r| r.id == l.repo)
                    .and_then(|r| r.baseurls.first())
                    .map(|b| format!("{}/{}", b.trim_end_matches('/'), l.location))
            });
            super::Package {
                name: i.name.clone(),
                epoch: i.epoch,
                version: i.version.clone(),
                release: i.release.clone(),
                arch: i.arch.clone(),
                license: i.license.clone(),
                source_rpm: i.source_rpm.clone(),
                sha256,
                repo: locked.map(|l| l.repo.clone()).unwrap_or_default(),
                download_url,
                summary: i.summary.clone(),
                vendor: i.vendor.clone(),
                url: i.url.clone(),
            }
        })
        .collect();
    super::Document {
        artifact: artifact.to_string(),
        distro_id: distro_id(distro),
        distro_version: distro.releasever.clone(),
        arch: arch.to_string(),
        created_epoch,
        packages,
    }
}

fn distro_id(distro: &crate::plan::DistroSummary) -> String {
    if distro.id.starts_with("almalinux") {
        "almalinux".to_string()
    } else {
        distro.id.clone()
    }
}
