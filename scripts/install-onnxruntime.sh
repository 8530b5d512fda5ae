#!/usr/bin/env bash
# Installs the ONNX Runtime shared library trtserve's CPU backend loads at run
# time, at a pinned version checked by sha256, from one of two registries:
#   - npm's onnxruntime-node tarball (a plain libonnxruntime.so.1 for
#     linux/x64 and arm64 in one archive), when npm is here;
#   - else PyPI's onnxruntime wheel (onnxruntime/capi/libonnxruntime.so.*),
#     through python3's pip, for machines with Python but no Node.js.
# onnxruntime_go v1.27.0 needs ORT >= 1.24 (C API 24); 1.30.0 is verified
# from both sources (ORT_SOURCE=npm|pypi forces one).
#
# Result: third_party/onnxruntime/lib/libonnxruntime.so (git-ignored).
set -euo pipefail

ORT_VERSION=1.30.0
ORT_SHA256=6e3390d6b783e7be946fad629292799da28d0b42f84856e50d2c1b0383291e75
# The wheels are per Python version; the library inside is not, so the
# cp311 ones are pinned whatever python3 is here.
WHEEL_x64=onnxruntime-$ORT_VERSION-cp311-cp311-manylinux_2_28_x86_64.whl
WHEEL_x64_SHA256=fd54b314ea385bcecac69ab431f020ba503e3878dad4ebb645fec5a24b041242
WHEEL_arm64=onnxruntime-$ORT_VERSION-cp311-cp311-manylinux_2_28_aarch64.whl
WHEEL_arm64_SHA256=bac3aee7b40acd805659fd81a2acd6096312d5b0f014c97ddfe75fb4c1644627

root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/third_party/onnxruntime"
lib="$dest/lib/libonnxruntime.so"

if [ -f "$dest/VERSION" ] && [ "$(cat "$dest/VERSION")" = "$ORT_VERSION" ] && [ -f "$lib" ]; then
  echo "onnxruntime $ORT_VERSION already installed: $lib"
  exit 0
fi

case "$(uname -s)/$(uname -m)" in
  Linux/x86_64) plat=linux/x64 wheel=$WHEEL_x64 wheel_sha=$WHEEL_x64_SHA256 ;;
  Linux/aarch64) plat=linux/arm64 wheel=$WHEEL_arm64 wheel_sha=$WHEEL_arm64_SHA256 ;;
  *) echo "install-onnxruntime: unsupported platform $(uname -s)/$(uname -m)" >&2; exit 1 ;;
esac
source=${ORT_SOURCE:-}
if [ -z "$source" ]; then
  if command -v npm >/dev/null; then
    source=npm
  elif command -v python3 >/dev/null && python3 -m pip --version >/dev/null 2>&1; then
    source=pypi
  else
    echo "install-onnxruntime: needs npm (apt-get install npm) or python3 with pip (apt-get install python3-pip)" >&2
    exit 1
  fi
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
check() { # file, sha256
  local got
  got=$(sha256sum "$1" | cut -d' ' -f1)
  if [ "$got" != "$2" ]; then
    echo "install-onnxruntime: checksum mismatch for $(basename "$1"): got $got want $2" >&2
    exit 1
  fi
}
case $source in
  npm)
    echo "fetching onnxruntime-node@$ORT_VERSION from the npm registry..."
    (cd "$tmp" && npm pack --silent "onnxruntime-node@$ORT_VERSION" >/dev/null)
    check "$tmp/onnxruntime-node-$ORT_VERSION.tgz" "$ORT_SHA256"
    tar -xzf "$tmp/onnxruntime-node-$ORT_VERSION.tgz" -C "$tmp" "package/bin/napi-v6/$plat/libonnxruntime.so.1"
    so="$tmp/package/bin/napi-v6/$plat/libonnxruntime.so.1"
    ;;
  pypi)
    echo "fetching $wheel from PyPI..."
    tag=${wheel#*cp311-cp311-}
    python3 -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: --python-version 3.11 \
      --platform "${tag%.whl}" -d "$tmp" "onnxruntime==$ORT_VERSION" >/dev/null
    check "$tmp/$wheel" "$wheel_sha"
    python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract(sys.argv[2], sys.argv[3])' \
      "$tmp/$wheel" "onnxruntime/capi/libonnxruntime.so.$ORT_VERSION" "$tmp"
    so="$tmp/onnxruntime/capi/libonnxruntime.so.$ORT_VERSION"
    ;;
  *) echo "install-onnxruntime: ORT_SOURCE must be npm or pypi, got '$source'" >&2; exit 2 ;;
esac
mkdir -p "$dest/lib"
install -m 0644 "$so" "$dest/lib/libonnxruntime.so.1"
ln -sf libonnxruntime.so.1 "$lib"
echo "$ORT_VERSION" > "$dest/VERSION"
echo "installed onnxruntime $ORT_VERSION from $source: $lib"
