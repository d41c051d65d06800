//! The verify stage of a build: boot a freshly built artifact the way its
//! boot plan says (UEFI with the plan's Secure Boot mode when it has UEFI,
//! else BIOS) and fail unless the guest reports.

use crate::artifact::Bootable;
use crate::manifest::ours::{Firmware, SecureBootMode};
use crate::progress::{Event, Progress};
use anyhow::{bail, Result};
use std::path::Path;

pub fn boot_check(out: &Path, b: &Bootable, progress: &dyn Progress) -> Result<()> {
    use super::qemu::{FirmwareKind, SecureBoot};
    let mut o = super::Options::new(b.arch);
    o.firmware = if b.boot.firmware == Firmware::Bios {
        FirmwareKind::Bios
    } else {
        FirmwareKind::Uefi
    };
    o.secureboot = match b.boot.secureboot {
        SecureBootMode::Distro => SecureBoot::Ms,
        SecureBootMode::Custom => SecureBoot::Custom,
        SecureBootMode::Off => SecureBoot::Off,
    };
    o.keys = b.keys_dir.clone();
    o.timeout = std::time::Duration::from_secs(300);
    progress.event(&Event::Note {
        message: format!("verifying {} in QEMU", out.display()),
    });
    let v = super::verify(out, &o)?;
    let secs = v.elapsed.as_secs_f64();
    match &v.outcome {
        super::Outcome::Report(r) => {
            progress.event(&Event::Verified {
                path: out.to_path_buf(),
                seconds: secs,
                report: serde_json::to_value(r)?,
            });
            Ok(())
        }
        other => {
            let tail: Vec<&str> = v.log.lines().rev().take(20).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            bail!(
                "{} did not boot to a report ({}) after {secs:.1} s; console:\n{}",
                out.display(),
                other.kind(),
                tail.join("\n")
            )
        }
    }
}
