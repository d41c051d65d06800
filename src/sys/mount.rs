//! A filesystem mounted on a private directory, unmounted when the guard
//! drops (lazily, if a plain unmount fails, so the guard never leaves a
//! mount behind for the next run to trip over).

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// A mounted filesystem.
#[derive(Debug)]
pub struct Mount {
    target: Option<PathBuf>,
}

impl Mount {
    /// Mounts `source` on `target` (an existing directory) with `options`
    /// (`-o` list; empty for defaults).
    pub fn new(source: &Path, target: &Path, options: &str) -> Result<Self> {
        let mut args: Vec<&std::ffi::OsStr> = vec![];
        if !options.is_empty() {
            args.extend([std::ffi::OsStr::new("-o"), std::ffi::OsStr::new(options)]);
        }
        args.extend([source.as_os_str(), target.as_os_str()]);
        crate::tools::run("mount", &args)
            .with_context(|| format!("mounting {} on {}", source.display(), target.display()))?;
        Ok(Self {
            target: Some(target.to_path_buf()),
        })
    }

    /// Where it is mounted.
    pub fn path(&self) -> &Path {
        self.target.as_deref().unwrap_or(Path::new(""))
    }

    /// Unmounts now, reporting failure.
    pub fn release(mut self) -> Result<()> {
        match self.target.take() {
            Some(t) => unmount(&t),
            None => Ok(()),
        }
    }
}

fn unmount(target: &Path) -> Result<()> {
    match crate::tools::run("umount", &[target.as_os_str()]) {
        Ok(_) => Ok(()),
        Err(e) => {
            // Busy: detach it from the namespace now, free it when unused.
            crate::tools::run("umount", &["-l".as_ref(), target.as_os_str()])
                .map(|_| ())
                .with_context(|| format!("unmounting {} ({e:#})", target.display()))
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if let Some(t) = self.target.take() {
            if let Err(e) = unmount(&t) {
                crate::report::info(format!("warning: {e:#}"));
            }
        }
    }
}
