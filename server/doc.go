// Package server owns trtserve's HTTP surface: the Fiber app, Roboflow
// Inference's routes and the KServe v2 / Triton routes with their request
// and response types, JSON errors with the right statuses (Roboflow's body
// on its routes, {"error": ...} under /v2), request limits, compression,
// API keys, request IDs and access logs, and the glue that turns a request
// into pipeline Work (an image through package tasks, or a raw tensor
// copied in, then the answer encoded for its protocol).
//
// It is HTTP only. The process around it — which backends start, the GPU,
// readiness after the initial loads, signals, and what a GPU fault does —
// is internal/app's, which builds the Server with its limits (zero ones
// take package config's defaults) and a readiness function. A sticky CUDA
// error reaching a request answers 503: server tells it by the error's
// DeviceFault method, so it links no CUDA.
//
// It must not import a backend, cuda or trt, schedule inference itself
// (pipeline/ does) or compute a task's tensors (tasks/ does). Fiber reuses
// request memory after a handler returns: everything that outlives a
// handler is copied or decoded before it returns.
package server
