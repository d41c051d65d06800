//! UEFI variable stores for verification boots.
//!
//! Every boot gets its own copy of a template: shim writes `SbatLevel` and
//! boot entries into the store on first boot, so reusing one would make the
//! second boot test something else than the first. Custom keys are enrolled
//! with `virt-fw-vars` (virt-firmware, from the project's Python venv).
//!
//! Keys directory layout (what `secureboot genkey` writes), PEM files:
//!
//! | file      | used for                                                   |
//! |-----------|------------------------------------------------------------|
//! | `PK.crt`  | `--secureboot custom`: platform key                        |
//! | `KEK.crt` | `--secureboot custom`: key exchange key                    |
//! | `db.crt`  | `--secureboot custom`: signature database (signs the UKI)  |
//! | `MOK.crt` | optional: added to shim's MokList (`--add-mok`)            |
//!
//! `--secureboot custom --keys DIR` enrolls only our PK/KEK/db (Microsoft
//! keys absent, so a Microsoft-signed shim is refused), plus `MOK.crt` if
//! present. `--secureboot ms --keys DIR` keeps the Microsoft keys and adds
//! `MOK.crt` to MokList: the route for images whose MS-signed shim loads
//! binaries signed with our MOK key. Private keys are never read.

use anyhow::{Context, Result};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::qemu::{FirmwareFiles, FirmwareKind, SecureBoot};
use crate::distro::arch::Arch;
use crate::error::InputError;

/// Owner GUID of the certificates we enroll (fixed, so two enrollments of
/// the same keys give the same variable store).
pub const OWNER_GUID: &str = "8f5e0c1a-6b0e-4d3c-9a7e-1b2c3d4e5f60";

/// How the private vars copy is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VarsRecipe {
    /// A plain copy of a template.
    Copy(PathBuf),
    /// `virt-fw-vars ARGS` (with `-i TEMPLATE -o OUT` among them).
    VirtFw(Vec<OsString>),
}

/// Firmware template files of one arch.
#[derive(Debug, Clone, Copy)]
struct Templates {
    code: &'static str,
    /// Microsoft keys enrolled, Secure Boot on.
    ms: &'static str,
    /// No keys (Secure Boot off).
    blank: &'static str,
    /// Start for custom enrollment, and whether its keys must be deleted
    /// first (Debian's AAVMF_VARS.fd is unformatted, so arm64 starts from
    /// the MS store and deletes PK/KEK/db).
    custom_base: &'static str,
    custom_delete: bool,
}

fn templates(arch: &Arch) -> Option<Templates> {
    if arch.name.starts_with("x86_64") {
        Some(Templates {
            code: "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd",
            ms: "/usr/share/OVMF/OVMF_VARS_4M.ms.fd",
            blank: "/usr/share/OVMF/OVMF_VARS_4M.fd",
            custom_base: "/usr/share/OVMF/OVMF_VARS_4M.fd",
            custom_delete: false,
        })
    } else if arch.name == "aarch64" {
        Some(Templates {
            code: "/usr/share/AAVMF/AAVMF_CODE.fd",
            ms: "/usr/share/AAVMF/AAVMF_VARS.ms.fd",
            blank: "/usr/share/AAVMF/AAVMF_VARS.fd",
            custom_base: "/usr/share/AAVMF/AAVMF_VARS.ms.fd",
            custom_delete: true,
        })
    } else {
        None
    }
}

/// Whether verify can boot `arch` with `fw`.
pub fn supported(arch: &Arch, fw: FirmwareKind) -> bool {
    match fw {
        FirmwareKind::Uefi => templates(arch).is_some(),
        FirmwareKind::Bios => arch.bios,
    }
}

fn key(keys: &Path, name: &str) -> Result<PathBuf, InputError> {
    let p = keys.join(name);
    if p.is_file() {
        Ok(p)
    } else {
        Err(InputError(format!(
            "keys directory {} has no {name} (expected PK.crt, KEK.crt, db.crt and optionally MOK.crt)",
            keys.display()
        )))
    }
}

/// UEFI code file and vars recipe for `arch`/`sb`, writing to `out`.
/// Pure apart from checking which key files exist.
pub fn plan(
    arch: &Arch,
    sb: SecureBoot,
    keys: Option<&Path>,
    out: &Path,
) -> Result<(PathBuf, VarsRecipe), InputError> {
    let t = templates(arch).ok_or_else(|| {
        InputError(format!(
            "verify boots UEFI on x86_64 and aarch64 only, not {}",
            arch.name
        ))
    })?;
    let io =
        |input: &str| -> Vec<OsString> { vec!["-i".into(), input.into(), "-o".into(), out.into()] };
    let g = || OsString::from(OWNER_GUID);
    let recipe = match (sb, keys) {
        (SecureBoot::Off, _) => VarsRecipe::Copy(t.blank.into()),
        (SecureBoot::Ms, None) => VarsRecipe::Copy(t.ms.into()),
        (SecureBoot::Ms, Some(k)) => {
            let mut a = io(t.ms);
            a.extend(["--add-mok".into(), g(), key(k, "MOK.crt")?.into()]);
            VarsRecipe::VirtFw(a)
        }
        (SecureBoot::Custom, None) => {
            return Err(InputError(
                "--secureboot custom needs --keys DIR (PK.crt, KEK.crt, db.crt)".into(),
            ))
        }
        (SecureBoot::Custom, Some(k)) => {
            let mut a = io(t.custom_base);
            if t.custom_delete {
                for v in ["PK", "KEK", "db", "dbx"] {
                    a.extend(["-d".into(), v.into()]);
                }
            }
            a.extend(["--set-pk".into(), g(), key(k, "PK.crt")?.into()]);
            a.extend(["--add-kek".into(), g(), key(k, "KEK.crt")?.into()]);
            a.extend(["--add-db".into(), g(), key(k, "db.crt")?.into()]);
            if let Ok(mok) = key(k, "MOK.crt") {
                a.extend(["--add-mok".into(), g(), mok.into()]);
            }
            a.push("--secure-boot".into());
            VarsRecipe::VirtFw(a)
        }
    };
    Ok((t.code.into(), recipe))
}

/// The virt-fw-vars executable: the project venv's, else PATH.
pub fn virt_fw_vars() -> String {
    let venv = std::env::var_os("IMAGE_BUILDER_PYVENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/image-builder-py"));
    let p = venv.join("bin/virt-fw-vars");
    if p.is_file() {
        p.to_string_lossy().into_owned()
    } else {
        "virt-fw-vars".into()
    }
}

/// Prepares the firmware of one boot in `workdir` (a fresh vars copy).
pub fn prepare(
    arch: &Arch,
    fw: FirmwareKind,
    sb: SecureBoot,
    keys: Option<&Path>,
    workdir: &Path,
) -> Result<FirmwareFiles> {
    if fw == FirmwareKind::Bios {
        return Ok(FirmwareFiles::Bios);
    }
    let vars = workdir.join("vars.fd");
    let (code, recipe) = plan(arch, sb, keys, &vars)?;
    if !code.is_file() {
        return Err(InputError(format!(
            "firmware {} is missing (install ovmf / qemu-efi-aarch64)",
            code.display()
        ))
        .into());
    }
    match recipe {
        VarsRecipe::Copy(t) => {
            std::fs::copy(&t, &vars)
                .with_context(|| format!("copying {} to {}", t.display(), vars.display()))?;
        }
        VarsRecipe::VirtFw(args) => {
            crate::tools::run(&virt_fw_vars(), &args).context("enrolling secure boot keys")?;
        }
    }
    Ok(FirmwareFiles::Uefi { code, vars })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::distro::arch::lookup;

    fn s(r: &VarsRecipe) -> String {
        match r {
            VarsRecipe::Copy(p) => format!("copy {}", p.display()),
            VarsRecipe::VirtFw(a) => a
                .iter()
                .map(|x| x.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(" "),
        }
    }

    #[test]
    fn vars_recipes_table() {
        let keys = tempfile::tempdir().unwrap();
        for f in ["PK.crt", "KEK.crt", "db.crt"] {
            std::fs::write(keys.path().join(f), "x").unwrap();
        }
        let k = keys.path().display().to_string();
        let out = Path::new("/w/vars.fd");
        let x86 = lookup("x86_64").unwrap();
        let arm = lookup("aarch64").unwrap();
        let g = OWNER_GUID;
        let cases: Vec<(&Arch, SecureBoot, bool, String)> = vec![
            (x86, SecureBoot::Ms, false, "copy /usr/share/OVMF/OVMF_VARS_4M.ms.fd".into()),
            (x86, SecureBoot::Off, false, "copy /usr/share/OVMF/OVMF_VARS_4M.fd".into()),
            (arm, SecureBoot::Off, false, "copy /usr/share/AAVMF/AAVMF_VARS.fd".into()),
            (
                x86,
                SecureBoot::Custom,
                true,
                format!("-i /usr/share/OVMF/OVMF_VARS_4M.fd -o /w/vars.fd --set-pk {g} {k}/PK.crt --add-kek {g} {k}/KEK.crt --add-db {g} {k}/db.crt --secure-boot"),
            ),
            (
                arm,
                SecureBoot::Custom,
                true,
                format!("-i /usr/share/AAVMF/AAVMF_VARS.ms.fd -o /w/vars.fd -d PK -d KEK -d db -d dbx --set-pk {g} {k}/PK.crt --add-kek {g} {k}/KEK.crt --add-db {g} {k}/db.crt --secure-boot"),
            ),
        ];
        for (arch, sb, with_keys, want) in cases {
            let (code, r) = plan(arch, sb, with_keys.then_some(keys.path()), out).unwrap();
            assert!(code.to_string_lossy().contains("CODE"));
            assert_eq!(s(&r), want, "{} {sb:?}", arch.name);
        }
        // MOK: optional for custom, required for ms + keys.
        let e = plan(x86, SecureBoot::Ms, Some(keys.path()), out).unwrap_err();
        assert!(e.0.contains("no MOK.crt"), "{e}");
        std::fs::write(keys.path().join("MOK.crt"), "x").unwrap();
        let (_, r) = plan(x86, SecureBoot::Ms, Some(keys.path()), out).unwrap();
        assert_eq!(
            s(&r),
            format!(
                "-i /usr/share/OVMF/OVMF_VARS_4M.ms.fd -o /w/vars.fd --add-mok {g} {k}/MOK.crt"
            )
        );
        let (_, r) = plan(x86, SecureBoot::Custom, Some(keys.path()), out).unwrap();
        assert!(s(&r).ends_with(&format!("--add-mok {g} {k}/MOK.crt --secure-boot")));
    }

    #[test]
    fn bad_input_is_input_error() {
        let x86 = lookup("x86_64").unwrap();
        let out = Path::new("/w/vars.fd");
        let e = plan(x86, SecureBoot::Custom, None, out).unwrap_err();
        assert!(e.0.contains("needs --keys"), "{e}");
        let empty = tempfile::tempdir().unwrap();
        let e = plan(x86, SecureBoot::Custom, Some(empty.path()), out).unwrap_err();
        assert!(e.0.contains("no PK.crt"), "{e}");
        let ppc = lookup("ppc64le").unwrap();
        assert!(plan(ppc, SecureBoot::Ms, None, out).is_err());
        assert!(!supported(ppc, FirmwareKind::Uefi));
        assert!(supported(x86, FirmwareKind::Bios));
        assert!(!supported(lookup("aarch64").unwrap(), FirmwareKind::Bios));
    }
}
