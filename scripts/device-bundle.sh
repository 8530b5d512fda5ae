#!/usr/bin/env bash
# device-bundle.sh [check]: build build/device-bundle, what a bare GPU host
# (CUDA 13 driver; no Go, no TensorRT, no network) needs to run
# scripts/device-check.sh, in under 20 MiB:
#
#   bin/trtserve.xz           the binary, stripped (-s -w) and xz-compressed
#   bin/cuda.test.xz          package cuda's test binary, for the CUDA IPC
#                             check (TestGPUIPCAcrossProcesses: Triton's CUDA
#                             shared memory across two processes)
#   lib/libturbojpeg.so.0     the one shared library it links
#   lib/libcudart.so.13       NVIDIA's CUDA 13 runtime (the nvidia-cuda-runtime
#                             wheel `make simkernel-check` installs)
#   lib/libtrtserve_simkernel.so   the simulated engine's kernel (make simkernel)
#   models/<scenario>/        bench/models' simulated scenarios, the ONNX
#                             reduced to its header (no weights are needed)
#   images/                   testdata/bench/640
#   scripts/device-check.sh   the one call to make on the GPU host
#
# `check` (make device-bundle-check) then fails when the bundle is 20 MiB or
# more, naming its biggest files, and runs the bundle's doctor and
# device-check.sh here, which must exit 0 with "no GPU: nothing checked" on
# a machine without a GPU; then device-check.sh once more on the CUDA mock
# (TRTSERVE_CUDA_MOCK=1, short windows) so its GPU path runs end to end.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${BUNDLE:-build/device-bundle}
LIMIT=$((20 << 20))
GO=${GO:-go}
SCENARIOS="yolov8x-sim yolov8n-sim"

build() {
  command -v xz >/dev/null || { echo "device-bundle: xz is needed to compress the binary (apt-get install xz-utils)"; exit 1; }
  local kernel=build/libtrtserve_simkernel.so
  local cudart=(build/nvcc-venv/lib/python3*/site-packages/nvidia/cu13/lib/libcudart.so.13)
  if [ ! -f "$kernel" ] || [ ! -f "${cudart[0]}" ]; then
    echo "device-bundle: no $kernel or libcudart.so.13 yet: make simkernel-check (NVIDIA's nvcc and runtime wheels, cached in build/nvcc-venv)"
    make -s simkernel-check
    cudart=(build/nvcc-venv/lib/python3*/site-packages/nvidia/cu13/lib/libcudart.so.13)
  fi
  rm -rf "$B"
  mkdir -p "$B/bin" "$B/lib" "$B/scripts" "$B/models" "$B/images"
  # -trimpath and -s -w: no build paths, symbol table or DWARF (a third of
  # the size); xz takes the rest from 22 MB to about 7.
  $GO build -trimpath -ldflags '-s -w' -o "$B/bin/trtserve" ./cmd/trtserve
  local jpeg
  jpeg=$(ldd "$B/bin/trtserve" | awk '/libturbojpeg/ {print $3}')
  [ -n "$jpeg" ] || { echo "device-bundle: the binary does not link libturbojpeg?"; exit 1; }
  cp -L "$jpeg" "$B/lib/libturbojpeg.so.0"
  xz -9 -T0 -f "$B/bin/trtserve"
  # The CUDA IPC check: cuda's tests, of which device-check.sh runs only
  # TestGPUIPCAcrossProcesses (it re-runs the binary as its second process).
  $GO test -c -trimpath -ldflags '-s -w' -o "$B/bin/cuda.test" ./cuda
  xz -9 -T0 -f "$B/bin/cuda.test"
  cp -L "$kernel" "$B/lib/"
  cp -L "${cudart[0]}" "$B/lib/libcudart.so.13"
  cp scripts/device-check.sh "$B/scripts/"
  cp testdata/bench/640/*.jpg "$B/images/"
  for s in $SCENARIOS; do
    local src=bench/models/$s/1/model.onnx
    if [ ! -e "$src" ]; then
      # A scenario without its model link (a checkout mid-change): the
      # demo model's 640 px shapes.
      src=models/yolov5s-coco/1/model.onnx
    fi
    mkdir -p "$B/models/$s/1"
    cp "bench/models/$s/config.yaml" "$B/models/$s/"
    python3 scripts/onnx-header.py "$src" "$B/models/$s/1/model.onnx"
  done
  {
    echo "trtserve $(git describe --always --dirty 2>/dev/null || echo unknown), built $(date -u +%Y-%m-%dT%H:%MZ) on $(grep -oP '^PRETTY_NAME="?\K[^"]*' /etc/os-release 2>/dev/null || uname -sr)"
    (cd "$B" && find . -type f ! -name MANIFEST | sort | xargs sha256sum)
  } >"$B/MANIFEST"
  echo "device-bundle: $B, $(du -sb "$B" | cut -f1) bytes"
}

check() {
  local size
  size=$(du -sb "$B" | cut -f1)
  if [ "$size" -ge "$LIMIT" ]; then
    echo "device-bundle-check: $B is $size bytes, the limit is $LIMIT (20 MiB). Biggest files:"
    find "$B" -type f -printf '%s\t%p\n' | sort -rn | head -10
    exit 1
  fi
  echo "device-bundle-check: $size bytes (limit $LIMIT)"
  if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
    echo "device-bundle-check: this host has a GPU: the no-GPU path is not checked here; run $B/scripts/device-check.sh OUTDIR"
    return
  fi
  local tmp
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' RETURN
  # The bundle's own binary, as the GPU host will run it.
  xz -dc "$B/bin/trtserve.xz" >"$tmp/trtserve"
  chmod +x "$tmp/trtserve"
  local out rc=0
  out=$(LD_LIBRARY_PATH="$B/lib" TRTSERVE_CUDART_LIB="$B/lib/libcudart.so.13" TRTSERVE_CUDA_MOCK='' "$tmp/trtserve" doctor 2>&1) || rc=$?
  printf '  doctor: %s\n' "${out//$'\n'/$'\n'  doctor: }"
  if [ $rc -ne 0 ] || ! grep -q "no GPU: nothing checked" <<<"$out"; then
    echo "device-bundle-check: the bundle's doctor exited $rc without \"no GPU: nothing checked\""
    exit 1
  fi
  rc=0
  out=$(TRTSERVE_CUDA_MOCK='' "$B/scripts/device-check.sh" "$tmp/out" 2>&1) || rc=$?
  printf '  device-check: %s\n' "${out//$'\n'/$'\n'  device-check: }"
  if [ $rc -ne 0 ] || ! grep -q "no GPU: nothing checked" "$tmp/out/summary.md"; then
    echo "device-bundle-check: device-check.sh exited $rc without \"no GPU: nothing checked\" in its summary"
    exit 1
  fi
  # The GPU path of the script end to end on the CUDA mock: doctor's
  # checks, both servers on the simulated-GPU backend, bench, the summary.
  # The shipped binary has no CUDA mock (it is compiled in only under the
  # cudamock build tag), so this rehearsal runs a tagged build of the same
  # source with the bundle's libraries, models and script.
  go build -tags cudamock -o "$tmp/trtserve-mock" ./cmd/trtserve
  rc=0
  out=$(DEVICE_CHECK_BIN="$tmp/trtserve-mock" TRTSERVE_CUDA_MOCK=1 DOCTOR_ARGS=--quick WARMUP=1s DURATION=1s LEVELS=1,8 SCENARIOS=yolov8n-sim PORT=${PORT:-9171} \
    "$B/scripts/device-check.sh" "$tmp/mock" 2>&1) || rc=$?
  if [ $rc -ne 0 ] || ! grep -q "MOCK RUN" "$tmp/mock/summary.md" ||
    ! grep -q "yolov8n-sim on the simulated-GPU backend, fps parallel / serial" "$tmp/mock/summary.md" ||
    ! grep -q "^| CUDA IPC across processes .* | ok: " "$tmp/mock/summary.md"; then
    printf '  device-check (mock): %s\n' "${out//$'\n'/$'\n'  device-check (mock): }"
    echo "device-bundle-check: device-check.sh on the CUDA mock exited $rc or wrote no summary rows"
    exit 1
  fi
  grep "parallel / serial\|CUDA IPC across" "$tmp/mock/summary.md" | sed 's/^/  device-check (mock): /'
  echo "device-bundle-check: ok (size, the no-GPU path of doctor and device-check.sh, device-check.sh on the CUDA mock)"
}

case "${1:-build}" in
  build) build ;;
  check) check ;;
  *) echo "usage: $0 [build|check]" >&2; exit 2 ;;
esac
