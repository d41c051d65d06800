//! Image references as skopeo spells them: `docker://HOST/REPO:TAG`,
//! `oci:DIR:TAG`, `oci-archive:FILE:TAG`.
//!
//! Parsing is strict and up front, so a typo in a reference is a bad-input
//! error (exit 2) naming the reference and the rule it broke, before any
//! network traffic or file is touched. Docker Hub short names are expanded
//! the way skopeo does (`docker://alpine` → `docker.io/library/alpine:latest`)
//! so credentials and URLs are looked up under one canonical name.

use crate::error::InputError;
use std::fmt;
use std::path::PathBuf;

/// Where an image is read from or written to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    /// A registry: `docker://HOST[:PORT]/REPO[:TAG][@DIGEST]`. A reference
    /// with neither tag nor digest gets the tag `latest`, as in skopeo.
    Docker {
        registry: String,
        repository: String,
        tag: Option<String>,
        digest: Option<String>,
    },
    /// An OCI image layout directory: `oci:DIR[:TAG]`.
    OciDir { path: PathBuf, tag: Option<String> },
    /// A tar of an OCI image layout: `oci-archive:FILE[:TAG]`.
    OciArchive { path: PathBuf, tag: Option<String> },
}

/// Docker Hub's canonical registry name.
pub const DOCKER_HUB: &str = "docker.io";

fn bad(s: &str, why: impl fmt::Display) -> InputError {
    InputError(format!("invalid image reference `{s}`: {why}"))
}

/// Parses a reference; see [`Reference`] for the forms accepted.
pub fn parse(s: &str) -> Result<Reference, InputError> {
    let Some((transport, rest)) = s.split_once(':') else {
        return Err(bad(
            s,
            "no transport (expected docker://, oci: or oci-archive:)",
        ));
    };
    match transport {
        "docker" => {
            let Some(rest) = rest.strip_prefix("//") else {
                return Err(bad(s, "docker references start with docker://"));
            };
            parse_docker(s, rest)
        }
        "oci" | "oci-archive" => {
            // As containers/image does: the path ends at the first colon.
            let (path, tag) = match rest.split_once(':') {
                Some((p, t)) => (p, Some(t)),
                None => (rest, None),
            };
            if path.is_empty() {
                return Err(bad(s, format!("{transport}: needs a path")));
            }
            let tag = match tag {
                None | Some("") => None,
                Some(t) => {
                    check_ref_name(t).map_err(|w| bad(s, w))?;
                    Some(t.to_string())
                }
            };
            let path = PathBuf::from(path);
            Ok(if transport == "oci" {
                Reference::OciDir { path, tag }
            } else {
                Reference::OciArchive { path, tag }
            })
        }
        other => Err(bad(
            s,
            format!("unknown transport `{other}` (expected docker://, oci: or oci-archive:)"),
        )),
    }
}

fn parse_docker(s: &str, rest: &str) -> Result<Reference, InputError> {
    if rest.is_empty() {
        return Err(bad(s, "docker:// needs HOST/REPOSITORY"));
    }
    let (name_tag, digest) = match rest.split_once('@') {
        Some((n, d)) => {
            check_digest(d).map_err(|w| bad(s, w))?;
            (n, Some(d.to_string()))
        }
        None => (rest, None),
    };
    // A tag is after the last colon that comes after the last slash (a
    // colon before it is a port).
    let last_slash = name_tag.rfind('/').map(|i| i + 1).unwrap_or(0);
    let (name, tag) = match name_tag[last_slash..].rfind(':') {
        Some(i) => {
            let i = last_slash + i;
            (&name_tag[..i], Some(name_tag[i + 1..].to_string()))
        }
        None => (name_tag, None),
    };
    if let Some(t) = &tag {
        check_tag(t).map_err(|w| bad(s, w))?;
    }
    let (registry, repository) = split_domain(name);
    check_host(&registry).map_err(|w| bad(s, w))?;
    check_repository(&repository).map_err(|w| bad(s, w))?;
    let tag = if tag.is_none() && digest.is_none() {
        Some("latest".to_string())
    } else {
        tag
    };
    Ok(Reference::Docker {
        registry,
        repository,
        tag,
        digest,
    })
}

/// `HOST/REPO` or a Docker Hub short name → (registry, repository). The
/// first component is a registry when it has a dot or a port or is
/// `localhost`, as in docker and skopeo.
fn split_domain(name: &str) -> (String, String) {
    let (first, rest) = match name.split_once('/') {
        Some((f, r)) if f.contains(['.', ':']) || f == "localhost" || f.starts_with('[') => {
            (f.to_string(), r.to_string())
        }
        _ => (DOCKER_HUB.to_string(), name.to_string()),
    };
    let first = if first == "index.docker.io" {
        DOCKER_HUB.to_string()
    } else {
        first
    };
    if first == DOCKER_HUB && !rest.contains('/') {
        return (first, format!("library/{rest}"));
    }
    (first, rest)
}

fn check_host(h: &str) -> Result<(), String> {
    let (host, port) = if let Some(r) = h.strip_prefix('[') {
        match r.split_once(']') {
            Some((ip, p)) if !ip.is_empty() => (ip, p.strip_prefix(':')),
            _ => return Err(format!("bad registry host `{h}`")),
        }
    } else {
        match h.split_once(':') {
            Some((n, p)) => (n, Some(p)),
            None => (h, None),
        }
    };
    let host_ok = !host.is_empty()
        && (h.starts_with('[')
            || host.split('.').all(|l| {
                !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            }));
    if !host_ok {
        return Err(format!("bad registry host `{h}`"));
    }
    if let Some(p) = port {
        if p.parse::<u16>().is_err() {
            return Err(format!("bad port in registry host `{h}`"));
        }
    }
    Ok(())
}

/// Repository components: lowercase alphanumerics joined by `.`, `_`,
/// `__` or runs of `-`, separated by `/` (the distribution spec's grammar).
fn check_repository(r: &str) -> Result<(), String> {
    if r.is_empty() {
        return Err("no repository name".into());
    }
    if r.len() > 255 {
        return Err("repository name longer than 255 characters".into());
    }
    for comp in r.split('/') {
        if comp.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(format!("repository `{r}` must be lowercase"));
        }
        if !component_ok(comp) {
            return Err(format!(
                "bad repository component `{comp}` in `{r}` (lowercase letters, digits and . _ - between them)"
            ));
        }
    }
    Ok(())
}

fn component_ok(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.chars().all(|x| x == '-')) {
            return false;
        }
    }
    true
}

pub(crate) fn check_tag(t: &str) -> Result<(), String> {
    let ok = !t.is_empty()
        && t.len() <= 128
        && t.chars().enumerate().all(|(i, c)| {
            c.is_ascii_alphanumeric() || c == '_' || (i > 0 && (c == '.' || c == '-'))
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "bad tag `{t}` (letters, digits, _ . -, not starting with . or -, at most 128)"
        ))
    }
}

/// `sha256:` + 64 hex or `sha512:` + 128 hex, lowercase.
pub fn check_digest(d: &str) -> Result<(), String> {
    match crate::oci::layout::parse_digest(d) {
        Some(_) => Ok(()),
        None => Err(format!("bad digest `{d}` (expected sha256:<64 hex>)")),
    }
}

/// The image-layout spec's `org.opencontainers.image.ref.name` grammar:
/// alphanumeric runs joined by `-._:@+` (or `--`), components split by `/`.
fn check_ref_name(t: &str) -> Result<(), String> {
    let ok = !t.is_empty()
        && t.split('/').all(|comp| {
            let b = comp.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter()
                    .all(|&c| c.is_ascii_alphanumeric() || b"-._:@+".contains(&c))
        });
    if ok {
        Ok(())
    } else {
        Err(format!("bad tag `{t}`"))
    }
}

impl Reference {
    /// The tag, if the reference has one.
    pub fn tag(&self) -> Option<&str> {
        match self {
            Reference::Docker { tag, .. }
            | Reference::OciDir { tag, .. }
            | Reference::OciArchive { tag, .. } => tag.as_deref(),
        }
    }

    /// The same reference with another tag (and no digest).
    pub fn with_tag(&self, new: &str) -> Reference {
        let mut r = self.clone();
        match &mut r {
            Reference::Docker { tag, digest, .. } => {
                *tag = Some(new.to_string());
                *digest = None;
            }
            Reference::OciDir { tag, .. } | Reference::OciArchive { tag, .. } => {
                *tag = Some(new.to_string())
            }
        }
        r
    }
}

impl Reference {
    /// A docker reference pinned to `digest` (its tag dropped); layouts
    /// and archives are returned as they are (they are read by tag).
    pub fn with_digest(&self, d: &str) -> Reference {
        let mut r = self.clone();
        if let Reference::Docker { tag, digest, .. } = &mut r {
            *tag = None;
            *digest = Some(d.to_string());
        }
        r
    }

    /// `HOST/REPOSITORY` of a docker reference: the identity signatures
    /// and the image's own verification policy name.
    pub fn repository_name(&self) -> Option<String> {
        match self {
            Reference::Docker {
                registry,
                repository,
                ..
            } => Some(format!("{registry}/{repository}")),
            _ => None,
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reference::Docker {
                registry,
                repository,
                tag,
                digest,
            } => {
                write!(f, "docker://{registry}/{repository}")?;
                if let Some(t) = tag {
                    write!(f, ":{t}")?;
                }
                if let Some(d) = digest {
                    write!(f, "@{d}")?;
                }
                Ok(())
            }
            Reference::OciDir { path, tag } | Reference::OciArchive { path, tag } => {
                let t = if matches!(self, Reference::OciDir { .. }) {
                    "oci"
                } else {
                    "oci-archive"
                };
                write!(f, "{t}:{}", path.display())?;
                if let Some(tag) = tag {
                    write!(f, ":{tag}")?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(s: &str) -> String {
        parse(s).unwrap_or_else(|e| panic!("{s}: {e}")).to_string()
    }

    #[test]
    fn canonical_forms() {
        let d = format!("sha256:{}", "a".repeat(64));
        for (input, want) in [
            (
                "docker://alpine",
                "docker://docker.io/library/alpine:latest",
            ),
            ("docker://user/app:1", "docker://docker.io/user/app:1"),
            (
                "docker://index.docker.io/alpine",
                "docker://docker.io/library/alpine:latest",
            ),
            ("docker://localhost/x", "docker://localhost/x:latest"),
            (
                "docker://127.0.0.1:5000/a/b:v1.0",
                "docker://127.0.0.1:5000/a/b:v1.0",
            ),
            (
                "docker://quay.io/a/b-c__d.e",
                "docker://quay.io/a/b-c__d.e:latest",
            ),
            ("docker://[::1]:5000/x:t", "docker://[::1]:5000/x:t"),
            ("oci:/tmp/lay:v1", "oci:/tmp/lay:v1"),
            ("oci:out/lay", "oci:out/lay"),
            ("oci:out/lay:", "oci:out/lay"),
            ("oci-archive:a.tar:x/y", "oci-archive:a.tar:x/y"),
        ] {
            assert_eq!(canon(input), want, "{input}");
            assert_eq!(canon(want), want, "round trip of {want}");
        }
        let r = parse(&format!("docker://h:1/r@{d}")).unwrap();
        assert_eq!(
            r,
            Reference::Docker {
                registry: "h:1".into(),
                repository: "r".into(),
                tag: None,
                digest: Some(d.clone())
            }
        );
        assert_eq!(
            canon(&format!("docker://h.io/r:t@{d}")),
            format!("docker://h.io/r:t@{d}")
        );
    }

    #[test]
    fn rejects_with_reason() {
        for (input, why) in [
            ("docker://", "needs HOST/REPOSITORY"),
            ("foo:bar", "unknown transport `foo`"),
            ("nocolon", "no transport"),
            ("oci:", "needs a path"),
            ("oci-archive::t", "needs a path"),
            ("docker:alpine", "docker://"),
            ("docker://h.io/UPPER", "lowercase"),
            ("docker://h.io/a//b", "bad repository component"),
            ("docker://h.io/a-:t", "bad repository component"),
            ("docker://h.io/a:-t", "bad tag"),
            ("docker://h.io/a:", "bad tag"),
            ("docker://h.io:99999/a", "bad port"),
            ("docker://h.io/a@sha256:abc", "bad digest"),
            ("oci:d:bad tag", "bad tag"),
        ] {
            let e = parse(input).expect_err(input).to_string();
            assert!(e.contains(why), "{input}: {e}");
            assert!(e.contains(input), "{input}: {e}");
        }
    }
}
