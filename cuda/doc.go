// Package cuda is the Go side of the CUDA runtime: devices, pinned host
// memory (and a Pool of it with a byte budget), device memory, streams,
// events and copies.
//
// libcudart is opened at run time (dlopen), as go-nvml opens NVML, so one
// binary runs everywhere: on a machine without the library or without a
// GPU, Open or Init returns an error wrapping ErrNoLibrary or ErrNoDevice
// and the server falls back to ONNX Runtime. The package declares the few
// runtime prototypes it calls itself and needs no CUDA headers to build.
//
// Every native call goes through the Runtime interface. The real one is
// Open's; Mock does the same work in host memory, which is how the pool,
// the TensorRT backend and the pipeline's GPU path are tested on machines
// without a GPU. C never keeps a Go pointer: buffers handed to
// asynchronous copies are C memory (pinned blocks, device memory).
//
// CUDA's current device is per OS thread: a goroutine that drives a
// device locks itself to its thread (runtime.LockOSThread) and calls
// SetDevice first.
//
// This package imports nothing of trtserve's; engines/tensorrt and
// engines/staged build on it. It must not know about models or HTTP.
package cuda
