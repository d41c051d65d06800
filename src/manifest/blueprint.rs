//! The osbuild blueprint format, key for key, so existing blueprints parse
//! unchanged. Key names follow osbuild's TOML tags (`pkg/blueprint` in
//! osbuild/blueprint); every struct denies unknown keys so a typo is an
//! error. Applying customizations is the tree stage's work; this module
//! only says what was asked.

use super::size::Size;
use serde::{Deserialize, Serialize};

/// `[[packages]]` and `[[modules]]`: a name (or `@group`) and an optional
/// version glob (`"*"`, `"1.2.*"`).
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Package {
    pub name: String,
    #[serde(default)]
    pub version: Option<String>,
}

/// `[[enabled_modules]]`: a module stream to enable (EL8/EL9).
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EnabledModule {
    pub name: String,
    pub stream: String,
}

/// `[[groups]]`: a comps group.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    pub name: String,
}

/// `[[containers]]`: a container image to embed in the image's storage.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Container {
    pub source: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, rename = "tls-verify")]
    pub tls_verify: Option<bool>,
    #[serde(default, rename = "local-storage")]
    pub local_storage: Option<bool>,
}

/// A uid/gid or a user/group name (osbuild accepts both in files/directories).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum IdOrName {
    Id(i64),
    Name(String),
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Kernel {
    /// Kernel package (e.g. `kernel-debug`).
    #[serde(default)]
    pub name: Option<String>,
    /// Extra kernel command line.
    #[serde(default)]
    pub append: Option<String>,
}

/// `[[customizations.sshkey]]` (legacy; prefer `user.key`).
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SshKey {
    pub user: String,
    pub key: String,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// A crypt(3) hash is kept; plain text is hashed (SHA-512) at build.
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub home: Option<String>,
    #[serde(default)]
    pub shell: Option<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub uid: Option<i64>,
    #[serde(default)]
    pub gid: Option<i64>,
    /// Days since the epoch.
    #[serde(default)]
    pub expiredate: Option<i64>,
    #[serde(default)]
    pub force_password_reset: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GroupCustomization {
    pub name: String,
    #[serde(default)]
    pub gid: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Timezone {
    #[serde(default)]
    pub timezone: Option<String>,
    #[serde(default)]
    pub ntpservers: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Locale {
    #[serde(default)]
    pub languages: Vec<String>,
    #[serde(default)]
    pub keyboard: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FirewallServices {
    #[serde(default)]
    pub enabled: Vec<String>,
    #[serde(default)]
    pub disabled: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FirewallZone {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub sources: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Firewall {
    /// `"22:tcp"`, `"8000-8080:udp"`, `"http:tcp"`.
    #[serde(default)]
    pub ports: Vec<String>,
    #[serde(default)]
    pub services: Option<FirewallServices>,
    #[serde(default)]
    pub zones: Vec<FirewallZone>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Services {
    #[serde(default)]
    pub enabled: Vec<String>,
    #[serde(default)]
    pub disabled: Vec<String>,
    #[serde(default)]
    pub masked: Vec<String>,
}

/// `[[customizations.filesystem]]`: a mountpoint and its minimum size.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Filesystem {
    pub mountpoint: String,
    #[serde(default)]
    pub minsize: Size,
}

/// `[customizations.disk]`: a full partition layout.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Disk {
    /// `gpt` or `dos`.
    #[serde(default, rename = "type")]
    pub table: Option<String>,
    #[serde(default)]
    pub minsize: Option<Size>,
    #[serde(default)]
    pub partitions: Vec<DiskPartition>,
}

/// One `[[customizations.disk.partitions]]` entry. osbuild tells kinds
/// apart by `type` (plain when absent); we keep every key of every kind
/// in one struct and check the combination in `validate`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DiskPartition {
    /// `plain` (default), `lvm` or `btrfs`.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub part_type: Option<String>,
    #[serde(default)]
    pub part_label: Option<String>,
    #[serde(default)]
    pub part_uuid: Option<String>,
    #[serde(default)]
    pub minsize: Option<Size>,
    // plain
    #[serde(default)]
    pub mountpoint: Option<String>,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub fs_type: Option<String>,
    // lvm
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub logical_volumes: Vec<LogicalVolume>,
    // btrfs
    #[serde(default)]
    pub subvolumes: Vec<Subvolume>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogicalVolume {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub minsize: Option<Size>,
    #[serde(default)]
    pub mountpoint: Option<String>,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub fs_type: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Subvolume {
    pub name: String,
    pub mountpoint: String,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Fdo {
    #[serde(default)]
    pub manufacturing_server_url: Option<String>,
    #[serde(default)]
    pub diun_pub_key_insecure: Option<String>,
    #[serde(default)]
    pub diun_pub_key_hash: Option<String>,
    #[serde(default)]
    pub diun_pub_key_root_certs: Option<String>,
    #[serde(default)]
    pub di_mfg_string_type_mac_iface: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OpenScapTailoring {
    #[serde(default)]
    pub selected: Vec<String>,
    #[serde(default)]
    pub unselected: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OpenScapJsonTailoring {
    pub profile_id: String,
    pub filepath: String,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OpenScap {
    #[serde(default)]
    pub datastream: Option<String>,
    pub profile_id: String,
    #[serde(default)]
    pub policy_id: Option<String>,
    #[serde(default)]
    pub tailoring: Option<OpenScapTailoring>,
    #[serde(default)]
    pub json_tailoring: Option<OpenScapJsonTailoring>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IgnitionEmbedded {
    pub config: String,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IgnitionFirstboot {
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Ignition {
    #[serde(default)]
    pub embedded: Option<IgnitionEmbedded>,
    #[serde(default)]
    pub firstboot: Option<IgnitionFirstboot>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Directory {
    pub path: String,
    #[serde(default)]
    pub user: Option<IdOrName>,
    #[serde(default)]
    pub group: Option<IdOrName>,
    /// Octal string, e.g. `"0755"`.
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default)]
    pub ensure_parents: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    pub path: String,
    #[serde(default)]
    pub user: Option<IdOrName>,
    #[serde(default)]
    pub group: Option<IdOrName>,
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default)]
    pub data: Option<String>,
    /// Copy from a file on the build host (image-builder extension in osbuild).
    #[serde(default)]
    pub uri: Option<String>,
}

/// `[[customizations.repositories]]`: a .repo file written into the image.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RepositoryCustomization {
    pub id: String,
    #[serde(default)]
    pub baseurls: Vec<String>,
    #[serde(default)]
    pub gpgkeys: Vec<String>,
    #[serde(default)]
    pub metalink: Option<String>,
    #[serde(default)]
    pub mirrorlist: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub priority: Option<i32>,
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub gpgcheck: Option<bool>,
    #[serde(default)]
    pub repo_gpgcheck: Option<bool>,
    #[serde(default)]
    pub sslverify: Option<bool>,
    #[serde(default)]
    pub module_hotfixes: Option<bool>,
    #[serde(default)]
    pub filename: Option<String>,
    #[serde(default)]
    pub install_from: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ContainersStorage {
    #[serde(default, rename = "destination-path")]
    pub destination_path: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InstallerKickstart {
    pub contents: String,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InstallerModules {
    #[serde(default)]
    pub enable: Vec<String>,
    #[serde(default)]
    pub disable: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Installer {
    #[serde(default)]
    pub unattended: Option<bool>,
    #[serde(default, rename = "sudo-nopasswd")]
    pub sudo_nopasswd: Vec<String>,
    #[serde(default)]
    pub kickstart: Option<InstallerKickstart>,
    #[serde(default)]
    pub modules: Option<InstallerModules>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ImportKeys {
    #[serde(default)]
    pub files: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Rpm {
    #[serde(default)]
    pub import_keys: Option<ImportKeys>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CaCerts {
    #[serde(default)]
    pub pem_certs: Vec<String>,
}

/// `[customizations.rhsm]`: accepted so RHEL blueprints parse; refused by
/// validation (no subscription manager on AlmaLinux).
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
pub struct Rhsm {
    #[serde(default)]
    pub config: Option<toml::Table>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Dnf {
    #[serde(default)]
    pub config: Option<DnfConfig>,
    #[serde(default)]
    pub import_keys: Option<ImportKeys>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DnfConfig {
    #[serde(default)]
    pub set_release_ver: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Sshd {
    #[serde(default, rename = "PasswordAuthentication")]
    pub password_authentication: Option<bool>,
    #[serde(default, rename = "ClientAliveInterval")]
    pub client_alive_interval: Option<i64>,
    #[serde(default, rename = "PermitRootLogin")]
    pub permit_root_login: Option<toml::Value>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FirstbootScript {
    #[serde(default)]
    pub name: Option<String>,
    pub contents: String,
    #[serde(default)]
    pub ignore_failure: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Firstboot {
    #[serde(default)]
    pub scripts: Vec<FirstbootScript>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Wsl {
    #[serde(default)]
    pub distribution: Option<toml::Table>,
}

/// `[customizations]`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Customizations {
    #[serde(default)]
    pub hostname: Option<String>,
    #[serde(default)]
    pub kernel: Option<Kernel>,
    #[serde(default)]
    pub sshkey: Vec<SshKey>,
    #[serde(default)]
    pub user: Vec<User>,
    #[serde(default)]
    pub group: Vec<GroupCustomization>,
    #[serde(default)]
    pub timezone: Option<Timezone>,
    #[serde(default)]
    pub locale: Option<Locale>,
    #[serde(default)]
    pub firewall: Option<Firewall>,
    #[serde(default)]
    pub services: Option<Services>,
    #[serde(default)]
    pub filesystem: Vec<Filesystem>,
    #[serde(default)]
    pub disk: Option<Disk>,
    #[serde(default)]
    pub installation_device: Option<String>,
    #[serde(default)]
    pub partitioning_mode: Option<String>,
    #[serde(default)]
    pub fdo: Option<Fdo>,
    #[serde(default)]
    pub openscap: Option<OpenScap>,
    #[serde(default)]
    pub ignition: Option<Ignition>,
    #[serde(default)]
    pub directories: Vec<Directory>,
    #[serde(default)]
    pub files: Vec<File>,
    #[serde(default)]
    pub repositories: Vec<RepositoryCustomization>,
    #[serde(default)]
    pub fips: Option<bool>,
    #[serde(default, rename = "containers-storage")]
    pub containers_storage: Option<ContainersStorage>,
    #[serde(default)]
    pub installer: Option<Installer>,
    #[serde(default)]
    pub rpm: Option<Rpm>,
    #[serde(default)]
    pub rhsm: Option<Rhsm>,
    #[serde(default)]
    pub cacerts: Option<CaCerts>,
    #[serde(default)]
    pub dnf: Option<Dnf>,
    #[serde(default)]
    pub sshd: Option<Sshd>,
    #[serde(default)]
    pub firstboot: Option<Firstboot>,
    #[serde(default)]
    pub wsl: Option<Wsl>,
}

impl Customizations {
    /// TOML keys of the sections that are set, in declaration order.
    pub fn present(&self) -> Vec<&'static str> {
        let checks: [(&'static str, bool); 30] = [
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
            ("installation_device", self.installation_device.is_some()),
            ("partitioning_mode", self.partitioning_mode.is_some()),
            ("fdo", self.fdo.is_some()),
            ("openscap", self.openscap.is_some()),
            ("ignition", self.ignition.is_some()),
            ("directories", !self.directories.is_empty()),
            ("files", !self.files.is_empty()),
            ("repositories", !self.repositories.is_empty()),
            ("fips", self.fips.is_some()),
            ("containers-storage", self.containers_storage.is_some()),
            ("installer", self.installer.is_some()),
            ("rpm", self.rpm.is_some()),
            ("rhsm", self.rhsm.is_some()),
            ("cacerts", self.cacerts.is_some()),
            ("dnf", self.dnf.is_some()),
            ("sshd", self.sshd.is_some()),
            ("firstboot", self.firstboot.is_some()),
            ("wsl", self.wsl.is_some()),
            ("", false),
        ];
        checks
            .iter()
            .filter(|(_, set)| *set)
            .map(|(k, _)| *k)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_and_wrong_types_are_rejected() {
        assert!(toml::from_str::<Customizations>("hostnam = \"x\"").is_err());
        assert!(
            toml::from_str::<Customizations>("[[user]]\nname = \"a\"\npasword = \"x\"").is_err()
        );
        assert!(toml::from_str::<Customizations>("fips = \"yes\"").is_err());
    }

    #[test]
    fn id_or_name_takes_both() {
        let c: Customizations =
            toml::from_str("[[files]]\npath = \"/a\"\nuser = 0\ngroup = \"wheel\"\ndata = \"x\"")
                .unwrap();
        assert_eq!(c.files[0].user, Some(IdOrName::Id(0)));
        assert_eq!(c.files[0].group, Some(IdOrName::Name("wheel".into())));
    }

    #[test]
    fn present_lists_set_sections() {
        let c: Customizations = toml::from_str(
            "hostname = \"h\"\nfips = true\n[[filesystem]]\nmountpoint = \"/var\"\nminsize = 1024",
        )
        .unwrap();
        assert_eq!(c.present(), ["hostname", "filesystem", "fips"]);
    }
}
