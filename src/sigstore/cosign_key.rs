//! Cosign signing keys: reading the key files `cosign generate-key-pair`
//! writes, and writing the same format ourselves.
//!
//! Why our own reader: the key a release team already uses with cosign
//! must work here unchanged, and the format is small. It is a PEM block
//! labelled `ENCRYPTED SIGSTORE PRIVATE KEY` (cosign 2; cosign 1 wrote
//! `ENCRYPTED COSIGN PRIVATE KEY`) whose body is JSON:
//! `{"kdf":{"name":"scrypt","params":{"N","r","p"},"salt"},
//! "cipher":{"name":"nacl/secretbox","nonce"},"ciphertext"}`, byte fields
//! in standard base64. The password (through scrypt) opens a NaCl
//! secretbox (XSalsa20-Poly1305, tag first) holding the PKCS#8 DER of an
//! ECDSA P-256 key. Unencrypted PKCS#8 (`PRIVATE KEY`) and SEC1
//! (`EC PRIVATE KEY`) files are accepted too, for keys made with openssl.
//! The public half is a PKIX `PUBLIC KEY` PEM, which is what skopeo's
//! `sigstoreSigned` policy and `cosign verify --key` read.
//!
//! Every problem with a key file is the user's input (exit 2), named by
//! path and reason; key material and passwords never reach a message.

use crate::error::InputError;
use anyhow::{Context, Result};
use base64::Engine;
use crypto_secretbox::aead::{Aead, KeyInit};
use crypto_secretbox::{Key, Nonce, XSalsa20Poly1305};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::elliptic_curve::zeroize::Zeroizing;
use p256::pkcs8::der::Decode;
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// cosign 2's label for an encrypted private key.
pub const SIGSTORE_LABEL: &str = "ENCRYPTED SIGSTORE PRIVATE KEY";
/// cosign 1's label (same body).
pub const COSIGN_LABEL: &str = "ENCRYPTED COSIGN PRIVATE KEY";
/// Environment variable cosign reads the password from.
pub const PASSWORD_ENV: &str = "COSIGN_PASSWORD";

/// scrypt parameters cosign 2 writes (N = 65536, r = 8, p = 1; cosign 1
/// wrote N = 32768, which reads as well).
const SCRYPT_LOG_N: u8 = 16;
const SCRYPT_R: u32 = 8;
const SCRYPT_P: u32 = 1;
/// Upper bound on scrypt memory (128·r·N bytes) we accept from a key
/// file, so a crafted file cannot make us allocate gigabytes.
const SCRYPT_MAX_MEMORY: u64 = 256 << 20;

const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const OID_P256: &str = "1.2.840.10045.3.1.7";

/// An ECDSA P-256 signing key, as cosign uses.
pub struct CosignKey {
    key: SigningKey,
}

impl std::fmt::Debug for CosignKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret: only the public half.
        f.debug_struct("CosignKey")
            .field("public", &self.public_pem())
            .finish()
    }
}

impl CosignKey {
    /// The public key, PKIX `PUBLIC KEY` PEM (what `cosign.pub` holds).
    pub fn public_pem(&self) -> String {
        self.key
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("a P-256 public key encodes")
    }

    /// ECDSA P-256 over SHA-256 of `payload`, ASN.1 DER (the form cosign
    /// stores base64-encoded in the signature annotation). Deterministic
    /// (RFC 6979): the same key and payload give the same bytes.
    pub fn sign(&self, payload: &[u8]) -> Vec<u8> {
        let sig: Signature = self.key.sign(payload);
        sig.to_der().as_bytes().to_vec()
    }
}

/// The JSON body of an encrypted key (go-securesystemslib's layout).
#[derive(Serialize, Deserialize)]
struct Sealed {
    kdf: Kdf,
    cipher: Cipher,
    ciphertext: B64,
}

#[derive(Serialize, Deserialize)]
struct Kdf {
    name: String,
    params: KdfParams,
    salt: B64,
}

#[derive(Serialize, Deserialize)]
struct KdfParams {
    #[serde(rename = "N")]
    n: u64,
    r: u32,
    p: u32,
}

#[derive(Serialize, Deserialize)]
struct Cipher {
    name: String,
    nonce: B64,
}

/// Bytes that travel as standard base64 in JSON (Go's `[]byte`).
struct B64(Vec<u8>);

impl Serialize for B64 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for B64 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(s.as_bytes())
            .map(B64)
            .map_err(|_| serde::de::Error::custom("invalid base64"))
    }
}

/// Reads a cosign private key. `password` of `None` means
/// `$COSIGN_PASSWORD` (an encrypted key without either is an error; an
/// empty password is a password).
pub fn load(path: &Path, password: Option<&[u8]>) -> Result<CosignKey> {
    let bad = |why: String| InputError(format!("cosign key {}: {why}", path.display()));
    let bytes = std::fs::read(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
    let text = std::str::from_utf8(&bytes).map_err(|_| bad("not a PEM file".into()))?;
    let (label, der) = pem_block(text).map_err(bad)?;
    let key = match label.as_str() {
        SIGSTORE_LABEL | COSIGN_LABEL => {
            let from_env;
            let password = match password {
                Some(p) => p,
                None => {
                    use std::os::unix::ffi::OsStrExt;
                    from_env = std::env::var_os(PASSWORD_ENV).ok_or_else(|| {
                        bad(format!("it is encrypted and ${PASSWORD_ENV} is not set"))
                    })?;
                    from_env.as_bytes()
                }
            };
            let pkcs8 = open(&der, password).map_err(bad)?;
            from_pkcs8(&pkcs8).map_err(bad)?
        }
        "PRIVATE KEY" => from_pkcs8(&der).map_err(bad)?,
        "EC PRIVATE KEY" => {
            let secret = p256::SecretKey::from_sec1_der(&der)
                .map_err(|_| bad("not an ECDSA P-256 key (cosign keys are P-256)".into()))?;
            SigningKey::from(secret)
        }
        "ENCRYPTED PRIVATE KEY" => {
            return Err(bad(
                "PKCS#8-encrypted keys are not supported; use a cosign key or decrypt it with `openssl pkcs8`".into(),
            )
            .into())
        }
        other => {
            return Err(bad(format!(
                "unsupported PEM block `{other}` (expected `{SIGSTORE_LABEL}`, `PRIVATE KEY` or `EC PRIVATE KEY`)"
            ))
            .into())
        }
    };
    Ok(CosignKey { key })
}

/// Writes a new key pair as `cosign generate-key-pair` does:
/// `DIR/cosign.key` (encrypted with `password`, mode 0600) and
/// `DIR/cosign.pub`. `dir` is created; existing files are never replaced.
pub fn genkey(dir: &Path, password: &[u8]) -> Result<(PathBuf, PathBuf)> {
    let key_path = dir.join("cosign.key");
    let pub_path = dir.join("cosign.pub");
    for p in [&key_path, &pub_path] {
        if std::fs::symlink_metadata(p).is_ok() {
            return Err(InputError(format!(
                "{} already exists; not overwriting it",
                p.display()
            ))
            .into());
        }
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let key = CosignKey { key: random_key()? };
    let secret = p256::SecretKey::from(&key.key);
    let pkcs8 = secret
        .to_pkcs8_der()
        .map_err(|e| anyhow::anyhow!("encoding the private key: {e}"))?;
    let sealed = seal(pkcs8.as_bytes(), password)?;
    let key_pem = pem_encode(SIGSTORE_LABEL, &sealed);
    write_new(&key_path, key_pem.as_bytes(), 0o600)?;
    if let Err(e) = write_new(&pub_path, key.public_pem().as_bytes(), 0o644) {
        let _ = std::fs::remove_file(&key_path);
        return Err(e);
    }
    Ok((key_path, pub_path))
}

/// A uniformly random valid P-256 scalar from the OS.
fn random_key() -> Result<SigningKey> {
    loop {
        let mut bytes = Zeroizing::new([0u8; 32]);
        getrandom::fill(bytes.as_mut())
            .map_err(|e| anyhow::anyhow!("reading OS randomness: {e}"))?;
        // Out of range (probability ~2^-32) or zero: draw again.
        if let Ok(k) = SigningKey::from_slice(bytes.as_ref()) {
            return Ok(k);
        }
    }
}

/// Encrypts `plaintext` into the JSON body of an encrypted key.
fn seal(plaintext: &[u8], password: &[u8]) -> Result<Vec<u8>> {
    let mut salt = vec![0u8; 32];
    let mut nonce = vec![0u8; 24];
    getrandom::fill(&mut salt).map_err(|e| anyhow::anyhow!("reading OS randomness: {e}"))?;
    getrandom::fill(&mut nonce).map_err(|e| anyhow::anyhow!("reading OS randomness: {e}"))?;
    let params = scrypt::Params::new(SCRYPT_LOG_N, SCRYPT_R, SCRYPT_P).expect("valid constants");
    let box_key = derive(password, &salt, &params)?;
    let ciphertext = XSalsa20Poly1305::new(&box_key)
        .encrypt(Nonce::from_slice(&nonce), plaintext)
        .map_err(|_| anyhow::anyhow!("encrypting the private key"))?;
    let sealed = Sealed {
        kdf: Kdf {
            name: "scrypt".into(),
            params: KdfParams {
                n: 1 << SCRYPT_LOG_N,
                r: SCRYPT_R,
                p: SCRYPT_P,
            },
            salt: B64(salt),
        },
        cipher: Cipher {
            name: "nacl/secretbox".into(),
            nonce: B64(nonce),
        },
        ciphertext: B64(ciphertext),
    };
    Ok(serde_json::to_vec(&sealed)?)
}

/// Decrypts the JSON body of an encrypted key; errors are reasons.
fn open(body: &[u8], password: &[u8]) -> std::result::Result<Zeroizing<Vec<u8>>, String> {
    let sealed: Sealed = serde_json::from_slice(body)
        .map_err(|e| format!("not a cosign encrypted key (its JSON does not parse: {e})"))?;
    if sealed.kdf.name != "scrypt" {
        return Err(format!(
            "unsupported key derivation `{}` (expected scrypt)",
            sealed.kdf.name
        ));
    }
    if sealed.cipher.name != "nacl/secretbox" {
        return Err(format!(
            "unsupported cipher `{}` (expected nacl/secretbox)",
            sealed.cipher.name
        ));
    }
    let KdfParams { n, r, p } = sealed.kdf.params;
    let unsupported = || format!("unsupported scrypt parameters N={n} r={r} p={p}");
    if !n.is_power_of_two() || n < 2 || r == 0 || p == 0 || p > 16 {
        return Err(unsupported());
    }
    if 128u64.saturating_mul(u64::from(r)).saturating_mul(n) > SCRYPT_MAX_MEMORY {
        return Err(unsupported());
    }
    let params = scrypt::Params::new(n.trailing_zeros() as u8, r, p).map_err(|_| unsupported())?;
    if sealed.cipher.nonce.0.len() != 24 {
        return Err("malformed key: the nonce is not 24 bytes".into());
    }
    let box_key = derive(password, &sealed.kdf.salt.0, &params).map_err(|e| e.to_string())?;
    XSalsa20Poly1305::new(&box_key)
        .decrypt(
            Nonce::from_slice(&sealed.cipher.nonce.0),
            sealed.ciphertext.0.as_slice(),
        )
        .map(Zeroizing::new)
        .map_err(|_| "wrong password (or the key file is corrupt)".to_string())
}

fn derive(password: &[u8], salt: &[u8], params: &scrypt::Params) -> Result<Key> {
    let mut out = Key::default();
    scrypt::scrypt(password, salt, params, &mut out)
        .map_err(|_| anyhow::anyhow!("deriving the key-encryption key"))?;
    Ok(out)
}

/// A P-256 key from PKCS#8 DER, naming the key type when it is another.
fn from_pkcs8(der: &[u8]) -> std::result::Result<SigningKey, String> {
    let info = p256::pkcs8::PrivateKeyInfoRef::from_der(der)
        .map_err(|_| "malformed PKCS#8 private key".to_string())?;
    let (alg, curve) = info
        .algorithm
        .oids()
        .map_err(|_| "malformed PKCS#8 algorithm identifier".to_string())?;
    if alg.to_string() != OID_EC_PUBLIC_KEY {
        return Err(format!(
            "unsupported key type {} (cosign keys are ECDSA P-256)",
            key_type_name(&alg.to_string())
        ));
    }
    match curve.map(|c| c.to_string()) {
        Some(c) if c == OID_P256 => {}
        Some(c) => {
            return Err(format!(
                "unsupported elliptic curve {} (cosign keys are P-256)",
                key_type_name(&c)
            ))
        }
        None => return Err("EC key without a named curve (cosign keys are P-256)".into()),
    }
    SigningKey::from_pkcs8_der(der).map_err(|_| "malformed P-256 private key".to_string())
}

fn key_type_name(oid: &str) -> String {
    match oid {
        "1.2.840.113549.1.1.1" => "RSA".into(),
        "1.3.101.112" => "Ed25519".into(),
        "1.3.101.113" => "Ed448".into(),
        "1.3.132.0.34" => "P-384".into(),
        "1.3.132.0.35" => "P-521".into(),
        "1.3.132.0.10" => "secp256k1".into(),
        other => format!("with OID {other}"),
    }
}

/// The first PEM block of `text`: its label and decoded body. Header
/// lines (`Key: value`) inside the block are skipped.
fn pem_block(text: &str) -> std::result::Result<(String, Vec<u8>), String> {
    let not_pem = || "not a PEM file (no -----BEGIN ...----- line)".to_string();
    let start = text.find("-----BEGIN ").ok_or_else(not_pem)?;
    let rest = &text[start + "-----BEGIN ".len()..];
    let label_end = rest.find("-----").ok_or_else(not_pem)?;
    let label = rest[..label_end].to_string();
    let body = &rest[label_end + 5..];
    let end_marker = format!("-----END {label}-----");
    let end = body
        .find(&end_marker)
        .ok_or_else(|| format!("the `{label}` PEM block has no END line"))?;
    let b64: String = body[..end]
        .lines()
        .filter(|l| !l.contains(':'))
        .flat_map(|l| l.chars().filter(|c| !c.is_whitespace()))
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64.as_bytes())
        .map_err(|_| format!("the `{label}` PEM block is not valid base64"))?;
    Ok((label, der))
}

/// PEM with 64-character lines, as Go's `pem.Encode` writes it.
fn pem_encode(label: &str, body: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(body);
    let mut s = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        s.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        s.push('\n');
    }
    s.push_str(&format!("-----END {label}-----\n"));
    s
}

/// Creates `path` (never replacing a file) with `mode` and `data`.
fn write_new(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => anyhow::Error::from(InputError(format!(
                "{} already exists; not overwriting it",
                path.display()
            ))),
            _ => anyhow::Error::from(e).context(format!("creating {}", path.display())),
        })?;
    // The umask may have cleared bits we asked for; set them exactly.
    use std::os::unix::fs::PermissionsExt;
    f.set_permissions(std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {}", path.display()))?;
    f.write_all(data)
        .and_then(|_| f.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_round_trip_and_labels() {
        let pem = pem_encode("TEST BLOCK", &[7u8; 100]);
        assert!(pem.lines().all(|l| l.len() <= 64));
        let (label, body) = pem_block(&format!("junk before\n{pem}")).unwrap();
        assert_eq!(label, "TEST BLOCK");
        assert_eq!(body, vec![7u8; 100]);
        assert!(pem_block("no pem here").is_err());
        assert!(pem_block("-----BEGIN X-----\nAAAA\n").is_err());
    }

    #[test]
    fn seal_open_round_trip_and_wrong_password() {
        let body = seal(b"secret pkcs8 bytes", b"pw").unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["kdf"]["params"]["N"], 65536);
        assert_eq!(v["cipher"]["name"], "nacl/secretbox");
        assert_eq!(
            open(&body, b"pw").unwrap().as_slice(),
            b"secret pkcs8 bytes"
        );
        let err = open(&body, b"other").unwrap_err();
        assert!(err.contains("wrong password"), "{err}");
    }

    /// A key written by cosign 2 with an empty password (a public test
    /// vector from conforma/cli's tests): proves our reading of the
    /// format (JSON field names, base64, scrypt, tag-first secretbox,
    /// PKCS#8 inside) against the real tool's output.
    const COSIGN2_EMPTY_PASSWORD_KEY: &str = "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----
eyJrZGYiOnsibmFtZSI6InNjcnlwdCIsInBhcmFtcyI6eyJOIjo2NTUzNiwiciI6
OCwicCI6MX0sInNhbHQiOiJLYU9OQzduQVJLOVgxM1FoaWFucjAwTTBGYys2Sitr
dnAxN1FuanpiVk9nPSJ9LCJjaXBoZXIiOnsibmFtZSI6Im5hY2wvc2VjcmV0Ym94
Iiwibm9uY2UiOiJVOHZqWWtqMlZOUFZGdlZFZWZ3bXZ5VGloUERrelBoaCJ9LCJj
aXBoZXJ0ZXh0IjoidWNWMnQ4TTZVNFJvb29FOXc0d3dkc3E1RDYrS2RKY245dERT
KzFwRDRGN040SVJOWEgzSTBua3h1a3NackFOUHR1emIvTkVYQ201dUp3Zjh3Qzl1
VlprbXdwNU5jRUZ6b3ZNS3JCZmNvdXdjaEkrMzkrQ0NhbVZPbzBucmRnZjhvcmpK
dXdrWDBYL1phY0RUTERGaUxyc1laMWVMMmlqMGU1MVRpZmVQNTl4WXNPK1FnM1Jv
OURRVjNQMk9ndDFDaVFHeGg1VXhUZytGc3c9PSJ9
-----END ENCRYPTED SIGSTORE PRIVATE KEY-----
";

    #[test]
    fn reads_a_key_cosign_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("cosign.key");
        std::fs::write(&p, COSIGN2_EMPTY_PASSWORD_KEY).unwrap();
        let k = load(&p, Some(b"")).unwrap();
        assert!(k.public_pem().contains("BEGIN PUBLIC KEY"));
        let err = format!("{:#}", load(&p, Some(b"x")).unwrap_err());
        assert!(err.contains("wrong password"), "{err}");
        assert!(err.contains("cosign.key"), "{err}");
    }

    #[test]
    fn hostile_scrypt_parameters_are_refused_before_deriving() {
        let body = seal(b"x", b"").unwrap();
        let mut v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        v["kdf"]["params"]["N"] = serde_json::json!(1u64 << 30);
        let err = open(&serde_json::to_vec(&v).unwrap(), b"").unwrap_err();
        assert!(err.contains("unsupported scrypt parameters"), "{err}");
        v["kdf"]["params"]["N"] = serde_json::json!(1000);
        let err = open(&serde_json::to_vec(&v).unwrap(), b"").unwrap_err();
        assert!(err.contains("unsupported scrypt parameters"), "{err}");
    }

    #[test]
    fn signatures_are_der_and_deterministic() {
        let k = CosignKey {
            key: random_key().unwrap(),
        };
        let a = k.sign(b"payload");
        assert_eq!(a, k.sign(b"payload"));
        assert_eq!(a[0], 0x30, "DER SEQUENCE");
        assert_ne!(a, k.sign(b"payloaD"));
        assert!(k.public_pem().starts_with("-----BEGIN PUBLIC KEY-----\n"));
    }
}
