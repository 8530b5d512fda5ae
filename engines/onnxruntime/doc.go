// Package onnxruntime is trtserve's CPU backend: ONNX models run by ONNX
// Runtime through github.com/yalue/onnxruntime_go, which opens
// libonnxruntime.so at run time (so the binary starts, and says what is
// missing, on a machine without it).
//
// Tensors are created over the caller's engines.HostBuffer memory, which is
// outside the Go heap, so ONNX Runtime reads inputs and writes outputs in
// place: no copy between the pipeline's batch buffers and the runtime.
//
// It owns the process-wide ONNX Runtime environment (one per process, as
// the C API requires). It has no config.yaml keys of its own. It must not
// know about HTTP, image formats, the repository's files or the other
// backends; where the library is comes from its Options (config/ reads
// the environment).
package onnxruntime
