#!/usr/bin/env bash
# Builds a TensorRT container image from Dockerfile.tensorrt (NVIDIA's NGC
# TensorRT image to build, a CUDA runtime image to run):
#
#   ./build.sh          target serve: full TensorRT (builds engines from ONNX
#                       and serves them), tagged ${TRTSERVE_IMAGE:-trtserve:tensorrt},
#                       the image ./run.sh runs on GPU hosts
#   ./build.sh --lean   target serve-lean: TensorRT's lean runtime, serves
#                       version-compatible engines built elsewhere
#                       (`trtserve build --version-compat`), builds none;
#                       tagged ${TRTSERVE_IMAGE:-trtserve:tensorrt-lean}
#
# Other arguments go to `docker build`, e.g.
#   ./build.sh --build-arg RUNTIME_IMAGE=nvidia/cuda:13.0.2-runtime-ubuntu24.04
# BUILD_SH_DRY_RUN=1 prints the docker command instead of running it.
set -euo pipefail
cd "$(dirname "$0")"

target=serve
default_image=trtserve:tensorrt
args=()
for a in "$@"; do
  case $a in
    --lean)
      target=serve-lean
      default_image=trtserve:tensorrt-lean
      ;;
    --target | --target=*)
      echo "build.sh: choose the image with --lean (or nothing for the full one), not --target" >&2
      exit 2
      ;;
    *) args+=("$a") ;;
  esac
done
image=${TRTSERVE_IMAGE:-$default_image}
# BuildKit: the Dockerfile uses cache mounts.
cmd=(docker build -f Dockerfile.tensorrt --target "$target" -t "$image" "${args[@]}" .)

if [ "${BUILD_SH_DRY_RUN:-0}" = 1 ]; then
  echo "build.sh: dry run: would run: DOCKER_BUILDKIT=1 ${cmd[*]}" >&2
  exit 0
fi
if ! command -v docker >/dev/null; then
  echo "build.sh: docker is required to build $image (https://docs.docker.com/engine/install/)." >&2
  echo "build.sh: without Docker, ./run.sh serves the same models on the CPU (ONNX Runtime)." >&2
  exit 1
fi
if ! docker info >/dev/null 2>&1; then
  echo "build.sh: docker is installed but its daemon does not answer (is it running? may $(id -un) use it?)" >&2
  exit 1
fi

echo "build.sh: building $image (target $target) from Dockerfile.tensorrt (pulls nvcr.io/nvidia/tensorrt on first use: several GB)" >&2
DOCKER_BUILDKIT=1 "${cmd[@]}"
if [ "$target" = serve-lean ]; then
  echo "build.sh: built $image; run it with TRTSERVE_IMAGE=$image ./run.sh" >&2
else
  echo "build.sh: built $image; run it with ./run.sh (or TRTSERVE_DOCKER=1 ./run.sh)" >&2
fi
