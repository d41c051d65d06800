#!/bin/bash
# Disk benchmark, warm cache: the fixture qcow2 (manifests/fixture/qcow2.toml:
# hybrid BIOS/UEFI, XFS root, shim → GRUB → kernel, dracut initramfs),
# manifest to finished file, side by side in one run:
#   - ours: image-builder build --locked, packages already in our cache;
#   - dnf: Debian's dnf --installroot of the same package set from the same
#     local fixture repo (metadata cache warm), plus the same disk assembly
#     as ours (our qcow2 build minus our directory build of the same tree:
#     kernel/initramfs, boot chain, filesystems, partition table, qcow2);
#   - mkosi 24.3 (bookworm-backports) building the same package set from
#     the same repo into a GPT disk (systemd-repart, XFS root), then
#     qemu-img convert to qcow2.
# Median of RUNS runs, wall time and peak RSS (GNU time: the largest of the
# process and its children).
#
# mkosi is not installed on the host: its .deb and systemd 254's (repart,
# libsystemd-shared) are unpacked with `dpkg -x` under $MKOSI_PREFIX and
# run through wrappers that set LD_LIBRARY_PATH, so the host keeps its
# systemd 252. mkosi's sandbox needs bwrap on the host (bookworm's
# bubblewrap; no systemd involved).
#
# usage: bench/disk.sh        (RUNS=3; IB=path/to/image-builder to skip
#                              the release build; MKOSI_PREFIX=/opt/bench-mkosi)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
RUNS=${RUNS:-3}
MKOSI_PREFIX=${MKOSI_PREFIX:-/opt/bench-mkosi}
work=$(mktemp -d /var/tmp/bench-disk.XXXXXX)
trap 'rm -rf "$work"' EXIT

# --- host tools -----------------------------------------------------------
need() { command -v "$1" >/dev/null || apt-get install -y -q "$2" >/dev/null; }
need /usr/bin/time time
need bwrap bubblewrap
need createrepo_c createrepo-c
need rpmbuild rpm
need dnf dnf
if [ ! -x "$MKOSI_PREFIX/bin/mkosi" ]; then
  grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/ || {
    printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
      >/etc/apt/sources.list.d/bpo.sources
    apt-get update -q >/dev/null
  }
  mkdir -p "$MKOSI_PREFIX/debs" "$MKOSI_PREFIX/bin/.root"
  (cd "$MKOSI_PREFIX/debs" && apt-get download -q \
    mkosi=24.3-1~bpo12+1 systemd=254.26-1~bpo12+1 libsystemd-shared=254.26-1~bpo12+1 2>/dev/null)
  r=$MKOSI_PREFIX/bin/.root   # inside bin/: mkosi mounts its search paths into its sandbox
  for d in "$MKOSI_PREFIX"/debs/*.deb; do dpkg -x "$d" "$r"; done
  for f in "$r"/bin/* "$r"/usr/bin/*; do
    n=$(basename "$f")
    case $n in mkosi | mkosi-initrd) continue ;; esac
    printf '#!/bin/sh\nLD_LIBRARY_PATH=%s exec %s "$@"\n' "$r/usr/lib/x86_64-linux-gnu/systemd" "$f" >"$MKOSI_PREFIX/bin/$n"
    chmod +x "$MKOSI_PREFIX/bin/$n"
  done
  printf '#!/bin/sh\nPYTHONPATH=%s exec python3 -m mkosi "$@"\n' "$r/usr/lib/python3/dist-packages" >"$MKOSI_PREFIX/bin/mkosi"
  chmod +x "$MKOSI_PREFIX/bin/mkosi"
fi
mkosi_bin=$MKOSI_PREFIX/bin

"$top/tests/fixtures/build-fixtures.sh"
fx=$top/tests/fixtures/build
if [ -z "${IB:-}" ]; then
  (cd "$top" && cargo build --release -q)
  IB=${CARGO_TARGET_DIR:-$top/target}/release/image-builder
fi
export IMAGE_BUILDER_FIXTURE_ROOT=$fx IMAGE_BUILDER_CACHE_DIR=$work/ibcache

# --- ours -----------------------------------------------------------------
cp "$top/manifests/fixture/qcow2.toml" "$work/qcow2.toml"
m=$work/qcow2.toml
"$IB" lock -q "$m"
"$IB" build --locked -q -o "$work/warm" "$m" >/dev/null   # fills our cache
rm -rf "$work/warm"
# The package set our plan installs, for dnf and mkosi.
pkgs=$("$IB" --json plan "$m" | python3 -c '
import json, sys
p = json.load(sys.stdin)
# Every package set of the chain (base, customizations, manifest).
print(" ".join(sorted({i for t in p["arches"][0]["outputs"][0]["packages"]["chain"] for i in t["include"]})))')
# The same manifest as a directory output: the kernel arguments, boot
# settings and partition layout have nothing to apply to, so they go; the
# boot packages a disk output implies are asked for by name, so both
# builds install the same set.
md=$work/dir.toml
python3 "$here/directory-twin.py" "$m" "$md" "$pkgs"
"$IB" lock -q "$md"
count() { python3 -c 'import sys, tomllib; print(len(tomllib.load(open(sys.argv[1], "rb"))["target"][0]["package"]))' "$1"; }
n_ours=$(count "$work/qcow2.lock")
n_dir=$(count "$work/dir.lock")
[ "$n_ours" = "$n_dir" ] || { echo "qcow2 and directory builds lock different sets ($n_ours, $n_dir)" >&2; exit 1; }

# --- mkosi ----------------------------------------------------------------
# mkosi's Alma installer first installs `basesystem`, which the fixture
# distribution does not have: a one-line stand-in (Requires: setup, no
# files) in a second repo. The fixture repo is hard-linked under one
# directory given as LocalMirror=, the one path mkosi mounts into the
# sandbox dnf runs in.
mir=$work/mirror
mkdir -p "$mir" "$work/bs"
cp -al "$fx/repos" "$mir/repos"
cp -al "$fx/keys" "$mir/keys"
cat >"$work/bs/basesystem.spec" <<'EOF'
Name: basesystem
Version: 11
Release: 1
Summary: stand-in for mkosi's first EL package
License: MIT
BuildArch: noarch
Requires: setup
%description
Stand-in so mkosi's Alma installer finds basesystem.
%files
EOF
rpmbuild -bb -v --quiet --define "_topdir $work/bs/top" --define "_rpmdir $mir/extra" \
  --define '_build_name_fmt %%{NAME}.rpm' "$work/bs/basesystem.spec" >/dev/null 2>&1
createrepo_c -q "$mir/extra"
mk=$work/mkosi
mkdir -p "$mk/pm/etc/yum.repos.d" "$mk/skel/usr/lib"
cat >"$mk/pm/etc/yum.repos.d/mkosi.repo" <<EOF
[fixture]
name=fixture
baseurl=file://$mir/repos/main/x86_64/
gpgcheck=1
gpgkey=file://$mir/keys/RPM-GPG-KEY-fixture

[benchextra]
name=benchextra
baseurl=file://$mir/extra/
gpgcheck=0
EOF
# mkosi insists on /usr/lib/os-release; the fixture ships /etc/os-release.
printf 'NAME="Fixture Linux"\nID=fixture\nVERSION_ID=1\nPRETTY_NAME="Fixture Linux 1"\n' >"$mk/skel/usr/lib/os-release"
cat >"$mk/mkosi.conf" <<EOF
[Distribution]
Distribution=alma
Release=9
Architecture=x86-64
PackageManagerTrees=pm
LocalMirror=file://$mir

[Output]
Format=disk
Output=image
OutputDirectory=out
CacheDirectory=cache

[Content]
Packages=$(echo "$pkgs" | tr ' ' ',')
WithRecommends=yes
SkeletonTrees=skel
Bootable=no

[Host]
ExtraSearchPaths=$mkosi_bin
EOF

# --- runs -----------------------------------------------------------------
ours_run() { "$IB" build --locked -q -o "$work/o" "$m" >/dev/null; }
ours_dir_run() { "$IB" build --locked -q -o "$work/d" "$md" >/dev/null; }
dnf_run() {
  # shellcheck disable=SC2086
  dnf -y -q --installroot="$work/dnfroot" --releasever=1 --forcearch=x86_64 \
    --setopt=reposdir=/dev/null --setopt=cachedir="$work/dnfcache" \
    --setopt=install_weak_deps=True --setopt=best=True \
    --repofrompath=fx,"file://$fx/repos/main/x86_64" --setopt=fx.gpgcheck=1 \
    --setopt=fx.gpgkey="file://$fx/keys/RPM-GPG-KEY-fixture" install $pkgs
}
mkosi_run() {
  cd "$mk" && PATH=$mkosi_bin:$PATH mkosi -f build &&
    qemu-img convert -q -f raw -O qcow2 -o compat=1.1 out/image.raw out/image.qcow2
}
export work fx pkgs IB m md mk mkosi_bin
export -f ours_run ours_dir_run dnf_run mkosi_run
dnf_run >/dev/null 2>&1       # warm dnf's metadata cache
n_dnf=$(rpm --root "$work/dnfroot" --dbpath /root/.rpmdb -qa 2>/dev/null | wc -l)   # Debian rpm's default dbpath
mkosi_run >"$work/mkosi.log" 2>&1 || { tail -20 "$work/mkosi.log" >&2; exit 1; }   # warm mkosi's
n_mkosi=$(grep -c '^  Installing  ' "$work/mkosi.log" || true)

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
measure() { # CMD... -> "seconds kb"
  # Each run starts from the same state: previous outputs gone and no
  # dirty pages left to write back (this machine's disk is shared).
  rm -rf "$work/o" "$work/d" "$work/dnfroot" "$mk/out"
  sync
  /usr/bin/time -o "$work/time" -f "%e %M" "$@" >"$work/out" 2>&1 || { tail -20 "$work/out" >&2; exit 1; }
  tail -1 "$work/time"
}
declare -A t=() r=()
for tool in ours ours_dir dnf mkosi; do
  ts=(); rs=()
  for _ in $(seq "$RUNS"); do
    read -r s k < <(measure bash -c "${tool}_run")
    ts+=("$s"); rs+=("$k")
  done
  case $tool in
    ours) out_ours=$(ls "$work"/o/*.qcow2) && sz_ours=$(du -m --apparent-size "$out_ours" | cut -f1) ;;
    mkosi) sz_mkosi=$(du -m --apparent-size "$mk/out/image.qcow2" | cut -f1) ;;
  esac
  t[$tool]=$(printf '%s\n' "${ts[@]}" | median)
  r[$tool]=$(( $(printf '%s\n' "${rs[@]}" | median) / 1024 ))
done
asm=$(echo "${t[ours]} - ${t[ours_dir]}" | bc)
dnf_total=$(echo "${t[dnf]} + $asm" | bc)

printf 'fixture qcow2, warm caches, median of %s runs (packages: ours %s, dnf %s, mkosi %s incl. basesystem)\n\n' \
  "$RUNS" "$n_ours" "$n_dnf" "$n_mkosi"
printf '%-48s %8s %10s\n' tool seconds "peak MiB"
printf '%-48s %8s %10s\n' "image-builder build --locked (qcow2)" "${t[ours]}" "${r[ours]}"
printf '%-48s %8s %10s\n' "  of which install + customize (directory)" "${t[ours_dir]}" "${r[ours_dir]}"
printf '%-48s %8s %10s\n' "  of which disk assembly (difference)" "$asm" ""
printf '%-48s %8s %10s\n' "dnf --installroot (warm metadata)" "${t[dnf]}" "${r[dnf]}"
printf '%-48s %8s %10s\n' "dnf + our disk assembly" "$dnf_total" ""
printf '%-48s %8s %10s\n' "mkosi 24.3 (disk, no boot chain) + qemu-img" "${t[mkosi]}" "${r[mkosi]}"
printf '\nratio (dnf + assembly) / ours: %s×\n' "$(echo "scale=2; $dnf_total / ${t[ours]}" | bc)"
printf 'ratio mkosi / ours: %s×\n' "$(echo "scale=2; ${t[mkosi]} / ${t[ours]}" | bc)"
printf 'qcow2 file sizes: ours %s MiB (2 GiB disk, boot chain), mkosi %s MiB (root only, sized to fit)\n' "$sz_ours" "$sz_mkosi"
