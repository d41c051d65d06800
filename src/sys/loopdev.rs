//! A loop device attached to an image file, with its partitions scanned
//! (`losetup -P`), detached when the guard drops.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// An attached loop device (`/dev/loopN`).
#[derive(Debug)]
pub struct LoopDevice {
    dev: Option<PathBuf>,
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
        Ok(Self {
            dev: Some(dev.into()),
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
