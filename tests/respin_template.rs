//! The respin template (`templates/respin/`): its workflows pass
//! actionlint, and the one script its workflow runs builds a respin
//! against a local base image, pushes it signed to a registry on
//! 127.0.0.1 behind basic auth (credentials from REGISTRY_AUTH_FILE, as in
//! the workflow), and a scheduled rerun with an unchanged lock pushes
//! nothing.

mod common;

use common::cli::{s, text};
use common::fixtures::fixture_root;
use common::registry::{skopeo, Registry};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn tool(name: &str) -> Option<PathBuf> {
    let venv =
        std::env::var("IMAGE_BUILDER_PYVENV").unwrap_or_else(|_| "/opt/image-builder-py".into());
    Some(Path::new(&venv).join("bin").join(name)).filter(|p| p.is_file())
}

#[test]
fn actionlint_accepts_every_workflow() {
    let Some(actionlint) = tool("actionlint") else {
        common::skip::skip("actionlint: not installed (scripts/install-deps.sh installs it)");
        return;
    };
    let mut workflows = vec![];
    for dir in [
        root().join("templates/respin/.github/workflows"),
        root().join(".github/workflows"),
    ] {
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            workflows.push(e.path());
        }
    }
    assert!(!workflows.is_empty());
    let o = Command::new(actionlint).args(&workflows).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
}

const RESPIN: &str = r#"
name = "fixture-respin"
distro = "fixture"

[base]
image = "oci-archive:BASE"

[[packages]]
name = "fixture-weak"

[[customizations.files]]
path = "/etc/motd"
data = "respin\n"

[[output]]
type = "bootc"
"#;

#[test]
fn the_template_script_builds_pushes_signed_and_skips_an_unchanged_lock() {
    let t = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_image-builder");
    let cache = t.path().join("cache");
    // The base: the fixture bootc image, one arch (shared by the run).
    let base = common::fixture_image::archive();

    // The template as a user copies it, with the fixture manifest.
    let repo = t.path().join("respin");
    let o = Command::new("cp")
        .args(["-a", s(&root().join("templates/respin")), s(&repo)])
        .output()
        .unwrap();
    assert!(o.status.success());
    std::fs::write(
        repo.join("fixture-respin.toml"),
        RESPIN.replace("BASE", s(&base)),
    )
    .unwrap();
    let keys = t.path().join("keys");
    let o = Command::new(bin)
        .env("COSIGN_PASSWORD", "")
        .args(["sign", "genkey", s(&keys)])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));

    let reg = Registry::start_with_auth("robot", "s3cret");
    let auth = reg.auth_file("robot", "s3cret");
    let image = reg.docker_ref("org/respin");
    let script = |only_if_changed: bool| -> Output {
        Command::new(repo.join("ci/respin.sh"))
            .env("IMAGE", &image)
            .env("TAG", "t1")
            .env("ARCH", "x86_64")
            .env("MANIFEST", "fixture-respin.toml")
            .env("IB", bin)
            .env("TLS_VERIFY", "false")
            .env("SIGN_KEY", keys.join("cosign.key"))
            .env("COSIGN_PASSWORD", "")
            .env("REGISTRY_AUTH_FILE", &auth)
            .env("ONLY_IF_CHANGED", if only_if_changed { "1" } else { "0" })
            .env("IMAGE_BUILDER_FIXTURE_ROOT", fixture_root())
            .env("IMAGE_BUILDER_CACHE_DIR", &cache)
            .output()
            .unwrap()
    };
    let tags = || {
        let creds = "--creds=robot:s3cret";
        let r = format!("docker://{}/org/respin", reg.host);
        let v: serde_json::Value =
            serde_json::from_str(&skopeo(&["list-tags", "--tls-verify=false", creds, &r])).unwrap();
        let mut t: Vec<String> = v["Tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap().to_string())
            .collect();
        t.sort();
        t
    };

    let o = script(true);
    let out = text(&o);
    assert!(o.status.success(), "{out}\n{}", reg.log());
    assert!(out.contains("respin: pushed"), "{out}");
    let after_first = tags();
    assert!(
        after_first.contains(&"t1-x86_64".to_string()),
        "{after_first:?}"
    );
    assert!(
        after_first
            .iter()
            .any(|t| t.starts_with("sha256-") && t.ends_with(".sig")),
        "the push is signed: {after_first:?}"
    );
    assert!(repo.join("fixture-respin.lock.published").is_file());

    // The scheduled rerun: same lock, nothing pushed.
    let blobs = || walk_count(&reg.dir.path().join("storage"));
    let before = blobs();
    let o = script(true);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("nothing to push"), "{out}");
    assert_eq!(tags(), after_first);
    assert_eq!(blobs(), before, "the registry's storage did not change");
}

fn walk_count(d: &Path) -> usize {
    std::fs::read_dir(d)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| {
            if e.file_type().unwrap().is_dir() {
                1 + walk_count(&e.path())
            } else {
                1
            }
        })
        .sum()
}
