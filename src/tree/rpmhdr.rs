//! A small reader for RPM package headers: the lead, the signature header
//! and the main header, never the payload.
//!
//! The install stage needs two things from every package before `rpm`
//! touches the tree: the file list (to refuse hostile paths, device nodes
//! and escaping symlinks up front) and the descriptive tags the SBOM
//! lists (license, source RPM, vendor). Reading them ourselves costs one
//! short read per package instead of a process, and it only ever reads
//! the header, whatever the package size.

use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

const LEAD_MAGIC: [u8; 4] = [0xed, 0xab, 0xee, 0xdb];
const HEADER_MAGIC: [u8; 3] = [0x8e, 0xad, 0xe8];
/// Upper bounds that keep a corrupt header from asking for gigabytes.
const MAX_INDEX: u32 = 1 << 20;
const MAX_DATA: u32 = 256 << 20;

/// Tag numbers (rpmtag.h), only those we read.
pub mod tag {
    pub const NAME: u32 = 1000;
    pub const VERSION: u32 = 1001;
    pub const RELEASE: u32 = 1002;
    pub const EPOCH: u32 = 1003;
    pub const SUMMARY: u32 = 1004;
    pub const BUILDTIME: u32 = 1006;
    /// Installed size in bytes (`LONGSIZE` above 4 GiB).
    pub const SIZE: u32 = 1009;
    pub const VENDOR: u32 = 1011;
    pub const LICENSE: u32 = 1014;
    pub const URL: u32 = 1020;
    pub const ARCH: u32 = 1022;
    pub const OLDFILENAMES: u32 = 1027;
    pub const FILEMODES: u32 = 1030;
    pub const FILELINKTOS: u32 = 1036;
    pub const SOURCERPM: u32 = 1044;
    pub const DIRINDEXES: u32 = 1116;
    pub const BASENAMES: u32 = 1117;
    pub const DIRNAMES: u32 = 1118;
}

/// One tag's value, decoded by its declared type.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(Vec<u64>),
    Str(Vec<String>),
    Bin(Vec<u8>),
}

/// A parsed main header.
#[derive(Debug, Clone, Default)]
pub struct Header {
    tags: HashMap<u32, Value>,
}

/// One file the package installs, as its header lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct FileEntry {
    pub path: String,
    pub mode: u32,
    pub link_to: String,
}

impl Header {
    pub fn string(&self, t: u32) -> Option<&str> {
        match self.tags.get(&t) {
            Some(Value::Str(v)) => v.first().map(String::as_str),
            _ => None,
        }
    }

    pub fn strings(&self, t: u32) -> &[String] {
        match self.tags.get(&t) {
            Some(Value::Str(v)) => v,
            _ => &[],
        }
    }

    pub fn ints(&self, t: u32) -> &[u64] {
        match self.tags.get(&t) {
            Some(Value::Int(v)) => v,
            _ => &[],
        }
    }

    pub fn name(&self) -> &str {
        self.string(tag::NAME).unwrap_or("")
    }

    /// `name-[epoch:]version-release.arch`.
    pub fn nevra(&self) -> String {
        let e = self.ints(tag::EPOCH).first().copied().unwrap_or(0);
        let epoch = if e > 0 {
            format!("{e}:")
        } else {
            String::new()
        };
        format!(
            "{}-{epoch}{}-{}.{}",
            self.name(),
            self.string(tag::VERSION).unwrap_or(""),
            self.string(tag::RELEASE).unwrap_or(""),
            self.string(tag::ARCH).unwrap_or("")
        )
    }

    /// Every file with its mode and symlink target, from either the
    /// compressed (dirnames/basenames) or the old flat file list.
    pub fn files(&self) -> Result<Vec<FileEntry>> {
        let modes = self.ints(tag::FILEMODES);
        let links = self.strings(tag::FILELINKTOS);
        let paths: Vec<String> = if self.tags.contains_key(&tag::BASENAMES) {
            let base = self.strings(tag::BASENAMES);
            let dirs = self.strings(tag::DIRNAMES);
            let idx = self.ints(tag::DIRINDEXES);
            if idx.len() != base.len() {
                bail!(
                    "header lists {} basenames but {} dir indexes",
                    base.len(),
                    idx.len()
                );
            }
            base.iter()
                .zip(idx)
                .map(|(b, &i)| {
                    dirs.get(i as usize)
                        .map(|d| format!("{d}{b}"))
                        .with_context(|| format!("dir index {i} out of range"))
                })
                .collect::<Result<_>>()?
        } else {
            self.strings(tag::OLDFILENAMES).to_vec()
        };
        if modes.len() != paths.len() {
            bail!(
                "header lists {} files but {} modes",
                paths.len(),
                modes.len()
            );
        }
        Ok(paths
            .into_iter()
            .enumerate()
            .map(|(i, path)| FileEntry {
                path,
                mode: modes[i] as u32,
                link_to: links.get(i).cloned().unwrap_or_default(),
            })
            .collect())
    }
}

/// Reads the main header of the package at `path`.
pub fn read(path: &Path) -> Result<Header> {
    let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut r = std::io::BufReader::new(f);
    read_from(&mut r).with_context(|| format!("{}: not a valid RPM package", path.display()))
}

/// Reads lead, signature header (skipped) and main header from `r`.
pub fn read_from(r: &mut impl Read) -> Result<Header> {
    let mut lead = [0u8; 96];
    r.read_exact(&mut lead).context("short lead")?;
    if lead[..4] != LEAD_MAGIC {
        bail!("bad lead magic");
    }
    // The signature header is padded to a multiple of 8 bytes.
    let sig_len = skip_header(r)?;
    let pad = (8 - sig_len % 8) % 8;
    std::io::copy(&mut r.take(pad as u64), &mut std::io::sink())?;
    let mut h = Header::default();
    let (index, data) = header_parts(r)?;
    for e in index.chunks_exact(16) {
        let be = |o: usize| u32::from_be_bytes([e[o], e[o + 1], e[o + 2], e[o + 3]]);
        let (t, ty, off, count) = (be(0), be(4), be(8) as usize, be(12) as usize);
        if let Some(v) = decode(ty, &data, off, count) {
            h.tags.insert(t, v);
        }
    }
    Ok(h)
}

/// Skips one header; returns its length in bytes.
fn skip_header(r: &mut impl Read) -> Result<usize> {
    let (index, data) = header_parts(r)?;
    Ok(16 + index.len() + data.len())
}

fn header_parts(r: &mut impl Read) -> Result<(Vec<u8>, Vec<u8>)> {
    let mut intro = [0u8; 16];
    r.read_exact(&mut intro).context("short header")?;
    if intro[..3] != HEADER_MAGIC {
        bail!("bad header magic");
    }
    let nindex = u32::from_be_bytes(intro[8..12].try_into().unwrap());
    let hsize = u32::from_be_bytes(intro[12..16].try_into().unwrap());
    if nindex > MAX_INDEX || hsize > MAX_DATA {
        bail!("header claims {nindex} entries and {hsize} bytes");
    }
    let mut index = vec![0u8; nindex as usize * 16];
    r.read_exact(&mut index).context("short header index")?;
    let mut data = vec![0u8; hsize as usize];
    r.read_exact(&mut data).context("short header data")?;
    Ok((index, data))
}

/// Decodes one entry; out-of-range entries decode to nothing rather than
/// failing the whole header (the tags we need are checked by callers).
fn decode(ty: u32, data: &[u8], off: usize, count: usize) -> Option<Value> {
    let ints = |w: usize| -> Option<Value> {
        let end = off.checked_add(w.checked_mul(count)?)?;
        let bytes = data.get(off..end)?;
        Some(Value::Int(
            bytes
                .chunks_exact(w)
                .map(|c| c.iter().fold(0u64, |a, &b| (a << 8) | b as u64))
                .collect(),
        ))
    };
    match ty {
        2 => ints(1),
        3 => ints(2),
        4 => ints(4),
        5 => ints(8),
        6 | 8 | 9 => {
            let n = if ty == 6 { 1 } else { count };
            let mut out = Vec::with_capacity(n.min(1 << 16));
            let mut p = off;
            for _ in 0..n {
                let rest = data.get(p..)?;
                let z = rest.iter().position(|&b| b == 0)?;
                out.push(String::from_utf8_lossy(&rest[..z]).into_owned());
                p += z + 1;
            }
            Some(Value::Str(out))
        }
        7 => Some(Value::Bin(data.get(off..off.checked_add(count)?)?.to_vec())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bytes in [&b""[..], &[0u8; 200][..], &[0xed, 0xab, 0xee, 0xdb][..]] {
            assert!(read_from(&mut &bytes[..]).is_err());
        }
        // A lead followed by a header claiming a huge size.
        let mut b = vec![0u8; 96];
        b[..4].copy_from_slice(&LEAD_MAGIC);
        b.extend_from_slice(&[0x8e, 0xad, 0xe8, 1, 0, 0, 0, 0]);
        b.extend_from_slice(&u32::MAX.to_be_bytes());
        b.extend_from_slice(&u32::MAX.to_be_bytes());
        let e = read_from(&mut &b[..]).unwrap_err().to_string();
        assert!(e.contains("claims"), "{e}");
    }

    #[test]
    fn decode_bounds() {
        assert_eq!(decode(4, &[0, 0, 0, 7], 0, 1), Some(Value::Int(vec![7])));
        assert_eq!(decode(4, &[0, 0, 0, 7], 2, 1), None);
        assert_eq!(decode(4, &[0, 0, 0, 7], usize::MAX, 3), None);
        assert_eq!(
            decode(8, b"a\0bc\0", 0, 2),
            Some(Value::Str(vec!["a".into(), "bc".into()]))
        );
        assert_eq!(decode(8, b"a\0bc", 0, 2), None);
    }
}
