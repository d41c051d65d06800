//! Boot tests: fixture disk images built by `image-builder build` and
//! booted by `image-builder verify` under QEMU (TCG), compared with the
//! expectations in `qemu-tests/`:
//! - the hybrid qcow2 under enforced Secure Boot with Microsoft's keys
//!   (shim → GRUB → kernel), and the same image through SeaBIOS;
//! - a custom-key image (signed UKI) booting with our keys enrolled, refused
//!   with only Microsoft's keys, and refused once its UKI is altered;
//! - the aarch64 image under AAVMF;
//! - a raw image with swap, /var and /home partitions, all in use in the guest;
//! - build scripts' effects (a file edited, a unit enabled) in the guest.

mod common;

use common::cli::{image_builder, text};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn top() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Builds a copy of `manifest` in `dir` (its lockfile lands there, not in
/// the source tree).
fn build(dir: &Path, manifest: &Path) -> PathBuf {
    let copy = dir.join(manifest.file_name().unwrap());
    if copy != manifest {
        std::fs::copy(manifest, &copy).unwrap();
    }
    let manifest = copy.as_path();
    let out = dir.join("out");
    let o = image_builder(dir, &["build", "-o", s(&out), s(manifest)]);
    assert!(o.status.success(), "build: {}", text(&o));
    let lines = String::from_utf8_lossy(&o.stdout).into_owned();
    PathBuf::from(lines.lines().last().unwrap().trim())
}

fn verify(dir: &Path, args: &[&str]) -> Output {
    verify_within(dir, "240", args)
}

fn verify_within(dir: &Path, timeout: &str, args: &[&str]) -> Output {
    let mut all = vec!["verify", "--timeout", timeout];
    all.extend_from_slice(args);
    image_builder(dir, &all)
}

/// Report checks the guest runs: after a resize, root (partition and
/// filesystem) has grown on first boot.
const GROWN_CHECKS: &str = r#"
[[customizations.directories]]
path = "/etc/image-builder"
ensure_parents = true

[[customizations.files]]
path = "/etc/image-builder/report-checks"
data = "root_part_grown\t[ $(cat /sys/class/block/vda4/size) -gt 3000000 ]\nroot_fs_grown\t[ $(df -k / | tail -n 1 | awk '{print $2}') -gt 1500000 ]\n"
"#;

#[test]
fn fixture_qcow2_boots_ms_secure_boot_and_bios() {
    let d = tempfile::tempdir().unwrap();
    let m = d.path().join("qcow2.toml");
    let body = std::fs::read_to_string(top().join("manifests/fixture/qcow2.toml")).unwrap();
    std::fs::write(&m, format!("{body}\n{GROWN_CHECKS}")).unwrap();
    let img = build(d.path(), &m);
    assert!(s(&img).ends_with(".qcow2"), "{}", img.display());
    let check = Command::new("qemu-img")
        .args(["check", "-q"])
        .arg(&img)
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", text(&check));

    let o = verify(
        d.path(),
        &[
            "--expect",
            s(&top().join("qemu-tests/fixture-ms.toml")),
            s(&img),
        ],
    );
    assert!(o.status.success(), "MS chain: {}", text(&o));
    assert!(text(&o).contains("time-to-report"), "{}", text(&o));

    let o = verify(
        d.path(),
        &[
            "--firmware",
            "bios",
            "--expect",
            s(&top().join("qemu-tests/fixture-bios.toml")),
            s(&img),
        ],
    );
    assert!(o.status.success(), "SeaBIOS: {}", text(&o));

    // A copy made 1 GiB bigger: root grows into it on first boot.
    let big = d.path().join("big.qcow2");
    std::fs::copy(&img, &big).unwrap();
    let r = Command::new("qemu-img")
        .args(["resize", "-q"])
        .arg(&big)
        .arg("+1G")
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", text(&r));
    let expect = d.path().join("grown.toml");
    std::fs::write(
        &expect,
        "[expect]\nroot_fs = \"xfs\"\nchecks = { root_part_grown = true, root_fs_grown = true }\n",
    )
    .unwrap();
    let o = verify(d.path(), &["--expect", s(&expect), s(&big)]);
    assert!(o.status.success(), "grown root: {}", text(&o));
}

/// Swap and separate /var and /home partitions: the guest has the swap
/// active, both filesystems mounted from fstab by UUID, and the rpm
/// database that moved into /var readable there (qemu-tests/fixture-partitions.toml).
/// Opt-in (~100 s of build and TCG boot; CI's budget is 30 min):
/// `cargo test --test boot_qemu -- --ignored`. tests/disk_build.rs checks
/// the same image's partitions, filesystems and fstab in every run.
#[test]
#[ignore = "builds and boots a second disk (~100 s); run with --ignored"]
fn fixture_partitions_swap_and_mounts_in_the_guest() {
    let d = tempfile::tempdir().unwrap();
    let img = build(d.path(), &top().join("manifests/fixture/partitions.toml"));
    assert!(s(&img).ends_with(".raw"), "{}", img.display());
    let o = verify(
        d.path(),
        &[
            "--expect",
            s(&top().join("qemu-tests/fixture-partitions.toml")),
            s(&img),
        ],
    );
    assert!(o.status.success(), "partitions: {}", text(&o));
}

/// A build script's effect, seen from the booted guest: the fixture
/// qcow2 with `manifests/fixture/scripts/brand.sh` (edits the
/// package-shipped /etc/os-release) and an inline script enabling a unit
/// the presets leave off. Opt-in (~90 s of build and TCG boot):
/// `cargo test --test boot_qemu -- --ignored build_script`.
/// tests/build_scripts.rs checks the same effects in the tree every run.
#[test]
#[ignore = "builds and boots a second disk (~90 s); run with --ignored"]
fn build_script_effects_in_the_guest() {
    let d = tempfile::tempdir().unwrap();
    let m = d.path().join("scripted.toml");
    let body = std::fs::read_to_string(top().join("manifests/fixture/qcow2.toml")).unwrap();
    let script = top().join("manifests/fixture/scripts/brand.sh");
    std::fs::write(
        &m,
        format!(
            r#"{body}
[[build.script]]
name = "brand"
file = "{}"

[[build.script]]
name = "enable"
run = "systemctl enable systemd-boot-check-no-failures.service"

[[customizations.directories]]
path = "/etc/image-builder"
ensure_parents = true

[[customizations.files]]
path = "/etc/image-builder/report-checks"
data = "script_brand\tgrep -q 'NAME=.Fixture Scripted.' /etc/os-release\nscript_unit\tsystemctl is-enabled -q systemd-boot-check-no-failures.service\n"
"#,
            script.display()
        ),
    )
    .unwrap();
    let img = build(d.path(), &m);
    let expect = d.path().join("scripted-expect.toml");
    std::fs::write(
        &expect,
        "[expect]\nchecks = { script_brand = true, script_unit = true }\n",
    )
    .unwrap();
    let o = verify(d.path(), &["--expect", s(&expect), s(&img)]);
    assert!(
        o.status.success(),
        "build scripts in the guest: {}",
        text(&o)
    );
}

/// Offset in bytes of the ESP (partition `n`, 1-based) of a raw image.
fn part_offset(raw: &Path, n: usize) -> u64 {
    let o = Command::new("sfdisk")
        .arg("--json")
        .arg(raw)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v["partitiontable"]["partitions"][n - 1]["start"]
        .as_u64()
        .unwrap()
        * 512
}

#[test]
fn custom_keys_boot_and_refusals() {
    let d = tempfile::tempdir().unwrap();
    let keys = d.path().join("keys");
    let o = image_builder(d.path(), &["secureboot", "genkey", s(&keys)]);
    assert!(o.status.success(), "{}", text(&o));
    let m = d.path().join("custom.toml");
    let body = std::fs::read_to_string(top().join("manifests/fixture/custom-sb.toml"))
        .unwrap()
        .replace(
            "dir = \"secureboot/test-keys\"",
            &format!("dir = \"{}\"", keys.display()),
        );
    std::fs::write(
        &m,
        body.replace(
            "[[output]]",
            "[customizations]\nhostname = \"custom-sb\"\n\n[[output]]",
        ),
    )
    .unwrap();
    let img = build(d.path(), &m);
    // Enrollment files beside the image, never a private key.
    let enroll = PathBuf::from(format!("{}.enroll", img.display()));
    for f in ["PK.auth", "KEK.auth", "db.auth", "db.esl", "db.crt"] {
        assert!(
            enroll.join(f).is_file(),
            "{f} missing in {}",
            enroll.display()
        );
    }
    for e in std::fs::read_dir(&enroll).unwrap() {
        let p = e.unwrap().path();
        assert!(!s(&p).ends_with(".key"));
        let bytes = std::fs::read(&p).unwrap();
        assert!(
            !bytes.windows(11).any(|w| w == b"PRIVATE KEY"),
            "{}",
            p.display()
        );
    }

    let o = verify(
        d.path(),
        &["--secureboot", "custom", "--keys", s(&keys), s(&img)],
    );
    assert!(o.status.success(), "custom keys enrolled: {}", text(&o));
    assert!(text(&o).contains("custom-sb"), "{}", text(&o));

    // Microsoft's keys only: the firmware refuses our UKI.
    let o = verify(
        d.path(),
        &["--secureboot", "ms", "--expect-refusal", s(&img)],
    );
    assert!(
        o.status.success(),
        "must be refused with MS keys: {}",
        text(&o)
    );

    // Alter the signed UKI on the ESP: refused even with our keys.
    let esp = format!("{}@@{}", img.display(), part_offset(&img, 1));
    let uki = d.path().join("uki.efi");
    let cp = |args: &[&str]| {
        let o = Command::new("mcopy")
            .env("MTOOLS_SKIP_CHECK", "1")
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
    };
    cp(&["-n", "-i", &esp, "::/EFI/BOOT/BOOTX64.EFI", s(&uki)]);
    let mut bytes = std::fs::read(&uki).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&uki, bytes).unwrap();
    cp(&["-o", "-i", &esp, s(&uki), "::/EFI/BOOT/BOOTX64.EFI"]);
    let o = verify(
        d.path(),
        &[
            "--secureboot",
            "custom",
            "--keys",
            s(&keys),
            "--expect-refusal",
            s(&img),
        ],
    );
    assert!(
        o.status.success(),
        "an altered UKI must be refused: {}",
        text(&o)
    );
}

#[test]
fn fixture_aarch64_boots_under_aavmf() {
    let d = tempfile::tempdir().unwrap();
    let img = build(d.path(), &top().join("manifests/fixture/aarch64.toml"));
    let o = verify_within(d.path(), "420", &["--arch", "aarch64", s(&img)]);
    assert!(o.status.success(), "aarch64: {}", text(&o));
    assert!(text(&o).contains("aarch64"), "{}", text(&o));
}
