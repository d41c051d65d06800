//! Oracle: our resolver (libsolv through our FFI, dnf's request semantics)
//! against Debian's dnf on the same fixture repos. The corpus is data:
//! tests/resolve/oracle.toml. For every case the installed NEVRA sets must
//! be equal, both must refuse, or the case's `expect_diff` explains the
//! difference (and the test checks the difference is exactly that).

mod common;

use alma_image_builder::fetch::Cache;
use alma_image_builder::plan::PlanRepo;
use alma_image_builder::resolve::{repodata, solve};
use common::fixtures::fixture_root;
use serde::Deserialize;
use std::collections::BTreeSet;
use std::process::Command;

#[derive(Deserialize)]
struct Corpus {
    case: Vec<Case>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    include: Vec<String>,
    #[serde(default)]
    exclude: Vec<String>,
    #[serde(default = "yes")]
    weak_deps: bool,
    #[serde(default = "x86")]
    arch: String,
    #[serde(default)]
    fails: bool,
    #[serde(default)]
    expect_diff: Option<String>,
}

fn yes() -> bool {
    true
}
fn x86() -> String {
    "x86_64".into()
}

fn corpus() -> Vec<Case> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/resolve/oracle.toml"
    ))
    .unwrap();
    toml::from_str::<Corpus>(&text).unwrap().case
}

fn repo_url(arch: &str) -> String {
    format!("file://{}/repos/main/{arch}/", fixture_root().display())
}

fn key_url() -> String {
    format!(
        "file://{}/keys/RPM-GPG-KEY-fixture",
        fixture_root().display()
    )
}

fn policy(arch: &str) -> &'static str {
    match arch {
        "x86_64_v2" => "x86_64_v2:x86_64",
        "aarch64" => "aarch64",
        _ => "x86_64",
    }
}

/// Ours: Err(message) when the request is refused.
fn ours(c: &Case, cache: &Cache) -> Result<BTreeSet<String>, String> {
    let r = PlanRepo {
        id: "fx".into(),
        name: "fx".into(),
        origin: "manifest",
        baseurls: vec![repo_url(&c.arch)],
        mirrorlist: None,
        metalink: None,
        gpgkeys: vec![key_url()],
        gpgcheck: true,
        repo_gpgcheck: false,
        priority: 99,
        module_hotfixes: false,
        inline_keys: vec![],
    };
    let s = repodata::sync(&r, cache).map_err(|e| format!("{e:#}"))?;
    let mut u =
        solve::Universe::load(policy(&c.arch), vec![s.files]).map_err(|e| format!("{e:#}"))?;
    let req = solve::Request::single(c.include.clone(), c.exclude.clone(), c.weak_deps);
    let (pkgs, _warnings) = u.solve(&req).map_err(|e| e.error.to_string())?;
    Ok(pkgs
        .iter()
        .map(|p| {
            format!(
                "{}-{}:{}-{}.{}",
                p.name, p.epoch, p.version, p.release, p.arch
            )
        })
        .collect())
}

/// Debian's dnf, configured as AlmaLinux's dnf.conf (best=True), writing
/// only the rpmdb (tsflags=justdb) of a scratch root.
fn dnf(c: &Case) -> Result<BTreeSet<String>, String> {
    let root = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join(".rpmmacros"), "%_dbpath /var/lib/rpm\n").unwrap();
    let forcearch = if c.arch == "x86_64_v2" {
        "x86_64"
    } else {
        &c.arch
    };
    let mut cmd = Command::new("dnf");
    cmd.env("HOME", home.path())
        .args(["-y", "-q"])
        .arg(format!("--installroot={}", root.path().display()))
        .arg(format!("--forcearch={forcearch}"))
        .args(["--releasever=1", "--setopt=reposdir=/dev/null"])
        .arg(format!(
            "--setopt=cachedir={}",
            home.path().join("cache").display()
        ))
        .arg(format!("--repofrompath=fx,{}", repo_url(forcearch)))
        .args(["--setopt=fx.gpgcheck=1"])
        .arg(format!("--setopt=fx.gpgkey={}", key_url()))
        .args(["--setopt=best=True", "--setopt=tsflags=justdb,noscripts"])
        .arg(format!(
            "--setopt=install_weak_deps={}",
            if c.weak_deps { "True" } else { "False" }
        ));
    for e in &c.exclude {
        cmd.arg(format!("--exclude={e}"));
    }
    cmd.arg("install").args(&c.include);
    let out = cmd.output().expect("dnf runs");
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let q = Command::new("rpm")
        .env("HOME", home.path())
        .args([
            "--root",
            root.path().to_str().unwrap(),
            "--dbpath",
            "/var/lib/rpm",
            "-qa",
        ])
        .args([
            "--qf",
            "%{NAME}-%{EPOCHNUM}:%{VERSION}-%{RELEASE}.%{ARCH}\\n",
        ])
        .output()
        .unwrap();
    Ok(String::from_utf8_lossy(&q.stdout)
        .lines()
        .filter(|l| !l.starts_with("gpg-pubkey"))
        .map(str::to_string)
        .collect())
}

fn check(c: &Case) {
    let cache = Cache::open(Some(tempfile::tempdir().unwrap().keep().as_path())).unwrap();
    let (a, b) = (ours(c, &cache), dnf(c));
    match (&a, &b, c.fails) {
        (Err(_), Err(_), true) => {}
        (Ok(x), Ok(y), false) if c.expect_diff.is_none() => {
            assert_eq!(x, y, "case {:?}: ours (left) vs dnf (right)", c.name);
            assert!(!x.is_empty());
        }
        (Ok(x), Ok(y), false) => {
            let only_ours: Vec<_> = x.difference(y).collect();
            let only_dnf: Vec<_> = y.difference(x).collect();
            // The one explained difference in the corpus: x86_64_v2 builds.
            assert!(
                !only_ours.is_empty(),
                "case {:?} expected a difference",
                c.name
            );
            assert!(
                only_ours.iter().all(|p| p.ends_with(".x86_64_v2")),
                "{only_ours:?}"
            );
            assert!(
                only_dnf.iter().all(|p| p.ends_with(".x86_64")),
                "{only_dnf:?}"
            );
            assert_eq!(only_ours.len(), only_dnf.len());
        }
        _ => panic!(
            "case {:?}: ours {a:?}\n dnf {b:?}\n (fails = {})",
            c.name, c.fails
        ),
    }
}

fn run_part(part: usize, parts: usize) {
    let cases = corpus();
    assert!(cases.len() >= 20);
    for (i, c) in cases.iter().enumerate() {
        if i % parts == part {
            check(c);
        }
    }
}

#[test]
fn oracle_part_1() {
    run_part(0, 3);
}
#[test]
fn oracle_part_2() {
    run_part(1, 3);
}
#[test]
fn oracle_part_3() {
    run_part(2, 3);
}

#[test]
fn refusals_say_why() {
    let cache = Cache::open(Some(tempfile::tempdir().unwrap().keep().as_path())).unwrap();
    let conflict = corpus()
        .into_iter()
        .find(|c| c.name == "conflicts")
        .unwrap();
    let e = ours(&conflict, &cache).unwrap_err();
    assert!(e.contains("problem 1:") && e.contains("conflict"), "{e}");
    assert!(e.contains("fix 1:"), "{e}");
    let missing = corpus()
        .into_iter()
        .find(|c| c.name == "missing package")
        .unwrap();
    let e = ours(&missing, &cache).unwrap_err();
    assert_eq!(e, "no package matches 'no-such-package'");
}
