// Package tensorrt is the GPU backend: it glues trt (the TensorRT shim)
// and cuda (memory, streams, events) into engines.Engine. Names: Backend
// and Engine are the engines contract's (Engine: one model loaded here);
// TensorRT's own engine is trt.Engine (held as cudaEngine) and its bytes
// are the plan.
//
// It owns the engine cache (built plans, their metadata, timing caches,
// the per-key file lock) and config.yaml's TensorRT keys, precision: and
// tf32:, decoded on Load by SettingsOf. It must not open native libraries
// (the caller hands it a loaded trt.Library, cuda.Runtime and pinned
// pool), read the environment (config/ does; NVIDIA_TF32_OVERRIDE, which
// TensorRT itself honours and so the cache key must, arrives as
// Options.TF32Override), or know about HTTP and tasks.
//
// A model version runs from model.engine / model.plan when its folder has
// one; otherwise its ONNX file is built into the engine cache on first
// load. The cache key is the ONNX bytes' SHA-256, the GPU's compute
// capability, the TensorRT version (the shim's headers and the loaded
// library) and every build setting that changes the plan (precision,
// workspace, optimisation level, hardware and version compatibility,
// config.yaml's tf32 — false clears TensorRT's kTF32 builder flag, for
// strict fp32 — NVIDIA_TF32_OVERRIDE, the optimization profile), so an
// engine is rebuilt exactly when one of them changes. A file lock per key
// makes two loaders — in this process or another — build once; builds
// run one at a time per GPU on their own thread, so other models keep
// serving, and the model stays LOADING (not ready) until its engine is
// built, deserialized and warmed up (at every batch size:
// Engine.WarmupBatches). Progress goes to the log. A runtime that cannot
// build (TensorRT's lean or dispatch library) refuses ONNX models before
// trying.
//
// Load refuses what trtserve cannot feed or read: outputs are probed at
// the profile's smallest and largest batch and must be [batch, fixed...]
// (not scalars); inputs must be linear FP32. A profile whose minimum batch
// is above 1 is served by padding smaller batches with zeroed rows.
//
// Errors that mean TensorRT cannot run a model on this machine (its ONNX
// does not parse or build, or TensorRT cannot start CUDA) are marked
// engines.ErrBackendCannotRun; the pipeline's manager then serves the
// model on ONNX Runtime and says why in its status.
//
// Instances run on the GPU executor (engines/gpuexec): pinned host buffers from the
// backend's cuda.Pool, H2D, enqueueV3 and D2H on a stream per stage with
// events between them, and a ring of device buffer sets.
//
// With trt's fake shim and the CUDA mock (cuda/cudamock) the whole path runs on a CPU machine
// (device memory is host memory there); that is how it is tested. It has
// not run against real TensorRT on a GPU: see docs/development.md, "What
// runs where".
package tensorrt
