// Package engines owns the backend contract: the Backend / Engine /
// Instance interfaces that concrete runtimes implement (onnxruntime,
// simulated, simgpu, tensorrt below this folder), the registry that picks a
// backend by name and falls back per model, and host tensor memory
// (HostBuffer, Allocator).
//
// It must not know about HTTP, request formats or scheduling (that is server/
// and pipeline/), where models live on disk (repository/), or what a model's
// outputs mean (tasks/, vision/). Tensor memory handed to a backend is never
// on the Go heap, so native runtimes may keep pointers into it.
package engines
