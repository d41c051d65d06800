#!/usr/bin/env bash
# First command on a fresh machine: installs what is missing, builds
# image-builder, and runs the main job on the examples. Today that is
# `validate` + `plan` of every manifest in manifests/ (building and
# boot-checking the fixture image joins as those stages land).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo build --release --quiet
bin=target/release/image-builder
n=0
while IFS= read -r m; do
  "$bin" validate "$m"
  "$bin" plan "$m" > /dev/null
  n=$((n + 1))
done < <(find manifests -name '*.toml' | sort)
echo "validated and planned $n manifests; try: $bin plan manifests/almalinux-10/cloud.toml" >&2
