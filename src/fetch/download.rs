//! One file from a list of mirrors: retries with backoff, resume with
//! HTTP Range, failover to the next mirror, checksum verified before the
//! file counts as downloaded.
//!
//! Errors are classified: a 404 or a checksum mismatch will not get
//! better by asking the same mirror again, so they move on to the next
//! mirror at once; resets, truncated bodies, 5xx and timeouts are retried
//! on the same mirror (resuming what already arrived) before moving on.

use super::{Checksum, FetchOptions};
use crate::progress::Progress;
use anyhow::{anyhow, bail, Result};
use futures_util::StreamExt;
use sha2::Digest;
use std::path::Path;
use tokio::io::AsyncWriteExt;

enum Failure {
    /// Worth retrying on the same mirror.
    Transient(String),
    /// Move on to the next mirror.
    Fatal(String),
}

/// Hex digests of a file: (the expected kind's, sha256).
pub fn hash_file(path: &Path, kind: &str) -> Result<(String, String)> {
    let data = std::fs::read(path)?;
    let sha256 = hex::encode(sha2::Sha256::digest(&data));
    let want = crate::resolve::repodata::digest(kind, &data)
        .ok_or_else(|| anyhow!("unsupported checksum type {kind}"))?;
    Ok((want, sha256))
}

async fn get_once(
    client: &reqwest::Client,
    url: &str,
    part: &Path,
    progress: &dyn Progress,
) -> Result<(), Failure> {
    let have = tokio::fs::metadata(part)
        .await
        .map(|m| m.len())
        .unwrap_or(0);
    let mut req = client.get(url);
    if have > 0 {
        req = req.header(reqwest::header::RANGE, format!("bytes={have}-"));
    }
    let resp = req
        .send()
        .await
        .map_err(|e| Failure::Transient(format!("{e}")))?;
    let status = resp.status();
    let append = match status.as_u16() {
        200 => false,
        206 => true,
        416 => {
            let _ = tokio::fs::remove_file(part).await;
            return Err(Failure::Transient(
                "416 range not satisfiable; restarting".into(),
            ));
        }
        408 | 425 | 429 | 500..=599 => return Err(Failure::Transient(format!("HTTP {status}"))),
        _ => return Err(Failure::Fatal(format!("HTTP {status}"))),
    };
    let mut f = tokio::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append)
        .open(part)
        .await
        .map_err(|e| Failure::Fatal(format!("writing {}: {e}", part.display())))?;
    let mut body = resp.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk =
            chunk.map_err(|e| Failure::Transient(format!("connection broke mid-body: {e}")))?;
        f.write_all(&chunk)
            .await
            .map_err(|e| Failure::Fatal(format!("writing {}: {e}", part.display())))?;
        progress.bytes(chunk.len() as u64);
    }
    f.flush()
        .await
        .map_err(|e| Failure::Fatal(format!("{e}")))?;
    Ok(())
}

fn check(part: &Path, expected: Option<&Checksum>, size: Option<u64>) -> Result<String, Failure> {
    let len = std::fs::metadata(part).map(|m| m.len()).unwrap_or(0);
    if let Some(s) = size {
        if len != s {
            return Err(Failure::Fatal(format!("size {len} instead of {s}")));
        }
    }
    let kind = expected.map(|c| c.kind.as_str()).unwrap_or("sha256");
    let (got, sha256) = hash_file(part, kind).map_err(|e| Failure::Fatal(format!("{e}")))?;
    if let Some(c) = expected {
        if got != c.hex {
            return Err(Failure::Fatal(format!(
                "{kind} mismatch: expected {}, got {got}",
                c.hex
            )));
        }
    }
    Ok(sha256)
}

/// Downloads to `part` from the first mirror that delivers a verified
/// file; returns its sha256. Every attempt's failure is in the error.
pub async fn fetch_one(
    client: &reqwest::Client,
    urls: &[String],
    part: &Path,
    expected: Option<&Checksum>,
    size: Option<u64>,
    opts: &FetchOptions,
    progress: &dyn Progress,
) -> Result<String> {
    let mut errors = vec![];
    for url in urls {
        let _ = tokio::fs::remove_file(part).await;
        if let Some(p) = url.strip_prefix("file://") {
            match std::fs::copy(p, part) {
                Ok(n) => progress.bytes(n),
                Err(e) => {
                    errors.push(format!("{url}: {e}"));
                    continue;
                }
            }
            match check(part, expected, size) {
                Ok(s) => return Ok(s),
                Err(Failure::Fatal(e) | Failure::Transient(e)) => {
                    errors.push(format!("{url}: {e}"));
                    continue;
                }
            }
        }
        for attempt in 0..=opts.retries {
            match get_once(client, url, part, progress).await {
                Ok(()) => match check(part, expected, size) {
                    Ok(s) => return Ok(s),
                    Err(Failure::Fatal(e) | Failure::Transient(e)) => {
                        let _ = tokio::fs::remove_file(part).await;
                        errors.push(format!("{url}: {e}"));
                        break;
                    }
                },
                Err(Failure::Fatal(e)) => {
                    errors.push(format!("{url}: {e}"));
                    break;
                }
                Err(Failure::Transient(e)) => {
                    if attempt == opts.retries {
                        errors.push(format!("{url}: {e} (after {} attempts)", attempt + 1));
                        break;
                    }
                    tokio::time::sleep(opts.backoff * 2u32.pow(attempt)).await;
                }
            }
        }
    }
    let _ = tokio::fs::remove_file(part).await;
    if errors.is_empty() {
        bail!("no URL to fetch from");
    }
    bail!("{}", errors.join("; "))
}
