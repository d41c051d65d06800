//! The fixture distribution boots to a guest report.
//!
//! Why: every later stage (disk images, Secure Boot, cloud uploads) leans
//! on "the tree boots and systemd reaches multi-user.target". This test
//! proves it for the fixture without the disk stage: build a directory
//! tree with `image-builder build`, add the guest report unit, run the
//! tree's own `dracut` (the fixture stand-in) chrooted, turn the tree into
//! an ext4 image with `mkfs.ext4 -d` (no loop device, no mount), and boot
//! it in QEMU with a direct kernel boot (Secure Boot is tested elsewhere).
//! The guest prints one IMAGE-BUILDER-REPORT line and powers off; QEMU is
//! killed after a hard timeout whatever happens.
//!
//! Needs root (chroot), qemu-system-x86_64 and mkfs.ext4; it fails, not
//! skips, without them. IMAGE_BUILDER_FIXTURE_ROOT selects a prebuilt
//! fixture (else tests/fixtures/build-fixtures.sh builds one).

mod common;

use alma_image_builder::verify::guest;
use std::io::Write;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const KERNEL_TIMEOUT: Duration = Duration::from_secs(150);
const SOURCE_DATE_EPOCH: &str = "1700000000";

const MANIFEST: &str = r#"name = "fxboot"
distro = "fixture"
architecture = "x86_64"
packages = [
  { name = "systemd" }, { name = "kernel-core" }, { name = "busybox" },
  { name = "setup" }, { name = "fixture-release" }, { name = "dracut" },
]

[customizations]
hostname = "fxboot-guest"

[[customizations.user]]
name = "tester"
password = "test"
groups = ["wheel"]

[[output]]
type = "directory"
"#;

fn fixture_root() -> PathBuf {
    match std::env::var_os("IMAGE_BUILDER_FIXTURE_ROOT") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => common::fixtures::fixture_root(),
    }
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

fn write(path: &Path, body: &str, mode: u32) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, body).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The one kernel version in the tree.
fn kernel_version(tree: &Path) -> String {
    let mut v: Vec<String> = std::fs::read_dir(tree.join("lib/modules"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(v.len(), 1, "expected one kernel in the tree: {v:?}");
    v.pop().unwrap()
}

/// What the disk stage will do to a tree before making file systems:
/// mount points, an empty machine-id (systemd makes a transient one),
/// fstab, and the report unit enabled.
fn prepare_tree(tree: &Path, uuid: &str) {
    for d in ["proc", "sys", "dev", "run", "tmp", "var/tmp"] {
        std::fs::create_dir_all(tree.join(d)).unwrap();
    }
    write(&tree.join("etc/machine-id"), "", 0o444);
    write(
        &tree.join("etc/fstab"),
        &format!("UUID={uuid} / ext4 defaults 0 0\n"),
        0o644,
    );
    let sh = tree.join(guest::REPORT_SH_PATH.trim_start_matches('/'));
    write(&sh, guest::REPORT_SH, 0o755);
    let unit = format!("/etc/systemd/system/{}", guest::REPORT_UNIT_NAME);
    write(&tree.join(&unit[1..]), guest::REPORT_UNIT, 0o644);
    let wants = tree.join("etc/systemd/system/multi-user.target.wants");
    std::fs::create_dir_all(&wants).unwrap();
    symlink(&unit, wants.join(guest::REPORT_UNIT_NAME)).unwrap();
    write(
        &tree.join(guest::REPORT_CHECKS_PATH.trim_start_matches('/')),
        "busybox\ttest -x /bin/busybox\n# comment\nabsent\ttest -e /nonexistent\n",
        0o644,
    );
}

/// Boots and returns (serial log, seconds until the report appeared).
fn boot(dir: &Path, kernel: &Path, initrd: &Path, img: &Path, uuid: &str) -> (String, f64) {
    let log = dir.join("serial.log");
    let start = Instant::now();
    let mut qemu = Command::new("qemu-system-x86_64")
        .args([
            "-machine", "q35", "-accel", "tcg", "-smp", "1", "-m", "1024",
        ])
        .args(["-nic", "none", "-display", "none", "-monitor", "none"])
        .arg("-serial")
        .arg(format!("file:{}", log.display()))
        .arg("-no-reboot")
        .arg("-kernel")
        .arg(kernel)
        .arg("-initrd")
        .arg(initrd)
        .arg("-append")
        .arg(format!("root=UUID={uuid} ro console=ttyS0 panic=-1"))
        .arg("-drive")
        .arg(format!("file={},format=raw,if=virtio", img.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("qemu-system-x86_64 runs");
    let mut reported = None;
    loop {
        let text = std::fs::read(&log).unwrap_or_default();
        if reported.is_none() && guest::parse_report(&String::from_utf8_lossy(&text)).is_some() {
            reported = Some(start.elapsed().as_secs_f64());
        }
        match qemu.try_wait().unwrap() {
            Some(_) => break,
            None if start.elapsed() > KERNEL_TIMEOUT => {
                let _ = qemu.kill();
                let _ = qemu.wait();
                break;
            }
            // The guest powers off right after the report; give it a
            // few seconds, then stop waiting.
            None if reported.is_some_and(|t| start.elapsed().as_secs_f64() > t + 15.0) => {
                let _ = qemu.kill();
                let _ = qemu.wait();
                break;
            }
            None => std::thread::sleep(Duration::from_millis(200)),
        }
    }
    let text = String::from_utf8_lossy(&std::fs::read(&log).unwrap_or_default()).into_owned();
    (text, reported.unwrap_or(f64::NAN))
}

fn tail(log: &str, lines: usize) -> String {
    let v: Vec<&str> = log.lines().collect();
    v[v.len().saturating_sub(lines)..].join("\n")
}

#[test]
fn fixture_boots_to_guest_report() {
    let root = fixture_root();
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("fxboot.toml");
    std::fs::write(&manifest, MANIFEST).unwrap();
    let out = dir.path().join("out");
    run(Command::new(env!("CARGO_BIN_EXE_image-builder"))
        .env("IMAGE_BUILDER_FIXTURE_ROOT", &root)
        .env("IMAGE_BUILDER_CACHE_DIR", dir.path().join("cache"))
        .env("NO_COLOR", "1")
        .arg("build")
        .arg(&manifest)
        .arg("-o")
        .arg(&out));
    let tree = out.join("fxboot-x86_64");
    assert!(
        tree.join("usr/bin/dracut").is_file(),
        "no dracut in the tree"
    );
    let kver = kernel_version(&tree);
    let uuid = std::fs::read_to_string("/proc/sys/kernel/random/uuid")
        .unwrap()
        .trim()
        .to_string();
    prepare_tree(&tree, &uuid);

    // The tree's own initramfs tool, as the disk stage runs it; twice, to
    // see that the output does not depend on when it was made.
    let initrd_rel = format!("boot/initramfs-{kver}.img");
    let dracut = |args: &[&str]| {
        run(Command::new("chroot")
            .arg(&tree)
            .arg("/usr/bin/dracut")
            .args(args)
            .env("SOURCE_DATE_EPOCH", SOURCE_DATE_EPOCH))
    };
    dracut(&["--force", &format!("/{initrd_rel}"), &kver]);
    let first = std::fs::read(tree.join(&initrd_rel)).unwrap();
    dracut(&["-f", "--kver", &kver]);
    assert!(
        first == std::fs::read(tree.join(&initrd_rel)).unwrap(),
        "dracut output differs between two runs"
    );
    assert!(
        !tree.join("var/tmp").read_dir().unwrap().any(|_| true),
        "dracut left its work directory behind"
    );
    let initrd = dir.path().join("initramfs.img");
    std::fs::write(&initrd, &first).unwrap();
    let kernel = tree.join(format!("lib/modules/{kver}/vmlinuz"));

    let img = dir.path().join("root.img");
    run(Command::new("mkfs.ext4")
        .args(["-q", "-F", "-L", "root", "-U", &uuid, "-d"])
        .arg(&tree)
        .arg(&img)
        .arg("1536M"));

    let (log, secs) = boot(dir.path(), &kernel, &initrd, &img, &uuid);
    // Kept for a look after a failure.
    let _ = std::fs::copy(
        dir.path().join("serial.log"),
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("fixture_boot.serial.log"),
    );
    let report = guest::parse_report(&log)
        .unwrap_or_else(|| panic!("no guest report; serial log ends:\n{}", tail(&log, 60)));
    let _ = writeln!(
        std::io::stderr(),
        "fixture_boot: report after {secs:.1} s: {report}"
    );

    let failed = &report["failed_units"];
    let state = report["system_state"].as_str().unwrap_or_default();
    assert!(
        state == "running" || state == "degraded",
        "system_state {state:?}, failed units {failed}; serial log ends:\n{}",
        tail(&log, 40)
    );
    assert_eq!(report["hostname"], "fxboot-guest");
    assert_eq!(report["users"], serde_json::json!(["tester"]));
    let groups = report["groups_of"]["tester"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        groups.contains(&"wheel".into()),
        "tester's groups: {groups:?}"
    );
    assert_eq!(report["root_fs"], "ext4");
    assert_eq!(report["kernel"], kver.as_str());
    assert_eq!(report["arch"], "x86_64");
    // Direct kernel boot through SeaBIOS: no UEFI, so no SecureBoot variable.
    assert!(report["secureboot"].is_null(), "{}", report["secureboot"]);
    let cmdline = report["cmdline"].as_str().unwrap_or_default();
    assert!(cmdline.contains(&format!("root=UUID={uuid}")), "{cmdline}");
    let enabled = report["enabled_services"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        enabled.contains(&guest::REPORT_UNIT_NAME.into()),
        "enabled: {enabled:?}"
    );
    assert_eq!(
        report["checks"],
        serde_json::json!({"busybox": true, "absent": false})
    );
    assert!(
        failed.as_array().is_some_and(|f| f.is_empty()),
        "failed units: {failed}"
    );
}
