//! The distros' package signing keys, embedded in the binary.
//!
//! A distro definition names its keys (`RPM-GPG-KEY-AlmaLinux-10`); the
//! plan carries the key itself, not a URL to it, so a build trusts exactly
//! the keys this binary was released with and needs no network round trip
//! (or a working `https://` key server) to learn them. A definition may
//! still name a key by URL (`file://`, `https://`): that one is fetched.
//!
//! Fingerprints are computed here, natively, from the armored text (v4
//! keys: SHA-1 over the public-key packet), so the plan can name a key by
//! its fingerprint without running gpg.

use base64::Engine;
use sha1::Digest;

/// Every embedded key: file name under `distros/keys/` → armored text.
const KEYS: &[(&str, &str)] = &[
    (
        "RPM-GPG-KEY-AlmaLinux-8",
        include_str!("../../distros/keys/RPM-GPG-KEY-AlmaLinux-8"),
    ),
    (
        "RPM-GPG-KEY-AlmaLinux-9",
        include_str!("../../distros/keys/RPM-GPG-KEY-AlmaLinux-9"),
    ),
    (
        "RPM-GPG-KEY-AlmaLinux-10",
        include_str!("../../distros/keys/RPM-GPG-KEY-AlmaLinux-10"),
    ),
    (
        "RPM-GPG-KEY-AlmaLinux-kitten-10",
        include_str!("../../distros/keys/RPM-GPG-KEY-AlmaLinux-kitten-10"),
    ),
];

/// An embedded key, with its primary key's fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EmbeddedKey {
    pub name: String,
    #[serde(skip)]
    pub armored: String,
    /// Uppercase hex, no spaces (as gpg's `fpr` records print it).
    pub fingerprint: String,
}

/// The embedded key called `name`, or None.
pub fn embedded(name: &str) -> Option<&'static str> {
    KEYS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// Names of every embedded key, for messages.
pub fn names() -> Vec<&'static str> {
    KEYS.iter().map(|(n, _)| *n).collect()
}

/// Whether a key entry is a URL to fetch rather than an embedded key's name.
pub fn is_url(entry: &str) -> bool {
    entry.contains("://")
}

/// Looks `name` up and fingerprints it.
pub fn load(name: &str) -> Result<EmbeddedKey, String> {
    let armored = embedded(name).ok_or_else(|| {
        format!(
            "key \"{name}\" is not embedded (distros/keys/ has {})",
            names().join(", ")
        )
    })?;
    let fingerprint = fingerprint(armored).map_err(|e| format!("key \"{name}\": {e}"))?;
    Ok(EmbeddedKey {
        name: name.to_string(),
        armored: armored.to_string(),
        fingerprint,
    })
}

/// The binary packets inside an ASCII-armored block.
fn dearmor(armored: &str) -> Result<Vec<u8>, String> {
    let mut lines = armored.lines().map(str::trim);
    lines
        .by_ref()
        .find(|l| l.starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----"))
        .ok_or("no BEGIN PGP PUBLIC KEY BLOCK line")?;
    // Armor headers (`Version: …`) end at the first empty line.
    let body: Vec<&str> = lines.collect();
    let start = if body
        .iter()
        .take_while(|l| !l.is_empty())
        .any(|l| l.contains(": "))
    {
        body.iter().position(|l| l.is_empty()).map_or(0, |i| i + 1)
    } else {
        0
    };
    let mut b64 = String::new();
    for l in &body[start..] {
        if l.starts_with("-----END") || (l.starts_with('=') && l.len() == 5) {
            break;
        }
        b64.push_str(l);
    }
    base64::engine::general_purpose::STANDARD
        .decode(b64.as_bytes())
        .map_err(|e| format!("armor is not valid base64: {e}"))
}

/// The body of the first packet of `data` if it is a public key (tag 6).
fn first_public_key(data: &[u8]) -> Result<&[u8], String> {
    let short = || "truncated OpenPGP packet".to_string();
    let hdr = *data.first().ok_or_else(short)?;
    if hdr & 0x80 == 0 {
        return Err("not an OpenPGP packet".into());
    }
    let (tag, len, off) = if hdr & 0x40 != 0 {
        // New format: one-, two- or five-octet lengths.
        let tag = hdr & 0x3f;
        let b0 = *data.get(1).ok_or_else(short)? as usize;
        match b0 {
            0..=191 => (tag, b0, 2),
            192..=223 => {
                let b1 = *data.get(2).ok_or_else(short)? as usize;
                (tag, ((b0 - 192) << 8) + b1 + 192, 3)
            }
            255 => {
                let b = data.get(2..6).ok_or_else(short)?;
                (
                    tag,
                    u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize,
                    6,
                )
            }
            _ => return Err("partial-length public key packet".into()),
        }
    } else {
        let tag = (hdr >> 2) & 0x0f;
        match hdr & 3 {
            0 => (tag, *data.get(1).ok_or_else(short)? as usize, 2),
            1 => {
                let b = data.get(1..3).ok_or_else(short)?;
                (tag, u16::from_be_bytes([b[0], b[1]]) as usize, 3)
            }
            2 => {
                let b = data.get(1..5).ok_or_else(short)?;
                (
                    tag,
                    u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize,
                    5,
                )
            }
            _ => return Err("indeterminate-length public key packet".into()),
        }
    };
    if tag != 6 {
        return Err(format!("first packet has tag {tag}, not a public key (6)"));
    }
    data.get(off..off + len).ok_or_else(short)
}

/// The primary key's v4 fingerprint, uppercase hex.
pub fn fingerprint(armored: &str) -> Result<String, String> {
    let data = dearmor(armored)?;
    let body = first_public_key(&data)?;
    match body.first() {
        Some(4) => {}
        Some(v) => return Err(format!("OpenPGP key version {v} (only v4 is supported)")),
        None => return Err("empty public key packet".into()),
    }
    let len = u16::try_from(body.len()).map_err(|_| "public key packet too long")?;
    let mut h = sha1::Sha1::new();
    h.update([0x99]);
    h.update(len.to_be_bytes());
    h.update(body);
    Ok(hex::encode_upper(h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fingerprints AlmaLinux publishes (and /work/shared's key list,
    /// and gpg --show-keys, agree).
    #[test]
    fn embedded_keys_have_almalinux_fingerprints() {
        let cases = [
            (
                "RPM-GPG-KEY-AlmaLinux-8",
                "5E9B8F5617B5066CE92057C3488FCF7C3ABB34F8",
            ),
            (
                "RPM-GPG-KEY-AlmaLinux-9",
                "BF18AC2876178908D6E71267D36CB86CB86B3716",
            ),
            (
                "RPM-GPG-KEY-AlmaLinux-10",
                "EE6DB7B98F5BF5EDD9DA0DE5DEE5C11CC2A1E572",
            ),
            (
                "RPM-GPG-KEY-AlmaLinux-kitten-10",
                "EE6DB7B98F5BF5EDD9DA0DE5DEE5C11CC2A1E572",
            ),
        ];
        for (name, fpr) in cases {
            assert_eq!(load(name).unwrap().fingerprint, fpr, "{name}");
        }
        assert_eq!(names().len(), cases.len());
    }

    #[test]
    fn unknown_and_broken_keys_are_errors() {
        let e = load("RPM-GPG-KEY-nope").unwrap_err();
        assert!(
            e.contains("not embedded") && e.contains("RPM-GPG-KEY-AlmaLinux-10"),
            "{e}"
        );
        let e = fingerprint("hello").unwrap_err();
        assert!(e.contains("BEGIN PGP PUBLIC KEY BLOCK"), "{e}");
        let e = fingerprint(
            "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n!!!!\n-----END PGP PUBLIC KEY BLOCK-----\n",
        )
        .unwrap_err();
        assert!(e.contains("base64"), "{e}");
        // A user id packet (tag 13) where the key should be.
        let e = fingerprint(
            "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\ntAF4\n-----END PGP PUBLIC KEY BLOCK-----\n",
        )
        .unwrap_err();
        assert!(e.contains("tag 13"), "{e}");
    }

    #[test]
    fn urls_are_not_names() {
        assert!(is_url("file:///etc/pki/rpm-gpg/RPM-GPG-KEY-x"));
        assert!(is_url(
            "https://repo.almalinux.org/almalinux/RPM-GPG-KEY-AlmaLinux-10"
        ));
        assert!(!is_url("RPM-GPG-KEY-AlmaLinux-10"));
    }
}
