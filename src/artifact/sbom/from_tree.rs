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
    let distro_id = if distro.id.starts_with("almalinux") {
        "almalinux".to_string()
    } else {
        distro.id.clone()
    };
    Ok(super::Document {
        artifact: artifact.to_string(),
        distro_id,
        distro_version: distro.releasever.clone(),
        arch: arch.to_string(),
        created_epoch: report.source_date_epoch,
        packages,
    })
}
