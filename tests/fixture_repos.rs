//! The fixture repositories are real: Debian's dnf installs from them into
//! a scratch root (scriptlets run, capabilities land), every package is
//! signed with the test key, and the negative repo's unsigned and tampered
//! packages are refused.

mod common;

use common::fixtures::fixture_root;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Runs dnf against one fixture repo with gpgcheck on; returns (output, root).
fn dnf(repo: &str, arch: &str, extra: &[&str], args: &[&str]) -> (Output, tempfile::TempDir) {
    let fx = fixture_root();
    let root = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join(".rpmmacros"), "%_dbpath /var/lib/rpm\n").unwrap();
    let url = format!(
        "file://{}",
        fx.join("repos").join(repo).join(arch).display()
    );
    let key = format!("file://{}", fx.join("keys/RPM-GPG-KEY-fixture").display());
    let mut c = Command::new("dnf");
    c.env("HOME", home.path())
        .arg("-y")
        .arg(format!("--installroot={}", root.path().display()))
        .args([
            "--releasever=1",
            &format!("--forcearch={arch}"),
            "--setopt=reposdir=/dev/null",
        ])
        .arg(format!(
            "--setopt=cachedir={}",
            home.path().join("cache").display()
        ))
        .arg(format!("--repofrompath=fx,{url}"))
        .args([
            "--setopt=fx.gpgcheck=1",
            &format!("--setopt=fx.gpgkey={key}"),
        ])
        .args(extra)
        .args(args);
    let out = c.output().expect("dnf runs");
    std::mem::forget(home);
    (out, root)
}

fn installed(root: &Path) -> Vec<String> {
    let o = Command::new("rpm")
        .args([
            "--root",
            root.to_str().unwrap(),
            "--dbpath",
            "/var/lib/rpm",
            "-qa",
            "--qf",
            "%{NAME}.%{ARCH}\n",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let mut v: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

fn rpms(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rpm"))
        .collect();
    v.sort();
    v
}

#[test]
fn dnf_installs_into_a_scratch_root_with_scriptlets_and_caps() {
    let (o, root) = dnf(
        "main",
        "x86_64",
        &[],
        &[
            "install",
            "@core",
            "fixture-scriptlets",
            "fixture-caps",
            "fixture-weak",
            "fixture-filedep",
            "fixture-rich",
            "fixture-old",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let have = installed(root.path());
    for want in [
        "busybox.x86_64",
        "fixture-release.noarch",
        "fixture-base.x86_64",
        "fixture-scriptlets.x86_64",
        "fixture-caps.x86_64",
        // weak deps: Recommends and Supplements come along, Suggests does not
        "fixture-recommended.noarch",
        "fixture-supplement.noarch",
        // fixture-old is obsoleted by fixture-new
        "fixture-new.noarch",
    ] {
        assert!(
            have.contains(&want.to_string()),
            "{want} missing from {have:?}"
        );
    }
    assert!(
        !have
            .iter()
            .any(|p| p.starts_with("fixture-suggested") || p.starts_with("fixture-old")),
        "{have:?}"
    );
    // Exactly one side of the rich "or" dependency.
    let sides = have
        .iter()
        .filter(|p| p.starts_with("fixture-conflict-"))
        .count();
    assert_eq!(sides, 1, "{have:?}");
    for m in ["pre", "post", "posttrans"] {
        let p = root.path().join("var/lib/fixture-markers").join(m);
        assert_eq!(
            std::fs::read_to_string(&p).unwrap_or_default().trim(),
            m,
            "scriptlet marker {m}"
        );
    }
    let caps = Command::new("python3")
        .args([
            "-c",
            "import os,sys; print(os.getxattr(sys.argv[1], 'security.capability').hex())",
        ])
        .arg(root.path().join("usr/bin/fixture-ping"))
        .output()
        .unwrap();
    assert!(
        caps.status.success(),
        "no security.capability xattr: {}",
        text(&caps)
    );
    // cap_net_raw is bit 13: permitted mask 0x2000, little-endian after the 4-byte header.
    assert!(
        String::from_utf8_lossy(&caps.stdout).starts_with("0100000200200000"),
        "{}",
        text(&caps)
    );
    let os = std::fs::read_to_string(root.path().join("etc/os-release")).unwrap();
    assert!(os.contains("ID=fixture"));
}

#[test]
fn aarch64_repo_resolves_for_aarch64() {
    // Scriptlets can't run cross-arch; install without them and check arches.
    let (o, root) = dnf(
        "main",
        "aarch64",
        &["--setopt=tsflags=noscripts"],
        &["install", "@core", "fixture-weak", "fixture-v2"],
    );
    assert!(o.status.success(), "{}", text(&o));
    let have = installed(root.path());
    assert!(have.contains(&"busybox.aarch64".to_string()), "{have:?}");
    assert!(have.contains(&"fixture-v2.aarch64".to_string()), "{have:?}");
    assert!(
        have.iter().all(|p| p.ends_with(".aarch64")
            || p.ends_with(".noarch")
            || p.starts_with("gpg-pubkey")),
        "{have:?}"
    );
}

/// Debian's systemd closure and boot chain, converted, install under
/// AlmaLinux names and paths with their real dependency graph.
fn boot_chain_installs(arch: &str, efi: &str, extra: &[&str]) {
    let shim = format!("shim-{efi}");
    let grub = format!("grub2-efi-{efi}");
    let (o, root) = dnf(
        "main",
        arch,
        extra,
        &[
            "install",
            "systemd",
            "kernel-core",
            &shim,
            &grub,
            "busybox",
            "fixture-release",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let have = installed(root.path());
    // systemd pulled its library closure through converted Depends.
    for want in ["libc6", "libsystemd-shared", "libmount1", "mount"] {
        assert!(
            have.iter().any(|p| p.starts_with(&format!("{want}."))),
            "{want} missing from {have:?}"
        );
    }
    let r = root.path();
    let upper = efi.to_uppercase();
    for f in [
        format!("boot/efi/EFI/almalinux/shim{efi}.efi"),
        format!("boot/efi/EFI/almalinux/mm{efi}.efi"),
        format!("boot/efi/EFI/almalinux/grub{efi}.efi"),
        format!("boot/efi/EFI/almalinux/BOOT{upper}.CSV"),
        format!("boot/efi/EFI/BOOT/BOOT{upper}.EFI"),
        "lib/systemd/systemd".to_string(),
    ] {
        assert!(r.join(&f).is_file(), "{f} not installed");
    }
    let shim_bytes =
        std::fs::read(r.join(format!("boot/efi/EFI/almalinux/shim{efi}.efi"))).unwrap();
    assert_eq!(&shim_bytes[..2], b"MZ", "shim is not a PE image");
    let kdirs: Vec<_> = std::fs::read_dir(r.join("lib/modules"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(kdirs.len(), 1, "{kdirs:?}");
    assert!(kdirs[0].join("vmlinuz").is_file(), "{kdirs:?}");
}

#[test]
fn boot_chain_and_systemd_install_x86_64() {
    boot_chain_installs("x86_64", "x64", &[]);
    // grub2-pc (BIOS) is x86 only.
    let (o, root) = dnf("main", "x86_64", &[], &["install", "grub2-pc"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(root.path().join("usr/lib/grub/i386-pc/boot.img").is_file());
}

#[test]
fn boot_chain_and_systemd_install_aarch64() {
    boot_chain_installs("aarch64", "aa64", &["--setopt=tsflags=noscripts"]);
}

#[test]
fn converted_debs_keep_alternatives_as_rich_deps() {
    let dir = fixture_root().join("repos/main/x86_64");
    let pam = rpms(&dir)
        .into_iter()
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("libpam0g-")
        })
        .expect("libpam0g converted");
    let o = Command::new("rpm")
        .args(["-qp", "--requires"])
        .arg(&pam)
        .output()
        .unwrap();
    let req = String::from_utf8_lossy(&o.stdout);
    assert!(req.contains(" or debconf-2.0)"), "{req}");
}

#[test]
fn conflicting_packages_cannot_be_installed_together() {
    let (o, _root) = dnf(
        "main",
        "x86_64",
        &[],
        &["install", "fixture-conflict-a", "fixture-conflict-b"],
    );
    assert!(!o.status.success());
    assert!(text(&o).contains("conflict"), "{}", text(&o));
}

#[test]
fn group_and_environment_install() {
    let (o, root) = dnf(
        "main",
        "x86_64",
        &[],
        &[
            "group",
            "install",
            "--with-optional",
            "fixture-extras",
            "core",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let have = installed(root.path());
    for want in [
        "fixture-weak.x86_64",
        "fixture-versioned.noarch",
        "fixture-caps.x86_64",
        "busybox.x86_64",
    ] {
        assert!(
            have.contains(&want.to_string()),
            "{want} missing from {have:?}"
        );
    }
}

#[test]
fn x86_64_v2_build_is_in_the_x86_64_repo() {
    let dir = fixture_root().join("repos/main/x86_64");
    let names: Vec<String> = rpms(&dir)
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.contains(&"fixture-v2-1.0-1.x86_64_v2.rpm".to_string()),
        "{names:?}"
    );
    assert!(
        names.contains(&"fixture-v2-1.0-1.x86_64.rpm".to_string()),
        "{names:?}"
    );
    assert!(fixture_root()
        .join("repos/main/x86_64_v2/repodata/repomd.xml")
        .exists());
}

/// rpm -K against a scratch rpmdb holding only the test key; also returns
/// that key's id.
fn check_sig(pkg: &Path) -> Output {
    check_sig_with_key(pkg).0
}

fn check_sig_with_key(pkg: &Path) -> (Output, String) {
    let db = tempfile::tempdir().unwrap();
    let key = fixture_root().join("keys/RPM-GPG-KEY-fixture");
    let imp = Command::new("rpm")
        .args(["--dbpath", db.path().to_str().unwrap(), "--import"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(imp.status.success(), "{}", text(&imp));
    let id = Command::new("rpm")
        .args([
            "--dbpath",
            db.path().to_str().unwrap(),
            "-q",
            "gpg-pubkey",
            "--qf",
            "%{VERSION}",
        ])
        .output()
        .unwrap();
    let id = String::from_utf8_lossy(&id.stdout).trim().to_string();
    assert_eq!(id.len(), 8, "key id {id:?}");
    (
        Command::new("rpm")
            .args(["--dbpath", db.path().to_str().unwrap(), "-Kv"])
            .arg(pkg)
            .output()
            .unwrap(),
        id,
    )
}

#[test]
fn every_main_package_is_signed_with_the_test_key() {
    for arch in ["x86_64", "aarch64"] {
        let all = rpms(&fixture_root().join("repos/main").join(arch));
        assert!(all.len() >= 15, "{arch}: {} packages", all.len());
        for p in all {
            let (o, id) = check_sig_with_key(&p);
            let t = text(&o);
            assert!(o.status.success(), "{}: {t}", p.display());
            assert!(
                t.contains(&format!("Signature, key ID {id}: OK")),
                "{}: {t}",
                p.display()
            );
        }
    }
}

#[test]
fn unsigned_and_tampered_packages_are_refused() {
    let neg = fixture_root().join("repos/negative/x86_64");
    let all = rpms(&neg);
    let unsigned = all
        .iter()
        .find(|p| p.to_string_lossy().contains("fixture-unsigned"))
        .unwrap();
    let tampered = all
        .iter()
        .find(|p| p.to_string_lossy().contains("fixture-tampered"))
        .unwrap();
    let t = text(&check_sig(unsigned));
    assert!(
        !t.contains("Signature, key ID"),
        "unsigned package shows a signature: {t}"
    );
    let o = check_sig(tampered);
    assert!(
        !o.status.success(),
        "tampered package verified: {}",
        text(&o)
    );
    assert!(
        text(&o).contains("BAD") || text(&o).contains("NOT OK"),
        "{}",
        text(&o)
    );
    for name in ["fixture-unsigned", "fixture-tampered"] {
        let (o, _root) = dnf("negative", "x86_64", &[], &["install", name]);
        assert!(!o.status.success(), "dnf installed {name}: {}", text(&o));
    }
}

/// `versions.json` tells the truth about the build: every pin has the
/// version it used (the pin itself unless it fell back, with a note
/// then), the kernel release per arch is the one in kernel-core, and the
/// boot chain's RPMs carry the versions used. Tests read versions from
/// here or from the RPMs, never from a constant.
#[test]
fn versions_json_records_what_the_fixture_is_made_of() {
    let fx = fixture_root();
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fx.join("versions.json")).unwrap()).unwrap();
    assert_eq!(v["version"], 1, "{v}");
    let pins = v["pinned"].as_array().unwrap();
    assert!(pins.len() >= 9, "{v}");
    let mut fell_back = false;
    for p in pins {
        let (pin, used) = (p["pinned"].as_str().unwrap(), p["used"].as_str().unwrap());
        assert!(!used.is_empty(), "{p}");
        assert_eq!(p["fallback"].as_bool().unwrap(), pin != used, "{p}");
        fell_back |= pin != used;
    }
    assert_eq!(v.get("note").is_some(), fell_back, "a fallback is noted");
    let used = |name: &str| {
        pins.iter()
            .find(|p| p["package"] == name)
            .unwrap_or_else(|| panic!("{name} not in versions.json"))["used"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let repo = fx.join("repos/main/x86_64");
    let rpm_q = |prefix: &str, fmt: &str| {
        let f = rpms(&repo)
            .into_iter()
            .find(|p| {
                let n = p.file_name().unwrap().to_string_lossy().into_owned();
                n.starts_with(prefix) && n[prefix.len()..].starts_with(|c: char| c.is_ascii_digit())
            })
            .unwrap_or_else(|| panic!("no {prefix}* in {}", repo.display()));
        let o = Command::new("rpm")
            .args(["-qp", "--nosignature", "--qf", fmt])
            .arg(&f)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    // deb2rpm maps epoch:upstream-revision onto E:V-R and keeps the
    // Debian version as a provide.
    for (rpm, deb) in [
        ("grub2-efi-x64-", "grub-efi-amd64-signed:amd64"),
        ("shim-x64-", "shim-signed:amd64"),
        ("grub2-pc-", "grub-pc-bin:amd64"),
    ] {
        let provides = rpm_q(rpm, "[%{PROVIDES} = %{PROVIDEVERSION}\n]");
        // A Debian version without a revision becomes release 0.
        let deb_v = used(deb);
        let want = if deb_v.contains('-') {
            format!("= {deb_v}")
        } else {
            format!("= {deb_v}-0")
        };
        assert!(
            provides
                .lines()
                .any(|l| l.starts_with("debian-version(") && l.ends_with(&want)),
            "{rpm}: {want} not in\n{provides}"
        );
    }
    let kver = v["kernels"]["x86_64"].as_str().unwrap();
    let files = rpm_q("kernel-core-", "[%{FILENAMES}\n]");
    assert!(
        files
            .lines()
            .any(|l| l == format!("/lib/modules/{kver}/vmlinuz")),
        "kernel-core has no /lib/modules/{kver}/vmlinuz"
    );
}
