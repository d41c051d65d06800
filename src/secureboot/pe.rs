//! Just enough PE/COFF header reading for UKI assembly and checks.
//!
//! A UKI's added sections must start after the stub's last section, at
//! addresses aligned to the image's section alignment. Reading that from
//! the headers ourselves (instead of scraping `objdump -h`) works for
//! every stub version and arch, and lets tests check a finished UKI's
//! layout (no overlaps, sections present) without another tool.

use anyhow::{bail, Result};

/// One section header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    pub virtual_size: u32,
    pub virtual_address: u32,
    pub raw_size: u32,
    pub raw_offset: u32,
}

impl Section {
    /// First address after the section, counting its file-aligned raw
    /// size too: the conservative end used to place new sections.
    pub fn end(&self) -> u64 {
        u64::from(self.virtual_address) + u64::from(self.virtual_size.max(self.raw_size))
    }

    /// First address after the section as loaded: loaders map
    /// VirtualSize bytes (raw data beyond it is file padding), or the raw
    /// size when an old linker left VirtualSize zero.
    pub fn mem_end(&self) -> u64 {
        let size = if self.virtual_size == 0 {
            self.raw_size
        } else {
            self.virtual_size
        };
        u64::from(self.virtual_address) + u64::from(size)
    }
}

/// The header fields we use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeInfo {
    pub machine: u16,
    pub image_base: u64,
    pub section_alignment: u32,
    pub file_alignment: u32,
    pub size_of_image: u32,
    pub sections: Vec<Section>,
}

/// `IMAGE_FILE_MACHINE_AMD64`.
pub const MACHINE_X64: u16 = 0x8664;
/// `IMAGE_FILE_MACHINE_ARM64`.
pub const MACHINE_ARM64: u16 = 0xaa64;

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([s[0], s[1]]))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    let s = b.get(at..at.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Some(u64::from_le_bytes(a))
}

impl PeInfo {
    /// Parses the headers of a PE32 or PE32+ image.
    pub fn parse(b: &[u8]) -> Result<PeInfo> {
        match Self::parse_opt(b) {
            Some(Ok(p)) => Ok(p),
            Some(Err(e)) => Err(e),
            None => bail!("not a PE image: headers truncated"),
        }
    }

    fn parse_opt(b: &[u8]) -> Option<Result<PeInfo>> {
        if b.get(..2)? != b"MZ" {
            return Some(Err(anyhow::anyhow!("not a PE image: no MZ header")));
        }
        let pe = u32_at(b, 0x3c)? as usize;
        if b.get(pe..pe.checked_add(4)?)? != b"PE\0\0" {
            return Some(Err(anyhow::anyhow!("not a PE image: no PE signature")));
        }
        let coff = pe + 4;
        let machine = u16_at(b, coff)?;
        let nsections = u16_at(b, coff + 2)? as usize;
        let opt_size = u16_at(b, coff + 16)? as usize;
        let opt = coff + 20;
        let (image_base, section_alignment, file_alignment, size_of_image) = match u16_at(b, opt)? {
            0x20b => (
                u64_at(b, opt + 24)?,
                u32_at(b, opt + 32)?,
                u32_at(b, opt + 36)?,
                u32_at(b, opt + 56)?,
            ),
            0x10b => (
                u64::from(u32_at(b, opt + 28)?),
                u32_at(b, opt + 32)?,
                u32_at(b, opt + 36)?,
                u32_at(b, opt + 56)?,
            ),
            m => return Some(Err(anyhow::anyhow!("unknown PE optional header {m:#x}"))),
        };
        let mut sections = Vec::with_capacity(nsections.min(96));
        let table = opt.checked_add(opt_size)?;
        for i in 0..nsections {
            let h = table.checked_add(i.checked_mul(40)?)?;
            let raw_name = b.get(h..h + 8)?;
            let name_len = raw_name.iter().position(|c| *c == 0).unwrap_or(8);
            sections.push(Section {
                name: String::from_utf8_lossy(&raw_name[..name_len]).into_owned(),
                virtual_size: u32_at(b, h + 8)?,
                virtual_address: u32_at(b, h + 12)?,
                raw_size: u32_at(b, h + 16)?,
                raw_offset: u32_at(b, h + 20)?,
            });
        }
        Some(Ok(PeInfo {
            machine,
            image_base,
            section_alignment,
            file_alignment,
            size_of_image,
            sections,
        }))
    }

    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// First address after every section (relative to the image base).
    pub fn end_of_sections(&self) -> u64 {
        self.sections.iter().map(Section::end).max().unwrap_or(0)
    }

    /// Names of sections whose memory ranges overlap, if any.
    pub fn overlaps(&self) -> Vec<(String, String)> {
        let mut s: Vec<&Section> = self.sections.iter().collect();
        s.sort_by_key(|x| x.virtual_address);
        s.windows(2)
            .filter(|w| w[0].mem_end() > u64::from(w[1].virtual_address))
            .map(|w| (w[0].name.clone(), w[1].name.clone()))
            .collect()
    }
}

/// Rounds `v` up to a multiple of `align` (a power of two, or 1).
pub fn align_up(v: u64, align: u64) -> u64 {
    let a = align.max(1);
    v.div_ceil(a) * a
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal PE32+ header with the given sections (name, va, size).
    pub(crate) fn fake_pe(sections: &[(&str, u32, u32)]) -> Vec<u8> {
        let mut b = vec![0u8; 0x400];
        b[0..2].copy_from_slice(b"MZ");
        b[0x3c..0x40].copy_from_slice(&0x80u32.to_le_bytes());
        b[0x80..0x84].copy_from_slice(b"PE\0\0");
        b[0x84..0x86].copy_from_slice(&MACHINE_X64.to_le_bytes());
        b[0x86..0x88].copy_from_slice(&(sections.len() as u16).to_le_bytes());
        b[0x94..0x96].copy_from_slice(&240u16.to_le_bytes());
        let opt = 0x98;
        b[opt..opt + 2].copy_from_slice(&0x20bu16.to_le_bytes());
        b[opt + 32..opt + 36].copy_from_slice(&0x200u32.to_le_bytes());
        b[opt + 36..opt + 40].copy_from_slice(&0x200u32.to_le_bytes());
        for (i, (n, va, sz)) in sections.iter().enumerate() {
            let h = opt + 240 + i * 40;
            b[h..h + n.len()].copy_from_slice(n.as_bytes());
            b[h + 8..h + 12].copy_from_slice(&sz.to_le_bytes());
            b[h + 12..h + 16].copy_from_slice(&va.to_le_bytes());
        }
        b
    }

    #[test]
    fn parses_sections_and_end() {
        let b = fake_pe(&[(".text", 0x1000, 0x800), (".sbat", 0x3000, 0x10)]);
        let p = PeInfo::parse(&b).unwrap();
        assert_eq!(p.machine, MACHINE_X64);
        assert_eq!(p.section_alignment, 0x200);
        assert_eq!(p.sections.len(), 2);
        assert_eq!(p.section(".sbat").unwrap().virtual_address, 0x3000);
        assert_eq!(p.end_of_sections(), 0x3010);
        assert!(p.overlaps().is_empty());
    }

    #[test]
    fn finds_overlaps() {
        let b = fake_pe(&[(".a", 0x1000, 0x2000), (".b", 0x2000, 0x10)]);
        let p = PeInfo::parse(&b).unwrap();
        assert_eq!(p.overlaps(), vec![(".a".into(), ".b".into())]);
        // Raw padding past VirtualSize is not an overlap (the stub's
        // .sbat/.sdmagic share a 0x200 file block).
        let mut b = fake_pe(&[(".sbat", 0x1000, 0xe2), (".sdmagic", 0x1100, 0x34)]);
        let h = 0x98 + 240;
        b[h + 16..h + 20].copy_from_slice(&0x200u32.to_le_bytes());
        let p = PeInfo::parse(&b).unwrap();
        assert_eq!(p.sections[0].end(), 0x1200);
        assert!(p.overlaps().is_empty());
    }

    #[test]
    fn rejects_garbage_without_panicking() {
        let b = fake_pe(&[(".text", 0x1000, 0x800)]);
        for cut in 0..b.len() {
            let _ = PeInfo::parse(&b[..cut]);
        }
        assert!(PeInfo::parse(b"ELF").is_err());
        let mut huge = b.clone();
        huge[0x86..0x88].copy_from_slice(&0xffffu16.to_le_bytes());
        assert!(PeInfo::parse(&huge).is_err());
        let mut far = b;
        far[0x3c..0x40].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(PeInfo::parse(&far).is_err());
    }

    #[test]
    fn aligns() {
        assert_eq!(align_up(0, 0x1000), 0);
        assert_eq!(align_up(1, 0x1000), 0x1000);
        assert_eq!(align_up(0x1000, 0x1000), 0x1000);
        assert_eq!(align_up(5, 0), 5);
    }
}
