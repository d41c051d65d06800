//! Native enable/disable/mask/preset-all checked against the host's
//! `systemctl --root` (systemd 252 on the build host) on identical copies
//! of a small tree.
//!
//! Known difference by design: Debian's systemd is built for split-usr and
//! searches /lib/systemd/system before /usr/lib/systemd/system, so its
//! links point to /lib/... where /lib is a symlink to usr/lib; AlmaLinux's
//! systemd (and this code) use /usr/lib/... The comparison therefore maps
//! a `/lib/` target prefix to `/usr/lib/` when the tree's /lib is that
//! symlink. With a real /lib directory the targets must match as they are.

use super::*;
use std::collections::BTreeMap;
use std::fs;

fn write(root: &Path, path: &str, text: &str) {
    let p = root.join(path.trim_start_matches('/'));
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, text).unwrap();
}

fn unit(install: &str) -> String {
    format!("[Unit]\nDescription=test\n\n[Service]\nExecStart=/bin/true\n\n[Install]\n{install}\n")
}

/// A tree with the interesting cases: WantedBy+Alias+Also, RequiredBy,
/// templates with and without DefaultInstance, a static unit, a vendor
/// alias, a unit in /etc, a `%`-specifier and a continuation line.
fn tree(split_usr: bool) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    let u = "/usr/lib/systemd/system";
    fs::create_dir_all(r.join("usr/lib")).unwrap();
    if split_usr {
        write(
            r,
            "/lib/systemd/system/legacy.service",
            &unit("WantedBy=multi-user.target"),
        );
    } else {
        std::os::unix::fs::symlink("usr/lib", r.join("lib")).unwrap();
    }
    write(
        r,
        &format!("{u}/multi-user.target"),
        "[Unit]\nDescription=mu\n",
    );
    write(
        r,
        &format!("{u}/a.service"),
        &unit("WantedBy=multi-user.target\nAlias=aa.service\nAlso=b.service"),
    );
    write(
        r,
        &format!("{u}/b.service"),
        &unit("WantedBy=sockets.target\nRequiredBy=a.service"),
    );
    write(
        r,
        &format!("{u}/t@.service"),
        &unit(
            "WantedBy=multi-user.target \\\n  getty.target\nAlias=tt@.service\nDefaultInstance=one",
        ),
    );
    write(
        r,
        &format!("{u}/u@.service"),
        &unit("WantedBy=multi-user.target"),
    );
    write(
        r,
        &format!("{u}/spec.service"),
        &unit("Alias=%p-alias.service\nWantedBy=multi-user.target"),
    );
    write(
        r,
        &format!("{u}/static.service"),
        "[Service]\nExecStart=/bin/true\n",
    );
    write(
        r,
        &format!("{u}/reset.service"),
        &unit("WantedBy=foo.target\nWantedBy=\nWantedBy=multi-user.target"),
    );
    std::os::unix::fs::symlink(
        "a.service",
        r.join("usr/lib/systemd/system/vendoralias.service"),
    )
    .unwrap();
    write(
        r,
        "/etc/systemd/system/local.service",
        &unit("WantedBy=multi-user.target"),
    );
    let p = "/usr/lib/systemd/system-preset";
    write(r, &format!("{p}/10-over.preset"), "enable a.service\n");
    write(r, &format!("{p}/50-x.preset"), "# comment\nenable u@.service x y\ndisable t@*\nenable sp?c.service\nenable loc[a-z]l.service\n");
    write(r, &format!("{p}/99-default.preset"), "disable *\n");
    write(
        r,
        "/etc/systemd/system-preset/10-over.preset",
        "disable a.service\nbogus line\n",
    );
    d
}

fn copy(src: &Path) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    crate::tools::run(
        "cp",
        &[
            "-a".to_string(),
            format!("{}/.", src.display()),
            d.path().display().to_string(),
        ],
    )
    .unwrap();
    d
}

fn systemctl(root: &Path, args: &[&str]) {
    // The host's systemctl is the oracle for these tests.
    let mut all = vec![format!("--root={}", root.display())];
    all.extend(args.iter().map(|a| a.to_string()));
    crate::tools::run("systemctl", &all).unwrap();
}

/// Every symlink under /etc: path → target, `/lib/` mapped as the module
/// doc explains.
fn links(root: &Path) -> BTreeMap<String, String> {
    let mut v = Vec::new();
    collect_links(root, "/etc", &mut v).unwrap();
    let lib_is_link =
        fs::symlink_metadata(root.join("lib")).is_ok_and(|m| m.file_type().is_symlink());
    v.into_iter()
        .map(|l| {
            let t = fs::read_link(in_root(root, &l).unwrap())
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let t = match t.strip_prefix("/lib/") {
                Some(rest) if lib_is_link => format!("/usr/lib/{rest}"),
                _ => t,
            };
            (l, t)
        })
        .collect()
}

fn env(root: &Path) -> Env {
    Env {
        root: root.to_path_buf(),
        manifest_dir: root.to_path_buf(),
        source_date_epoch: 0,
        releasever: "9".into(),
    }
}

fn services(enabled: &[&str], disabled: &[&str], masked: &[&str]) -> Services {
    let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect();
    Services {
        enabled: v(enabled),
        disabled: v(disabled),
        masked: v(masked),
    }
}

#[test]
fn enable_disable_mask_match_systemctl() {
    for split_usr in [false, true] {
        let base = tree(split_usr);
        let (ours, theirs) = (copy(base.path()), copy(base.path()));
        let mut enabled = vec![
            "a",
            "t@.service",
            "u@x.service",
            "vendoralias",
            "local",
            "static",
            "spec",
            "reset",
        ];
        if split_usr {
            enabled.push("legacy");
        }
        apply(&env(ours.path()), &services(&enabled, &[], &[])).unwrap();
        systemctl(theirs.path(), &[&["enable"], &enabled[..]].concat());
        let after_enable = links(ours.path());
        assert_eq!(
            after_enable,
            links(theirs.path()),
            "enable, split_usr={split_usr}"
        );
        assert_eq!(
            after_enable
                .get("/etc/systemd/system/multi-user.target.wants/t@one.service")
                .map(String::as_str),
            Some("/usr/lib/systemd/system/t@.service")
        );
        assert!(after_enable.contains_key("/etc/systemd/system/spec-alias.service"));
        assert!(after_enable.contains_key("/etc/systemd/system/a.service.requires/b.service"));
        if split_usr {
            assert_eq!(
                after_enable["/etc/systemd/system/multi-user.target.wants/legacy.service"],
                "/lib/systemd/system/legacy.service"
            );
        }

        // Disable: Also= goes along, aliases go, other instances stay.
        apply(
            &env(ours.path()),
            &services(&[], &["a", "t@one.service"], &["static", "nope"]),
        )
        .unwrap();
        systemctl(theirs.path(), &["disable", "a", "t@one.service"]);
        systemctl(theirs.path(), &["mask", "static", "nope"]);
        let after = links(ours.path());
        assert_eq!(
            after,
            links(theirs.path()),
            "disable+mask, split_usr={split_usr}"
        );
        assert!(!after.contains_key("/etc/systemd/system/aa.service"));
        assert!(!after.contains_key("/etc/systemd/system/sockets.target.wants/b.service"));
        assert!(after.contains_key("/etc/systemd/system/multi-user.target.wants/u@x.service"));
        assert_eq!(after["/etc/systemd/system/static.service"], "/dev/null");

        // Disabling a whole template takes its instances.
        apply(
            &env(ours.path()),
            &services(&[], &["u@.service", "static"], &[]),
        )
        .unwrap();
        systemctl(theirs.path(), &["disable", "u@.service", "static"]);
        assert_eq!(links(ours.path()), links(theirs.path()));
        assert!(!links(ours.path())
            .contains_key("/etc/systemd/system/multi-user.target.wants/u@x.service"));
    }
}

#[test]
fn preset_all_matches_systemctl() {
    for (split_usr, catch_all) in [(false, true), (false, false), (true, true), (true, false)] {
        let base = tree(split_usr);
        if !catch_all {
            fs::remove_file(
                base.path()
                    .join("usr/lib/systemd/system-preset/99-default.preset"),
            )
            .unwrap();
            let p = base
                .path()
                .join("usr/lib/systemd/system-preset/50-x.preset");
            let text = fs::read_to_string(&p)
                .unwrap()
                .replace("disable t@*", "enable t@*");
            fs::write(p, text).unwrap();
        }
        // A stale link that a disable rule must remove.
        let wants = base
            .path()
            .join("etc/systemd/system/multi-user.target.wants");
        fs::create_dir_all(&wants).unwrap();
        std::os::unix::fs::symlink(
            "/usr/lib/systemd/system/t@.service",
            wants.join("t@zz.service"),
        )
        .unwrap();
        let (ours, theirs) = (copy(base.path()), copy(base.path()));
        preset_all(ours.path()).unwrap();
        systemctl(theirs.path(), &["preset-all"]);
        let got = links(ours.path());
        assert_eq!(
            got,
            links(theirs.path()),
            "split_usr={split_usr} catch_all={catch_all}"
        );
        let w =
            |n: &str| got.contains_key(&format!("/etc/systemd/system/multi-user.target.wants/{n}"));
        // /etc's 10-over.preset shadows /usr/lib's: a stays disabled.
        assert!(!w("a.service"));
        assert!(w("u@x.service") && w("u@y.service") && w("spec.service") && w("local.service"));
        assert_eq!(w("t@zz.service"), !catch_all);
        assert_eq!(w("t@one.service"), !catch_all);
        assert_eq!(w("reset.service"), !catch_all, "no rule matches: enabled");
    }
}

#[test]
fn unknown_units_are_errors_naming_them() {
    let t = tree(false);
    let e = apply(&env(t.path()), &services(&["nosuch"], &[], &[])).unwrap_err();
    assert!(
        format!("{e:#}").contains("nosuch.service not found"),
        "{e:#}"
    );
    let e = apply(&env(t.path()), &services(&[], &["gone.socket"], &[])).unwrap_err();
    assert!(format!("{e:#}").contains("gone.socket not found"), "{e:#}");
    assert!(links(t.path()).is_empty());
}

#[test]
fn refusals() {
    let t = tree(false);
    let r = t.path();
    // A template without DefaultInstance needs an instance (systemctl refuses too).
    let e = apply(&env(r), &services(&["u@.service"], &[], &[])).unwrap_err();
    assert!(format!("{e:#}").contains("u@NAME.service"), "{e:#}");
    // Enabling a masked unit.
    apply(&env(r), &services(&[], &[], &["a"])).unwrap();
    let e = apply(&env(r), &services(&["a"], &[], &[])).unwrap_err();
    assert!(format!("{e:#}").contains("a.service is masked"), "{e:#}");
    // An alias already taken by another unit.
    write(
        r,
        "/usr/lib/systemd/system/c.service",
        &unit("Alias=spec-alias.service"),
    );
    apply(&env(r), &services(&["spec"], &[], &[])).unwrap();
    let e = apply(&env(r), &services(&["c"], &[], &[])).unwrap_err();
    assert!(
        format!("{e:#}").contains("spec-alias.service already exists"),
        "{e:#}"
    );
    // Masking over a real unit file in /etc.
    let e = apply(&env(r), &services(&[], &[], &["local"])).unwrap_err();
    assert!(format!("{e:#}").contains("not a symlink"), "{e:#}");
    // Enabling twice is idempotent.
    apply(&env(r), &services(&["spec", "spec"], &[], &[])).unwrap();
    assert!(unit_name("a/b").is_err() && unit_name("").is_err());
}

#[test]
fn install_parsing_and_names() {
    let i = parse_install(
        "[Service]\nWantedBy=nope.target\n[Install]\n# c\nWantedBy=a.target b.target\nWantedBy=\nWantedBy=c.target\n\
         Alias=x.service \\\n y.service\nAlso=z\nDefaultInstance=d\n",
    );
    assert_eq!(i.wanted_by, ["c.target"]);
    assert_eq!(i.alias, ["x.service", "y.service"]);
    assert_eq!(i.also, ["z"]);
    assert_eq!(i.default_instance.as_deref(), Some("d"));
    assert!(parse_install("[Service]\nExecStart=/x\n").is_empty());
    assert_eq!(unit_name("sshd").unwrap(), "sshd.service");
    assert_eq!(unit_name("cockpit.socket").unwrap(), "cockpit.socket");
    assert_eq!(unit_name("foo.bar").unwrap(), "foo.bar.service");
    assert_eq!(
        specifiers("getty@tty1.service", "%p-%i.%N").unwrap(),
        "getty-tty1.getty@tty1"
    );
    assert!(specifiers("a.service", "%H").is_err());
}

#[test]
fn fnmatch_table() {
    for (p, s, want) in [
        ("*", "a.service", true),
        ("a.*", "a.service", true),
        ("a?service", "a.service", true),
        ("[ab].service", "b.service", true),
        ("[!ab].service", "b.service", false),
        ("[a-c]x", "bx", true),
        ("getty@*", "getty@.service", true),
        ("*.socket", "a.service", false),
        ("a*b*c", "aXbYbZc", true),
        ("[", "[", true),
        ("a\\*", "a\\b", true),
    ] {
        assert_eq!(fnmatch(p.as_bytes(), s.as_bytes()), want, "{p} vs {s}");
    }
}

#[test]
fn chase_stays_in_the_tree() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    fs::create_dir_all(r.join("usr/lib/x")).unwrap();
    std::os::unix::fs::symlink("usr/lib", r.join("lib")).unwrap();
    std::os::unix::fs::symlink("../../../../../etc/passwd", r.join("usr/lib/x/up")).unwrap();
    assert_eq!(chase(r, "/lib/x/none").unwrap(), "/usr/lib/x/none");
    assert_eq!(chase(r, "/lib/x/up").unwrap(), "/etc/passwd");
    std::os::unix::fs::symlink("loop", r.join("loop")).unwrap();
    assert!(chase(r, "/loop").is_err());
}
