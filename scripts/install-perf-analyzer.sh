#!/usr/bin/env bash
# Triton's perf_analyzer, for `make bench-kserve`. No registry ships it on
# its own (PyPI's perf-analyzer 0.1.0 is an empty placeholder and
# tritonclient ≥ 2.42 is pure Python); tritonclient 2.41.0's manylinux wheel
# is the last to carry the binary. It links libb64 (Debian's libb64-0d) and
# libcudart.so.12, which it only calls for --shared-memory cuda; NVIDIA's
# nvidia-cuda-runtime-cu12 wheel provides it. Both wheels are pinned by
# SHA-256 and unpacked into third_party/perf_analyzer (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=third_party/perf_analyzer
[ -x "$DIR/bin/perf_analyzer" ] && exit 0
if ! ldconfig -p | grep -q libb64.so.0d; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq libb64-0d >/dev/null
fi
mkdir -p "$DIR/dl" "$DIR/bin" "$DIR/lib"
fetch() { # requirement, platform, file, sha256
  [ -f "$DIR/dl/$3" ] || python3 -m pip download -q --no-deps --only-binary=:all: --platform "$2" -d "$DIR/dl" "$1"
  echo "$4  $DIR/dl/$3" | sha256sum -c --quiet
}
fetch tritonclient==2.41.0 manylinux1_x86_64 tritonclient-2.41.0-py3-none-manylinux1_x86_64.whl \
  cf4ed5df836fa99937678a9fd852f86ba05c7b83656dd0a540e20afdb9ab4629
fetch nvidia-cuda-runtime-cu12==12.4.127 manylinux2014_x86_64 nvidia_cuda_runtime_cu12-12.4.127-py3-none-manylinux2014_x86_64.whl \
  64403288fa2136ee8e467cdc9c9427e0434110899d07c779f25b5c068934faa5
unzip -o -q -j "$DIR/dl/tritonclient-2.41.0-py3-none-manylinux1_x86_64.whl" 'tritonclient-2.41.0.data/data/bin/perf_analyzer' -d "$DIR/bin"
unzip -o -q -j "$DIR/dl/nvidia_cuda_runtime_cu12-12.4.127-py3-none-manylinux2014_x86_64.whl" 'nvidia/cuda_runtime/lib/libcudart.so.12' -d "$DIR/lib"
chmod +x "$DIR/bin/perf_analyzer"
echo "perf_analyzer installed in $DIR (run it with LD_LIBRARY_PATH=$DIR/lib)"
