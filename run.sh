#!/usr/bin/env bash
# Serves the model repository ${TRTSERVE_MODEL_REPOSITORY:-./models} (the
# committed demo models: models/yolov5s-coco, pretrained, and models/yolov8n,
# random weights) on port ${PORT:-9001}. Extra arguments
# go to `trtserve serve`. It takes one of two paths and says which and why:
#
#  - GPU: the TensorRT container ${TRTSERVE_IMAGE:-trtserve:tensorrt}
#    (Dockerfile.tensorrt, built by ./build.sh), run with --gpus all, when
#    docker works, `nvidia-smi -L` lists a GPU and the image exists.
#    TRTSERVE_DOCKER=1 insists: builds the image if missing, and fails
#    instead of falling back when docker or the GPU is missing.
#  - CPU (otherwise, or TRTSERVE_DOCKER=0): builds trtserve here and serves
#    on ONNX Runtime, installing what is missing first.
set -euo pipefail
cd "$(dirname "$0")"

image=${TRTSERVE_IMAGE:-trtserve:tensorrt}
want=${TRTSERVE_DOCKER:-auto}
say() { echo "run.sh: $*" >&2; }

case $want in
  0 | 1 | auto) ;;
  *) say "TRTSERVE_DOCKER must be 0, 1 or unset, got '$want'"; exit 2 ;;
esac

# why_no_gpu_container prints why the container path cannot run here, or
# nothing when it can.
why_no_gpu_container() {
  if ! command -v docker >/dev/null; then
    echo "docker not found"
  elif ! docker info >/dev/null 2>&1; then
    echo "the docker daemon does not answer"
  elif ! command -v nvidia-smi >/dev/null; then
    echo "nvidia-smi not found (no NVIDIA driver)"
  elif ! nvidia-smi -L >/dev/null 2>&1; then
    echo "nvidia-smi -L lists no GPU"
  fi
}

# run_container runs the image with the GPUs, the model repository mounted
# at /models and the server's settings passed through.
run_container() {
  local models=${TRTSERVE_MODEL_REPOSITORY:-./models}
  [ -d "$models" ] || { say "model repository '$models' is not a folder"; exit 1; }
  models=$(cd "$models" && pwd)
  # The host user, so engines cached under /models belong to them;
  # HOME for caches, since that uid has no home in the image.
  local args=(--rm --gpus all -p "${PORT:-9001}:9001" -v "$models:/models"
    --user "$(id -u):$(id -g)" -e HOME=/tmp)
  if [ -t 0 ] && [ -t 1 ]; then
    args+=(-it)
  fi
  if [ -n "${MODEL_CACHE_DIR:-}" ]; then
    args+=(-v "$(cd "$MODEL_CACHE_DIR" && pwd):/model-cache" -e MODEL_CACHE_DIR=/model-cache)
  fi
  # Settings pass through by name; not host paths (libraries, the
  # repository) nor what the image sets itself (host, port).
  local name
  while IFS= read -r name; do
    case $name in
      TRTSERVE_DOCKER | TRTSERVE_IMAGE | TRTSERVE_HOST | TRTSERVE_MODEL_REPOSITORY | TRTSERVE_*_LIB) ;;
      TRTSERVE_* | MAX_BATCH_SIZE | MAX_ACTIVE_MODELS) args+=(-e "$name") ;;
    esac
  done < <(compgen -e)
  say "serving $models on :${PORT:-9001} from $image"
  exec docker run "${args[@]}" "$image" "$@"
}

reason=""
if [ "$want" = 0 ]; then
  reason="TRTSERVE_DOCKER=0"
else
  reason=$(why_no_gpu_container)
  if [ -n "$reason" ] && [ "$want" = 1 ]; then
    say "TRTSERVE_DOCKER=1, but $reason"
    exit 1
  fi
  if [ -z "$reason" ]; then
    if docker image inspect "$image" >/dev/null 2>&1; then
      say "GPU path: TensorRT container $image (a GPU is visible and the image exists; TRTSERVE_DOCKER=0 for the CPU path)"
      run_container "$@"
    elif [ "$want" = 1 ]; then
      say "GPU path: TensorRT container $image (TRTSERVE_DOCKER=1; the image is missing, building it first)"
      ./build.sh
      run_container "$@"
    fi
    reason="a GPU is visible but image $image is not built (./build.sh builds it, or TRTSERVE_DOCKER=1 ./run.sh)"
  fi
fi

say "local path: trtserve built here, serving on ONNX Runtime unless it finds a TensorRT shim (make shim) and a GPU ($reason)"
command -v go >/dev/null || { echo "run.sh: Go is required (https://go.dev/dl)" >&2; exit 1; }
make -s build ort
exec ./bin/trtserve serve --port "${PORT:-9001}" --model-repository "${TRTSERVE_MODEL_REPOSITORY:-./models}" "$@"
