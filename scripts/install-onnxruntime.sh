#!/usr/bin/env bash
# Installs the ONNX Runtime shared library trtserve's CPU backend loads at run
# time, from the npm registry's onnxruntime-node tarball (it carries a plain
# libonnxruntime.so.1 for linux/x64), at a pinned version checked by sha256.
#
# Why npm and not PyPI: the onnxruntime wheel's library is fine too, but the
# npm tarball is a single archive with a stable path and a registry checksum,
# and onnxruntime_go v1.27.0 needs ORT >= 1.24 (C API 24); 1.30.0 is verified.
#
# Result: third_party/onnxruntime/lib/libonnxruntime.so (git-ignored).
set -euo pipefail

ORT_VERSION=1.30.0
ORT_SHA256=6e3390d6b783e7be946fad629292799da28d0b42f84856e50d2c1b0383291e75

root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/third_party/onnxruntime"
lib="$dest/lib/libonnxruntime.so"

if [ -f "$dest/VERSION" ] && [ "$(cat "$dest/VERSION")" = "$ORT_VERSION" ] && [ -f "$lib" ]; then
  echo "onnxruntime $ORT_VERSION already installed: $lib"
  exit 0
fi

case "$(uname -s)/$(uname -m)" in
  Linux/x86_64) plat=linux/x64 ;;
  Linux/aarch64) plat=linux/arm64 ;;
  *) echo "install-onnxruntime: unsupported platform $(uname -s)/$(uname -m)" >&2; exit 1 ;;
esac
command -v npm >/dev/null || { echo "install-onnxruntime: npm is required (apt-get install npm)" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "fetching onnxruntime-node@$ORT_VERSION from the npm registry..."
(cd "$tmp" && npm pack --silent "onnxruntime-node@$ORT_VERSION" >/dev/null)
tgz="$tmp/onnxruntime-node-$ORT_VERSION.tgz"
got=$(sha256sum "$tgz" | cut -d' ' -f1)
if [ "$got" != "$ORT_SHA256" ]; then
  echo "install-onnxruntime: checksum mismatch for $tgz: got $got want $ORT_SHA256" >&2
  exit 1
fi
tar -xzf "$tgz" -C "$tmp" "package/bin/napi-v6/$plat/libonnxruntime.so.1"
mkdir -p "$dest/lib"
install -m 0644 "$tmp/package/bin/napi-v6/$plat/libonnxruntime.so.1" "$dest/lib/libonnxruntime.so.1"
ln -sf libonnxruntime.so.1 "$lib"
echo "$ORT_VERSION" > "$dest/VERSION"
echo "installed onnxruntime $ORT_VERSION: $lib"
