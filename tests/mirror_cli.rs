//! `--mirror URL` and `[build] mirror` through the real binary: the
//! distro repos move (tree layout kept, mirrorlists dropped), manifest
//! repos stay, the flag wins over the key, and a bad mirror is exit 2
//! naming the flag or pointing at the manifest line.

use std::path::Path;
use std::process::{Command, Output};

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_image-builder"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("IMAGE_BUILDER_FIXTURE_ROOT", "/fixture")
        .env("IMAGE_BUILDER_CACHE_DIR", dir.join("cache"))
        .args(args)
        .output()
        .expect("runs image-builder")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const CLOUD: &str = "manifests/almalinux-10/cloud.toml";

#[test]
fn mirror_flag_moves_the_distro_repos() {
    let d = tempfile::tempdir().unwrap();
    let o = run(
        d.path(),
        &[
            "plan",
            CLOUD,
            "--arch",
            "x86_64",
            "--only",
            "qcow2",
            "--mirror",
            "http://127.0.0.1:8080/almalinux",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let t = text(&o.stdout);
    assert!(!t.contains("      mirrorlist "), "{t}");
    assert!(!t.contains("repo.almalinux.org"), "{t}");
    insta::assert_snapshot!("plan_mirror_flag__almalinux-10_cloud", t);
}

/// A manifest with `[build] mirror` and a repo of its own.
fn manifest(dir: &Path, mirror: &str) -> String {
    let p = dir.join("m.toml");
    std::fs::write(
        &p,
        format!(
            r#"name = "m"
distro = "almalinux-10"
architectures = ["x86_64"]

[[packages]]
name = "tmux"

[[repositories]]
id = "epel"
baseurl = ["https://dl.fedoraproject.org/pub/epel/10/Everything/x86_64/"]
gpgkey = ["https://dl.fedoraproject.org/pub/epel/RPM-GPG-KEY-EPEL-10"]

[[output]]
type = "tar"

[build]
{mirror}
"#
        ),
    )
    .unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn manifest_mirror_leaves_manifest_repos_alone_and_the_flag_wins() {
    let d = tempfile::tempdir().unwrap();
    let m = manifest(d.path(), r#"mirror = "https://mirror.example/almalinux/""#);
    let o = run(d.path(), &["--json", "plan", &m]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["mirror"], "https://mirror.example/almalinux/");
    let repos = v["arches"][0]["repos"].as_array().unwrap();
    let url = |id: &str| {
        let r = repos.iter().find(|r| r["id"] == id).unwrap();
        assert!(r.get("mirrorlist").is_none() || r["origin"] == "manifest");
        r["baseurls"][0].as_str().unwrap().to_string()
    };
    assert_eq!(
        url("baseos"),
        "https://mirror.example/almalinux/10/BaseOS/x86_64/os/"
    );
    assert_eq!(
        url("extras"),
        "https://mirror.example/almalinux/10/extras/x86_64/os/"
    );
    assert_eq!(
        url("epel"),
        "https://dl.fedoraproject.org/pub/epel/10/Everything/x86_64/"
    );
    // The distro key stays embedded, whatever the mirror.
    let baseos = repos.iter().find(|r| r["id"] == "baseos").unwrap();
    assert_eq!(baseos["gpgkeys"][0]["source"], "embedded");
    assert_eq!(
        baseos["gpgkeys"][0]["fingerprint"],
        "EE6DB7B98F5BF5EDD9DA0DE5DEE5C11CC2A1E572"
    );

    let o = run(
        d.path(),
        &["--json", "plan", &m, "--mirror", "file:///srv/alma"],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        v["arches"][0]["repos"][0]["baseurls"][0],
        "file:///srv/alma/10/BaseOS/x86_64/os/"
    );
}

#[test]
fn bad_mirrors_are_input_errors() {
    let d = tempfile::tempdir().unwrap();
    let m = manifest(d.path(), r#"mirror = "mirror.example/almalinux""#);
    for cmd in ["validate", "plan", "lock"] {
        let o = run(d.path(), &[cmd, &m]);
        assert_eq!(o.status.code(), Some(2), "{cmd}: {}", text(&o.stderr));
        let e = text(&o.stderr);
        assert!(e.contains(&format!("{m}:17:10")), "{cmd}: {e}");
        assert!(e.contains("has no scheme"), "{cmd}: {e}");
    }
    for cmd in ["validate", "plan", "lock", "build"] {
        let o = run(d.path(), &[cmd, CLOUD, "--mirror", "ftp://m.example/alma"]);
        assert_eq!(o.status.code(), Some(2), "{cmd}: {}", text(&o.stderr));
        let e = text(&o.stderr);
        assert!(
            e.starts_with("error: --mirror: ") && e.contains("unsupported scheme \"ftp\""),
            "{cmd}: {e}"
        );
    }
    // The flag wins: a good flag over a bad key is fine.
    let o = run(
        d.path(),
        &["validate", &m, "--mirror", "https://m.example/alma"],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
}
