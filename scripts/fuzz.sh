#!/usr/bin/env bash
# Runs every fuzz target (fuzz/fuzz_targets/): the manifest parser for N
# seconds (default 60), each parser of untrusted input (repo metadata,
# libsolv's XML, RPM headers, OCI documents and auth files, tar layers,
# the lockfile and QEMU test files, Secure Boot structures) for N/8,
# seeded from the repo's own examples. A crash, a hang (-timeout) or
# unbounded memory (-rss_limit_mb) fails the run. cargo-fuzz needs
# nightly flags; RUSTC_BOOTSTRAP lets the stable toolchain accept them.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
short=$(( secs / 8 > 5 ? secs / 8 : 5 ))
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --quiet
export RUSTC_BOOTSTRAP=1

# seed TARGET SELECTOR FILE: FILE's bytes after one selector byte.
seed() {
  local dir=fuzz/corpus/$1 sel=$2 f=$3
  mkdir -p "$dir"
  [ -f "$f" ] || return 0
  { printf "\\x$(printf %02x "$sel")"; head -c 65536 "$f"; } \
    > "$dir/seed-$sel-$(echo "$f" | tr '/' '_')"
}
mkdir -p fuzz/corpus/manifest
for f in manifests/*/*.toml tests/blueprints/*.toml tests/malformed/*.toml; do
  [ -f "$f" ] && cp "$f" "fuzz/corpus/manifest/seed-$(echo "$f" | tr '/' '_')"
done
md=tests/data/almalinux-10-metadata/x86_64_v2/repodata
fx=tests/fixtures/build/repos/main/x86_64
seed repodata 0 "$md/repomd.xml"
seed repodata 0 "$fx/repodata/repomd.xml"
for c in "$fx"/repodata/*-comps.xml; do seed repodata 3 "$c"; done
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
zcat "$fx"/repodata/*-primary.xml.gz > "$tmp/primary.xml" && seed primary 0 "$tmp/primary.xml"
zcat "$fx"/repodata/*-filelists.xml.gz > "$tmp/filelists.xml" && seed primary 1 "$tmp/filelists.xml"
seed rpm_header 0 "$fx/fixture-base-1.0-1.x86_64.rpm"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%064d","size":2},"layers":[]}' 0 > "$tmp/m.json"
seed oci 0 "$tmp/m.json"
printf 'docker://quay.io/almalinuxorg/almalinux-bootc:10' > "$tmp/ref" && seed oci 3 "$tmp/ref"
printf 'Bearer realm="https://quay.io/v2/auth",service="quay.io",scope="repository:a/b:pull"' > "$tmp/ch" && seed oci 4 "$tmp/ch"
mkdir -p "$tmp/layer/etc" && echo x > "$tmp/layer/etc/f" && ln -s f "$tmp/layer/etc/l" && touch "$tmp/layer/etc/.wh.gone"
mkdir -p fuzz/corpus/tar_layer && tar -C "$tmp/layer" --sort=name -cf fuzz/corpus/tar_layer/seed-layer.tar .
seed lockfile 0 tests/fixtures/build.lock
for q in qemu-tests/*.toml; do seed lockfile 1 "$q"; done

run() {
  local t=$1 s=$2
  echo "== fuzz $t (${s}s)" >&2
  mkdir -p "fuzz/corpus/$t"
  cargo fuzz run --fuzz-dir fuzz "$t" "fuzz/corpus/$t" -- \
    -max_total_time="$s" -max_len=65536 -timeout=10 -rss_limit_mb=1024 \
    -print_final_stats=1 2>&1 | tail -n 12
}
cargo fuzz build --fuzz-dir fuzz 2>&1 | tail -n 3
run manifest "$secs"
for t in repodata primary rpm_header oci tar_layer lockfile secureboot; do
  run "$t" "$short"
done
