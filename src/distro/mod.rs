//! Distro and arch models.
//!
//! Distro definitions are TOML files under `distros/`, embedded at build
//! time, checked for internal consistency when first used (and by a unit
//! test, so a broken file fails `cargo test`, not a user's build).

pub mod arch;
pub mod def;
pub mod keys;

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
        let key = keys::load(k).map_err(|e| err(format!("gpg_key_files: {e}")))?;
        d.gpg_keys.insert(k.clone(), key);
    }
    for r in &d.repos {
        if r.baseurl.is_empty() && r.mirrorlist.is_none() && r.metalink.is_none() {
            return Err(err(format!(
                "repo \"{}\" has no baseurl, mirrorlist or metalink",
                r.id
            )));
        }
        if let Some(root) = &r.mirror_root {
            if !root.ends_with('/') || !root.contains("://") {
                return Err(err(format!(
                    "repo \"{}\" mirror_root \"{root}\" must be a URL ending in /",
                    r.id
                )));
            }
            if let Some(u) = r.baseurl.iter().find(|u| !u.starts_with(root.as_str())) {
                return Err(err(format!(
                    "repo \"{}\" baseurl \"{u}\" is not under its mirror_root \"{root}\"",
                    r.id
                )));
            }
        }
        for k in &r.gpgkeys {
            if keys::is_url(k) {
                if !["file://", "http://", "https://"]
                    .iter()
                    .any(|s| k.starts_with(s))
                {
                    return Err(err(format!(
                        "repo \"{}\" key URL \"{k}\" is not file://, http:// or https://",
                        r.id
                    )));
                }
            } else if !d.gpg_key_files.contains(k) {
                return Err(err(format!(
                    "repo \"{}\" names key \"{k}\" that is not in gpg_key_files (embedded keys: {})",
                    r.id,
                    d.gpg_key_files.join(", ")
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
                assert!(k.armored.contains("BEGIN PGP PUBLIC KEY BLOCK"), "{id}");
                assert_eq!(k.fingerprint.len(), 40, "{id}");
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
    /// almalinux-10's definition with one substitution.
    fn alma10_with(from: &str, to: &str) -> Result<DistroDef, String> {
        let text = FILES.iter().find(|(f, _)| *f == "almalinux-10").unwrap().1;
        assert!(text.contains(from), "{from}");
        load_one("almalinux-10", &text.replacen(from, to, 1))
    }

    #[test]
    fn key_names_resolve_to_embedded_keys_or_fail_at_load() {
        let d = lookup("almalinux-10").unwrap().unwrap();
        let k = &d.gpg_keys["RPM-GPG-KEY-AlmaLinux-10"];
        assert_eq!(k.fingerprint, "EE6DB7B98F5BF5EDD9DA0DE5DEE5C11CC2A1E572");
        let e = alma10_with(
            "gpgkeys = [\"RPM-GPG-KEY-AlmaLinux-10\"]",
            "gpgkeys = [\"RPM-GPG-KEY-AlmaLinux-11\"]",
        )
        .unwrap_err();
        assert!(
            e.contains("distros/almalinux-10.toml")
                && e.contains("\"RPM-GPG-KEY-AlmaLinux-11\" that is not in gpg_key_files"),
            "{e}"
        );
        let e = alma10_with(
            "gpg_key_files = [\"RPM-GPG-KEY-AlmaLinux-10\"]",
            "gpg_key_files = [\"RPM-GPG-KEY-AlmaLinux-10\", \"RPM-GPG-KEY-Other\"]",
        )
        .unwrap_err();
        assert!(e.contains("\"RPM-GPG-KEY-Other\" is not embedded"), "{e}");
        // A URL stays a URL; an unsupported scheme does not load.
        alma10_with(
            "gpgkeys = [\"RPM-GPG-KEY-AlmaLinux-10\"]",
            "gpgkeys = [\"https://repo.almalinux.org/almalinux/RPM-GPG-KEY-AlmaLinux-10\"]",
        )
        .unwrap();
        let e = alma10_with(
            "gpgkeys = [\"RPM-GPG-KEY-AlmaLinux-10\"]",
            "gpgkeys = [\"ftp://example/KEY\"]",
        )
        .unwrap_err();
        assert!(e.contains("not file://, http:// or https://"), "{e}");
    }

    #[test]
    fn mirror_roots_prefix_their_base_urls() {
        for d in all().unwrap() {
            for r in &d.repos {
                let root = r
                    .mirror_root
                    .as_deref()
                    .unwrap_or_else(|| panic!("{}/{}", d.id, r.id));
                assert!(r.baseurl.iter().all(|u| u.starts_with(root)));
            }
        }
        let e = alma10_with(
            "mirror_root = \"https://repo.almalinux.org/almalinux/\"",
            "mirror_root = \"https://elsewhere.example/\"",
        )
        .unwrap_err();
        assert!(e.contains("is not under its mirror_root"), "{e}");
        let e = alma10_with(
            "mirror_root = \"https://repo.almalinux.org/almalinux/\"",
            "mirror_root = \"https://repo.almalinux.org/almalinux\"",
        )
        .unwrap_err();
        assert!(e.contains("ending in /"), "{e}");
    }
}
