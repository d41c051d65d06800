//! `[[build.script]]`: the manifest's own commands, run in order chrooted
//! in the finished tree, after the customizations and before SELinux
//! labelling (so whatever they write is labelled too) and before any
//! artifact's lints. Because it runs here, in `tree::make`, it works the
//! same for package trees, derived bootc images and the trees of disks
//! and OSTree commits.
//!
//! Each script runs through `tools::sandbox` (private mount, PID and, by
//! default, network namespaces; see there). Its environment is PATH,
//! HOME, LANG and `SOURCE_DATE_EPOCH`, `IMAGE_BUILDER_ARCH`,
//! `IMAGE_BUILDER_OUTPUT`; every line it prints goes to the build log as
//! it comes. A script that fails fails the build, naming the script, its
//! exit status and the end of its output.

use crate::plan::ScriptPlan;
use anyhow::{bail, Context, Result};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Who the scripts run for, and where their lines go.
pub struct Env<'a> {
    pub root: &'a Path,
    pub source_date_epoch: i64,
    /// The target's arch (`x86_64`, `x86_64_v2`, `aarch64`, …).
    pub arch: &'a str,
    /// The output the tree is built for.
    pub output: &'a str,
    /// `(script name, line)` for every line a script prints.
    pub on_line: &'a dyn Fn(&str, &str),
}

/// Runs `scripts` in order; returns their names.
pub fn run(env: &Env, scripts: &[ScriptPlan]) -> Result<Vec<String>> {
    let mut done = vec![];
    if scripts.is_empty() {
        return Ok(done);
    }
    let made = mount_points(env.root)?;
    let result = scripts.iter().try_for_each(|s| {
        one(env, s)?;
        done.push(s.name.clone());
        Ok(())
    });
    // Mount points the tree did not have go again (they held only what
    // the namespace mounted, which is gone with it).
    for d in made.iter().rev() {
        let _ = std::fs::remove_dir(d);
    }
    result.map(|()| done)
}

fn one(env: &Env, s: &ScriptPlan) -> Result<()> {
    check_interpreter(env.root, &s.name, &s.interpreter)?;
    crate::report::info(format!(
        "running build script {:?} ({}, network {})",
        s.name,
        s.interpreter,
        if s.network { "on" } else { "off" }
    ));
    let vars = [
        ("SOURCE_DATE_EPOCH", env.source_date_epoch.to_string()),
        ("IMAGE_BUILDER_ARCH", env.arch.to_string()),
        ("IMAGE_BUILDER_OUTPUT", env.output.to_string()),
    ];
    let mut on_line = |l: &str| (env.on_line)(&s.name, l);
    let f = crate::tools::sandbox::run(
        env.root,
        s.network,
        &s.interpreter,
        &s.contents,
        &vars,
        &mut on_line,
    )
    .with_context(|| format!("build script {:?}", s.name))?;
    if f.setup_failed {
        bail!(
            "build script {:?} did not run: its sandbox could not be set up:\n{}",
            s.name,
            f.tail
        );
    }
    if !f.success() {
        let out = if f.tail.is_empty() {
            " and printed nothing".to_string()
        } else {
            format!("; its output ended with:\n{}", f.tail)
        };
        bail!("build script {:?} failed with {}{out}", s.name, f.status());
    }
    Ok(())
}

/// The interpreter must be an executable file in the tree (links
/// followed inside it), not on the host.
pub fn check_interpreter(root: &Path, name: &str, interpreter: &str) -> Result<()> {
    let host = super::customize::files::resolve(root, interpreter)?;
    let ok = std::fs::metadata(&host)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false);
    if !ok {
        bail!(
            "build script {name:?}: its interpreter {interpreter} is not an executable file in the tree; \
             install the package that provides it, or set `interpreter` to one the tree has"
        );
    }
    Ok(())
}

/// Creates the sandbox's mount points the tree lacks (a fixture tree has
/// no `filesystem` package); returns the ones made. A mount point that is
/// not a plain directory is refused: a mount would follow a symlink out
/// of the tree.
fn mount_points(root: &Path) -> Result<Vec<std::path::PathBuf>> {
    let mut made = vec![];
    for m in crate::tools::sandbox::MOUNT_POINTS {
        let p = root.join(m);
        match std::fs::symlink_metadata(&p) {
            Ok(md) if md.is_dir() => {}
            Ok(_) => bail!(
                "build scripts need /{m} in the tree to be a directory, and it is not ({})",
                p.display()
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir(&p).with_context(|| format!("creating {}", p.display()))?;
                made.push(p);
            }
            Err(e) => return Err(e).with_context(|| format!("inspecting {}", p.display())),
        }
    }
    Ok(made)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpreters_are_looked_up_in_the_tree() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        std::fs::create_dir_all(root.join("usr/bin")).unwrap();
        std::os::unix::fs::symlink("usr/bin", root.join("bin")).unwrap();
        std::fs::write(root.join("usr/bin/busybox"), "").unwrap();
        std::fs::set_permissions(
            root.join("usr/bin/busybox"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        // An absolute link resolves inside the tree, not on the host.
        std::os::unix::fs::symlink("/usr/bin/busybox", root.join("usr/bin/sh")).unwrap();
        assert!(check_interpreter(root, "s", "/bin/sh").is_ok());
        std::fs::write(root.join("usr/bin/data"), "").unwrap();
        let e = check_interpreter(root, "s", "/usr/bin/data").unwrap_err();
        assert!(e.to_string().contains("not an executable file"), "{e}");
        // The host has /bin/bash; the tree does not.
        let e = check_interpreter(root, "setup", "/bin/bash").unwrap_err();
        assert!(
            e.to_string()
                .contains("\"setup\": its interpreter /bin/bash"),
            "{e}"
        );
    }

    #[test]
    fn mount_points_are_made_and_symlinks_refused() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        std::fs::create_dir(root.join("proc")).unwrap();
        let made = mount_points(root).unwrap();
        assert_eq!(made.len(), 3, "{made:?}");
        for m in crate::tools::sandbox::MOUNT_POINTS {
            assert!(root.join(m).is_dir());
        }
        std::fs::remove_dir(root.join("run")).unwrap();
        std::os::unix::fs::symlink("/run", root.join("run")).unwrap();
        let e = mount_points(root).unwrap_err();
        assert!(e.to_string().contains("/run in the tree"), "{e}");
    }
}
