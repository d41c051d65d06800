//! `secureboot genkey`: a complete test key set for `secureboot = "custom"`.
//!
//! Why openssl and not a crate: it is already on every build host, it is
//! what firmware vendors' docs use, and its key files are the PEM format
//! `sbsign` reads. Key generation and PKCS#7 signing run through
//! `crate::tools`; the UEFI structures around them are built in
//! `efivar`. The set is written into a fresh temporary directory next to
//! DIR and renamed into place at the end, so a failed run leaves nothing
//! half-made behind and a second run is not refused by debris.
//!
//! Layout of DIR (all PEM unless noted):
//! `PK|KEK|db|MOK.key` (0600), `PK|KEK|db|MOK.crt`, `MOK.der` (for
//! `mokutil --import`), `PK|KEK|db.esl` (one X.509 signature list each),
//! `PK.auth` (signed by PK), `KEK.auth` (by PK), `db.auth` (by KEK), and
//! `owner.guid`, the signature owner used in every list. The owner is
//! derived from the name (`Guid::from_name`) so it is stable per key set.

use super::efivar::{self, EfiTime, Guid};
use crate::error::InputError;
use crate::tools;
use anyhow::{Context, Result};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// RSA size: 2048 is what every firmware accepts (some reject 3072/4096
/// in db), and it is what shim and the Microsoft CAs use.
const RSA_BITS: u32 = 2048;
/// Ten years.
const DAYS: u32 = 3650;
/// Key pairs genkey creates, in order.
pub const KEYS: [&str; 4] = ["PK", "KEK", "db", "MOK"];
/// Longest accepted name: the CN limit (64) minus " KEK".
const MAX_NAME: usize = 60;

/// What genkey wrote.
#[derive(Debug, Clone)]
pub struct KeySet {
    pub dir: PathBuf,
    pub owner: Guid,
    pub time: EfiTime,
    /// File names inside `dir`, sorted.
    pub files: Vec<String>,
}

/// Paths of one key pair in a key directory.
#[derive(Debug, Clone)]
pub struct Signer {
    pub key: PathBuf,
    pub cert: PathBuf,
}

impl Signer {
    /// `DIR/NAME.key` and `DIR/NAME.crt` (as genkey writes them).
    pub fn in_dir(dir: &Path, name: &str) -> Signer {
        Signer {
            key: dir.join(format!("{name}.key")),
            cert: dir.join(format!("{name}.crt")),
        }
    }
}

/// Checks a certificate name prefix; bad names are the user's input.
fn check_name(name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(InputError("--name must not be empty".into()).into());
    }
    if name.chars().count() > MAX_NAME {
        return Err(InputError(format!("--name is longer than {MAX_NAME} characters")).into());
    }
    if name.chars().any(char::is_control) {
        return Err(InputError("--name must not contain control characters".into()).into());
    }
    Ok(())
}

/// `-subj` text for a CN, escaping what openssl treats as syntax.
fn subject(cn: &str) -> String {
    let mut s = String::from("/CN=");
    for c in cn.chars() {
        if matches!(c, '/' | '\\' | '+' | '=' | ',') {
            s.push('\\');
        }
        s.push(c);
    }
    s
}

/// Refuses an existing DIR that is not an empty directory.
fn check_target(dir: &Path) -> Result<()> {
    match fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("reading {}", dir.display())),
        Ok(m) if !m.is_dir() => {
            Err(InputError(format!("{} exists and is not a directory", dir.display())).into())
        }
        Ok(_) => {
            let mut it = fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
            if it.next().is_some() {
                return Err(InputError(format!(
                    "{} is not empty; refusing to overwrite keys",
                    dir.display()
                ))
                .into());
            }
            Ok(())
        }
    }
}

/// Creates an empty file only the owner can read, so a private key never
/// exists with wider permissions, not even between create and chmod.
fn create_private(path: &Path) -> Result<()> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    Ok(())
}

fn write_file(path: &Path, data: &[u8]) -> Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(data)
        .with_context(|| format!("writing {}", path.display()))
}

/// A self-signed key pair `NAME.key`/`NAME.crt` in `dir`.
fn make_pair(dir: &Path, name: &str, cn: &str) -> Result<Signer> {
    let s = Signer::in_dir(dir, name);
    create_private(&s.key)?;
    tools::run(
        "openssl",
        &[
            "req".as_ref(),
            "-new".as_ref(),
            "-x509".as_ref(),
            "-newkey".as_ref(),
            format!("rsa:{RSA_BITS}").as_ref(),
            "-nodes".as_ref(),
            "-sha256".as_ref(),
            "-days".as_ref(),
            DAYS.to_string().as_ref(),
            "-utf8".as_ref(),
            "-subj".as_ref(),
            subject(cn).as_ref(),
            "-keyout".as_ref(),
            s.key.as_os_str(),
            "-out".as_ref(),
            s.cert.as_os_str(),
        ] as &[&std::ffi::OsStr],
    )
    .with_context(|| format!("generating {name} key"))?;
    // openssl may have replaced the file; make sure of the mode.
    fs::set_permissions(&s.key, fs::Permissions::from_mode(0o600))
        .with_context(|| format!("restricting {}", s.key.display()))?;
    Ok(s)
}

/// DER bytes of a PEM certificate.
pub fn cert_der(cert: &Path) -> Result<Vec<u8>> {
    let out = tools::run(
        "openssl",
        &[
            "x509".as_ref(),
            "-in".as_ref(),
            cert.as_os_str(),
            "-outform".as_ref(),
            "DER".as_ref(),
        ] as &[&std::ffi::OsStr],
    )
    .with_context(|| format!("reading certificate {}", cert.display()))?;
    Ok(out.stdout)
}

/// A detached PKCS#7 SignedData (DER, no signed attributes, signer
/// certificate included, no ContentInfo wrapper — the shape the UEFI spec
/// and efitools use) over `payload`, made by `signer`.
pub fn pkcs7_sign(payload: &[u8], signer: &Signer, scratch: &Path) -> Result<Vec<u8>> {
    let data = scratch.join("payload.bin");
    let sig = scratch.join("payload.p7");
    fs::write(&data, payload).context("writing signing payload")?;
    tools::run(
        "openssl",
        &[
            "smime".as_ref(),
            "-sign".as_ref(),
            "-binary".as_ref(),
            "-noattr".as_ref(),
            "-md".as_ref(),
            "sha256".as_ref(),
            "-outform".as_ref(),
            "DER".as_ref(),
            "-signer".as_ref(),
            signer.cert.as_os_str(),
            "-inkey".as_ref(),
            signer.key.as_os_str(),
            "-in".as_ref(),
            data.as_os_str(),
            "-out".as_ref(),
            sig.as_os_str(),
        ] as &[&std::ffi::OsStr],
    )
    .context("signing variable update")?;
    let p7 = fs::read(&sig).context("reading signature")?;
    let _ = fs::remove_file(&data);
    let _ = fs::remove_file(&sig);
    Ok(efivar::unwrap_content_info(&p7)?.to_vec())
}

/// An `.auth` file for `var` holding `esl`, signed by `signer`.
pub fn make_auth(
    var: &str,
    esl: &[u8],
    time: EfiTime,
    signer: &Signer,
    scratch: &Path,
) -> Result<Vec<u8>> {
    let vendor = efivar::vendor_guid(var)?;
    let payload = efivar::signed_payload(var, vendor, efivar::AUTH_ATTRS, time, esl);
    let p7 = pkcs7_sign(&payload, signer, scratch)?;
    efivar::auth_var(time, &p7, esl)
}

/// Writes a full key set into `dir` (which must not exist or be empty).
pub fn genkey(dir: &Path, name: &str) -> Result<KeySet> {
    check_name(name)?;
    check_target(dir)?;
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix(".genkey-")
        .tempdir_in(&parent)
        .with_context(|| format!("creating a temporary directory in {}", parent.display()))?;
    let work = tmp.path();
    let scratch = tempfile::tempdir().context("creating a scratch directory")?;

    let owner = Guid::from_name(name);
    let time = EfiTime::now();
    let pair = |k: &str| make_pair(work, k, &format!("{name} {k}"));
    let (pk, kek, db, mok) = (&pair("PK")?, &pair("KEK")?, &pair("db")?, &pair("MOK")?);
    write_file(&work.join("MOK.der"), &cert_der(&mok.cert)?)?;

    let mut esls = Vec::new();
    for (var, s) in [("PK", pk), ("KEK", kek), ("db", db)] {
        let esl = efivar::x509_esl(owner, &cert_der(&s.cert)?)?;
        write_file(&work.join(format!("{var}.esl")), &esl)?;
        esls.push(esl);
    }
    // PK is self-signed (setup mode accepts it), KEK is signed by PK, db
    // by KEK: the same authority chain the firmware enforces later.
    for ((var, by), esl) in [("PK", pk), ("KEK", pk), ("db", kek)].iter().zip(&esls) {
        let auth = make_auth(var, esl, time, by, scratch.path())
            .with_context(|| format!("making {var}.auth"))?;
        write_file(&work.join(format!("{var}.auth")), &auth)?;
    }
    write_file(&work.join("owner.guid"), format!("{owner}\n").as_bytes())?;

    let mut files: Vec<String> = fs::read_dir(work)
        .context("listing generated keys")?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();

    // DIR holds private keys: owner only. rename replaces an empty
    // directory, so an empty DIR is fine too.
    fs::set_permissions(work, fs::Permissions::from_mode(0o700))
        .context("restricting key directory")?;
    let kept = tmp.keep();
    if let Err(e) = fs::rename(&kept, dir) {
        let _ = fs::remove_dir_all(&kept);
        return Err(e).with_context(|| format!("moving keys into {}", dir.display()));
    }
    Ok(KeySet {
        dir: dir.to_path_buf(),
        owner,
        time,
        files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_escape_syntax() {
        assert_eq!(subject("a b PK"), "/CN=a b PK");
        assert_eq!(subject("x/y=z"), "/CN=x\\/y\\=z");
    }

    #[test]
    fn names_checked() {
        assert!(check_name("ok name").is_ok());
        for bad in ["", "  ", "a\nb", &"x".repeat(61)] {
            let e = check_name(bad).unwrap_err();
            assert!(e.downcast_ref::<InputError>().is_some(), "{bad:?}");
        }
    }

    #[test]
    fn targets_checked() {
        let t = tempfile::tempdir().unwrap();
        assert!(check_target(&t.path().join("new")).is_ok());
        assert!(check_target(t.path()).is_ok());
        fs::write(t.path().join("f"), "x").unwrap();
        let e = check_target(t.path()).unwrap_err();
        assert!(e.downcast_ref::<InputError>().is_some());
        let e = check_target(&t.path().join("f")).unwrap_err();
        assert!(e.downcast_ref::<InputError>().is_some());
    }
}
