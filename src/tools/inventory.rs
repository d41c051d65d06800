//! Every host program image-builder runs, with the package that ships it
//! on AlmaLinux (the builder's `Containerfile` installs exactly these) and
//! on Debian (`scripts/install-deps.sh`). Debug builds refuse to start a
//! program that is not listed here, so the test suite keeps the list (and
//! through `tests/containerfile.rs`, the container image) complete: a new
//! tool cannot be used without being declared. Programs run inside a tree
//! (chrooted: its dracut, its systemd-tmpfiles) are the tree's, not the
//! host's, and are not listed.

/// One host program.
#[derive(Debug, Clone, Copy)]
pub struct Tool {
    /// The name run (a path's file name counts: `/opt/…/virt-fw-vars`).
    pub program: &'static str,
    /// The AlmaLinux 10 package providing it; None: not in AlmaLinux's
    /// repositories (say where it comes from in `why`).
    pub almalinux: Option<&'static str>,
    pub debian: &'static str,
    pub why: &'static str,
}

const fn t(
    program: &'static str,
    almalinux: &'static str,
    debian: &'static str,
    why: &'static str,
) -> Tool {
    Tool {
        program,
        almalinux: Some(almalinux),
        debian,
        why,
    }
}

pub const HOST_TOOLS: &[Tool] = &[
    t("blkid", "util-linux", "util-linux", "filesystem UUIDs of built images"),
    t("chroot", "coreutils", "coreutils", "runs a tree's own programs"),
    t("cp", "coreutils", "coreutils", "copies trees (reflinks where possible)"),
    t("fsck.vfat", "dosfstools", "dosfstools", "checks ESPs"),
    t("getfattr", "attr", "attr", "reads xattrs of trees"),
    t("gpg", "gnupg2", "gnupg", "repo metadata signatures"),
    t("gpgconf", "gnupg2", "gnupg", "stops gpg agents of temporary homes"),
    t("gpgv", "gnupg2", "gpgv", "detached signature checks"),
    t("grub-mkimage", "grub2-tools", "grub-common", "BIOS GRUB core images (AlmaLinux names it grub2-mkimage: the Containerfile links it)"),
    t("losetup", "util-linux", "mount", "XFS roots and verify's injection"),
    t("mdir", "mtools", "mtools", "reads FAT images in checks"),
    t("mkfs.ext4", "e2fsprogs", "e2fsprogs", "ext4 filesystems (mkfs -d)"),
    t("mkfs.xfs", "xfsprogs", "xfsprogs", "XFS filesystems"),
    t("mkswap", "util-linux", "util-linux", "swap partitions"),
    t("mksquashfs", "squashfs-tools", "squashfs-tools", "live ISOs' LiveOS/squashfs.img"),
    t("mount", "util-linux", "mount", "XFS roots"),
    t("objcopy", "binutils", "binutils", "assembles x86_64 UKIs"),
    Tool {
        program: "aarch64-linux-gnu-objcopy",
        almalinux: None,
        debian: "binutils-aarch64-linux-gnu",
        why: "assembles aarch64 UKIs on x86_64 hosts (Debian's cross binutils; on an aarch64 host objcopy does)",
    },
    t("openssl", "openssl", "openssl", "Secure Boot keys and certificates"),
    t("ostree", "ostree", "ostree", "OSTree commits and deployments"),
    t("qemu-img", "qemu-img", "qemu-utils", "qcow2/vmdk/vhd conversion, checks"),
    t("qemu-system-x86_64", "qemu-kvm-core", "qemu-system-x86", "verify boots (AlmaLinux ships /usr/libexec/qemu-kvm: the Containerfile links it)"),
    Tool {
        program: "qemu-system-aarch64",
        almalinux: None,
        debian: "qemu-system-arm",
        why: "verify boots of aarch64 images on other hosts (AlmaLinux has no cross-arch system emulators)",
    },
    Tool {
        program: "qemu-system-ppc64",
        almalinux: None,
        debian: "qemu-system-ppc",
        why: "verify boots of ppc64le images",
    },
    Tool {
        program: "qemu-system-s390x",
        almalinux: None,
        debian: "qemu-system-misc",
        why: "verify boots of s390x images",
    },
    t("rpm", "rpm", "rpm", "installs packages into trees"),
    t("rpmkeys", "rpm", "rpm", "package signature checks"),
    t("sbsign", "sbsigntools", "sbsigntool", "signs EFI binaries (secureboot = custom)"),
    t("sbverify", "sbsigntools", "sbsigntool", "checks signatures of EFI binaries"),
    t("setfattr", "attr", "attr", "writes xattrs of trees"),
    t("setfiles", "policycoreutils", "policycoreutils", "SELinux labels"),
    t("sfdisk", "util-linux", "fdisk", "partition tables"),
    t("sh", "bash", "dash", "build scripts' interpreter"),
    t("systemctl", "systemd", "systemd", "presets and services (--root)"),
    t("tar", "tar", "tar", "trees into filesystems and archives"),
    t("umount", "util-linux", "mount", "XFS roots"),
    t("xorriso", "xorriso", "xorriso", "ISO 9660 media, El Torito and hybrid layout"),
    t("unshare", "util-linux", "util-linux", "sandboxed build scripts, the image's chrooted ostree"),
    t("unsquashfs", "squashfs-tools", "squashfs-tools", "verify's report unit into live ISOs"),
    Tool {
        program: "virt-fw-vars",
        almalinux: Some("python3-virt-firmware"),
        debian: "virt-firmware (PyPI, in the test venv)",
        why: "UEFI variable stores with enrolled keys for verify",
    },
];

/// Programs only the tests run through this module (a registry on
/// 127.0.0.1, reading images back, the built binary itself): allowed in
/// debug builds, never installed in the container.
pub const TEST_TOOLS: &[&str] = &[
    "date",
    "docker-registry",
    "htpasswd",
    "image-builder",
    // tests/ostree_tool.rs: the host ostree's libraries for a test image.
    "ldd",
    "skopeo",
    "sleep",
];

fn name_of(program: &str) -> &str {
    std::path::Path::new(program)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(program)
}

/// The declaration of `program` (a name or a path).
pub fn lookup(program: &str) -> Option<&'static Tool> {
    let name = name_of(program);
    HOST_TOOLS.iter().find(|t| t.program == name)
}

/// Debug builds (the test suite) refuse undeclared programs.
pub fn check(program: &str) -> anyhow::Result<()> {
    if cfg!(debug_assertions)
        && lookup(program).is_none()
        && !TEST_TOOLS.contains(&name_of(program))
    {
        anyhow::bail!(
            "{program} is not declared in src/tools/inventory.rs (every host program is, with its packages)"
        );
    }
    Ok(())
}
