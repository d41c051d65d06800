//! xorriso and squashfs-tools, the two programs ISO media are made with.
//!
//! Why these and not native writers: ISO 9660 with Joliet, Rock Ridge, El
//! Torito, GRUB's boot-info patching and an MBR + GPT hybrid at once is
//! what xorriso (libisofs) is the reference for — lorax, livemedia-creator,
//! mkosi and osbuild all call it — and the kernel's squashfs is written by
//! mksquashfs. The argument lists are built here by pure functions (table
//! tests below), so the flags that make the result deterministic and
//! bootable are pinned in one place:
//!
//! - determinism: `SOURCE_DATE_EPOCH` in xorriso's environment (volume
//!   dates, Rock Ridge times), `--modification-date` (the volume's and
//!   GRUB's UUID), `--set_all_file_dates`, the GPT disk GUID taken from the
//!   volume date; mksquashfs with SOURCE_DATE_EPOCH (squashfs sorts
//!   directory entries itself and its output does not depend on threads);
//! - boot: GRUB's i386-pc El Torito image with `--grub2-boot-info`, its
//!   hybrid MBR (`boot_hybrid.img`) with the ISO at partition offset 16,
//!   the EFI image appended as a GPT partition and named by the El Torito
//!   EFI entry, as lorax lays out EL10 media.

use super::run_with_env;
use anyhow::{Context, Result};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// What goes on a medium besides the staged directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsoSpec {
    /// The directory that becomes the ISO 9660 root.
    pub staging: PathBuf,
    pub out: PathBuf,
    pub volume_id: String,
    pub epoch: i64,
    /// BIOS: the El Torito image's path inside the ISO and GRUB's
    /// `boot_hybrid.img` (the MBR boot code for USB sticks).
    pub bios: Option<BiosBoot>,
    /// UEFI: the FAT image appended as partition 2 and booted by El Torito.
    pub efi: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BiosBoot {
    pub eltorito: String,
    pub hybrid_mbr: PathBuf,
}

/// `YYYYMMDDhhmmsscc` (UTC), the time format of xorriso's date options.
pub fn iso_date(epoch: i64) -> String {
    let days = epoch.div_euclid(86_400);
    let secs = epoch.rem_euclid(86_400);
    let (y, m, d) = crate::civil::from_days(days);
    format!(
        "{y:04}{m:02}{d:02}{:02}{:02}{:02}00",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// xorriso's arguments for `spec` (mkisofs emulation, what lorax passes).
pub fn xorriso_args(spec: &IsoSpec) -> Vec<OsString> {
    let date = iso_date(spec.epoch);
    let mut a: Vec<OsString> = vec![
        // The GPT's disk GUID from the volume date, not random.
        "-boot_image".into(),
        "any".into(),
        "gpt_disk_guid=volume_date_uuid".into(),
        "-as".into(),
        "mkisofs".into(),
        "-o".into(),
        spec.out.as_os_str().into(),
        "-V".into(),
        spec.volume_id.as_str().into(),
        "-R".into(),
        "-J".into(),
        "-joliet-long".into(),
        format!("--modification-date={date}").into(),
        "--set_all_file_dates".into(),
        date.into(),
    ];
    if let Some(b) = &spec.bios {
        a.extend([
            "--grub2-mbr".into(),
            b.hybrid_mbr.as_os_str().into(),
            "-partition_offset".into(),
            "16".into(),
            "--mbr-force-bootable".into(),
        ]);
    }
    if let Some(efi) = &spec.efi {
        a.extend([
            "-append_partition".into(),
            "2".into(),
            "0xef".into(),
            efi.as_os_str().into(),
            "-appended_part_as_gpt".into(),
        ]);
    }
    // The ISO's own partition: "Microsoft basic data", as lorax marks it.
    a.extend([
        "-iso_mbr_part_type".into(),
        "a2a0d0ebe5b9334487c068b6b72699c7".into(),
        "-c".into(),
        "boot.catalog".into(),
        "--boot-catalog-hide".into(),
    ]);
    if let Some(b) = &spec.bios {
        a.extend([
            "-b".into(),
            b.eltorito.as_str().into(),
            "-no-emul-boot".into(),
            "-boot-load-size".into(),
            "4".into(),
            "-boot-info-table".into(),
            "--grub2-boot-info".into(),
        ]);
    }
    if spec.efi.is_some() {
        if spec.bios.is_some() {
            a.push("-eltorito-alt-boot".into());
        }
        a.extend([
            "-e".into(),
            "--interval:appended_partition_2:all::".into(),
            "-no-emul-boot".into(),
        ]);
    }
    a.push(spec.staging.as_os_str().into());
    a
}

fn sde_env(epoch: i64) -> Vec<(&'static str, String)> {
    vec![("SOURCE_DATE_EPOCH", epoch.to_string())]
}

/// Writes the ISO of `spec`.
pub fn xorriso(spec: &IsoSpec) -> Result<()> {
    run_with_env("xorriso", &xorriso_args(spec), &sde_env(spec.epoch))
        .context("writing the ISO (xorriso)")?;
    Ok(())
}

/// mksquashfs's arguments: zstd, owners and xattrs (SELinux labels,
/// capabilities) as the tree has them. Times come from SOURCE_DATE_EPOCH
/// in its environment (`mksquashfs`): squashfs-tools 4.5+ set the
/// filesystem's and every file's time from it, and refuse it together
/// with `-mkfs-time`/`-all-time`, so an inherited value could never clash.
pub fn mksquashfs_args(src: &Path, out: &Path, level: u32) -> Vec<OsString> {
    vec![
        src.as_os_str().into(),
        out.as_os_str().into(),
        "-noappend".into(),
        "-comp".into(),
        "zstd".into(),
        "-b".into(),
        "1M".into(),
        "-xattrs".into(),
        "-no-progress".into(),
        "-quiet".into(),
        "-Xcompression-level".into(),
        level.to_string().into(),
    ]
}

/// Packs `src` into the squashfs image `out` at zstd `level` (1 to 22).
pub fn mksquashfs(src: &Path, out: &Path, epoch: i64, level: u32) -> Result<()> {
    run_with_env(
        "mksquashfs",
        &mksquashfs_args(src, out, level),
        &sde_env(epoch),
    )
    .with_context(|| format!("packing {} (mksquashfs)", src.display()))?;
    Ok(())
}

/// Unpacks the squashfs `img` into `dest` (which must not exist).
pub fn unsquashfs(img: &Path, dest: &Path) -> Result<()> {
    let args: Vec<OsString> = vec![
        "-no-progress".into(),
        "-d".into(),
        dest.as_os_str().into(),
        img.as_os_str().into(),
    ];
    super::run("unsquashfs", &args).with_context(|| format!("unpacking {}", img.display()))?;
    Ok(())
}

/// Copies the file `path` (absolute inside the ISO) out of `iso` to `dest`.
pub fn extract(iso: &Path, path: &str, dest: &Path) -> Result<()> {
    let args: Vec<OsString> = vec![
        "-osirrox".into(),
        "on".into(),
        "-indev".into(),
        iso.as_os_str().into(),
        "-extract".into(),
        path.into(),
        dest.as_os_str().into(),
    ];
    super::run("xorriso", &args)
        .with_context(|| format!("extracting {path} from {}", iso.display()))?;
    Ok(())
}

/// A copy of `iso` at `out` whose file `path` is replaced by `with`, boot
/// records, hybrid MBR/GPT and appended partitions replayed as `iso` has
/// them (`-boot_image any replay`).
pub fn replace_file(iso: &Path, out: &Path, path: &str, with: &Path) -> Result<()> {
    let args: Vec<OsString> = vec![
        "-indev".into(),
        iso.as_os_str().into(),
        "-outdev".into(),
        out.as_os_str().into(),
        "-boot_image".into(),
        "any".into(),
        "replay".into(),
        "-update".into(),
        with.as_os_str().into(),
        path.into(),
        "-commit".into(),
    ];
    super::run("xorriso", &args)
        .with_context(|| format!("writing a copy of {} with a new {path}", iso.display()))?;
    Ok(())
}

/// Whether `file` starts like ISO 9660 media (`CD001` in the primary
/// volume descriptor at sector 16).
pub fn is_iso9660(file: &Path) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    let mut magic = [0u8; 5];
    std::fs::File::open(file)
        .and_then(|mut f| {
            f.seek(SeekFrom::Start(0x8001))?;
            f.read_exact(&mut magic)
        })
        .is_ok()
        && &magic == b"CD001"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(v: &[OsString]) -> Vec<String> {
        v.iter().map(|s| s.to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn dates() {
        assert_eq!(iso_date(1_700_000_000), "2023111422132000");
        assert_eq!(iso_date(0), "1970010100000000");
    }

    #[test]
    fn hybrid_media_arguments() {
        let mut spec = IsoSpec {
            staging: "/w/iso".into(),
            out: "/w/out.iso".into(),
            volume_id: "FIXTURE-LIVE".into(),
            epoch: 1_700_000_000,
            bios: Some(BiosBoot {
                eltorito: "images/eltorito.img".into(),
                hybrid_mbr: "/t/boot_hybrid.img".into(),
            }),
            efi: Some("/w/efiboot.img".into()),
        };
        let a = strs(&xorriso_args(&spec)).join(" ");
        assert_eq!(
            a,
            "-boot_image any gpt_disk_guid=volume_date_uuid -as mkisofs -o /w/out.iso \
             -V FIXTURE-LIVE -R -J -joliet-long --modification-date=2023111422132000 \
             --set_all_file_dates 2023111422132000 --grub2-mbr /t/boot_hybrid.img \
             -partition_offset 16 --mbr-force-bootable -append_partition 2 0xef /w/efiboot.img \
             -appended_part_as_gpt -iso_mbr_part_type a2a0d0ebe5b9334487c068b6b72699c7 \
             -c boot.catalog --boot-catalog-hide -b images/eltorito.img -no-emul-boot \
             -boot-load-size 4 -boot-info-table --grub2-boot-info -eltorito-alt-boot \
             -e --interval:appended_partition_2:all:: -no-emul-boot /w/iso"
        );
        // UEFI only (aarch64): no MBR code, no alternate entry.
        spec.bios = None;
        let a = strs(&xorriso_args(&spec));
        assert!(!a.contains(&"--grub2-mbr".to_string()));
        assert!(!a.contains(&"-eltorito-alt-boot".to_string()));
        assert!(a.contains(&"--interval:appended_partition_2:all::".to_string()));
    }

    #[test]
    fn squashfs_arguments() {
        let a = strs(&mksquashfs_args(Path::new("/t"), Path::new("/o.img"), 3)).join(" ");
        assert_eq!(
            a,
            "/t /o.img -noappend -comp zstd -b 1M -xattrs -no-progress -quiet -Xcompression-level 3"
        );
    }

    #[test]
    fn iso_magic() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("x");
        let mut b = vec![0u8; 0x8010];
        b[0x8001..0x8006].copy_from_slice(b"CD001");
        std::fs::write(&f, &b).unwrap();
        assert!(is_iso9660(&f));
        std::fs::write(&f, b"short").unwrap();
        assert!(!is_iso9660(&f));
    }
}
