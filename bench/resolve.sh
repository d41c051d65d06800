#!/bin/bash
# Resolve benchmark: image-builder (libsolv via our FFI) vs Debian's dnf on
# the same ~63,000-package repository (bench/gen-metadata.py), same
# requests, side by side. Wall time and peak RSS by /usr/bin/time; each
# figure is the median of RUNS runs. Cold = empty caches (metadata parse
# included); warm = second run with caches (dnf's and our .solv caches).
#
# usage: bench/resolve.sh            (RUNS=3 by default)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
RUNS=${RUNS:-3}
repo=$here/build/big-repo
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
command -v /usr/bin/time >/dev/null || apt-get install -y -q time >/dev/null
python3 "$here/gen-metadata.py" "$repo"
(cd "$top" && cargo build --release -q)
ib=$top/target/release/image-builder

# name | weak deps | packages
requests=(
  "systemd|False|systemd"
  "server|False|systemd openssh-server nginx postgresql-15 python3"
  "server+weak|True|systemd openssh-server nginx postgresql-15 python3"
  "desktop|False|gnome-core"
)

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
measure() { # CMD... -> "seconds kb" on stdout; the command's output in $work/out
  /usr/bin/time -o "$work/time" -f "%e %M" "$@" >"$work/out" 2>&1 || true
  cat "$work/time" | tail -1
}

printf "%-13s %-5s | %-22s | %-22s | %-22s | %-22s | %s\n" request weak "dnf cold s / MiB" "ours cold s / MiB" "dnf warm s / MiB" "ours warm s / MiB" "packages dnf/ours"
for r in "${requests[@]}"; do
  IFS='|' read -r name weak pkgs <<<"$r"
  m=$work/$name.toml
  {
    echo 'name = "bench"'; echo 'distro = "fixture"'; echo 'architectures = ["x86_64"]'
    echo '[build]'; echo 'distro_repos = false'; echo "weak_deps = $( [ "$weak" = True ] && echo true || echo false )"
    echo '[[repositories]]'; echo 'id = "big"'; echo "baseurl = [\"file://$repo/\"]"; echo 'gpgcheck = false'
    for p in $pkgs; do echo '[[packages]]'; echo "name = \"$p\""; done
    echo '[[output]]'; echo 'type = "tar"'
  } >"$m"
  declare -A t=()
  for kind in cold warm; do
    for tool in dnf ours; do
      vals=()
      for i in $(seq "$RUNS"); do
        if [ "$kind" = cold ]; then rm -rf "$work/dnfcache" "$work/ibcache"; fi
        if [ "$tool" = dnf ]; then
          if [ "$kind" = warm ]; then measure true >/dev/null; fi
          rm -rf "$work/root"
          v=$(measure dnf -y --installroot="$work/root" --releasever=1 --forcearch=x86_64 \
            --setopt=reposdir=/dev/null --setopt=cachedir="$work/dnfcache" \
            --repofrompath=big,"file://$repo" --setopt=big.gpgcheck=0 \
            --setopt=install_weak_deps="$weak" --setopt=best=True --assumeno \
            install @core fixture-release $pkgs)
          n_dnf=$(grep -oE '^Install +[0-9]+ Packages' "$work/out" | grep -oE '[0-9]+' || echo "failed")
        else
          v=$(measure "$ib" lock "$m" --cache-dir "$work/ibcache")
          n_ours=$(grep -c '^\[\[target.package\]\]' "${m%.toml}.lock" 2>/dev/null || echo failed)
          grep -q '^error' "$work/out" && n_ours=failed
        fi
        vals+=("$v")
      done
      s=$(printf '%s\n' "${vals[@]}" | awk '{print $1}' | median)
      k=$(printf '%s\n' "${vals[@]}" | awk '{print $2}' | median)
      t[$tool$kind]=$(awk -v s="$s" -v k="$k" 'BEGIN {printf "%.2f / %.0f", s, k/1024}')
    done
    # warm runs need a populated cache: run once more before measuring
    if [ "$kind" = cold ]; then
      dnf -y -q --installroot="$work/root" --releasever=1 --forcearch=x86_64 --setopt=reposdir=/dev/null \
        --setopt=cachedir="$work/dnfcache" --repofrompath=big,"file://$repo" --setopt=big.gpgcheck=0 \
        --assumeno install bash >/dev/null 2>&1 || true
      "$ib" lock "$m" --cache-dir "$work/ibcache" >/dev/null 2>&1 || true
    fi
  done
  printf "%-13s %-5s | %-22s | %-22s | %-22s | %-22s | %s/%s\n" "$name" "$weak" "${t[dnfcold]}" "${t[ourscold]}" "${t[dnfwarm]}" "${t[ourswarm]}" "$n_dnf" "$n_ours"
done
