//! Mirror override (`--mirror URL`, `[build] mirror = "URL"`), as mkosi's
//! `Mirror=` and osbuild's repo overrides: point the distro's repos at
//! another copy of the same tree (a local mirror, a caching proxy, a test
//! server) without restating every repo.
//!
//! Each distro repo says where its mirror root ends (`mirror_root` in
//! `distros/*.toml`, e.g. `https://repo.almalinux.org/almalinux/`); the
//! rest of its base URL (`$releasever/BaseOS/$basearch/os/`) is the layout
//! every AlmaLinux mirror shares, and is kept. Mirrorlists and metalinks
//! are dropped: they would lead back to the public mirrors. Manifest repos
//! are the user's own and are never rewritten.

/// Checks a mirror URL and returns it with exactly one trailing slash.
pub fn parse(url: &str) -> Result<String, String> {
    let u = url.trim();
    if u.is_empty() {
        return Err("mirror URL is empty".into());
    }
    if u.chars().any(char::is_whitespace) {
        return Err(format!("mirror URL \"{u}\" contains whitespace"));
    }
    if u.contains('?') || u.contains('#') {
        return Err(format!(
            "mirror URL \"{u}\" has a query or fragment; give the directory that holds $releasever/"
        ));
    }
    let Some((scheme, rest)) = u.split_once("://") else {
        return Err(format!(
            "mirror URL \"{u}\" has no scheme; want http://, https:// or file://"
        ));
    };
    match scheme {
        "http" | "https" => {
            let host = rest.split('/').next().unwrap_or("");
            // `[::1]:8080`, `host:8080`, `host`.
            let (name, port) = match host.strip_prefix('[') {
                Some(v6) => match v6.split_once(']') {
                    Some((a, tail)) => (a, tail.strip_prefix(':')),
                    None => ("", None),
                },
                None => match host.split_once(':') {
                    Some((h, p)) => (h, Some(p)),
                    None => (host, None),
                },
            };
            if name.is_empty() || host.contains('@') {
                return Err(format!("mirror URL \"{u}\" has no host"));
            }
            if let Some(p) = port {
                if p.parse::<u16>().is_err() {
                    return Err(format!("mirror URL \"{u}\" has a bad port \"{p}\""));
                }
            }
        }
        "file" => {
            if !rest.starts_with('/') {
                return Err(format!(
                    "mirror URL \"{u}\" is not an absolute file:// path (file:///srv/mirror/)"
                ));
            }
        }
        other => {
            return Err(format!(
            "mirror URL \"{u}\": unsupported scheme \"{other}\"; want http://, https:// or file://"
        ))
        }
    }
    Ok(format!("{}/", u.trim_end_matches('/')))
}

/// `url` with its `root` prefix replaced by `mirror` (both ending in `/`);
/// None when `url` is not under `root`.
pub fn rewrite(url: &str, root: &str, mirror: &str) -> Option<String> {
    url.strip_prefix(root).map(|rest| format!("{mirror}{rest}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_urls() {
        let ok = [
            (
                "http://127.0.0.1:8080/almalinux",
                "http://127.0.0.1:8080/almalinux/",
            ),
            (
                "https://mirror.example/almalinux///",
                "https://mirror.example/almalinux/",
            ),
            ("https://mirror.example", "https://mirror.example/"),
            (
                "file:///srv/mirror/almalinux/",
                "file:///srv/mirror/almalinux/",
            ),
            ("http://[::1]:8080/a", "http://[::1]:8080/a/"),
        ];
        for (u, want) in ok {
            assert_eq!(parse(u).as_deref(), Ok(want), "{u}");
        }
        let bad = [
            ("", "empty"),
            ("mirror.example/almalinux", "no scheme"),
            (
                "ftp://mirror.example/almalinux",
                "unsupported scheme \"ftp\"",
            ),
            ("https:///almalinux", "no host"),
            ("http://m.example:99999/", "bad port"),
            ("http://m.example:x/", "bad port"),
            ("file://srv/mirror", "absolute"),
            ("https://m.example/a b", "whitespace"),
            ("https://m.example/?x=1", "query"),
        ];
        for (u, want) in bad {
            let e = parse(u).unwrap_err();
            assert!(e.contains(want), "{u}: {e}");
        }
    }

    #[test]
    fn rewrites_keep_the_tree_layout() {
        assert_eq!(
            rewrite(
                "https://repo.almalinux.org/almalinux/$releasever/BaseOS/$basearch/os/",
                "https://repo.almalinux.org/almalinux/",
                "http://127.0.0.1:8080/mirror/",
            )
            .as_deref(),
            Some("http://127.0.0.1:8080/mirror/$releasever/BaseOS/$basearch/os/")
        );
        assert_eq!(
            rewrite(
                "https://other.example/x/",
                "https://repo.almalinux.org/almalinux/",
                "http://m/"
            ),
            None
        );
    }
}
