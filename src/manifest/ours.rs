//! Our tables on top of the osbuild blueprint format: build-time
//! repositories, outputs, boot and Secure Boot, the bootc base image and
//! build switches. Blueprint keys live in `blueprint`; nothing here renames
//! or reinterprets them.

use super::size::Size;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::PathBuf;

/// A string or a list of strings (`baseurl = "x"` and `baseurl = ["x", "y"]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(untagged)]
pub enum OneOrMany {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            OneOrMany::None => vec![],
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.to_vec().is_empty()
    }
}

/// A build-time package repository (`[[repositories]]`). Used to resolve
/// and fetch packages; never written into the image (that is
/// `[[customizations.repositories]]`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Repository {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "OneOrMany::is_empty")]
    pub baseurl: OneOrMany,
    #[serde(default)]
    pub mirrorlist: Option<String>,
    #[serde(default)]
    pub metalink: Option<String>,
    /// Key files, URLs (file://, https://) or armored keys inline.
    #[serde(default, skip_serializing_if = "OneOrMany::is_empty")]
    pub gpgkey: OneOrMany,
    #[serde(default)]
    pub gpgcheck: Option<bool>,
    #[serde(default)]
    pub repo_gpgcheck: Option<bool>,
    /// Lower wins, as in dnf; default 99.
    #[serde(default)]
    pub priority: Option<i32>,
    #[serde(default)]
    pub install_weak_deps: Option<bool>,
    /// EL8/EL9: packages from this repo bypass module filtering.
    #[serde(default)]
    pub module_hotfixes: Option<bool>,
    /// Only for these architectures (empty: all).
    #[serde(default)]
    pub arches: Vec<String>,
}

/// Output types (`[[output]] type = ...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutputType {
    Tar,
    /// The root tree as a plain directory (what `tar` archives).
    Directory,
    /// Alias `bootc`: a bootable container image.
    #[serde(alias = "bootc")]
    Oci,
    Ostree,
    Raw,
    Qcow2,
    Vmdk,
    Vhd,
    Ami,
    Gce,
    IsoInstaller,
    IsoLive,
}

impl OutputType {
    pub const ALL: [OutputType; 12] = [
        OutputType::Tar,
        OutputType::Directory,
        OutputType::Oci,
        OutputType::Ostree,
        OutputType::Raw,
        OutputType::Qcow2,
        OutputType::Vmdk,
        OutputType::Vhd,
        OutputType::Ami,
        OutputType::Gce,
        OutputType::IsoInstaller,
        OutputType::IsoLive,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OutputType::Tar => "tar",
            OutputType::Directory => "directory",
            OutputType::Oci => "oci",
            OutputType::Ostree => "ostree",
            OutputType::Raw => "raw",
            OutputType::Qcow2 => "qcow2",
            OutputType::Vmdk => "vmdk",
            OutputType::Vhd => "vhd",
            OutputType::Ami => "ami",
            OutputType::Gce => "gce",
            OutputType::IsoInstaller => "iso-installer",
            OutputType::IsoLive => "iso-live",
        }
    }

    pub fn parse(s: &str) -> Option<OutputType> {
        if s == "bootc" {
            return Some(OutputType::Oci);
        }
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// A partitioned disk image (has a partition table and a boot chain).
    pub fn is_disk(self) -> bool {
        matches!(
            self,
            OutputType::Raw
                | OutputType::Qcow2
                | OutputType::Vmdk
                | OutputType::Vhd
                | OutputType::Ami
                | OutputType::Gce
        )
    }

    pub fn is_iso(self) -> bool {
        matches!(self, OutputType::IsoInstaller | OutputType::IsoLive)
    }

    /// Boots by itself (disk or ISO); container images and commits boot
    /// only once deployed.
    pub fn is_bootable(self) -> bool {
        self.is_disk() || self.is_iso()
    }

    /// File name extension of the artifact (none for a directory).
    pub fn extension(self) -> &'static str {
        match self {
            OutputType::Tar => "tar",
            OutputType::Directory => "",
            OutputType::Oci => "oci.tar",
            OutputType::Ostree => "ostree.tar",
            OutputType::Raw | OutputType::Ami => "raw",
            OutputType::Qcow2 => "qcow2",
            OutputType::Vmdk => "vmdk",
            OutputType::Vhd => "vhd",
            OutputType::Gce => "tar.gz",
            OutputType::IsoInstaller | OutputType::IsoLive => "iso",
        }
    }
}

impl fmt::Display for OutputType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Partition table type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PartitionTableType {
    Gpt,
    /// MBR, as sfdisk calls it.
    Dos,
}

/// `[[output]]`: one artifact to build.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Output {
    #[serde(rename = "type")]
    pub kind: OutputType,
    /// Name used by `--only`; defaults to the type.
    #[serde(default)]
    pub name: Option<String>,
    /// Artifact file name in the output directory.
    #[serde(default)]
    pub filename: Option<String>,
    /// Disk size (disk outputs) or minimum root size.
    #[serde(default)]
    pub size: Option<Size>,
    #[serde(default)]
    pub partition_table: Option<PartitionTableType>,
    #[serde(default)]
    pub oci: Option<OciOptions>,
    #[serde(default)]
    pub ostree: Option<OstreeOptions>,
    #[serde(default)]
    pub iso: Option<IsoOptions>,
    #[serde(default)]
    pub ami: Option<AmiOptions>,
    #[serde(default)]
    pub vhd: Option<VhdOptions>,
}

impl Output {
    pub fn name(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| self.kind.as_str().to_string())
    }
}

/// `[output.oci]`: container image options.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OciOptions {
    /// Image reference to tag (`quay.io/org/image:tag`).
    #[serde(default)]
    pub reference: Option<String>,
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
    /// Layer compression: gzip (default), zstd, none.
    #[serde(default)]
    pub compression: Option<String>,
    /// Split the image into at most this many content-based layers.
    #[serde(default)]
    pub max_layers: Option<u32>,
}

/// `[output.ostree]`: OSTree commit options.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OstreeOptions {
    /// The branch the commit is made on (default
    /// `VENDOR/MAJOR/ARCH/NAME`, e.g. `almalinux/10/x86_64/edge`);
    /// `$basearch` is replaced by each architecture's base arch.
    #[serde(rename = "ref", default)]
    pub reference: Option<String>,
    /// The commit this one follows: a commit checksum, or a ref of the
    /// repository at `url`. Without it, `url` alone means "the current
    /// head of `ref` there".
    #[serde(default)]
    pub parent: Option<String>,
    /// The repository (http, https or file URL) the parent commit is
    /// fetched from (its metadata only, as osbuild does).
    #[serde(default)]
    pub url: Option<String>,
    /// An armored OpenPGP secret key file that signs the commit and the
    /// summary (libostree's GPG signatures; Debian's libostree has no
    /// ed25519 signing).
    #[serde(default)]
    pub gpg_key: Option<PathBuf>,
}

/// `[output.iso]`: ISO options.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IsoOptions {
    /// ISO 9660 volume id (max 32 characters).
    #[serde(default)]
    pub volume_id: Option<String>,
    /// Kickstart template from `kickstarts/` or a path.
    #[serde(default)]
    pub kickstart: Option<PathBuf>,
    /// zstd level of `LiveOS/squashfs.img`, 1 to 22 (default 15,
    /// mksquashfs's): a smaller medium for a slower build.
    #[serde(default)]
    pub compression_level: Option<u32>,
}

/// `[output.ami]`: options for EC2 images.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AmiOptions {
    /// `uefi`, `legacy-bios` or `uefi-preferred`.
    #[serde(default)]
    pub boot_mode: Option<String>,
}

/// `[output.vhd]`: options for Azure images.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VhdOptions {
    /// Fixed (Azure) or dynamic.
    #[serde(default)]
    pub subformat: Option<String>,
}

/// Firmware the image boots with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Firmware {
    Uefi,
    Bios,
    /// UEFI and BIOS from one image (x86_64 only).
    Hybrid,
}

impl Firmware {
    pub fn as_str(self) -> &'static str {
        match self {
            Firmware::Uefi => "uefi",
            Firmware::Bios => "bios",
            Firmware::Hybrid => "hybrid",
        }
    }
}

/// Secure Boot mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SecureBootMode {
    /// The vendor chain as shipped: Microsoft → shim → distro GRUB/kernel.
    Distro,
    /// Our own keys sign the boot path.
    Custom,
    /// No Secure Boot.
    Off,
}

/// `[boot]`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Boot {
    #[serde(default)]
    pub firmware: Option<Firmware>,
    /// Extra kernel command line arguments.
    #[serde(default, skip_serializing_if = "OneOrMany::is_empty")]
    pub cmdline: OneOrMany,
    #[serde(default)]
    pub secureboot: Option<SecureBootMode>,
    /// Build a unified kernel image instead of kernel + initramfs.
    #[serde(default)]
    pub uki: Option<bool>,
    /// Key material for `secureboot = "custom"`.
    #[serde(default)]
    pub keys: Option<SecureBootKeys>,
}

/// `[boot.keys]`: paths to keys; private keys are read, never copied.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SecureBootKeys {
    /// Directory written by `image-builder secureboot genkey` (PK, KEK, db, MOK).
    #[serde(default)]
    pub dir: Option<PathBuf>,
    #[serde(default)]
    pub db_key: Option<PathBuf>,
    #[serde(default)]
    pub db_cert: Option<PathBuf>,
    #[serde(default)]
    pub kek_cert: Option<PathBuf>,
    #[serde(default)]
    pub pk_cert: Option<PathBuf>,
    #[serde(default)]
    pub mok_key: Option<PathBuf>,
    #[serde(default)]
    pub mok_cert: Option<PathBuf>,
}

/// `[base]`: derive from a bootc image instead of composing from repos.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Base {
    pub image: String,
    #[serde(default)]
    pub tls_verify: Option<bool>,
}

/// `[build]`: switches for how the build resolves packages, and the
/// scripts it runs in the tree.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Build {
    /// `false`: use only the manifest's `[[repositories]]`.
    #[serde(default)]
    pub distro_repos: Option<bool>,
    /// Install weak dependencies (Recommends/Supplements); default true.
    #[serde(default)]
    pub weak_deps: Option<bool>,
    /// `false`: leave out the distro's default package sets for the
    /// output type (and their excludes); the release package and a
    /// bootable output's kernel and bootloader stay. Default true.
    #[serde(default)]
    pub distro_packages: Option<bool>,
    /// Clamp for file times and build stamps; default `SOURCE_DATE_EPOCH`.
    #[serde(default)]
    pub source_date_epoch: Option<u64>,
    /// Mirror root that replaces the distro repos' server (`--mirror` wins).
    #[serde(default)]
    pub mirror: Option<String>,
    /// `[[build.script]]`: commands run chrooted in the tree after the
    /// customizations, in order (the escape hatch: Containerfile `RUN`,
    /// rpm-ostree `postprocess`, kiwi `config.sh`).
    #[serde(default, rename = "script", skip_serializing_if = "Vec::is_empty")]
    pub scripts: Vec<BuildScript>,
}

/// `[[build.script]]`: one build-time script.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BuildScript {
    /// For messages and `plan`; default `script N` (1-based).
    #[serde(default)]
    pub name: Option<String>,
    /// The script inline (exactly one of `run` and `file`).
    #[serde(default)]
    pub run: Option<String>,
    /// The script in a file, relative to the manifest's directory.
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// Absolute path of the interpreter in the tree; default `/bin/sh`.
    #[serde(default)]
    pub interpreter: Option<String>,
    /// Give the script the host's network; default false (a network
    /// namespace of its own, with nothing in it).
    #[serde(default)]
    pub network: Option<bool>,
}

impl BuildScript {
    /// The name messages use: `name`, else `script N` (`i` is 0-based).
    pub fn display_name(&self, i: usize) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("script {}", i + 1))
    }
}
