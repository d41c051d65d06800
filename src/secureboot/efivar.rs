//! UEFI Secure Boot variable formats, written and read in plain Rust.
//!
//! Enrollment files are small binary structures from the UEFI spec
//! (§32.4 "Firmware/OS Key Exchange", §8.2 "Variable Services"). Writing
//! them here instead of shelling out to efitools keeps the only external
//! dependency for genkey at `openssl`, and the parsers let tests (and
//! `verify`) check what a key directory holds without another tool:
//!
//! - `EFI_SIGNATURE_LIST` (`.esl`): a header naming the signature type
//!   (X.509 here), then fixed-size `EFI_SIGNATURE_DATA` entries, each an
//!   owner GUID followed by the DER certificate.
//! - `EFI_VARIABLE_AUTHENTICATION_2` (`.auth`): an `EFI_TIME` stamp, a
//!   `WIN_CERTIFICATE_UEFI_GUID` carrying a PKCS#7 SignedData (detached),
//!   then the new variable contents (an ESL). The signature covers
//!   name (UTF-16LE, no NUL) ‖ vendor GUID ‖ attributes ‖ time ‖ data.

use anyhow::{bail, Context, Result};
use std::fmt;

/// A GUID in its textual form's field order; `bytes` gives the on-disk
/// mixed-endian layout (first three fields little-endian).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Guid {
    pub d1: u32,
    pub d2: u16,
    pub d3: u16,
    pub d4: [u8; 8],
}

impl Guid {
    pub const fn new(d1: u32, d2: u16, d3: u16, d4: [u8; 8]) -> Guid {
        Guid { d1, d2, d3, d4 }
    }

    /// The 16 bytes as stored in EFI structures.
    pub fn bytes(&self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[0..4].copy_from_slice(&self.d1.to_le_bytes());
        b[4..6].copy_from_slice(&self.d2.to_le_bytes());
        b[6..8].copy_from_slice(&self.d3.to_le_bytes());
        b[8..16].copy_from_slice(&self.d4);
        b
    }

    /// Reads the on-disk layout.
    pub fn from_bytes(b: &[u8; 16]) -> Guid {
        let mut d4 = [0u8; 8];
        d4.copy_from_slice(&b[8..16]);
        Guid {
            d1: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            d2: u16::from_le_bytes([b[4], b[5]]),
            d3: u16::from_le_bytes([b[6], b[7]]),
            d4,
        }
    }

    /// Parses `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`.
    pub fn parse(s: &str) -> Result<Guid> {
        let hexs: String = s.chars().filter(|c| *c != '-').collect();
        let dashes: Vec<usize> = s.match_indices('-').map(|(i, _)| i).collect();
        if hexs.len() != 32 || dashes != [8, 13, 18, 23] {
            bail!("not a GUID: {s:?}");
        }
        let raw = hex::decode(&hexs).with_context(|| format!("not a GUID: {s:?}"))?;
        let mut d4 = [0u8; 8];
        d4.copy_from_slice(&raw[8..16]);
        Ok(Guid {
            d1: u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]),
            d2: u16::from_be_bytes([raw[4], raw[5]]),
            d3: u16::from_be_bytes([raw[6], raw[7]]),
            d4,
        })
    }

    /// A name-based GUID: SHA-256 of a fixed prefix and `name`, with the
    /// RFC 9562 version 8 ("custom") and variant bits set. The same name
    /// always gives the same owner, so enrollment files from two genkey
    /// runs are comparable and the owner says which key set it came from.
    pub fn from_name(name: &str) -> Guid {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(b"image-builder secureboot owner\0");
        h.update(name.as_bytes());
        let d = h.finalize();
        let mut raw = [0u8; 16];
        raw.copy_from_slice(&d[..16]);
        raw[6] = (raw[6] & 0x0f) | 0x80;
        raw[8] = (raw[8] & 0x3f) | 0x80;
        let mut d4 = [0u8; 8];
        d4.copy_from_slice(&raw[8..16]);
        Guid {
            d1: u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]),
            d2: u16::from_be_bytes([raw[4], raw[5]]),
            d3: u16::from_be_bytes([raw[6], raw[7]]),
            d4,
        }
    }
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:08x}-{:04x}-{:04x}-{}-{}",
            self.d1,
            self.d2,
            self.d3,
            hex::encode(&self.d4[..2]),
            hex::encode(&self.d4[2..])
        )
    }
}

/// `EFI_CERT_X509_GUID`: signature data is one DER certificate.
pub const CERT_X509: Guid = Guid::new(
    0xa5c0_59a1,
    0x94e4,
    0x4aa7,
    [0x87, 0xb5, 0xab, 0x15, 0x5c, 0x2b, 0xf0, 0x72],
);
/// `EFI_CERT_TYPE_PKCS7_GUID`: WIN_CERTIFICATE_UEFI_GUID payload type.
pub const CERT_TYPE_PKCS7: Guid = Guid::new(
    0x4aaf_d29d,
    0x68df,
    0x49ee,
    [0x8a, 0xa9, 0x34, 0x7d, 0x37, 0x56, 0x65, 0xa7],
);
/// `EFI_GLOBAL_VARIABLE`: vendor GUID of PK and KEK.
pub const GLOBAL_VARIABLE: Guid = Guid::new(
    0x8be4_df61,
    0x93ca,
    0x11d2,
    [0xaa, 0x0d, 0x00, 0xe0, 0x98, 0x03, 0x2b, 0x8c],
);
/// `EFI_IMAGE_SECURITY_DATABASE_GUID`: vendor GUID of db and dbx.
pub const IMAGE_SECURITY_DATABASE: Guid = Guid::new(
    0xd719_b2cb,
    0x3d3a,
    0x4596,
    [0xa3, 0xbc, 0xda, 0xd0, 0x0e, 0x67, 0x65, 0x6f],
);

/// NON_VOLATILE | BOOTSERVICE_ACCESS | RUNTIME_ACCESS |
/// TIME_BASED_AUTHENTICATED_WRITE_ACCESS: what PK, KEK and db carry.
pub const AUTH_ATTRS: u32 = 0x01 | 0x02 | 0x04 | 0x20;

/// `WIN_CERT_TYPE_EFI_GUID`.
const WIN_CERT_TYPE_EFI_GUID: u16 = 0x0ef1;
/// `WIN_CERTIFICATE` revision 2.0.
const WIN_CERT_REVISION: u16 = 0x0200;

/// Vendor GUID of an authenticated Secure Boot variable by name.
pub fn vendor_guid(var: &str) -> Result<Guid> {
    match var {
        "PK" | "KEK" => Ok(GLOBAL_VARIABLE),
        "db" | "dbx" => Ok(IMAGE_SECURITY_DATABASE),
        _ => bail!("not a secure boot variable: {var:?}"),
    }
}

/// One `EFI_SIGNATURE_LIST` holding one X.509 certificate.
pub fn x509_esl(owner: Guid, der: &[u8]) -> Result<Vec<u8>> {
    let sig_size = 16 + der.len();
    let list_size = 28 + sig_size;
    let (Ok(sig_size32), Ok(list_size32)) = (u32::try_from(sig_size), u32::try_from(list_size))
    else {
        bail!("certificate too large for a signature list");
    };
    let mut v = Vec::with_capacity(list_size);
    v.extend_from_slice(&CERT_X509.bytes());
    v.extend_from_slice(&list_size32.to_le_bytes());
    v.extend_from_slice(&0u32.to_le_bytes()); // SignatureHeaderSize
    v.extend_from_slice(&sig_size32.to_le_bytes());
    v.extend_from_slice(&owner.bytes());
    v.extend_from_slice(der);
    Ok(v)
}

/// One signature list read back from a variable's contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureList {
    pub sig_type: Guid,
    pub header: Vec<u8>,
    /// (owner, data) per `EFI_SIGNATURE_DATA`.
    pub entries: Vec<(Guid, Vec<u8>)>,
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn guid_at(b: &[u8], at: usize) -> Option<Guid> {
    let s: &[u8; 16] = b.get(at..at.checked_add(16)?)?.try_into().ok()?;
    Some(Guid::from_bytes(s))
}

/// Parses a concatenation of signature lists (an `.esl` file or the data
/// part of an `.auth` file). Rejects anything truncated or inconsistent.
pub fn parse_esl(mut b: &[u8]) -> Result<Vec<SignatureList>> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let bad = || anyhow::anyhow!("malformed signature list at list {}", out.len());
        let sig_type = guid_at(b, 0).ok_or_else(bad)?;
        let list_size = le32(b, 16).ok_or_else(bad)? as usize;
        let header_size = le32(b, 20).ok_or_else(bad)? as usize;
        let sig_size = le32(b, 24).ok_or_else(bad)? as usize;
        if list_size > b.len() || sig_size < 16 {
            return Err(bad());
        }
        let body_start = 28usize.checked_add(header_size).ok_or_else(bad)?;
        if body_start > list_size || (list_size - body_start) % sig_size != 0 {
            return Err(bad());
        }
        let header = b[28..body_start].to_vec();
        let entries = b[body_start..list_size]
            .chunks(sig_size)
            .map(|c| {
                let owner = guid_at(c, 0).ok_or_else(bad)?;
                Ok((owner, c[16..].to_vec()))
            })
            .collect::<Result<Vec<_>>>()?;
        out.push(SignatureList {
            sig_type,
            header,
            entries,
        });
        b = &b[list_size..];
    }
    Ok(out)
}

/// `EFI_TIME` as used in time-based authenticated writes: UTC, with the
/// pad, nanosecond, time zone and daylight fields zero as the spec demands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EfiTime {
    pub year: u16,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
}

impl EfiTime {
    /// From seconds since 1970 (UTC).
    pub fn from_unix(secs: u64) -> EfiTime {
        let days = (secs / 86_400) as i64;
        let rem = secs % 86_400;
        let (year, month, day) = crate::civil::from_days(days);
        let (month, day) = (month as u8, day as u8);
        EfiTime {
            year: u16::try_from(year).unwrap_or(u16::MAX),
            month,
            day,
            hour: (rem / 3600) as u8,
            minute: (rem / 60 % 60) as u8,
            second: (rem % 60) as u8,
        }
    }

    pub fn now() -> EfiTime {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        EfiTime::from_unix(secs)
    }

    pub fn bytes(&self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[0..2].copy_from_slice(&self.year.to_le_bytes());
        b[2] = self.month;
        b[3] = self.day;
        b[4] = self.hour;
        b[5] = self.minute;
        b[6] = self.second;
        b
    }

    fn from_bytes(b: &[u8]) -> Option<EfiTime> {
        let b = b.get(..16)?;
        Some(EfiTime {
            year: u16::from_le_bytes([b[0], b[1]]),
            month: b[2],
            day: b[3],
            hour: b[4],
            minute: b[5],
            second: b[6],
        })
    }
}

impl fmt::Display for EfiTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

/// The bytes a time-based authenticated write signs:
/// name (UTF-16LE, no terminator) ‖ vendor GUID ‖ attributes ‖ time ‖ data.
pub fn signed_payload(var: &str, vendor: Guid, attrs: u32, time: EfiTime, data: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(var.len() * 2 + 36 + data.len());
    for u in var.encode_utf16() {
        v.extend_from_slice(&u.to_le_bytes());
    }
    v.extend_from_slice(&vendor.bytes());
    v.extend_from_slice(&attrs.to_le_bytes());
    v.extend_from_slice(&time.bytes());
    v.extend_from_slice(data);
    v
}

/// Assembles `EFI_VARIABLE_AUTHENTICATION_2` followed by the data.
/// `pkcs7` is the DER SignedData over `signed_payload(...)`.
pub fn auth_var(time: EfiTime, pkcs7: &[u8], data: &[u8]) -> Result<Vec<u8>> {
    let Ok(len) = u32::try_from(24 + pkcs7.len()) else {
        bail!("signature too large");
    };
    let mut v = Vec::with_capacity(40 + pkcs7.len() + data.len());
    v.extend_from_slice(&time.bytes());
    v.extend_from_slice(&len.to_le_bytes());
    v.extend_from_slice(&WIN_CERT_REVISION.to_le_bytes());
    v.extend_from_slice(&WIN_CERT_TYPE_EFI_GUID.to_le_bytes());
    v.extend_from_slice(&CERT_TYPE_PKCS7.bytes());
    v.extend_from_slice(pkcs7);
    v.extend_from_slice(data);
    Ok(v)
}

/// An `.auth` file taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthVar {
    pub time: EfiTime,
    pub pkcs7: Vec<u8>,
    pub data: Vec<u8>,
}

/// Parses an `.auth` file; checks the certificate header fields.
pub fn parse_auth(b: &[u8]) -> Result<AuthVar> {
    let bad = |what: &str| anyhow::anyhow!("malformed authenticated variable: {what}");
    let time = EfiTime::from_bytes(b).ok_or_else(|| bad("short time stamp"))?;
    let len = le32(b, 16).ok_or_else(|| bad("short header"))? as usize;
    let rev = b.get(20..22).map(|s| u16::from_le_bytes([s[0], s[1]]));
    let ty = b.get(22..24).map(|s| u16::from_le_bytes([s[0], s[1]]));
    if rev != Some(WIN_CERT_REVISION) || ty != Some(WIN_CERT_TYPE_EFI_GUID) {
        return Err(bad("not a WIN_CERTIFICATE_UEFI_GUID"));
    }
    if guid_at(b, 24) != Some(CERT_TYPE_PKCS7) {
        return Err(bad("certificate type is not PKCS#7"));
    }
    let end = 16usize
        .checked_add(len)
        .filter(|e| *e <= b.len() && len >= 24)
        .ok_or_else(|| bad("certificate length out of range"))?;
    Ok(AuthVar {
        time,
        pkcs7: b[40..end].to_vec(),
        data: b[end..].to_vec(),
    })
}

/// DER of the OID 1.2.840.113549.1.7.2 (pkcs7-signedData), tag included.
const OID_SIGNED_DATA: &[u8] = &[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02,
];

/// Reads one DER tag-length header at `at`: (tag, header length, content
/// length). Only definite lengths, as DER requires.
fn der_header(b: &[u8], at: usize) -> Option<(u8, usize, usize)> {
    let tag = *b.get(at)?;
    let first = *b.get(at.checked_add(1)?)?;
    if first < 0x80 {
        return Some((tag, 2, usize::from(first)));
    }
    let n = usize::from(first & 0x7f);
    if n == 0 || n > 4 {
        return None;
    }
    let mut len = 0usize;
    for i in 0..n {
        len = (len << 8) | usize::from(*b.get(at + 2 + i)?);
    }
    Some((tag, 2 + n, len))
}

/// The SignedData inside a PKCS#7 ContentInfo. openssl writes the
/// ContentInfo wrapper; the UEFI spec (and efitools, and strict
/// firmware) want the bare SignedData in `WIN_CERTIFICATE_UEFI_GUID`.
pub fn unwrap_content_info(p7: &[u8]) -> Result<&[u8]> {
    let inner = || -> Option<&[u8]> {
        let (tag, hl, len) = der_header(p7, 0)?;
        if tag != 0x30 || hl.checked_add(len)? != p7.len() {
            return None;
        }
        let oid_end = hl.checked_add(OID_SIGNED_DATA.len())?;
        if p7.get(hl..oid_end)? != OID_SIGNED_DATA {
            return None;
        }
        let (tag, hl2, len2) = der_header(p7, oid_end)?;
        if tag != 0xa0 || oid_end + hl2 + len2 != p7.len() {
            return None;
        }
        let sd = oid_end + hl2;
        let (tag, hl3, len3) = der_header(p7, sd)?;
        if tag != 0x30 || hl3 + len3 != len2 {
            return None;
        }
        p7.get(sd..)
    };
    inner().ok_or_else(|| anyhow::anyhow!("signature is not a PKCS#7 SignedData ContentInfo"))
}

/// DER length bytes for `len`.
fn der_len(len: usize) -> Vec<u8> {
    if len < 0x80 {
        return vec![len as u8];
    }
    let bytes: Vec<u8> = len
        .to_be_bytes()
        .iter()
        .copied()
        .skip_while(|b| *b == 0)
        .collect();
    let mut v = vec![0x80 | bytes.len() as u8];
    v.extend(bytes);
    v
}

/// Wraps a bare SignedData in a ContentInfo again, so tools that only
/// read the wrapped form (`openssl cms -verify`) can check an `.auth`.
pub fn wrap_content_info(signed_data: &[u8]) -> Vec<u8> {
    let mut explicit = vec![0xa0];
    explicit.extend(der_len(signed_data.len()));
    explicit.extend_from_slice(signed_data);
    let mut body = OID_SIGNED_DATA.to_vec();
    body.extend(explicit);
    let mut v = vec![0x30];
    v.extend(der_len(body.len()));
    v.extend(body);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guid_text_and_bytes() {
        let g = Guid::parse("a5c059a1-94e4-4aa7-87b5-ab155c2bf072").unwrap();
        assert_eq!(g, CERT_X509);
        assert_eq!(g.to_string(), "a5c059a1-94e4-4aa7-87b5-ab155c2bf072");
        assert_eq!(hex::encode(g.bytes()), "a159c0a5e494a74a87b5ab155c2bf072");
        assert_eq!(Guid::from_bytes(&g.bytes()), g);
        assert!(Guid::parse("a5c059a1-94e4-4aa7-87b5-ab155c2bf07").is_err());
        assert!(Guid::parse("a5c059a194e4-4aa7-87b5-ab155c2bf0722").is_err());
        assert!(Guid::parse("zzc059a1-94e4-4aa7-87b5-ab155c2bf072").is_err());
    }

    #[test]
    fn name_guid_is_stable_and_versioned() {
        let a = Guid::from_name("x");
        assert_eq!(a, Guid::from_name("x"));
        assert_ne!(a, Guid::from_name("y"));
        assert_eq!(a.d3 >> 12, 8);
        assert_eq!(a.d4[0] >> 6, 0b10);
        assert_eq!(Guid::parse(&a.to_string()).unwrap(), a);
    }

    #[test]
    fn esl_round_trip() {
        let owner = Guid::from_name("t");
        let der = vec![0x30, 0x03, 1, 2, 3];
        let esl = x509_esl(owner, &der).unwrap();
        assert_eq!(esl.len(), 28 + 16 + der.len());
        let mut two = esl.clone();
        two.extend_from_slice(&esl);
        let lists = parse_esl(&two).unwrap();
        assert_eq!(lists.len(), 2);
        assert_eq!(lists[0].sig_type, CERT_X509);
        assert_eq!(lists[0].entries, vec![(owner, der)]);
    }

    #[test]
    fn esl_rejects_garbage() {
        let esl = x509_esl(Guid::from_name("t"), &[1, 2, 3]).unwrap();
        for cut in 1..esl.len() {
            assert!(parse_esl(&esl[..cut]).is_err(), "cut {cut}");
        }
        let mut bad = esl.clone();
        bad[24] = 0; // signature size 0
        assert!(parse_esl(&bad).is_err());
        let mut bad = esl;
        bad[20] = 0xff; // header larger than the list
        assert!(parse_esl(&bad).is_err());
    }

    #[test]
    fn civil_time() {
        assert_eq!(EfiTime::from_unix(0).to_string(), "1970-01-01 00:00:00");
        assert_eq!(
            EfiTime::from_unix(951_782_400).to_string(),
            "2000-02-29 00:00:00"
        );
        assert_eq!(
            EfiTime::from_unix(1_700_000_000).to_string(),
            "2023-11-14 22:13:20"
        );
    }

    #[test]
    fn auth_round_trip() {
        let t = EfiTime::from_unix(1_700_000_000);
        let a = auth_var(t, b"sig", b"data").unwrap();
        assert_eq!(a.len(), 16 + 24 + 3 + 4);
        let p = parse_auth(&a).unwrap();
        assert_eq!(p.time, t);
        assert_eq!(p.pkcs7, b"sig");
        assert_eq!(p.data, b"data");
        for cut in 0..40 {
            assert!(parse_auth(&a[..cut]).is_err(), "cut {cut}");
        }
    }

    #[test]
    fn content_info_round_trip() {
        let sd = {
            let mut v = vec![0x30, 0x82, 0x01, 0x00];
            v.extend(vec![7u8; 0x100]);
            v
        };
        let ci = wrap_content_info(&sd);
        assert_eq!(unwrap_content_info(&ci).unwrap(), &sd[..]);
        for cut in 0..ci.len() {
            assert!(unwrap_content_info(&ci[..cut]).is_err(), "cut {cut}");
        }
        assert!(unwrap_content_info(&sd).is_err());
        let small = wrap_content_info(&[0x30, 0x00]);
        assert_eq!(unwrap_content_info(&small).unwrap(), &[0x30, 0x00]);
    }

    #[test]
    fn payload_layout() {
        let t = EfiTime::from_unix(0);
        let p = signed_payload("db", IMAGE_SECURITY_DATABASE, AUTH_ATTRS, t, b"D");
        assert_eq!(&p[..4], b"d\0b\0");
        assert_eq!(&p[4..20], &IMAGE_SECURITY_DATABASE.bytes());
        assert_eq!(&p[20..24], &[0x27, 0, 0, 0]);
        assert_eq!(p.len(), 4 + 16 + 4 + 16 + 1);
    }
}
