#!/usr/bin/env bash
# Builds the respin, signs it and pushes it: the one script the workflow
# runs (and that you can run on your machine). Steps:
#   1. lock: resolve the manifest against the base image and the distro's
#      repos (respin.lock, committed beside the manifest);
#   2. with ONLY_IF_CHANGED=1 (scheduled rebuilds): stop when the lock is
#      what was last published, so nothing is pushed;
#   3. build the image for ARCH from the lock and push it to
#      IMAGE:TAG-ARCH, signed with SIGN_KEY (cosign format), SBOMs
#      attached as referrers;
#   4. record the published lock (respin.lock.published).
#
# Environment: IMAGE (docker://HOST/NS/NAME, required), TAG (default
# latest), ARCH (default the host's), SIGN_KEY (cosign key file; its
# password in COSIGN_PASSWORD), TLS_VERIFY (default true), MANIFEST
# (default respin.toml), OUT (default out), IB (default image-builder),
# ONLY_IF_CHANGED (0|1).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${IMAGE:?IMAGE=docker://HOST/NS/NAME}"
TAG=${TAG:-latest}
ARCH=${ARCH:-$(uname -m)}
MANIFEST=${MANIFEST:-respin.toml}
OUT=${OUT:-out}
IB=${IB:-image-builder}
TLS_VERIFY=${TLS_VERIFY:-true}
lock=${MANIFEST%.toml}.lock
published=$lock.published

"$IB" lock --arch "$ARCH" "$MANIFEST"
if [ "${ONLY_IF_CHANGED:-0}" = 1 ] && [ -f "$published" ] && cmp -s "$lock" "$published"; then
  echo "respin: $lock is what was published last: nothing to push"
  exit 0
fi
sign=()
[ -n "${SIGN_KEY:-}" ] && sign=(--sign-key "$SIGN_KEY")
"$IB" build --locked --arch "$ARCH" -o "$OUT" \
  --push "$IMAGE:$TAG-$ARCH" --tls-verify "$TLS_VERIFY" "${sign[@]}" "$MANIFEST"
cp "$lock" "$published"
echo "respin: pushed $IMAGE:$TAG-$ARCH"
