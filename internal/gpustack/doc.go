// Package gpustack opens trtserve's GPU stack in one place: the TensorRT
// shim (and the TensorRT library it loads), then libcudart of the CUDA
// major TensorRT was built for, then the one GPU the process may touch.
// `trtserve serve`, `build` and `inspect` all open it through Open, so the
// order (shim first: it needs no CUDA and says which CUDA it wants), the
// library search, the GPU check and the fault watch cannot drift apart
// between them.
//
// It owns opening and closing, not use: what runs on the GPU (the TensorRT
// backend, a build, reading an engine) is the caller's, on the stack's
// runtime and device (Stack.OnDevice keeps CUDA's per-thread current
// device right). It reads no environment and no flags: the caller passes
// what package config read. The CUDA mock is the caller's too
// (Options.OpenRuntime), so this production package holds no test double.
package gpustack
