//! The downloader against a misbehaving HTTP server on 127.0.0.1: every
//! fetch either completes with checksummed, signature-verified files or
//! fails naming the package and the reason, and the cache never holds a
//! corrupt or unverified entry at a final name.

mod common;

use alma_image_builder::fetch::{self, Cache, Checksum, FetchOptions, Item};
use alma_image_builder::progress::NoProgress;
use common::fixtures::fixture_root;
use common::httpd::{Fault, Server};
use sha2::Digest;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn opts() -> FetchOptions {
    FetchOptions {
        retries: 2,
        backoff: Duration::from_millis(10),
        per_host: 4,
        total: 8,
        read_timeout: Duration::from_secs(10),
    }
}

fn sha256(p: &Path) -> String {
    hex::encode(sha2::Sha256::digest(std::fs::read(p).unwrap()))
}

fn key() -> PathBuf {
    fixture_root().join("keys/RPM-GPG-KEY-fixture")
}

fn main_repo() -> PathBuf {
    fixture_root().join("repos/main/x86_64")
}

/// An item for a file of `dir`, served by each of `servers` in order.
fn item(dir: &Path, file: &str, servers: &[&Server], keys: Option<Vec<PathBuf>>) -> Item {
    let p = dir.join(file);
    Item {
        name: file.trim_end_matches(".rpm").to_string(),
        urls: servers
            .iter()
            .map(|s| format!("{}{file}", s.base))
            .collect(),
        checksum: Checksum {
            kind: "sha256".into(),
            hex: sha256(&p),
        },
        size: Some(std::fs::metadata(&p).unwrap().len()),
        keys,
    }
}

fn busybox() -> String {
    std::fs::read_dir(main_repo())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with("busybox-"))
        .unwrap()
}

/// Every visible cache entry is complete, verified and has its sidecar;
/// nothing is left in tmp/.
fn assert_cache_sound(cache: &Cache) {
    let rpms = cache.rpms_dir();
    for dir in [rpms.clone(), rpms.join("unverified")] {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "rpm") {
                let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
                assert_eq!(sha256(&p), stem, "{} is corrupt", p.display());
                assert!(
                    p.with_extension("json").is_file(),
                    "{} has no sidecar",
                    p.display()
                );
            }
        }
    }
    let tmp_files: Vec<_> = walk(&rpms.join("tmp"));
    assert!(tmp_files.is_empty(), "left in tmp: {tmp_files:?}");
}

fn walk(p: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(p) else {
        return vec![];
    };
    rd.flatten()
        .flat_map(|e| {
            if e.path().is_dir() {
                walk(&e.path())
            } else {
                vec![e.path()]
            }
        })
        .collect()
}

fn cache() -> Cache {
    Cache::open(Some(&tempfile::tempdir().unwrap().keep())).unwrap()
}

fn fetch_ok(items: &[Item], c: &Cache) -> Vec<PathBuf> {
    let r = fetch::fetch_all(items, c, &opts(), &NoProgress);
    assert_cache_sound(c);
    let paths = r.unwrap_or_else(|e| panic!("{e:#}"));
    for (i, p) in items.iter().zip(&paths) {
        assert_eq!(sha256(p), i.checksum.hex);
    }
    paths
}

fn fetch_err(items: &[Item], c: &Cache) -> String {
    let r = fetch::fetch_all(items, c, &opts(), &NoProgress);
    assert_cache_sound(c);
    format!("{:#}", r.expect_err("fetch should fail"))
}

#[test]
fn dropped_connection_is_retried() {
    let s = Server::start(main_repo());
    let f = busybox();
    s.fail(&f, &[Fault::Drop, Fault::Drop]);
    let c = cache();
    fetch_ok(&[item(&main_repo(), &f, &[&s], Some(vec![key()]))], &c);
    assert_eq!(s.log().len(), 3);
}

#[test]
fn truncated_body_resumes_with_range() {
    let s = Server::start(main_repo());
    let f = busybox();
    s.fail(&f, &[Fault::Truncate]);
    let c = cache();
    fetch_ok(&[item(&main_repo(), &f, &[&s], Some(vec![key()]))], &c);
    let log = s.log();
    assert_eq!(log.len(), 2, "{log:?}");
    let half = std::fs::metadata(main_repo().join(&f)).unwrap().len() / 2;
    assert_eq!(
        log[1].1.as_deref(),
        Some(format!("bytes={half}-").as_str()),
        "{log:?}"
    );
}

#[test]
fn wrong_bytes_on_the_first_mirror_fail_over() {
    let (a, b) = (Server::start(main_repo()), Server::start(main_repo()));
    let f = busybox();
    a.always(&f, Fault::Garbage);
    let c = cache();
    fetch_ok(&[item(&main_repo(), &f, &[&a, &b], Some(vec![key()]))], &c);
    assert_eq!(
        a.log().len(),
        1,
        "a checksum mismatch is not retried on the same mirror"
    );
    assert_eq!(b.log().len(), 1);
}

#[test]
fn http_errors_fail_over_to_the_next_mirror() {
    for status in [404, 503] {
        let (a, b) = (Server::start(main_repo()), Server::start(main_repo()));
        let f = busybox();
        a.always(&f, Fault::Status(status));
        let c = cache();
        fetch_ok(&[item(&main_repo(), &f, &[&a, &b], Some(vec![key()]))], &c);
        // 404 moves on at once; 503 is retried first.
        let want = if status == 404 { 1 } else { 3 };
        assert_eq!(a.log().len(), want, "{status}");
    }
}

#[test]
fn all_mirrors_bad_is_a_clear_error() {
    let (a, b) = (Server::start(main_repo()), Server::start(main_repo()));
    let f = busybox();
    a.always(&f, Fault::Status(404));
    b.always(&f, Fault::Garbage);
    let c = cache();
    let e = fetch_err(&[item(&main_repo(), &f, &[&a, &b], Some(vec![key()]))], &c);
    assert!(e.contains(f.trim_end_matches(".rpm")), "{e}");
    assert!(e.contains(&format!("{}{f}: HTTP 404", a.base)), "{e}");
    assert!(
        e.contains(&format!("{}{f}: sha256 mismatch", b.base)),
        "{e}"
    );
}

#[test]
fn slow_server_completes() {
    let s = Server::start(main_repo());
    let f = busybox();
    s.always(&f, Fault::Slow(Duration::from_millis(5)));
    fetch_ok(
        &[item(&main_repo(), &f, &[&s], Some(vec![key()]))],
        &cache(),
    );
}

#[test]
fn unsigned_tampered_and_foreign_key_packages_are_refused() {
    let neg = fixture_root().join("repos/negative/x86_64");
    let s = Server::start(neg.clone());
    let names: Vec<String> = std::fs::read_dir(&neg)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".rpm"))
        .collect();
    let items: Vec<Item> = names
        .iter()
        .map(|n| item(&neg, n, &[&s], Some(vec![key()])))
        .collect();
    let c = cache();
    let e = fetch_err(&items, &c);
    assert!(
        e.contains("fixture-unsigned-1.0-1.noarch: refused: not signed"),
        "{e}"
    );
    assert!(
        e.contains("fixture-tampered-1.0-1.noarch: refused:") && e.contains("tampered"),
        "{e}"
    );
    // A good package signed by a key that is not the repo's.
    let alma = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("distros/keys");
    let wrong: Vec<PathBuf> = std::fs::read_dir(&alma)
        .unwrap()
        .map(|e| e.unwrap().path())
        .take(1)
        .collect();
    let m = Server::start(main_repo());
    let e = fetch_err(&[item(&main_repo(), &busybox(), &[&m], Some(wrong))], &c);
    assert!(e.contains("which is not among the repo's keys"), "{e}");
    assert!(walk(&c.rpms_dir())
        .iter()
        .all(|p| !p.to_string_lossy().ends_with(".rpm")));
}

#[test]
fn gpgcheck_off_stays_out_of_the_verified_cache() {
    let neg = fixture_root().join("repos/negative/x86_64");
    let s = Server::start(neg.clone());
    let c = cache();
    let paths = fetch_ok(
        &[item(&neg, "fixture-unsigned-1.0-1.noarch.rpm", &[&s], None)],
        &c,
    );
    assert!(
        paths[0].starts_with(c.rpms_dir().join("unverified")),
        "{paths:?}"
    );
    assert!(std::fs::read_dir(c.rpms_dir())
        .unwrap()
        .flatten()
        .all(|e| e.path().extension().is_none_or(|x| x != "rpm")));
}

#[test]
fn everything_in_parallel_then_all_from_cache() {
    let s = Server::start(main_repo());
    let items: Vec<Item> = std::fs::read_dir(main_repo())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".rpm"))
        .map(|n| item(&main_repo(), &n, &[&s], Some(vec![key()])))
        .collect();
    assert!(items.len() > 60, "{}", items.len());
    let c = cache();
    fetch_ok(&items, &c);
    let before = s.log().len();
    assert_eq!(before, items.len());
    fetch_ok(&items, &c);
    assert_eq!(
        s.log().len(),
        before,
        "second run must be served from the cache"
    );
}
