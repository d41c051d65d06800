//! `image-builder build` of tree outputs (tar, directory) end to end on
//! the fixture distribution: the systemd fixture installs into a tree
//! whose rpmdb lists exactly the locked set and verifies clean, scriptlet
//! markers and file capabilities survive (also inside the tar), two builds
//! from one lockfile give byte-identical archives and SBOMs.

mod common;

use common::cli::{s, text, Env};
use std::path::Path;
use std::process::{Command, Output};

fn rpm_q(root: &Path, args: &[&str]) -> Output {
    Command::new("rpm")
        .arg("--root")
        .arg(root)
        .args(["--dbpath", "/var/lib/rpm"])
        .args(args)
        .output()
        .unwrap()
}

const SYSTEMD: &str = r#"name = "sysd"
distro = "fixture"
architecture = "x86_64"
packages = [
  { name = "systemd" }, { name = "busybox" }, { name = "fixture-release" },
  { name = "fixture-scriptlets" }, { name = "fixture-caps" },
]

[[output]]
type = "tar"

[[output]]
type = "directory"
"#;

#[test]
fn systemd_fixture_tree_tar_and_directory() {
    let env = Env::new();
    let m = env.manifest("sysd.toml", SYSTEMD);
    let out = env.path("out");
    let o = env.run(&["build", "-o", s(&out), s(&m)]);
    assert!(o.status.success(), "{}", text(&o));
    let dir = out.join("sysd-x86_64");
    let tar = out.join("sysd-x86_64.tar");
    assert!(dir.is_dir() && tar.is_file(), "{}", text(&o));

    // The rpmdb lists exactly the locked packages.
    let lock: toml::Value =
        toml::from_str(&std::fs::read_to_string(env.path("sysd.lock")).unwrap()).unwrap();
    let mut want: Vec<String> = lock["target"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["output"].as_str() == Some("directory"))
        .unwrap()["package"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            format!(
                "{}-{}-{}.{}",
                p["name"].as_str().unwrap(),
                p["version"].as_str().unwrap(),
                p["release"].as_str().unwrap(),
                p["arch"].as_str().unwrap()
            )
        })
        .collect();
    want.sort();
    let q = rpm_q(
        &dir,
        &["-qa", "--qf", "%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}\\n"],
    );
    let mut have: Vec<String> = String::from_utf8_lossy(&q.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    have.sort();
    assert_eq!(have, want);
    assert!(have.iter().any(|p| p.starts_with("systemd-2")), "{have:?}");
    // Nothing on disk differs from what the packages say.
    let v = rpm_q(&dir, &["-Va"]);
    assert!(v.stdout.is_empty(), "rpm -Va: {}", text(&v));

    for m in ["pre", "post", "posttrans"] {
        assert!(dir.join("var/lib/fixture-markers").join(m).is_file());
    }
    let cap = Command::new("getcap")
        .arg(dir.join("usr/bin/fixture-ping"))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&cap.stdout).contains("cap_net_raw=ep"));

    // The tar carries the capability as a PAX xattr record, numeric owners,
    // mtimes clamped to the newest package build time.
    let x = Command::new("python3")
        .arg("-c")
        .arg(
            "import sys, tarfile\n\
             t = tarfile.open(sys.argv[1])\n\
             ms = t.getmembers()\n\
             ping = t.getmember('usr/bin/fixture-ping')\n\
             print('cap' if 'SCHILY.xattr.security.capability' in ping.pax_headers else 'nocap')\n\
             print(max(m.mtime for m in ms))\n\
             print(sorted(set(m.uname for m in ms)))\n\
             print(len(ms))",
        )
        .arg(&tar)
        .output()
        .unwrap();
    let x = String::from_utf8_lossy(&x.stdout).into_owned();
    let lines: Vec<&str> = x.lines().collect();
    assert_eq!(lines[0], "cap", "{x}");
    let newest_build: i64 =
        String::from_utf8_lossy(&rpm_q(&dir, &["-qa", "--qf", "%{BUILDTIME}\\n"]).stdout)
            .lines()
            .map(|l| l.parse::<i64>().unwrap())
            .max()
            .unwrap();
    assert!(lines[1].parse::<i64>().unwrap() <= newest_build, "{x}");
    assert_eq!(lines[2], "['']", "no user names: {x}");
    assert!(lines[3].parse::<usize>().unwrap() > 500, "{x}");

    // Same lockfile, second build: the same bytes.
    let out2 = env.path("out2");
    let o = env.run(&["build", "--locked", "-o", s(&out2), s(&m)]);
    assert!(o.status.success(), "{}", text(&o));
    let a = std::fs::read(&tar).unwrap();
    let b = std::fs::read(out2.join("sysd-x86_64.tar")).unwrap();
    assert!(a == b, "two builds from one lockfile differ");
    // Nothing but the artifacts is left in the output directory.
    let mut names: Vec<String> = std::fs::read_dir(&out2)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".spdx.json") && !n.ends_with(".cdx.json"))
        .collect();
    names.sort();
    assert_eq!(names, vec!["sysd-x86_64", "sysd-x86_64.tar"]);
}

#[test]
fn failed_build_leaves_nothing_at_the_output_path() {
    let env = Env::new();
    // A files customization that cannot be honored fails after install.
    let m = env.manifest(
        "bad.toml",
        &format!(
            "name = \"bad\"\ndistro = \"fixture\"\narchitecture = \"x86_64\"\n\
             packages = [{{ name = \"busybox\" }}]\n\
             [[output]]\ntype = \"tar\"\n\
             [[customizations.files]]\npath = \"/etc/motd\"\nuri = \"file://{}\"\n",
            env.path("does-not-exist").display()
        ),
    );
    let out = env.path("out");
    let o = env.run(&["build", "-o", s(&out), s(&m)]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("does-not-exist"), "{}", text(&o));
    let left: Vec<_> = std::fs::read_dir(&out)
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// Every tree customization the fixture can carry, end to end through the
/// CLI; each module also has unit tests over hand-made trees.
#[test]
fn customizations_end_to_end() {
    let env = Env::new();
    let m = env.manifest(
        "cz.toml",
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/tree/customized.toml"
        ))
        .unwrap(),
    );
    let out = env.path("out");
    let o = env.run(&["build", "--json", "-o", s(&out), s(&m)]);
    assert!(o.status.success(), "{}", text(&o));
    let d = out.join("cz-x86_64");
    let read = |p: &str| std::fs::read_to_string(d.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    assert_eq!(read("etc/hostname").trim(), "fixture-tree");
    assert!(read("etc/passwd").contains("tester:x:1000:1000::/home/tester:/bin/bash"));
    assert!(read("etc/group").contains("wheel:x:10:tester"));
    assert!(read("etc/group").contains("ops:x:2000:tester"));
    let shadow = read("etc/shadow");
    let hash = shadow
        .lines()
        .find(|l| l.starts_with("tester:"))
        .unwrap()
        .split(':')
        .nth(1)
        .unwrap()
        .to_string();
    let salt = hash.split('$').nth(2).unwrap();
    let openssl = Command::new("openssl")
        .args(["passwd", "-6", "-salt", salt, "test"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&openssl.stdout).trim(), hash);
    assert!(read("home/tester/.ssh/authorized_keys").contains("FixtureKey"));
    assert_eq!(
        std::fs::read_link(d.join("etc/localtime")).unwrap(),
        Path::new("../usr/share/zoneinfo/Europe/Prague")
    );
    assert!(read("etc/chrony.conf").contains("server ntp.example.org iburst"));
    assert!(read("etc/chrony.conf").contains("#pool "));
    assert_eq!(read("etc/locale.conf").trim(), "LANG=cs_CZ.UTF-8");
    assert!(read("etc/vconsole.conf").contains("KEYMAP=cz"));
    assert_eq!(
        std::fs::read_link(d.join("etc/systemd/system/systemd-timesyncd.service")).unwrap(),
        Path::new("/dev/null")
    );
    assert!(d
        .join("etc/systemd/system/multi-user.target.wants/systemd-networkd.service")
        .is_symlink());
    assert!(d
        .join("etc/systemd/system/multi-user.target.wants/image-builder-firstboot-01-hello.service")
        .is_symlink());
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let srv = std::fs::metadata(d.join("srv/data")).unwrap();
    assert_eq!(srv.permissions().mode() & 0o7777, 0o750);
    assert_eq!(srv.uid(), 1000);
    assert_eq!(read("etc/motd"), "fixture\n");
    assert!(
        read("etc/yum.repos.d/extra.repo").contains("baseurl=https://example.org/extra/$basearch/")
    );
    assert!(
        read("etc/ssh/sshd_config.d/40-image-builder.conf").contains("PasswordAuthentication no")
    );
    let zone = read("etc/firewalld/zones/public.xml");
    assert!(
        zone.contains(r#"<port port="8080" protocol="tcp"/>"#),
        "{zone}"
    );
    assert!(
        zone.contains(r#"<service name="http"/>"#) && !zone.contains(r#"name="ssh""#),
        "{zone}"
    );
    let keys = rpm_q(&d, &["-q", "gpg-pubkey"]);
    assert!(keys.status.success(), "{}", text(&keys));
    // rpm -V: only the config files the customizations changed differ.
    let v = rpm_q(&d, &["-Va"]);
    let changed: Vec<String> = String::from_utf8_lossy(&v.stdout)
        .lines()
        .map(|l| l.to_string())
        .collect();
    for l in &changed {
        assert!(l.contains("  c /etc/"), "a non-config file changed: {l}");
    }
    assert!(!changed.is_empty());
    // `--json` is JSON lines, each event with the schema version; the
    // stages come in pipeline order.
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(events.iter().all(|v| v["v"] == 1), "{events:?}");
    let stages: Vec<&str> = events
        .iter()
        .filter(|v| v["event"] == "stage")
        .map(|v| v["stage"].as_str().unwrap())
        .collect();
    assert_eq!(stages, ["resolve", "fetch", "build", "deliver"]);
    let at = |kind: &str, stage: &str| {
        events
            .iter()
            .position(|v| v["event"] == kind && (stage.is_empty() || v["stage"] == stage))
            .unwrap_or_else(|| panic!("no {kind} {stage} event"))
    };
    assert!(at("planned", "") < at("stage", "fetch"));
    assert!(at("stage", "build") < at("artifact", ""));
    // The JSON report names what was applied.
    let report = events
        .iter()
        .find(|v| v["event"] == "artifact")
        .expect("an artifact event");
    let applied: Vec<&str> = report["customizations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for want in [
        "user",
        "hostname",
        "timezone",
        "locale",
        "directories",
        "files",
        "repositories",
        "sshd",
        "rpm",
        "firewall",
        "firstboot",
        "services",
    ] {
        assert!(applied.contains(&want), "{want} not in {applied:?}");
    }
}

/// A customization the tree cannot honor is a clear error, never skipped.
#[test]
fn openscap_without_oscap_is_a_clear_error() {
    let env = Env::new();
    let m = env.manifest(
        "scap.toml",
        "name = \"scap\"\ndistro = \"fixture\"\narchitecture = \"x86_64\"\n\
         packages = [{ name = \"busybox\" }]\n\
         [customizations.openscap]\nprofile_id = \"xccdf_org.ssgproject.content_profile_cis\"\n\
         [[output]]\ntype = \"directory\"\n",
    );
    let o = env.run(&["build", "-o", s(&env.path("out")), s(&m)]);
    assert!(!o.status.success());
    // The plan adds openscap-scanner, which the fixture does not have.
    assert!(text(&o).contains("openscap-scanner"), "{}", text(&o));
}
