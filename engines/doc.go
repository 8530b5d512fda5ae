// Package engines owns what a model is and how it runs: the model repository
// (Triton-style folders and Roboflow model-cache folders), the per-model
// configuration resolved from config.yaml, ONNX metadata and environment.json,
// the Backend / Engine / Instance interfaces that concrete runtimes implement,
// the registry that picks a backend by name, and host tensor memory.
//
// It must not know about HTTP, request formats or scheduling (that is server/
// and pipeline/), and it must not decode images or interpret model outputs
// (that is vision/). Tensor memory handed to a backend is never on the Go
// heap, so native runtimes may keep pointers into it.
package engines
