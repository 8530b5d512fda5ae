#!/usr/bin/env bash
# Serves the model repository ${TRTSERVE_MODEL_REPOSITORY:-./models} (the
# committed demo model: models/yolov5s-coco, pretrained) on port
# ${PORT:-9001} (and KServe gRPC on 8001: GRPC_PORT publishes it elsewhere). Extra arguments
# go to `trtserve serve`. It takes one of two paths and says which and why:
#
#  - GPU: the TensorRT container ${TRTSERVE_IMAGE:-trtserve:tensorrt}
#    (Dockerfile.tensorrt, built by ./build.sh; ./build.sh --lean and
#    TRTSERVE_IMAGE=trtserve:tensorrt-lean for the serve-only one), run
#    with --gpus all, when docker works, `nvidia-smi -L` lists a GPU, the
#    host's NVIDIA driver is as new as the image needs and the image exists.
#    TRTSERVE_DOCKER=1 insists: builds the image if missing, and fails
#    instead of falling back when docker, the GPU or the driver is missing.
#  - CPU (otherwise, or TRTSERVE_DOCKER=0): builds trtserve here and serves
#    on ONNX Runtime, installing what is missing first.
#
# RUN_SH_DRY_RUN=1 prints the decision and the command it would run, and
# runs nothing (deploy's tests drive it with stub docker and nvidia-smi).
set -euo pipefail
cd "$(dirname "$0")"

image=${TRTSERVE_IMAGE:-trtserve:tensorrt}
want=${TRTSERVE_DOCKER:-auto}
dry=${RUN_SH_DRY_RUN:-0}
# The driver branch the images need when the image cannot tell (it is not
# built yet): Dockerfile.tensorrt's MIN_DRIVER, which each image also
# carries as the label io.trtserve.min-driver (deploy's tests hold the two
# equal).
default_min_driver=580
say() { echo "run.sh: $*" >&2; }

case $want in
  0 | 1 | auto) ;;
  *) say "TRTSERVE_DOCKER must be 0, 1 or unset, got '$want'"; exit 2 ;;
esac
case $dry in
  0 | 1) ;;
  *) say "RUN_SH_DRY_RUN must be 0, 1 or unset, got '$dry'"; exit 2 ;;
esac

# run_or_show runs its command, or prints it under RUN_SH_DRY_RUN=1.
run_or_show() {
  if [ "$dry" = 1 ]; then
    say "dry run: would run: $*"
    exit 0
  fi
  exec "$@"
}

# min_driver prints the driver branch the image needs: its label when the
# image exists, else the default above.
min_driver() {
  local label
  label=$(docker image inspect --format '{{ index .Config.Labels "io.trtserve.min-driver" }}' "$image" 2>/dev/null || true)
  case $label in
    '' | *[!0-9]*) echo "$default_min_driver" ;;
    *) echo "$label" ;;
  esac
}

# why_no_gpu_container prints why the container path cannot run here, or
# nothing when it can. An old driver is checked here, before docker, so the
# user reads which driver is needed instead of the NVIDIA Container
# Toolkit's "unsatisfied condition: cuda>=13.0".
why_no_gpu_container() {
  if ! command -v docker >/dev/null; then
    echo "docker not found"
    return
  elif ! docker info >/dev/null 2>&1; then
    echo "the docker daemon does not answer"
    return
  elif ! command -v nvidia-smi >/dev/null; then
    echo "nvidia-smi not found (no NVIDIA driver)"
    return
  elif ! nvidia-smi -L >/dev/null 2>&1; then
    echo "nvidia-smi -L lists no GPU"
    return
  fi
  local driver need branch
  # One line per GPU, all the same driver.
  driver=$(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null || true)
  driver=${driver%%$'\n'*}
  driver=${driver//[[:space:]]/}
  branch=${driver%%.*}
  need=$(min_driver)
  case $branch in
    '' | *[!0-9]*)
      # Unknown is not old: let docker decide, and say so.
      say "could not read the NVIDIA driver version ('$driver'); image $image needs $need or newer"
      ;;
    *)
      if [ "$branch" -lt "$need" ]; then
        echo "the NVIDIA driver here is $driver, older than the $need that image $image needs (CUDA $(cuda_major)): update the driver to the R$need branch or newer"
      fi
      ;;
  esac
}

# cuda_major prints the CUDA major the image was built for, for messages.
cuda_major() {
  local label
  label=$(docker image inspect --format '{{ index .Config.Labels "io.trtserve.cuda-major" }}' "$image" 2>/dev/null || true)
  case $label in
    '' | *[!0-9]*) echo "13.x" ;;
    *) echo "$label.x" ;;
  esac
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
  # The KServe v2 / Triton gRPC port too, unless the server's is off.
  if [ "${TRTSERVE_GRPC_PORT:-8001}" != 0 ]; then
    args+=(-p "${GRPC_PORT:-${TRTSERVE_GRPC_PORT:-8001}}:${TRTSERVE_GRPC_PORT:-8001}")
  fi
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
  run_or_show docker run "${args[@]}" "$image" "$@"
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
      say "GPU path: TensorRT container $image (a GPU is visible, its driver is new enough and the image exists; TRTSERVE_DOCKER=0 for the CPU path)"
      run_container "$@"
    elif [ "$want" = 1 ]; then
      say "GPU path: TensorRT container $image (TRTSERVE_DOCKER=1; the image is missing, building it first)"
      if [ "$dry" = 1 ]; then
        say "dry run: would run: ./build.sh$(case $image in *lean*) echo " --lean" ;; esac), then docker run ... $image"
        exit 0
      fi
      # build.sh tags the serve-only image with --lean; an image named
      # *lean* is taken to be that one.
      case $image in
        *lean*) ./build.sh --lean ;;
        *) ./build.sh ;;
      esac
      run_container "$@"
    fi
    reason="a GPU is visible but image $image is not built (./build.sh builds it, or TRTSERVE_DOCKER=1 ./run.sh)"
  else
    # Said loudly: the host has a GPU (or docker) the user may expect
    # to be used.
    case $reason in
      "the NVIDIA driver"*) say "$reason; serving on the CPU instead" ;;
    esac
  fi
fi

say "local path: trtserve built here, serving on ONNX Runtime unless it finds a TensorRT shim (make shim) and a GPU ($reason)"
if [ "$dry" = 1 ]; then
  say "dry run: would install missing system packages: ./scripts/install-deps.sh"
  run_or_show make -s build ort '&&' ./bin/trtserve serve --port "${PORT:-9001}" --model-repository "${TRTSERVE_MODEL_REPOSITORY:-./models}" "$@"
fi
command -v go >/dev/null || { echo "run.sh: Go is required (https://go.dev/dl)" >&2; exit 1; }
# System packages (sudo when not root) here, not in make: `make build`
# itself never installs anything.
./scripts/install-deps.sh
make -s build ort
exec ./bin/trtserve serve --port "${PORT:-9001}" --model-repository "${TRTSERVE_MODEL_REPOSITORY:-./models}" "$@"
