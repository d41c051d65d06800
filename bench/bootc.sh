#!/bin/bash
# bootc compose benchmark, warm cache, one command:
#   - the fixture bootc package set built as a plain tree (`--type
#     directory`: install, presets, customizations, SELinux labels);
#   - the same manifest as a bootc image (`--type bootc`: the tree, the
#     bootc layout with dracut's initramfs, lint, ~64 chunked gzip layers,
#     config, manifest, OCI archive);
#   - the unchanged bootc rebuild pushed to a local registry
#     (docker-registry on 127.0.0.1) after a first push: blobs uploaded.
# Median of RUNS runs, wall time and peak RSS (GNU time: the largest of
# the process and its children). Issue 6 targets: compose overhead over
# the tree alone <= 20 %, 0 layer uploads for an unchanged rebuild, peak
# RSS <= 512 MiB.
#
# usage: bench/bootc.sh            (RUNS=3 by default; IB=BINARY to skip the release build)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
RUNS=${RUNS:-3}
work=$(mktemp -d)
reg_pid=
trap '[ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null; rm -rf "$work"' EXIT
command -v /usr/bin/time >/dev/null || apt-get install -y -q time >/dev/null
"$top/tests/fixtures/build-fixtures.sh"
fx=$top/tests/fixtures/build
# IB=path/to/image-builder skips the release build (e.g. a debug binary on
# a busy machine: the Rust part is a small share of a build).
if [ -z "${IB:-}" ]; then (cd "$top" && cargo build --release -q); fi
ib=${IB:-$top/target/release/image-builder}
export IMAGE_BUILDER_FIXTURE_ROOT=$fx IMAGE_BUILDER_CACHE_DIR=$work/ibcache

m=$work/bench.toml
cat >"$m" <<'EOF'
name = "bench"
distro = "fixture"
architectures = ["x86_64"]

[customizations]
hostname = "bench"

[[output]]
type = "bootc"
EOF
"$ib" lock -q "$m"
"$ib" build --locked -q -o "$work/warm" "$m" >/dev/null   # fills the cache
pkgs=$(python3 -c 'import sys,tomllib; print(" ".join(sorted(p["name"] for p in tomllib.load(open(sys.argv[1],"rb"))["target"][0]["package"])))' "$work/bench.lock")
d=$work/dir.toml
{
  echo 'name = "bench"'; echo 'distro = "fixture"'; echo 'architectures = ["x86_64"]'
  echo '[build]'; echo 'weak_deps = false'
  for p in $pkgs; do echo '[[packages]]'; echo "name = \"$p\""; done
  echo '[customizations]'; echo 'hostname = "bench"'
  echo '[[output]]'; echo 'type = "directory"'
} >"$d"
"$ib" lock -q "$d"

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
measure() { # CMD... -> "seconds kb"
  /usr/bin/time -o "$work/time" -f "%e %M" "$@" >"$work/out" 2>&1 || { cat "$work/out" >&2; exit 1; }
  tail -1 "$work/time"
}
run() { # NAME CMD...
  local name=$1; shift
  : >"$work/$name.t"; : >"$work/$name.m"
  for _ in $(seq "$RUNS"); do
    rm -rf "$work/o-$name"
    read -r t kb < <(measure "$@" -o "$work/o-$name")
    echo "$t" >>"$work/$name.t"; echo "$kb" >>"$work/$name.m"
  done
  printf '%-34s %8.2f s %8d MiB\n' "$name" "$(median <"$work/$name.t")" "$(( $(median <"$work/$name.m") / 1024 ))"
}

echo "fixture bootc package set ($(wc -w <<<"$pkgs") packages), warm cache, median of $RUNS"
run "tree (--type directory)" "$ib" build --locked -q "$d"
run "bootc image (--type bootc)" "$ib" build --locked -q "$m"
tree=$(median <"$work/tree (--type directory).t")
img=$(median <"$work/bootc image (--type bootc).t")
python3 -c "import sys; t,i=map(float,sys.argv[1:]); print(f'compose overhead over the tree: {100*(i-t)/t:.0f} % (target <= 20 %)')" "$tree" "$img"

# Registry: a first push, then the unchanged rebuild's push.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$work/reg.yml" <<EOF
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $work/registry
http:
  addr: 127.0.0.1:$port
EOF
docker-registry serve "$work/reg.yml" >"$work/reg.log" 2>&1 &
reg_pid=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
push() { # OUTFILE: an unchanged --locked build pushed, timed, JSON events in OUTFILE
  /usr/bin/time -o "$work/time" -f "%e %M" "$ib" --json build --locked -o "$work/o-push" \
    --push "docker://127.0.0.1:$port/bench/bootc:1" --tls-verify=false "$m" >"$1" 2>"$work/push.err" \
    || { cat "$1" "$work/push.err" >&2; exit 1; }
}
pushed() { # OUTFILE -> "uploaded skipped bytes digest"
  python3 - "$1" <<'EOF'
import json, sys
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e.get("event") == "pushed" and e.get("what") == "image":
        print(e["blobs_uploaded"], e["blobs_skipped"], e["bytes_uploaded"], e["digest"])
EOF
}
push "$work/push1.json"
read -r up1 sk1 by1 dg1 < <(pushed "$work/push1.json")
push "$work/push2.json"
read -r t2 kb2 <"$work/time"
read -r up2 sk2 by2 dg2 < <(pushed "$work/push2.json")
echo "first push: $up1 blobs uploaded ($((by1 / 1048576)) MiB), $sk1 present"
echo "unchanged rebuild + push: $up2 blobs uploaded ($by2 bytes), $sk2 present, same digest: $([ "$dg1" = "$dg2" ] && echo yes || echo NO); ${t2} s, $((kb2 / 1024)) MiB peak RSS"
