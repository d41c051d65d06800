//! `image-builder verify` end to end, without the disk builder: the test
//! makes a small GPT disk the way the Secure Boot recipes do (sfdisk on a
//! file, a FAT ESP from `mkfs.fat -C` + mtools) holding the Microsoft-signed
//! shim, Debian's signed GRUB and kernel from the fixture RPMs
//! (`IMAGE_BUILDER_FIXTURE_ROOT`), and a busybox initramfs whose /init
//! prints a valid report line with the real Secure Boot state and powers
//! off. Then it boots that disk through the CLI under enforced Secure Boot:
//! the good chain must report, a GRUB with one flipped byte must be refused
//! on the console, and a BIOS boot of a UEFI-only disk must time out. Boots
//! run one at a time (the machine has few cores).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

fn fixture_root() -> PathBuf {
    std::env::var_os("IMAGE_BUILDER_FIXTURE_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/build"))
}

fn sh(script: &str, dir: &Path) {
    let out = Command::new("sh")
        .arg("-ec")
        .arg(script)
        .current_dir(dir)
        .output()
        .expect("run sh");
    assert!(
        out.status.success(),
        "{script}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn rpm(name: &str) -> PathBuf {
    let dir = fixture_root().join("repos/main/x86_64");
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}; set IMAGE_BUILDER_FIXTURE_ROOT", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            let f = p.file_name().unwrap().to_string_lossy();
            f.starts_with(&format!("{name}-"))
                && f[name.len() + 1..].starts_with(|c: char| c.is_ascii_digit())
        })
        .unwrap_or_else(|| panic!("no {name} RPM in {}", dir.display()))
}

const INIT: &str = r#"#!/bin/busybox sh
B=/bin/busybox
$B mount -t proc proc /proc
$B mount -t sysfs sys /sys
$B insmod /lib/efivarfs.ko
$B mount -t efivarfs efivarfs /sys/firmware/efi/efivars 2>/dev/null
sb=null
f=/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c
if [ -e "$f" ]; then set -- $($B od -An -tu1 "$f"); sb=$5; fi
echo "IMAGE-BUILDER-REPORT {\"secureboot\":$sb,\"cmdline\":\"$($B cat /proc/cmdline)\",\"hostname\":\"busybox\",\"users\":[\"root\"],\"enabled_services\":[],\"root_fs\":\"rootfs\",\"system_state\":\"running\",\"failed_units\":[],\"kernel\":\"$($B uname -r)\",\"arch\":\"$($B uname -m)\",\"checks\":{\"initramfs\":true}}"
$B poweroff -f
"#;

const GRUB_CFG: &str = "set timeout=0
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
menuentry test {
  linux /vmlinuz console=ttyS0 panic=-1 quiet
  initrd /initrd.gz
}
";

/// Builds (once) `good.raw` and `bad-grub.raw` and returns their directory.
fn disks() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("verify_boot");
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("x")).unwrap();
        for p in ["shim-x64", "grub2-efi-x64", "kernel-core", "busybox"] {
            sh(
                &format!("rpm2cpio '{}' | cpio -idm --quiet", rpm(p).display()),
                &d.join("x"),
            );
        }
        std::fs::create_dir_all(d.join("initrd/lib")).unwrap();
        for sub in ["bin", "proc", "sys", "dev"] {
            std::fs::create_dir_all(d.join("initrd").join(sub)).unwrap();
        }
        std::fs::write(d.join("initrd/init"), INIT).unwrap();
        std::fs::write(d.join("grub.cfg"), GRUB_CFG).unwrap();
        // The fixture kernel follows Debian's archive (a new ABI every few
        // weeks), so its release is read from the unpacked package.
        let kver = kernel_release(&d.join("x"));
        sh(
            &format!(
                "cp x/bin/busybox initrd/bin/busybox
                 cp x/lib/modules/{kver}/kernel/fs/efivarfs/efivarfs.ko initrd/lib/
                 chmod 755 initrd/init initrd/bin/busybox
                 (cd initrd && find . | cpio -o -H newc --quiet | gzip -1) > initrd.gz
                 cp x/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed grub-good.efi
                 cp grub-good.efi grub-bad.efi
                 # one byte inside the signed image (the embedded modules)
                 printf '\\377' | dd of=grub-bad.efi bs=1 seek=1048576 conv=notrunc status=none
                 cmp -s grub-good.efi grub-bad.efi && exit 1
                 for v in good bad; do
                   rm -f esp.img
                   mkfs.fat -C -F 32 -n ESP esp.img 65536 >/dev/null
                   mmd -i esp.img ::/EFI ::/EFI/BOOT ::/EFI/debian
                   mcopy -i esp.img x/boot/efi/EFI/BOOT/BOOTX64.EFI ::/EFI/BOOT/BOOTX64.EFI
                   mcopy -i esp.img x/boot/efi/EFI/almalinux/mmx64.efi ::/EFI/BOOT/mmx64.efi
                   mcopy -i esp.img grub-$v.efi ::/EFI/BOOT/grubx64.efi
                   mcopy -i esp.img grub.cfg ::/EFI/debian/grub.cfg
                   mcopy -i esp.img x/lib/modules/{kver}/vmlinuz ::/vmlinuz
                   mcopy -i esp.img initrd.gz ::/initrd.gz
                   rm -f $v.raw
                   truncate -s 66M $v.raw
                   printf 'label: gpt\\nstart=2048, size=131072, type=uefi, name=ESP\\n' | sfdisk -q $v.raw
                   dd if=esp.img of=$v.raw bs=1M seek=1 conv=notrunc status=none
                 done
                 mv bad.raw bad-grub.raw"
            ),
            &d,
        );
        d
    })
}

/// The one kernel release under `x/lib/modules` (the unpacked kernel-core).
fn kernel_release(x: &Path) -> String {
    let dir = x.join("lib/modules");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("vmlinuz").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names.len(),
        1,
        "expected one kernel in {}: {names:?}",
        dir.display()
    );
    names.pop().unwrap()
}

/// One QEMU at a time.
fn boot_lock() -> std::sync::MutexGuard<'static, ()> {
    static L: Mutex<()> = Mutex::new(());
    L.lock().unwrap_or_else(|e| e.into_inner())
}

fn verify(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_image-builder"))
        .arg("verify")
        .args(args)
        .output()
        .expect("run image-builder");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn sha256(p: &Path) -> String {
    let out = Command::new("sha256sum").arg(p).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn ms_chain_reports_secure_boot_on() {
    let d = disks();
    let disk = d.join("good.raw");
    let before = sha256(&disk);
    let expect = d.join("good.toml");
    std::fs::write(
        &expect,
        "manifest = \"none.toml\"\n[expect]\nsecureboot = 1\nhostname = \"busybox\"\n\
         cmdline_contains = [\"console=ttyS0\"]\nchecks = { initramfs = true }\n",
    )
    .unwrap();
    let _l = boot_lock();
    let (code, out, err) = verify(&[
        disk.to_str().unwrap(),
        "--expect",
        expect.to_str().unwrap(),
        "--timeout",
        "90",
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("outcome: report"), "{out}");
    assert!(out.contains("time-to-report: "), "{out}");
    assert!(out.contains("secureboot: 1"), "{out}");
    assert!(out.contains("expectations: met"), "{out}");
    eprintln!("{out}");
    // The artifact is only read.
    assert_eq!(sha256(&disk), before);
}

#[test]
fn tampered_grub_is_refused() {
    let d = disks();
    let disk = d.join("bad-grub.raw");
    let _l = boot_lock();
    let (code, out, err) = verify(&[
        disk.to_str().unwrap(),
        "--expect-refusal",
        "--timeout",
        "60",
        "--json",
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    let j: serde_json::Value = serde_json::from_str(&out).expect("one JSON object");
    assert_eq!(j["outcome"], "refused", "{j}");
    assert_eq!(j["ok"], true);
    assert!(
        j["line"].as_str().unwrap().contains("Security Violation")
            || j["line"].as_str().unwrap().contains("Verification failed"),
        "{j}"
    );
    eprintln!("refused after {} s: {}", j["elapsed_s"], j["line"]);
    // Without --expect-refusal the same boot is a failure (exit 1).
    let (code, out, _) = verify(&[disk.to_str().unwrap(), "--timeout", "60"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("outcome: refused"), "{out}");
    assert!(out.contains("the boot was refused"), "{out}");
}

#[test]
fn bios_boot_of_uefi_only_disk_times_out() {
    let d = disks();
    let _l = boot_lock();
    let (code, out, err) = verify(&[
        d.join("good.raw").to_str().unwrap(),
        "--firmware",
        "bios",
        "--timeout",
        "6",
    ]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(out.contains("outcome: timeout after"), "{out}");
    assert!(
        out.contains("no report and no refusal before the timeout"),
        "{out}"
    );
    assert!(err.contains("verification failed"), "{err}");
}

#[test]
fn bad_input_exits_2() {
    let (code, _, err) = verify(&["/nonexistent/disk.qcow2"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no such disk image"), "{err}");
    let f = Path::new(env!("CARGO_TARGET_TMPDIR")).join("verify-not-a-disk.vdi");
    // A VDI header: a format qemu-img knows and verify does not take.
    Command::new("qemu-img")
        .args(["create", "-q", "-f", "vdi"])
        .arg(&f)
        .arg("1M")
        .status()
        .unwrap();
    let (code, _, err) = verify(&[f.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("unsupported disk format `vdi`"), "{err}");
    let (code, _, err) = verify(&[f.to_str().unwrap(), "--secureboot", "custom"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("needs --keys"), "{err}");
    let (code, _, err) = verify(&[f.to_str().unwrap(), "--accel", "hvf"]);
    assert_eq!(code, 2, "{err}");
}

/// The report unit goes into a copy of a qcow2's root filesystem (found by
/// its GPT type) through a loop device and a mount, both released after;
/// the artifact stays as it was. Needs root; no boot.
#[test]
fn report_unit_is_injected_into_a_copy() {
    use alma_image_builder::distro::arch::lookup;
    use alma_image_builder::verify::{inject, qemu::DiskFormat};
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root (loop devices, mount)");
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let x86 = lookup("x86_64").unwrap();
    sh(
        &format!(
            "mkdir -p root/etc root/usr/lib
             echo 'ID=almalinux' > root/etc/os-release
             mkfs.ext4 -q -d root part.img 16M
             truncate -s 18M disk.raw
             printf 'label: gpt\\nstart=2048, size=32768, type={}\\n' | sfdisk -q disk.raw
             dd if=part.img of=disk.raw bs=1M seek=1 conv=notrunc status=none
             qemu-img convert -f raw -O qcow2 disk.raw disk.qcow2
             mkdir work",
            x86.root_guid
        ),
        p,
    );
    let before = sha256(&p.join("disk.qcow2"));
    let copy = inject::prepare(
        &p.join("disk.qcow2"),
        DiskFormat::Qcow2,
        x86,
        &p.join("work"),
    )
    .unwrap()
    .expect("a root partition was found");
    assert_eq!(sha256(&p.join("disk.qcow2")), before);
    let lo = Command::new("losetup")
        .arg("-j")
        .arg(&copy)
        .output()
        .unwrap();
    assert!(lo.stdout.is_empty(), "loop device left: {:?}", lo);
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    assert!(!mounts.contains(p.to_str().unwrap()), "{mounts}");
    sh(
        &format!(
            "dd if={} of=out.img bs=1M skip=1 count=16 status=none",
            copy.display()
        ),
        p,
    );
    let debugfs = |cmd: &str| {
        let o = Command::new("debugfs")
            .args(["-R", cmd])
            .arg(p.join("out.img"))
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let unit = debugfs(&format!("cat /etc/systemd/system/{}", inject::UNIT_NAME));
    assert!(unit.contains("ExecStart="), "{unit}");
    let link = debugfs(&format!(
        "stat /etc/systemd/system/multi-user.target.wants/{}",
        inject::UNIT_NAME
    ));
    assert!(
        link.contains("/etc/systemd/system/image-builder-report.service"),
        "{link}"
    );
    // An image without a root partition is booted as it is.
    let esp_only = disks().join("good.raw");
    assert!(
        inject::prepare(&esp_only, DiskFormat::Raw, x86, &p.join("work"))
            .unwrap()
            .is_none()
    );
}

/// Our own PK/KEK/db enrolled (virt-fw-vars) and no Microsoft keys: the
/// Microsoft-signed shim must be refused by the firmware itself.
#[test]
fn custom_keys_refuse_the_microsoft_shim() {
    let d = disks();
    let keys = tempfile::tempdir().unwrap();
    for n in ["PK", "KEK", "db"] {
        sh(
            &format!(
                "openssl req -new -x509 -newkey rsa:2048 -nodes -sha256 -days 30 \
                 -subj '/CN=verify test {n}/' -keyout {n}.key -out {n}.crt 2>/dev/null"
            ),
            keys.path(),
        );
    }
    let _l = boot_lock();
    let (code, out, err) = verify(&[
        d.join("good.raw").to_str().unwrap(),
        "--secureboot",
        "custom",
        "--keys",
        keys.path().to_str().unwrap(),
        "--expect-refusal",
        "--timeout",
        "60",
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("outcome: refused"), "{out}");
    assert!(out.contains("Access Denied"), "{out}");
}
