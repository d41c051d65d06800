//! The schema of a distro definition file (`distros/*.toml`).
//!
//! Distros are data, not code: adding AlmaLinux 11 should mean adding a
//! TOML file and its keys, nothing else. The files are embedded in the
//! binary at build time (see `distro::BUILTIN`) so the tool needs no data
//! directory at run time.
//!
//! URLs may use `$releasever`, `$basearch` and, for the test distribution
//! only, `$fixture_root`; they are substituted when a plan is made.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One distro definition file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DistroDef {
    /// Stable id used in manifests: `almalinux-9`, `almalinux-kitten-10`, `fixture`.
    pub id: String,
    /// Human name: "AlmaLinux 9".
    pub name: String,
    /// Other spellings accepted in manifests (`almalinux-9.6`, `almalinux_kitten-10`).
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Value of `$releasever` in repo URLs and for dnf.
    pub releasever: String,
    /// Major version (8, 9, 10): drives format choices such as the rpmdb backend.
    pub major: u32,
    /// Architectures this distro is built for (names from the arch model).
    pub arches: Vec<String>,
    /// Package providing /etc/os-release and the repo files.
    pub release_package: String,
    /// Directory under `EFI/` on the ESP holding shim, GRUB and grub.cfg.
    pub efi_vendor: String,
    /// Directory under `EFI/` where the distro's signed GRUB looks for its
    /// grub.cfg, when it differs from `efi_vendor` (Debian's GRUB, used by
    /// the fixture, reads `EFI/debian/grub.cfg`).
    #[serde(default)]
    pub grub_efi_dir: Option<String>,
    /// Whether the distro's GRUB reads BLS entries itself (`blscfg`, a
    /// Fedora/RHEL patch). Debian's GRUB (the fixture's) does not: its
    /// grub.cfg gets one menuentry per BLS entry instead.
    #[serde(default = "yes")]
    pub grub_blscfg: bool,
    /// Whether the distro's libostree mounts deployments through
    /// composefs (bootc images enable it in prepare-root.conf). Debian's
    /// 2022.7, the fixture's, has none.
    #[serde(default = "yes")]
    pub composefs: bool,
    /// Root filesystem type of the default disk layout.
    pub default_fs: String,
    /// rpm database backend the distro's rpm reads: `bdb` (EL8) or `sqlite`.
    pub rpmdb: String,
    /// Whether the distro has modularity (EL8, EL9); `[[modules]]` and
    /// `[[enabled_modules]]` are errors otherwise.
    #[serde(default)]
    pub modularity: bool,
    /// Default kernel command line for disk images (console, etc.).
    #[serde(default)]
    pub kernel_cmdline: Vec<String>,
    /// Public signing keys: file name → embedded key (filled in from the
    /// `distros/keys/` files compiled into the binary, not written in the
    /// TOML).
    #[serde(default, skip_deserializing)]
    pub gpg_keys: BTreeMap<String, super::keys::EmbeddedKey>,
    /// Names of files in `distros/keys/` this distro trusts.
    pub gpg_key_files: Vec<String>,
    /// Package repositories, in priority order.
    pub repos: Vec<RepoDef>,
    /// Package sets: `common` applies to every output, then one per output
    /// type (`qcow2`, `oci`, `iso-installer`, ...) and `build` for the
    /// build root used by image tools.
    pub package_sets: BTreeMap<String, PackageSet>,
    /// Boot packages per arch name (`x86_64`, `aarch64`, ...).
    pub boot: BTreeMap<String, BootDef>,
    /// Default bootc base image, for `[base]`-less bootc builds of this distro.
    #[serde(default)]
    pub bootc_base_image: Option<String>,
}

/// A repository of the distro.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RepoDef {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub baseurl: Vec<String>,
    #[serde(default)]
    pub mirrorlist: Option<String>,
    #[serde(default)]
    pub metalink: Option<String>,
    /// The part of every base URL a mirror replaces (`--mirror`,
    /// `[build] mirror`): scheme, host and the path of the distro's tree
    /// on its main server, ending in `/` (`https://repo.almalinux.org/almalinux/`).
    /// What follows (`$releasever/BaseOS/$basearch/os/`) is kept. None: the
    /// repo is not on the distro's mirrors and a mirror leaves it alone.
    #[serde(default)]
    pub mirror_root: Option<String>,
    /// Keys that sign this repo's packages: names from `gpg_key_files`
    /// (embedded; the plan carries their bytes) or `file://`/`https://`
    /// URLs (fetched when the repo is synced).
    #[serde(default)]
    pub gpgkeys: Vec<String>,
    #[serde(default = "yes")]
    pub gpgcheck: bool,
    #[serde(default)]
    pub repo_gpgcheck: bool,
    /// Enabled by default (CRB/PowerTools are not in AlmaLinux's own
    /// repo files, but image builds commonly need them: say which here).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Restrict the repo to these arches (empty: all of the distro's).
    #[serde(default)]
    pub arches: Vec<String>,
    /// Only used to build, never written into images (e.g. fixture tools).
    #[serde(default)]
    pub build_only: bool,
}

impl DistroDef {
    /// Where GRUB on the ESP reads grub.cfg.
    pub fn grub_efi_dir(&self) -> &str {
        self.grub_efi_dir.as_deref().unwrap_or(&self.efi_vendor)
    }
}

/// Packages to install and to keep out.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PackageSet {
    #[serde(default)]
    pub include: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Extra includes per arch name.
    #[serde(default)]
    pub arch_include: BTreeMap<String, Vec<String>>,
}

/// What it takes to boot this distro on one arch.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BootDef {
    /// Packages for UEFI boot (shim + GRUB EFI), empty where there is no UEFI.
    #[serde(default)]
    pub uefi_packages: Vec<String>,
    /// Packages for legacy boot (grub2-pc on x86, grub2-ppc64le, s390utils).
    #[serde(default)]
    pub legacy_packages: Vec<String>,
    /// Kernel package.
    pub kernel: String,
    /// Extra kernel command line on this arch (console=ttyS0, console=hvc0).
    #[serde(default)]
    pub cmdline: Vec<String>,
}

fn yes() -> bool {
    true
}
