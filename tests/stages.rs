//! The stage store: a rebuild reuses the installed tree when only the
//! customizations changed, installs again when the package set changed,
//! and a reused tree gives the same artifact bytes as a fresh install.
//! `--no-cache` bypasses the store; `cache prune --max-size` bounds it.

mod common;

use common::cli::{s, text, Env};
use std::path::Path;
use std::process::Command;

fn manifest(hostname: &str, extra_pkg: Option<&str>) -> String {
    let extra = extra_pkg
        .map(|p| format!("\n[[packages]]\nname = \"{p}\"\n"))
        .unwrap_or_default();
    format!(
        r#"
name = "st"
distro = "fixture"
architectures = ["x86_64"]

[[packages]]
name = "fixture-weak"
{extra}
[customizations]
hostname = "{hostname}"

[[output]]
type = "tar"
"#
    )
}

fn hostname_in(tar: &Path) -> String {
    let o = Command::new("tar")
        .args(["-xOf", s(tar), "etc/hostname"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

const REUSED: &str = "reused the installed tree";
const INSTALLING: &str = "installing ";

#[test]
fn installed_tree_is_reused_exactly_when_its_inputs_match() {
    let env = Env::new();
    let m = env.path("st.toml");
    let build = |body: &str, out: &str, extra: &[&str]| {
        std::fs::write(&m, body).unwrap();
        let outp = env.path(out);
        let mut args = vec!["build", "-o", s(&outp)];
        args.extend_from_slice(extra);
        args.push(s(&m));
        let o = env.run(&args);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        (text(&o), outp.join("st-x86_64.tar"))
    };

    // Cold: installs, and keeps the installed tree.
    let (t, cold) = build(&manifest("one", None), "cold", &[]);
    assert!(t.contains(INSTALLING) && !t.contains(REUSED), "{t}");

    // No change: reused, and the same bytes as the fresh install.
    let (t, warm) = build(&manifest("one", None), "warm", &[]);
    assert!(t.contains(REUSED) && !t.contains(INSTALLING), "{t}");
    assert_eq!(std::fs::read(&cold).unwrap(), std::fs::read(&warm).unwrap());

    // A customization changed: the installed tree is still the same.
    let (t, host) = build(&manifest("two", None), "host", &[]);
    assert!(t.contains(REUSED), "{t}");
    assert_eq!(hostname_in(&host), "two");

    // A package added: installed again.
    let (t, _) = build(&manifest("two", Some("fixture-scriptlets")), "pkg", &[]);
    assert!(t.contains(INSTALLING) && !t.contains(REUSED), "{t}");

    // --no-cache runs every stage.
    let (t, nc) = build(&manifest("one", None), "nocache", &["--no-cache"]);
    assert!(t.contains(INSTALLING) && !t.contains(REUSED), "{t}");
    assert_eq!(std::fs::read(&cold).unwrap(), std::fs::read(&nc).unwrap());

    // The store shows in `cache info` and prune bounds it.
    let o = env.run(&["--json", "cache", "info"]);
    let info: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(info["stages"], 2, "{info}");
    assert!(info["stages_bytes"].as_u64().unwrap() > 0, "{info}");
    let o = env.run(&["cache", "prune", "--max-size", "1"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = env.run(&["--json", "cache", "info"]);
    let info: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(info["stages"], 0, "{info}");
    let (t, _) = build(&manifest("one", None), "after-prune", &[]);
    assert!(t.contains(INSTALLING) && !t.contains(REUSED), "{t}");
}
