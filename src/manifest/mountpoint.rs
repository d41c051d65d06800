//! Which mountpoints a customization may name. Judged while validating
//! the manifest (with line:col) and again by the plan's disk layout, so
//! both sides read this one table.

/// Mountpoints we refuse: they must live on the root filesystem.
const ON_ROOT: &[&str] = &[
    "/etc",
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib64",
    "/dev",
    "/proc",
    "/sys",
    "/run",
    "/var/lib/rpm",
];

/// Checks a mountpoint from a customization; returns why it is refused.
pub fn check(mp: &str) -> Result<(), String> {
    if !mp.starts_with('/') {
        return Err(format!("mountpoint \"{mp}\" is not absolute"));
    }
    if mp.len() > 1 && mp.ends_with('/')
        || mp.contains("//")
        || mp.split('/').any(|c| c == "." || c == "..")
    {
        return Err(format!("mountpoint \"{mp}\" is not a clean path"));
    }
    if ON_ROOT
        .iter()
        .any(|r| mp == *r || mp.starts_with(&format!("{r}/")))
    {
        return Err(format!(
            "mountpoint \"{mp}\" must stay on the root filesystem"
        ));
    }
    if mp == "/boot/efi" {
        return Err(
            "the ESP (/boot/efi) is laid out by the boot chain, not a customization".into(),
        );
    }
    if mp.starts_with("/boot/") {
        return Err(format!(
            "mountpoint \"{mp}\" is inside /boot, which the boot chain lays out"
        ));
    }
    Ok(())
}
