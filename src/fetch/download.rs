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
use anyhow::{bail, Result};
use futures_util::StreamExt;
use sha2::Digest;
use std::path::Path;

enum Failure {
    /// Worth retrying on the same mirror.
    Transient(String),
    /// Move on to the next mirror.
    Fatal(String),
}

/// Hex digests of a file: (the expected kind's, sha256).
pub fn hash_file(path: &Path, kind: &str) -> Result<(String, String)> {
    let data = std::fs::read(path)?;
    let mut h = Hashers::new(kind)?;
    h.update(&data);
    Ok(h.finish())
}

type Finisher = Box<dyn FnMut(Option<&[u8]>) -> Option<String> + Send>;

/// sha256 (the cache key) and the repo's checksum kind, fed as bytes
/// arrive so a download is hashed without reading it back.
pub struct Hashers {
    sha256: sha2::Sha256,
    other: Option<Finisher>,
}

fn other_hasher<D: Digest + Send + 'static>() -> Finisher {
    let mut d = Some(D::new());
    Box::new(move |chunk| match chunk {
        Some(c) => {
            if let Some(d) = d.as_mut() {
                d.update(c);
            }
            None
        }
        None => d.take().map(|d| hex::encode(d.finalize())),
    })
}

impl Hashers {
    pub fn new(kind: &str) -> Result<Hashers> {
        let other = match kind {
            "sha256" => None,
            "sha512" => Some(other_hasher::<sha2::Sha512>()),
            "sha384" => Some(other_hasher::<sha2::Sha384>()),
            "sha224" => Some(other_hasher::<sha2::Sha224>()),
            "sha1" | "sha" => Some(other_hasher::<sha1::Sha1>()),
            _ => bail!("unsupported checksum type {kind}"),
        };
        Ok(Hashers {
            sha256: sha2::Sha256::new(),
            other,
        })
    }

    pub fn update(&mut self, data: &[u8]) {
        self.sha256.update(data);
        if let Some(f) = self.other.as_mut() {
            f(Some(data));
        }
    }

    /// (the expected kind's hex, sha256 hex).
    pub fn finish(self) -> (String, String) {
        let sha = hex::encode(self.sha256.finalize());
        match self.other {
            Some(mut f) => (f(None).unwrap_or_default(), sha),
            None => (sha.clone(), sha),
        }
    }
}

async fn get_once(
    client: &reqwest::Client,
    url: &str,
    part: &Path,
    kind: &str,
    hashers: &mut Option<Hashers>,
    progress: &dyn Progress,
) -> Result<(), Failure> {
    use std::io::Write;
    let have = std::fs::metadata(part).map(|m| m.len()).unwrap_or(0);
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
            let _ = std::fs::remove_file(part);
            return Err(Failure::Transient(
                "416 range not satisfiable; restarting".into(),
            ));
        }
        408 | 425 | 429 | 500..=599 => return Err(Failure::Transient(format!("HTTP {status}"))),
        _ => return Err(Failure::Fatal(format!("HTTP {status}"))),
    };
    // Hashers follow the file: fresh for a full body, fed what is already
    // on disk when resuming. Writes are plain std writes: they land in the
    // page cache, and a blocking-pool hop per chunk costs more than that.
    let mut h = Hashers::new(kind).map_err(|e| Failure::Fatal(format!("{e}")))?;
    if append {
        h.update(&std::fs::read(part).unwrap_or_default());
    }
    let werr = |e: std::io::Error| Failure::Fatal(format!("writing {}: {e}", part.display()));
    let mut f = std::io::BufWriter::with_capacity(
        256 * 1024,
        std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(append)
            .truncate(!append)
            .open(part)
            .map_err(werr)?,
    );
    let mut body = resp.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk =
            chunk.map_err(|e| Failure::Transient(format!("connection broke mid-body: {e}")))?;
        f.write_all(&chunk).map_err(werr)?;
        h.update(&chunk);
        progress.bytes(chunk.len() as u64);
    }
    f.flush().map_err(werr)?;
    *hashers = Some(h);
    Ok(())
}

fn check(
    part: &Path,
    expected: Option<&Checksum>,
    size: Option<u64>,
    hashed: Option<Hashers>,
) -> Result<String, Failure> {
    let len = std::fs::metadata(part).map(|m| m.len()).unwrap_or(0);
    if let Some(s) = size {
        if len != s {
            return Err(Failure::Fatal(format!("size {len} instead of {s}")));
        }
    }
    let kind = expected.map(|c| c.kind.as_str()).unwrap_or("sha256");
    let (got, sha256) = match hashed {
        Some(h) => h.finish(),
        None => hash_file(part, kind).map_err(|e| Failure::Fatal(format!("{e}")))?,
    };
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
            match check(part, expected, size, None) {
                Ok(s) => return Ok(s),
                Err(Failure::Fatal(e) | Failure::Transient(e)) => {
                    errors.push(format!("{url}: {e}"));
                    continue;
                }
            }
        }
        let kind = expected.map(|c| c.kind.as_str()).unwrap_or("sha256");
        for attempt in 0..=opts.retries {
            let mut hashed = None;
            match get_once(client, url, part, kind, &mut hashed, progress).await {
                Ok(()) => match check(part, expected, size, hashed) {
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
