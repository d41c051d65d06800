//! Secure Boot with our own keys, checked against independent tools:
//! genkey's certificates with openssl, its `.esl`/`.auth` files with our
//! parsers, openssl's PKCS#7 verification and (when installed) efitools'
//! own output byte for byte; signing and UKIs with sbverify and objdump on
//! the fixture's real GRUB and kernels (x86_64 and aarch64). The QEMU
//! boot tests (custom keys boot the UKI with Secure Boot enforced, the
//! Microsoft-only store refuses it; x86_64 under OVMF, aarch64 under
//! AAVMF) are `#[ignore]`d: they need OVMF/AAVMF, virt-fw-vars and
//! ~30 s of TCG. Run them with `cargo test --test secureboot -- --ignored`.

mod common;

use alma_image_builder::distro::arch;
use alma_image_builder::secureboot::{self, efivar, keys, pe::PeInfo, Signer};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_image-builder"))
}

fn sh(script: &str) -> std::process::Output {
    Command::new("sh").args(["-c", script]).output().unwrap()
}

fn have(tool: &str) -> bool {
    sh(&format!("command -v {tool} >/dev/null"))
        .status
        .success()
}

/// One key set shared by the tests of this process (genkey takes ~1 s).
fn keyset() -> &'static Path {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &DIR.get_or_init(|| {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("keys");
        let out = bin()
            .args(["secureboot", "genkey"])
            .arg(&dir)
            .args(["--name", "ib test"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (t, dir)
    })
    .1
}

/// A second, unrelated key pair.
fn other_keys() -> &'static Path {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &DIR.get_or_init(|| {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("other");
        secureboot::genkey(&dir, "other").unwrap();
        (t, dir)
    })
    .1
}

fn openssl(args: &[&str]) -> std::process::Output {
    Command::new("openssl").args(args).output().unwrap()
}

fn der_of(cert: &Path) -> Vec<u8> {
    let o = openssl(&["x509", "-in", cert.to_str().unwrap(), "-outform", "der"]);
    assert!(o.status.success());
    o.stdout
}

#[test]
fn genkey_writes_keys_certs_and_enrollment_files() {
    let dir = keyset();
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let want = [
        "KEK.auth",
        "KEK.crt",
        "KEK.esl",
        "KEK.key",
        "MOK.crt",
        "MOK.der",
        "MOK.key",
        "PK.auth",
        "PK.crt",
        "PK.esl",
        "PK.key",
        "db.auth",
        "db.crt",
        "db.esl",
        "db.key",
        "owner.guid",
    ];
    assert_eq!(names, want);
    assert_eq!(
        fs::metadata(dir).unwrap().permissions().mode() & 0o777,
        0o700
    );
    for k in keys::KEYS {
        let m = fs::metadata(dir.join(format!("{k}.key"))).unwrap();
        assert_eq!(m.permissions().mode() & 0o777, 0o600, "{k}.key");
        let crt = dir.join(format!("{k}.crt"));
        let o = openssl(&["x509", "-noout", "-subject", "-in", crt.to_str().unwrap()]);
        let subject = String::from_utf8_lossy(&o.stdout);
        assert!(subject.contains(&format!("CN = ib test {k}")), "{subject}");
        let o = openssl(&["x509", "-noout", "-text", "-in", crt.to_str().unwrap()]);
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(text.contains("sha256WithRSAEncryption"), "{text}");
        assert!(text.contains("(2048 bit)"), "{text}");
        // 10 years: notAfter is 3650 days after notBefore.
        let o = openssl(&[
            "x509",
            "-noout",
            "-checkend",
            &(3649u64 * 86_400).to_string(),
            "-in",
            crt.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{k} expires too early");
    }
    assert_eq!(
        fs::read(dir.join("MOK.der")).unwrap(),
        der_of(&dir.join("MOK.crt"))
    );
}

#[test]
fn esl_files_hold_the_certificates() {
    let dir = keyset();
    let owner =
        efivar::Guid::parse(fs::read_to_string(dir.join("owner.guid")).unwrap().trim()).unwrap();
    assert_eq!(owner, efivar::Guid::from_name("ib test"));
    for k in ["PK", "KEK", "db"] {
        let esl = fs::read(dir.join(format!("{k}.esl"))).unwrap();
        let lists = efivar::parse_esl(&esl).unwrap();
        assert_eq!(lists.len(), 1);
        assert_eq!(lists[0].sig_type, efivar::CERT_X509);
        assert!(lists[0].header.is_empty());
        assert_eq!(
            lists[0].entries,
            vec![(owner, der_of(&dir.join(format!("{k}.crt"))))]
        );
    }
}

/// Verifies a detached bare SignedData over `payload` with openssl, using
/// only `cert` to find the signer.
fn pkcs7_verifies(signed_data: &[u8], payload: &[u8], cert: &Path) -> bool {
    let t = tempfile::tempdir().unwrap();
    let sig = t.path().join("sig.der");
    let data = t.path().join("data");
    fs::write(&sig, efivar::wrap_content_info(signed_data)).unwrap();
    fs::write(&data, payload).unwrap();
    let o = Command::new("openssl")
        .args([
            "cms",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-noverify",
            "-nointern",
        ])
        .arg("-in")
        .arg(&sig)
        .arg("-content")
        .arg(&data)
        .arg("-certfile")
        .arg(cert)
        .args(["-out", "/dev/null"])
        .output()
        .unwrap();
    o.status.success()
}

#[test]
fn auth_files_are_signed_by_the_right_key() {
    let dir = keyset();
    for (var, by, not_by) in [
        ("PK", "PK", "KEK"),
        ("KEK", "PK", "KEK"),
        ("db", "KEK", "PK"),
    ] {
        let auth = efivar::parse_auth(&fs::read(dir.join(format!("{var}.auth"))).unwrap()).unwrap();
        let esl = fs::read(dir.join(format!("{var}.esl"))).unwrap();
        assert_eq!(auth.data, esl, "{var}.auth carries {var}.esl");
        let payload = efivar::signed_payload(
            var,
            efivar::vendor_guid(var).unwrap(),
            efivar::AUTH_ATTRS,
            auth.time,
            &esl,
        );
        let signer = dir.join(format!("{by}.crt"));
        assert!(
            pkcs7_verifies(&auth.pkcs7, &payload, &signer),
            "{var} by {by}"
        );
        let wrong = dir.join(format!("{not_by}.crt"));
        assert!(
            !pkcs7_verifies(&auth.pkcs7, &payload, &wrong),
            "{var} not by {not_by}"
        );
        let mut tampered = payload.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(
            !pkcs7_verifies(&auth.pkcs7, &tampered, &signer),
            "{var} tampered"
        );
    }
}

#[test]
fn enrollment_files_match_efitools_byte_for_byte() {
    if !have("cert-to-efi-sig-list") || !have("sign-efi-sig-list") {
        common::skip::skip("efitools not installed (apt-get install efitools)");
        return;
    }
    let dir = keyset();
    let t = tempfile::tempdir().unwrap();
    let owner = fs::read_to_string(dir.join("owner.guid")).unwrap();
    let owner = owner.trim();
    for (var, by) in [("PK", "PK"), ("KEK", "PK"), ("db", "KEK")] {
        let ours_esl = fs::read(dir.join(format!("{var}.esl"))).unwrap();
        let theirs = t.path().join(format!("{var}.esl"));
        let o = Command::new("cert-to-efi-sig-list")
            .args(["-g", owner])
            .arg(dir.join(format!("{var}.crt")))
            .arg(&theirs)
            .output()
            .unwrap();
        assert!(o.status.success());
        assert_eq!(ours_esl, fs::read(&theirs).unwrap(), "{var}.esl");

        // Same time stamp and key: RSA PKCS#1 v1.5 is deterministic, so
        // the whole .auth must be identical.
        let ours = efivar::parse_auth(&fs::read(dir.join(format!("{var}.auth"))).unwrap()).unwrap();
        let out = t.path().join(format!("{var}.auth"));
        let o = Command::new("sign-efi-sig-list")
            .arg("-t")
            .arg(ours.time.to_string())
            .arg("-k")
            .arg(dir.join(format!("{by}.key")))
            .arg("-c")
            .arg(dir.join(format!("{by}.crt")))
            .arg(var)
            .arg(dir.join(format!("{var}.esl")))
            .arg(&out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(
            fs::read(dir.join(format!("{var}.auth"))).unwrap(),
            fs::read(&out).unwrap(),
            "{var}.auth"
        );
    }
}

#[test]
fn genkey_refuses_a_non_empty_dir_with_exit_2() {
    let t = tempfile::tempdir().unwrap();
    fs::write(t.path().join("keep"), "x").unwrap();
    let o = bin()
        .args(["secureboot", "genkey"])
        .arg(t.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not empty"));
    assert_eq!(fs::read_dir(t.path()).unwrap().count(), 1);
    // An empty existing directory is fine, and --json reports the files.
    let empty = t.path().join("empty");
    fs::create_dir(&empty).unwrap();
    let o = bin()
        .args(["--json", "secureboot", "genkey"])
        .arg(&empty)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["files"].as_array().unwrap().len(), 16);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!stderr.contains("PRIVATE KEY"), "{stderr}");
    // Bad names are input errors.
    let o = bin()
        .args(["secureboot", "genkey", "--name", ""])
        .arg(t.path().join("new"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(!t.path().join("new").exists());
}

/// Unpacks the fixture RPM whose file name starts with `prefix`.
fn unpack_rpm(prefix: &str, into: &Path) {
    let repo = common::fixtures::fixture_root().join("repos/main/x86_64");
    let rpm = fs::read_dir(&repo)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix}* in {}", repo.display()));
    let o = Command::new("sh")
        .arg("-c")
        .arg("rpm2cpio \"$1\" | cpio -idm --quiet")
        .arg("sh")
        .arg(&rpm)
        .current_dir(into)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn sbverify(file: &Path, cert: &Path) -> bool {
    secureboot::verify_efi(file, cert).is_ok()
}

#[test]
fn sign_efi_signs_grub_and_verification_catches_tampering() {
    let keys = keyset();
    let t = tempfile::tempdir().unwrap();
    unpack_rpm("grub2-efi-x64-", t.path());
    let grub = t.path().join("boot/efi/EFI/almalinux/grubx64.efi");
    assert!(grub.is_file());
    let signed = t.path().join("grubx64.signed.efi");
    let db = Signer::in_dir(keys, "db");
    secureboot::sign_efi(&grub, &signed, &db.key, &db.cert).unwrap();
    assert!(sbverify(&signed, &db.cert));
    assert!(!sbverify(&signed, &keys.join("KEK.crt")));
    assert!(!sbverify(&signed, &other_keys().join("db.crt")));

    let mut bytes = fs::read(&signed).unwrap();
    let mid = bytes.len() / 3;
    bytes[mid] ^= 0xff;
    let tampered = t.path().join("tampered.efi");
    fs::write(&tampered, &bytes).unwrap();
    assert!(!sbverify(&tampered, &db.cert));

    // Signing in place works; a key that does not match the cert fails
    // clearly and leaves the output untouched.
    let inplace = t.path().join("inplace.efi");
    fs::copy(&grub, &inplace).unwrap();
    secureboot::sign_efi(&inplace, &inplace, &db.key, &db.cert).unwrap();
    assert!(sbverify(&inplace, &db.cert));
    let out = t.path().join("mismatch.efi");
    let e = secureboot::sign_efi(&grub, &out, &keys.join("KEK.key"), &db.cert).unwrap_err();
    assert!(!out.exists(), "{e:#}");
}

/// Kernel, initrd and os-release for UKI tests; the initrd is the
/// busybox one from the recipes when `init` is given, else a few bytes.
struct UkiParts {
    _t: tempfile::TempDir,
    kernel: PathBuf,
    initrd: PathBuf,
    os_release: PathBuf,
}

fn uki_parts() -> UkiParts {
    let t = tempfile::tempdir().unwrap();
    unpack_rpm("kernel-core-", t.path());
    let modules = t.path().join("lib/modules");
    let kver = fs::read_dir(&modules)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let kernel = kver.join("vmlinuz");
    assert!(kernel.is_file(), "{}", kernel.display());
    let initrd = t.path().join("initrd.img");
    fs::write(&initrd, b"not really an initrd").unwrap();
    let os_release = t.path().join("os-release");
    fs::write(&os_release, "ID=almalinux\nPRETTY_NAME=\"ib UKI test\"\n").unwrap();
    UkiParts {
        _t: t,
        kernel,
        initrd,
        os_release,
    }
}

#[test]
fn build_uki_from_the_fixture_kernel() {
    let keys = keyset();
    let p = uki_parts();
    let t = tempfile::tempdir().unwrap();
    let uki = t.path().join("uki.efi");
    let x86 = arch::lookup("x86_64").unwrap();
    let db = Signer::in_dir(keys, "db");
    secureboot::build_uki(
        &p.kernel,
        &p.initrd,
        "console=ttyS0 panic=-1",
        &p.os_release,
        &uki,
        x86,
        &db,
    )
    .unwrap();
    assert!(sbverify(&uki, &db.cert));
    assert!(!sbverify(&uki, &other_keys().join("db.crt")));

    let o = Command::new("objdump")
        .arg("-h")
        .arg(&uki)
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&o.stdout);
    for s in [".osrel", ".cmdline", ".linux", ".initrd", ".sbat"] {
        assert!(table.contains(s), "{s} missing:\n{table}");
    }
    let info = PeInfo::parse(&fs::read(&uki).unwrap()).unwrap();
    assert!(info.overlaps().is_empty(), "{:?}", info.overlaps());
    let linux = info.section(".linux").unwrap();
    assert_eq!(
        u64::from(linux.virtual_size),
        fs::metadata(&p.kernel).unwrap().len()
    );
    assert_eq!(linux.virtual_address % 0x1000, 0);
    let cmdline = info.section(".cmdline").unwrap();
    let bytes = fs::read(&uki).unwrap();
    let at = cmdline.raw_offset as usize;
    assert_eq!(
        &bytes[at..at + cmdline.virtual_size as usize],
        b"console=ttyS0 panic=-1"
    );

    // Bad inputs are errors, not panics.
    let missing = t.path().join("none");
    let e =
        secureboot::build_uki(&missing, &p.initrd, "", &p.os_release, &uki, x86, &db).unwrap_err();
    assert!(format!("{e:#}").contains("none"), "{e:#}");
    let e = secureboot::build_uki(&p.kernel, &p.initrd, "a\0b", &p.os_release, &uki, x86, &db)
        .unwrap_err();
    assert!(format!("{e:#}").contains("NUL"), "{e:#}");
}

const VIRT_FW_VARS: &[&str] = &["/opt/image-builder-py/bin/virt-fw-vars", "virt-fw-vars"];

fn virt_fw_vars() -> Option<String> {
    VIRT_FW_VARS.iter().find(|p| have(p)).map(|p| p.to_string())
}

/// A GPT disk whose ESP holds `efi` as `EFI/BOOT/<removable>`
/// (mkfs.fat + mtools + sfdisk: no loop devices, no root needed).
fn esp_disk(efi: &Path, removable: &str, out: &Path) {
    let script = r#"set -e
esp="$2.esp"; rm -f "$esp" "$2"
mkfs.fat -C -F 32 "$esp" 65536 >/dev/null
mmd -i "$esp" ::/EFI ::/EFI/BOOT
mcopy -i "$esp" "$1" "::/EFI/BOOT/$3"
sz=$(stat -c %s "$esp")
truncate -s $((sz + 2*1024*1024)) "$2"
printf 'label: gpt\nstart=2048, size=%d, type=uefi\n' $((sz/512)) | sfdisk -q "$2"
dd if="$esp" of="$2" bs=1M seek=1 conv=notrunc status=none
rm -f "$esp""#;
    let o = Command::new("sh")
        .args(["-c", script, "sh"])
        .arg(efi)
        .arg(out)
        .arg(removable)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Boots `disk` under Secure Boot OVMF with `vars` (copied) and returns
/// "ok", "refused" or "timeout", stopping QEMU by its PID as soon as the
/// serial log shows the kernel running with Secure Boot enforced, or the
/// firmware refusing the image.
fn boot(aarch64: bool, disk: &Path, vars: &Path, work: &Path) -> (&'static str, String) {
    let vars_copy = work.join("vars.run.fd");
    fs::copy(vars, &vars_copy).unwrap();
    let log = work.join("serial.log");
    let _ = fs::remove_file(&log);
    let machine: &[&str] = if aarch64 {
        &[
            "qemu-system-aarch64",
            "-M",
            "virt,accel=tcg",
            "-cpu",
            "cortex-a57",
            "-drive",
            "if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/AAVMF/AAVMF_CODE.fd",
        ]
    } else {
        &[
            "qemu-system-x86_64",
            "-machine",
            "q35,smm=on,accel=tcg",
            "-smp",
            "1",
            "-global",
            "driver=cfi.pflash01,property=secure,value=on",
            "-drive",
            "if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.secboot.fd",
        ]
    };
    let mut child = Command::new(machine[0])
        .args(&machine[1..])
        .args(["-m", "1024", "-nic", "none", "-display", "none"])
        .args(["-monitor", "none", "-no-reboot", "-drive"])
        .arg(format!(
            "if=pflash,format=raw,unit=1,file={}",
            vars_copy.display()
        ))
        .arg("-drive")
        .arg(format!("if=virtio,format=raw,file={}", disk.display()))
        .arg("-serial")
        .arg(format!("file:{}", log.display()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    let verdict = loop {
        std::thread::sleep(std::time::Duration::from_millis(500));
        let text = String::from_utf8_lossy(&fs::read(&log).unwrap_or_default()).into_owned();
        // The kernel says so early (before it looks at the initrd).
        if text.contains("secureboot: Secure boot enabled") {
            break "ok";
        }
        if text.contains("Access Denied") || text.contains("Security Violation") {
            break "refused";
        }
        if child.try_wait().unwrap().is_some() {
            break "exited";
        }
        if start.elapsed().as_secs() > 240 {
            break "timeout";
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    let text = String::from_utf8_lossy(&fs::read(&log).unwrap_or_default()).into_owned();
    (verdict, text)
}

#[test]
#[ignore = "boots QEMU (TCG, ~30 s); run with --ignored"]
fn uki_boots_with_custom_keys_and_is_refused_with_ms_keys() {
    let Some(vfv) = virt_fw_vars() else {
        panic!("virt-fw-vars missing: pip install virt-firmware into /opt/image-builder-py");
    };
    assert!(
        Path::new("/usr/share/OVMF").is_dir(),
        "package ovmf missing"
    );
    let keys = keyset();
    let p = uki_parts();
    let t = tempfile::tempdir().unwrap();
    let uki = t.path().join("uki.efi");
    let db = Signer::in_dir(keys, "db");
    secureboot::build_uki(
        &p.kernel,
        &p.initrd,
        "console=ttyS0 panic=-1 earlyprintk=serial",
        &p.os_release,
        &uki,
        arch::lookup("x86_64").unwrap(),
        &db,
    )
    .unwrap();
    let disk = t.path().join("disk.raw");
    esp_disk(&uki, "BOOTX64.EFI", &disk);

    let owner = fs::read_to_string(keys.join("owner.guid")).unwrap();
    let owner = owner.trim();
    let custom = t.path().join("vars-custom.fd");
    let o = Command::new(&vfv)
        .args(["-i", "/usr/share/OVMF/OVMF_VARS_4M.fd", "-o"])
        .arg(&custom)
        .args(["--set-pk", owner])
        .arg(keys.join("PK.crt"))
        .args(["--add-kek", owner])
        .arg(keys.join("KEK.crt"))
        .args(["--add-db", owner])
        .arg(keys.join("db.crt"))
        .arg("--secure-boot")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let (v, log) = boot(false, &disk, &custom, t.path());
    assert_eq!(v, "ok", "custom keys: {log}");
    let (v, log) = boot(
        false,
        &disk,
        Path::new("/usr/share/OVMF/OVMF_VARS_4M.ms.fd"),
        t.path(),
    );
    assert_eq!(v, "refused", "MS-only keys: {log}");
}

/// The arm64 systemd stub, from systemd-boot-efi:arm64 (downloaded once
/// into the user cache, never installed); None when apt cannot fetch it.
fn arm64_stub() -> Option<PathBuf> {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?
        .join("alma-image-builder/secureboot-debs/systemd-boot-efi_arm64");
    let stub = cache.join("root/usr/lib/systemd/boot/efi/linuxaa64.efi.stub");
    if stub.is_file() {
        return Some(stub);
    }
    let o = Command::new("sh")
        .arg("-c")
        .arg(
            r#"set -e; mkdir -p "$1"; cd "$1"; rm -rf root.tmp *.deb
apt-get download systemd-boot-efi:arm64 >/dev/null 2>&1
dpkg -x systemd-boot-efi_*_arm64.deb root.tmp && rm -rf root && mv root.tmp root"#,
        )
        .arg("sh")
        .arg(&cache)
        .output()
        .ok()?;
    (o.status.success() && stub.is_file()).then_some(stub)
}

/// Builds a db-signed arm64 UKI in `t` from the fixture's aarch64 kernel;
/// None (with a note) when the cross objcopy or the stub is missing.
fn arm64_uki(t: &Path, cmdline: &str) -> Option<(PathBuf, PathBuf)> {
    if !have("aarch64-linux-gnu-objcopy") {
        common::skip::skip("binutils-aarch64-linux-gnu not installed");
        return None;
    }
    let Some(stub) = arm64_stub() else {
        common::skip::skip("cannot download systemd-boot-efi:arm64");
        return None;
    };
    let repo = common::fixtures::fixture_root().join("repos/main/aarch64");
    let rpm = fs::read_dir(&repo)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("kernel-core-")
        })
        .unwrap();
    let o = Command::new("sh")
        .args(["-c", "rpm2cpio \"$1\" | cpio -idm --quiet", "sh"])
        .arg(&rpm)
        .current_dir(t)
        .output()
        .unwrap();
    assert!(o.status.success());
    let kver = fs::read_dir(t.join("lib/modules"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let initrd = t.join("initrd");
    fs::write(&initrd, b"initrd").unwrap();
    let osrel = t.join("os-release");
    fs::write(&osrel, "ID=almalinux\n").unwrap();
    let uki = t.join("uki-aa64.efi");
    let db = Signer::in_dir(keyset(), "db");
    secureboot::uki::UkiSpec {
        stub,
        kernel: kver.join("vmlinuz"),
        initrd,
        cmdline: cmdline.into(),
        os_release: osrel,
        arch: arch::lookup("aarch64").unwrap(),
    }
    .build(&uki, &db)
    .unwrap();
    Some((uki, kver))
}

#[test]
fn build_uki_for_aarch64() {
    let t = tempfile::tempdir().unwrap();
    let Some((uki, kver)) = arm64_uki(t.path(), "console=ttyAMA0") else {
        return;
    };
    let db = Signer::in_dir(keyset(), "db");
    assert!(sbverify(&uki, &db.cert));
    let info = PeInfo::parse(&fs::read(&uki).unwrap()).unwrap();
    assert_eq!(info.machine, secureboot::pe::MACHINE_ARM64);
    for s in [".osrel", ".cmdline", ".linux", ".initrd"] {
        let sec = info.section(s).unwrap_or_else(|| panic!("{s} missing"));
        assert_eq!(u64::from(sec.virtual_address) % 0x1000, 0, "{s}");
    }
    assert!(info.overlaps().is_empty());
    // The x86 stub is refused for aarch64 (wrong machine), clearly.
    let x86_stub = Path::new("/usr/lib/systemd/boot/efi/linuxx64.efi.stub");
    if x86_stub.is_file() {
        let e = secureboot::uki::UkiSpec {
            stub: x86_stub.to_path_buf(),
            kernel: kver.join("vmlinuz"),
            initrd: t.path().join("initrd"),
            cmdline: String::new(),
            os_release: t.path().join("os-release"),
            arch: arch::lookup("aarch64").unwrap(),
        }
        .build(&t.path().join("x.efi"), &db)
        .unwrap_err();
        assert!(format!("{e:#}").contains("machine"), "{e:#}");
    }
}

#[test]
#[ignore = "boots QEMU (TCG, ~30 s); run with --ignored"]
fn aarch64_uki_boots_with_custom_keys_and_is_refused_with_ms_keys() {
    let vfv = virt_fw_vars().expect("virt-fw-vars (pip install virt-firmware)");
    let t = tempfile::tempdir().unwrap();
    let Some((uki, _)) = arm64_uki(t.path(), "console=ttyAMA0 panic=-1") else {
        panic!("cannot build an arm64 UKI here");
    };
    let disk = t.path().join("disk.raw");
    esp_disk(&uki, "BOOTAA64.EFI", &disk);
    let keys = keyset();
    let owner = fs::read_to_string(keys.join("owner.guid")).unwrap();
    let owner = owner.trim();
    // Debian's AAVMF_VARS.fd is unformatted: start from the MS store and
    // replace its keys.
    let ms = Path::new("/usr/share/AAVMF/AAVMF_VARS.ms.fd");
    let custom = t.path().join("vars-custom.fd");
    let o = Command::new(&vfv)
        .arg("-i")
        .arg(ms)
        .arg("-o")
        .arg(&custom)
        .args([
            "-d", "PK", "-d", "KEK", "-d", "db", "-d", "dbx", "--set-pk", owner,
        ])
        .arg(keys.join("PK.crt"))
        .args(["--add-kek", owner])
        .arg(keys.join("KEK.crt"))
        .args(["--add-db", owner])
        .arg(keys.join("db.crt"))
        .arg("--secure-boot")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (v, log) = boot(true, &disk, &custom, t.path());
    assert_eq!(v, "ok", "custom keys: {log}");
    let (v, log) = boot(true, &disk, ms, t.path());
    assert_eq!(v, "refused", "MS-only keys: {log}");
}
