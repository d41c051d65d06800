//! PEM certificate bundles (`customizations.cacerts.pem_certs`): the
//! DER of every CERTIFICATE block, checked for its outer DER shape. One
//! parser for the validator (which judges the manifest) and the tree step
//! (which writes the anchors), so the two cannot disagree.

use anyhow::{bail, Context, Result};

pub const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
pub const END: &str = "-----END CERTIFICATE-----";

/// The DER of every `CERTIFICATE` block in a PEM bundle. Text between
/// blocks (comments, `openssl x509 -text` output) is ignored; anything else
/// malformed is an error.
pub fn certificates(bundle: &str) -> Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let mut body: Option<String> = None;
    for (n, line) in bundle.lines().enumerate() {
        let line = line.trim();
        let n = n + 1;
        match &mut body {
            None if line == BEGIN => body = Some(String::new()),
            None if line.starts_with("-----BEGIN ") => {
                bail!("line {n}: {line:?} is not a certificate (only CERTIFICATE blocks are accepted)")
            }
            None if line.starts_with("-----END ") => bail!("line {n}: END without BEGIN"),
            None => {}
            Some(b) if line == END => {
                let der =
                    base64_decode(b).with_context(|| format!("certificate ending on line {n}"))?;
                check_der(&der).with_context(|| format!("certificate ending on line {n}"))?;
                out.push(der);
                body = None;
            }
            Some(_) if line.starts_with("-----") => {
                bail!("line {n}: {line:?} inside a certificate")
            }
            Some(b) => b.push_str(line),
        }
    }
    if body.is_some() {
        bail!("a certificate has no {END} line");
    }
    if out.is_empty() {
        bail!("no {BEGIN} block found");
    }
    Ok(out)
}

pub const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding (whitespace already removed).
pub fn base64_decode(s: &str) -> Result<Vec<u8>> {
    let data = s.trim_end_matches('=');
    if s.len() % 4 != 0 || s.len() - data.len() > 2 || data.is_empty() {
        bail!("invalid base64 (bad length or padding)");
    }
    let mut out = Vec::with_capacity(data.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for c in data.bytes() {
        let v = B64
            .iter()
            .position(|b| *b == c)
            .with_context(|| format!("invalid base64 character {:?}", c as char))?;
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Ok(out)
}

/// The outer DER structure: one SEQUENCE whose length covers the input.
fn check_der(der: &[u8]) -> Result<()> {
    let bad = || anyhow::anyhow!("not a DER certificate (bad outer SEQUENCE)");
    if der.first() != Some(&0x30) {
        return Err(bad());
    }
    let first = *der.get(1).ok_or_else(bad)?;
    let (len, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return Err(bad());
        }
        let bytes = der.get(2..2 + n).ok_or_else(bad)?;
        (
            bytes.iter().fold(0usize, |a, b| (a << 8) | usize::from(*b)),
            2 + n,
        )
    };
    if header + len != der.len() {
        return Err(bad());
    }
    Ok(())
}
