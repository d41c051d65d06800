//! The partition table (sfdisk on a plain file, identifiers seeded) and
//! sparse copies of filesystem images into the disk.
//!
//! Intermediate files (filesystem images, the raw disk before conversion)
//! are not fsynced: forcing them to disk cost 8 of 30 s of a fixture qcow2
//! build, for files deleted seconds later. Only the finished artifact is
//! made durable, once, before it is renamed into place (`convert`).

use super::Ids;
use crate::manifest::ours::PartitionTableType;
use crate::plan::layout::DiskLayout;
use anyhow::{Context, Result};
use std::fmt::Write as _;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

const SECTOR: u64 = 512;

/// The sfdisk script for `l` (pure; table-tested).
pub fn script(l: &DiskLayout, ids: &Ids) -> String {
    let mut s = String::new();
    match l.table {
        PartitionTableType::Gpt => {
            let _ = writeln!(s, "label: gpt");
            let _ = writeln!(s, "label-id: {}", ids.uuid("disk"));
        }
        PartitionTableType::Dos => {
            let _ = writeln!(s, "label: dos");
            let _ = writeln!(s, "label-id: 0x{:08x}", ids.u32("disk"));
        }
    }
    let _ = writeln!(s, "unit: sectors");
    let _ = writeln!(s, "sector-size: {SECTOR}");
    let _ = writeln!(s);
    for (i, p) in l.partitions.iter().enumerate() {
        let _ = write!(s, "start={}, size={}", p.start / SECTOR, p.size / SECTOR);
        match l.table {
            PartitionTableType::Gpt => {
                let _ = write!(
                    s,
                    ", type={}, uuid={}, name=\"{}\"",
                    p.type_id,
                    ids.uuid(&format!("part:{i}")),
                    p.label
                );
                if p.bootable {
                    let _ = write!(s, ", attrs=\"LegacyBIOSBootable\"");
                }
            }
            PartitionTableType::Dos => {
                let _ = write!(s, ", type={}", p.type_id.trim_start_matches("0x"));
                if p.bootable {
                    let _ = write!(s, ", bootable");
                }
            }
        }
        let _ = writeln!(s);
    }
    s
}

/// Creates `out` as a sparse file of the layout's size and writes the table.
pub fn write(out: &Path, l: &DiskLayout, ids: &Ids) -> Result<()> {
    let f = std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?;
    f.set_len(l.size)?;
    drop(f);
    crate::tools::run_with_stdin(
        "sfdisk",
        &[
            "--quiet",
            "--no-reread",
            "--no-tell-kernel",
            &out.display().to_string(),
        ],
        script(l, ids).as_bytes(),
    )
    .context("writing the partition table")?;
    Ok(())
}

/// Copies `img` into `disk` at byte `offset`, only the data regions of
/// the (sparse) image and, within them, only blocks that are not all
/// zeros, so the disk stays sparse and holes cost nothing to skip.
pub fn copy_into(img: &Path, disk: &Path, offset: u64) -> Result<()> {
    use std::os::unix::io::AsRawFd;
    let mut src = std::fs::File::open(img).with_context(|| format!("opening {}", img.display()))?;
    let mut dst = std::fs::OpenOptions::new()
        .write(true)
        .open(disk)
        .with_context(|| format!("opening {}", disk.display()))?;
    let len = src.metadata()?.len();
    let fd = src.as_raw_fd();
    let mut buf = vec![0u8; 1 << 20];
    let mut pos: u64 = 0;
    while pos < len {
        // SAFETY: plain lseek on a file descriptor we own.
        let data = unsafe { libc::lseek(fd, pos as libc::off_t, libc::SEEK_DATA) };
        if data < 0 {
            break; // ENXIO: no data after pos
        }
        let hole = unsafe { libc::lseek(fd, data, libc::SEEK_HOLE) };
        let (start, end) = (data as u64, if hole < 0 { len } else { hole as u64 });
        src.seek(SeekFrom::Start(start))?;
        let mut at = start;
        while at < end {
            let n = ((end - at) as usize).min(buf.len());
            src.read_exact(&mut buf[..n])?;
            if buf[..n].iter().any(|&b| b != 0) {
                dst.seek(SeekFrom::Start(offset + at))?;
                dst.write_all(&buf[..n])?;
            }
            at += n as u64;
        }
        pos = end;
    }
    Ok(())
}
