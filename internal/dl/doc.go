// Package dl opens shared libraries at run time (dlopen, dlsym, dlclose),
// in the manner of go-nvml's pkg/dl: one Library per open, Lookup for a
// symbol's address, dlerror's own message in every error.
//
// It is the one place trtserve calls the dynamic linker: libcudart and the
// simulated kernel (package cuda) and the TensorRT shim (package trt) are
// all opened through it, so a binary without any of them still starts.
// Calling what Lookup returns stays with each package's C trampolines,
// because cgo cannot call a C function pointer; what this package owns is
// the opening, the resolving and the error text.
//
// It knows nothing of CUDA, TensorRT or trtserve, and imports nothing of
// trtserve's.
package dl
