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
//!
//! The fixture's stand-in installer (`tests/fixtures/installer/ks-install.sh`)
//! runs on the host, as root, in a private mount namespace, against a loop
//! device over a sparse file, with a generated kickstart and a liveimg
//! tarball made from the fixture's packages; partitions, filesystems
//! (fsck), accounts, keys, %post and the boot configuration are checked
//! afterwards. Anaconda itself is exercised only on real AlmaLinux media.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use alma_image_builder::kickstart::{self, Payload, Release, Request};
use alma_image_builder::manifest::{self, validate};
use common::fixtures::fixture_root;
use common::skip::skip;

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
        assert!(
            ok,
            "{}: ksvalidator -v {}:\n{out}",
            f.display(),
            r.validator_version()
        );
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
    // (what, validator version, file, text)
    let mut jobs: Vec<(String, &'static str, PathBuf, String)> = vec![];
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
                jobs.push((format!("{name} {r:?} {p}"), ks.validator, f, ks.text));
            }
        }
    }
    assert!(jobs.len() >= 80, "only {} kickstarts generated", jobs.len());
    // One ksvalidator (a Python start-up) per file: spread over the cores.
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let chunk = jobs.len().div_ceil(threads);
    let failures: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = jobs
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .filter_map(|(what, v, f, text)| {
                            let (ok, out) = ksvalidator(v, f);
                            (!ok).then(|| format!("{what} (ksvalidator -v {v}):\n{out}\n{text}"))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
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
    std::fs::write(
        &f,
        "part btrfs.01 --size=1\nbtrfs / --data=single btrfs.01\n",
    )
    .unwrap();
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
    let ks = kickstart::generate(&request(
        &users,
        Payload::Ostreecontainer,
        Release::AlmaLinux10,
    ))
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
    let e = kickstart::generate(&request(
        &plain,
        Payload::Ostreecontainer,
        Release::AlmaLinux8,
    ))
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("cannot install the ostreecontainer payload"),
        "{e}"
    );
}

/// The manifest the stand-in installs from: an unattended install with a
/// disk layout (ESP from reqpart, /boot, swap, a growing root), a user
/// with a hash, two keys and passwordless sudo, a hostname and kernel
/// arguments.
const INSTALL_MANIFEST: &str = r#"
distro = "fixture"
[[output]]
type = "iso-installer"
[customizations]
hostname = "installed"
[customizations.kernel]
append = "console=ttyS0,115200 fixture.marker=1"
[[customizations.user]]
name = "alice"
password = "HASH"
groups = ["wheel"]
uid = 1001
gid = 1001
key = """
ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBxr alice@laptop
ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDsk alice@desk
"""
[customizations.installer]
unattended = true
sudo-nopasswd = ["alice"]
[[customizations.disk.partitions]]
mountpoint = "/boot"
minsize = "256 MiB"
[[customizations.disk.partitions]]
fs_type = "swap"
minsize = "64 MiB"
[[customizations.disk.partitions]]
mountpoint = "/"
minsize = "512 MiB"
"#;

fn sh(script: &str, envs: &[(&str, &Path)]) -> (bool, String) {
    let mut c = Command::new("sh");
    c.arg("-c").arg(script);
    for (k, v) in envs {
        c.env(k, v);
    }
    let o = c.output().unwrap();
    (
        o.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

#[test]
fn stand_in_installer_installs_a_liveimg_onto_an_empty_disk() {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root || !Path::new("/dev/loop-control").exists() {
        skip("needs root and loop devices");
        return;
    }
    for tool in [
        "unshare",
        "losetup",
        "sfdisk",
        "mkfs.vfat",
        "mkfs.ext4",
        "rpm2cpio",
        "cpio",
        "mcopy",
    ] {
        if !sh(&format!("command -v {tool}"), &[]).0 {
            skip(&format!("{tool} missing (scripts/install-deps.sh)"));
            return;
        }
    }
    let repo = fixture_root().join("repos/main/x86_64");
    let d = tempfile::tempdir().unwrap();
    let tree = d.path().join("tree");
    let medium = d.path().join("medium");
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::create_dir_all(&medium).unwrap();

    // The payload: a tree from the fixture's packages (busybox for /bin/sh
    // and %post, os-release, shim and GRUB on /boot/efi, the kernel).
    let (ok, out) = sh(
        r#"set -e
cd "$TREE"
for p in busybox fixture-release shim-x64 grub2-efi-x64; do
  rpm2cpio "$(ls "$REPO"/$p-[0-9]*.rpm | head -n 1)" | cpio -idm --quiet
done
rpm2cpio "$(ls "$REPO"/kernel-core-*.rpm | head -n 1)" | cpio -idm --quiet './boot/vmlinuz-*'
mkdir -p etc proc sys dev run tmp
tar -czf "$MEDIUM/liveimg.tar.gz" -C "$TREE" .
"#,
        &[("TREE", &tree), ("REPO", &repo), ("MEDIUM", &medium)],
    );
    assert!(ok, "making the payload: {out}");

    let text = INSTALL_MANIFEST.replace("HASH", HASH);
    let doc = parse("install", &text);
    let ks = kickstart::generate(&Request {
        customizations: doc.manifest.customizations.as_ref(),
        packages: &[],
        payload: Payload::Liveimg,
        release: Release::Fixture,
        label: "FIXTURE-1-x86_64",
    })
    .unwrap();
    std::fs::write(medium.join(ks.file_name), &ks.text).unwrap();
    let (ok, out) = ksvalidator(ks.validator, &medium.join(ks.file_name));
    assert!(ok, "{out}\n{}", ks.text);

    let disk = d.path().join("disk.img");
    std::fs::File::create(&disk)
        .unwrap()
        .set_len(2 << 30)
        .unwrap();
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/installer/ks-install.sh");
    let target = d.path().join("sysimage");
    let check = d.path().join("check");
    std::fs::create_dir_all(&check).unwrap();
    // One private mount namespace for the install and the checks; the
    // loop device is detached on the way out.
    let (ok, out) = sh(
        r#"exec unshare --mount --propagation private sh -euc '
dev=$(losetup -f --show -P "$DISK")
trap "umount -R \"$CHECK\" 2>/dev/null || true; losetup -d $dev" EXIT
KS_FILE="$MEDIUM/osbuild.ks" KS_REPO="$MEDIUM" KS_TARGET=$dev KS_ROOT="$TARGET" KS_NO_REBOOT=1 sh "$SCRIPT"
echo "== table"; sfdisk -d $dev
for p in ${dev}p*; do
  t=$(blkid -o value -s TYPE $p)
  echo "== part ${p#$dev} $t $(blkid -o value -s UUID $p)"
  case $t in
    vfat) fsck.vfat -n $p >/dev/null && echo "fsck ok" ;;
    ext4) e2fsck -fn $p >/dev/null 2>&1 && echo "fsck ok" ;;
    swap) echo "fsck ok" ;;
  esac
done
mount ${dev}p4 "$CHECK"; mount ${dev}p2 "$CHECK/boot"
cd "$CHECK"
for f in etc/fstab etc/hostname etc/passwd etc/group etc/shadow home/alice/.ssh/authorized_keys \
  etc/sudoers.d/image-builder boot/grub2/grub.cfg; do
  echo "== $f $(stat -c "%a %u:%g" $f)"; cat $f
done
# The host kernel may lack vfat: the ESP is read with mtools.
export MTOOLS_SKIP_CHECK=1
echo "== EFI/debian/grub.cfg"; mtype -i ${dev}p1 ::/EFI/debian/grub.cfg 2>/dev/null
echo "== esp"; mdir -/ -b -i ${dev}p1 ::/ 2>/dev/null | sort
'"#,
        &[
            ("DISK", &disk),
            ("MEDIUM", &medium),
            ("TARGET", &target),
            ("SCRIPT", &script),
            ("CHECK", &check),
        ],
    );
    assert!(ok, "install failed:\n{out}\n--- kickstart:\n{}", ks.text);
    let has = |s: &str| assert!(out.contains(s), "wanted {s:?} in:\n{out}");
    has("label: gpt");
    // reqpart's ESP, then the layout in order; the growing root last.
    for (n, t) in [(1, "vfat"), (2, "ext4"), (3, "swap"), (4, "ext4")] {
        has(&format!("== part p{n} {t} "));
    }
    assert_eq!(out.matches("fsck ok").count(), 4, "{out}");
    let uuid = |n: u32| -> String {
        let l = out
            .lines()
            .find(|l| l.starts_with(&format!("== part p{n} ")))
            .unwrap();
        l.rsplit(' ').next().unwrap().to_string()
    };
    has(&format!("UUID={} / ext4 defaults 0 1", uuid(4)));
    has(&format!("UUID={} /boot ext4", uuid(2)));
    has(&format!("UUID={} /boot/efi vfat", uuid(1)));
    has(&format!("UUID={} none swap", uuid(3)));
    has("installed\n");
    has("alice:x:1001:1001::/home/alice:/bin/sh");
    // wheel is missing from the payload: made after alice's own group.
    has("wheel:x:1002:alice");
    has(&format!("alice:{HASH}:"));
    has("root:!:");
    // Two keys: one from sshkey, one appended by %post; mode 600, owned.
    has("== home/alice/.ssh/authorized_keys 600 1001:1001");
    has("alice@laptop\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDsk alice@desk");
    has("== etc/sudoers.d/image-builder 440 0:0\nalice ALL=(ALL) NOPASSWD: ALL");
    has(&format!(
        "root=UUID={} ro console=ttyS0,115200 fixture.marker=1",
        uuid(4)
    ));
    has(&format!(
        "search --no-floppy --fs-uuid --set=dev {}",
        uuid(2)
    ));
    has("::/EFI/almalinux/shimx64.efi");
    has("::/EFI/almalinux/grubx64.efi");
    has("::/EFI/BOOT/BOOTX64.EFI");
    // The mount namespace is gone: nothing stays mounted on the host.
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    assert!(!mounts.contains(d.path().to_str().unwrap()), "{mounts}");
}
