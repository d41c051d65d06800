//! Authenticode signing of EFI binaries, always checked after the fact.
//!
//! `sbsign` does the signing (it is the tool distributions use for their
//! own boot chains); we verify every result with `sbverify --cert` before
//! it reaches an image, because a signature that does not chain to the
//! intended certificate only shows up much later as a firmware refusal
//! on a serial console. Signing writes to a temporary file next to the
//! output and renames it into place only once verification passed. Key
//! files are passed to sbsign by path: never read, copied or logged here.

use super::keys::Signer;
use crate::tools;
use anyhow::{bail, Context, Result};
use std::ffi::OsStr;
use std::fs;
use std::io::Read;
use std::path::Path;

/// Checks that `path` starts like a PE image, so a wrong input fails with
/// a clear message instead of sbsign's.
fn check_pe(path: &Path) -> Result<()> {
    let mut magic = [0u8; 2];
    fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .with_context(|| format!("reading {}", path.display()))?;
    if &magic != b"MZ" {
        bail!("{} is not a PE/COFF EFI binary", path.display());
    }
    Ok(())
}

/// `sbverify --cert CERT FILE`: Ok when FILE carries a valid signature
/// chaining to CERT.
pub fn verify_efi(file: &Path, cert: &Path) -> Result<()> {
    let args: [&OsStr; 3] = ["--cert".as_ref(), cert.as_os_str(), file.as_os_str()];
    tools::run("sbverify", &args).with_context(|| {
        format!(
            "signature of {} does not verify against {}",
            file.display(),
            cert.display()
        )
    })?;
    Ok(())
}

/// Signs `input` with `signer` into `output` (which may be `input`), then
/// verifies it against `signer.cert`.
pub fn sign_efi(input: &Path, output: &Path, key: &Path, cert: &Path) -> Result<()> {
    check_pe(input)?;
    for (what, p) in [("key", key), ("certificate", cert)] {
        if !p.is_file() {
            bail!("signing {what} {} does not exist", p.display());
        }
    }
    let dir = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let tmp = tempfile::Builder::new()
        .prefix(".sign-")
        .tempfile_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    let args: [&OsStr; 7] = [
        "--key".as_ref(),
        key.as_os_str(),
        "--cert".as_ref(),
        cert.as_os_str(),
        "--output".as_ref(),
        tmp.path().as_os_str(),
        input.as_os_str(),
    ];
    tools::run("sbsign", &args).with_context(|| format!("signing {}", input.display()))?;
    verify_efi(tmp.path(), cert)?;
    let mode = fs::metadata(input)
        .map(|m| m.permissions())
        .with_context(|| format!("reading {}", input.display()))?;
    fs::set_permissions(tmp.path(), mode).context("setting mode of signed file")?;
    tmp.persist(output)
        .with_context(|| format!("writing {}", output.display()))?;
    Ok(())
}

/// `sign_efi` with a genkey key pair.
pub fn sign_with(input: &Path, output: &Path, signer: &Signer) -> Result<()> {
    sign_efi(input, output, &signer.key, &signer.cert)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_non_pe_and_missing_keys() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("x.efi");
        fs::write(&f, b"ELF....").unwrap();
        let e = sign_efi(&f, &f, &t.path().join("k"), &t.path().join("c")).unwrap_err();
        assert!(e.to_string().contains("not a PE/COFF"), "{e}");
        fs::write(&f, b"MZ....").unwrap();
        let e = sign_efi(&f, &f, &t.path().join("k"), &t.path().join("c")).unwrap_err();
        assert!(e.to_string().contains("signing key"), "{e}");
        let e = sign_efi(&t.path().join("none"), &f, &f, &f).unwrap_err();
        assert!(format!("{e:#}").contains("reading"), "{e:#}");
    }
}
