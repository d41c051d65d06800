//! Oracle: our resolver (libsolv through our FFI, dnf's request semantics)
//! against Debian's dnf on the same fixture repos. The corpus is data:
//! tests/resolve/oracle.toml. For every case the installed NEVRA sets must
//! be equal, both must refuse, or the case's `expect_diff` explains the
//! difference (and the test checks the difference is exactly that).

mod common;

use alma_image_builder::fetch::Cache;
use alma_image_builder::plan::{PlanRepo, RepoKey};
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
        gpgkeys: vec![RepoKey::Url { url: key_url() }],
        gpgcheck: true,
        repo_gpgcheck: false,
        priority: 99,
        module_hotfixes: false,
    };
    let s = repodata::sync(&r, cache).map_err(|e| format!("{e:#}"))?;
    let mut u =
        solve::Universe::load(policy(&c.arch), vec![s.files]).map_err(|e| format!("{e:#}"))?;
    let req = solve::Request::single(c.include.clone(), c.exclude.clone(), c.weak_deps);
    let (pkgs, _warnings) = u.solve(&req).map_err(|e| e.error.to_string())?;
    Ok(pkgs.iter().map(nevra).collect())
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

// ---- Chained transactions and filelists-only file deps ----------------
//
// These need packages the shared fixture repo does not have, so they are
// built here, into a temp dir (rpmbuild + createrepo_c, unsigned).

/// (name, spec header lines, a file it ships).
const CHAIN_PKGS: &[(&str, &str, &str)] = &[
    // Base set: recommends a package its own transaction excludes.
    ("ch-base", "Recommends: ch-weak", "/usr/share/ch/base"),
    ("ch-weak", "", "/usr/share/ch/weak"),
    // Excluded by the base set, required by the manifest's package.
    ("ch-dep", "", "/usr/share/ch/dep"),
    (
        "ch-app",
        "Requires: ch-dep\nRecommends: ch-extra",
        "/usr/share/ch/app",
    ),
    ("ch-extra", "", "/usr/share/ch/extra"),
    // A file dependency only filelists.xml answers (not /etc, not *bin/).
    (
        "fl-user",
        "Requires: /opt/fl/data.txt",
        "/usr/share/fl/user",
    ),
    ("fl-provider", "", "/opt/fl/data.txt"),
];

/// A repo of CHAIN_PKGS (built once per test process): its file:// URL.
fn chain_repo() -> String {
    static REPO: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    REPO.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let top = dir.join("rpmbuild");
        let repo = dir.join("repo");
        std::fs::create_dir_all(top.join("SPECS")).unwrap();
        std::fs::create_dir_all(&repo).unwrap();
        for (name, header, file) in CHAIN_PKGS {
            let parent = std::path::Path::new(file).parent().unwrap().display();
            let spec = top.join("SPECS").join(format!("{name}.spec"));
            std::fs::write(
                &spec,
                format!(
                    "Name: {name}\nVersion: 1\nRelease: 1\nSummary: {name}\nLicense: MIT\nBuildArch: noarch\n{header}\n\
                     %description\n{name}\n%install\nmkdir -p %{{buildroot}}{parent}\necho {name} > %{{buildroot}}{file}\n\
                     %files\n{file}\n"
                ),
            )
            .unwrap();
            let o = Command::new("rpmbuild")
                .args(["-bb", "--quiet"])
                .arg(format!("--define=_topdir {}", top.display()))
                .arg(format!("--define=_rpmdir {}", repo.display()))
                .arg(&spec)
                .output()
                .unwrap();
            assert!(o.status.success(), "rpmbuild {name}: {}", String::from_utf8_lossy(&o.stderr));
        }
        let o = Command::new("createrepo_c")
            .args(["--quiet", "--no-database"])
            .arg(&repo)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        // The premise of the filelists case: primary does not list the path.
        let md = std::fs::read_to_string(repo.join("repodata/repomd.xml")).unwrap();
        let href = md
            .split("<data type=\"primary\">")
            .nth(1)
            .and_then(|s| s.split("href=\"").nth(1))
            .and_then(|s| s.split('"').next())
            .unwrap()
            .to_string();
        let primary = alma_image_builder::resolve::solv::read_compressed(&repo.join(href)).unwrap();
        assert!(!String::from_utf8_lossy(&primary).contains(">/opt/fl/data.txt</file>"));
        format!("file://{}/", repo.display())
    })
    .clone()
}

type Chain = Vec<(Vec<&'static str>, Vec<&'static str>)>;

fn ours_chain(chain: &Chain, cache: &Cache) -> Result<BTreeSet<String>, String> {
    let r = PlanRepo {
        id: "ch".into(),
        name: "ch".into(),
        origin: "manifest",
        baseurls: vec![chain_repo()],
        mirrorlist: None,
        metalink: None,
        gpgkeys: vec![],
        gpgcheck: false,
        repo_gpgcheck: false,
        priority: 99,
        module_hotfixes: false,
    };
    let s = repodata::sync(&r, cache).map_err(|e| format!("{e:#}"))?;
    let mut u = solve::Universe::load("x86_64", vec![s.files]).map_err(|e| format!("{e:#}"))?;
    let req = solve::Request {
        chain: chain
            .iter()
            .enumerate()
            .map(|(i, (inc, exc))| solve::Transaction {
                name: format!("t{i}"),
                include: inc.iter().map(|s| s.to_string()).collect(),
                exclude: exc.iter().map(|s| s.to_string()).collect(),
            })
            .collect(),
        modules: vec![],
        weak_deps: true,
    };
    let (pkgs, _) = u.solve(&req).map_err(|e| e.to_string())?;
    Ok(pkgs.iter().map(nevra).collect())
}

/// dnf's Python API, one transaction after the other into one installroot
/// (rpmdb only): each `install_specs` with its own excludes, resolved and
/// installed before the next; then the root's rpmdb.
const DNF_CHAIN: &str = r#"
import json, sys, dnf, rpm
root, cache, url, chain = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
rpm.addMacro("_dbpath", "/var/lib/rpm")
for include, exclude in chain:
    base = dnf.Base()
    c = base.conf
    c.installroot, c.cachedir, c.reposdir = root, cache, ["/dev/null"]
    c.best, c.install_weak_deps, c.gpgcheck = True, True, False
    c.tsflags = ["justdb", "noscripts"]
    c.substitutions["releasever"] = "1"
    base.repos.add_new_repo("ch", c, baseurl=[url], gpgcheck=False)
    base.fill_sack(load_system_repo=True)
    base.install_specs(include, exclude)
    base.resolve()
    base.download_packages(base.transaction.install_set)
    base.do_transaction()
    base.close()
ts = rpm.TransactionSet(root)
print(json.dumps(sorted("%s-%s:%s-%s.%s" % (h["name"], h["epochnum"], h["version"], h["release"], h["arch"]) for h in ts.dbMatch())))
"#;

fn dnf_chain(chain: &Chain) -> Result<BTreeSet<String>, String> {
    let root = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let json = serde_json::to_string(chain).unwrap();
    let o = Command::new("/usr/bin/python3")
        .args(["-c", DNF_CHAIN])
        .arg(root.path())
        .arg(cache.path())
        .arg(chain_repo())
        .arg(json)
        .output()
        .expect("python3 with dnf runs");
    if !o.status.success() {
        return Err(String::from_utf8_lossy(&o.stderr).into_owned());
    }
    let v: Vec<String> = serde_json::from_slice(&o.stdout).map_err(|e| e.to_string())?;
    Ok(v.into_iter()
        .filter(|p| !p.starts_with("gpg-pubkey"))
        .collect())
}

fn both(chain: Chain) -> BTreeSet<String> {
    let cache = Cache::open(Some(tempfile::tempdir().unwrap().keep().as_path())).unwrap();
    let (a, b) = (ours_chain(&chain, &cache), dnf_chain(&chain));
    match (a, b) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a, b, "ours (left) vs dnf (right) for {chain:?}");
            a
        }
        (a, b) => panic!("{chain:?}: ours {a:?}\n dnf {b:?}"),
    }
}

fn names(set: &BTreeSet<String>) -> Vec<&str> {
    set.iter()
        .map(|p| p.strip_suffix("-0:1-1.noarch").unwrap_or(p))
        .collect()
}

#[test]
fn chain_excludes_apply_to_their_own_transaction() {
    // Base: ch-base, excluding its weak dep and ch-dep. Manifest: ch-app,
    // which requires ch-dep (installed: the exclude was the base's) and
    // recommends ch-extra. ch-weak stays out: ch-base is installed by
    // then, and an installed package's Recommends are not re-read.
    let got = both(vec![
        (vec!["ch-base"], vec!["ch-weak", "ch-dep"]),
        (vec!["ch-app"], vec![]),
    ]);
    assert_eq!(names(&got), ["ch-app", "ch-base", "ch-dep", "ch-extra"]);
    // One merged transaction with the same exclude cannot be solved.
    let cache = Cache::open(Some(tempfile::tempdir().unwrap().keep().as_path())).unwrap();
    let e = ours_chain(
        &vec![(vec!["ch-base", "ch-app"], vec!["ch-weak", "ch-dep"])],
        &cache,
    )
    .unwrap_err();
    assert!(e.contains("ch-dep"), "{e}");
}

#[test]
fn file_dependency_only_in_filelists() {
    let got = both(vec![(vec!["fl-user"], vec![])]);
    assert_eq!(names(&got), ["fl-provider", "fl-user"]);
    // And a path only filelists know, requested directly.
    let got = both(vec![(vec!["/opt/fl/data.txt"], vec![])]);
    assert_eq!(names(&got), ["fl-provider"]);
}

/// `name-epoch:version-release.arch`, the form both sides are compared in.
fn nevra(p: &alma_image_builder::resolve::solve::Resolved) -> String {
    format!(
        "{}-{}:{}-{}.{}",
        p.name, p.epoch, p.version, p.release, p.arch
    )
}
