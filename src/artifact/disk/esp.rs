//! The EFI system partition, built natively as a FAT32 image file: no loop
//! device, no mount, no mtools. Every timestamp is SOURCE_DATE_EPOCH and
//! the volume id is seeded, so the same inputs give the same bytes.

use anyhow::{Context, Result};
use std::fs;
use std::io::{Read, Write};
use std::path::Path;

#[derive(Debug)]
struct FixedTime(fatfs::DateTime);

impl fatfs::TimeProvider for FixedTime {
    fn get_current_date(&self) -> fatfs::Date {
        self.0.date
    }
    fn get_current_date_time(&self) -> fatfs::DateTime {
        self.0
    }
}

/// Civil date and time (UTC) of a Unix timestamp, clamped to FAT's range
/// (1980–2107).
fn fat_time(epoch: i64) -> fatfs::DateTime {
    let epoch = epoch.clamp(315_532_800, 4_354_819_199);
    let days = epoch.div_euclid(86_400);
    let secs = epoch.rem_euclid(86_400);
    let (year, month, day) = crate::civil::from_days(days);
    fatfs::DateTime {
        date: fatfs::Date {
            year: year as u16,
            month: month as u16,
            day: day as u16,
        },
        time: fatfs::Time {
            hour: (secs / 3600) as u16,
            min: (secs % 3600 / 60) as u16,
            sec: (secs % 60) as u16,
            millis: 0,
        },
    }
}

/// Formats `image` (created with `size` bytes) as FAT32 labelled `EFI` and
/// copies the directory `src` into it, in sorted order.
pub fn build(image: &Path, size: u64, src: &Path, volume_id: u32, epoch: i64) -> Result<()> {
    build_as(image, size, src, volume_id, epoch, fatfs::FatType::Fat32)
}

/// `build` as FAT16, for small images FAT32 cannot hold (it needs 65,525
/// clusters): an ISO's El Torito EFI image holds a few MiB.
pub fn build_fat16(image: &Path, size: u64, src: &Path, volume_id: u32, epoch: i64) -> Result<()> {
    build_as(image, size, src, volume_id, epoch, fatfs::FatType::Fat16)
}

fn build_as(
    image: &Path,
    size: u64,
    src: &Path,
    volume_id: u32,
    epoch: i64,
    fat_type: fatfs::FatType,
) -> Result<()> {
    let f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(image)
        .with_context(|| format!("creating {}", image.display()))?;
    f.set_len(size)?;
    let mut f = f;
    fatfs::format_volume(
        &mut f,
        fatfs::FormatVolumeOptions::new()
            .fat_type(fat_type)
            .volume_id(volume_id)
            .volume_label(*b"EFI        "),
    )
    .with_context(|| format!("formatting {} as {fat_type:?}", image.display()))?;
    let time: &'static FixedTime = Box::leak(Box::new(FixedTime(fat_time(epoch))));
    let fsys = fatfs::FileSystem::new(f, fatfs::FsOptions::new().time_provider(time))
        .context("opening the new ESP")?;
    copy_dir(&fsys.root_dir(), src)?;
    fsys.unmount().context("closing the ESP")?;
    fix_dotdot(image).context("finishing the ESP")
}

/// Repairs what fatfs 0.3 gets wrong in new directories, in place: it
/// writes long-name entries before "." and "..", so they are not the
/// first two slots as FAT requires, and it gives ".." of a directory in
/// the root the root's cluster where FAT wants 0. fsck.fat flags both.
/// FAT32 keeps its root in a cluster chain, FAT16 in a fixed region
/// before the data area.
fn fix_dotdot(image: &Path) -> Result<()> {
    use std::io::{Seek, SeekFrom};
    let mut f = fs::OpenOptions::new().read(true).write(true).open(image)?;
    let mut bs = [0u8; 512];
    f.read_exact(&mut bs)?;
    let u16_at = |o: usize| u16::from_le_bytes([bs[o], bs[o + 1]]) as u64;
    let u32_at = |o: usize| u32::from_le_bytes([bs[o], bs[o + 1], bs[o + 2], bs[o + 3]]) as u64;
    let sector = u16_at(11);
    let fat32 = u16_at(22) == 0;
    let fat_sectors = if fat32 { u32_at(36) } else { u16_at(22) };
    let root_start = (u16_at(14) + bs[16] as u64 * fat_sectors) * sector;
    let root_bytes = (u16_at(17) * 32).div_ceil(sector) * sector;
    let geo = Geometry {
        cluster_bytes: sector * bs[13] as u64,
        fat_start: u16_at(14) * sector,
        data: root_start + root_bytes,
        fat32,
    };
    if fat32 {
        fix_dir(&mut f, &geo, u32_at(44), None, 0)?;
    } else {
        let mut root = vec![0u8; root_bytes as usize];
        f.seek(SeekFrom::Start(root_start))?;
        f.read_exact(&mut root)?;
        fix_children(&mut f, &geo, &root, 0, 0)?;
    }
    Ok(())
}

struct Geometry {
    cluster_bytes: u64,
    fat_start: u64,
    data: u64,
    /// FAT32 (4-byte FAT entries), else FAT16 (2-byte).
    fat32: bool,
}

impl Geometry {
    fn offset(&self, cluster: u64) -> u64 {
        self.data + (cluster - 2) * self.cluster_bytes
    }
}

fn chain(f: &mut fs::File, g: &Geometry, first: u64) -> Result<Vec<u64>> {
    use std::io::{Seek, SeekFrom};
    let mut out = vec![first];
    loop {
        let c = *out.last().expect("non-empty");
        let next = if g.fat32 {
            let mut e = [0u8; 4];
            f.seek(SeekFrom::Start(g.fat_start + c * 4))?;
            f.read_exact(&mut e)?;
            u32::from_le_bytes(e) as u64 & 0x0fff_ffff
        } else {
            let mut e = [0u8; 2];
            f.seek(SeekFrom::Start(g.fat_start + c * 2))?;
            f.read_exact(&mut e)?;
            u16::from_le_bytes(e) as u64
        };
        let end = if g.fat32 { 0x0fff_fff8 } else { 0xfff8 };
        if !(2..end).contains(&next) || out.len() > 1 << 16 {
            return Ok(out);
        }
        out.push(next);
    }
}

/// Fixes directory `cluster` (its dot entries unless it is the root,
/// `parent` = None) and, recursively, its subdirectories.
fn fix_dir(
    f: &mut fs::File,
    g: &Geometry,
    cluster: u64,
    parent: Option<u64>,
    depth: u32,
) -> Result<()> {
    use std::io::{Seek, SeekFrom};
    if depth > 32 {
        anyhow::bail!("ESP directories nest too deep");
    }
    if let Some(parent) = parent {
        let at = g.offset(cluster);
        let mut head = [0u8; 128];
        f.seek(SeekFrom::Start(at))?;
        f.read_exact(&mut head)?;
        let slots: Vec<[u8; 32]> = head
            .chunks_exact(32)
            .map(|c| c.try_into().expect("32"))
            .collect();
        let is_sfn = |e: &[u8; 32], name: &[u8; 11]| e[11] != 0x0f && &e[..11] == name;
        let dot = slots.iter().position(|e| is_sfn(e, b".          "));
        let dotdot = slots.iter().position(|e| is_sfn(e, b"..         "));
        if let (Some(dot), Some(dotdot)) = (dot, dotdot) {
            let mut fixed = head;
            let mut dd = slots[dotdot];
            let p = if parent < 2 { 0 } else { parent };
            dd[20..22].copy_from_slice(&((p >> 16) as u16).to_le_bytes());
            dd[26..28].copy_from_slice(&(p as u16).to_le_bytes());
            fixed[..32].copy_from_slice(&slots[dot]);
            fixed[32..64].copy_from_slice(&dd);
            // fatfs wrote [long ".", ".", long "..", ".."]: after moving the
            // dot entries up, the two slots behind them are stale.
            if (dot, dotdot) != (0, 1) {
                for i in 2..=dotdot {
                    fixed[i * 32] = 0xe5;
                }
            }
            f.seek(SeekFrom::Start(at))?;
            f.write_all(&fixed)?;
        }
    }
    for c in chain(f, g, cluster)? {
        let mut buf = vec![0u8; g.cluster_bytes as usize];
        f.seek(SeekFrom::Start(g.offset(c)))?;
        f.read_exact(&mut buf)?;
        let me = if parent.is_none() { 0 } else { cluster };
        if fix_children(f, g, &buf, me, depth)? {
            break;
        }
    }
    Ok(())
}

/// Fixes the subdirectories listed in `entries` (a directory's slots),
/// whose parent is cluster `me` (0: the root). True at the end marker.
fn fix_children(
    f: &mut fs::File,
    g: &Geometry,
    entries: &[u8],
    me: u64,
    depth: u32,
) -> Result<bool> {
    for e in entries.chunks_exact(32) {
        if e[0] == 0 {
            return Ok(true);
        }
        let is_subdir = e[11] != 0x0f && e[11] & 0x10 != 0 && e[0] != 0xe5 && e[0] != b'.';
        if !is_subdir {
            continue;
        }
        let high = if g.fat32 {
            (u16::from_le_bytes([e[20], e[21]]) as u64) << 16
        } else {
            0
        };
        let first = high | u16::from_le_bytes([e[26], e[27]]) as u64;
        if first >= 2 {
            fix_dir(f, g, first, Some(me), depth + 1)?;
        }
    }
    Ok(false)
}

fn copy_dir<T: fatfs::ReadWriteSeek>(dir: &fatfs::Dir<T>, src: &Path) -> Result<()> {
    let mut entries: Vec<_> = fs::read_dir(src)
        .with_context(|| format!("reading {}", src.display()))?
        .collect::<std::io::Result<_>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name();
        let name = name
            .to_str()
            .with_context(|| format!("{}: name is not UTF-8", e.path().display()))?;
        let ft = e.file_type()?;
        if ft.is_dir() {
            let sub = dir
                .create_dir(name)
                .with_context(|| format!("ESP: creating {name}"))?;
            copy_dir(&sub, &e.path())?;
        } else if ft.is_file() {
            let mut out = dir
                .create_file(name)
                .with_context(|| format!("ESP: creating {name}"))?;
            out.truncate()?;
            let mut input = fs::File::open(e.path())?;
            let mut buf = vec![0u8; 1 << 16];
            loop {
                let n = input.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                out.write_all(&buf[..n])
                    .with_context(|| format!("ESP: writing {name} (ESP full?)"))?;
            }
            out.flush()?;
        } else {
            anyhow::bail!(
                "{}: the ESP (FAT) can hold only files and directories",
                e.path().display()
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fat16_image_passes_fsck_and_is_reproducible() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("src");
        fs::create_dir_all(src.join("EFI/BOOT")).unwrap();
        fs::create_dir_all(src.join("EFI/debian")).unwrap();
        fs::write(src.join("EFI/BOOT/BOOTX64.EFI"), vec![7u8; 900_000]).unwrap();
        fs::write(src.join("EFI/BOOT/grubx64.efi"), vec![8u8; 2_000_000]).unwrap();
        fs::write(src.join("EFI/debian/grub.cfg"), "configfile x\n").unwrap();
        let a = d.path().join("a.img");
        let b = d.path().join("b.img");
        build_fat16(&a, 8 << 20, &src, 0x1234_5678, 1_700_000_000).unwrap();
        build_fat16(&b, 8 << 20, &src, 0x1234_5678, 1_700_000_000).unwrap();
        assert_eq!(fs::read(&a).unwrap(), fs::read(&b).unwrap());
        let a = a.display().to_string();
        crate::tools::run("fsck.vfat", &["-n", &a]).unwrap();
        let o = crate::tools::run("mdir", &["-i", &a, "::/EFI/BOOT"]).unwrap();
        let listing = String::from_utf8_lossy(&o.stdout);
        assert!(listing.contains("grubx64.efi"), "{listing}");
    }

    #[test]
    fn civil_time() {
        let t = fat_time(1_700_000_000); // 2023-11-14 22:13:20 UTC
        assert_eq!((t.date.year, t.date.month, t.date.day), (2023, 11, 14));
        assert_eq!((t.time.hour, t.time.min, t.time.sec), (22, 13, 20));
        let t = fat_time(0);
        assert_eq!((t.date.year, t.date.month, t.date.day), (1980, 1, 1));
    }

    #[test]
    fn esp_passes_fsck_and_is_reproducible() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("src");
        fs::create_dir_all(src.join("EFI/BOOT")).unwrap();
        fs::write(src.join("EFI/BOOT/BOOTX64.EFI"), vec![7u8; 300_000]).unwrap();
        fs::write(src.join("EFI/BOOT/grub.cfg"), "set timeout=0\n").unwrap();
        let a = d.path().join("a.img");
        let b = d.path().join("b.img");
        build(&a, 64 << 20, &src, 0x1234_5678, 1_700_000_000).unwrap();
        build(&b, 64 << 20, &src, 0x1234_5678, 1_700_000_000).unwrap();
        assert_eq!(fs::read(&a).unwrap(), fs::read(&b).unwrap());
        let a = a.display().to_string();
        crate::tools::run("fsck.vfat", &["-n", &a]).unwrap();
        let o = crate::tools::run("mdir", &["-i", &a, "::/EFI/BOOT"]).unwrap();
        let listing = String::from_utf8_lossy(&o.stdout);
        assert!(
            listing.contains("BOOTX64") && listing.contains("300000"),
            "{listing}"
        );
    }
}
