#!/usr/bin/env bash
# The boot tests CI leaves out (one boot per boot path runs in
# scripts/test.sh; these are the rest of the matrix: a second disk boot,
# QEMU boots of signed arm64 UKIs and of key-enrolled firmware). Each is
# `#[ignore = "..."]` in tests/ with its reason and cost (among them
# tests/boot_qemu.rs build_script_effects_in_the_guest: a build script's
# edits seen in the booted guest). Runs them all,
# or those whose names contain $1.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
tests/fixtures/build-fixtures.sh
mkdir -p target/tmp
rm -f target/tmp/skipped.log
cargo test --all-targets --no-fail-fast -- --ignored ${1:+"$1"} 2>&1 | tee target/test-ignored.log
if [ -s target/tmp/skipped.log ]; then
  echo "skipped (cannot run on this machine):" >&2
  sed 's/^/  /' target/tmp/skipped.log >&2
fi
