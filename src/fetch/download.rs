//! One file from a list of mirrors: retries with backoff, resume with
//! HTTP Range, failover to the next mirror, checksum verified before the
//! file counts as downloaded.
//!
//! Errors are classified. Permanent ones will not get better by asking
//! the same mirror again, so they move on to the next mirror at once: a
//! URL that is not one (a key name where a URL belongs, an unsupported
//! scheme, anything reqwest refuses to build), HTTP 4xx (but 408/425/429),
//! a TLS certificate the server's name or our roots refuse, a host name
//! that does not exist (DNS "no such name"; a *temporary* resolver failure
//! is retried), a size or checksum mismatch. Resets, refused or timed-out
//! connections, truncated bodies and 5xx are retried on the same mirror
//! (resuming what already arrived) before moving on.
//!
//! reqwest's `Display` says only "error sending request for url (…)" and
//! keeps the reason in `source()`: every message here carries the whole
//! chain, so "dns error: failed to lookup address information: Name or
//! service not known" reaches the user instead of "builder error".

use super::{Checksum, FetchOptions};
use crate::progress::Progress;
use anyhow::{bail, Result};
use futures_util::StreamExt;
use sha2::Digest;
use std::path::Path;

#[derive(Debug, PartialEq, Eq)]
enum Failure {
    /// Worth retrying on the same mirror.
    Transient(String),
    /// Move on to the next mirror.
    Fatal(String),
}

/// `e` and every error under it, joined by ": ", each said once (reqwest
/// and hyper repeat the cause in their own text at times).
pub fn cause_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = vec![];
    let mut cur = Some(e);
    while let Some(err) = cur {
        let t = err.to_string();
        if !t.is_empty() && !parts.last().is_some_and(|p| p.contains(&t)) {
            parts.push(t);
        }
        cur = err.source();
    }
    parts.join(": ")
}

/// Which of reqwest's failures to send a request are worth a retry. The
/// URL is already at the front of every message: reqwest's copy goes.
fn classify_send(e: reqwest::Error) -> Failure {
    let e = e.without_url();
    let chain = cause_chain(&e);
    if e.is_builder() {
        return Failure::Fatal(chain);
    }
    if e.is_timeout() {
        return Failure::Transient(chain);
    }
    classify_text(chain)
}

/// The part of the classification only the cause chain's text can tell:
/// rustls and getaddrinfo errors come through hyper as boxed errors we
/// cannot downcast to without depending on those crates.
fn classify_text(chain: String) -> Failure {
    let l = chain.to_ascii_lowercase();
    let tls = l.contains("invalid peer certificate")
        || l.contains("certificate verify failed")
        || l.contains("unknownissuer")
        || l.contains("notvalidforname");
    let dns = l.contains("dns error") || l.contains("failed to lookup address");
    let dns_temporary = l.contains("temporary failure in name resolution");
    if tls || (dns && !dns_temporary) {
        Failure::Fatal(chain)
    } else {
        Failure::Transient(chain)
    }
}

/// Why `url` cannot be fetched at all, if so.
fn unsupported(url: &str) -> Option<String> {
    if ["http://", "https://", "file://"]
        .iter()
        .any(|s| url.starts_with(s))
    {
        return None;
    }
    Some(match url.split_once("://") {
        Some((scheme, _)) => {
            format!("unsupported URL scheme \"{scheme}\" (want http://, https:// or file://)")
        }
        None => "not a URL (want http://, https:// or file://)".into(),
    })
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
    let resp = req.send().await.map_err(classify_send)?;
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
        let chunk = chunk.map_err(|e| {
            Failure::Transient(format!(
                "connection broke mid-body: {}",
                cause_chain(&e.without_url())
            ))
        })?;
        f.write_all(&chunk).map_err(werr)?;
        h.update(&chunk);
        progress.bytes(chunk.len() as u64);
    }
    f.flush().map_err(werr)?;
    // On disk before it is renamed into the cache: a crash never leaves a
    // visible entry whose bytes were not written.
    f.get_ref().sync_all().map_err(werr)?;
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
        if let Some(why) = unsupported(url) {
            errors.push(format!("{url}: {why}"));
            continue;
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_that_are_not_fetchable() {
        assert_eq!(unsupported("https://repo.almalinux.org/x"), None);
        assert_eq!(unsupported("file:///srv/x"), None);
        assert!(unsupported("RPM-GPG-KEY-AlmaLinux-10")
            .unwrap()
            .contains("not a URL"));
        assert!(unsupported("ftp://m/x").unwrap().contains("\"ftp\""));
    }

    #[test]
    fn causes_decide_retries() {
        let cases = [
            ("error sending request for url (https://x/): client error (Connect): dns error: failed to lookup address information: Name or service not known", false),
            ("error sending request for url (https://x/): client error (Connect): dns error: failed to lookup address information: Temporary failure in name resolution", true),
            ("error sending request for url (https://x/): client error (Connect): invalid peer certificate: UnknownIssuer", false),
            ("error sending request for url (https://x/): client error (Connect): tcp connect error: Connection refused (os error 111)", true),
            ("error sending request for url (https://x/): connection reset by peer", true),
        ];
        for (text, transient) in cases {
            let f = classify_text(text.to_string());
            assert_eq!(matches!(f, Failure::Transient(_)), transient, "{text}");
        }
    }

    #[test]
    fn chains_say_each_cause_once() {
        #[derive(Debug)]
        struct E(&'static str, Option<Box<E>>);
        impl std::fmt::Display for E {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.0)
            }
        }
        impl std::error::Error for E {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                self.1.as_deref().map(|e| e as _)
            }
        }
        let e = E(
            "error sending request",
            Some(Box::new(E(
                "dns error: no such host",
                Some(Box::new(E("no such host", None))),
            ))),
        );
        assert_eq!(
            cause_chain(&e),
            "error sending request: dns error: no such host"
        );
    }
}
