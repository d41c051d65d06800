//! Installer kickstarts checked by pykickstart's own validator, not by our
//! reading of the kickstart docs: every template in `kickstarts/` and the
//! kickstart generated for a matrix of manifests (plain, users and keys,
//! unattended, sudo-nopasswd, a disk layout, filesystems raw and on LVM, a
//! kickstart of your own) × every release × the payloads it can install
//! passes `ksvalidator -v RHEL10` (RHEL9, RHEL8 for those releases).
//! `ksvalidator` comes from the Python venv `scripts/install-deps.sh`
//! makes (`IMAGE_BUILDER_PYVENV`, default /opt/image-builder-py). A test
//! proves it refuses a broken kickstart, so a pass means something. Two
//! generated kickstarts are pinned as snapshots.

use std::path::{Path, PathBuf};
use std::process::Command;

use alma_image_builder::kickstart::{self, Payload, Release, Request};
use alma_image_builder::manifest::{self, validate};

fn pyvenv() -> PathBuf {
    std::env::var_os("IMAGE_BUILDER_PYVENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/image-builder-py"))
}

/// Runs `ksvalidator -v VERSION FILE`; returns (success, output).
fn ksvalidator(version: &str, file: &Path) -> (bool, String) {
    let bin = pyvenv().join("bin/ksvalidator");
    let out = Command::new(&bin)
        .arg("-v")
        .arg(version)
        .arg(file)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {}: {e} (scripts/install-deps.sh installs pykickstart into the venv)",
                bin.display()
            )
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // ksvalidator exits 0 on deprecation warnings; they still mean the
    // release's installer would complain, so they fail here too.
    let warned = text.contains("deprecated") || text.contains("Deprecat");
    (out.status.success() && !warned, text)
}

fn workdir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("kickstart-{name}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

const HASH: &str = "$6$rounds=4096$saltsalt$B3oPjEzWXBxVkqaOkmPDWLsJNTvMWJO2ofIgs1g.WfxUpXV1XoqDDjMgV1KqujWSfq/0.L6Ozv5nlo3gsTOIH/";

/// The manifest matrix: (name, TOML). Each builds an iso-installer.
fn manifests() -> Vec<(&'static str, String)> {
    let out = "[[output]]\ntype = \"iso-installer\"\n";
    vec![
        ("plain", out.to_string()),
        (
            "users",
            format!(
                r#"{out}
[[customizations.sshkey]]
user = "legacy"
key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDXr legacy@example"

[[customizations.user]]
name = "alice"
description = "Alice \"A\" #1"
password = "{HASH}"
key = """
ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBxr alice@laptop
ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC alice@desk
"""
home = "/home/alice/"
shell = "/bin/bash"
groups = ["wheel", "devs"]
uid = 1001
gid = 1001

[[customizations.user]]
name = "bob"
password = "plain text #secret"

[[customizations.user]]
name = "root"
password = "{HASH}"
key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIRoo root@admin"

[[customizations.group]]
name = "devs"
gid = 2000
"#
            ),
        ),
        (
            "unattended",
            format!(
                r#"{out}
[customizations]
hostname = "node1.example.com"
[customizations.kernel]
append = "console=ttyS0,115200 quiet"
[customizations.locale]
languages = ["de_DE.UTF-8", "en_US.UTF-8"]
keyboard = "de-nodeadkeys"
[customizations.timezone]
timezone = "Europe/Prague"
ntpservers = ["0.pool.ntp.org", "1.pool.ntp.org"]
[customizations.services]
enabled = ["sshd", "chronyd"]
disabled = ["kdump"]
[customizations.firewall]
ports = ["22:tcp", "30000-32767:udp"]
[customizations.firewall.services]
enabled = ["ssh", "http"]
disabled = ["cockpit"]
[customizations.installer]
unattended = true
"#
            ),
        ),
        (
            "sudo",
            format!(
                r#"{out}
[[customizations.user]]
name = "alice"
password = "{HASH}"
groups = ["wheel"]
force_password_reset = true
expiredate = 20000
[customizations.services]
masked = ["kdump"]
[[customizations.firewall.zones]]
name = "trusted"
sources = ["10.0.0.0/8"]
[customizations.installer]
unattended = true
sudo-nopasswd = ["alice", "%wheel"]
"#
            ),
        ),
        (
            "disk",
            format!(
                r#"{out}
[customizations]
installation_device = "/dev/vda"
[customizations.installer]
unattended = true
[customizations.disk]
type = "gpt"
[[customizations.disk.partitions]]
mountpoint = "/boot"
minsize = "1 GiB"
fs_type = "xfs"
[[customizations.disk.partitions]]
fs_type = "swap"
minsize = "512 MiB"
[[customizations.disk.partitions]]
mountpoint = "/var"
minsize = "2 GiB"
fs_type = "ext4"
label = "var"
[[customizations.disk.partitions]]
mountpoint = "/"
minsize = "4 GiB"
"#
            ),
        ),
        (
            "filesystem-raw",
            format!(
                r#"{out}
[customizations]
partitioning_mode = "raw"
[customizations.installer]
unattended = true
[[customizations.filesystem]]
mountpoint = "/"
minsize = "3 GiB"
[[customizations.filesystem]]
mountpoint = "/var"
minsize = "1 GiB"
"#
            ),
        ),
        (
            "filesystem-lvm",
            format!(
                r#"{out}
[customizations.installer]
unattended = true
[[customizations.filesystem]]
mountpoint = "/var/log"
minsize = "1 GiB"
[[customizations.filesystem]]
mountpoint = "/home"
minsize = 2147483648
"#
            ),
        ),
        (
            "own-kickstart",
            format!(
                r#"{out}
[[customizations.user]]
name = "alice"
key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBxr alice@laptop"
[customizations.installer.kickstart]
contents = """
text --non-interactive
zerombr
clearpart --all --initlabel
autopart --type=lvm
rootpw --lock
poweroff
"""
[customizations.installer.modules]
enable = ["org.fedoraproject.Anaconda.Modules.Localization"]
disable = ["org.fedoraproject.Anaconda.Modules.Network"]
"#
            ),
        ),
    ]
}

fn parse(name: &str, text: &str) -> manifest::Document {
    let doc = manifest::parse(text, Path::new(&format!("{name}.toml")))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    if let Err(d) = validate::check(&doc, &Default::default()) {
        let msgs: Vec<String> = d.iter().map(|d| d.to_string()).collect();
        panic!("{name} does not validate:\n{}", msgs.join("\n"));
    }
    doc
}

fn request<'a>(doc: &'a manifest::Document, payload: Payload, release: Release) -> Request<'a> {
    Request {
        customizations: doc.manifest.customizations.as_ref(),
        packages: &[],
        payload,
        release,
        label: "AlmaLinux-10-x86_64-dvd",
    }
}

fn payloads(release: Release) -> Vec<Payload> {
    Payload::ALL
        .into_iter()
        .filter(|p| !(release == Release::AlmaLinux8 && *p == Payload::Ostreecontainer))
        .collect()
}

#[test]
fn templates_pass_ksvalidator() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("kickstarts");
    let mut seen = 0;
    for r in Release::ALL {
        let f = dir.join(r.template_name());
        assert_eq!(
            std::fs::read_to_string(&f).unwrap(),
            r.template(),
            "{} differs from the embedded copy",
            f.display()
        );
        let (ok, out) = ksvalidator(r.validator_version(), &f);
        assert!(ok, "{}: ksvalidator -v {}:\n{out}", f.display(), r.validator_version());
        seen += 1;
    }
    // Every template in the directory belongs to a release.
    let files = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .to_string_lossy()
                .ends_with(".ks.in")
        })
        .count();
    assert_eq!(files, seen, "a template in kickstarts/ has no Release");
}

#[test]
fn generated_kickstarts_pass_ksvalidator() {
    let dir = workdir("matrix");
    let mut failures = vec![];
    let mut n = 0;
    for (name, text) in manifests() {
        let doc = parse(name, &text);
        for r in Release::ALL {
            for p in payloads(r) {
                let ks = kickstart::generate(&request(&doc, p, r))
                    .unwrap_or_else(|e| panic!("{name} {r:?} {p}: {e}"));
                let again = kickstart::generate(&request(&doc, p, r)).unwrap();
                assert_eq!(ks, again, "{name} {r:?} {p}: not deterministic");
                let f = dir.join(format!("{name}-{r:?}-{p}.ks"));
                std::fs::write(&f, &ks.text).unwrap();
                let (ok, out) = ksvalidator(ks.validator, &f);
                if !ok {
                    failures.push(format!(
                        "{name} {r:?} {p} (ksvalidator -v {}):\n{out}\n{}",
                        ks.validator, ks.text
                    ));
                }
                n += 1;
            }
        }
    }
    assert!(n >= 80, "only {n} kickstarts generated");
    assert!(failures.is_empty(), "{}", failures.join("\n----\n"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ksvalidator_refuses_a_broken_kickstart() {
    let dir = workdir("broken");
    let f = dir.join("broken.ks");
    // ostreecontainer is unknown to RHEL8, btrfs to RHEL10's handler.
    std::fs::write(&f, "ostreecontainer --url=/x\n").unwrap();
    assert!(!ksvalidator("RHEL8", &f).0);
    std::fs::write(&f, "part btrfs.01 --size=1\nbtrfs / --data=single btrfs.01\n").unwrap();
    assert!(!ksvalidator("RHEL10", &f).0);
    std::fs::write(&f, "rootpw --lock\n").unwrap();
    assert!(ksvalidator("RHEL10", &f).0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_kickstart_says_what_the_manifest_says() {
    let all = manifests();
    let get = |n: &str| all.iter().find(|(m, _)| *m == n).unwrap().1.clone();
    let users = parse("users", &get("users"));
    let ks = kickstart::generate(&request(&users, Payload::Ostreecontainer, Release::AlmaLinux10))
        .unwrap()
        .text;
    insta::assert_snapshot!("users_bootc_almalinux10", ks);
    let sudo = parse("sudo", &get("sudo"));
    let ks = kickstart::generate(&request(&sudo, Payload::Liveimg, Release::AlmaLinux9))
        .unwrap()
        .text;
    insta::assert_snapshot!("sudo_liveimg_almalinux9", ks);

    // A kickstart of your own: its text, then the payload; Anaconda modules
    // come back for the ISO builder.
    let own = parse("own-kickstart", &get("own-kickstart"));
    let k = kickstart::generate(&request(&own, Payload::Liveimg, Release::AlmaLinux10)).unwrap();
    let body = k.text.find("autopart --type=lvm").unwrap();
    let payload = k.text.find("liveimg --url=").unwrap();
    assert!(body < payload, "{}", k.text);
    assert!(!k.text.contains("rootpw --lock\nrootpw"), "{}", k.text);
    assert_eq!(
        k.modules.disable,
        vec!["org.fedoraproject.Anaconda.Modules.Network".to_string()]
    );
    assert_eq!(k.file_name, "osbuild.ks");
    assert_eq!(
        kickstart::inst_ks_arg("ALMA 10"),
        "inst.ks=hd:LABEL=ALMA\\x2010:/osbuild.ks"
    );

    // EL8's Anaconda has no ostreecontainer: a clear refusal, no panic.
    let plain = parse("plain", &get("plain"));
    let e = kickstart::generate(&request(&plain, Payload::Ostreecontainer, Release::AlmaLinux8))
        .unwrap_err();
    assert!(e.to_string().contains("cannot install the ostreecontainer payload"), "{e}");
}
