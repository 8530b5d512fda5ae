#!/usr/bin/env bash
# The server's CPU time per image, this build against a previous one, side
# by side in one run (docs/benchmarks.md, "CPU per image"). Both servers
# run at once on the simulated accelerator (YOLOv8n timing); `trtserve
# bench --url new=... --compare base=...` loads one, then the other, at
# each level, and reads each one's process_cpu_seconds_total from its
# /metrics when the level's window opens and closes. CPU per image does
# not depend on who else shares the cores; fps does.
#
#   BASE=/tmp/base/bin/trtserve ./scripts/bench-cpu.sh          # every case
#   BASE=... ./scripts/bench-cpu.sh det640                      # one case
#   PROFILE=1 BASE=... ./scripts/bench-cpu.sh                   # + pprof CPU profiles of the new server
#   NEW_FLAGS=--jpeg-dct-scaling BASE=... ./scripts/bench-cpu.sh det1080  # extra serve flags, new build only
#
# BASE is the previous build: e.g.
#   git worktree add /tmp/base <commit> && (cd /tmp/base && go build -o bin/trtserve ./cmd/trtserve)
# Cases: det640 (640-px JPEGs, /infer/object_detection), det1080 (1080p
# JPEGs, same route), seg640 (instance segmentation, mask_decode_mode
# fast). Writes docs/bench/cpu-<case>.{md,json} (and .pprof/.top.txt with
# PROFILE=1). `ratios` (not in the default set): parallel ÷ serial of
# both builds at c=64 and the new build's raw backend, for server ÷ raw.
set -euo pipefail
cd "$(dirname "$0")/.."
NEW=${NEW:-./bin/trtserve}
BASE=${BASE:?set BASE to the previous build of trtserve}
[ -x "$NEW" ] || make -s build >/dev/null
OUT=${OUT:-docs/bench}
WARMUP=${WARMUP:-3s}
DURATION=${DURATION:-10s}
LEVELS=${LEVELS:-64}
mkdir -p "$OUT"

pids=()
cleanup() { for p in "${pids[@]:-}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; pids=(); }
trap cleanup EXIT

. scripts/lib.sh

# nogrpc BIN: --grpc-port 0 for builds that have a gRPC listener (both
# servers would want its default port).
nogrpc() { if "$1" serve --help 2>&1 | grep -q -- '-grpc-port'; then echo --grpc-port 0; fi; }

# case NAME MODEL IMAGES [bench flags...]
case_() {
  local name=$1 model=$2 images=$3
  shift 3
  echo "== $name: $model, $images, concurrency $LEVELS $*" >&2
  local common=(--model-repository bench/models --load-models "$model" --request-timeout 600s --log-level warn)
  local prof=()
  [ -n "${PROFILE:-}" ] && prof=(--pprof-addr 127.0.0.1:9209)
  # shellcheck disable=SC2086 # NEW_FLAGS is a list of flags
  "$NEW" serve --port 9201 "${common[@]}" $(nogrpc "$NEW") "${prof[@]}" ${NEW_FLAGS:-} & pids+=($!)
  "$BASE" serve --port 9202 "${common[@]}" $(nogrpc "$BASE") & pids+=($!)
  wait_ready 9201; wait_ready 9202
  if [ -n "${PROFILE:-}" ]; then
    # The profile covers the new server under the same load, apart from
    # the measured levels.
    "$NEW" bench --quiet --url new=http://127.0.0.1:9201 --model "$model" --images "$images" \
      --concurrency "${LEVELS%%,*}" --warmup 2s --duration 14s --timeout 600s "$@" >/dev/null &
    local b=$!
    sleep 3
    curl -fs -o "$OUT/cpu-$name.pprof" "http://127.0.0.1:9209/debug/pprof/profile?seconds=10"
    wait $b
    go tool pprof -top -nodecount 40 "$NEW" "$OUT/cpu-$name.pprof" >"$OUT/cpu-$name.top.txt" 2>/dev/null || true
  fi
  "$NEW" bench --quiet --url new=http://127.0.0.1:9201 --compare base=http://127.0.0.1:9202 \
    --model "$model" --images "$images" --concurrency "$LEVELS" --warmup "$WARMUP" --duration "$DURATION" --timeout 600s \
    --json "$OUT/cpu-$name.json" "$@" | tee "$OUT/cpu-$name.md"
  cleanup
}

# ratios: parallel vs serial pipeline of both builds at c=64, four servers
# up, measured one after the other, twice (docs/bench/cpu-pipeline.md),
# then the new build's raw backend throughput (bench --raw) for server ÷
# raw.
ratios() {
  echo "== ratios: yolov8n-sim/1, parallel and serial of both builds, c=${LEVELS}; raw" >&2
  local common=(--model-repository bench/models --load-models yolov8n-sim/1 --request-timeout 600s --log-level warn)
  "$NEW" serve --port 9201 --pipeline parallel "${common[@]}" $(nogrpc "$NEW") & pids+=($!)
  "$NEW" serve --port 9202 --pipeline serial "${common[@]}" $(nogrpc "$NEW") & pids+=($!)
  "$BASE" serve --port 9203 --pipeline parallel "${common[@]}" $(nogrpc "$BASE") & pids+=($!)
  "$BASE" serve --port 9204 --pipeline serial "${common[@]}" $(nogrpc "$BASE") & pids+=($!)
  for p in 9201 9202 9203 9204; do wait_ready $p; done
  "$NEW" bench --quiet --url new-parallel=http://127.0.0.1:9201 --compare new-serial=http://127.0.0.1:9202 \
    --compare base-parallel=http://127.0.0.1:9203 --compare base-serial=http://127.0.0.1:9204 \
    --model yolov8n-sim/1 --images testdata/bench/640 --concurrency "$LEVELS,$LEVELS" --warmup "$WARMUP" --duration "$DURATION" --timeout 600s \
    --json "$OUT/cpu-pipeline.json" | tee "$OUT/cpu-pipeline.md"
  cleanup
  "$NEW" bench --raw --model-repository bench/models --model yolov8n-sim/1 --warmup "$WARMUP" --duration "$DURATION" | tee "$OUT/cpu-raw.md"
}

run() {
  case "$1" in
    ratios)  ratios ;;
    det640)  case_ det640 yolov8n-sim/1 testdata/bench/640 ;;
    det1080) case_ det1080 yolov8n-sim/1 testdata/bench/1080p ;;
    seg640)  case_ seg640 yolov8n-seg-sim/1 testdata/bench/640 --task instance_segmentation --param mask_decode_mode=fast ;;
    *) echo "unknown case $1" >&2; exit 2 ;;
  esac
}

if [ $# -eq 0 ]; then set -- det640 det1080 seg640; fi
for s in "$@"; do run "$s"; done
