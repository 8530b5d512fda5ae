#!/usr/bin/env bash
# KServe figures of docs/benchmarks.md, measured with Triton's own load
# generator, perf_analyzer (scripts/install-perf-analyzer.sh), against
# bin/trtserve. Each scenario runs its configurations back to back in one
# run, so the ratios between them are fair on a shared machine:
#   ort-binary-vs-json  ONNX Runtime YOLOv8n-320: binary tensors vs JSON tensors
#   ort-pipeline        ONNX Runtime YOLOv8n-320, binary: parallel vs serial pipeline
# (YOLOv8n-320 is the tiny test model since 2026-12-02: YOLOv8n's tensors,
# a small fraction of its compute; see scripts/fixtures/make_models.py.)
#   sim-pipeline        simulated accelerator YOLOv8n-640, binary: parallel vs serial
# Writes docs/bench/kserve-<scenario>-<config>.csv (perf_analyzer's columns)
# and prints a summary table.
#
#   ./scripts/bench-kserve.sh                 # everything (~6 min on 2 cores)
#   ./scripts/bench-kserve.sh sim-pipeline    # one scenario
set -euo pipefail
cd "$(dirname "$0")/.."
make -s build ort >/dev/null
./scripts/install-perf-analyzer.sh >/dev/null
BIN=./bin/trtserve
PA=third_party/perf_analyzer/bin/perf_analyzer
OUT=docs/bench
INTERVAL=${INTERVAL:-4000}
mkdir -p "$OUT"
export TRTSERVE_ONNXRUNTIME_LIB=${TRTSERVE_ONNXRUNTIME_LIB:-$PWD/third_party/onnxruntime/lib/libonnxruntime.so}
export LD_LIBRARY_PATH=$PWD/third_party/perf_analyzer/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

. scripts/lib.sh
pid=""
stop() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; pid=""; }
trap stop EXIT

serve() { # port, flags...
  local port=$1; shift
  $BIN serve --port "$port" --log-level warn --request-timeout 600s "$@" & pid=$!
  wait_ready "$port" /v2/health/ready
}

# measure SCENARIO CONFIG MODEL LEVELS [perf_analyzer flags...]: the server is up on :9103.
measure() {
  local scenario=$1 config=$2 model=$3 levels=$4; shift 4
  echo "== $scenario / $config: $model, concurrency $levels" >&2
  $PA -m "$model" -u 127.0.0.1:9103 -i http --concurrency-range "$levels" \
    --measurement-interval "$INTERVAL" --stability-percentage 25 --max-trials 8 \
    -f "$OUT/kserve-$scenario-$config.csv" "$@" >"$OUT/kserve-$scenario-$config.log" 2>&1 ||
    { tail -5 "$OUT/kserve-$scenario-$config.log" >&2; }
}

run() {
  case "$1" in
    ort-binary-vs-json)
      serve 9103 --model-repository testdata/models --load-models yolov8n-320/1
      measure ort-binary-vs-json binary yolov8n-320 1:4:3
      measure ort-binary-vs-json json yolov8n-320 1:4:3 --input-tensor-format json --output-tensor-format json
      stop ;;
    ort-pipeline)
      for p in parallel serial; do
        serve 9103 --model-repository testdata/models --load-models yolov8n-320/1 --pipeline $p
        measure ort-pipeline $p yolov8n-320 1:8:7
        stop
      done ;;
    sim-pipeline)
      for p in parallel serial; do
        serve 9103 --model-repository bench/models --load-models yolov8n-sim/1 --pipeline $p
        measure sim-pipeline $p yolov8n-sim 1:16:15
        stop
      done ;;
    *) echo "unknown scenario $1" >&2; exit 2 ;;
  esac
}

if [ $# -eq 0 ]; then set -- ort-binary-vs-json ort-pipeline sim-pipeline; fi
for s in "$@"; do run "$s"; done
# Summary: inferences/s and p99 (µs) per configuration and concurrency.
for f in "$OUT"/kserve-*.csv; do
  awk -F, -v name="$(basename "$f" .csv)" 'NR==1{for(i=1;i<=NF;i++){if($i=="Inferences/Second")a=i;if($i=="p99 latency")b=i}next}
    {printf "%-40s concurrency %-3s %8.1f infer/s  p99 %8.1f ms\n", name, $1, $a, $b/1000}' "$f"
done
