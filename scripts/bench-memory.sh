#!/usr/bin/env bash
# Peak RSS of the server at 1000 concurrent clients sending 1080p JPEGs, and
# fps in the same run, for two server binaries side by side (before/after):
# the "Memory" section of docs/benchmarks.md.
#
#   git worktree add /tmp/base-mem 6a29ebd
#   (cd /tmp/base-mem && go build -o bin/trtserve ./cmd/trtserve)
#   ./scripts/bench-memory.sh /tmp/base-mem/bin/trtserve            # vs make build
#   ./scripts/bench-memory.sh BASE_BIN NEW_BIN                      # two binaries
#   CONCURRENCY=1000,1000 DURATION=30s ./scripts/bench-memory.sh ...  # two rounds
#
# Both servers run at once, on the simulated YOLOv8n (bench/models); the
# load (trtserve bench, --compare) goes to one, then the other, at each
# level. Peak RSS is the kernel's high-water mark of each server process
# (VmHWM in /proc/PID/status), read after the run: it covers start-up, the
# warm-up and every level. Extra server flags: SERVER_FLAGS="...".
set -euo pipefail
cd "$(dirname "$0")/.."
BASE=${1:?usage: bench-memory.sh BASE_BIN [NEW_BIN]}
NEW=${2:-}
if [ -z "$NEW" ]; then make -s build >/dev/null; NEW=./bin/trtserve; fi
CONCURRENCY=${CONCURRENCY:-1000}
WARMUP=${WARMUP:-5s}
DURATION=${DURATION:-20s}
OUT=${OUT:-docs/bench}
mkdir -p "$OUT"
export TRTSERVE_ONNXRUNTIME_LIB=${TRTSERVE_ONNXRUNTIME_LIB:-$PWD/third_party/onnxruntime/lib/libonnxruntime.so}
export TRTSERVE_GRPC_PORT=0 # two servers side by side: neither takes 8001

pids=()
cleanup() { for p in "${pids[@]:-}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
. scripts/lib.sh

common=(serve --model-repository bench/models --load-models yolov8n-sim/1 --request-timeout 600s --log-level warn ${SERVER_FLAGS:-})
"$NEW" "${common[@]}" --port 9111 & new=$!; pids+=($new)
"$BASE" "${common[@]}" --port 9112 & base=$!; pids+=($base)
wait_ready 9111; wait_ready 9112

"$NEW" bench --quiet --url after=http://127.0.0.1:9111 --compare before=http://127.0.0.1:9112 \
  --model yolov8n-sim/1 --images testdata/bench/1080p --concurrency "$CONCURRENCY" \
  --warmup "$WARMUP" --duration "$DURATION" --timeout 600s --csv "$OUT/memory-1080p.csv" | tee "$OUT/memory-1080p.md"

hwm() { awk '/^VmHWM/ {printf "%.0f MiB", $2/1024}' "/proc/$1/status"; }
echo "peak RSS (VmHWM): after $(hwm "$new"), before $(hwm "$base")" | tee -a "$OUT/memory-1080p.md"
