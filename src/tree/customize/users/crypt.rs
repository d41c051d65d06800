//! Password hashing for `/etc/shadow`: SHA-512 crypt (`$6$`), written
//! here because the hash must be byte-reproducible (a salt derived from the
//! manifest, not a random one) and no crypt library is a dependency.

use anyhow::Result;
use sha2::{Digest, Sha512};

/// Whether `p` already is a crypt(3) hash (`$id$...`: `$1$`, `$5$`, `$6$`,
/// `$y$`, `$2b$`, ...).
fn is_crypted(p: &str) -> bool {
    crate::manifest::rules::looks_crypted(p)
}

/// The shadow password field for `password`: a crypt hash as given, else
/// SHA-512 crypt of the plain text.
pub(super) fn password_hash(user: &str, password: &str) -> Result<String> {
    if is_crypted(password) {
        super::check_field("password hash", password)?;
        return Ok(password.to_string());
    }
    Ok(sha512_crypt(
        password.as_bytes(),
        &derived_salt(user, password),
    ))
}

const CRYPT_B64: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A 16-character salt derived from the user name and password, so that
/// the same manifest always yields the same `/etc/shadow` (byte-reproducible
/// builds). This reveals nothing that is not already known: the manifest
/// that produced the image holds the plain-text password itself. Different
/// users with the same password still get different salts.
pub(super) fn derived_salt(user: &str, password: &str) -> String {
    let mut h = Sha512::new();
    h.update(b"image-builder shadow salt v1\0");
    h.update(user.as_bytes());
    h.update(b"\0");
    h.update(password.as_bytes());
    let d = h.finalize();
    d.iter()
        .take(16)
        .map(|b| CRYPT_B64[usize::from(b % 64)] as char)
        .collect()
}

fn sha512(parts: &[&[u8]]) -> [u8; 64] {
    let mut h = Sha512::new();
    for p in parts {
        h.update(p);
    }
    let mut out = [0u8; 64];
    out.copy_from_slice(&h.finalize());
    out
}

/// `bytes` repeated to exactly `len` bytes.
fn repeat_to(bytes: &[u8; 64], len: usize) -> Vec<u8> {
    bytes.iter().copied().cycle().take(len).collect()
}

/// SHA-512 crypt (`$6$`, 5000 rounds) as specified by Ulrich Drepper's
/// "Unix crypt using SHA-256 and SHA-512"; `salt` is at most 16 characters
/// of the crypt alphabet.
fn sha512_crypt(key: &[u8], salt: &str) -> String {
    let salt = &salt.as_bytes()[..salt.len().min(16)];
    let b = sha512(&[key, salt, key]);
    let mut a = Sha512::new();
    a.update(key);
    a.update(salt);
    let mut n = key.len();
    while n > 64 {
        a.update(b);
        n -= 64;
    }
    a.update(&b[..n]);
    let mut n = key.len();
    while n > 0 {
        if n & 1 == 1 {
            a.update(b);
        } else {
            a.update(key);
        }
        n >>= 1;
    }
    let mut prev = [0u8; 64];
    prev.copy_from_slice(&a.finalize());
    let mut dp = Sha512::new();
    for _ in 0..key.len() {
        dp.update(key);
    }
    let mut dpa = [0u8; 64];
    dpa.copy_from_slice(&dp.finalize());
    let p = repeat_to(&dpa, key.len());
    let mut ds = Sha512::new();
    for _ in 0..16 + usize::from(prev[0]) {
        ds.update(salt);
    }
    let mut dsa = [0u8; 64];
    dsa.copy_from_slice(&ds.finalize());
    let s = repeat_to(&dsa, salt.len());
    for i in 0..5000 {
        let mut c = Sha512::new();
        if i % 2 == 1 {
            c.update(&p);
        } else {
            c.update(prev);
        }
        if i % 3 != 0 {
            c.update(&s);
        }
        if i % 7 != 0 {
            c.update(&p);
        }
        if i % 2 == 1 {
            c.update(prev);
        } else {
            c.update(&p);
        }
        prev.copy_from_slice(&c.finalize());
    }
    let mut out = format!("$6${}$", String::from_utf8_lossy(salt));
    let mut emit = |b2: u8, b1: u8, b0: u8, n: usize| {
        let mut w = (u32::from(b2) << 16) | (u32::from(b1) << 8) | u32::from(b0);
        for _ in 0..n {
            out.push(CRYPT_B64[(w & 0x3f) as usize] as char);
            w >>= 6;
        }
    };
    for i in 0..21 {
        let (x, y, z) = (i, i + 21, i + 42);
        // Drepper's permutation: each triple rotates which index is the high byte.
        let (b2, b1, b0) = match i % 3 {
            0 => (x, y, z),
            1 => (y, z, x),
            _ => (z, x, y),
        };
        emit(prev[b2], prev[b1], prev[b0], 4);
    }
    emit(0, 0, prev[63], 2);
    out
}

#[cfg(test)]
pub(super) fn openssl_sha512(salt: &str, password: &str) -> String {
    let out = crate::tools::run("openssl", &["passwd", "-6", "-salt", salt, password]).unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha512_crypt_matches_openssl() {
        let long = "x".repeat(200);
        for (salt, pw) in [
            ("saltstring", "Hello world!"),
            ("abcdefghijklmnop", "p"),
            ("a", "correct horse battery staple"),
            ("./09AZaz", long.as_str()),
            ("exactly64", &"y".repeat(64)),
            ("pw65", &"z".repeat(65)),
        ] {
            assert_eq!(
                sha512_crypt(pw.as_bytes(), salt),
                openssl_sha512(salt, pw),
                "{salt}"
            );
        }
        let salt = derived_salt("alice", "secret");
        assert_eq!(salt.len(), 16);
        assert_eq!(
            password_hash("alice", "secret").unwrap(),
            openssl_sha512(&salt, "secret")
        );
        assert_ne!(derived_salt("bob", "secret"), salt);
        assert_eq!(derived_salt("alice", "secret"), salt);
        for h in [
            "$y$j9T$abc$def",
            "$2b$10$abcdefghijk",
            "$1$salt$hash",
            "$5$s$h",
        ] {
            assert_eq!(password_hash("u", h).unwrap(), h);
        }
        for p in ["plain", "$", "$$x", "a$6$b", "$6 $x"] {
            assert!(password_hash("u", p).unwrap().starts_with("$6$"), "{p}");
        }
        assert!(password_hash("u", "$6$a:b$c").is_err());
    }
}
