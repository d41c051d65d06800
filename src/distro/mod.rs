//! Distro and arch models.
//!
//! Distro definitions are TOML files under `distros/`, embedded at build
//! time, checked for internal consistency when first used (and by a unit
//! test, so a broken file fails `cargo test`, not a user's build).

pub mod arch;
pub mod def;

pub use arch::Arch;
pub use def::{BootDef, DistroDef, PackageSet, RepoDef};
use std::sync::OnceLock;

/// Distro used when a manifest names none.
pub const DEFAULT_DISTRO: &str = "almalinux-10";

const FILES: &[(&str, &str)] = &[
    (
        "almalinux-8",
        include_str!("../../distros/almalinux-8.toml"),
    ),
    (
        "almalinux-9",
        include_str!("../../distros/almalinux-9.toml"),
    ),
    (
        "almalinux-10",
        include_str!("../../distros/almalinux-10.toml"),
    ),
    (
        "almalinux-kitten-10",
        include_str!("../../distros/almalinux-kitten-10.toml"),
    ),
    ("fixture", include_str!("../../distros/fixture.toml")),
];

const KEYS: &[(&str, &str)] = &[
    (
        "RPM-GPG-KEY-AlmaLinux-8",
        include_str!("../../distros/keys/RPM-GPG-KEY-AlmaLinux-8"),
    ),
    (
        "RPM-GPG-KEY-AlmaLinux-9",
        include_str!("../../distros/keys/RPM-GPG-KEY-AlmaLinux-9"),
    ),
    (
        "RPM-GPG-KEY-AlmaLinux-10",
        include_str!("../../distros/keys/RPM-GPG-KEY-AlmaLinux-10"),
    ),
    (
        "RPM-GPG-KEY-AlmaLinux-kitten-10",
        include_str!("../../distros/keys/RPM-GPG-KEY-AlmaLinux-kitten-10"),
    ),
];

/// Output-type keys a `package_sets` table may have besides these two.
const SPECIAL_SETS: &[&str] = &["common", "build"];

static REGISTRY: OnceLock<Result<Vec<DistroDef>, String>> = OnceLock::new();

/// All built-in distros, parsed and checked.
pub fn all() -> Result<&'static [DistroDef], String> {
    REGISTRY
        .get_or_init(|| {
            FILES
                .iter()
                .map(|(file, text)| load_one(file, text))
                .collect()
        })
        .as_ref()
        .map(Vec::as_slice)
        .map_err(Clone::clone)
}

/// Looks a distro up by id or alias (`almalinux-9`, `almalinux_kitten-10`).
/// Minor versions (`almalinux-9.6`) map to their major.
pub fn lookup(name: &str) -> Result<Option<&'static DistroDef>, String> {
    let all = all()?;
    let norm = name.trim().to_ascii_lowercase().replace('_', "-");
    let major = match norm.rsplit_once('.') {
        Some((head, minor)) if minor.chars().all(|c| c.is_ascii_digit()) && !minor.is_empty() => {
            head.to_string()
        }
        _ => norm.clone(),
    };
    Ok(all.iter().find(|d| {
        [norm.as_str(), major.as_str()]
            .iter()
            .any(|n| d.id == *n || d.aliases.iter().any(|a| a.replace('_', "-") == *n))
    }))
}

/// Ids of every distro, for messages.
pub fn ids() -> Vec<&'static str> {
    all()
        .map(|a| a.iter().map(|d| d.id.as_str()).collect())
        .unwrap_or_default()
}

fn load_one(file: &str, text: &str) -> Result<DistroDef, String> {
    let mut d: DistroDef = toml::from_str(text).map_err(|e| format!("distros/{file}.toml: {e}"))?;
    let err = |m: String| format!("distros/{file}.toml: {m}");
    if d.id != file {
        return Err(err(format!("id \"{}\" does not match the file name", d.id)));
    }
    for a in &d.arches {
        if arch::lookup(a).is_none() {
            return Err(err(format!("unknown arch \"{a}\"")));
        }
        if !d.boot.contains_key(a) {
            return Err(err(format!("no [boot.{a}] table")));
        }
    }
    for k in &d.gpg_key_files {
        let text = KEYS
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, t)| *t)
            .ok_or_else(|| err(format!("key file \"{k}\" is not embedded (distros/keys/)")))?;
        d.gpg_keys.insert(k.clone(), text.to_string());
    }
    for r in &d.repos {
        if r.baseurl.is_empty() && r.mirrorlist.is_none() && r.metalink.is_none() {
            return Err(err(format!(
                "repo \"{}\" has no baseurl, mirrorlist or metalink",
                r.id
            )));
        }
        for k in &r.gpgkeys {
            if !k.contains("://") && !d.gpg_key_files.contains(k) {
                return Err(err(format!(
                    "repo \"{}\" names key \"{k}\" that is not in gpg_key_files",
                    r.id
                )));
            }
        }
        for a in &r.arches {
            if !d.arches.contains(a) {
                return Err(err(format!(
                    "repo \"{}\" names arch \"{a}\" the distro lacks",
                    r.id
                )));
            }
        }
    }
    let types: Vec<&str> = crate::manifest::ours::OutputType::ALL
        .iter()
        .map(|t| t.as_str())
        .collect();
    for k in d.package_sets.keys() {
        if !SPECIAL_SETS.contains(&k.as_str()) && !types.contains(&k.as_str()) {
            return Err(err(format!(
                "package set \"{k}\" is neither common, build nor an output type"
            )));
        }
    }
    Ok(d)
}

impl DistroDef {
    pub fn supports_arch(&self, arch: &str) -> bool {
        self.arches.iter().any(|a| a == arch)
    }

    /// Packages of `set`, with `arch_include` for `arch`.
    pub fn package_set(&self, set: &str, arch: &str) -> (Vec<String>, Vec<String>) {
        match self.package_sets.get(set) {
            None => (vec![], vec![]),
            Some(s) => {
                let mut inc = s.include.clone();
                if let Some(extra) = s.arch_include.get(arch) {
                    inc.extend(extra.iter().cloned());
                }
                (inc, s.exclude.clone())
            }
        }
    }
}

/// The rpm database directory inside an installed tree, as an absolute
/// in-tree path: AlmaLinux 10 and Kitten keep it in /usr/lib/sysimage/rpm
/// (with /var/lib/rpm a symlink), 8 and 9 in /var/lib/rpm. Read from the
/// tree, not the definition, because a base image's tree may come from
/// any release. Lives here, below resolve and tree, because both ask.
pub fn rpmdb_dir(root: &std::path::Path) -> &'static str {
    if root.join("usr/lib/sysimage/rpm").is_dir() {
        "/usr/lib/sysimage/rpm"
    } else {
        "/var/lib/rpm"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_distro_loads() {
        let all = all().unwrap();
        assert_eq!(all.len(), FILES.len());
        for d in all {
            assert!(!d.repos.is_empty(), "{}", d.id);
            assert!(!d.arches.is_empty(), "{}", d.id);
            assert!(
                d.package_sets.contains_key("common"),
                "{} lacks a common package set",
                d.id
            );
        }
    }

    #[test]
    fn almalinux_distros_carry_real_keys_and_urls() {
        for id in [
            "almalinux-8",
            "almalinux-9",
            "almalinux-10",
            "almalinux-kitten-10",
        ] {
            let d = lookup(id).unwrap().unwrap();
            assert_eq!(d.efi_vendor, "almalinux");
            assert!(!d.gpg_keys.is_empty(), "{id}");
            for k in d.gpg_keys.values() {
                assert!(k.contains("BEGIN PGP PUBLIC KEY BLOCK"), "{id}");
            }
            for r in d.repos.iter().filter(|r| r.enabled) {
                assert!(
                    r.baseurl.iter().all(|u| u.starts_with("https://")),
                    "{id}/{}",
                    r.id
                );
                assert!(
                    r.mirrorlist
                        .as_deref()
                        .is_some_and(|m| m.starts_with("https://")),
                    "{id}/{} has no mirrorlist",
                    r.id
                );
                assert!(r.gpgcheck, "{id}/{}", r.id);
            }
        }
    }

    #[test]
    fn x86_64_v2_only_on_el10() {
        assert!(!lookup("almalinux-9")
            .unwrap()
            .unwrap()
            .supports_arch("x86_64_v2"));
        assert!(lookup("almalinux-10")
            .unwrap()
            .unwrap()
            .supports_arch("x86_64_v2"));
        assert!(lookup("almalinux-kitten-10")
            .unwrap()
            .unwrap()
            .supports_arch("x86_64_v2"));
    }

    #[test]
    fn lookup_accepts_aliases_and_minor_versions() {
        assert_eq!(lookup("almalinux-9.6").unwrap().unwrap().id, "almalinux-9");
        assert_eq!(lookup("AlmaLinux-10").unwrap().unwrap().id, "almalinux-10");
        assert_eq!(
            lookup("almalinux_kitten-10").unwrap().unwrap().id,
            "almalinux-kitten-10"
        );
        assert!(lookup("fedora-40").unwrap().is_none());
    }
}
