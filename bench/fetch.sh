#!/bin/bash
# Fetch throughput: image-builder's downloader vs the loopback bound, on
# 500 packages (sizes 20 KiB-4 MiB, ~500 MiB in all) served by one
# `python3 -m http.server` on 127.0.0.1. The bound is curl fetching the
# same URLs 8 at a time (xargs -P8) into /dev/null-like files; ours is
# `image-builder build --locked` on a manifest whose lock names those
# packages (gpgcheck = false: pure transfer + checksum; signature checks
# are measured by the tests, not here). Median of RUNS runs.
#
# usage: bench/fetch.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
RUNS=${RUNS:-3}
repo=$here/build/fetch-repo
work=$(mktemp -d)
trap 'kill $srv 2>/dev/null || true; rm -rf "$work"' EXIT
(cd "$top" && cargo build --release -q)
ib=$top/target/release/image-builder

if [ ! -f "$repo/repodata/repomd.xml" ]; then
  rm -rf "$repo"; mkdir -p "$repo/Packages" "$repo/repodata"
  python3 - "$repo" <<'PY'
import hashlib, os, random, sys, gzip
repo = sys.argv[1]
rnd = random.Random(42)
pk = []
for i in range(500):
    size = int(20 * 1024 * (200 ** rnd.random()))  # 20 KiB .. 4 MiB, log-uniform
    data = rnd.randbytes(size)
    name = f"bench-{i:03d}"
    fn = f"Packages/{name}-1.0-1.noarch.rpm"
    open(os.path.join(repo, fn), "wb").write(data)
    pk.append((name, fn, hashlib.sha256(data).hexdigest(), size))
body = "".join(
    f'<package type="rpm"><name>{n}</name><arch>noarch</arch><version epoch="0" ver="1.0" rel="1"/>'
    f'<checksum type="sha256" pkgid="YES">{c}</checksum><summary/><description/><packager/><url/>'
    f'<time file="1" build="1"/><size package="{s}" installed="{s}" archive="{s}"/>'
    f'<location href="{fn}"/><format><rpm:provides><rpm:entry name="{n}" flags="EQ" epoch="0" ver="1.0" rel="1"/></rpm:provides></format></package>\n'
    for n, fn, c, s in pk)
rel = ('<package type="rpm"><name>fixture-release</name><arch>noarch</arch><version epoch="0" ver="1" rel="1"/>'
       f'<checksum type="sha256" pkgid="YES">{hashlib.sha256(b"").hexdigest()}</checksum><summary/><description/><packager/><url/>'
       '<time file="1" build="1"/><size package="0" installed="0" archive="0"/><location href="Packages/fixture-release-1-1.noarch.rpm"/><format/></package>\n')
open(os.path.join(repo, "Packages/fixture-release-1-1.noarch.rpm"), "wb").write(b"")
xml = ('<?xml version="1.0" encoding="UTF-8"?>\n<metadata xmlns="http://linux.duke.edu/metadata/common" '
       f'xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="{len(pk)+1}">\n{body}{rel}</metadata>\n').encode()
gz = gzip.compress(xml, mtime=0)
ck = hashlib.sha256(gz).hexdigest()
open(os.path.join(repo, f"repodata/{ck}-primary.xml.gz"), "wb").write(gz)
comps = b'<?xml version="1.0"?>\n<comps><group><id>core</id><name>Core</name><packagelist/></group></comps>\n'
cc = hashlib.sha256(comps).hexdigest()
open(os.path.join(repo, f"repodata/{cc}-comps.xml"), "wb").write(comps)
open(os.path.join(repo, "repodata/repomd.xml"), "w").write(f'''<?xml version="1.0"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo"><revision>1</revision>
<data type="primary"><checksum type="sha256">{ck}</checksum><location href="repodata/{ck}-primary.xml.gz"/></data>
<data type="group"><checksum type="sha256">{cc}</checksum><location href="repodata/{cc}-comps.xml"/></data>
</repomd>
''')
PY
fi

port=$((20000 + RANDOM % 20000))
(cd "$repo" && exec python3 -m http.server "$port" --bind 127.0.0.1 >/dev/null 2>&1) &
srv=$!
sleep 1
base=http://127.0.0.1:$port/
total=$(du -sb "$repo/Packages" | cut -f1)
ls "$repo/Packages" | sed "s|^|${base}Packages/|" >"$work/urls"

m=$work/fetch.toml
{
  echo 'name = "fetchbench"'; echo 'distro = "fixture"'; echo 'architectures = ["x86_64"]'
  echo '[build]'; echo 'distro_repos = false'
  echo '[[repositories]]'; echo 'id = "bench"'; echo "baseurl = [\"$base\"]"; echo 'gpgcheck = false'
  for i in $(seq -f '%03g' 0 499); do echo '[[packages]]'; echo "name = \"bench-$i\""; done
  echo '[[output]]'; echo 'type = "tar"'
} >"$m"
"$ib" lock "$m" --cache-dir "$work/lockcache" >/dev/null 2>&1

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
t_seq=(); t_par=(); t_ours=()
for i in $(seq "$RUNS"); do
  rm -rf "$work/dl"; mkdir -p "$work/dl"
  s=$(date +%s.%N); (cd "$work/dl" && xargs curl -s --remote-name-all <"$work/urls"); e=$(date +%s.%N)
  t_seq+=("$(echo "$e - $s" | bc)")
  rm -rf "$work/dl"; mkdir -p "$work/dl"
  s=$(date +%s.%N); (cd "$work/dl" && xargs -P8 -n 20 curl -s --remote-name-all <"$work/urls"); e=$(date +%s.%N)
  t_par+=("$(echo "$e - $s" | bc)")
  rm -rf "$work/cache"
  s=$(date +%s.%N); "$ib" build --locked -q -o "$work/out" --cache-dir "$work/cache" "$m" >/dev/null 2>&1 || true; e=$(date +%s.%N)
  n=$(ls "$work/cache/rpms-v1/unverified/" 2>/dev/null | grep -c '\.rpm$' || true)
  [ "$n" -ge 500 ] || { echo "fetch.sh: ours fetched only $n packages" >&2; exit 1; }
  t_ours+=("$(echo "$e - $s" | bc)")
done
mib=$(echo "scale=1; $total / 1048576" | bc)
for k in seq par ours; do
  eval "v=(\"\${t_$k[@]}\")"
  med=$(printf '%s\n' "${v[@]}" | median)
  rate=$(echo "scale=1; $total / 1048576 / $med" | bc)
  case $k in seq) label="curl, one at a time";; par) label="curl, 8 parallel";; ours) label="image-builder build --locked";; esac
  printf "%-30s %6.2f s  %7s MiB/s  (%s MiB, 500 files)\n" "$label" "$med" "$rate" "$mib"
done
echo "(the loopback bound is the faster curl line)"
