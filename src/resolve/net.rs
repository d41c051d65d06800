//! How the resolver reaches URLs: `file://` directly (fixture and local
//! mirrors), everything else through `crate::fetch` (retries, failover,
//! atomic writes).

use crate::fetch::Checksum;
use anyhow::{anyhow, bail, Context, Result};
use std::path::Path;

fn local(url: &str) -> Option<&str> {
    url.strip_prefix("file://")
}

/// Downloads the first URL that works to `dest` (atomically), checking
/// `expected` when given.
pub fn download(urls: &[String], dest: &Path, expected: Option<&Checksum>) -> Result<()> {
    let mut errors = vec![];
    for u in urls {
        let Some(p) = local(u) else {
            return http_download(urls, dest, expected);
        };
        match std::fs::read(p) {
            Ok(bytes) => {
                if let Some(c) = expected {
                    let got = super::repodata::digest(&c.kind, &bytes)
                        .ok_or_else(|| anyhow!("unsupported checksum type {}", c.kind))?;
                    if got != c.hex {
                        errors.push(format!(
                            "{u}: {} mismatch (expected {}, got {got})",
                            c.kind, c.hex
                        ));
                        continue;
                    }
                }
                let tmp = dest.with_extension(format!("part.{}", std::process::id()));
                std::fs::write(&tmp, &bytes)
                    .with_context(|| format!("writing {}", tmp.display()))?;
                std::fs::rename(&tmp, dest)?;
                return Ok(());
            }
            Err(e) => errors.push(format!("{u}: {e}")),
        }
    }
    bail!("{}", errors.join("; "))
}

/// A small text body (mirrorlist, metalink).
pub fn fetch_text(urls: &[String]) -> Result<String> {
    if let Some(p) = urls.first().and_then(|u| local(u)) {
        return std::fs::read_to_string(p).with_context(|| format!("reading {p}"));
    }
    http_text(urls)
}

fn http_download(urls: &[String], dest: &Path, expected: Option<&Checksum>) -> Result<()> {
    crate::fetch::download_file(urls, dest, expected, &crate::fetch::FetchOptions::default())
}

fn http_text(urls: &[String]) -> Result<String> {
    crate::fetch::fetch_text(urls, &crate::fetch::FetchOptions::default())
}
