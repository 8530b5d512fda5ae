#!/usr/bin/env bash
# The one place that installs system packages (Debian/Ubuntu, as root or
# through sudo). No make target calls it except `make deps`; ./run.sh and
# .ci/run call it before building. What it installs:
#   - a C compiler and libjpeg-turbo's headers and library: cgo (ONNX
#     Runtime's binding) and vision's JPEG decoder, i.e. `make build`;
#   - cmake, ninja and GoogleTest for the C++ shim's tests (make shim);
#   - xz for make device-bundle's compressed binary;
#   - Debian's real CUDA runtime, libcudart11.0 (contrib/non-free, 170 kB),
#     so cuda/'s tests open a real libcudart and resolve its symbols on a
#     machine without a GPU (TRTSERVE_REQUIRE_CUDART=1 makes its absence a
#     failure in CI). It is only needed for tests: trtserve opens whatever
#     libcudart the host has, at run time.
# With --bench it also installs what the benchmark scripts need: haproxy
# (make k8s-rehearsal) and libb64 (perf_analyzer, make bench-kserve).
# Elsewhere install these yourself, or build with -tags noturbojpeg
# (pure-Go JPEG, slower) when libjpeg-turbo is the one missing.
set -euo pipefail
bench=no
for arg in "$@"; do
  case $arg in
    --bench) bench=yes ;;
    *) echo "usage: $0 [--bench]" >&2; exit 2 ;;
  esac
done
need=()
command -v cc >/dev/null || need+=(gcc libc6-dev)
[ -f /usr/include/turbojpeg.h ] || need+=(libturbojpeg0-dev)
command -v cmake >/dev/null || need+=(cmake)
command -v ninja >/dev/null || need+=(ninja-build)
[ -f /usr/include/gtest/gtest.h ] || need+=(libgtest-dev)
command -v xz >/dev/null || need+=(xz-utils)  # make device-bundle compresses the binary
if [ "$bench" = yes ]; then
  command -v haproxy >/dev/null || need+=(haproxy)
  ldconfig -p | grep -q libb64.so.0d || need+=(libb64-0d)
fi
# Any one libcudart will do. (One `ls` of both globs failed whenever either
# matched nothing, so this ran apt-get on every call.)
cudart=no
for f in /usr/lib/*-linux-gnu/libcudart.so* /usr/local/cuda/lib64/libcudart.so*; do
  [ -e "$f" ] && cudart=yes
done
[ ${#need[@]} -eq 0 ] && [ "$cudart" = yes ] && exit 0
if ! command -v apt-get >/dev/null; then
  [ "$cudart" = no ] && need+=("a libcudart (tests only)")
  echo "install-deps: need ${need[*]}; install them yourself" >&2
  exit 1
fi
sudo=""
[ "$(id -u)" = 0 ] || sudo=sudo
if [ "$cudart" = no ] && [ -r /etc/os-release ] && grep -q '^ID=debian' /etc/os-release; then
  # libcudart11.0 lives in contrib/non-free; add those components in a
  # file of our own rather than editing the system's sources.
  src=/etc/apt/sources.list.d/trtserve-nonfree.sources
  if [ ! -f "$src" ]; then
    # shellcheck source=/dev/null
    codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
    printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: %s\nComponents: contrib non-free\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$codename" | $sudo tee "$src" >/dev/null
  fi
  need+=(libcudart11.0)
fi
[ ${#need[@]} -eq 0 ] && exit 0
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
