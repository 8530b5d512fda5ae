// Package server owns trtserve's HTTP surface: the Fiber app, Roboflow
// Inference's routes and the KServe v2 / Triton routes with their request
// and response types, JSON errors with the right statuses (Roboflow's body
// on its routes, {"error": ...} under /v2), request limits, compression,
// API keys, request IDs and access logs, and the glue that turns a request
// into pipeline Work (decode an image, or copy a raw tensor, run the model,
// shape the answer).
//
// Run owns the process's life around it: which backends start (the
// TensorRT shim first, then the libcudart of TensorRT's CUDA major, on
// --gpu only), readiness, and what a GPU fault does — a sticky CUDA error
// (cuda.ErrDeviceFault, seen through cuda.Watch) turns the server and the
// GPU's models not ready for good and, with --exit-on-gpu-fault, drains
// and exits non-zero.
//
// It must not schedule inference itself (pipeline/ does) or run native code.
// Fiber reuses request memory after a handler returns: everything that
// outlives a handler is copied or decoded before it returns.
package server
