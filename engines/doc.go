// Package engines owns the backend contract: the interfaces every runtime
// implements (Backend, Engine, Instance, and the optional Submitter,
// WarmupSizer, BufferProvider; MemoryEstimator and MemoryReporter, which
// let the manager refuse a load that would not fit before it allocates),
// the set of backends a process runs
// (BackendSet: lookup by name, fallback per model), host tensor memory
// (HostBuffer, Allocator) and DecodeConfig, through which a backend reads
// its own config.yaml keys. The backends live below this folder:
// onnxruntime (CPU), tensorrt (GPU), simulated and simgpu (benchmark
// stand-ins), with gpuexec, the GPU executor both GPU backends run on.
//
// One meaning per name, here and in every backend:
//
//   - Backend: a runtime that turns a model.Spec into an Engine
//     (onnxruntime.Backend, tensorrt.Backend, ...). One per process each.
//   - Engine: one model version loaded on a backend — its resolved IO and
//     batch limits; engines.Engine is the interface, each backend's Engine
//     type the implementation. TensorRT's own engine (ICudaEngine) is
//     trt.Engine, and its serialized form is always "the plan"
//     (model.engine / model.plan, the engine cache).
//   - Instance: one execution context of an Engine; runs one batch at a
//     time (gpuexec.Instance is the GPU one, overlapping batches).
//   - BackendSet: the backends of this process. "Registry" means only the
//     Prometheus one (metrics.Registry); "Model" means only a loaded,
//     served model (pipeline.Model); the resolved description a backend
//     loads is a model.Spec.
//
// Settings that only one backend understands (simulated: timings and
// faults, TensorRT's precision: and tf32:) are not fields of model.Spec:
// the spec carries the config document and the backend decodes its keys
// on Load, so adding one touches that backend alone.
//
// This package must not know about HTTP, request formats or scheduling
// (server/, pipeline/), where models live on disk or what their files say
// (repository/), or what a model's outputs mean (tasks/, vision/). It
// imports no native library: those are each backend's. Tensor memory
// handed to a backend is never on the Go heap, so native runtimes may keep
// pointers into it.
package engines
