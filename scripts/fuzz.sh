#!/usr/bin/env bash
# Runs the manifest-parser fuzz target for N seconds (default 60), seeded
# with every example manifest and test corpus file. cargo-fuzz needs
# nightly flags; RUSTC_BOOTSTRAP lets the stable toolchain accept them.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --quiet
corpus=fuzz/corpus/manifest
mkdir -p "$corpus"
for f in manifests/*/*.toml tests/blueprints/*.toml tests/malformed/*.toml; do
  [ -f "$f" ] && cp "$f" "$corpus/seed-$(echo "$f" | tr '/' '_')"
done
export RUSTC_BOOTSTRAP=1
cargo fuzz run --fuzz-dir fuzz manifest "$corpus" -- \
  -max_total_time="$secs" -max_len=8192 -print_final_stats=1 2>&1 | tail -n 25
