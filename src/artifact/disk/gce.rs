//! GCE: the raw disk as Google's image import takes it. Google documents
//! one shape only: a gzip-compressed tar holding a single file named
//! `disk.raw`, in GNU ("oldgnu") tar format — what `tar --format=oldgnu
//! -Sczf` writes — whose size is a whole number of GiB (the plan rounds the
//! layout up, `plan::layout::round_up`; this module refuses anything else).
//!
//! Written natively with the `tar` crate's GNU headers, as a GNU sparse
//! entry (type `S`): a 10 GiB disk of which a few hundred MiB are data
//! would otherwise be 10 GiB of zeros to compress. The sparse map comes
//! from the content (runs of all-zero 4 KiB blocks are holes), not from
//! how the filesystem under the work directory happened to allocate the
//! raw file, so the same disk always gives the same bytes; SEEK_DATA only
//! skips what is a hole already. The entry's mtime is SOURCE_DATE_EPOCH,
//! its owner 0:0 with no names, and gzip's header carries no time.

use anyhow::{bail, Context, Result};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

/// The one entry Google's import reads.
pub const ENTRY: &str = "disk.raw";
/// Zero runs shorter than this stay data.
const BLOCK: u64 = 4096;
const GIB: u64 = 1 << 30;
/// Sparse entries in the main GNU header, and in each extension block.
const IN_HEADER: usize = 4;
const PER_EXTENSION: usize = 21;

/// A stretch of the file that is stored: (offset, length).
pub type Region = (u64, u64);

/// Appends block `[at, at + len)` to `regions`, merging with the last
/// region when they touch.
fn push(regions: &mut Vec<Region>, at: u64, len: u64) {
    match regions.last_mut() {
        Some((o, l)) if *o + *l == at => *l += len,
        _ => regions.push((at, len)),
    }
}

/// The data regions of `buf`, which starts at file offset `base`, at
/// `BLOCK` granularity (a partial last block counts as data when it has a
/// non-zero byte).
pub fn scan(regions: &mut Vec<Region>, base: u64, buf: &[u8]) {
    for (i, chunk) in buf.chunks(BLOCK as usize).enumerate() {
        if chunk.iter().any(|&b| b != 0) {
            push(regions, base + i as u64 * BLOCK, chunk.len() as u64);
        }
    }
}

/// The data regions of the whole file (see the module doc).
fn data_regions(f: &mut std::fs::File, len: u64) -> Result<Vec<Region>> {
    use std::os::unix::io::AsRawFd;
    let fd = f.as_raw_fd();
    let mut regions = Vec::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut pos = 0u64;
    while pos < len {
        // SAFETY: lseek on a descriptor `f` owns; no memory is involved.
        let data = unsafe { libc::lseek(fd, pos as libc::off_t, libc::SEEK_DATA) };
        if data < 0 {
            break; // ENXIO: nothing but hole after pos
        }
        // SAFETY: as above.
        let hole = unsafe { libc::lseek(fd, data, libc::SEEK_HOLE) };
        // Whole blocks from a block boundary: the map depends on the
        // content only, not on where the filesystem's extents begin (past
        // a hole's start the file reads as zeros, which is its content).
        let start = (data as u64 / BLOCK * BLOCK).max(pos);
        let end = if hole < 0 {
            len
        } else {
            (hole as u64).div_ceil(BLOCK).saturating_mul(BLOCK).min(len)
        };
        f.seek(SeekFrom::Start(start))?;
        let mut at = start;
        while at < end {
            let n = ((end - at) as usize).min(buf.len());
            f.read_exact(&mut buf[..n])?;
            scan(&mut regions, at, &buf[..n]);
            at += n as u64;
        }
        if end <= pos {
            break; // cannot happen (SEEK_DATA never goes back); never spin
        }
        pos = end;
    }
    Ok(regions)
}

/// The sparse map as GNU tar writes it: the data regions, and when the
/// file does not end in data, a zero-length entry at its end (so a reader
/// knows where it ends without the real-size field).
pub fn sparse_map(regions: &[Region], size: u64) -> Vec<Region> {
    let mut map = regions.to_vec();
    if map.last().is_none_or(|(o, l)| o + l < size) {
        map.push((size, 0));
    }
    map
}

/// The GNU header of a sparse `disk.raw` and its extension blocks.
pub fn headers(map: &[Region], size: u64, mtime: u64) -> Result<Vec<u8>> {
    let stored: u64 = map.iter().map(|r| r.1).sum();
    let mut h = tar::Header::new_gnu();
    h.set_path(ENTRY)?;
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(mtime);
    h.set_entry_type(tar::EntryType::GNUSparse);
    h.set_size(stored);
    let g = h.as_gnu_mut().context("a GNU header")?;
    g.set_real_size(size);
    for (slot, (o, l)) in g.sparse.iter_mut().zip(map) {
        slot.set_offset(*o);
        slot.set_length(*l);
    }
    g.set_is_extended(map.len() > IN_HEADER);
    h.set_cksum();
    let mut out = h.as_bytes().to_vec();
    let rest: Vec<&[Region]> = map
        .get(IN_HEADER..)
        .unwrap_or_default()
        .chunks(PER_EXTENSION)
        .collect();
    for (i, chunk) in rest.iter().enumerate() {
        let mut ext = tar::GnuExtSparseHeader::new();
        for (slot, (o, l)) in ext.sparse_mut().iter_mut().zip(chunk.iter()) {
            slot.set_offset(*o);
            slot.set_length(*l);
        }
        ext.set_is_extended(i + 1 < rest.len());
        out.extend_from_slice(ext.as_bytes());
    }
    Ok(out)
}

/// Writes `out` (NAME.tar.gz) holding the raw disk `raw` as `disk.raw`.
/// Written to a temporary name beside `out`, renamed at the end.
pub fn write(raw: &Path, out: &Path, source_date_epoch: i64) -> Result<()> {
    let mut f = std::fs::File::open(raw).with_context(|| format!("opening {}", raw.display()))?;
    let size = f.metadata()?.len();
    if size == 0 || size % GIB != 0 {
        bail!("a GCE disk is a whole number of GiB, and this one is {size} bytes");
    }
    let map = sparse_map(&data_regions(&mut f, size)?, size);
    let tmp = out.with_extension("partial");
    let file =
        std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let mut gz = flate2::GzBuilder::new().mtime(0).write(
        std::io::BufWriter::with_capacity(1 << 20, file),
        flate2::Compression::default(),
    );
    gz.write_all(&headers(&map, size, source_date_epoch.max(0) as u64)?)?;
    let mut stored = 0u64;
    for (o, l) in &map {
        f.seek(SeekFrom::Start(*o))?;
        let n = std::io::copy(&mut (&mut f).take(*l), &mut gz)?;
        if n != *l {
            bail!("{} changed while it was archived", raw.display());
        }
        stored += l;
    }
    // Data padded to a 512-byte block, then the two zero blocks that end
    // an archive.
    let pad = (512 - stored % 512) % 512;
    gz.write_all(&vec![0u8; pad as usize + 1024])?;
    let file = gz
        .finish()?
        .into_inner()
        .map_err(|e| e.into_error())
        .context("writing the GCE archive")?;
    file.sync_all()
        .with_context(|| format!("flushing {}", tmp.display()))?;
    std::fs::rename(&tmp, out).with_context(|| format!("renaming to {}", out.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_merges_blocks_and_skips_zero_runs() {
        let b = BLOCK as usize;
        let mut buf = vec![0u8; 6 * b + 100];
        buf[5] = 1; // block 0
        buf[b + 7] = 1; // block 1: merges with 0
        buf[4 * b] = 1; // block 4
        buf[6 * b + 99] = 1; // the partial last block
        let mut r = vec![];
        scan(&mut r, 1 << 20, &buf);
        let base = 1u64 << 20;
        assert_eq!(
            r,
            vec![
                (base, 2 * BLOCK),
                (base + 4 * BLOCK, BLOCK),
                (base + 6 * BLOCK, 100)
            ]
        );
        // A second buffer continuing the last region merges with it.
        scan(&mut r, base + 6 * BLOCK + 100, &[1]);
        assert_eq!(r.last(), Some(&(base + 6 * BLOCK, 101)));
    }

    #[test]
    fn sparse_map_ends_at_the_file_end() {
        for (regions, size, want) in [
            (vec![], 10, vec![(10, 0)]),
            (vec![(0, 4)], 10, vec![(0, 4), (10, 0)]),
            (vec![(0, 4), (6, 4)], 10, vec![(0, 4), (6, 4)]),
        ] {
            assert_eq!(sparse_map(&regions, size), want, "{regions:?}");
        }
    }

    #[test]
    fn headers_read_back_as_gnu_sparse() {
        // 30 regions: 4 in the header, 21 + 5 in two extension blocks; a
        // real size past 8 GiB (base-256 numbers).
        let size = 9 * GIB;
        let map: Vec<Region> = (0..30).map(|i| (i * 3 * GIB / 10, 512)).collect();
        let bytes = headers(&map, size, 1_700_000_000).unwrap();
        assert_eq!(bytes.len(), 3 * 512);
        assert_eq!(&bytes[257..265], b"ustar  \0", "GNU magic");
        assert_eq!(bytes[156], b'S');
        let h = tar::Header::from_byte_slice(&bytes[..512]);
        let g = h.as_gnu().unwrap();
        assert_eq!(g.real_size().unwrap(), size);
        assert_eq!(h.entry_size().unwrap(), 30 * 512, "stored bytes");
        assert_eq!(h.mtime().unwrap(), 1_700_000_000);
        assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (0, 0));
        assert_eq!(h.path().unwrap().to_str(), Some(ENTRY));
        assert!(g.is_extended());
        let ext = |i: usize| {
            let mut e = tar::GnuExtSparseHeader::new();
            e.as_mut_bytes()
                .copy_from_slice(&bytes[512 * i..512 * (i + 1)]);
            e
        };
        let (e1, e2) = (ext(1), ext(2));
        assert!(e1.is_extended() && !e2.is_extended());
        let mut got: Vec<Region> = g
            .sparse
            .iter()
            .chain(e1.sparse())
            .chain(e2.sparse())
            .filter(|s| !s.is_empty())
            .map(|s| (s.offset().unwrap(), s.length().unwrap()))
            .collect();
        got.sort();
        assert_eq!(got, map);
    }
}
