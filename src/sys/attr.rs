//! Inode flags. `ostree admin deploy` marks every deployment root
//! immutable (`chattr +i`), so a booted system cannot write to `/`. In a
//! build the deployment is staged under a work directory that must be
//! removable afterwards (a failed or finished build leaves nothing behind),
//! so the flag is cleared once the deployment is written; the disk's
//! filesystem images never carried it anyway (neither `mkfs.ext4 -d` nor a
//! copy into XFS transfers inode flags).

use anyhow::{Context, Result};
use std::os::fd::AsRawFd;
use std::path::Path;

/// `FS_IMMUTABLE_FL` from linux/fs.h.
const IMMUTABLE: libc::c_long = 0x0000_0010;

/// Clears the immutable flag of `path` (a file or directory) if it is set.
/// A filesystem without inode flags (tmpfs before 6.0) has nothing to
/// clear: ENOTTY and EOPNOTSUPP are not errors.
pub fn clear_immutable(path: &Path) -> Result<()> {
    let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let fd = f.as_raw_fd();
    let mut flags: libc::c_long = 0;
    // SAFETY: fd is open for the duration of the call; FS_IOC_GETFLAGS
    // writes one long into `flags`, which lives on our stack.
    let r = unsafe { libc::ioctl(fd, libc::FS_IOC_GETFLAGS, &mut flags) };
    if r != 0 {
        let e = std::io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::ENOTTY) | Some(libc::EOPNOTSUPP) => Ok(()),
            _ => Err(e).with_context(|| format!("reading the inode flags of {}", path.display())),
        };
    }
    if flags & IMMUTABLE == 0 {
        return Ok(());
    }
    flags &= !IMMUTABLE;
    // SAFETY: as above; FS_IOC_SETFLAGS reads one long from `flags`.
    let r = unsafe { libc::ioctl(fd, libc::FS_IOC_SETFLAGS, &flags) };
    if r != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("clearing the immutable flag of {}", path.display()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_directory_is_left_as_it_is() {
        let d = tempfile::tempdir().unwrap();
        clear_immutable(d.path()).unwrap();
        std::fs::write(d.path().join("x"), "y").unwrap();
    }

    #[test]
    fn an_immutable_directory_becomes_removable() {
        // Needs CAP_LINUX_IMMUTABLE and a filesystem with inode flags.
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("dep");
        std::fs::create_dir(&p).unwrap();
        // Set the flag the way ostree does (FS_IOC_SETFLAGS), no chattr.
        let f = std::fs::File::open(&p).unwrap();
        let mut flags: libc::c_long = 0;
        // SAFETY: as in clear_immutable; `f` outlives both calls.
        let got = unsafe { libc::ioctl(f.as_raw_fd(), libc::FS_IOC_GETFLAGS, &mut flags) };
        flags |= IMMUTABLE;
        // SAFETY: as above.
        let set =
            got == 0 && unsafe { libc::ioctl(f.as_raw_fd(), libc::FS_IOC_SETFLAGS, &flags) } == 0;
        if !set {
            eprintln!("cannot set the immutable flag here; nothing to clear");
            return;
        }
        assert!(std::fs::write(p.join("x"), "y").is_err(), "immutable");
        clear_immutable(&p).unwrap();
        std::fs::write(p.join("x"), "y").unwrap();
    }
}
