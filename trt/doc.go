// Package trt is the Go binding of the TensorRT shim (csrc/include/
// trtshim.h) and the only Go code that includes that header.
//
// The shim is opened at run time through internal/dl (Open, OpenWith), so
// one trtserve binary runs everywhere: with csrc/src's libtrtshim.so on
// NVIDIA hosts with TensorRT, with csrc/fake's libtrtshim_fake.so (CPU math
// behind the same C API) in tests, and not at all elsewhere — Open then
// returns an error wrapping ErrNoShim and the server runs on ONNX Runtime.
// The library exports one symbol, trtshim_get_api, whose table of calls is
// asked for by ABI version: a shim built from another source tree is
// refused before anything is called. The shim in turn opens TensorRT at run
// time (OpenOptions.TensorRTLib): the full libnvinfer (build and serve) or
// the lean or dispatch runtime (serve version-compatible engines only:
// Info.CanBuild is false). A TensorRT that cannot start CUDA fails loads and
// builds with ErrCUDAInit, never a crash.
//
// Callers act on what the shim says of itself, never on which shim it is:
// Info.NeedsDevice says whether loads and builds need a current CUDA device
// (so libcudart), Info.Notice what to tell the user. Paths come from the
// caller (config reads the environment); Open("") searches Candidates.
//
// A new shim call is a field of struct trtshim_api, its implementation and
// table entry in csrc/src and csrc/fake, and a wrapper here (a trtgo_*
// trampoline in shim.c, since cgo cannot call a C function pointer, and the
// Go method).
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
// The package imports internal/dl and nothing else of trtserve's; it knows
// nothing of models, backends or HTTP.
package trt
