// Package bench is `trtserve bench`: a load generator for any
// Roboflow-compatible server (trtserve in either pipeline mode, or
// Roboflow Inference itself) and a raw mode that measures a backend alone
// on pre-decoded tensors — the ceiling a server is measured against.
//
// Closed loop: N clients each keep one request outstanding (perf_analyzer's
// --concurrency-range). Open loop: requests start at a fixed rate whatever
// the server does (--request-rate-range). Each level warms up, then
// measures a time window; fps counts images answered 200 in the window,
// latencies are those requests' (p50/p90/p95/p99), errors are counted by
// status. Server-side queue and compute times come from the target's
// /metrics when it has Triton's counters (trtserve does).
//
// It owns no server code: it talks HTTP only, except raw mode, which loads
// an engine through engines/ exactly as the server does.
package bench
