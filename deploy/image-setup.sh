#!/usr/bin/env bash
# Runs once in each serve image of Dockerfile.tensorrt, at `docker build`
# time: refuses an image that would not start on the hosts
# docs/tensorrt.md promises (wrong CUDA major, a driver floor that lies, libcudart or a
# library dependency missing), then registers /opt/trtserve/lib with the
# dynamic linker and creates the non-root user.
#
#   image-setup.sh               everything (in the image, as root)
#   image-setup.sh --check-only  only the CUDA and driver rule: what
#                                deploy's Go tests run on any machine
#
# Inputs (environment): CUDA_MAJOR and MIN_DRIVER (Dockerfile ARGs),
# TRT_IMAGE (for messages), CUDA_VERSION (set by nvidia/cuda and NGC base
# images), NVIDIA_REQUIRE_CUDA (nvidia/cuda images), TENSORRT_LIB (the
# library TRTSERVE_TENSORRT_LIB names), VERSIONS_FILE (default
# /opt/trtserve/VERSIONS, written by the build stage).
set -euo pipefail

die() {
  echo "image-setup: $*" >&2
  exit 1
}

# min_driver_for prints the oldest driver branch that runs every CUDA
# MAJOR.x application through CUDA minor version compatibility (NVIDIA's
# "CUDA Minor Version Compatibility" table), or nothing for a major it does
# not know.
min_driver_for() {
  case $1 in
    12) echo 525 ;;
    13) echo 580 ;;
  esac
}

check_versions() {
  : "${CUDA_MAJOR:?CUDA_MAJOR must be set}" "${MIN_DRIVER:?MIN_DRIVER must be set}"
  local versions=${VERSIONS_FILE:-/opt/trtserve/VERSIONS} image=${TRT_IMAGE:-the build image}
  [ -r "$versions" ] || die "cannot read $versions (the build stage writes it)"
  local built here=${CUDA_VERSION:-}
  built=$(sed -n 's/^CUDA_VERSION=//p' "$versions")
  [ -n "$built" ] || die "$versions names no CUDA_VERSION: the build stage could not tell which CUDA $image has"
  [ -n "$here" ] || die "this base image sets no CUDA_VERSION: use an nvidia/cuda:${CUDA_MAJOR}.x image"
  # The major, not the minor: libnvinfer carries its own (static) CUDA
  # runtime; what must agree is the libcudart major trtserve opens and the
  # driver floor, both set by the major alone.
  if [ "${built%%.*}" != "$CUDA_MAJOR" ]; then
    die "TensorRT in $image was built for CUDA $built, this file expects CUDA ${CUDA_MAJOR}.x (set the CUDA_MAJOR, MIN_DRIVER and runtime image build args together)"
  fi
  if [ "${here%%.*}" != "$CUDA_MAJOR" ]; then
    die "this runtime image has CUDA $here, but TensorRT in $image was built for CUDA $built: use a CUDA ${CUDA_MAJOR}.x runtime image (--build-arg RUNTIME_IMAGE / LEAN_RUNTIME_IMAGE)"
  fi
  local floor
  floor=$(min_driver_for "$CUDA_MAJOR")
  [ -n "$floor" ] || die "no known driver floor for CUDA ${CUDA_MAJOR}: add it to min_driver_for in deploy/image-setup.sh"
  case $MIN_DRIVER in
    '' | *[!0-9]*) die "MIN_DRIVER must be a driver branch number such as $floor, got '$MIN_DRIVER'" ;;
  esac
  if [ "$MIN_DRIVER" -lt "$floor" ]; then
    die "MIN_DRIVER=$MIN_DRIVER, but CUDA ${CUDA_MAJOR}.x needs driver $floor or newer"
  fi
  # nvidia/cuda images ask the NVIDIA Container Toolkit for their own
  # minor (NVIDIA_REQUIRE_CUDA=cuda>=13.1 wants a driver newer than 580):
  # then the label run.sh reads would promise a driver the toolkit refuses.
  local want_minor
  want_minor=$(sed -n 's/.*cuda>=[0-9]*\.\([0-9]*\).*/\1/p' <<<"${NVIDIA_REQUIRE_CUDA:-}")
  if [ -n "$want_minor" ] && [ "$want_minor" != 0 ] && [ "$MIN_DRIVER" -le "$floor" ]; then
    die "this runtime image requires '${NVIDIA_REQUIRE_CUDA%% *}', which needs a newer driver than $MIN_DRIVER: use a CUDA ${CUDA_MAJOR}.0 runtime image, or raise MIN_DRIVER to that driver"
  fi
  echo "image-setup: CUDA $built (TensorRT) on a CUDA $here runtime image: major $CUDA_MAJOR, driver $MIN_DRIVER or newer"
}

setup_image() {
  echo /opt/trtserve/lib >/etc/ld.so.conf.d/trtserve.conf
  ldconfig
  # trtserve's cuda package opens the libcudart of the major TensorRT was
  # built for; a runtime image without it would run everything on the CPU.
  if ! ldconfig -p | grep -q "libcudart\.so\.${CUDA_MAJOR} " &&
    ! compgen -G "/usr/local/cuda*/lib64/libcudart.so.${CUDA_MAJOR}" >/dev/null &&
    ! compgen -G "/usr/local/cuda*/targets/*/lib/libcudart.so.${CUDA_MAJOR}" >/dev/null; then
    die "no libcudart.so.${CUDA_MAJOR} in this image"
  fi
  : "${TENSORRT_LIB:?TENSORRT_LIB must be set}"
  [ -e "$TENSORRT_LIB" ] || die "$TENSORRT_LIB (TRTSERVE_TENSORRT_LIB) is not in the image"
  # libcuda.so.1 and libnvidia-ml.so.1 are the driver's: the NVIDIA
  # Container Toolkit mounts them at `docker run --gpus`.
  local missing
  missing=$(ldd /usr/local/bin/trtserve /opt/trtserve/lib/*.so* 2>/dev/null | grep 'not found' | grep -v -e 'libcuda\.so' -e 'libnvidia-ml\.so' | sort -u || true)
  if [ -n "$missing" ]; then
    die "unresolved libraries in this image:
$missing"
  fi
  # Non-root. /models is the model repository; engines are cached there, so
  # it must be writable by the user the container runs as.
  groupadd --system --gid 10001 trtserve
  useradd --system --uid 10001 --gid trtserve --home-dir /home/trtserve --create-home --shell /usr/sbin/nologin trtserve
  mkdir -p /models
  chown trtserve:trtserve /models
  cat "${VERSIONS_FILE:-/opt/trtserve/VERSIONS}"
}

case ${1:-} in
  --check-only) check_versions ;;
  '')
    check_versions
    setup_image
    ;;
  *) die "unknown argument '$1' (want --check-only or nothing)" ;;
esac
