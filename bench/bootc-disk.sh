#!/bin/bash
# Disk from a bootc image vs the same disk from packages (issue 12), warm
# cache, side by side in one run. Each line is `image-builder build
# --locked` of one manifest:
#   - package path: manifests/fixture/qcow2.toml (65 packages, cached), and
#     the same manifest as a `directory` output with the same package set
#     (as bench/disk.sh); qcow2 minus directory = the disk stage: depmod,
#     dracut's initramfs, boot chain, ESP, /boot, XFS root, partition table,
#     qcow2 conversion and flush.
#   - deployed: the fixture bootc image (manifests/fixture/bootc-qcow2.toml's
#     `image` output, built once before timing) deployed from an
#     `oci-archive:` base into a qcow2: bootc-qcow2.toml with
#     `[base] image = "oci-archive:FILE"`, no bootc output, and qcow2.toml's
#     root partition (XFS), so both disks have the same layout (2 GiB,
#     hybrid BIOS/UEFI, ESP, /boot, XFS root). The run contains: reading
#     the image (blobs copied from the archive into a layout, layers
#     unpacked; the "tree" of this path), the OSTree conversion and
#     commit, `ostree admin deploy`, customizations on the deployment,
#     ESP/GRUB/aleph, filesystems, partition table, qcow2 conversion. The
#     initramfs was built when the image was composed: no dracut here.
#     The deployed sysroot is kept in the build cache
#     (artifact::ostree::cache, keyed by the image digest and what the
#     deployment was given), so, as the package path's RPMs, it is warm:
#     each deployed manifest is built once untimed first, and a timed
#     build reads the manifest and config of the image, verifies the
#     cached sysroot and links it, then makes the disk.
#   - deployed, cold sysroot cache: the same, with the cached sysroots
#     removed before every run (layers applied, commit, deploy, cache
#     written), for reference.
#   - deployed, ext4 root: bootc-qcow2.toml's own layout (the distro's
#     ext4 root), for reference.
# Every timed build runs with --json and each event line is stamped as it
# arrives, which splits the run into plan (start → `stage: build`), tree
# (→ `tree`: packages installed, or the image read and unpacked), disk
# stage (→ `artifact`: the qcow2 written and flushed) and exit (work
# directory removed).
# Target (issue 12): deployed <= 1.5 x the package path's disk stage.
# Median of RUNS runs, wall time and peak RSS (GNU time: the largest single
# process of the tree). Before each run the previous output is removed
# and `sync` run outside the timing. PROFILE=1 adds one `-vv` run of the
# deployed build with every log line timestamped (where the time goes),
# with the sysroot cache cleared first (the cold path).
#
# usage: bench/bootc-disk.sh   (RUNS=3; IB=path/to/image-builder skips the
#                               release build; PROFILE=1)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
RUNS=${RUNS:-3}
PROFILE=${PROFILE:-0}
# ostree marks a deployment's root immutable (chattr +i), and the deployed
# build leaves its work directory (with the sysroot) in the output
# directory: clear the flag before removing anything.
rmtree() { # DIR...
  find "$@" -depth -type d -path '*/ostree/deploy/*/deploy/*.0' -exec chattr -i {} + 2>/dev/null || true
  rm -rf "$@"
}
work=$(mktemp -d /var/tmp/bench-bootc-disk.XXXXXX)
trap 'rmtree "$work"' EXIT

command -v /usr/bin/time >/dev/null || apt-get install -y -q time >/dev/null
"$top/tests/fixtures/build-fixtures.sh"
fx=$top/tests/fixtures/build
if [ -z "${IB:-}" ]; then
  (cd "$top" && cargo build --release -q)
  IB=${CARGO_TARGET_DIR:-$top/target}/release/image-builder
fi
export IMAGE_BUILDER_FIXTURE_ROOT=$fx IMAGE_BUILDER_CACHE_DIR=$work/ibcache

# --- package path: qcow2.toml and its directory twin ------------------------
pq=$work/qcow2.toml
cp "$top/manifests/fixture/qcow2.toml" "$pq"
"$IB" lock -q "$pq"
"$IB" build --locked -q -o "$work/warm" "$pq" >/dev/null   # fills our cache
rm -rf "$work/warm"
pkgs=$("$IB" --json plan "$pq" | python3 -c '
import json, sys
p = json.load(sys.stdin)
pk = p["arches"][0]["outputs"][0]["packages"]
print(" ".join(n for c in pk["chain"] for n in c["include"]))')
# The directory twin (as bench/disk.sh): the boot packages a disk implies
# are named, the disk-only settings go, so both install the same set.
pd=$work/dir.toml
python3 "$here/directory-twin.py" "$pq" "$pd" "$pkgs"
"$IB" lock -q "$pd"
count() { python3 -c 'import sys, tomllib; print(len(tomllib.load(open(sys.argv[1], "rb"))["target"][0]["package"]))' "$1"; }
n_pq=$(count "$work/qcow2.lock")
n_pd=$(count "$work/dir.lock")
[ "$n_pq" = "$n_pd" ] || { echo "qcow2 and directory builds lock different sets ($n_pq, $n_pd)" >&2; exit 1; }

# --- deployment path: the fixture bootc image, then disks from its archive --
bq=$work/bootc-qcow2.toml
cp "$top/manifests/fixture/bootc-qcow2.toml" "$bq"
"$IB" lock -q "$bq"
"$IB" build --locked -q --only image -o "$work/img" "$bq" >/dev/null   # the image, untimed
archive=$(find "$work/img" -maxdepth 1 -name '*.oci.tar' -print -quit)
[ -n "$archive" ] || { echo "no OCI archive in $work/img" >&2; exit 1; }
n_img=$(python3 -c '
import sys, tomllib
l = tomllib.load(open(sys.argv[1], "rb"))
print(max(len(t.get("package", [])) for t in l["target"]))' "$work/bootc-qcow2.lock")
# bootc-qcow2.toml deploying the archive instead of output:image, without
# the bootc output: ext4 root as shipped (dq_ext4), and with qcow2.toml's
# XFS root partition, the package disk's layout (dq).
dq_ext4=$work/deploy-ext4.toml
dq=$work/deploy.toml
python3 - "$bq" "$pq" "$archive" "$dq_ext4" "$dq" <<'EOF'
import re, sys
bq, pq, archive, ext4, xfs = sys.argv[1:]
t = open(bq).read()
t = t.replace('image = "output:image"', f'image = "oci-archive:{archive}"', 1)
t = re.sub(r'\[\[output\]\]\ntype = "bootc"\nname = "image"\n\[output\.oci\]\nreference = "[^"]*"\n\n', "", t)
assert 'type = "bootc"' not in t and "oci-archive:" in t, t
t = t.replace('name = "fixture-bootc-disk"', 'name = "bench-deploy"', 1)
open(ext4, "w").write(t)
p = open(pq).read()
open(xfs, "w").write(t + "\n" + p[p.index("[[customizations.disk.partitions]]"):])
EOF
for f in "$dq_ext4" "$dq"; do
  "$IB" lock -q "$f"
  "$IB" build --locked -q -o "$work/warm" "$f" >/dev/null   # warms the sysroot cache
  rmtree "$work/warm"
done
dq_cold=$dq

# --- runs -----------------------------------------------------------------
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
stamp() { while IFS= read -r l; do printf '%s %s\n' "$EPOCHREALTIME" "$l"; done; }
measure() { # MANIFEST [cold] -> "seconds kb plan tree disk exit"
  rmtree "$work/o"
  [ "${2:-}" != cold ] || rm -rf "$IMAGE_BUILDER_CACHE_DIR/ostree-sysroots"
  sync
  local start end
  start=$EPOCHREALTIME
  /usr/bin/time -o "$work/time" -f "%e %M" "$IB" --json build --locked -o "$work/o" "$1" \
    2>"$work/err" | stamp >"$work/events" || { tail -20 "$work/err" >&2; exit 1; }
  end=$EPOCHREALTIME
  if compgen -G "$work/o/.image-builder.*" >/dev/null; then
    basename "$1" >>"$work/leaks"
  fi
  python3 - "$work/events" "$start" "$end" "$(tail -1 "$work/time")" <<'EOF'
import json, sys
ev, start, end, gnu = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
at = {}
for l in open(ev):
    ts, _, j = l.partition(" ")
    e = json.loads(j)
    k = "stage:" + e["stage"] if e["event"] == "stage" else e["event"]
    at.setdefault(k, float(ts))
b, t, a = at["stage:build"], at["tree"], at["artifact"]
print(gnu, *(f"{x:.2f}" for x in (b - start, t - b, a - t, end - a)))
EOF
}
declare -A t=() r=() split=() sz=()
for k in pq pd dq dq_cold dq_ext4; do
  : >"$work/$k.runs"
  cold=; [ "$k" != dq_cold ] || cold=cold
  for _ in $(seq "$RUNS"); do measure "${!k}" $cold >>"$work/$k.runs"; done
  f=$(find "$work/o" -maxdepth 1 -name '*.qcow2' -print -quit)
  [ -z "$f" ] || sz[$k]=$(du -m --apparent-size "$f" | cut -f1)
  t[$k]=$(awk '{print $1}' "$work/$k.runs" | median)
  r[$k]=$(( $(awk '{print $2}' "$work/$k.runs" | median) / 1024 ))
  split[$k]=$(for c in 3 4 5 6; do awk -v c=$c '{print $c}' "$work/$k.runs" | median; done | paste -sd/ | sed 's|/| / |g')
done
pkg_disk=$(echo "${t[pq]} - ${t[pd]}" | bc)
pkg_disk_ev=$(awk '{print $5}' "$work/pq.runs" | median)
dep_disk_ev=$(awk '{print $5}' "$work/dq.runs" | median)
ratio() { echo "scale=2; $1 / $2" | bc; }

row() { printf '%-52s %7s %9s   %s\n' "$@"; }
printf 'fixture qcow2 (2 GiB, hybrid BIOS/UEFI, ESP, /boot, XFS root), warm cache, median of %s runs\n' "$RUNS"
printf 'packages: package disk %s, bootc image %s\n\n' "$n_pq" "$n_img"
row "" "wall s" "peak MiB" "plan / tree / disk stage / exit, s (--json events)"
row "package path: qcow2.toml" "${t[pq]}" "${r[pq]}" "${split[pq]}"
row "  tree alone: directory, same packages" "${t[pd]}" "${r[pd]}" "${split[pd]}"
row "  disk stage: qcow2 minus directory" "$pkg_disk" "" ""
row "deployed: oci-archive base -> qcow2 (XFS root)" "${t[dq]}" "${r[dq]}" "${split[dq]}"
row "  same, cold sysroot cache" "${t[dq_cold]}" "${r[dq_cold]}" "${split[dq_cold]}"
row "deployed, ext4 root (bootc-qcow2.toml's layout)" "${t[dq_ext4]}" "${r[dq_ext4]}" "${split[dq_ext4]}"
printf '\ndeployed whole build / package disk stage (qcow2 - directory): %s× (target <= 1.5×)\n' \
  "$(ratio "${t[dq]}" "$pkg_disk")"
printf 'deployed disk stage / package disk stage (tree → artifact events): %s× (%s s / %s s)\n' \
  "$(ratio "$dep_disk_ev" "$pkg_disk_ev")" "$dep_disk_ev" "$pkg_disk_ev"
printf 'deployed, cold sysroot cache / package disk stage: %s×\n' "$(ratio "${t[dq_cold]}" "$pkg_disk")"
[ ! -s "$work/leaks" ] || printf 'NOTE: left its work directory in the output directory: %s\n' \
  "$(sort -u "$work/leaks" | paste -sd' ')"
printf 'qcow2 file sizes: package %s MiB, deployed %s MiB, deployed ext4 %s MiB\n' \
  "${sz[pq]}" "${sz[dq]}" "${sz[dq_ext4]}"

# --- profile: one -vv run of the deployed build, lines timestamped -----------
if [ "$PROFILE" = 1 ]; then
  rmtree "$work/o"
  rm -rf "$IMAGE_BUILDER_CACHE_DIR/ostree-sysroots"
  sync
  start=$EPOCHREALTIME
  "$IB" -vv build --locked -o "$work/o" "$dq" 2>&1 >/dev/null | stamp >"$work/profile"
  end=$EPOCHREALTIME
  printf '\nprofile, one deployed build (-vv): seconds from each log line to the next (>= 0.1 s)\n'
  awk -v start="$start" -v end="$end" '
    { ts[NR] = $1; sub(/^[^ ]+ /, ""); line[NR] = substr($0, 1, 120) }
    END {
      ts[NR + 1] = end
      printf "%6.2f          (start to first line)\n", ts[1] - start
      for (i = 1; i <= NR; i++) {
        d = ts[i + 1] - ts[i]
        if (d >= 0.1) printf "%6.2f  @%6.2f  %s\n", d, ts[i] - start, line[i]
      }
      printf "%6.2f          total\n", end - start
    }' "$work/profile"
fi
