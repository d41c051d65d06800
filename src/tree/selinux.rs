//! SELinux labelling with the tree's own file_contexts.
//!
//! Why at build time: an image whose files carry no `security.selinux`
//! labels either boots into a full relabel (slow, and impossible on a
//! read-only root) or fails in enforcing mode. The labels must come from
//! the policy the image ships, not the build host's (Debian has none), so
//! the host's `setfiles` (policycoreutils) is pointed at the tree's
//! file_contexts with `-r ROOT`, which strips ROOT before matching paths.
//! `setfiles` works on a host with SELinux disabled: it only writes the
//! xattrs (root may set `security.*` on ext4/xfs) and does not validate
//! contexts against a loaded policy. `-F` resets user, role and type even
//! if a file already carries a label (files copied from the host may).

use crate::tree::customize::in_root;
use anyhow::{bail, Context, Result};
use std::path::Path;

/// libselinux's default when the config names no SELINUXTYPE.
const DEFAULT_TYPE: &str = "targeted";

/// Labels every file under `root` when the tree carries a policy
/// (/etc/selinux/config names a SELINUXTYPE whose file_contexts exist);
/// returns whether it labelled.
pub fn label(root: &Path) -> Result<bool> {
    let config = root.join("etc/selinux/config");
    let text = match std::fs::read_to_string(&config) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e).context("reading /etc/selinux/config"),
    };
    let policy = policy_type(&text)?;
    let rel = format!("/etc/selinux/{policy}/contexts/files/file_contexts");
    let fc = in_root(root, &rel)?;
    if !fc.is_file() {
        bail!("/etc/selinux/config names SELINUXTYPE={policy} but {rel} is not in the tree; add the selinux-policy-{policy} package");
    }
    let args = [
        "-F".as_ref(),
        "-r".as_ref(),
        root.as_os_str(),
        fc.as_os_str(),
        root.as_os_str(),
    ];
    crate::tools::run("setfiles", &args)
        .with_context(|| format!("labelling the tree with {rel}"))?;
    Ok(true)
}

/// The last `SELINUXTYPE=` in the config (comments skipped, quotes
/// stripped), else the default.
fn policy_type(config: &str) -> Result<String> {
    let value = config
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.strip_prefix("SELINUXTYPE="))
        .map(|v| v.trim().trim_matches('"').trim_matches('\'').to_string())
        .next_back()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| DEFAULT_TYPE.into());
    if value.starts_with('.')
        || !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        bail!("/etc/selinux/config: SELINUXTYPE={value} is not a policy name");
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    const FILE_CONTEXTS: &str = "\
/.*\tsystem_u:object_r:default_t:s0
/usr/bin(/.*)?\tsystem_u:object_r:bin_t:s0
/var/log(/.*)?\tsystem_u:object_r:var_log_t:s0
/tmp\t-d\tsystem_u:object_r:tmp_t:s0
/tmp/.*\t<<none>>
/etc/selinux(/.*)?\tsystem_u:object_r:selinux_config_t:s0
";

    fn write(root: &Path, path: &str, text: &str) {
        let p = root.join(path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }

    /// The file's label, or None without one.
    fn context(path: &Path) -> Option<String> {
        // getfattr fails when the attribute is absent.
        let p = path.display().to_string();
        crate::tools::run(
            "getfattr",
            &["--only-values", "-h", "-n", "security.selinux", &p],
        )
        .ok()
        .map(|out| {
            String::from_utf8_lossy(&out.stdout)
                .trim_end_matches('\0')
                .to_string()
        })
    }

    fn tree(config: &str) -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        write(r, "etc/selinux/config", config);
        write(
            r,
            "etc/selinux/targeted/contexts/files/file_contexts",
            FILE_CONTEXTS,
        );
        write(r, "usr/bin/tool", "#!/bin/sh\n");
        write(r, "var/log/messages", "");
        write(r, "tmp/scratch", "");
        write(r, "opt/thing", "");
        std::os::unix::fs::symlink("/usr/bin/tool", r.join("opt/link")).unwrap();
        t
    }

    #[test]
    fn labels_with_the_trees_file_contexts() {
        let t = tree("# SELINUXTYPE=mls\nSELINUX=enforcing\nSELINUXTYPE=\"targeted\"\n");
        let r = t.path();
        assert!(label(r).unwrap());
        let c = |p: &str| context(&r.join(p));
        assert_eq!(
            c("usr/bin/tool").as_deref(),
            Some("system_u:object_r:bin_t:s0")
        );
        assert_eq!(c("usr/bin").as_deref(), Some("system_u:object_r:bin_t:s0"));
        assert_eq!(
            c("var/log/messages").as_deref(),
            Some("system_u:object_r:var_log_t:s0")
        );
        assert_eq!(c("tmp").as_deref(), Some("system_u:object_r:tmp_t:s0"));
        assert_eq!(c("tmp/scratch"), None, "<<none>> leaves files unlabelled");
        assert_eq!(
            c("opt/thing").as_deref(),
            Some("system_u:object_r:default_t:s0")
        );
        assert_eq!(
            c("opt/link").as_deref(),
            Some("system_u:object_r:default_t:s0"),
            "the link itself"
        );
        assert_eq!(
            c("etc/selinux/config").as_deref(),
            Some("system_u:object_r:selinux_config_t:s0")
        );
        assert_eq!(c("").as_deref(), Some("system_u:object_r:default_t:s0"));
    }

    #[test]
    fn relabels_files_that_carry_a_wrong_label() {
        let t = tree("SELINUXTYPE=targeted\n");
        let r = t.path();
        crate::tools::run(
            "setfattr",
            &[
                "-n",
                "security.selinux",
                "-v",
                "unconfined_u:object_r:user_home_t:s0",
                &r.join("usr/bin/tool").display().to_string(),
            ],
        )
        .unwrap();
        assert!(label(r).unwrap());
        assert_eq!(
            context(&r.join("usr/bin/tool")).as_deref(),
            Some("system_u:object_r:bin_t:s0")
        );
    }

    #[test]
    fn no_config_no_labels_and_missing_policy_is_an_error() {
        let t = tree("SELINUXTYPE=mls\n");
        let r = t.path();
        let e = label(r).unwrap_err();
        assert!(
            format!("{e:#}").contains("/etc/selinux/mls/contexts/files/file_contexts"),
            "{e:#}"
        );
        assert_eq!(context(&r.join("usr/bin/tool")), None);
        fs::write(r.join("etc/selinux/config"), "SELINUXTYPE=../x\n").unwrap();
        assert!(label(r).is_err());
        fs::remove_file(r.join("etc/selinux/config")).unwrap();
        assert!(!label(r).unwrap());
        assert_eq!(context(&r.join("usr/bin/tool")), None);
        // No SELINUXTYPE: libselinux's default, targeted.
        fs::write(r.join("etc/selinux/config"), "SELINUX=permissive\n").unwrap();
        assert!(label(r).unwrap());
        assert_eq!(
            context(&r.join("usr/bin/tool")).as_deref(),
            Some("system_u:object_r:bin_t:s0")
        );
    }
}
