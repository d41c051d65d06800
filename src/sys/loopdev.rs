//! A loop device attached to an image file, with its partitions scanned
//! (`losetup -P`), detached when the guard drops.
//!
//! The guard also holds the device open with the kernel's autoclear flag
//! set, so a build killed by SIGKILL (no destructor runs) still loses its
//! loop devices: the kernel closes the descriptor, and the last close of an
//! autoclear device detaches it (once its mounts are gone with the build's
//! private mount namespace, `sys::ns`).

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// An attached loop device (`/dev/loopN`).
#[derive(Debug)]
pub struct LoopDevice {
    dev: Option<PathBuf>,
    /// Held open so the autoclear flag detaches the device when this
    /// process dies, however it dies. Dropped after `dev` is detached.
    _held: Option<std::fs::File>,
}

impl LoopDevice {
    /// Attaches `image` read-write with partition scanning (`losetup -P`).
    pub fn attach(image: &Path) -> Result<Self> {
        Self::losetup(image, &["-P"])
    }

    /// Attaches the byte range `offset..offset+size` of `image` read-write:
    /// one partition as a whole device. Works where partition scanning does
    /// not (containers whose /dev gets no partition nodes).
    pub fn attach_range(image: &Path, offset: u64, size: u64) -> Result<Self> {
        let (o, s) = (offset.to_string(), size.to_string());
        Self::losetup(image, &["-o", &o, "--sizelimit", &s])
    }

    fn losetup(image: &Path, opts: &[&str]) -> Result<Self> {
        let mut args: Vec<&std::ffi::OsStr> = opts.iter().map(std::ffi::OsStr::new).collect();
        args.extend([
            std::ffi::OsStr::new("--show"),
            std::ffi::OsStr::new("-f"),
            image.as_os_str(),
        ]);
        let out = crate::tools::run("losetup", &args)
            .with_context(|| format!("attaching {} to a loop device", image.display()))?;
        let dev = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !dev.starts_with("/dev/") {
            anyhow::bail!("losetup printed no device for {}", image.display());
        }
        crate::report::debug(format!("attached {} as {dev}", image.display()));
        let held = match autoclear(Path::new(&dev)) {
            Ok(f) => Some(f),
            Err(e) => {
                crate::report::debug(format!("{dev}: no autoclear: {e:#}"));
                None
            }
        };
        Ok(Self {
            dev: Some(dev.into()),
            _held: held,
        })
    }

    /// The device path.
    pub fn path(&self) -> &Path {
        self.dev.as_deref().unwrap_or(Path::new(""))
    }

    /// The device node of partition `n` (1-based): `/dev/loop3p2`. Waits
    /// briefly for udev-less hosts where the node appears a moment late.
    pub fn partition(&self, n: u32) -> Result<PathBuf> {
        let p = partition_node(self.path(), n);
        for _ in 0..50 {
            if p.exists() {
                return Ok(p);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        anyhow::bail!("partition node {} did not appear", p.display())
    }

    /// Detaches now, reporting failure.
    pub fn release(mut self) -> Result<()> {
        match self.dev.take() {
            Some(d) => detach(&d),
            None => Ok(()),
        }
    }
}

/// `struct loop_info64` from linux/loop.h.
#[repr(C)]
struct LoopInfo64 {
    device: u64,
    inode: u64,
    rdevice: u64,
    offset: u64,
    sizelimit: u64,
    number: u32,
    encrypt_type: u32,
    encrypt_key_size: u32,
    flags: u32,
    file_name: [u8; 64],
    crypt_name: [u8; 64],
    encrypt_key: [u8; 32],
    init: [u64; 2],
}

const LOOP_SET_STATUS64: libc::Ioctl = 0x4C04;
const LOOP_GET_STATUS64: libc::Ioctl = 0x4C05;
const LO_FLAGS_AUTOCLEAR: u32 = 4;

/// Sets the autoclear flag of `dev` and returns it open.
fn autoclear(dev: &Path) -> Result<std::fs::File> {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(dev).with_context(|| format!("opening {}", dev.display()))?;
    // SAFETY: an all-zero loop_info64 is a valid value (integers and
    // byte arrays).
    let mut info: LoopInfo64 = unsafe { std::mem::zeroed() };
    // SAFETY: the fd is open; the kernel fills `info`, which lives on our
    // stack and has the layout of struct loop_info64.
    if unsafe { libc::ioctl(f.as_raw_fd(), LOOP_GET_STATUS64, &mut info) } != 0 {
        return Err(std::io::Error::last_os_error()).context("LOOP_GET_STATUS64");
    }
    info.flags |= LO_FLAGS_AUTOCLEAR;
    // SAFETY: as above; the kernel reads `info`.
    if unsafe { libc::ioctl(f.as_raw_fd(), LOOP_SET_STATUS64, &info) } != 0 {
        return Err(std::io::Error::last_os_error()).context("LOOP_SET_STATUS64");
    }
    Ok(f)
}

fn detach(dev: &Path) -> Result<()> {
    crate::tools::run("losetup", &["-d".as_ref(), dev.as_os_str()])
        .map(|_| ())
        .with_context(|| format!("detaching {}", dev.display()))
}

/// `/dev/loop3` + 2 → `/dev/loop3p2`.
pub fn partition_node(dev: &Path, n: u32) -> PathBuf {
    PathBuf::from(format!("{}p{n}", dev.display()))
}

impl Drop for LoopDevice {
    fn drop(&mut self) {
        if let Some(d) = self.dev.take() {
            if let Err(e) = detach(&d) {
                crate::report::info(format!("warning: {e:#}"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_nodes() {
        assert_eq!(
            partition_node(Path::new("/dev/loop3"), 2),
            PathBuf::from("/dev/loop3p2")
        );
        assert_eq!(
            partition_node(Path::new("/dev/loop12"), 10),
            PathBuf::from("/dev/loop12p10")
        );
    }
}
