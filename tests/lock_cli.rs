//! `image-builder lock` end to end against the fixture repos: the lockfile
//! round trip, `--check` and `build --locked` refusing a changed manifest,
//! unsatisfiable requests explained (text and JSON), repo_gpgcheck.

mod common;

use common::cli::{s, text, Env};
use common::fixtures::fixture_root;
use std::path::Path;
use std::process::Command;

const BASE: &str = r#"name = "locktest"
distro = "fixture"
architectures = ["x86_64", "aarch64"]

[[packages]]
name = "fixture-weak"

[[output]]
type = "tar"
"#;

#[test]
fn lock_writes_a_lockfile_that_round_trips_and_checks() {
    let env = Env::new();
    let m = env.manifest("m.toml", BASE);
    let o = env.run(&["lock", s(&m)]);
    assert!(o.status.success(), "{}", text(&o));
    let lock_path = env.dir.path().join("m.lock");
    let first = std::fs::read_to_string(&lock_path).unwrap();
    assert!(first.contains("version = 2"));
    assert!(
        first.contains("name = \"fixture-recommended\""),
        "weak dep locked"
    );
    assert!(first.contains("arch = \"aarch64\""));
    let l = alma_image_builder::resolve::lockfile::Lockfile::parse(&first, &lock_path).unwrap();
    assert_eq!(l.targets.len(), 2);
    for t in &l.targets {
        for p in &t.packages {
            assert!(
                p.checksum.starts_with("sha256:") && p.checksum.len() == 7 + 64,
                "{p:?}"
            );
            assert_eq!(p.key.len(), 16, "{p:?}");
            assert!(p.size > 0);
        }
    }
    // Same inputs, same bytes.
    let o = env.run(&["lock", s(&m)]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(&lock_path).unwrap(), first);
    // --check on an unchanged manifest.
    let o = env.run(&["lock", "--check", s(&m)]);
    assert!(o.status.success(), "{}", text(&o));

    // A changed manifest: --check and build --locked both refuse, naming it.
    env.manifest(
        "m.toml",
        &format!("{BASE}\n[[packages]]\nname = \"fixture-caps\"\n"),
    );
    for args in [vec!["lock", "--check"], vec!["build", "--locked", "-o"]] {
        let mut a = args.clone();
        let out = env.dir.path().join("out");
        if a.last() == Some(&"-o") {
            a.push(s(&out));
        }
        a.push(s(&m));
        let o = env.run(&a);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        let t = text(&o);
        assert!(t.contains("no longer matches"), "{t}");
        assert!(
            t.contains("x86_64/tar: manifest packages: added fixture-caps"),
            "{t}"
        );
        assert!(t.contains("image-builder lock"), "{t}");
    }
}

#[test]
fn lock_json_lists_every_package() {
    let env = Env::new();
    let m = env.manifest("j.toml", BASE);
    let o = env.run(&["--json", "lock", "--arch", "x86_64", s(&m)]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let t = &v["targets"][0];
    assert_eq!(t["arch"], "x86_64");
    let pkgs = t["packages"].as_array().unwrap();
    let weak = pkgs.iter().find(|p| p["name"] == "fixture-weak").unwrap();
    for k in ["epoch", "version", "release", "arch", "repo", "checksum"] {
        assert!(!weak[k].is_null(), "{k} missing in {weak}");
    }
    assert_eq!(weak["repo"], "fixture-main");
}

#[test]
fn unsatisfiable_requests_are_explained() {
    let env = Env::new();
    let m = env.manifest(
        "u.toml",
        r#"distro = "fixture"
architectures = ["x86_64"]
[[packages]]
name = "fixture-conflict-a"
[[packages]]
name = "fixture-conflict-b"
[[output]]
type = "tar"
"#,
    );
    let o = env.run(&["lock", s(&m)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("cannot be satisfied"), "{t}");
    assert!(
        t.contains("problem 1:") && t.contains("fixture-conflict"),
        "{t}"
    );
    assert!(t.contains("fix 1:"), "{t}");
    assert!(
        !env.dir.path().join("u.lock").exists(),
        "no lockfile on failure"
    );
    let o = env.run(&["--json", "lock", s(&m)]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let p = &v["problems"][0];
    assert!(p["text"].as_str().unwrap().contains("conflict"), "{v}");
    assert!(!p["solutions"].as_array().unwrap().is_empty(), "{v}");

    let m = env.manifest(
        "n.toml",
        "distro = \"fixture\"\narchitectures = [\"x86_64\"]\n[[packages]]\nname = \"nope-not-here\"\n[[output]]\ntype = \"tar\"\n",
    );
    let o = env.run(&["lock", s(&m)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("no package matches 'nope-not-here'"),
        "{}",
        text(&o)
    );
}

fn own_repo_manifest(url: &str, extra: &str) -> String {
    format!(
        r#"distro = "fixture"
architectures = ["x86_64"]
[build]
distro_repos = false
[[repositories]]
id = "mine"
baseurl = ["{url}"]
gpgkey = ["file://{key}"]
{extra}
[[packages]]
name = "busybox"
[[output]]
type = "tar"
"#,
        key = fixture_root().join("keys/RPM-GPG-KEY-fixture").display()
    )
}

#[test]
fn repo_gpgcheck_verifies_repomd_signatures() {
    let env = Env::new();
    // A copy of the fixture repo, so it can be tampered with.
    let repo = env.dir.path().join("repo");
    let src = fixture_root().join("repos/main/x86_64");
    let o = Command::new("cp")
        .arg("-r")
        .arg(&src)
        .arg(&repo)
        .output()
        .unwrap();
    assert!(o.status.success());
    let url = format!("file://{}/", repo.display());
    let m = env.manifest("g.toml", &own_repo_manifest(&url, "repo_gpgcheck = true"));
    let o = env.run(&["lock", s(&m)]);
    assert!(o.status.success(), "{}", text(&o));
    // Tamper: append a comment to repomd.xml; its signature no longer verifies.
    let md = repo.join("repodata/repomd.xml");
    let mut x = std::fs::read_to_string(&md).unwrap();
    x.push_str("<!-- tampered -->\n");
    std::fs::write(&md, x).unwrap();
    let o = env.run(&["lock", s(&m)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("repomd.xml signature"), "{}", text(&o));
    // Without repo_gpgcheck the same repo is read (its packages are still
    // checked one by one at fetch time).
    let m = env.manifest("h.toml", &own_repo_manifest(&url, ""));
    let o = env.run(&["lock", s(&m)]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn build_stops_before_resolving_when_a_stage_has_not_landed() {
    let env = Env::new();
    let m = env.manifest(
        "b.toml",
        &BASE.replace("type = \"tar\"", "type = \"iso-installer\""),
    );
    let out = env.dir.path().join("out");
    let o = env.run(&["build", "--arch", "x86_64", "-o", s(&out), s(&m)]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("has not landed"), "{}", text(&o));
    assert!(
        !text(&o).contains("resolving"),
        "refused before resolving: {}",
        text(&o)
    );
    assert!(!env.dir.path().join("b.lock").exists(), "no lock written");
    assert!(
        !out.exists() || std::fs::read_dir(&out).unwrap().count() == 0,
        "nothing half-written"
    );
}

#[test]
fn locked_build_needs_no_metadata() {
    let env = Env::new();
    let repo = env.dir.path().join("repo");
    let o = Command::new("cp")
        .arg("-r")
        .arg(fixture_root().join("repos/main/x86_64"))
        .arg(&repo)
        .output()
        .unwrap();
    assert!(o.status.success());
    let url = format!("file://{}/", repo.display());
    let m = env.manifest("l.toml", &own_repo_manifest(&url, ""));
    let o = env.run(&["lock", s(&m)]);
    assert!(o.status.success(), "{}", text(&o));
    // The metadata is gone and the cache is fresh: only the lock can help.
    std::fs::remove_dir_all(repo.join("repodata")).unwrap();
    std::fs::remove_dir_all(env.dir.path().join("cache")).unwrap();
    let out = env.dir.path().join("out");
    let o = env.run(&["build", "--locked", "-o", s(&out), s(&m)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let t = text(&o);
    assert!(out.join("l-x86_64.tar").is_file(), "{t}");
    assert!(
        !env.dir.path().join("cache/repodata-v1").exists(),
        "no metadata fetched: {t}"
    );
    // Without --locked the same build must re-resolve and so fails on the
    // missing metadata, naming the repo.
    let o = env.run(&["build", "-o", s(&out), s(&m)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("repo mine"), "{}", text(&o));
}

fn mirrored_manifest(kind: &str, list: &Path) -> String {
    format!(
        r#"distro = "fixture"
architectures = ["x86_64"]
[build]
distro_repos = false
[[repositories]]
id = "mirrored"
{kind} = "file://{list}"
gpgkey = ["file://{key}"]
[[packages]]
name = "busybox"
[[output]]
type = "tar"
"#,
        list = list.display(),
        key = fixture_root().join("keys/RPM-GPG-KEY-fixture").display()
    )
}

#[test]
fn mirrorlist_and_metalink_over_http_with_failover() {
    use common::httpd::Server;
    let env = Env::new();
    let repo = fixture_root().join("repos/main/x86_64");
    let dead = Server::start(env.dir.path().join("nothing-here"));
    let good = Server::start(repo.clone());
    // mirrorlist: a mirror that 404s everything, then a good one.
    let ml = env.dir.path().join("mirrorlist");
    std::fs::write(&ml, format!("# mirrors\n{}\n{}\n", dead.base, good.base)).unwrap();
    let m = env.manifest("ml.toml", &mirrored_manifest("mirrorlist", &ml));
    let o = env.run(&["lock", s(&m)]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(dead.log().iter().any(|(p, _)| p == "repodata/repomd.xml"));
    let lock = std::fs::read_to_string(env.dir.path().join("ml.lock")).unwrap();
    assert!(lock.contains(&good.base), "{lock}");

    // metalink: repomd.xml must match one of its hashes.
    let repomd = std::fs::read(repo.join("repodata/repomd.xml")).unwrap();
    let right = alma_image_builder::resolve::repodata::digest("sha256", &repomd).unwrap();
    for (hash, ok) in [(right.as_str(), true), ("00ff", false)] {
        let mlk = env.dir.path().join("metalink");
        std::fs::write(
            &mlk,
            format!(
                r#"<?xml version="1.0"?><metalink version="3.0" xmlns="http://www.metalinker.org/"><files><file name="repomd.xml">
<verification><hash type="sha256">{hash}</hash></verification>
<resources><url protocol="http">{}repodata/repomd.xml</url></resources></file></files></metalink>"#,
                good.base
            ),
        )
        .unwrap();
        let m = env.manifest("mlk.toml", &mirrored_manifest("metalink", &mlk));
        let o = env.run(&["lock", s(&m)]);
        assert_eq!(o.status.success(), ok, "{}", text(&o));
        if !ok {
            assert!(
                text(&o).contains("does not match the metalink"),
                "{}",
                text(&o)
            );
        }
    }
}

#[test]
fn distro_packages_false_leaves_out_the_default_sets() {
    let env = Env::new();
    let body = r#"name = "exact"
distro = "fixture"
architecture = "x86_64"

[build]
distro_packages = false

[[packages]]
name = "busybox"

[[output]]
type = "tar"

[[output]]
type = "qcow2"
size = "2 GiB"

[boot]
firmware = "uefi"
"#;
    let m = env.manifest("x.toml", body);
    let o = env.run(&["--json", "plan", s(&m)]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let chain = |i: usize| -> Vec<(String, Vec<String>)> {
        v["arches"][0]["outputs"][i]["packages"]["chain"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                let inc = s["include"].as_array().unwrap();
                (
                    s["name"].as_str().unwrap().to_string(),
                    inc.iter()
                        .map(|x| x.as_str().unwrap().to_string())
                        .collect(),
                )
            })
            .collect()
    };
    // tar: the release package only, then the manifest's packages.
    assert_eq!(
        chain(0),
        [
            ("base".to_string(), vec!["fixture-release".to_string()]),
            ("manifest".to_string(), vec!["busybox".to_string()]),
        ]
    );
    // A disk keeps what boots it: kernel and the UEFI bootloader.
    let base = &chain(1)[0].1;
    assert!(base.contains(&"kernel-core".to_string()), "{base:?}");
    assert!(base.contains(&"shim-x64".to_string()), "{base:?}");
    assert!(
        !base.iter().any(|p| p == "@core" || p == "systemd"),
        "{base:?}"
    );

    // Locked: no @core member sneaks in.
    let m = env.manifest(
        "y.toml",
        &body.replace("[[output]]\ntype = \"qcow2\"\nsize = \"2 GiB\"\n", ""),
    );
    let o = env.run(&["--json", "lock", s(&m)]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let names: Vec<&str> = v["targets"][0]["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"busybox") && names.contains(&"fixture-release"),
        "{names:?}"
    );
    let full = env.manifest(
        "z.toml",
        &std::fs::read_to_string(&m)
            .unwrap()
            .replace("distro_packages = false", ""),
    );
    let o = env.run(&["--json", "lock", s(&full)]);
    assert!(o.status.success(), "{}", text(&o));
    let w: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let more = w["targets"][0]["packages"].as_array().unwrap().len();
    assert!(names.len() < more, "{} vs {more} packages", names.len());
}
