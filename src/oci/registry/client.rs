//! The OCI distribution API, the few calls we need: blob HEAD / upload /
//! GET, manifest GET / PUT, and the referrers listing.
//!
//! Bodies are streamed both ways — a layer is never held in memory, so
//! peak RSS does not grow with the image — and every request goes through
//! `send`, which answers a 401 challenge once (see `auth`) and retries.
//! Failures name the method, the URL, the HTTP status and the registry's
//! own error code (`UNAUTHORIZED`, `MANIFEST_INVALID`, …).

use super::auth::{self, AuthState};
use super::layout::{self, Desc, Layout};
use super::{error_text, Options};
use crate::oci::image::MEDIA_INDEX;
use anyhow::{bail, Context, Result};
use futures_util::StreamExt;
use reqwest::header::{HeaderMap, ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use std::io::Write;
use std::path::Path;
use tokio::io::AsyncReadExt;

/// A connection to one repository of one registry.
pub struct Client {
    http: reqwest::Client,
    /// `http(s)://host[:port]`
    base: String,
    repo: String,
    /// The bearer scope we ask for when a challenge names none.
    scope: String,
    auth: tokio::sync::Mutex<AuthState>,
}

/// A request to (re)build: `send` may need to send it twice.
type Build<'a> = &'a (dyn Fn(&reqwest::Client) -> Result<RequestBuilder> + Sync);

impl Client {
    /// Picks the scheme (https; with `tls_verify=false`, https that accepts
    /// any certificate and falls back to plain http) by pinging `/v2/`.
    pub async fn connect(registry: &str, repo: &str, push: bool, o: &Options) -> Result<Client> {
        let creds = auth::lookup(o.authfile.as_deref(), registry, repo)?;
        let host = if registry == crate::oci::reference::DOCKER_HUB {
            "registry-1.docker.io"
        } else {
            registry
        };
        let http = reqwest::Client::builder()
            .user_agent(concat!("image-builder/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(std::time::Duration::from_secs(30))
            .read_timeout(std::time::Duration::from_secs(300))
            .danger_accept_invalid_certs(!o.tls_verify)
            .build()?;
        // Bounded: a plain-HTTP server that never answers a TLS hello
        // must not stall us for the whole read timeout.
        let probe = |url: String| {
            let req = http.get(&url).send();
            async move {
                match tokio::time::timeout(std::time::Duration::from_secs(30), req).await {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(e)) => Err(format!("connecting to {url}: {}", chain(&e))),
                    Err(_) => Err(format!("connecting to {url}: no answer in 30s")),
                }
            }
        };
        let https = format!("https://{host}");
        let base = match probe(format!("{https}/v2/")).await {
            Ok(()) => https,
            Err(e) if o.tls_verify => {
                bail!("{e}\nhint: for a plain-HTTP registry give --tls-verify=false");
            }
            Err(_) => {
                let plain = format!("http://{host}");
                probe(format!("{plain}/v2/"))
                    .await
                    .map_err(|e| anyhow::anyhow!("{e} (https failed too)"))?;
                plain
            }
        };
        crate::report::debug(format!("registry {registry}: {base}"));
        let c = Client {
            http,
            base,
            repo: repo.to_string(),
            scope: format!(
                "repository:{repo}:{}",
                if push { "pull,push" } else { "pull" }
            ),
            auth: tokio::sync::Mutex::new(AuthState::new(registry, creds)),
        };
        // Log in up front, on a GET whose refusal carries the registry's
        // error body (a HEAD's would be empty), so bad credentials fail
        // here with `UNAUTHORIZED` rather than mid-push.
        let v2 = format!("{}/v2/", c.base);
        c.send(&Method::GET, &v2, &|h| Ok(h.get(&v2))).await?;
        Ok(c)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/v2/{}/{path}", self.base, self.repo)
    }

    /// Sends, answering one 401 challenge; a second 401 is an error that
    /// says whose credentials were refused.
    async fn send(&self, method: &Method, url: &str, build: Build<'_>) -> Result<Response> {
        // Credentials go to the registry only, never to another host an
        // upload Location points at (object storage, say).
        let ours = url.starts_with(&format!("{}/", self.base));
        let sent = match ours {
            true => self.auth.lock().await.current().map(str::to_string),
            false => None,
        };
        let mut req = build(&self.http)?;
        if let Some(h) = &sent {
            req = req.header(AUTHORIZATION, h);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| Retryable(format!("{method} {url}: {}", chain(&e))))?;
        if resp.status() != StatusCode::UNAUTHORIZED || !ours {
            return Ok(resp);
        }
        let www = resp
            .headers()
            .get(reqwest::header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let header = {
            let mut a = self.auth.lock().await;
            a.answer(&self.http, www.as_deref(), &self.scope, sent.as_deref())
                .await
                .with_context(|| format!("{method} {url}: HTTP 401"))?
        };
        let resp = build(&self.http)?
            .header(AUTHORIZATION, header)
            .send()
            .await
            .map_err(|e| Retryable(format!("{method} {url}: {}", chain(&e))))?;
        if resp.status() == StatusCode::UNAUTHORIZED {
            let rejected = self.auth.lock().await.rejected();
            let e = failure(method, url, resp).await;
            return Err(e.context(rejected));
        }
        Ok(resp)
    }

    /// Is the blob in the repository already?
    pub async fn has_blob(&self, d: &Desc) -> Result<bool> {
        let url = self.url(&format!("blobs/{}", d.digest));
        let resp = self
            .send(&Method::HEAD, &url, &|h| Ok(h.head(&url)))
            .await?;
        match resp.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(failure(&Method::HEAD, &url, resp).await),
        }
    }

    /// Uploads a blob from a layout: POST for a session, then one PUT of
    /// the file, streamed with its Content-Length.
    pub async fn upload_blob(&self, src: &Layout, d: &Desc) -> Result<()> {
        let url = self.url("blobs/uploads/");
        let resp = self
            .send(&Method::POST, &url, &|h| {
                Ok(h.post(&url).header(CONTENT_LENGTH, "0"))
            })
            .await?;
        if resp.status() != StatusCode::ACCEPTED {
            return Err(failure(&Method::POST, &url, resp).await);
        }
        let loc = resp
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .with_context(|| format!("POST {url}: no Location in the 202 answer"))?;
        let loc = if loc.starts_with("http://") || loc.starts_with("https://") {
            loc.to_string()
        } else {
            format!(
                "{}{}{loc}",
                self.base,
                if loc.starts_with('/') { "" } else { "/" }
            )
        };
        let sep = if loc.contains('?') { '&' } else { '?' };
        let put = format!("{loc}{sep}digest={}", d.digest);
        let path = src.blob_path(&d.digest)?;
        let resp = self
            .send(&Method::PUT, &put, &|h| {
                Ok(h.put(&put)
                    .header(CONTENT_TYPE, "application/octet-stream")
                    .header(CONTENT_LENGTH, d.size)
                    .body(file_body(&path)?))
            })
            .await?;
        if resp.status() != StatusCode::CREATED {
            return Err(failure(&Method::PUT, &strip_query(&put), resp).await);
        }
        Ok(())
    }

    /// Downloads a blob into a layout, verified before it becomes visible.
    pub async fn get_blob(&self, dest: &Layout, d: &Desc) -> Result<()> {
        let url = self.url(&format!("blobs/{}", d.digest));
        let resp = self.send(&Method::GET, &url, &|h| Ok(h.get(&url))).await?;
        if !resp.status().is_success() {
            return Err(failure(&Method::GET, &url, resp).await);
        }
        let mut w = dest.blob_writer_for(&d.digest, d.size)?;
        let mut body = resp.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| anyhow::anyhow!("GET {url}: {}", chain(&e)))?;
            w.write_all(&chunk).with_context(|| format!("GET {url}"))?;
        }
        w.finish().with_context(|| format!("GET {url}"))?;
        Ok(())
    }

    /// A manifest by tag or digest: (digest, media type, bytes), or None
    /// if the registry does not have it.
    pub async fn get_manifest(&self, reference: &str) -> Result<Option<(String, String, Vec<u8>)>> {
        let url = self.url(&format!("manifests/{reference}"));
        let accept = layout::MANIFEST_TYPES.join(", ");
        let resp = self
            .send(&Method::GET, &url, &|h| {
                Ok(h.get(&url).header(ACCEPT, &accept))
            })
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !resp.status().is_success() {
            return Err(failure(&Method::GET, &url, resp).await);
        }
        if resp.content_length().unwrap_or(0) > layout::MAX_MANIFEST {
            bail!(
                "GET {url}: manifest larger than {} bytes",
                layout::MAX_MANIFEST
            );
        }
        let ct = header(resp.headers(), CONTENT_TYPE.as_str())
            .map(|c| c.split(';').next().unwrap_or("").trim().to_string())
            .unwrap_or_default();
        let claimed = header(resp.headers(), "docker-content-digest");
        let body = resp
            .bytes()
            .await
            .map_err(|e| anyhow::anyhow!("GET {url}: {}", chain(&e)))?
            .to_vec();
        let got = layout::sha256_digest(&body);
        let want = if reference.contains(':') {
            Some(reference.to_string())
        } else {
            claimed.filter(|c| c.starts_with("sha256:"))
        };
        if let Some(w) = want {
            if w != got {
                bail!("GET {url}: manifest hashes to {got}, not {w}");
            }
        }
        let mt = if layout::is_manifest_type(&ct) {
            ct
        } else {
            layout::manifest_media_type("", &body)
        };
        Ok(Some((got, mt, body)))
    }

    /// PUTs a manifest's exact bytes under a tag or its digest; returns
    /// the answer's headers (an OCI 1.1 registry sets `OCI-Subject`).
    pub async fn put_manifest(&self, reference: &str, mt: &str, body: &[u8]) -> Result<HeaderMap> {
        let url = self.url(&format!("manifests/{reference}"));
        let resp = self
            .send(&Method::PUT, &url, &|h| {
                Ok(h.put(&url).header(CONTENT_TYPE, mt).body(body.to_vec()))
            })
            .await?;
        if resp.status() != StatusCode::CREATED {
            return Err(failure(&Method::PUT, &url, resp).await);
        }
        let want = layout::sha256_digest(body);
        if let Some(got) = header(resp.headers(), "docker-content-digest") {
            if got != want {
                bail!("PUT {url}: registry stored the manifest as {got}, not {want}");
            }
        }
        Ok(resp.headers().clone())
    }

    /// The referrers API: the listing index, or None when the registry
    /// has no such API (distribution 2.8 answers 404).
    pub async fn referrers(&self, digest: &str) -> Result<Option<serde_json::Value>> {
        let url = self.url(&format!("referrers/{digest}"));
        let resp = self
            .send(&Method::GET, &url, &|h| {
                Ok(h.get(&url).header(ACCEPT, MEDIA_INDEX))
            })
            .await?;
        if !resp.status().is_success() {
            return Ok(None);
        }
        let body = resp.bytes().await.unwrap_or_default();
        Ok(serde_json::from_slice(&body).ok())
    }
}

fn header(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn strip_query(u: &str) -> String {
    u.split('?').next().unwrap_or(u).to_string()
}

/// A failure worth another try: the connection broke, or the registry
/// answered 429 or 5xx.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Retryable(pub String);

/// An error for an unexpected answer: method, URL, status, error body.
pub async fn failure(method: &Method, url: &str, resp: Response) -> anyhow::Error {
    let status = resp.status();
    let body = resp.bytes().await.unwrap_or_default();
    let msg = format!("{method} {url}: HTTP {status}: {}", error_text(&body));
    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        Retryable(msg).into()
    } else {
        anyhow::anyhow!(msg)
    }
}

/// A reqwest error with its sources (the TLS or connect reason is there).
fn chain(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

/// A file as a streamed request body, read in 256 KiB chunks.
fn file_body(path: &Path) -> Result<reqwest::Body> {
    let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let f = tokio::fs::File::from_std(f);
    let s = futures_util::stream::unfold(Some(f), |f| async move {
        let mut f = f?;
        let mut buf = vec![0u8; 256 << 10];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(buf), Some(f)))
            }
            Err(e) => Some((Err(e), None)),
        }
    });
    Ok(reqwest::Body::wrap_stream(s))
}
