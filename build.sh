#!/usr/bin/env bash
# Builds the TensorRT container image from Dockerfile.tensorrt (NVIDIA's NGC
# TensorRT image to build, a CUDA runtime image to run) and tags it
# ${TRTSERVE_IMAGE:-trtserve:tensorrt}, the image ./run.sh runs on GPU hosts.
# Extra arguments go to `docker build`, e.g.
#   ./build.sh --build-arg RUNTIME_IMAGE=nvidia/cuda:13.0.2-runtime-ubuntu24.04
set -euo pipefail
cd "$(dirname "$0")"
image=${TRTSERVE_IMAGE:-trtserve:tensorrt}

if ! command -v docker >/dev/null; then
  echo "build.sh: docker is required to build $image (https://docs.docker.com/engine/install/)." >&2
  echo "build.sh: without Docker, ./run.sh serves the same models on the CPU (ONNX Runtime)." >&2
  exit 1
fi
if ! docker info >/dev/null 2>&1; then
  echo "build.sh: docker is installed but its daemon does not answer (is it running? may $(id -un) use it?)" >&2
  exit 1
fi

echo "build.sh: building $image from Dockerfile.tensorrt (pulls nvcr.io/nvidia/tensorrt on first use: several GB)" >&2
# BuildKit: the Dockerfile uses cache mounts.
DOCKER_BUILDKIT=1 docker build -f Dockerfile.tensorrt -t "$image" "$@" .
echo "build.sh: built $image; run it with ./run.sh (or TRTSERVE_DOCKER=1 ./run.sh)" >&2
