#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: installs what is
# missing, builds the fixture repositories (cached), then lint, unit,
# integration and snapshot tests, and a short fuzz run of the manifest
# parser. `.ci/run` calls this and nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
step() { echo "== $* ($(( $(date +%s) - start ))s)" >&2; }

step "install dependencies"
scripts/install-deps.sh

step "fixture repositories"
tests/fixtures/build-fixtures.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --all-targets --quiet -- -D warnings

step "cargo test"
mkdir -p target/tmp
# Tests that cannot run here record themselves (tests/common/skip.rs);
# they count as skipped below, not as passed.
rm -f target/tmp/skipped.log
cargo test --all-targets --no-fail-fast 2>&1 | tee target/test.log
# Doc tests are part of the suite too.
cargo test --doc 2>&1 | tee -a target/test.log

step "fuzz the manifest parser (${FUZZ_SECONDS:-60}s)"
scripts/fuzz.sh "${FUZZ_SECONDS:-60}"

step "done"
skipped_here=0
if [ -s target/tmp/skipped.log ]; then
  skipped_here=$(wc -l < target/tmp/skipped.log)
  echo "skipped (cannot run on this machine):" >&2
  sed 's/^/  /' target/tmp/skipped.log >&2
fi
awk -v sk="$skipped_here" '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^ignored/) s += $i } }
     END { printf "%d passed, %d failed, %d skipped (%d ignored: boot matrix, run scripts/test-ignored.sh; %d could not run here)\n", p - sk, f, s + sk, s, sk }' target/test.log
