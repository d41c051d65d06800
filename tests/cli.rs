//! CLI tests through the real binary: every example manifest validates and
//! its plan is pinned by a snapshot; every malformed manifest exits 2 with
//! file:line:col; help fits 80 columns; --json is valid JSON everywhere.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_image-builder"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    // Plans print fixture repo URLs; pin them so snapshots don't depend on the checkout path.
    c.env("IMAGE_BUILDER_FIXTURE_ROOT", "/fixture");
    c
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("runs image-builder")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn files(dir: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut out = vec![];
    let mut stack = vec![root.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "toml") {
                out.push(
                    p.strip_prefix(env!("CARGO_MANIFEST_DIR"))
                        .unwrap()
                        .to_path_buf(),
                );
            }
        }
    }
    out.sort();
    assert!(!out.is_empty(), "no manifests in {dir}");
    out
}

#[test]
fn every_example_manifest_validates_and_plans() {
    let all = files("manifests");
    for m in &all {
        let m = m.to_str().unwrap();
        // `validate` judges as `build` would: an example may only be
        // refused for what build refuses before downloading and the
        // example can't help (its output's stage has not landed; its
        // Secure Boot keys are made by a later step).
        let o = run(&["validate", m]);
        let err = text(&o.stderr);
        let allowed = ["its artifact stage has not landed", "secureboot genkey DIR"];
        assert!(
            o.status.success()
                || (o.status.code() == Some(2) && allowed.iter().any(|a| err.contains(a))),
            "validate {m}: {err}"
        );
        let o = run(&["plan", m]);
        assert!(o.status.success(), "plan {m}: {}", text(&o.stderr));
        let snap = m
            .trim_start_matches("manifests/")
            .trim_end_matches(".toml")
            .replace('/', "__");
        insta::assert_snapshot!(format!("plan__{snap}"), text(&o.stdout));
        let o = run(&["--json", "plan", m]);
        assert!(o.status.success());
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("plan --json is JSON");
        assert_eq!(v["plan_version"], 2);
        assert!(!v["arches"].as_array().unwrap().is_empty(), "{m}");
    }
}

#[test]
fn examples_cover_every_distro_and_output_type() {
    let mut seen = std::collections::BTreeSet::new();
    for m in files("manifests") {
        let o = run(&["--json", "plan", m.to_str().unwrap()]);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        for a in v["arches"].as_array().unwrap() {
            for out in a["outputs"].as_array().unwrap() {
                seen.insert((
                    v["distro"]["id"].as_str().unwrap().to_string(),
                    out["type"].as_str().unwrap().to_string(),
                ));
            }
        }
    }
    for d in ["almalinux-9", "almalinux-10", "almalinux-kitten-10"] {
        for t in [
            "tar",
            "oci",
            "ostree",
            "raw",
            "qcow2",
            "vmdk",
            "vhd",
            "ami",
            "gce",
            "iso-installer",
            "iso-live",
        ] {
            assert!(
                seen.contains(&(d.to_string(), t.to_string())),
                "no example builds {t} for {d}"
            );
        }
    }
    // AlmaLinux 8 has no bootc; everything else is covered.
    for t in ["tar", "ostree", "qcow2", "ami", "iso-installer", "iso-live"] {
        assert!(
            seen.contains(&("almalinux-8".to_string(), t.to_string())),
            "no example builds {t} for almalinux-8"
        );
    }
}

#[test]
fn plan_json_pins_one_example_in_full() {
    let o = run(&["--json", "plan", "manifests/fixture/qcow2.toml"]);
    assert!(o.status.success());
    insta::assert_snapshot!("plan_json__fixture_qcow2", text(&o.stdout));
}

#[test]
fn plan_type_and_arch_flags_override_the_manifest() {
    let o = run(&[
        "--json",
        "plan",
        "tests/blueprints/minimal.toml",
        "--type",
        "qcow2",
        "--arch",
        "aarch64",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        v["distro"]["id"], "almalinux-10",
        "missing distro defaults to almalinux-10"
    );
    assert_eq!(v["arches"][0]["arch"], "aarch64");
    assert_eq!(v["arches"][0]["outputs"][0]["type"], "qcow2");
    let o = run(&[
        "plan",
        "manifests/almalinux-10/cloud.toml",
        "--only",
        "ami",
        "--arch",
        "x86_64",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let t = text(&o.stdout);
    assert!(t.contains("output ami"), "{t}");
    assert!(!t.contains("output qcow2"), "{t}");
    assert!(!t.contains("arch aarch64"), "{t}");
}

#[test]
fn bad_flags_are_input_errors() {
    for args in [
        &[
            "plan",
            "manifests/almalinux-10/cloud.toml",
            "--only",
            "qcow",
        ][..],
        &[
            "plan",
            "manifests/almalinux-10/cloud.toml",
            "--arch",
            "ppc64le",
        ],
        &[
            "plan",
            "manifests/almalinux-10/cloud.toml",
            "--arch",
            "sparc",
        ],
        &["plan", "tests/blueprints/minimal.toml", "--type", "qcow"],
        &["build", "tests/blueprints/minimal.toml"],
        &["validate", "does/not/exist.toml"],
    ] {
        let o = run(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o.stderr));
        let e = text(&o.stderr);
        assert!(e.starts_with("error: "), "{args:?}: {e}");
        assert!(!e.contains("panicked"), "{e}");
    }
    let e = text(&run(&["plan", "tests/blueprints/minimal.toml", "--type", "qcow"]).stderr);
    assert!(e.contains("did you mean \"qcow2\"?"), "{e}");
}

/// A manifest with no `[[output]]` and no `--type` has nothing to lock or
/// build: exit 2 with a hint, before any resolve (`validate` and `plan`
/// still accept it: a blueprint need not name outputs).
#[test]
fn nothing_to_build_is_an_input_error() {
    for args in [
        &["lock", "tests/blueprints/minimal.toml"][..],
        &["lock", "--check", "tests/blueprints/minimal.toml"],
        &["build", "tests/blueprints/minimal.toml"],
    ] {
        let scratch = tempfile::tempdir().unwrap();
        let o = bin()
            .args(args)
            .env("IMAGE_BUILDER_CACHE_DIR", scratch.path())
            .output()
            .unwrap();
        let e = text(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {e}");
        assert!(e.contains("nothing to build"), "{args:?}: {e}");
        assert!(
            e.contains("hint: ") && e.contains("--type"),
            "{args:?}: {e}"
        );
        assert!(
            std::fs::read_dir(scratch.path()).unwrap().next().is_none(),
            "{args:?} used the cache"
        );
    }
    let o = run(&["validate", "tests/blueprints/minimal.toml"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("no outputs (pass --type to build)"));
}

#[test]
fn help_fits_80_columns() {
    for args in [
        &["--help"][..],
        &["build", "--help"],
        &["plan", "--help"],
        &["validate", "--help"],
        &["distros", "--help"],
    ] {
        let o = run(args);
        assert!(o.status.success());
        for line in text(&o.stdout).lines() {
            assert!(
                line.chars().count() <= 80,
                "{args:?}: {line:?} is {} wide",
                line.chars().count()
            );
        }
    }
}

#[test]
fn distros_lists_every_distro() {
    let o = run(&["--json", "distros"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let ids: Vec<&str> = v["distros"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "almalinux-8",
            "almalinux-9",
            "almalinux-10",
            "almalinux-kitten-10",
            "fixture"
        ]
    );
}

/// Each file in tests/malformed/ starts with `# expect: LINE:COL text`
/// (`-` for LINE:COL when the problem has no place in the file, e.g. a
/// flag alone), optionally followed by `# args: ...`: flags given to both
/// `validate` and `build`. Both must exit 2 at that place, and `build`
/// must not have touched its cache or output directory: every input is
/// judged before any download.
#[test]
fn malformed_manifests_exit_2_with_location() {
    let all = files("tests/malformed");
    assert!(all.len() >= 70, "the corpus has {} files", all.len());
    for f in all {
        let src = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(&f)).unwrap();
        let mut lines = src.lines();
        let expect = lines
            .next()
            .and_then(|h| h.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{f:?} lacks an expect header"));
        let (loc, needle) = expect.split_once(' ').unwrap();
        let flags: Vec<&str> = lines
            .next()
            .and_then(|l| l.strip_prefix("# args: "))
            .map(|a| a.split_whitespace().collect())
            .unwrap_or_default();
        let f = f.to_str().unwrap();
        let at = if loc == "-" {
            format!("{f}: ")
        } else {
            format!("{f}:{loc}: ")
        };
        for cmd in ["validate", "build"] {
            let scratch = tempfile::tempdir().unwrap();
            let cache = scratch.path().join("cache");
            let outdir = scratch.path().join("out");
            let mut args = vec![cmd, f];
            args.extend(&flags);
            let outdir_s = outdir.to_str().unwrap().to_string();
            if cmd == "build" && !flags.contains(&"--output-dir") {
                args.extend(["--output-dir", outdir_s.as_str()]);
            }
            let o = bin()
                .args(&args)
                .env("IMAGE_BUILDER_CACHE_DIR", &cache)
                .output()
                .unwrap();
            let err = text(&o.stderr);
            assert_eq!(o.status.code(), Some(2), "{cmd} {f}: {err}");
            assert!(err.contains(&at), "{cmd} {f}: wanted {at:?} in:\n{err}");
            assert!(
                err.contains(needle),
                "{cmd} {f}: wanted {needle:?} in:\n{err}"
            );
            assert!(
                !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
                "{err}"
            );
            for d in [&cache, &outdir] {
                let used = std::fs::read_dir(d).map(|mut r| r.next().is_some());
                assert!(
                    !used.unwrap_or(false),
                    "{cmd} {f}: wrote into {} before refusing",
                    d.display()
                );
            }
        }
        // The JSON form carries the same location.
        let mut args = vec!["--json", "validate", f];
        args.extend(&flags);
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("error JSON");
        let d = v["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| {
                let hints = d["hints"].as_array().cloned().unwrap_or_default();
                std::iter::once(&d["message"])
                    .chain(&hints)
                    .any(|t| t.as_str().unwrap_or("").contains(needle))
            })
            .unwrap_or_else(|| panic!("{f}: no diagnostic says {needle:?}: {v}"));
        let want = if loc == "-" { "0:0" } else { loc };
        assert_eq!(format!("{}:{}", d["line"], d["column"]), want, "{f}");
    }
}

#[test]
fn non_utf8_manifest_is_an_input_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.toml");
    std::fs::write(&p, b"name = \"\xff\xfe\"\n").unwrap();
    let o = run(&["validate", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("not UTF-8"));
}
