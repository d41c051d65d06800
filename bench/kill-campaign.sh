#!/usr/bin/env bash
# The kill campaign of issue 16: builds of the fixture qcow2 (XFS root:
# loop device and mount live while it is written) and of the fixture bootc
# image, each SIGKILLed at a seeded random moment; after every kill no loop
# device or mount of the build may remain, nothing may sit at the output
# path, and the cache must pass its own checks; after the campaign a build
# must succeed (reclaiming what the dead ones left).
#
#   QCOW2_KILLS=30 BOOTC_KILLS=10 SEED=1 IB=target/debug/image-builder bench/kill-campaign.sh
#
# Needs root and the fixture repos (tests/fixtures/build-fixtures.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
IB=${IB:-target/debug/image-builder}
QCOW2_KILLS=${QCOW2_KILLS:-30}
BOOTC_KILLS=${BOOTC_KILLS:-10}
SEED=${SEED:-1}
RANDOM=$SEED
export IMAGE_BUILDER_FIXTURE_ROOT=${IMAGE_BUILDER_FIXTURE_ROOT:-$PWD/tests/fixtures/build}
work=$(mktemp -d /var/tmp/kill-campaign.XXXXXX)
export IMAGE_BUILDER_CACHE_DIR=$work/cache
log=$work/campaign.log
echo "seed $SEED, work $work" | tee "$log"

fail() { echo "FAIL: $*" | tee -a "$log"; exit 1; }

# Leftovers of the build that wrote into $1.
check_clean() {
  local out=$1 what=$2
  for _ in $(seq 100); do
    pgrep -f -- "$out" >/dev/null || break
    sleep 0.2
  done
  for _ in $(seq 50); do
    losetup -a | grep -q -- "$out" || break
    sleep 0.2
  done
  if losetup -a | grep -q -- "$out"; then fail "$what: loop device left: $(losetup -a | grep -- "$out")"; fi
  if grep -q -- "$out" /proc/self/mountinfo; then fail "$what: mount left"; fi
  # Only complete artifacts at the output path (they appear by rename).
  for f in "$out"/*.qcow2 "$out"/*.tar; do
    [ -e "$f" ] || continue
    case $f in
      *.qcow2) qemu-img check -q "$f" || fail "$what: partial $f" ;;
      *.tar) tar -tf "$f" >/dev/null || fail "$what: partial $f" ;;
    esac
  done
  # The cache's own invariant: every package hashes to its name.
  for r in "$IMAGE_BUILDER_CACHE_DIR"/rpms-v1/*.rpm; do
    [ -e "$r" ] || continue
    [ "$(sha256sum "$r" | cut -d' ' -f1)" = "$(basename "$r" .rpm)" ] || fail "$what: damaged cache entry $r"
  done
}

campaign() {
  local manifest=$1 kills=$2 name=$3
  local out=$work/out-$name
  cp "$manifest" "$work/$name.toml"
  "$IB" -q lock "$work/$name.toml"
  # One full build first, for the campaign's time scale.
  local t0=$(date +%s%N)
  "$IB" -q build --locked -o "$out" "$work/$name.toml"
  local full_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  echo "$name: full build ${full_ms} ms" | tee -a "$log"
  rm -rf "$out"
  "$IB" -q cache prune --max-size 0 >/dev/null
  for i in $(seq "$kills"); do
    local at=$(( (RANDOM * 32768 + RANDOM) % full_ms ))
    "$IB" -q build --locked -o "$out" "$work/$name.toml" >/dev/null 2>&1 &
    local pid=$!
    sleep "$(printf '%d.%03d' $((at / 1000)) $((at % 1000)))"
    if kill -9 "$pid" 2>/dev/null; then state=killed; else state=finished; fi
    wait "$pid" 2>/dev/null || true
    check_clean "$out" "$name kill $i at ${at} ms"
    echo "$name kill $i at ${at} ms: $state, clean" | tee -a "$log"
    # Start over now and then, so kills land in cold builds too.
    if (( i % 5 == 0 )); then rm -rf "$out"; "$IB" -q cache prune --max-size 0 >/dev/null; fi
  done
  "$IB" -q build --locked -o "$out" "$work/$name.toml" || fail "$name: build after the campaign"
  if ls -d "$out"/.image-builder.* >/dev/null 2>&1; then fail "$name: work directory not reclaimed"; fi
  echo "$name: build after the campaign succeeded, nothing left behind" | tee -a "$log"
}

campaign manifests/fixture/qcow2.toml "$QCOW2_KILLS" qcow2
campaign manifests/fixture/oci.toml "$BOOTC_KILLS" bootc
echo "campaign passed; log: $log" | tee -a "$log"
for d in "$work"/out-*; do find "$d" -name '*.0' -type d -exec chattr -i {} + 2>/dev/null || true; done
rm -rf "$work"/out-* "$work/cache"
