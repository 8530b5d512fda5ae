#!/usr/bin/env bash
# Body of `make shim-real-check`: the real shim against real TensorRT
# runtimes, on any machine (no GPU needed), wherever TensorRT's headers are.
#
# For each header tree in TENSORRT_ROOT (':'-separated; default: whichever
# of third_party_headers/tensorrt-v10.16 and third_party_headers/tensorrt-v11.1
# exist) it
#   1. installs the matching runtimes from PyPI into build/trt-real/<venv>
#      (once; they are not in the repository):
#        TensorRT 10 headers -> tensorrt-lean-cu12-libs==10.16.0.72
#        TensorRT 11 headers -> tensorrt-lean-cu13-libs==11.4.0.106 and
#                               tensorrt-dispatch-cu13-libs==11.4.0.106
#      (the shim needs library minor >= header minor within one major, so the
#      11.1 headers run the 11.4 runtimes; the wheels link CUDA's runtime
#      statically, so no nvidia-cuda-runtime wheel is needed);
#   2. builds libtrtshim.so against those headers (it links no TensorRT),
#      with TRTSHIM_CUDA_VERSION read from the wheel ("Cuda compilation
#      tools, release X.Y" in the library);
#   3. per runtime library: the C++ tests (ctest: helpers, fake, exports, and
#      RealRuntime against the library), the trt Go tests against it (TestReal*:
#      version and kind reported, runtime creation without a GPU is a clean
#      ErrCUDAInit — issue 15 defect 1 — or, with a GPU, TensorRT's own
#      deserialize error for a corrupt plan), and `trtserve serve` with the
#      real shim, that runtime and TRTSERVE_CUDA_MOCK=1 (cmd/trtserve
#      TestRealTensorRTRuntimeFallsBack: the ONNX model falls back to ONNX
#      Runtime with the reason and answers; an engine-only folder reaches
#      TensorRT and fails cleanly).
#
# Where no headers exist (CI) it says so and exits 0: nothing was checked.
#   make shim-real-check
#   TENSORRT_ROOT=/path/to/TensorRT-10.16/include/.. make shim-real-check
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD

if [ -n "${TENSORRT_ROOT:-}" ]; then
  IFS=':' read -r -a roots <<<"$TENSORRT_ROOT"
else
  roots=()
  for d in third_party_headers/tensorrt-v10.16 third_party_headers/tensorrt-v11.1; do
    [ -f "$d/include/NvInfer.h" ] && roots+=("$d")
  done
fi
if [ ${#roots[@]} -eq 0 ]; then
  echo "shim-real-check: skipped: no TensorRT headers (set TENSORRT_ROOT, or unpack NVIDIA/TensorRT's include/ into third_party_headers/tensorrt-v10.16 and third_party_headers/tensorrt-v11.1): nothing was checked"
  exit 0
fi
for tool in cmake python3 go; do
  command -v "$tool" >/dev/null || { echo "shim-real-check: $tool not found" >&2; exit 1; }
done
gen=(-G Ninja)
command -v ninja >/dev/null || gen=(-G "Unix Makefiles")
jobs=$(nproc 2>/dev/null || echo 2)
export CGO_CFLAGS="${CGO_CFLAGS:--O2 -g -Wno-deprecated-declarations}"
gpu=0
if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then gpu=1; fi

# header_major ROOT: NV_TENSORRT_MAJOR from NvInferVersion.h (10.16+ defines
# it through TRT_MAJOR_ENTERPRISE).
header_major() {
  local h="$1/include/NvInferVersion.h"
  [ -f "$h" ] || h="$1/NvInferVersion.h"
  sed -n -E 's/^#define[ \t]+(NV_TENSORRT_MAJOR|TRT_MAJOR_ENTERPRISE)[ \t]+([0-9]+).*/\2/p' "$h" | head -1
}

# venv NAME PACKAGE...: a virtual environment under build/trt-real with
# exactly those packages, installed once.
venv() {
  local name=$1; shift
  local dir="build/trt-real/$name" stamp
  stamp="$dir/.installed-$(printf '%s\n' "$@" | sha256sum | cut -c1-12)"
  if [ ! -f "$stamp" ]; then
    echo "== shim-real-check: installing $* into $dir (PyPI)" >&2
    rm -rf "$dir"
    python3 -m venv "$dir"
    "$dir/bin/pip" install -q --disable-pip-version-check "$@" >&2
    touch "$stamp"
  fi
  echo "$top/$dir"
}

# site_packages VENV: where its pip put the wheels.
site_packages() {
  "$1/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'
}

# cuda_version LIB: the CUDA release the library was compiled with, as
# 1000*major + 10*minor (13.4 -> 13040); 0 when the library does not say.
cuda_version() {
  local r
  r=$(grep -a -o 'Cuda compilation tools, release [0-9]*\.[0-9]*' "$1" | sort | uniq -c | sort -rn | head -1 |
    sed -E 's/.*release ([0-9]+)\.([0-9]+)/\1 \2/')
  if [ -z "$r" ]; then echo 0; else read -r maj min <<<"$r"; echo $((maj * 1000 + min * 10)); fi
}

summary=()
for root in "${roots[@]}"; do
  case "$root" in /*) ;; *) root="$top/$root" ;; esac
  major=$(header_major "$root")
  case "$major" in
    10) env_dir=$(venv cu12 tensorrt-lean-cu12-libs==10.16.0.72 | tail -1)
        site=$(site_packages "$env_dir")
        libs=("lean:$site/tensorrt_lean_libs/libnvinfer_lean.so.10") ;;
    11) env_dir=$(venv cu13 tensorrt-lean-cu13-libs==11.4.0.106 tensorrt-dispatch-cu13-libs==11.4.0.106 | tail -1)
        site=$(site_packages "$env_dir")
        libs=("lean:$site/tensorrt_lean_libs/libnvinfer_lean.so.11"
              "dispatch:$site/tensorrt_dispatch_libs/libnvinfer_dispatch.so.11") ;;
    *) echo "shim-real-check: $root: TensorRT major '$major' has no runtime wheel here (10 or 11)" >&2; exit 1 ;;
  esac
  first_lib=${libs[0]#*:}
  [ -f "$first_lib" ] || { echo "shim-real-check: $first_lib missing after install" >&2; exit 1; }
  cuda=$(cuda_version "$first_lib")
  bdir="build/trt-real/shim-$major"
  echo "== shim-real-check: TensorRT $major headers ($root) -> $bdir, CUDA version $cuda (from $(basename "$first_lib"))"
  cmake -S . -B "$bdir" "${gen[@]}" -DTENSORRT_ROOT="$root" -DTRTSHIM_CUDA_VERSION="$cuda" -Wno-dev >"$bdir.configure.log" 2>&1 || {
    cat "$bdir.configure.log" >&2; echo "shim-real-check: cmake configure failed" >&2; exit 1; }
  grep -E '^-- trtshim' "$bdir.configure.log" || true
  cmake --build "$bdir" --parallel "$jobs" >"$bdir.build.log" 2>&1 || {
    cat "$bdir.build.log" >&2; echo "shim-real-check: build failed" >&2; exit 1; }
  shim="$top/$bdir/libtrtshim.so"
  echo "libtrtshim.so links: $(ldd "$shim" | awk '{print $1}' | tr '\n' ' ')"
  for entry in "${libs[@]}"; do
    kind=${entry%%:*}
    lib=${entry#*:}
    [ -f "$lib" ] || { echo "shim-real-check: $lib missing" >&2; exit 1; }
    case $kind in full) kind_num=1 ;; lean) kind_num=2 ;; dispatch) kind_num=3 ;; esac
    echo "== shim-real-check: $kind runtime $lib (GPU: $([ $gpu = 1 ] && echo yes || echo none))"
    (cd "$bdir" && TRTSHIM_TEST_TENSORRT_LIB="$lib" TRTSHIM_TEST_TENSORRT_KIND=$kind_num TRTSHIM_TEST_GPU=$gpu \
      ctest --output-on-failure --no-tests=error -j "$jobs" >"ctest-$kind.log" 2>&1) || {
      cat "$bdir/ctest-$kind.log" >&2; echo "shim-real-check: C++ tests failed" >&2; exit 1; }
    grep -E 'tests passed|tests failed' "$bdir/ctest-$kind.log"
    (cd "$bdir" && TRTSHIM_TEST_TENSORRT_LIB="$lib" TRTSHIM_TEST_TENSORRT_KIND=$kind_num TRTSHIM_TEST_GPU=$gpu \
      ./exports_test --gtest_filter='RealRuntime.*' >"real-$kind.log" 2>&1) || {
      cat "$bdir/real-$kind.log" >&2; echo "shim-real-check: RealRuntime failed" >&2; exit 1; }
    grep -E '^\[ (info|load) +\]|OK \]' "$bdir/real-$kind.log" | cut -c1-400 || true
    export TRTSERVE_TRT_REAL_SHIM="$shim" TRTSERVE_TRT_REAL_LIB="$lib" TRTSERVE_TRT_REAL_KIND="$kind" TRTSERVE_TRT_REAL_GPU=$gpu
    show() { grep -E '^(=== RUN|--- |ok|FAIL|PASS)|_test.go:' "$1" | cut -c1-600 || true; }
    if ! go test -count=1 -v -run 'TestReal' ./trt/ >"$bdir/go-trt-$kind.log" 2>&1; then
      cat "$bdir/go-trt-$kind.log" >&2; echo "shim-real-check: trt Go tests failed" >&2; exit 1
    fi
    show "$bdir/go-trt-$kind.log"
    if ! go test -count=1 -v -run 'TestRealTensorRTRuntimeFallsBack' ./cmd/trtserve/ >"$bdir/go-serve-$kind.log" 2>&1; then
      cat "$bdir/go-serve-$kind.log" >&2; echo "shim-real-check: trtserve serve check failed" >&2; exit 1
    fi
    show "$bdir/go-serve-$kind.log"
    grep -q -- '--- SKIP' "$bdir/go-trt-$kind.log" "$bdir/go-serve-$kind.log" && {
      echo "shim-real-check: a real-runtime test skipped; see $bdir/go-*-$kind.log" >&2; exit 1; }
    unset TRTSERVE_TRT_REAL_SHIM TRTSERVE_TRT_REAL_LIB TRTSERVE_TRT_REAL_KIND TRTSERVE_TRT_REAL_GPU
    summary+=("shim-real-check: TensorRT $major headers + $(basename "$lib"): passed")
  done
done
echo "== shim-real-check summary"
printf '%s\n' "${summary[@]}"
