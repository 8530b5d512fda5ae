#!/usr/bin/env bash
# Builds trtserve and serves the committed demo model (models/yolov8n) on
# port ${PORT:-9001}, installing what is missing first. Extra arguments go to
# `trtserve serve`.
#
# This runs the CPU path (ONNX Runtime). The TensorRT container path
# (Dockerfile.tensorrt) is not built yet; see README.md.
set -euo pipefail
cd "$(dirname "$0")"
command -v go >/dev/null || { echo "run.sh: Go is required (https://go.dev/dl)" >&2; exit 1; }
make -s build ort
exec ./bin/trtserve serve --port "${PORT:-9001}" --model-repository "${TRTSERVE_MODEL_REPOSITORY:-./models}" "$@"
