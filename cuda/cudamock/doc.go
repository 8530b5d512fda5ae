// Package cudamock is a cuda.Runtime that does the work in host memory, so
// the pinned pool, the TensorRT backend over the fake shim and the
// pipeline's GPU path are tested on machines without a GPU.
//
// It is test code. Tests import it directly; the trtserve binary contains it
// only when built with the build tag cudamock (internal/app's mock_on.go),
// which the end-to-end tests do and a release build does not: without the
// tag, TRTSERVE_CUDA_MOCK=1 is refused with that reason. Nothing in a
// production package imports it.
//
// The mock keeps CUDA's rules that bugs break: every copy must stay inside
// one live allocation, asynchronous copies must use pinned memory, handles
// must be live, everything allocated must be freed; a device gets a context
// as CUDA creates one (on the calling thread's current device); and
// InjectFault (or FaultOnFile, from another process) makes it lose its
// device as a sticky error does. What it cannot show is timing: every call
// completes before it returns.
//
// It imports cuda and nothing else of trtserve's.
package cudamock
