//! Rules for what becomes an installer kickstart: a kickstart of your own
//! (`[customizations.installer.kickstart] contents`) and the partition
//! layouts Anaconda can be told about. `validate` applies them with the
//! manifest's line; `kickstart::generate` calls them again before it
//! writes a line, so the two cannot drift.

use super::{refuse, Refusal, Rule};

/// Kickstart commands that choose the installation source. The generated
/// kickstart appends its own payload line (the payload on the medium), so
/// a kickstart of your own must not name one: Anaconda takes the last
/// one, and yours would silently lose.
pub const PAYLOAD_COMMANDS: [&str; 8] = [
    "ostreecontainer",
    "ostreesetup",
    "liveimg",
    "url",
    "cdrom",
    "harddrive",
    "nfs",
    "hmc",
];

/// `[customizations.installer.kickstart] contents`: not empty, no NUL,
/// and no payload command of its own. Returns the 1-based line of a
/// refused payload command in `Err` via the message.
pub fn kickstart_contents(text: &str) -> Rule {
    if text.trim().is_empty() {
        return Err(Refusal::new("the kickstart contents are empty").hint(
            "remove [customizations.installer.kickstart] or write a kickstart in `contents`",
        ));
    }
    if text.contains('\0') {
        return refuse("the kickstart contents contain a NUL byte");
    }
    let mut in_section = false;
    for (n, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.starts_with("%end") {
            in_section = false;
            continue;
        }
        if l.starts_with('%') {
            in_section = true;
            continue;
        }
        if in_section {
            continue;
        }
        let cmd = l.split_whitespace().next().unwrap_or("");
        if PAYLOAD_COMMANDS.contains(&cmd) {
            return Err(Refusal::new(format!(
                "the kickstart contents name a payload (`{cmd}` on their line {})",
                n + 1
            ))
            .hint(
                "image-builder appends the payload line for the image on the medium: remove yours",
            ));
        }
    }
    Ok(())
}

/// A partition kind Anaconda can create on AlmaLinux: plain and LVM.
/// RHEL's Anaconda has no btrfs (pykickstart's RHEL8+ handlers refuse
/// the `btrfs` command).
pub fn installer_partition_kind(kind: &str) -> Rule {
    if kind == "btrfs" {
        return Err(
            Refusal::new("the AlmaLinux installer cannot create btrfs volumes")
                .hint("use type = \"plain\" or \"lvm\" partitions for iso-installer outputs"),
        );
    }
    Ok(())
}

/// A filesystem type a kickstart `part`/`logvol` may carry.
pub fn installer_fs_type(fs: &str) -> Rule {
    match fs {
        "xfs" | "ext4" | "ext3" | "ext2" | "vfat" | "swap" | "none" => Ok(()),
        "btrfs" => installer_partition_kind("btrfs"),
        _ => refuse(format!("the installer cannot make a {fs:?} filesystem")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contents() {
        assert!(kickstart_contents("text\nrootpw --lock\n").is_ok());
        assert!(kickstart_contents("  \n").is_err());
        let e = kickstart_contents("text\nliveimg --url=x\n").unwrap_err();
        assert!(e.message.contains("`liveimg` on their line 2"), "{e}");
        // inside a %post section `url` is shell, not a command
        assert!(kickstart_contents("%post\nurl foo\n%end\n").is_ok());
        assert!(kickstart_contents("urlx\n").is_ok());
    }

    #[test]
    fn kinds() {
        assert!(installer_partition_kind("plain").is_ok());
        assert!(installer_partition_kind("btrfs").is_err());
        assert!(installer_fs_type("xfs").is_ok());
        assert!(installer_fs_type("zfs").is_err());
    }
}
