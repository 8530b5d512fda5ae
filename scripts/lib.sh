# Shared by the benchmark scripts (sourced, not run).

# wait_ready PORT [PATH]: wait up to 60 s for http://127.0.0.1:PORT/PATH
# (default /readiness) to answer 200.
wait_ready() {
  for _ in $(seq 300); do
    curl -fs "http://127.0.0.1:$1${2:-/readiness}" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "server on :$1 did not get ready" >&2; return 1
}
