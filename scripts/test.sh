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
mkdir -p target
cargo test --all-targets --no-fail-fast 2>&1 | tee target/test.log
# Doc tests are part of the suite too.
cargo test --doc 2>&1 | tee -a target/test.log

step "fuzz the manifest parser (${FUZZ_SECONDS:-60}s)"
scripts/fuzz.sh "${FUZZ_SECONDS:-60}"

step "done"
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^ignored/) s += $i } }
     END { printf "%d passed, %d failed, %d skipped\n", p, f, s }' target/test.log
