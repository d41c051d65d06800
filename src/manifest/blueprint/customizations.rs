//! `[customizations]` and its small sections. Disk, installer and
//! firstboot live in their own files.

use super::{octal_mode, Disk, Firstboot, IdOrName, Installer};
use crate::manifest::size::Size;
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};

/// `[customizations]`. Fields are in osbuild's order, which `present`
/// keeps.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Customizations {
    /// Static hostname (`/etc/hostname`).
    pub hostname: Option<String>,
    pub kernel: Option<Kernel>,
    /// Legacy `[[customizations.sshkey]]`; osbuild turns each into a user
    /// with that key, placed before `user` entries.
    pub sshkey: Vec<SshKey>,
    pub user: Vec<User>,
    pub group: Vec<GroupCustomization>,
    pub timezone: Option<Timezone>,
    pub locale: Option<Locale>,
    pub firewall: Option<Firewall>,
    pub services: Option<Services>,
    /// Extra mountpoints and minimum sizes, laid out by osbuild (see
    /// `partitioning_mode`). Exclusive with `disk`.
    pub filesystem: Vec<Filesystem>,
    /// A full partition layout. Exclusive with `filesystem`.
    pub disk: Option<Disk>,
    /// Installer ISOs: the disk the unattended kickstart installs to
    /// (e.g. `/dev/vda`).
    pub installation_device: Option<String>,
    pub partitioning_mode: Option<PartitioningMode>,
    /// FIDO Device Onboarding (edge simplified installer).
    pub fdo: Option<Fdo>,
    pub openscap: Option<OpenScap>,
    pub ignition: Option<Ignition>,
    pub directories: Vec<Directory>,
    pub files: Vec<File>,
    /// `.repo` files written into the image (not used to build it unless
    /// `install_from`).
    pub repositories: Vec<RepositoryCustomization>,
    /// FIPS mode: `fips=1` on the kernel command line and the FIPS crypto
    /// policy.
    pub fips: Option<bool>,
    pub installer: Option<Installer>,
    pub rpm: Option<Rpm>,
    /// Subscription manager settings (RHEL only).
    pub rhsm: Option<Rhsm>,
    pub cacerts: Option<CaCerts>,
    #[serde(rename = "containers-storage")]
    pub containers_storage: Option<ContainersStorage>,
    pub firstboot: Option<Firstboot>,
    pub dnf: Option<Dnf>,
    /// ISO 9660 metadata of installer ISOs.
    pub iso: Option<Iso>,
    pub sshd: Option<Sshd>,
}

impl Customizations {
    /// TOML keys of the sections that are set, in osbuild's field order.
    /// As osbuild's `CheckAllowed`: an option counts when given (even
    /// `fips = false`), a list when not empty, `installation_device` when
    /// not an empty string.
    pub fn present(&self) -> Vec<&'static str> {
        let checks: [(&'static str, bool); 29] = [
            ("hostname", self.hostname.is_some()),
            ("kernel", self.kernel.is_some()),
            ("sshkey", !self.sshkey.is_empty()),
            ("user", !self.user.is_empty()),
            ("group", !self.group.is_empty()),
            ("timezone", self.timezone.is_some()),
            ("locale", self.locale.is_some()),
            ("firewall", self.firewall.is_some()),
            ("services", self.services.is_some()),
            ("filesystem", !self.filesystem.is_empty()),
            ("disk", self.disk.is_some()),
            (
                "installation_device",
                self.installation_device
                    .as_deref()
                    .is_some_and(|s| !s.is_empty()),
            ),
            ("partitioning_mode", self.partitioning_mode.is_some()),
            ("fdo", self.fdo.is_some()),
            ("openscap", self.openscap.is_some()),
            ("ignition", self.ignition.is_some()),
            ("directories", !self.directories.is_empty()),
            ("files", !self.files.is_empty()),
            ("repositories", !self.repositories.is_empty()),
            ("fips", self.fips.is_some()),
            ("installer", self.installer.is_some()),
            ("rpm", self.rpm.is_some()),
            ("rhsm", self.rhsm.is_some()),
            ("cacerts", self.cacerts.is_some()),
            ("containers-storage", self.containers_storage.is_some()),
            ("firstboot", self.firstboot.is_some()),
            ("dnf", self.dnf.is_some()),
            ("iso", self.iso.is_some()),
            ("sshd", self.sshd.is_some()),
        ];
        checks.iter().filter(|(_, s)| *s).map(|(k, _)| *k).collect()
    }

    /// Every TOML key `[customizations]` accepts, in osbuild's order.
    pub const KEYS: [&'static str; 29] = [
        "hostname",
        "kernel",
        "sshkey",
        "user",
        "group",
        "timezone",
        "locale",
        "firewall",
        "services",
        "filesystem",
        "disk",
        "installation_device",
        "partitioning_mode",
        "fdo",
        "openscap",
        "ignition",
        "directories",
        "files",
        "repositories",
        "fips",
        "installer",
        "rpm",
        "rhsm",
        "cacerts",
        "containers-storage",
        "firstboot",
        "dnf",
        "iso",
        "sshd",
    ];
}

/// `[customizations.kernel]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Kernel {
    /// Kernel package (default `kernel`; e.g. `kernel-debug`).
    pub name: Option<String>,
    /// Appended to the kernel command line.
    pub append: Option<String>,
}

/// `[[customizations.sshkey]]` (legacy; prefer `user.key`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SshKey {
    pub user: String,
    /// One `authorized_keys` line.
    pub key: String,
}

/// `[[customizations.user]]`: a user created (or, for existing users such
/// as root, modified) in the image.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub name: String,
    /// GECOS field.
    pub description: Option<String>,
    /// A crypt(3) hash is kept as is; plain text is hashed (SHA-512).
    pub password: Option<String>,
    /// `authorized_keys` contents.
    pub key: Option<String>,
    /// Home directory; osbuild strips trailing slashes.
    pub home: Option<String>,
    pub shell: Option<String>,
    /// Supplementary groups (must exist or be created by `group`).
    #[serde(default)]
    pub groups: Vec<String>,
    pub uid: Option<i64>,
    pub gid: Option<i64>,
    /// Account expiry, in days since 1970-01-01.
    pub expiredate: Option<i64>,
    /// Expire the password so it must be changed at first login.
    pub force_password_reset: Option<bool>,
}

/// `[[customizations.group]]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GroupCustomization {
    pub name: String,
    pub gid: Option<i64>,
}

/// `[customizations.timezone]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Timezone {
    /// tz database name (`Europe/Prague`, `UTC`).
    pub timezone: Option<String>,
    /// NTP servers for chrony.
    pub ntpservers: Vec<String>,
}

/// `[customizations.locale]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Locale {
    /// The first one becomes `LANG`.
    pub languages: Vec<String>,
    /// Console keymap (`us`, `de-nodeadkeys`).
    pub keyboard: Option<String>,
}

/// `[customizations.firewall]` (firewalld, default zone).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Firewall {
    /// `"22:tcp"`, `"30000-32767:udp"`, `"imap:tcp"`.
    pub ports: Vec<String>,
    pub services: Option<FirewallServices>,
    pub zones: Vec<FirewallZone>,
}

/// `[customizations.firewall.services]`: firewalld service names.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct FirewallServices {
    pub enabled: Vec<String>,
    pub disabled: Vec<String>,
}

/// `[[customizations.firewall.zones]]`: sources bound to a zone.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct FirewallZone {
    pub name: Option<String>,
    /// Addresses or CIDR ranges.
    pub sources: Vec<String>,
}

/// `[customizations.services]`: systemd units.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Services {
    pub enabled: Vec<String>,
    pub disabled: Vec<String>,
    pub masked: Vec<String>,
}

/// `[[customizations.filesystem]]`: a mountpoint and its minimum size.
/// osbuild still accepts the old key `size` for `minsize` (not both), and
/// refuses a zero size.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Filesystem {
    pub mountpoint: String,
    #[serde(alias = "size", deserialize_with = "nonzero_size")]
    pub minsize: Size,
}

fn nonzero_size<'de, D: Deserializer<'de>>(d: D) -> Result<Size, D::Error> {
    let s = Size::deserialize(d)?;
    if s.bytes() == 0 {
        return Err(de::Error::custom(
            "invalid size: minsize must be greater than 0",
        ));
    }
    Ok(s)
}

/// `partitioning_mode`: how `[[customizations.filesystem]]` is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
pub enum PartitioningMode {
    /// Default: plain partitions unless a mountpoint is added that the
    /// base layout lacks, then LVM.
    #[serde(rename = "auto-lvm")]
    AutoLvm,
    /// Always LVM.
    #[serde(rename = "lvm")]
    Lvm,
    /// Never LVM.
    #[serde(rename = "raw")]
    Raw,
}

/// `[customizations.fdo]`: FIDO Device Onboarding (edge simplified
/// installer). One of the three `diun_pub_key_*` keys is required there.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Fdo {
    pub manufacturing_server_url: Option<String>,
    /// `"true"` to skip verifying the server's key.
    pub diun_pub_key_insecure: Option<String>,
    /// `"sha256:<hex>"` of the server certificate.
    pub diun_pub_key_hash: Option<String>,
    /// Path to the server's root certificates.
    pub diun_pub_key_root_certs: Option<String>,
    /// Interface whose MAC address is the device-info string.
    pub di_mfg_string_type_mac_iface: Option<String>,
}

/// `[customizations.openscap]`: remediate the image at build time.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OpenScap {
    /// SCAP datastream (default: the distro's scap-security-guide one).
    pub datastream: Option<String>,
    /// XCCDF profile, e.g. `xccdf_org.ssgproject.content_profile_cis`.
    pub profile_id: String,
    /// Rules to select/unselect on top of the profile.
    pub tailoring: Option<OpenScapTailoring>,
    /// A JSON tailoring file in the image (exclusive with `tailoring`).
    pub json_tailoring: Option<OpenScapJsonTailoring>,
    /// Insights compliance policy id (Red Hat service).
    pub policy_id: Option<String>,
}

/// `[customizations.openscap.tailoring]`: rule ids.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct OpenScapTailoring {
    pub selected: Vec<String>,
    pub unselected: Vec<String>,
}

/// `[customizations.openscap.json_tailoring]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OpenScapJsonTailoring {
    /// Profile id as named inside the tailoring file.
    pub profile_id: String,
    /// Path of the JSON file in the image.
    pub filepath: String,
}

/// `[customizations.ignition]` (edge/CoreOS-style images).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Ignition {
    pub embedded: Option<IgnitionEmbedded>,
    pub firstboot: Option<IgnitionFirstboot>,
}

/// `[customizations.ignition.embedded]`: a config baked into the image.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IgnitionEmbedded {
    /// Base64 of the Ignition JSON.
    pub config: String,
}

/// `[customizations.ignition.firstboot]`: fetch the config at first boot.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct IgnitionFirstboot {
    /// Provisioning URL (kernel argument `ignition.config.url`).
    pub url: Option<String>,
    /// Run Ignition with an empty config; exclusive with `url`.
    pub empty: Option<bool>,
}

/// `[[customizations.directories]]`: a directory created in the image.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Directory {
    /// Absolute path.
    pub path: String,
    pub user: Option<IdOrName>,
    pub group: Option<IdOrName>,
    /// Octal string (`"0755"`).
    #[serde(default, deserialize_with = "octal_mode")]
    pub mode: Option<String>,
    /// Create missing parents too (owned by root, mode 0755).
    pub ensure_parents: Option<bool>,
}

/// `[[customizations.files]]`: a file written into the image.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    /// Absolute path.
    pub path: String,
    pub user: Option<IdOrName>,
    pub group: Option<IdOrName>,
    /// Octal string (`"0644"`).
    #[serde(default, deserialize_with = "octal_mode")]
    pub mode: Option<String>,
    /// Contents as text. Exclusive with `uri`.
    pub data: Option<String>,
    /// Contents copied from a file on the build host (`file:///...` or a
    /// path). Exclusive with `data`.
    pub uri: Option<String>,
}

/// `[[customizations.repositories]]`: a `.repo` file written into the
/// image.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RepositoryCustomization {
    /// Section name in the `.repo` file.
    pub id: String,
    #[serde(default)]
    pub baseurls: Vec<String>,
    /// Key URLs, or armored keys inline (osbuild writes those to
    /// `/etc/pki/rpm-gpg/RPM-GPG-KEY-<id>-<n>`).
    #[serde(default)]
    pub gpgkeys: Vec<String>,
    pub metalink: Option<String>,
    pub mirrorlist: Option<String>,
    pub name: Option<String>,
    pub priority: Option<i64>,
    pub enabled: Option<bool>,
    pub gpgcheck: Option<bool>,
    pub repo_gpgcheck: Option<bool>,
    pub sslverify: Option<bool>,
    pub module_hotfixes: Option<bool>,
    /// File name under `/etc/yum.repos.d` (default `<id>.repo`).
    pub filename: Option<String>,
    /// Also use this repository to install the image's packages.
    pub install_from: Option<bool>,
}

/// `[customizations.containers-storage]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ContainersStorage {
    /// Where `[[containers]]` are stored (default
    /// `/var/lib/containers/storage`).
    #[serde(rename = "destination-path")]
    pub destination_path: Option<String>,
}

/// `[customizations.rpm]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Rpm {
    pub import_keys: Option<RpmImportKeys>,
}

/// `[customizations.rpm.import_keys]`: `rpm --import` at build time.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RpmImportKeys {
    /// Key files inside the image.
    pub files: Vec<String>,
}

/// `[customizations.cacerts]`: CA certificates added to the trust store.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CaCerts {
    /// PEM bundles (each may hold several certificates).
    pub pem_certs: Vec<String>,
}

/// `[customizations.dnf]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Dnf {
    pub config: Option<DnfConfig>,
}

/// `[customizations.dnf.config]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DnfConfig {
    /// Pin `releasever` in `/etc/dnf/vars` to the build's value.
    pub set_releasever: Option<bool>,
}

/// `[customizations.iso]`: ISO 9660 metadata. osbuild requires
/// `volume_id` (letters, digits, `-`, `_`) when the section is given.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Iso {
    pub application_id: Option<String>,
    pub publisher: Option<String>,
    pub volume_id: Option<String>,
}

/// `[customizations.sshd]`: `sshd_config` options.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Sshd {
    pub password_authentication: Option<bool>,
    /// Seconds.
    pub client_alive_interval: Option<i64>,
    /// `yes`, `no`, `prohibit-password` or `forced-commands-only`.
    pub permit_root_login: Option<String>,
    pub kbd_interactive_authentication: Option<bool>,
}

/// `[customizations.rhsm]`: subscription-manager settings (RHEL only; kept
/// so RHEL blueprints parse, for validation to refuse).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Rhsm {
    pub config: Option<RhsmConfig>,
}

/// `[customizations.rhsm.config]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RhsmConfig {
    pub dnf_plugins: Option<RhsmDnfPlugins>,
    pub subscription_manager: Option<SubscriptionManagerConfig>,
}

/// `[customizations.rhsm.config.dnf_plugins]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RhsmDnfPlugins {
    pub product_id: Option<DnfPlugin>,
    pub subscription_manager: Option<DnfPlugin>,
}

/// A dnf plugin switch.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DnfPlugin {
    pub enabled: Option<bool>,
}

/// `[customizations.rhsm.config.subscription_manager]` (`rhsm.conf`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SubscriptionManagerConfig {
    pub rhsm: Option<RhsmSection>,
    pub rhsmcertd: Option<RhsmCertdSection>,
}

/// `[rhsm]` of `rhsm.conf`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RhsmSection {
    pub manage_repos: Option<bool>,
    pub auto_enable_yum_plugins: Option<bool>,
}

/// `[rhsmcertd]` of `rhsm.conf`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RhsmCertdSection {
    pub auto_registration: Option<bool>,
}
