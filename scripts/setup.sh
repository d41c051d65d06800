#!/usr/bin/env bash
# First command on a fresh clone. Installs what is missing, builds
# image-builder, checks every example manifest (validate + plan), builds
# the fixture distribution, then the main job end to end: the fixture
# qcow2 (manifests/fixture/qcow2.toml) built and booted in QEMU under
# enforced Secure Boot with Microsoft's keys (shim → GRUB → kernel, the
# chain the manifest embeds). When this passes, the machine can run every
# test; the last lines say where the image is and what to try next.
#
# The boot is also the proof the fixture's Secure Boot chain still works
# after Debian moved a pinned package (build-fixtures.sh notes it, and
# records what it used in tests/fixtures/build/versions.json).
#
# SETUP_OUT=DIR puts the image elsewhere (default: target/setup).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
start=$(date +%s)
step() { echo "== setup: $* ($(( $(date +%s) - start ))s)" >&2; }

step "dependencies (scripts/install-deps.sh)"
scripts/install-deps.sh

# The dev profile: the one `cargo test` builds, so a clone that goes on to
# run the tests compiles once (dependencies are optimized in it anyway).
step "building image-builder"
cargo build --quiet --bins
bin=$root/target/debug/image-builder

step "validate + plan of every example manifest"
n=0
later=0
while IFS= read -r m; do
  # validate judges what build would refuse. Two refusals are not the
  # example's fault: an output whose stage has not landed yet (installer ISOs), and
  # Secure Boot keys that `image-builder secureboot genkey` makes later.
  if ! err=$("$bin" -q validate "$m" 2>&1 >/dev/null); then
    case $err in
      *"its artifact stage has not landed"*|*"secureboot genkey DIR"*) later=$((later + 1)) ;;
      *) echo "$err" >&2; exit 2 ;;
    esac
  fi
  "$bin" -q plan "$m" > /dev/null
  n=$((n + 1))
done < <(find manifests -name '*.toml' | sort)
echo "setup: $n manifests plan; $((n - later)) validate, $later wait for a later stage or generated keys" >&2

step "fixture repositories (tests/fixtures/build-fixtures.sh; cached)"
tests/fixtures/build-fixtures.sh
export IMAGE_BUILDER_FIXTURE_ROOT=$root/tests/fixtures/build
grep -q '"fallback": true' "$IMAGE_BUILDER_FIXTURE_ROOT/versions.json" \
  && echo "setup: the fixture uses replacements for pinned Debian packages (versions.json); the boot below proves the chain" >&2

# Built from a copy in the output directory, so MANIFEST.lock (it names
# this machine's fixture key) lands there and the clone stays clean.
out=${SETUP_OUT:-$root/target/setup}
mkdir -p "$out"
cp manifests/fixture/qcow2.toml "$out/fixture-qcow2.toml"
step "building and booting the fixture qcow2 under enforced Secure Boot"
"$bin" build --verify -o "$out" "$out/fixture-qcow2.toml"
image=$(ls "$out"/fixture-qcow2-*.qcow2)

step "done"
rel() { realpath --relative-to="$root" "$1"; }
b=$(rel "$bin") o=$(rel "$out") i=$(rel "$image")
cat >&2 <<EOF

The fixture image booted under Secure Boot (Microsoft keys, shim → GRUB →
kernel) and reported back:
  $image
  (SBOMs beside it; lock: $out/fixture-qcow2.lock)

Next, from $root:
  $b verify $i        # boot it again
  $b plan manifests/almalinux-10/cloud.toml    # what a real build decides
  $b build --type gce --verify -o $o $o/fixture-qcow2.toml    # the same disk for GCE
  scripts/test.sh    # the whole test suite (~30 min on 2 cores)
EOF
