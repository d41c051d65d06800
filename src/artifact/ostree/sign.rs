//! GPG signatures of an OSTree commit and summary, made so that one
//! lockfile and one key give the same bytes.
//!
//! libostree signs through gpgme with the wall clock, and 2022.7 cannot
//! sign a summary without regenerating it (which stamps the wall clock into
//! it again). So we sign as libostree verifies: a binary detached OpenPGP
//! signature over the object's bytes (the `.commit` file, the `summary`
//! file), stored as the GVariant `a{sv}` `{"ostree.gpgsigs": <aay [sig]>}`
//! in `objects/XX/REST.commitmeta` and `summary.sig`. gpg runs with its
//! clock at `max(SOURCE_DATE_EPOCH, the key's creation time)` (a signature
//! older than its key does not verify), and RSA/EdDSA signatures carry no
//! randomness, so the bytes repeat.

use crate::tools;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// A GPG key ready to sign with: a private keyring (in a short temporary
/// path, since gpg-agent's socket lives there), the key's fingerprint and
/// creation time. Dropping it stops the agent the signing started.
pub struct GpgSigner {
    pub homedir: PathBuf,
    pub fingerprint: String,
    pub created: i64,
    _dir: tempfile::TempDir,
}

impl Drop for GpgSigner {
    fn drop(&mut self) {
        let h = format!("--homedir={}", self.homedir.display());
        let _ = tools::run("gpgconf", &[h.as_str(), "--kill", "gpg-agent"]);
    }
}

/// Imports an armored secret key (no passphrase) into a new keyring.
pub fn gpg_signer(key: &Path) -> Result<GpgSigner> {
    let dir = tempfile::Builder::new()
        .prefix("ib-gpg.")
        .tempdir_in("/tmp")
        .context("making a keyring directory")?;
    let home = dir.path().join("g");
    std::fs::create_dir_all(&home)?;
    std::fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
    let h = format!("--homedir={}", home.display());
    let k = key.display().to_string();
    tools::run("gpg", &[h.as_str(), "--batch", "--import", &k])
        .with_context(|| format!("importing the OSTree signing key {}", key.display()))?;
    let o = tools::run(
        "gpg",
        &[h.as_str(), "--batch", "--with-colons", "--list-secret-keys"],
    )?;
    let (fingerprint, created) = primary_key(&String::from_utf8_lossy(&o.stdout))
        .with_context(|| format!("{} holds no OpenPGP secret key", key.display()))?;
    Ok(GpgSigner {
        homedir: home,
        fingerprint,
        created,
        _dir: dir,
    })
}

/// The fingerprint and creation time of the first secret key in gpg's
/// `--with-colons` listing.
fn primary_key(colons: &str) -> Option<(String, i64)> {
    let mut lines = colons.lines().skip_while(|l| !l.starts_with("sec:"));
    let created = lines.next()?.split(':').nth(5)?.parse().ok()?;
    let fpr = lines
        .find_map(|l| l.strip_prefix("fpr:"))?
        .split(':')
        .find(|f| !f.is_empty())?
        .to_string();
    Some((fpr, created))
}

impl GpgSigner {
    /// A binary detached signature of `file`, made at `max(epoch, key
    /// creation)`.
    pub fn detached(&self, file: &Path, epoch: i64) -> Result<Vec<u8>> {
        let h = format!("--homedir={}", self.homedir.display());
        let time = format!("{}!", epoch.max(self.created));
        let f = file.display().to_string();
        let o = tools::run(
            "gpg",
            &[
                h.as_str(),
                "--batch",
                "--pinentry-mode=loopback",
                "--passphrase=",
                "--faked-system-time",
                &time,
                "--digest-algo=SHA256",
                "--local-user",
                &self.fingerprint,
                "--detach-sign",
                "--output=-",
                &f,
            ],
        )
        .with_context(|| format!("signing {}", file.display()))?;
        if o.stdout.is_empty() {
            bail!("gpg made no signature of {}", file.display());
        }
        Ok(o.stdout)
    }
}

/// `a{sv}` with one entry, `ostree.gpgsigs` → `aay` of `sigs`: the
/// contents of a `.commitmeta` or `summary.sig` file.
pub fn gpgsigs_variant(sigs: &[Vec<u8>]) -> Vec<u8> {
    // aay: the byte strings back to back (alignment 1), then their ends.
    let aay = with_offsets(
        sigs.iter().fold(Vec::new(), |mut b, s| {
            b.extend_from_slice(s);
            b
        }),
        &ends(sigs.iter().map(Vec::len)),
    );
    // v: the value, a NUL, its type.
    let mut v = aay;
    v.push(0);
    v.extend_from_slice(b"aay");
    // {sv}: key, padding to the variant's 8-byte alignment, the variant,
    // then the end of the key (the one non-fixed member before the last).
    let key = b"ostree.gpgsigs\0";
    let mut entry = key.to_vec();
    pad8(&mut entry);
    entry.extend_from_slice(&v);
    let entry = with_offsets(entry, &[key.len()]);
    // a{sv} of one element: the entry, then its end.
    let n = entry.len();
    with_offsets(entry, &[n])
}

fn pad8(b: &mut Vec<u8>) {
    while b.len() % 8 != 0 {
        b.push(0);
    }
}

fn ends(lens: impl Iterator<Item = usize>) -> Vec<usize> {
    lens.scan(0, |end, l| {
        *end += l;
        Some(*end)
    })
    .collect()
}

/// Appends GVariant framing offsets (little-endian, the smallest width
/// that can address the whole container, offsets included).
fn with_offsets(mut body: Vec<u8>, offsets: &[usize]) -> Vec<u8> {
    let width = [1usize, 2, 4, 8]
        .into_iter()
        .find(|w| {
            let total = body.len() + offsets.len() * w;
            *w == 8 || total < (1usize << (8 * w))
        })
        .unwrap_or(8);
    for o in offsets {
        body.extend_from_slice(&o.to_le_bytes()[..width]);
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpgsigs_variant_matches_glib() {
        // GLib.Variant('a{sv}', {'ostree.gpgsigs':
        //   GLib.Variant('aay', [b'AB', b'CDE'])}).get_data_as_bytes()
        let want: &[u8] = b"ostree.gpgsigs\0\0ABCDE\x02\x05\0aay\x0f\x1c";
        assert_eq!(gpgsigs_variant(&[b"AB".to_vec(), b"CDE".to_vec()]), want);
    }

    #[test]
    fn wide_offsets_for_big_signatures() {
        let v = gpgsigs_variant(&[vec![7u8; 300]]);
        // aay of 300 bytes needs 2-byte offsets; so do the entry and array.
        assert_eq!(&v[16..316], &[7u8; 300][..]);
        assert_eq!(&v[316..318], &300u16.to_le_bytes());
        assert_eq!(&v[318..322], b"\0aay");
        assert_eq!(&v[v.len() - 4..v.len() - 2], &15u16.to_le_bytes());
        assert_eq!(
            &v[v.len() - 2..],
            &((v.len() - 2) as u16).to_le_bytes(),
            "array offset is the entry's end"
        );
    }

    #[test]
    fn primary_key_reads_fingerprint_and_time() {
        let l = "sec:u:2048:1:B2D4F655EEEF3590:1764892800:::u:::scESC:::+:::23::0:\nfpr:::::::::7F2152DA8BB2FA510D26A84BB2D4F655EEEF3590:\n";
        assert_eq!(
            primary_key(l),
            Some((
                "7F2152DA8BB2FA510D26A84BB2D4F655EEEF3590".into(),
                1764892800
            ))
        );
        assert_eq!(primary_key("pub:x\n"), None);
    }
}
