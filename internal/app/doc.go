// Package app is trtserve's composition root: the one place that knows
// every part and wires them together for `trtserve serve` (Run) and for
// `trtserve bench --raw` (OpenBackends, NewRepository). It is the only
// package that imports every backend (ONNX Runtime, TensorRT, the
// simulated accelerator and the simulated GPU), the cgo bindings that
// start them (cuda, trt) and the HTTP server, so that server stays an HTTP
// package and the backends know nothing of each other.
//
// What it owns: process start-up (GOMAXPROCS, the logger), which backends
// start and in what order (the TensorRT shim before libcudart, so that the
// runtime of TensorRT's CUDA major is tried first), the fallback from
// TensorRT to ONNX Runtime, the GPU fault that takes the GPU backends out
// of service, initial model loads and repository polling, signals and the
// drain on shutdown. What it must not own: configuration (package config
// reads every flag and variable and holds every default), HTTP (server),
// scheduling (pipeline), or anything a backend does once started.
//
// The CUDA mock (TRTSERVE_CUDA_MOCK=1) is test code: OpenCUDAMock has it
// only in binaries built with the tag cudamock (mock_on.go), and refuses
// with the reason otherwise (mock_off.go).
package app
