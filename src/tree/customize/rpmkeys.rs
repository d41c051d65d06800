//! `[customizations.rpm.import_keys]`: trust extra signing keys in the
//! image's rpm database, as `rpm --import` on the booted system would.
//!
//! Why the host's `rpmkeys` and not the tree's: importing is a database
//! write, and the host rpm pointed at the tree's db (`rpmdb::rpm_args`)
//! does it without chrooting or needing the tree's rpm to run on this
//! host. The key files are paths inside the image (a package or
//! `[[customizations.files]]` put them there); they are resolved inside
//! the tree, symlinks included, so a link cannot make rpm read a file of
//! the build host.

use super::services::chase;
use super::{in_root, Env};
use crate::manifest::blueprint::*;
use anyhow::{bail, Context, Result};

pub fn import_keys(env: &Env, r: &Rpm) -> Result<()> {
    let Some(keys) = &r.import_keys else {
        return Ok(());
    };
    let root = &env.root;
    for file in &keys.files {
        crate::manifest::rules::image_path(file)
            .with_context(|| format!("key file {file}: must be a path inside the image"))?;
        env.host_path(file)?; // refuses `..`
        let host = in_root(root, &chase(root, file)?)?;
        if !host.is_file() {
            bail!("key file {file} does not exist in the image; add it with a package or [[customizations.files]]");
        }
        let mut args = crate::tree::rpmdb::rpm_args(root);
        args.push("--import".into());
        args.push(host.display().to_string());
        crate::tools::run("rpmkeys", &args).with_context(|| format!("importing key {file}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn env(root: &Path) -> Env {
        Env {
            root: root.to_path_buf(),
            manifest_dir: root.to_path_buf(),
            source_date_epoch: 0,
            releasever: "9".into(),
        }
    }

    fn rpm(files: &[&str]) -> Rpm {
        Rpm {
            import_keys: Some(RpmImportKeys {
                files: files.iter().map(|s| s.to_string()).collect(),
            }),
        }
    }

    fn pubkeys(root: &Path) -> String {
        let mut args = crate::tree::rpmdb::rpm_args(root);
        args.extend(
            [
                "-q",
                "gpg-pubkey",
                "--qf",
                "%{NAME}-%{VERSION}-%{RELEASE} %{SUMMARY}\\n",
            ]
            .map(String::from),
        );
        // rpm fails with "package gpg-pubkey is not installed" when none is.
        let Ok(out) = crate::tools::run("rpm", &args) else {
            return String::new();
        };
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    #[test]
    fn imports_the_fixture_key_into_an_empty_tree() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        let key = Path::new(&crate::plan::fixture_root()).join("keys/RPM-GPG-KEY-fixture");
        std::fs::create_dir_all(r.join("etc/pki/rpm-gpg")).unwrap();
        std::fs::copy(&key, r.join("etc/pki/rpm-gpg/RPM-GPG-KEY-fixture")).unwrap();
        // Through an in-tree absolute symlink, as packages ship them.
        std::os::unix::fs::symlink(
            "/etc/pki/rpm-gpg/RPM-GPG-KEY-fixture",
            r.join("etc/pki/link"),
        )
        .unwrap();
        assert_eq!(pubkeys(r), "");
        import_keys(&env(r), &rpm(&["/etc/pki/link"])).unwrap();
        let listed = pubkeys(r);
        assert_eq!(listed.lines().count(), 1, "{listed}");
        assert!(listed.starts_with("gpg-pubkey-"), "{listed}");
        // Importing again is harmless and adds nothing.
        import_keys(&env(r), &rpm(&["/etc/pki/rpm-gpg/RPM-GPG-KEY-fixture"])).unwrap();
        assert_eq!(pubkeys(r), listed);
    }

    #[test]
    fn missing_or_bad_key_files_are_errors() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        let e = import_keys(&env(r), &rpm(&["/etc/pki/none"])).unwrap_err();
        assert!(
            format!("{e:#}").contains("/etc/pki/none does not exist"),
            "{e:#}"
        );
        assert!(import_keys(&env(r), &rpm(&["/../etc/passwd"])).is_err());
        assert!(import_keys(&env(r), &rpm(&["etc/x"])).is_err());
        std::fs::create_dir_all(r.join("etc")).unwrap();
        std::fs::write(r.join("etc/junk"), "not a key").unwrap();
        let e = import_keys(&env(r), &rpm(&["/etc/junk"])).unwrap_err();
        assert!(
            format!("{e:#}").contains("importing key /etc/junk"),
            "{e:#}"
        );
        // A link out of the tree is resolved inside it.
        std::os::unix::fs::symlink("/etc/hostname", r.join("etc/escape")).unwrap();
        let e = import_keys(&env(r), &rpm(&["/etc/escape"])).unwrap_err();
        assert!(format!("{e:#}").contains("does not exist"), "{e:#}");
    }
}
