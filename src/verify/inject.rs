//! Puts the guest report unit into a throwaway copy of an image, so any
//! disk image — a production qcow2 included — can be booted and report.
//!
//! The artifact itself is never opened for writing: it is converted to a
//! sparse raw copy in the work directory, the copy is attached to a loop
//! device, its root partition mounted, the report script, the unit and the
//! `multi-user.target.wants` link written, and everything released again
//! through the `sys` guards (also on error). Paths inside the image are
//! resolved like a chroot would, so a symlink in the image can never make
//! us write to the host.
//!
//! The root partition is the one with the Discoverable Partitions root
//! type of the arch, else the largest Linux data partition; it must look
//! like a root filesystem (`etc/os-release` or `usr/lib/os-release`), or
//! hold one OSTree deployment (a disk made from a bootc image), whose
//! directory then takes the unit: its `/etc` is what boots. LVM roots are
//! not handled.

use anyhow::{bail, Context, Result};
use std::path::{Component, Path, PathBuf};

use super::guest;
use super::qemu::DiskFormat;
use crate::distro::arch::Arch;
use crate::sys::{loopdev::LoopDevice, mount::Mount};

/// Linux filesystem data (GPT) — the generic type.
const LINUX_DATA: &str = "0fc63daf-8483-4772-8e79-3d69d8477de4";

/// Unit file name (the unit's own name decides the link name).
pub const UNIT_NAME: &str = "image-builder-report.service";

/// One partition as `sfdisk --json` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// 1-based partition number.
    pub number: u32,
    /// Lowercase GPT type GUID, or the MBR type in hex (`83`).
    pub kind: String,
    /// First sector and length in sectors.
    pub start: u64,
    pub sectors: u64,
}

/// Parses `sfdisk --json DISK`.
pub fn parse_sfdisk(json: &str) -> Result<(u64, Vec<Part>)> {
    let v: serde_json::Value = serde_json::from_str(json).context("reading sfdisk output")?;
    let sector = v
        .pointer("/partitiontable/sectorsize")
        .and_then(|s| s.as_u64())
        .unwrap_or(512);
    let parts = v
        .pointer("/partitiontable/partitions")
        .and_then(|p| p.as_array())
        .cloned()
        .unwrap_or_default();
    let mut out = vec![];
    for p in parts {
        let node = p.get("node").and_then(|n| n.as_str()).unwrap_or("");
        // The number is the node's trailing digits (`disk.raw2`, `/dev/loop0p2`).
        let digits: String = node
            .chars()
            .rev()
            .take_while(|c| c.is_ascii_digit())
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let Ok(number) = digits.parse::<u32>() else {
            continue;
        };
        let kind = p
            .get("type")
            .and_then(|t| t.as_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        let start = p.get("start").and_then(|s| s.as_u64()).unwrap_or(0);
        let sectors = p.get("size").and_then(|s| s.as_u64()).unwrap_or(0);
        out.push(Part {
            number,
            kind,
            start,
            sectors,
        });
    }
    Ok((sector, out))
}

/// The root partition for `arch`: its DPS root type, else the largest
/// Linux data partition (GPT or MBR type 83).
pub fn pick_root<'a>(parts: &'a [Part], arch: &Arch) -> Option<&'a Part> {
    if let Some(p) = parts.iter().find(|p| p.kind == arch.root_guid) {
        return Some(p);
    }
    parts
        .iter()
        .filter(|p| p.kind == LINUX_DATA || p.kind == "83")
        .max_by_key(|p| p.sectors)
}

/// The program a unit's `ExecStart=` runs (prefixes like `-` or `!`
/// removed).
pub fn exec_path(unit: &str) -> Option<String> {
    unit.lines().find_map(|l| {
        let v = l.trim().strip_prefix("ExecStart=")?;
        let v = v.trim_start_matches(['-', '@', ':', '+', '!']);
        let p = v.split_whitespace().next()?;
        p.starts_with('/').then(|| p.to_string())
    })
}

/// `path` (absolute inside the image) as a host path under `root`,
/// resolving symlinks of the parent directories inside `root` (absolute
/// links are relative to `root`; `..` stops at `root`). The last component
/// is not followed. Missing parent directories are created.
pub fn resolve_in_root(root: &Path, path: &str) -> Result<PathBuf> {
    let rel = Path::new(path.trim_start_matches('/'));
    if rel
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        bail!("{path}: not a plain absolute path");
    }
    let (Some(parent), Some(last)) = (rel.parent(), rel.file_name()) else {
        bail!("{path}: no file name");
    };
    // The same chroot-like resolution the customizations use.
    let dir = crate::tree::customize::files::resolve(root, &parent.to_string_lossy())?;
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir.join(last))
}

/// Replaces whatever is at `host` (never following a link there).
fn clear(host: &Path) -> Result<()> {
    match std::fs::symlink_metadata(host) {
        Ok(m) if m.is_dir() => bail!("{} is a directory", host.display()),
        Ok(_) => std::fs::remove_file(host).with_context(|| format!("removing {}", host.display())),
        Err(_) => Ok(()),
    }
}

/// Sets an SELinux label as an xattr (the host needs no SELinux for that).
fn label(host: &Path, context: &str) -> Result<()> {
    let mut v = context.as_bytes().to_vec();
    v.push(0);
    xattr::set(host, "security.selinux", &v).with_context(|| format!("labeling {}", host.display()))
}

/// Writes the report script, unit and wants link into the mounted root.
pub fn write_unit(root: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    // The script's own path, not ExecStart='s program (that is /bin/sh).
    let script = guest::REPORT_SH_PATH.to_string();
    let unit_path = format!("/etc/systemd/system/{UNIT_NAME}");
    let link_path = format!("/etc/systemd/system/multi-user.target.wants/{UNIT_NAME}");
    // Labels matter only where SELinux policy will run.
    let selinux = root.join("etc/selinux/config").is_file();

    let s = resolve_in_root(root, &script)?;
    clear(&s)?;
    std::fs::write(&s, guest::REPORT_SH).with_context(|| format!("writing {}", s.display()))?;
    std::fs::set_permissions(&s, std::fs::Permissions::from_mode(0o755))?;
    let u = resolve_in_root(root, &unit_path)?;
    clear(&u)?;
    std::fs::write(&u, guest::REPORT_UNIT).with_context(|| format!("writing {}", u.display()))?;
    std::fs::set_permissions(&u, std::fs::Permissions::from_mode(0o644))?;
    let l = resolve_in_root(root, &link_path)?;
    clear(&l)?;
    std::os::unix::fs::symlink(&unit_path, &l)
        .with_context(|| format!("linking {}", l.display()))?;
    if selinux {
        label(&s, "system_u:object_r:bin_t:s0")?;
        label(&u, "system_u:object_r:systemd_unit_file_t:s0")?;
        // Labeling the link itself, not its target.
        let _ = xattr::set(
            &l,
            "security.selinux",
            b"system_u:object_r:systemd_unit_file_t:s0\0",
        );
    }
    Ok(())
}

/// The one deployment of an OSTree sysroot
/// (`ostree/deploy/STATEROOT/deploy/CSUM.N`) at `root`, if it is one.
pub fn ostree_deployment(root: &Path) -> Result<Option<PathBuf>> {
    let deploy = root.join("ostree/deploy");
    if !deploy.is_dir() || deploy.is_symlink() {
        return Ok(None);
    }
    let mut found = vec![];
    for st in std::fs::read_dir(&deploy)? {
        let d = st?.path().join("deploy");
        if !d.is_dir() {
            continue;
        }
        for e in std::fs::read_dir(&d)? {
            let e = e?;
            if e.file_type()?.is_dir() {
                found.push(e.path());
            }
        }
    }
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.pop()),
        n => bail!("the OSTree sysroot has {n} deployments; the report unit goes into exactly one"),
    }
}

/// The sector size and partitions of a raw disk image; none when it has
/// no table.
fn partitions(raw: &Path) -> Result<(u64, Vec<Part>)> {
    match crate::tools::run("sfdisk", &["--json".as_ref(), raw.as_os_str()]) {
        Ok(out) => parse_sfdisk(&String::from_utf8_lossy(&out.stdout)),
        Err(_) => Ok((512, vec![])),
    }
}

/// The raw copy of `artifact` with the report unit in its root
/// filesystem, written under `workdir`; None when the image has no root
/// partition to write into (then it is booted as it is and must report by
/// itself).
pub fn prepare(
    artifact: &Path,
    format: DiskFormat,
    arch: &Arch,
    workdir: &Path,
) -> Result<Option<PathBuf>> {
    let copy = workdir.join("injected.raw");
    let convert = |dst: &Path| -> Result<()> {
        crate::tools::run(
            "qemu-img",
            &[
                "convert".as_ref(),
                "-f".as_ref(),
                format.name().as_ref(),
                "-O".as_ref(),
                "raw".as_ref(),
                artifact.as_os_str(),
                dst.as_os_str(),
            ],
        )
        .map(|_| ())
        .context("copying the image")
    };
    // A raw artifact's table is read in place (read-only); others first
    // become the raw copy.
    let (sector, parts) = if format == DiskFormat::Raw {
        partitions(artifact)?
    } else {
        convert(&copy)?;
        partitions(&copy)?
    };
    let Some(root) = pick_root(&parts, arch) else {
        let _ = std::fs::remove_file(&copy);
        return Ok(None);
    };
    let n = root.number;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("partition {n} looks like a root filesystem; writing the report unit into it needs root (loop devices, mount)");
    }
    if format == DiskFormat::Raw {
        convert(&copy)?;
    }
    let dir = workdir.join("root");
    std::fs::create_dir_all(&dir)?;
    // The partition alone, by its byte range: needs no partition scanning
    // or udev, which containers often lack.
    let lo = LoopDevice::attach_range(&copy, root.start * sector, root.sectors * sector)?;
    let dev = lo.path().to_path_buf();
    let fstype = crate::tools::run_any_status(
        "blkid",
        &[
            "-o".as_ref(),
            "value".as_ref(),
            "-s".as_ref(),
            "TYPE".as_ref(),
            dev.as_os_str(),
        ],
    )
    .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    .unwrap_or_default();
    // XFS refuses a second filesystem with a UUID already mounted.
    let opts = if fstype == "xfs" { "nouuid" } else { "" };
    let m = Mount::new(&dev, &dir, opts)?;
    let target = ostree_deployment(&dir)?.unwrap_or_else(|| dir.clone());
    if !target.join("etc/os-release").exists() && !target.join("usr/lib/os-release").exists() {
        bail!("partition {n} ({fstype}) has no os-release: not a root filesystem");
    }
    write_unit(&target).context("writing the report unit")?;
    m.release()?;
    lo.release()?;
    Ok(Some(copy))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::distro::arch::lookup;

    const SFDISK: &str = r#"{
      "partitiontable": {
        "label": "gpt", "unit": "sectors", "sectorsize": 512,
        "partitions": [
          {"node": "disk.raw1", "start": 2048, "size": 2048, "type": "21686148-6449-6E6F-744E-656564454649"},
          {"node": "disk.raw2", "start": 4096, "size": 204800, "type": "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"},
          {"node": "disk.raw3", "start": 208896, "size": 1048576, "type": "0FC63DAF-8483-4772-8E79-3D69D8477DE4"},
          {"node": "disk.raw4", "start": 1257472, "size": 8388608, "type": "0FC63DAF-8483-4772-8E79-3D69D8477DE4"}
        ]
      }
    }"#;

    #[test]
    fn root_partition_choice() {
        let (sector, parts) = parse_sfdisk(SFDISK).unwrap();
        assert_eq!(sector, 512);
        assert_eq!(parts.len(), 4);
        assert_eq!((parts[3].start, parts[3].sectors), (1257472, 8388608));
        let pick = |parts: &[Part], a| pick_root(parts, a).map(|p| p.number);
        assert_eq!(parts[2].kind, LINUX_DATA);
        let x86 = lookup("x86_64").unwrap();
        // No DPS root type: the largest Linux partition.
        assert_eq!(pick(&parts, x86), Some(4));
        // A DPS root type wins over size.
        let mut with_root = parts.clone();
        with_root[2].kind = x86.root_guid.to_string();
        assert_eq!(pick(&with_root, x86), Some(3));
        // The aarch64 root type is not the x86 one.
        let arm = lookup("aarch64").unwrap();
        assert_eq!(pick(&with_root, arm), Some(4));
        // ESP only: nothing to inject into.
        assert_eq!(pick(&parts[..2], x86), None);
        // MBR.
        let (_, mbr) = parse_sfdisk(
            r#"{"partitiontable":{"label":"dos","partitions":[
              {"node":"/dev/loop0p1","size":100,"type":"ef"},
              {"node":"/dev/loop0p2","size":900,"type":"83"}]}}"#,
        )
        .unwrap();
        assert_eq!(pick(&mbr, x86), Some(2));
        assert!(parse_sfdisk("{}").unwrap().1.is_empty());
        assert!(parse_sfdisk("nope").is_err());
    }

    #[test]
    fn exec_paths() {
        assert_eq!(
            exec_path("[Service]\nExecStart=/usr/libexec/image-builder/report.sh --x\n"),
            Some("/usr/libexec/image-builder/report.sh".into())
        );
        assert_eq!(exec_path("ExecStart=-/bin/r\n"), Some("/bin/r".into()));
        assert_eq!(exec_path("ExecStart=report.sh\n"), None);
        assert!(exec_path(guest::REPORT_UNIT).is_some());
    }

    #[test]
    fn symlinks_in_the_image_stay_in_the_image() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        std::fs::create_dir_all(r.join("usr/lib")).unwrap();
        std::os::unix::fs::symlink("usr/lib", r.join("lib")).unwrap();
        // An absolute link that would point at the host's /etc.
        std::fs::create_dir_all(r.join("etc/systemd")).unwrap();
        std::os::unix::fs::symlink("/elsewhere", r.join("etc/systemd/system")).unwrap();
        std::os::unix::fs::symlink("../../../../..", r.join("usr/lib/up")).unwrap();

        assert_eq!(
            resolve_in_root(r, "/lib/x/f").unwrap(),
            r.join("usr/lib/x/f")
        );
        assert_eq!(
            resolve_in_root(r, "/etc/systemd/system/u.service").unwrap(),
            r.join("elsewhere/u.service")
        );
        assert_eq!(
            resolve_in_root(r, "/lib/up/etc/f").unwrap(),
            r.join("etc/f")
        );
        assert!(resolve_in_root(r, "/../f").is_err());
        assert!(resolve_in_root(r, "/").is_err());
    }

    #[test]
    fn the_one_ostree_deployment_takes_the_unit() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(ostree_deployment(d.path()).unwrap(), None);
        let dep = d.path().join("ostree/deploy/default/deploy/abc.0");
        std::fs::create_dir_all(&dep).unwrap();
        std::fs::write(
            d.path().join("ostree/deploy/default/deploy/abc.0.origin"),
            "",
        )
        .unwrap();
        assert_eq!(ostree_deployment(d.path()).unwrap(), Some(dep));
        std::fs::create_dir_all(d.path().join("ostree/deploy/other/deploy/def.0")).unwrap();
        assert!(ostree_deployment(d.path()).is_err());
    }

    #[test]
    fn unit_written_into_a_tree() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        std::fs::create_dir_all(r.join("etc")).unwrap();
        write_unit(r).unwrap();
        let s = r.join(guest::REPORT_SH_PATH.trim_start_matches('/'));
        assert!(!r.join("bin/sh").exists(), "never overwrite the shell");
        assert_eq!(std::fs::read_to_string(&s).unwrap(), guest::REPORT_SH);
        let link = r
            .join("etc/systemd/system/multi-user.target.wants")
            .join(UNIT_NAME);
        assert_eq!(
            std::fs::read_link(&link).unwrap(),
            PathBuf::from(format!("/etc/systemd/system/{UNIT_NAME}"))
        );
        // Idempotent.
        write_unit(r).unwrap();
    }
}
