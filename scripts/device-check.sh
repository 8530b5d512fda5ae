#!/usr/bin/env bash
# device-check.sh OUTDIR: everything GPU-side in one call, for a GPU host
# lent for a few minutes (no Go, no TensorRT, no network needed).
#
#   make device-bundle                                   # here: build/device-bundle, < 20 MiB
#   build/device-bundle/scripts/device-check.sh "$OUT"   # on the GPU host
#
# 1. `trtserve doctor --out OUTDIR/doctor`: libraries found or why not, GPU
#    facts, pinned / write-combined / pageable bandwidth both ways, overlap
#    of the simulated engine, 10,000 alloc/free cycles, NVML.
# 1b. CUDA IPC across two processes (Triton's CUDA shared memory): the
#    bundle's bin/cuda.test -test.run TestGPUIPCAcrossProcesses exports
#    device memory, opens it in a second process through cuda.OpenIPC, and
#    checks the bytes both ways and that a size past the allocation is
#    refused (OUTDIR/cuda-ipc.log).
# 2. Per scenario, two servers on the SIMULATED-GPU backend (real pinned
#    pool, streams per stage, a kernel reading every input byte; synthetic
#    outputs), --pipeline parallel and serial, loaded one after the other
#    by `trtserve bench` at concurrency 1, 64 and 1000.
# 3. OUTDIR/summary.md: the doctor's summary and every table, with the rows
#    docs/benchmarks.md's GPU section takes.
#
# Runs from the bundle (bin/trtserve.xz, lib/, models/, images/) or from a
# checkout after `make build simkernel` (bin/trtserve, build/, bench/).
# Without a GPU it says "no GPU: nothing checked" and exits 0. It keeps to
# about 4 minutes on a GPU host (under 8 in any case: every step has a
# timeout). Exit status: 0 when everything ran, 1 when a step failed (the
# summary says which).
#
# Environment: WARMUP (2s), DURATION (6s), LEVELS (1,64,1000), SCENARIOS
# ("yolov8x-sim yolov8n-sim"), GPU (0), PORT (9101: PORT and PORT+1),
# DOCTOR_ARGS (extra doctor flags, e.g. --quick). TRTSERVE_CUDA_MOCK=1 runs
# it all on the CUDA mock (to test this script; every figure is then MOCK).
set -uo pipefail

OUT=${1:?usage: device-check.sh OUTDIR}
HERE=$(cd "$(dirname "$0")/.." && pwd)
WARMUP=${WARMUP:-2s}
DURATION=${DURATION:-6s}
LEVELS=${LEVELS:-1,64,1000}
SCENARIOS=${SCENARIOS:-yolov8x-sim yolov8n-sim}
GPU=${GPU:-0}
PORT=${PORT:-9101}
read -r -a DOCTOR_ARGS <<<"${DOCTOR_ARGS:-}"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
exec > >(tee "$OUT/device-check.log") 2>&1
t0=$(date +%s)
say() { printf '== [%3ds] %s\n' $(($(date +%s) - t0)) "$*"; }
failed=()

# --- the binary and its libraries ---------------------------------------
WORK=$(mktemp -d)
pids=()
cleanup() {
  # Only the servers: a bare `wait` would also wait for the tee above,
  # which waits for this script's output to close.
  for p in "${pids[@]:-}"; do
    [ -n "$p" ] && kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

if [ -f "$HERE/bin/trtserve.xz" ]; then
  BIN=$WORK/trtserve
  if command -v xz >/dev/null; then
    xz -dc "$HERE/bin/trtserve.xz" >"$BIN"
  else
    python3 -c 'import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$HERE/bin/trtserve.xz" "$BIN"
  fi || { echo "device-check: cannot unpack bin/trtserve.xz (needs xz or python3)"; exit 1; }
  chmod +x "$BIN"
  LIB=$HERE/lib MODELS=$HERE/models IMAGES=$HERE/images
  # DEVICE_CHECK_BIN replaces the bundle's binary: the CUDA-mock rehearsal
  # (device-bundle.sh check) needs a build with the cudamock tag, which the
  # shipped binary never has.
  if [ -n "${DEVICE_CHECK_BIN:-}" ]; then BIN=$DEVICE_CHECK_BIN; fi
else
  BIN=$HERE/bin/trtserve LIB=$HERE/build MODELS=$HERE/bench/models IMAGES=$HERE/testdata/bench/640
  [ -x "$BIN" ] || { echo "device-check: no $BIN (make build) and no bin/trtserve.xz (make device-bundle)"; exit 1; }
fi
export LD_LIBRARY_PATH=$LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
# The bundle's own libcudart (CUDA 13, minor-version compatible with any
# CUDA 13 driver) unless the caller names one.
if [ -z "${TRTSERVE_CUDART_LIB:-}" ] && [ -f "$LIB/libcudart.so.13" ]; then
  export TRTSERVE_CUDART_LIB=$LIB/libcudart.so.13
fi
if [ -z "${TRTSERVE_SIMKERNEL_LIB:-}" ] && [ -f "$LIB/libtrtserve_simkernel.so" ]; then
  export TRTSERVE_SIMKERNEL_LIB=$LIB/libtrtserve_simkernel.so
fi
export TRTSERVE_GPU=$GPU
"$BIN" version || { echo "device-check: $BIN does not run on this host (glibc 2.34+ and libturbojpeg are needed)"; exit 1; }
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv 2>&1 | sed 's/^/nvidia-smi: /'

# --- 1. doctor -----------------------------------------------------------
say "trtserve doctor --gpu $GPU"
timeout 300 "$BIN" doctor --gpu "$GPU" --out "$OUT/doctor" "${DOCTOR_ARGS[@]}" | tee "$OUT/doctor.txt"
rc=${PIPESTATUS[0]}
if grep -q "no GPU: nothing checked" "$OUT/doctor.txt"; then
  {
    echo "# device-check"
    echo
    echo "no GPU: nothing checked. Nothing else was run (the simulated-GPU backend needs a GPU)."
    echo
    echo '```'
    cat "$OUT/doctor.txt"
    echo '```'
  } >"$OUT/summary.md"
  say "no GPU: nothing checked; summary in $OUT/summary.md"
  exit 0
fi
[ "$rc" -eq 0 ] || failed+=("doctor exited $rc (see doctor/doctor.md)")

# --- 1b. CUDA IPC across processes ---------------------------------------
CUDATEST=
if [ -f "$HERE/bin/cuda.test.xz" ]; then
  CUDATEST=$WORK/cuda.test
  if command -v xz >/dev/null; then
    xz -dc "$HERE/bin/cuda.test.xz" >"$CUDATEST"
  else
    python3 -c 'import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$HERE/bin/cuda.test.xz" "$CUDATEST"
  fi || CUDATEST=
  [ -n "$CUDATEST" ] && chmod +x "$CUDATEST"
elif [ -x "$HERE/build/cuda.test" ]; then
  CUDATEST=$HERE/build/cuda.test # a checkout: go test -c -o build/cuda.test ./cuda
fi
if [ -n "$CUDATEST" ]; then
  say "CUDA IPC across processes: cuda.test -test.run TestGPUIPCAcrossProcesses"
  # A GPU is here (doctor found one): a skip would be a failure.
  (cd "$WORK" && TRTSERVE_REQUIRE_GPU=1 timeout 180 "$CUDATEST" -test.run '^TestGPUIPCAcrossProcesses$' -test.v -test.count 1) >"$OUT/cuda-ipc.log" 2>&1
  rc=$?
  sed 's/^/cuda-ipc: /' "$OUT/cuda-ipc.log"
  if [ $rc -eq 0 ] && grep -q -- '--- PASS: TestGPUIPCAcrossProcesses' "$OUT/cuda-ipc.log"; then
    ipc="ok: $(grep -o 'CUDA IPC: ok: .*' "$OUT/cuda-ipc.log" | head -1 | sed 's/^CUDA IPC: ok: //')"
  else
    ipc="FAILED (exit $rc; see cuda-ipc.log)"
    failed+=("CUDA IPC across processes: cuda.test exited $rc (see cuda-ipc.log)")
  fi
else
  ipc="not run: no bin/cuda.test.xz (make device-bundle) or build/cuda.test"
fi

# --- 2. simulated-GPU serving, parallel vs serial ------------------------
ready() { # PORT: /readiness answers 200 (bash only: curl may be missing)
  (
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf 'GET /readiness HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
    IFS= read -r -t 2 line <&3
    [[ $line == *" 200"* ]]
  ) 2>/dev/null
}
wait_ready() { # PORT PID
  for _ in $(seq 300); do
    ready "$1" && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.2
  done
  return 1
}
for s in $SCENARIOS; do
  if [ ! -f "$MODELS/$s/config.yaml" ]; then
    failed+=("$s: no model folder $MODELS/$s")
    continue
  fi
  say "$s: serve --backend simulated-gpu, parallel on :$PORT, serial on :$((PORT + 1))"
  common=(--backend simulated-gpu --gpu "$GPU" --model-repository "$MODELS" --load-models "$s/1" --request-timeout 600s --log-level warn)
  "$BIN" serve --port "$PORT" --grpc-port 0 --pipeline parallel "${common[@]}" >"$OUT/$s-parallel.log" 2>&1 &
  p1=$!
  "$BIN" serve --port $((PORT + 1)) --grpc-port 0 --pipeline serial "${common[@]}" >"$OUT/$s-serial.log" 2>&1 &
  p2=$!
  pids=("$p1" "$p2")
  if wait_ready "$PORT" "$p1" && wait_ready $((PORT + 1)) "$p2"; then
    say "$s: trtserve bench --concurrency $LEVELS (warm-up $WARMUP, window $DURATION per level and target)"
    timeout 240 "$BIN" bench --quiet --url "parallel=http://127.0.0.1:$PORT" --url "serial=http://127.0.0.1:$((PORT + 1))" \
      --model "$s/1" --images "$IMAGES" --concurrency "$LEVELS" --warmup "$WARMUP" --duration "$DURATION" --timeout 600s \
      --csv "$OUT/$s.csv" --plot "$OUT/$s.png" --title "$s on the SIMULATED GPU backend: parallel vs serial" | tee "$OUT/$s.md"
    rc=${PIPESTATUS[0]}
    [ "$rc" -eq 0 ] || failed+=("$s: bench exited $rc")
  else
    failed+=("$s: a server did not get ready (see $s-parallel.log, $s-serial.log)")
    tail -5 "$OUT/$s-parallel.log" "$OUT/$s-serial.log"
  fi
  kill "$p1" "$p2" 2>/dev/null
  wait "$p1" "$p2" 2>/dev/null
  pids=()
done

# --- 3. summary ----------------------------------------------------------
{
  echo "# device-check on $(hostname), $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "Bundle: $(cat "$HERE/MANIFEST" 2>/dev/null | head -1 || echo "a checkout")."
  if [ -n "${TRTSERVE_CUDA_MOCK:-}" ]; then
    echo
    echo "**MOCK RUN (TRTSERVE_CUDA_MOCK=$TRTSERVE_CUDA_MOCK): no GPU was used; these figures test the script, not hardware.**"
    echo
  fi
  echo "Every serving figure is the SIMULATED-GPU backend (engines/simgpu): real pinned copies, streams and a kernel"
  echo "reading every input byte on this GPU, synthetic outputs; the kernel takes the model's config.yaml time."
  echo
  echo "## Rows for docs/benchmarks.md (GPU section)"
  echo
  echo "| figure | command | result |"
  echo "|---|---|---|"
  # bandwidth.csv: source,direction,host_memory,bytes,copies,gbps; the
  # largest size of each kind.
  awk -F, 'NR > 1 && $4 >= max[$2 " " $3] { max[$2 " " $3] = $4; g[$2 " " $3] = $6; src = $1 }
    END {
      if (!src) exit
      printf "| H2D GB/s, pinned / write-combined / pageable (%d MiB, %s) | `trtserve doctor` | %.2f / %.2f / %.2f |\n", max["H2D pinned"] / 1048576, src, g["H2D pinned"], g["H2D pinned-write-combined"], g["H2D pageable"]
      printf "| D2H GB/s, pinned / write-combined / pageable; D2D (%s) | `trtserve doctor` | %.2f / %.2f / %.2f; %.1f |\n", src, g["D2H pinned"], g["D2H pinned-write-combined"], g["D2H pageable"], g["D2D device"]
      if (g["H2D pageable"] > 0) printf "| pinned ÷ pageable H2D (%s) | `trtserve doctor` | %.2f |\n", src, g["H2D pinned"] / g["H2D pageable"]
    }' "$OUT/doctor/bandwidth.csv" 2>/dev/null
  echo "| CUDA IPC across processes (export, open in a second process through cuda.OpenIPC, both ways; size past the allocation refused) | \`bin/cuda.test -test.run TestGPUIPCAcrossProcesses\` | $ipc |"
  awk -F, 'NR == 2 { printf "| copy/compute overlap of the simulated engine, batch %d (%s) | `trtserve doctor` | efficiency %.2f (speedup %.2f of ideal %.2f; target ≥ 0.8) |\n", $2, $1, $11, $9, $10 }' "$OUT/doctor/overlap.csv" 2>/dev/null
  awk -F, 'NR == 2 { printf "| %d pinned and device alloc/free cycles (%s) | `trtserve doctor` | device %+d B, VmSize %+d B: %s |\n", $2, $1, $6, $7, $9 }' "$OUT/doctor/alloc.csv" 2>/dev/null
  for s in $SCENARIOS; do
    [ -f "$OUT/$s.csv" ] || continue
    # Concurrency,Inferences/Second,...,Target(16),Backend(17)
    awk -F, -v s="$s" 'NR > 1 { fps[$1 "," $16] = $2; if (!seen[$1]++) order[++n] = $1 }
      END {
        line = ""
        for (i = 1; i <= n; i++) {
          c = order[i]; p = fps[c ",parallel"]; q = fps[c ",serial"]
          line = line sprintf("%sc=%s: %.0f / %.0f (%.2f×)", (i > 1 ? "; " : ""), c, p, q, (q > 0 ? p / q : 0))
        }
        printf "| %s on the simulated-GPU backend, fps parallel / serial | `scripts/device-check.sh` | %s |\n", s, line
      }' "$OUT/$s.csv"
  done
  echo
  echo "## trtserve doctor"
  echo
  echo '```'
  cat "$OUT/doctor.txt"
  echo '```'
  echo
  echo "Full report: doctor/doctor.md; CSVs: doctor/*.csv."
  for s in $SCENARIOS; do
    [ -f "$OUT/$s.md" ] || continue
    echo
    echo "## $s: parallel vs serial, concurrency $LEVELS"
    echo
    sed -n '/^| target/,$p' "$OUT/$s.md"
  done
  echo
  echo "## Took"
  echo
  echo "$(($(date +%s) - t0)) s."
  if [ ${#failed[@]} -gt 0 ]; then
    echo
    echo "## Failed"
    echo
    printf -- '- %s\n' "${failed[@]}"
  fi
} >"$OUT/summary.md"
say "done: $OUT/summary.md"
[ ${#failed[@]} -eq 0 ]
