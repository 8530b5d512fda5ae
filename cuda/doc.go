// Package cuda is the Go side of the CUDA runtime: devices, pinned host
// memory (and a Pool of it with a byte budget), device memory, streams,
// events and copies, and the simulated engine's kernel library (SimKernel).
//
// libcudart is opened at run time through internal/dl, as go-nvml opens
// NVML, so one binary runs everywhere: on a machine without the library or
// without a GPU, Open or Init returns an error wrapping ErrNoLibrary or
// ErrNoDevice and the server falls back to ONNX Runtime. The package
// declares the few runtime prototypes it calls itself (cudart_shim.h, with
// the C calls in cudart_shim.c) and needs no CUDA headers to build. It
// reads no environment: the library paths are the caller's (config's), ""
// meaning the built-in search.
//
// Every native call goes through the Runtime interface. The real one is
// Open's; cuda/cudamock's does the same work in host memory: how the pool,
// the TensorRT backend and the pipeline's GPU path are tested on machines
// without a GPU. That mock is test code and lives outside this package. C
// never keeps a Go pointer: buffers handed to asynchronous copies are C
// memory (pinned blocks, device memory).
//
// CUDA's current device is per OS thread: a goroutine that drives a
// device locks itself to its thread (runtime.LockOSThread) and calls
// SetDevice first (OnDevice does both). A call from a thread that never
// chose a device creates a context on GPU 0, so under --gpu N everything
// that needs a context — the Pool's pinned allocations included — runs
// through OnDevice; DeviceInfo needs none. The mock records which devices
// got a context, the way the runtime creates them, so tests can check this.
//
// Sticky errors (an illegal address, a launch failure: the codes CUDA
// documents as needing a new process) unwrap to ErrDeviceFault as well as
// ErrCUDA. Watch wraps a Runtime to report the first one once, whichever
// caller meets it; the mock's InjectFault loses its device so.
//
// MeasureCopy and AllocCycles measure a device (copy bandwidth by host
// memory kind, leaks over alloc/free cycles): `trtserve doctor` reports
// them and the GPU tests assert on them.
//
// This package imports internal/dl and nothing else of trtserve's;
// engines/tensorrt and engines/gpuexec build on it. It must not know about
// models or HTTP.
package cuda
