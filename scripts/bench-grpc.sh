#!/usr/bin/env bash
# gRPC and shared-memory figures of docs/benchmarks.md, measured with
# Triton's perf_analyzer (scripts/install-perf-analyzer.sh) against
# bin/trtserve serving HTTP and gRPC at once. For each model, one server and
# four configurations back to back in one run, so the ratios between them
# are fair on a shared machine:
#   http       -i http, binary tensors (perf_analyzer's default)
#   grpc       -i grpc, raw_input_contents / raw_output_contents
#   grpc-shm   -i grpc --shared-memory system: tensors in /dev/shm regions
#   http-shm   -i http --shared-memory system
# Scenarios:
#   ort        ONNX Runtime YOLOv8n-320 (testdata/models; the tiny test export)
#   sim        simulated accelerator YOLOv8n-640 (bench/models/yolov8n-sim)
# Writes docs/bench/grpc-<scenario>-<config>.csv (perf_analyzer's columns)
# and prints infer/s and p99 per row, then gRPC ÷ HTTP and shm ÷ gRPC.
#
#   ./scripts/bench-grpc.sh              # both scenarios (~5 min on 2 cores)
#   ./scripts/bench-grpc.sh sim          # one scenario
#   LEVELS=1:8:7 ./scripts/bench-grpc.sh # other concurrency levels
#   SERVER_FLAGS="--grpc-window-bytes 8388608" TAG=win ./scripts/bench-grpc.sh sim
#                                        # server flags; files named grpc-<scenario>-<TAG>-<config>
set -euo pipefail
cd "$(dirname "$0")/.."
# BIN=path runs that binary instead of building bin/trtserve.
if [ -z "${BIN:-}" ]; then make -s build >/dev/null; BIN=./bin/trtserve; fi
make -s ort >/dev/null
./scripts/install-perf-analyzer.sh >/dev/null
PA=third_party/perf_analyzer/bin/perf_analyzer
OUT=${OUT:-docs/bench}
INTERVAL=${INTERVAL:-4000}
LEVELS=${LEVELS:-1:4:3}
HTTP_PORT=9105
GRPC_PORT=9106
CONFIGS=${CONFIGS:-http grpc grpc-shm http-shm}
T=${TAG:+-$TAG}
mkdir -p "$OUT"
export TRTSERVE_ONNXRUNTIME_LIB=${TRTSERVE_ONNXRUNTIME_LIB:-$PWD/third_party/onnxruntime/lib/libonnxruntime.so}
export LD_LIBRARY_PATH=$PWD/third_party/perf_analyzer/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

. scripts/lib.sh
pid=""
stop() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; pid=""; }
trap stop EXIT

serve() { # flags...
  # shellcheck disable=SC2086 # SERVER_FLAGS is a list of flags
  $BIN serve --port $HTTP_PORT --grpc-port $GRPC_PORT --log-level warn --request-timeout 600s "$@" ${SERVER_FLAGS:-} & pid=$!
  wait_ready $HTTP_PORT /v2/health/ready
}

# measure SCENARIO CONFIG MODEL: the server is up on both ports.
measure() {
  local scenario=$1 config=$2 model=$3 flags
  case $config in
    http) flags=(-i http -u 127.0.0.1:$HTTP_PORT) ;;
    grpc) flags=(-i grpc -u 127.0.0.1:$GRPC_PORT) ;;
    grpc-shm) flags=(-i grpc -u 127.0.0.1:$GRPC_PORT --shared-memory system) ;;
    http-shm) flags=(-i http -u 127.0.0.1:$HTTP_PORT --shared-memory system) ;;
  esac
  echo "== $scenario / $config: $model, concurrency $LEVELS" >&2
  $PA -m "$model" "${flags[@]}" --concurrency-range "$LEVELS" \
    --measurement-interval "$INTERVAL" --stability-percentage "${STABILITY:-25}" --max-trials 10 \
    -f "$OUT/grpc-$scenario$T-$config.csv" >"$OUT/grpc-$scenario$T-$config.log" 2>&1 ||
    { tail -5 "$OUT/grpc-$scenario$T-$config.log" >&2; }
}

run() {
  case "$1" in
    ort)
      serve --model-repository testdata/models --load-models yolov8n-320/1
      for c in $CONFIGS; do measure ort "$c" yolov8n-320; done
      stop ;;
    sim)
      serve --model-repository bench/models --load-models yolov8n-sim/1
      for c in $CONFIGS; do measure sim "$c" yolov8n-sim; done
      stop ;;
    *) echo "unknown scenario $1" >&2; exit 2 ;;
  esac
}

if [ $# -eq 0 ]; then set -- ort sim; fi
for s in "$@"; do run "$s"; done

# Summary: per scenario and concurrency, infer/s and p99 of each
# configuration, then gRPC ÷ HTTP-binary, gRPC-shm ÷ gRPC and HTTP-shm ÷
# HTTP; as a Markdown table (docs/benchmarks.md).
col() { # csv, concurrency, column name
  awk -F, -v c="$2" -v name="$3" 'NR==1{for(i=1;i<=NF;i++)if($i==name)k=i;next} $1==c{print $k}' "$1"
}
head="| scenario | concurrency |"
rule="|---|---|"
for cfg in $CONFIGS; do head+=" $cfg infer/s (p99 ms) |"; rule+="---|"; done
RATIOS="grpc/http grpc-shm/grpc http-shm/http"
for r in $RATIOS; do head+=" $r |"; rule+="---|"; done
echo "$head"
echo "$rule"
for s in "$@"; do
  for c in $(awk -F, 'NR>1{print $1}' "$OUT/grpc-$s$T-$(set -- $CONFIGS; echo "$1").csv" 2>/dev/null | sort -n); do
    line="| $s$T | $c |"
    declare -A ips=()
    for cfg in $CONFIGS; do
      f="$OUT/grpc-$s$T-$cfg.csv"
      ips[$cfg]=$( [ -f "$f" ] && col "$f" "$c" Inferences/Second || true)
      p99=$( [ -f "$f" ] && col "$f" "$c" "p99 latency" || true)
      if [ -n "${ips[$cfg]}" ]; then
        line+=$(awk -v i="${ips[$cfg]}" -v p="$p99" 'BEGIN{printf " %.1f (%.1f) |", i, p/1000}')
      else
        line+=" – |"
      fi
    done
    for r in $RATIOS; do
      a=${ips[${r%/*}]:-} b=${ips[${r#*/}]:-}
      if [ -n "$a" ] && [ -n "$b" ]; then line+=$(awk -v a="$a" -v b="$b" 'BEGIN{printf " %.2f× |", a/b}'); else line+=" – |"; fi
    done
    echo "$line"
    unset ips
  done
done
