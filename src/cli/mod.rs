//! Command-line structs (clap derive) and nothing else.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Build AlmaLinux bootc images, disk images and ISOs from one manifest.
#[derive(Debug, Parser)]
#[command(name = "image-builder", version, max_term_width = 80)]
#[command(about = "Build AlmaLinux bootc images, disk images and ISOs from one TOML manifest")]
#[command(after_help = "Exit status: 0 success, 1 build failed, 2 bad input.")]
pub struct Cli {
    /// Machine-readable output: JSON on stdout, one object (or JSON lines for progress)
    #[arg(long, global = true)]
    pub json: bool,
    /// More log output on stderr (repeat for more)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors on stderr
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Cache directory (default: $XDG_CACHE_HOME/image-builder)
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        env = "IMAGE_BUILDER_CACHE_DIR"
    )]
    pub cache_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build the manifest's outputs
    Build(BuildArgs),
    /// Judge a manifest (and build's flags) as `build` would; build nothing
    Validate(ValidateArgs),
    /// Print everything a build would decide: repos, packages, disk, boot
    Plan(SelectArgs),
    /// Resolve every arch and output and write MANIFEST.lock
    Lock(LockArgs),
    /// Manage the download and metadata cache
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Boot an artifact in QEMU (Secure Boot enforced by default) and check the guest's report
    Verify(VerifyArgs),
    /// Secure Boot keys for `secureboot = "custom"` images
    #[command(subcommand)]
    Secureboot(SecurebootCommand),
    /// Push a bootc/OCI artifact to a registry, an OCI layout or an OCI archive
    Publish(PublishArgs),
    /// Cosign-compatible image signing keys
    #[command(subcommand)]
    Sign(SignCommand),
    /// Run the bootc container lints over a tree or an OCI image
    Lint(LintArgs),
    /// List known distros and architectures
    Distros,
}

#[derive(Debug, Args)]
pub struct LockArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    /// Only check that the lockfile is up to date; write nothing
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Delete cached packages and metadata no longer referenced
    Prune(PruneArgs),
    /// Print where the cache lives and how big it is
    Info,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove entries not used for this many days (default: all unreferenced)
    #[arg(long, value_name = "DAYS")]
    pub older_than: Option<u64>,
    /// Remove everything, including metadata
    #[arg(long)]
    pub all: bool,
    /// Keep the stage store (finished build stages) at most this big,
    /// dropping least recently used stages first (e.g. 20G, 500M)
    #[arg(long, value_name = "SIZE")]
    pub max_size: Option<String>,
}

/// Which arches and outputs of a manifest to work on.
#[derive(Debug, Args, Clone)]
pub struct SelectArgs {
    /// Manifest file (TOML; osbuild blueprints work as they are)
    pub manifest: PathBuf,
    /// Only this architecture (repeatable); default: the manifest's, else the host's
    #[arg(long = "arch", value_name = "ARCH")]
    pub arches: Vec<String>,
    /// Build this output type instead of the manifest's [[output]] (repeatable)
    #[arg(long = "type", value_name = "TYPE")]
    pub types: Vec<String>,
    /// Only the [[output]] with this name (repeatable)
    #[arg(long, value_name = "OUTPUT")]
    pub only: Vec<String>,
    /// Take the distro repos from this mirror root (the directory holding $releasever/); wins over [build] mirror
    #[arg(long, value_name = "URL")]
    pub mirror: Option<String>,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub run: RunArgs,
    /// Use MANIFEST.lock as it is; fail if it no longer matches the manifest
    #[arg(long)]
    pub locked: bool,
    /// Run every stage: neither reuse nor keep stages in the cache's stage store
    #[arg(long)]
    pub no_cache: bool,
}

/// `validate`: a manifest and the flags a build would get.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub run: RunArgs,
}

/// Flags of a build that `validate` judges too.
#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    /// Where artifacts go
    #[arg(long, short = 'o', value_name = "DIR", default_value = ".")]
    pub output_dir: PathBuf,
    /// Boot every disk image in QEMU (Secure Boot as the manifest says) and fail unless it reports
    #[arg(long)]
    pub verify: bool,
    /// Push bootc/OCI outputs to REF (docker://HOST/REPO:TAG, oci:DIR:TAG, oci-archive:FILE:TAG)
    #[arg(long, value_name = "REF")]
    pub push: Option<String>,
    /// With --push: `false` allows plain-HTTP registries and unverified TLS (as skopeo spells it)
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)]
    pub tls_verify: bool,
    /// With --push: sign the pushed image with this cosign key (sigstore signature, `.sig` tag)
    #[arg(long, value_name = "KEY")]
    pub sign_key: Option<PathBuf>,
}

/// `publish ARTIFACT REF`.
#[derive(Debug, clap::Args)]
pub struct PublishArgs {
    /// An OCI archive or layout written by `build` (e.g. out/bootc.oci.tar)
    pub artifact: PathBuf,
    /// Where to: docker://HOST/REPO:TAG, oci:DIR:TAG or oci-archive:FILE:TAG
    pub reference: String,
    /// `false` allows plain-HTTP registries and unverified TLS (as skopeo spells it)
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)]
    pub tls_verify: bool,
    /// Sign what is pushed with this cosign key (sigstore signature, `.sig` tag)
    #[arg(long, value_name = "KEY")]
    pub sign_key: Option<PathBuf>,
    /// Registry credentials file (default: containers' auth.json, then docker's config.json)
    #[arg(long, value_name = "FILE", env = "REGISTRY_AUTH_FILE")]
    pub authfile: Option<PathBuf>,
}

/// `sign …`: cosign-compatible signing keys.
#[derive(Debug, Subcommand)]
pub enum SignCommand {
    /// Write a cosign key pair (DIR/cosign.key, DIR/cosign.pub); password from $COSIGN_PASSWORD
    Genkey {
        /// Directory to write into (created)
        dir: PathBuf,
    },
}

/// `lint PATH`.
#[derive(Debug, clap::Args)]
pub struct LintArgs {
    /// A tree (directory) or an OCI archive/layout written by `build`
    pub path: PathBuf,
}

/// `verify ARTIFACT`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// Disk image (raw, qcow2, vmdk, vhd) or ISO to boot
    pub artifact: PathBuf,
    /// Secure Boot: `ms` (Microsoft keys enrolled, enforced), `custom` (the keys from --keys), `off`
    #[arg(long, default_value = "ms")]
    pub secureboot: String,
    /// Firmware: `uefi` or `bios`
    #[arg(long, default_value = "uefi")]
    pub firmware: String,
    /// Guest architecture (default: x86_64)
    #[arg(long, default_value = "x86_64")]
    pub arch: String,
    /// Directory made by `secureboot genkey` (for --secureboot custom)
    #[arg(long)]
    pub keys: Option<PathBuf>,
    /// Expected report fields (a qemu-tests/*.toml file)
    #[arg(long)]
    pub expect: Option<PathBuf>,
    /// Give up after this many seconds
    #[arg(long, default_value_t = 180)]
    pub timeout: u64,
    /// Accelerator: `tcg`, `kvm`, or `auto` (KVM only if a probe shows it works)
    #[arg(long, default_value = "tcg")]
    pub accel: String,
    /// Expect the firmware/shim to refuse the image (a negative test) instead of a report
    #[arg(long)]
    pub expect_refusal: bool,
    /// How the artifact is attached: `disk` (virtio), `cdrom` or `usb` (removable media,
    /// for ISOs); default: cdrom for an ISO 9660 image, else disk
    #[arg(long)]
    pub media: Option<String>,
}

/// `secureboot …`.
#[derive(Debug, clap::Subcommand)]
pub enum SecurebootCommand {
    /// Create PK, KEK, db and MOK keys with certificates, and enrollment files, in DIR
    Genkey {
        dir: PathBuf,
        /// Common-name prefix of the certificates
        #[arg(long, default_value = "image-builder test")]
        name: String,
    },
}
