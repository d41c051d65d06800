//! Boot verification: boot an artifact in QEMU under the firmware and
//! Secure Boot keys a real machine would have, and read the guest's own
//! report from the serial console.
//!
//! Why a boot and not an inspection: only the firmware, shim and GRUB
//! decide whether a signature and an SBAT level are accepted, and only the
//! booted system knows whether its units started. The pieces:
//!
//! - `qemu`: the command line (pure, table-tested)
//! - `firmware`: a fresh UEFI variable store per boot, custom keys enrolled
//! - `inject`: the report unit written into a throwaway copy of the image
//! - `inject_iso`: the same for a live ISO (its squashfs root repacked)
//! - `serial`: run QEMU, follow the console, stop at the first decisive line
//! - `expect`: compare the report with a `qemu-tests/*.toml` file
//!
//! The artifact is only ever read: QEMU opens it with a temporary overlay,
//! and injection works on a copy.

pub mod artifact;
pub mod expect;
pub mod firmware;
pub mod guest;
pub mod inject;
pub mod inject_iso;
pub mod qemu;
pub mod serial;

use anyhow::{Context, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use crate::distro::arch::Arch;
use crate::error::InputError;
use qemu::{Accel, DiskFormat, FirmwareFiles, FirmwareKind, Media, SecureBoot};
pub use serial::Outcome;

/// How to boot.
#[derive(Debug, Clone)]
pub struct Options {
    pub arch: &'static Arch,
    pub firmware: FirmwareKind,
    pub secureboot: SecureBoot,
    /// Keys directory (see `firmware` for the layout).
    pub keys: Option<PathBuf>,
    pub accel: Accel,
    pub timeout: Duration,
    /// Write the report unit into a copy of the image when it has a root
    /// partition (off: boot the image exactly as it is).
    pub inject: bool,
    pub memory_mib: u32,
    /// How the artifact is attached; None: a CD-ROM for ISO 9660 media,
    /// else a disk.
    pub media: Option<Media>,
}

impl Options {
    /// Defaults for `arch`: UEFI, Microsoft keys, TCG, 180 s, injection on.
    pub fn new(arch: &'static Arch) -> Self {
        Self {
            arch,
            firmware: FirmwareKind::Uefi,
            secureboot: SecureBoot::Ms,
            keys: None,
            accel: Accel::Tcg,
            timeout: Duration::from_secs(180),
            inject: true,
            memory_mib: 1024,
            media: None,
        }
    }
}

/// What one verification boot found.
#[derive(Debug, Clone)]
pub struct Verified {
    pub outcome: Outcome,
    /// QEMU start to the decisive line: time-to-report on success.
    pub elapsed: Duration,
    /// The serial console, cleaned of escape sequences.
    pub log: String,
    pub format: DiskFormat,
    /// The accelerator actually used.
    pub accel: Accel,
    /// Secure Boot mode actually used (BIOS boots have none).
    pub secureboot: SecureBoot,
    /// Whether the report unit was injected into a copy.
    pub injected: bool,
    /// How the artifact was attached.
    pub media: Media,
    pub qemu_command: String,
    /// QEMU's stderr (tail).
    pub stderr: String,
}

/// Checks the inputs that need no boot; every failure is an `InputError`.
fn check(artifact: &Path, o: &Options) -> Result<SecureBoot, InputError> {
    if !artifact.is_file() {
        return Err(InputError(format!(
            "{}: no such disk image",
            artifact.display()
        )));
    }
    if o.media == Some(Media::Cdrom) && !crate::tools::iso::is_iso9660(artifact) {
        return Err(InputError(format!(
            "--media cdrom: {} is not an ISO 9660 image",
            artifact.display()
        )));
    }
    if !firmware::supported(o.arch, o.firmware) {
        return Err(InputError(format!(
            "verify cannot boot {} with {:?} firmware",
            o.arch.name, o.firmware
        )));
    }
    match (o.firmware, o.secureboot) {
        (FirmwareKind::Bios, SecureBoot::Custom) => Err(InputError(
            "--secureboot custom needs --firmware uefi".into(),
        )),
        // BIOS has no Secure Boot: the default `ms` simply does not apply.
        (FirmwareKind::Bios, _) => Ok(SecureBoot::Off),
        (FirmwareKind::Uefi, SecureBoot::Custom) if o.keys.is_none() => Err(InputError(
            "--secureboot custom needs --keys DIR (PK.crt, KEK.crt, db.crt)".into(),
        )),
        (FirmwareKind::Uefi, sb) => Ok(sb),
    }
}

/// Boots `artifact` and watches it until it reports, is refused, fails or
/// times out.
pub fn verify(artifact: &Path, o: &Options) -> Result<Verified> {
    let sb = check(artifact, o)?;
    let format = qemu::detect_format(artifact)?;
    let work = tempfile::Builder::new()
        .prefix("image-builder-verify-")
        .tempdir()
        .context("creating a work directory")?;
    let fw = firmware::prepare(o.arch, o.firmware, sb, o.keys.as_deref(), work.path())?;
    let iso = crate::tools::iso::is_iso9660(artifact);
    let media = o
        .media
        .unwrap_or(if iso { Media::Cdrom } else { Media::Disk });
    let injected = if !o.inject {
        None
    } else if iso {
        Some(
            inject_iso::prepare(artifact, work.path())
                .context("injecting the report unit into the live ISO")?,
        )
    } else {
        inject::prepare(artifact, format, o.arch, work.path())
            .context("injecting the report unit")?
    };
    let (disk, disk_format) = match &injected {
        Some(copy) => (copy.as_path(), DiskFormat::Raw),
        None => (artifact, format),
    };
    let accel = resolve_accel(o.accel, o.arch, &fw, work.path());
    let serial_log = work.path().join("serial.log");
    let spec = qemu::Spec {
        arch: o.arch,
        firmware: fw,
        accel,
        disk: Some((disk, disk_format)),
        media,
        serial_log: &serial_log,
        memory_mib: o.memory_mib,
    };
    let (program, args) = qemu::command(&spec);
    let qemu_command = crate::tools::display(&program, &args);
    let w = serial::watch(
        &program,
        &args,
        &serial_log,
        &work.path().join("qemu.stderr"),
        o.timeout,
        &serial::scan,
    )
    .context("running qemu")?;
    Ok(Verified {
        outcome: w.outcome,
        elapsed: w.elapsed,
        log: w.log,
        format,
        accel,
        secureboot: sb,
        injected: injected.is_some(),
        media,
        qemu_command,
        stderr: w.stderr,
    })
}

/// Probe answers for this process, by QEMU binary, machine and firmware.
static KVM_PROBES: OnceLock<Mutex<HashMap<String, bool>>> = OnceLock::new();

/// TCG or KVM; `Auto` asks a probe boot once per process and setup.
fn resolve_accel(a: Accel, arch: &'static Arch, fw: &FirmwareFiles, work: &Path) -> Accel {
    if a != Accel::Auto {
        return a;
    }
    let q = &arch.qemu;
    let key = format!(
        "{} {} {}",
        q.binary,
        q.machine,
        matches!(fw, FirmwareFiles::Uefi { .. })
    );
    let probes = KVM_PROBES.get_or_init(|| Mutex::new(HashMap::new()));
    let cached = probes.lock().ok().and_then(|m| m.get(&key).copied());
    let works = cached.unwrap_or_else(|| {
        let w = probe_kvm(arch, fw, work);
        crate::report::verbose(format!(
            "kvm probe ({key}): {}",
            if w {
                "works"
            } else {
                "does not work, using tcg"
            }
        ));
        if let Ok(mut m) = probes.lock() {
            m.insert(key, w);
        }
        w
    });
    if works {
        Accel::Kvm
    } else {
        Accel::Tcg
    }
}

/// A disk-less boot under KVM: it works when UEFI reaches its boot manager
/// (or, for BIOS, QEMU keeps running without complaint). Nested KVM
/// without SMM or with emulation gaps fails here instead of in the test.
fn probe_kvm(arch: &'static Arch, fw: &FirmwareFiles, work: &Path) -> bool {
    if arch.name.split('_').next() != crate::distro::arch::host().split('_').next()
        || std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/kvm")
            .is_err()
    {
        return false;
    }
    let dir = work.join("kvm-probe");
    if std::fs::create_dir_all(&dir).is_err() {
        return false;
    }
    let firmware = match fw {
        FirmwareFiles::Bios => FirmwareFiles::Bios,
        FirmwareFiles::Uefi { code, vars } => {
            let v = dir.join("vars.fd");
            if std::fs::copy(vars, &v).is_err() {
                return false;
            }
            FirmwareFiles::Uefi {
                code: code.clone(),
                vars: v,
            }
        }
    };
    let uefi = matches!(firmware, FirmwareFiles::Uefi { .. });
    let log = dir.join("serial.log");
    let spec = qemu::Spec {
        arch,
        firmware,
        accel: Accel::Kvm,
        disk: None,
        media: Media::Disk,
        serial_log: &log,
        memory_mib: 256,
    };
    let (program, args) = qemu::command(&spec);
    let reached = |l: &str| {
        l.contains("BdsDxe")
            .then_some(Outcome::Report(serde_json::Value::Null))
    };
    let timeout = Duration::from_secs(if uefi { 20 } else { 3 });
    match serial::watch(
        &program,
        &args,
        &log,
        &dir.join("stderr"),
        timeout,
        &reached,
    ) {
        Ok(w) if uefi => matches!(w.outcome, Outcome::Report(_)) && !w.stderr.contains("error"),
        Ok(w) => w.outcome == Outcome::Timeout && w.stderr.trim().is_empty(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::distro::arch::lookup;

    #[test]
    fn input_checks() {
        let x86 = lookup("x86_64").unwrap();
        let f = tempfile::NamedTempFile::new().unwrap();
        let mut o = Options::new(x86);
        assert!(check(Path::new("/nonexistent.qcow2"), &o)
            .unwrap_err()
            .0
            .contains("no such disk image"));
        assert_eq!(check(f.path(), &o).unwrap(), SecureBoot::Ms);
        o.secureboot = SecureBoot::Custom;
        assert!(check(f.path(), &o).unwrap_err().0.contains("needs --keys"));
        o.firmware = FirmwareKind::Bios;
        assert!(check(f.path(), &o)
            .unwrap_err()
            .0
            .contains("needs --firmware uefi"));
        o.secureboot = SecureBoot::Ms;
        assert_eq!(check(f.path(), &o).unwrap(), SecureBoot::Off);
        let arm = Options {
            firmware: FirmwareKind::Bios,
            ..Options::new(lookup("aarch64").unwrap())
        };
        assert!(check(f.path(), &arm).is_err());
        let ppc = Options::new(lookup("ppc64le").unwrap());
        assert!(check(f.path(), &ppc).is_err());
    }
}
