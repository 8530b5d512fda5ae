// Package trt is the Go binding of the TensorRT shim (csrc/include/
// trtshim.h) and the only Go code that includes that header.
//
// The shim is opened at run time with dlopen (Open, OpenWith), so one
// trtserve binary runs everywhere: with csrc/src's libtrtshim.so on NVIDIA
// hosts with TensorRT, with csrc/fake's libtrtshim_fake.so (CPU math behind
// the same C API) in tests, and not at all elsewhere — Open then returns an
// error wrapping ErrNoShim and the server runs on ONNX Runtime. The shim in
// turn opens TensorRT at run time (OpenOptions.TensorRTLib): the full
// libnvinfer (build and serve) or the lean or dispatch runtime (serve
// version-compatible engines only: Info.CanBuild is false). A TensorRT that
// cannot start CUDA fails loads and builds with ErrCUDAInit, never a crash.
//
// Conventions (as onnxruntime_go's, without its one mistake):
//   - every shim call returns a status; one function (check) turns it
//     into a Go *Error whose Is matches the package's sentinels;
//   - every handle has an explicit Close, safe to call twice;
//   - C never keeps a Go pointer: tensor and device memory are C memory
//     (cuda's pinned blocks and device allocations, passed as integers),
//     plans and ONNX bytes are only read during the call, and callbacks
//     reach Go through cgo.Handle values, not pointers;
//   - a Context is not safe for concurrent use, like TensorRT's
//     IExecutionContext: its owner (engines/gpuexec) drives it from one
//     goroutine locked to the OS thread that owns its CUDA stream.
//
// The package imports nothing of trtserve's.
package trt
