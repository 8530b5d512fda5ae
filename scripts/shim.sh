#!/usr/bin/env bash
# Body of `make shim`: configures and builds csrc/ with CMake into
# build/csrc/<name>, then runs its GoogleTest tests (ctest).
#
# What happens to the TensorRT shim depends on TensorRT's headers (see
# CMakeLists.txt): with them, libtrtshim.so is built (it links no TensorRT
# library: it opens one at run time, so headers are enough); without them,
# "skipped: no TensorRT headers (set TENSORRT_ROOT)" — printed, exit status
# 0, and never reported as a pass. The helper tests and the CPU fake build
# and run in every case, and each library built must export trtshim_get_api
# and no other trtshim_* symbol. Tests against a real TensorRT runtime:
# scripts/shim-real-check.sh (make shim-real-check).
#
#   scripts/shim.sh                                    # system TensorRT, if any
#   TENSORRT_ROOT=/opt/TensorRT-10.16.0.72 scripts/shim.sh
#   TENSORRT_ROOT=third_party_headers/tensorrt-v10.16:third_party_headers/tensorrt-v11.1 scripts/shim.sh
#
# Several roots separated by ':' are checked one after another, each in its
# own build directory. A root that is named but holds no NvInfer.h is an
# error (a typo must not turn into "skipped").
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD

if ! command -v cmake >/dev/null; then
  echo "shim: cmake not found (Debian/Ubuntu: apt-get install cmake ninja-build)" >&2
  exit 1
fi
gen=(-G Ninja); suffix=""
if ! command -v ninja >/dev/null; then
  gen=(-G "Unix Makefiles"); suffix="-make"  # a build dir keeps its generator
fi
jobs=$(nproc 2>/dev/null || echo 4)

IFS=':' read -r -a roots <<<"${TENSORRT_ROOT:-}"
[ ${#roots[@]} -eq 0 ] && roots=("")

summary=()
for root in "${roots[@]}"; do
  if [ -n "$root" ]; then
    case "$root" in /*) ;; *) root="$top/$root" ;; esac
    if [ ! -f "$root/include/NvInfer.h" ] && [ ! -f "$root/NvInfer.h" ]; then
      echo "shim: TENSORRT_ROOT entry '$root' has no include/NvInfer.h" >&2
      exit 1
    fi
    name=$(basename "$root" | tr -c 'A-Za-z0-9._\n-' '_')
  else
    name=default
  fi
  dir="build/csrc/$name$suffix"
  echo "== shim: ${root:-(no TENSORRT_ROOT: standard locations)} -> $dir"
  mkdir -p build/csrc
  cmake -S . -B "$dir" "${gen[@]}" -DTENSORRT_ROOT="$root" -Wno-dev >"$dir.configure.log" 2>&1 || {
    cat "$dir.configure.log" >&2; echo "shim: cmake configure failed" >&2; exit 1; }
  grep -E '^-- (trtshim|Found TensorRT|Could NOT find TensorRT)' "$dir.configure.log" || true
  cmake --build "$dir" --parallel "$jobs"
  tests=$(cat "$dir/trtshim-tests.txt")
  case "$tests" in
    missing:*) echo "shim: tests $tests" >&2; exit 1 ;;
  esac
  (cd "$dir" && ctest --output-on-failure --no-tests=error -j "$jobs")
  # The ABI is one exported symbol, trtshim_get_api (trtshim.h): every call
  # is reached through its table, so no other trtshim_* name may leak out.
  for so in "$dir/libtrtshim_fake.so" "$dir/libtrtshim.so"; do
    [ -f "$so" ] || continue
    exports=$(nm -D --defined-only "$so" | awk '$3 ~ /^trtshim_/ {print $3}' | sort | tr '\n' ' ')
    if [ "$exports" != "trtshim_get_api " ]; then
      echo "shim: $so exports '$exports', want only trtshim_get_api" >&2
      exit 1
    fi
  done
  status=$(cat "$dir/trtshim-status.txt")
  if [ -f "$dir/libtrtshim.so" ]; then
    # Where trtserve looks for it from the repository root (trt.Candidates).
    cp "$dir/libtrtshim.so" build/csrc/libtrtshim.so
    status="$status; installed build/csrc/libtrtshim.so"
  fi
  echo "shim [$name]: $status; C++ tests passed"
  summary+=("shim [$name]: $status")
done

echo "== shim summary"
printf '%s\n' "${summary[@]}"
