#!/bin/bash
# Install benchmark, warm cache: the systemd fixture set (systemd's closure,
# kernel-core, shim, GRUB, busybox, the scriptlet and capability packages)
# installed into an empty root by
#   - image-builder build --locked (output `directory`: install, presets,
#     no customizations), packages already in our cache;
#   - Debian's dnf --installroot from the same local repo, metadata cache
#     warm;
#   - plain `rpm -i` of the same files with digests and signatures checked
#     (what our install step does minus the skipped re-verification);
# side by side, median of RUNS runs, wall time and peak RSS (GNU time:
# the largest of the process and its children). Then the physical floor:
# the payload bytes over the measured speed of decompressing them
# (rpm2cpio > /dev/null) plus writing them (cpio -idm into a directory).
#
# usage: bench/install.sh            (RUNS=3 by default)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
RUNS=${RUNS:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
command -v /usr/bin/time >/dev/null || apt-get install -y -q time >/dev/null
"$top/tests/fixtures/build-fixtures.sh"
fx=$top/tests/fixtures/build
(cd "$top" && cargo build --release -q)
ib=$top/target/release/image-builder
export IMAGE_BUILDER_FIXTURE_ROOT=$fx IMAGE_BUILDER_CACHE_DIR=$work/ibcache
pkgs="systemd kernel-core shim-x64 grub2-efi-x64 busybox fixture-release fixture-scriptlets fixture-caps"

m=$work/bench.toml
{
  echo 'name = "bench"'; echo 'distro = "fixture"'; echo 'architectures = ["x86_64"]'
  echo '[build]'; echo 'distro_repos = false'; echo 'weak_deps = false'
  echo '[[repositories]]'; echo 'id = "fx"'; echo "baseurl = [\"file://$fx/repos/main/x86_64/\"]"
  echo "gpgkey = [\"file://$fx/keys/RPM-GPG-KEY-fixture\"]"
  for p in $pkgs; do echo '[[packages]]'; echo "name = \"$p\""; done
  echo '[[output]]'; echo 'type = "directory"'
} >"$m"
"$ib" lock -q "$m"
"$ib" build --locked -q -o "$work/warm" "$m" >/dev/null   # fills our cache
rm -rf "$work/warm"
mapfile -t files < <(python3 - "$work/bench.lock" "$work/ibcache" <<'EOF'
import sys, tomllib
lock = tomllib.load(open(sys.argv[1], "rb"))
for p in lock["target"][0]["package"]:
    print(f"{sys.argv[2]}/rpms-v1/{p['checksum'].split(':', 1)[1]}.rpm")
EOF
)
n=${#files[@]}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
measure() { # CMD... -> "seconds kb"
  /usr/bin/time -o "$work/time" -f "%e %M" "$@" >"$work/out" 2>&1 || { cat "$work/out" >&2; exit 1; }
  tail -1 "$work/time"
}
dnf_run() {
  rm -rf "$work/dnfroot"
  dnf -y -q --installroot="$work/dnfroot" --releasever=1 --forcearch=x86_64 \
    --setopt=reposdir=/dev/null --setopt=cachedir="$work/dnfcache" \
    --setopt=install_weak_deps=False --setopt=best=True \
    --repofrompath=fx,"file://$fx/repos/main/x86_64" --setopt=fx.gpgcheck=1 \
    --setopt=fx.gpgkey="file://$fx/keys/RPM-GPG-KEY-fixture" install $pkgs
}
ours_run() { rm -rf "$work/o"; "$ib" build --locked -q -o "$work/o" "$m"; }
rpm_run() {
  rm -rf "$work/rpmroot"; mkdir "$work/rpmroot"
  mapfile -t fs <"$files_list"
  rpm --root "$work/rpmroot" --dbpath /var/lib/rpm --define '_db_backend sqlite' -i --force-debian "${fs[@]}"
}
export work fx pkgs ib m
export -f dnf_run ours_run rpm_run
files_list=$work/files.txt; printf '%s\n' "${files[@]}" >"$files_list"; export files_list
dnf_run >/dev/null 2>&1 || true   # warm dnf's metadata cache
declare -A t=() r=()
for tool in dnf rpm ours; do
  ts=(); rs=()
  for _ in $(seq "$RUNS"); do
    read -r s k < <(measure bash -c "${tool}_run")
    ts+=("$s"); rs+=("$k")
  done
  t[$tool]=$(printf '%s\n' "${ts[@]}" | median)
  r[$tool]=$(( $(printf '%s\n' "${rs[@]}" | median) / 1024 ))
done

# The floor: decompress every payload, then write it out.
payload=$(rpm -qp --qf '%{SIZE}\n' "${files[@]}" 2>/dev/null | awk '{s+=$1} END {print s}')
s=$(date +%s.%N); for f in "${files[@]}"; do rpm2cpio "$f" >/dev/null; done; e=$(date +%s.%N)
dec=$(echo "$e - $s" | bc)
rm -rf "$work/cpio"; mkdir "$work/cpio"
s=$(date +%s.%N); for f in "${files[@]}"; do rpm2cpio "$f" | (cd "$work/cpio" && cpio -idm --quiet 2>/dev/null); done; e=$(date +%s.%N)
both=$(echo "$e - $s" | bc)

mib=$(echo "scale=1; $payload / 1048576" | bc)
printf '%s packages, %s MiB installed payload, median of %s runs\n\n' "$n" "$mib" "$RUNS"
printf '%-34s %8s %10s\n' tool seconds "peak MiB"
printf '%-34s %8s %10s\n' "dnf --installroot (warm metadata)" "${t[dnf]}" "${r[dnf]}"
printf '%-34s %8s %10s\n' "rpm -i (digests + signatures)" "${t[rpm]}" "${r[rpm]}"
printf '%-34s %8s %10s\n' "image-builder build --locked" "${t[ours]}" "${r[ours]}"
printf '\nratio dnf / ours: %s×\n' "$(echo "scale=2; ${t[dnf]} / ${t[ours]}" | bc)"
printf 'floor: decompress %.2f s (%.0f MiB/s); decompress + write (rpm2cpio | cpio) %.2f s\n' \
  "$dec" "$(echo "$mib / $dec" | bc -l)" "$both"
