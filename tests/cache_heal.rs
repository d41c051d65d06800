//! The cache heals itself: a damaged package, repodata file or solver
//! cache is noticed before it is used, evicted with a warning naming it,
//! and fetched or rebuilt, so the next build succeeds instead of failing
//! the same way until someone runs `cache prune`.

mod common;

use common::cli::{s, text, Env};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

const TREE: &str = r#"
name = "heal"
distro = "fixture"
architectures = ["x86_64"]

[[packages]]
name = "fixture-weak"

[[output]]
type = "tar"
"#;

fn files_with_suffix(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = walk(dir)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    v.sort();
    v
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        let t = e.file_type().unwrap();
        if t.is_dir() {
            out.extend(walk(&p));
        } else if t.is_file() {
            out.push(p);
        }
    }
    out
}

fn sha256(p: &Path) -> String {
    let o = std::process::Command::new("sha256sum")
        .arg(p)
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// Overwrites bytes in the middle of `p`, keeping its size.
fn damage(p: &Path) {
    let len = std::fs::metadata(p).unwrap().len();
    let mut f = std::fs::OpenOptions::new().write(true).open(p).unwrap();
    f.seek(SeekFrom::Start(len / 2)).unwrap();
    f.write_all(&[0x5a; 64]).unwrap();
}

#[test]
fn a_damaged_cached_package_is_evicted_and_fetched_again() {
    let env = Env::new();
    let m = env.manifest("heal.toml", TREE);
    let out = env.path("out");
    let o = env.run(&["build", "-o", s(&out), s(&m)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let first = std::fs::read(out.join("heal-x86_64.tar")).unwrap();

    let rpms = files_with_suffix(&env.path("cache/rpms-v1"), ".rpm");
    let victim = rpms
        .iter()
        .filter(|p| !p.to_string_lossy().contains("/rpms-v1/tmp/"))
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap()
        .clone();
    damage(&victim);
    assert_ne!(
        sha256(&victim),
        victim.file_stem().unwrap().to_str().unwrap()
    );

    let out2 = env.path("out2");
    let o = env.run(&["build", "--locked", "-o", s(&out2), s(&m)]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(
        t.contains("is damaged") && t.contains(victim.to_str().unwrap()),
        "the warning names the damaged entry: {t}"
    );
    // Healed: every entry hashes to its name again, and the artifact is
    // the same bytes as before the damage.
    for p in files_with_suffix(&env.path("cache/rpms-v1"), ".rpm") {
        if !p.to_string_lossy().contains("/rpms-v1/tmp/") {
            assert_eq!(sha256(&p), p.file_stem().unwrap().to_str().unwrap());
        }
    }
    assert_eq!(std::fs::read(out2.join("heal-x86_64.tar")).unwrap(), first);

    // A healthy cache says nothing.
    let o = env.run(&["build", "--locked", "-o", s(&out2), s(&m)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!text(&o).contains("damaged"), "{}", text(&o));
}

#[test]
fn damaged_repodata_and_solver_cache_are_rebuilt() {
    let env = Env::new();
    let m = env.manifest("heal.toml", TREE);
    let o = env.run(&["lock", s(&m)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let lock = std::fs::read_to_string(env.path("heal.lock")).unwrap();

    let md = env.path("cache/repodata-v1");
    let solv = files_with_suffix(&md, ".solv");
    assert!(!solv.is_empty(), "a solver cache was written");
    let primary: Vec<PathBuf> = files_with_suffix(&md, "primary.xml.gz")
        .into_iter()
        .chain(files_with_suffix(&md, "primary.xml.zst"))
        .chain(files_with_suffix(&md, "primary.xml.xz"))
        .chain(files_with_suffix(&md, "primary.xml"))
        .collect();
    assert!(
        !primary.is_empty(),
        "primary metadata cached: {:?}",
        walk(&md)
    );
    for p in solv.iter().chain(&primary) {
        damage(p);
    }

    let o = env.run(&["lock", s(&m)]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(t.contains("solver cache"), "the .solv is named: {t}");
    assert!(t.contains("primary metadata"), "the primary is named: {t}");
    assert_eq!(
        std::fs::read_to_string(env.path("heal.lock")).unwrap(),
        lock,
        "same lock from the healed cache"
    );
    // The rebuilt .solv is sealed again: a third lock is quiet.
    let o = env.run(&["lock", s(&m)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!text(&o).contains("damaged"), "{}", text(&o));
}

/// Two builds of different manifests share one cold cache, at once: both
/// succeed and the cache is consistent afterwards (every package hashes
/// to its name and has its sidecar, no download left in flight).
#[test]
fn two_builds_share_one_cache_at_once() {
    let env = Env::new();
    let a = env.manifest("a.toml", TREE);
    let b = env.manifest(
        "b.toml",
        &TREE
            .replace("name = \"heal\"", "name = \"other\"")
            .replace("fixture-weak", "fixture-scriptlets"),
    );
    let run = |m: PathBuf, out: PathBuf| {
        let dir = env.dir.path().to_path_buf();
        std::thread::spawn(move || {
            common::cli::image_builder(&dir, &["build", "-o", s(&out), s(&m)])
        })
    };
    let ja = run(a, env.path("out-a"));
    let jb = run(b, env.path("out-b"));
    for (j, f) in [
        (ja, "out-a/heal-x86_64.tar"),
        (jb, "out-b/other-x86_64.tar"),
    ] {
        let o = j.join().unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        assert!(env.path(f).is_file());
    }
    let rpms = env.path("cache/rpms-v1");
    let mut n = 0;
    for p in files_with_suffix(&rpms, ".rpm") {
        if p.to_string_lossy().contains("/rpms-v1/tmp/") {
            panic!("a download left in flight: {}", p.display());
        }
        assert_eq!(sha256(&p), p.file_stem().unwrap().to_str().unwrap());
        let side: serde_json::Value =
            serde_json::from_slice(&std::fs::read(p.with_extension("json")).unwrap()).unwrap();
        assert!(side["nevra"].is_string(), "{side}");
        n += 1;
    }
    assert!(n >= 8, "both package sets cached: {n}");
    for p in files_with_suffix(&env.path("cache/repodata-v1"), ".solv") {
        let sum = std::fs::read_to_string(format!("{}.sha256", p.display())).unwrap();
        assert_eq!(sum.trim(), sha256(&p));
    }
}
