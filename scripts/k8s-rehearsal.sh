#!/usr/bin/env bash
# Scale-out rehearsal without a cluster (issue 19): N trtserve processes on
# this machine behind HAProxy (Debian's package, installed here if
# missing), set up as the chart's Service behaves (kube-proxy): a TCP
# balancer that picks a ready endpoint at random per connection, endpoints
# being the processes whose /v2/health/ready answers 200. trtserve bench
# then loads N = 1, 2 and 4 in one run (the targets take turns at each
# level, so the ratios are fair on a shared machine), on the simulated
# accelerator (bench/models/yolov8n-sim: YOLOv8n's shapes, 1.0 ms per batch
# of one). Everything listens on 127.0.0.1 and stops by itself.
#
#   ./scripts/k8s-rehearsal.sh            # writes docs/bench/k8s-rehearsal.{csv,txt}
#   CONCURRENCY=8,64 DURATION=10s ./scripts/k8s-rehearsal.sh
#
# On a machine with fewer cores than processes the figures measure the
# CPU (JPEG decode, pre- and postprocessing) shared by every process, not
# scale-out: see docs/benchmarks.md for what they do and do not show.
set -euo pipefail
cd "$(dirname "$0")/.."
CONCURRENCY=${CONCURRENCY:-8,32}
DURATION=${DURATION:-8s}
WARMUP=${WARMUP:-2s}
BASE_PORT=${BASE_PORT:-19300}
OUT=docs/bench
mkdir -p "$OUT"

if ! command -v haproxy >/dev/null; then
  echo "k8s-rehearsal: installing haproxy (Debian)" >&2
  if [ "$(id -u)" = 0 ]; then
    (apt-get install -y -q haproxy || { apt-get update -q && apt-get install -y -q haproxy; }) >/dev/null
  else
    echo "k8s-rehearsal: haproxy is missing and this is not root: apt-get install haproxy" >&2; exit 1
  fi
fi
make -s build >/dev/null
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

work=$(mktemp -d)
pids=()
stop() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap stop EXIT
# Our own copy: others may rebuild bin/trtserve while this runs.
cp bin/trtserve "$work/trtserve"

# Seven processes: one for N=1, two for N=2, four for N=4.
port=$BASE_PORT
declare -A backends
for n in 1 2 4; do
  backends[$n]=""
  for _ in $(seq "$n"); do
    port=$((port + 1))
    "$work/trtserve" serve --host 127.0.0.1 --port "$port" --grpc-port 0 --log-level warn \
      --model-repository bench/models --load-models yolov8n-sim/1 &
    pids+=($!)
    backends[$n]+=" $port"
  done
done
for n in 1 2 4; do for p in ${backends[$n]}; do wait_ready "$p" /v2/health/ready; done; done

cfg=$work/haproxy.cfg
{
  echo "global"
  echo "  maxconn 4096"
  echo "defaults"
  echo "  mode tcp"
  echo "  timeout connect 5s"
  echo "  timeout client 300s"
  echo "  timeout server 300s"
  for n in 1 2 4; do
    echo "listen n$n"
    echo "  bind 127.0.0.1:$((BASE_PORT + 100 + n))"
    # kube-proxy: a ready endpoint at random, per connection.
    echo "  balance random"
    echo "  option httpchk GET /v2/health/ready"
    i=0
    for p in ${backends[$n]}; do
      i=$((i + 1))
      echo "  server pod$i 127.0.0.1:$p check inter 1s"
    done
  done
} >"$cfg"
haproxy -c -f "$cfg" >/dev/null
haproxy -f "$cfg" -db >"$work/haproxy.log" 2>&1 &
pids+=($!)
for n in 1 2 4; do wait_ready "$((BASE_PORT + 100 + n))" /v2/health/ready; done

echo "k8s-rehearsal: $(nproc) cores; N=1,2,4 trtserve processes behind $(haproxy -v | head -1 | awk '{print $1, $3}'), concurrency $CONCURRENCY, $DURATION per level" >&2
"$work/trtserve" bench --quiet --model yolov8n-sim/1 --images testdata/images \
  --url "n1=http://127.0.0.1:$((BASE_PORT + 101))" \
  --url "n2=http://127.0.0.1:$((BASE_PORT + 102))" \
  --url "n4=http://127.0.0.1:$((BASE_PORT + 104))" \
  --concurrency "$CONCURRENCY" --duration "$DURATION" --warmup "$WARMUP" \
  --csv "$OUT/k8s-rehearsal.csv" | tee "$OUT/k8s-rehearsal.txt"
