//! Registry credentials and the two challenge flows registries use.
//!
//! Credentials come from the files podman/skopeo and docker already write,
//! so `podman login` or `docker login` is all a user needs: an explicit
//! `--authfile` (or `$REGISTRY_AUTH_FILE`) alone when given, otherwise the
//! first of `$XDG_RUNTIME_DIR/containers/auth.json`,
//! `~/.config/containers/auth.json` and `~/.docker/config.json` that has an
//! entry for the registry. We remember which file the secret came from so
//! a rejected login can say where to look — never the secret itself.
//!
//! A request goes out bare first; a 401 carries `WWW-Authenticate`:
//! `Basic` is answered with the credentials, `Bearer realm=…,service=…,
//! scope=…` by fetching a token from the realm (with the credentials, if
//! any) and retrying with it. Tokens are cached per scope.

use crate::error::InputError;
use anyhow::{bail, Context, Result};
use base64::Engine;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A user name and password for one registry, and where they came from.
#[derive(Clone)]
pub struct Credentials {
    pub username: String,
    pub password: String,
    pub source: PathBuf,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Credentials({} from {})",
            self.username,
            self.source.display()
        )
    }
}

impl Credentials {
    pub fn basic_header(&self) -> String {
        let t = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", self.username, self.password));
        format!("Basic {t}")
    }
}

/// The files searched when no `--authfile` is given, in order:
/// `$REGISTRY_AUTH_FILE` first (as podman and skopeo read it), then
/// containers' and docker's per-user files.
pub fn default_auth_files() -> Vec<PathBuf> {
    let mut v = vec![];
    if let Some(x) = std::env::var_os("REGISTRY_AUTH_FILE").filter(|x| !x.is_empty()) {
        v.push(PathBuf::from(x));
    }
    if let Some(x) = std::env::var_os("XDG_RUNTIME_DIR").filter(|x| !x.is_empty()) {
        v.push(PathBuf::from(x).join("containers/auth.json"));
    }
    if let Some(h) = std::env::var_os("HOME").filter(|x| !x.is_empty()) {
        let h = PathBuf::from(h);
        v.push(h.join(".config/containers/auth.json"));
        v.push(h.join(".docker/config.json"));
    }
    v
}

/// Credentials for `registry` (and `repository`, for namespaced entries).
/// An explicit file must exist and parse (bad input otherwise); default
/// files that are missing are skipped.
pub fn lookup(
    authfile: Option<&Path>,
    registry: &str,
    repository: &str,
) -> Result<Option<Credentials>> {
    if let Some(f) = authfile {
        let text = std::fs::read_to_string(f)
            .map_err(|e| InputError(format!("reading auth file {}: {e}", f.display())))?;
        return from_text(&text, f, registry, repository)
            .map_err(|e| InputError(format!("auth file {}: {e:#}", f.display())).into());
    }
    for f in default_auth_files() {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        match from_text(&text, &f, registry, repository) {
            Ok(Some(c)) => return Ok(Some(c)),
            Ok(None) => continue,
            Err(e) => crate::report::verbose(format!("ignoring auth file {}: {e:#}", f.display())),
        }
    }
    Ok(None)
}

/// The most specific `auths` entry for `registry/repository` in one file:
/// `HOST/NS/REPO`, then `HOST/NS`, then `HOST`, each also with an
/// `http(s)://` prefix; Docker Hub also as `https://index.docker.io/v1/`.
pub fn from_text(
    text: &str,
    source: &Path,
    registry: &str,
    repository: &str,
) -> Result<Option<Credentials>> {
    let v: serde_json::Value = serde_json::from_str(text).context("not JSON")?;
    let Some(auths) = v.get("auths").and_then(|a| a.as_object()) else {
        return Ok(None);
    };
    let mut keys = HashMap::new();
    for (k, val) in auths {
        let bare = k
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .trim_end_matches('/');
        let bare = if bare == "index.docker.io/v1" {
            "docker.io"
        } else {
            bare
        };
        keys.insert(bare.to_string(), val);
    }
    let mut candidates = vec![];
    let parts: Vec<&str> = repository.split('/').collect();
    for n in (1..=parts.len()).rev() {
        candidates.push(format!("{registry}/{}", parts[..n].join("/")));
    }
    candidates.push(registry.to_string());
    for c in candidates {
        let Some(entry) = keys.get(&c) else { continue };
        let Some(auth) = entry.get("auth").and_then(|a| a.as_str()) else {
            continue;
        };
        if auth.is_empty() {
            continue;
        }
        let raw = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .with_context(|| format!("entry `{c}`: `auth` is not base64"))?;
        let raw = String::from_utf8(raw).with_context(|| format!("entry `{c}`: not UTF-8"))?;
        let Some((u, p)) = raw.split_once(':') else {
            bail!("entry `{c}`: `auth` is not user:password");
        };
        return Ok(Some(Credentials {
            username: u.to_string(),
            password: p.to_string(),
            source: source.to_path_buf(),
        }));
    }
    Ok(None)
}

/// A parsed `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// Parses `Basic realm="x"` or `Bearer realm="…",service="…",scope="…"`.
pub fn parse_challenge(h: &str) -> Option<Challenge> {
    let h = h.trim();
    let (scheme, rest) = h.split_once(' ').unwrap_or((h, ""));
    let params = parse_params(rest);
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Some(Challenge::Basic),
        "bearer" => Some(Challenge::Bearer {
            realm: params.get("realm")?.clone(),
            service: params.get("service").cloned(),
            scope: params.get("scope").cloned(),
        }),
        _ => None,
    }
}

/// `k="v", k2=v2` → map; quoted values may hold commas and `\"`.
fn parse_params(s: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            break;
        }
        let mut val = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => val.extend(chars.next()),
                    '"' => break,
                    c => val.push(c),
                }
            }
        } else {
            while let Some(c) = chars.peek() {
                if *c == ',' {
                    break;
                }
                val.push(*c);
                chars.next();
            }
        }
        out.insert(key.trim().to_ascii_lowercase(), val.trim().to_string());
    }
    out
}

/// Per-registry authorization state: the credentials (if any) and the
/// `Authorization` header values earned so far, by scope.
pub struct AuthState {
    pub registry: String,
    pub creds: Option<Credentials>,
    /// scope ("" for Basic) → header value.
    cache: HashMap<String, String>,
    /// The header to send proactively (the last one that worked).
    current: Option<String>,
}

impl AuthState {
    pub fn new(registry: &str, creds: Option<Credentials>) -> AuthState {
        AuthState {
            registry: registry.to_string(),
            creds,
            cache: HashMap::new(),
            current: None,
        }
    }

    /// The header to send before any challenge (from an earlier one).
    pub fn current(&self) -> Option<&str> {
        self.current.as_deref()
    }

    /// Answers a 401's challenge; returns the header to retry with.
    /// `want_scope` is the scope we need when the challenge names none;
    /// `sent` is the header the refused request carried (answering with
    /// the same one again would be pointless: those credentials failed).
    pub async fn answer(
        &mut self,
        http: &reqwest::Client,
        www_authenticate: Option<&str>,
        want_scope: &str,
        sent: Option<&str>,
    ) -> Result<String> {
        let ch = www_authenticate.and_then(parse_challenge);
        let header = match ch {
            Some(Challenge::Basic) | None => {
                let Some(c) = &self.creds else {
                    bail!("{}", self.no_creds());
                };
                c.basic_header()
            }
            Some(Challenge::Bearer {
                realm,
                service,
                scope,
            }) => {
                let scope = scope.unwrap_or_else(|| want_scope.to_string());
                match self.cache.get(&scope) {
                    Some(h) if Some(h.as_str()) != sent => h.clone(),
                    _ => {
                        let token = self.token(http, &realm, service.as_deref(), &scope).await?;
                        let h = format!("Bearer {token}");
                        self.cache.insert(scope, h.clone());
                        h
                    }
                }
            }
        };
        if sent == Some(header.as_str()) {
            bail!("{}", self.rejected());
        }
        self.current = Some(header.clone());
        Ok(header)
    }

    async fn token(
        &self,
        http: &reqwest::Client,
        realm: &str,
        service: Option<&str>,
        scope: &str,
    ) -> Result<String> {
        let mut q: Vec<(&str, &str)> = vec![];
        if let Some(s) = service {
            q.push(("service", s));
        }
        for s in scope.split(' ').filter(|s| !s.is_empty()) {
            q.push(("scope", s));
        }
        let mut req = http.get(realm).query(&q);
        if let Some(c) = &self.creds {
            req = req.header(reqwest::header::AUTHORIZATION, c.basic_header());
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("getting a token from {realm}"))?;
        let status = resp.status();
        let body = resp.bytes().await.unwrap_or_default();
        if !status.is_success() {
            let who = match &self.creds {
                Some(c) => format!(
                    " with credentials for {} from {}",
                    self.registry,
                    c.source.display()
                ),
                None => " anonymously (no credentials found)".to_string(),
            };
            bail!(
                "token server {realm} refused a token for `{scope}`{who}: HTTP {status}: {}",
                super::error_text(&body)
            );
        }
        let v: serde_json::Value = serde_json::from_slice(&body)
            .with_context(|| format!("token from {realm} is not JSON"))?;
        v.get("token")
            .or_else(|| v.get("access_token"))
            .and_then(|t| t.as_str())
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .with_context(|| format!("token response from {realm} has no token"))
    }

    /// The error for a 401 when no credentials were found.
    pub fn no_creds(&self) -> String {
        let files: Vec<String> = default_auth_files()
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        format!(
            "registry {} requires authentication and no credentials for it were found (give --authfile, or log in; looked in {})",
            self.registry,
            files.join(", ")
        )
    }

    /// The error for a 401 after authenticating.
    pub fn rejected(&self) -> String {
        match &self.creds {
            Some(c) => format!(
                "registry {} rejected the credentials for user `{}` from {}",
                self.registry,
                c.username,
                c.source.display()
            ),
            None => format!(
                "registry {} refused anonymous access; {}",
                self.registry,
                self.no_creds()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        assert_eq!(
            parse_challenge(r#"Basic realm="test-registry""#),
            Some(Challenge::Basic)
        );
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull,push""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/alpine:pull,push".into()),
            })
        );
        assert_eq!(
            parse_challenge("Bearer realm=https://t/x, service=s"),
            Some(Challenge::Bearer {
                realm: "https://t/x".into(),
                service: Some("s".into()),
                scope: None
            })
        );
        assert_eq!(parse_challenge("Bearer service=s"), None);
        assert_eq!(parse_challenge("Negotiate"), None);
    }

    #[test]
    fn auth_file_matching() {
        let b = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let text = format!(
            r#"{{"auths":{{
                "https://reg.example:5000":{{"auth":"{}"}},
                "quay.io/team":{{"auth":"{}"}},
                "quay.io":{{"auth":"{}"}},
                "https://index.docker.io/v1/":{{"auth":"{}"}},
                "empty.io":{{"auth":""}}
            }}}}"#,
            b("u1:p:1"),
            b("team:pw"),
            b("any:pw"),
            b("hub:pw")
        );
        let f = Path::new("/x/auth.json");
        let get = |r: &str, repo: &str| {
            from_text(&text, f, r, repo)
                .unwrap()
                .map(|c| format!("{}:{}", c.username, c.password))
        };
        assert_eq!(get("reg.example:5000", "a/b").as_deref(), Some("u1:p:1"));
        assert_eq!(get("quay.io", "team/app").as_deref(), Some("team:pw"));
        assert_eq!(get("quay.io", "other/app").as_deref(), Some("any:pw"));
        assert_eq!(
            get("docker.io", "library/alpine").as_deref(),
            Some("hub:pw")
        );
        assert_eq!(get("empty.io", "x"), None);
        assert_eq!(get("reg.example", "x"), None);
        let c = from_text(&text, f, "quay.io", "x").unwrap().unwrap();
        assert!(
            !format!("{c:?}").contains("pw"),
            "Debug must not show secrets"
        );
        assert!(from_text("{", f, "a", "b").is_err());
    }
}
