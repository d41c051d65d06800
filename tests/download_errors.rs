//! Permanent download errors are not retried, transient ones are, and
//! every error says why (the cause under reqwest's "error sending
//! request"), for metadata and keys (`resolve::repodata::sync`) as for
//! package downloads (`fetch::download_file`, the same `fetch_one`).
//! Real servers on 127.0.0.1: the test httpd, and `openssl s_server` for
//! a certificate refusal.

mod common;

use alma_image_builder::fetch::{self, Cache, FetchOptions};
use alma_image_builder::plan::{PlanRepo, RepoKey};
use alma_image_builder::resolve::repodata;
use common::httpd::{Fault, Server};
use sha2::Digest;
use std::path::Path;
use std::time::Duration;

const KEY: &str = "RPM-GPG-KEY-AlmaLinux-10";

fn quick() -> FetchOptions {
    FetchOptions {
        retries: 2,
        backoff: Duration::from_millis(10),
        read_timeout: Duration::from_secs(10),
        ..FetchOptions::default()
    }
}

/// An empty but valid rpm-md repo and a key, under a fresh directory.
fn tiny_repo() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let rd = d.path().join("repodata");
    std::fs::create_dir_all(&rd).unwrap();
    let primary = br#"<?xml version="1.0" encoding="UTF-8"?>
<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="0">
</metadata>
"#;
    std::fs::write(rd.join("primary.xml"), primary).unwrap();
    let sum = hex::encode(sha2::Sha256::digest(primary));
    std::fs::write(
        rd.join("repomd.xml"),
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo">
  <revision>1</revision>
  <data type="primary"><checksum type="sha256">{sum}</checksum><location href="repodata/primary.xml"/><size>{}</size></data>
</repomd>
"#,
            primary.len()
        ),
    )
    .unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("distros/keys")
            .join(KEY),
        d.path().join(KEY),
    )
    .unwrap();
    d
}

fn repo(base: &str, key: &str) -> PlanRepo {
    PlanRepo {
        id: "t".into(),
        name: "t".into(),
        origin: "manifest",
        baseurls: vec![base.to_string()],
        mirrorlist: None,
        metalink: None,
        gpgkeys: vec![RepoKey::Url {
            url: key.to_string(),
        }],
        gpgcheck: true,
        repo_gpgcheck: false,
        priority: 99,
        module_hotfixes: false,
    }
}

fn cache() -> (tempfile::TempDir, Cache) {
    let d = tempfile::tempdir().unwrap();
    let c = Cache::open(Some(d.path())).unwrap();
    (d, c)
}

fn requests(s: &Server, path: &str) -> usize {
    s.log().iter().filter(|(p, _)| p == path).count()
}

#[test]
fn repomd_404_is_tried_once_and_named() {
    let d = tiny_repo();
    let s = Server::start(d.path().to_path_buf());
    s.always("repodata/repomd.xml", Fault::Status(404));
    let (_d, c) = cache();
    let e = format!(
        "{:#}",
        repodata::sync(&repo(&s.base, &format!("{}{KEY}", s.base)), &c).unwrap_err()
    );
    assert!(e.contains("404"), "{e}");
    assert!(e.contains(&format!("{}repodata/repomd.xml", s.base)), "{e}");
    assert!(!e.contains("attempts"), "{e}");
    assert_eq!(requests(&s, "repodata/repomd.xml"), 1);
}

#[test]
fn key_404_is_tried_once_and_named() {
    let d = tiny_repo();
    let s = Server::start(d.path().to_path_buf());
    let url = format!("{}RPM-GPG-KEY-missing", s.base);
    let (_d, c) = cache();
    let e = format!(
        "{:#}",
        repodata::sync(&repo(&s.base, &url), &c).unwrap_err()
    );
    assert!(e.contains("fetching gpgkey") && e.contains(&url), "{e}");
    assert!(e.contains("404"), "{e}");
    assert_eq!(requests(&s, "RPM-GPG-KEY-missing"), 1);
}

#[test]
fn repomd_503_then_200_still_syncs() {
    let d = tiny_repo();
    let s = Server::start(d.path().to_path_buf());
    s.fail("repodata/repomd.xml", &[Fault::Status(503)]);
    let (_d, c) = cache();
    let synced = repodata::sync(&repo(&s.base, &format!("{}{KEY}", s.base)), &c)
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(synced.revision.as_deref(), Some("1"));
    assert_eq!(requests(&s, "repodata/repomd.xml"), 2);
}

#[test]
fn a_key_name_where_a_url_belongs_fails_at_once_saying_so() {
    let d = tiny_repo();
    let s = Server::start(d.path().to_path_buf());
    let (_d, c) = cache();
    let e = format!("{:#}", repodata::sync(&repo(&s.base, KEY), &c).unwrap_err());
    assert!(e.contains(&format!("{KEY}: not a URL")), "{e}");
    assert!(
        !e.contains("builder error") && !e.contains("attempts"),
        "{e}"
    );
}

fn fetch_err(url: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let r = fetch::download_file(&[url.to_string()], &dir.path().join("f"), None, &quick());
    let e = format!("{:#}", r.unwrap_err());
    eprintln!("{url}: {e}");
    e
}

#[test]
fn refused_connections_are_retried_and_say_why() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let e = fetch_err(&format!("http://127.0.0.1:{port}/x"));
    assert!(e.contains("(after 3 attempts)"), "{e}");
    assert!(e.to_ascii_lowercase().contains("connection refused"), "{e}");
}

#[test]
fn unsupported_schemes_are_not_fetched() {
    let e = fetch_err("ftp://127.0.0.1/x");
    assert!(e.contains("unsupported URL scheme \"ftp\""), "{e}");
}

#[test]
fn unknown_host_names_say_dns() {
    // `.invalid` never resolves (RFC 2606). Without a resolver the answer
    // may be a temporary failure, which is retried; either way the cause
    // is in the message.
    let e = fetch_err("http://image-builder-test.invalid/x");
    assert!(e.contains("dns error"), "{e}");
    if e.contains("not known") {
        assert!(
            !e.contains("attempts"),
            "a name that does not exist is not retried: {e}"
        );
    }
}

/// `openssl s_server` with a self-signed certificate: rustls refuses it,
/// once, naming the certificate problem.
#[test]
fn certificate_refusal_is_not_retried() {
    if std::process::Command::new("openssl")
        .arg("version")
        .output()
        .is_err()
    {
        common::skip::skip("no openssl");
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let (key, cert) = (d.path().join("k.pem"), d.path().join("c.pem"));
    let o = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=127.0.0.1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut server = Server2(
        std::process::Command::new("openssl")
            .args(["s_server", "-quiet", "-www", "-accept"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("-cert")
            .arg(&cert)
            .arg("-key")
            .arg(&key)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let up = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(50));
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    assert!(up, "s_server did not start");
    let e = fetch_err(&format!("https://127.0.0.1:{port}/x"));
    let _ = server.0.kill();
    assert!(e.contains("certificate"), "{e}");
    assert!(!e.contains("attempts"), "{e}");
}

/// Kills the child on drop, so a failed assertion leaves no server.
struct Server2(std::process::Child);

impl Drop for Server2 {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
