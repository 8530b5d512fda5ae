// Package simgpu is the simulated GPU engine and the servable benchmark
// backend built on it, "simulated-gpu" (trtserve serve --backend
// simulated-gpu), in the manner of Triton's identity backend.
//
// Everything around the network is real: a GPU executor instance (engines/gpuexec)
// with a stream per stage, the server's pinned host memory pool, H2D copies
// of every batch, a real CUDA kernel (csrc/simkernel) that reads every
// input byte and keeps the compute stream busy for Base + PerItem×batch
// (config.yaml simulated: base_us, per_item_us), and D2H copies of the
// outputs. The network is not: the outputs are the simulated backend's
// synthetic predictions (engines/simulated), uploaded to the device at load
// and copied into each output slot on the device, one of a few variants
// chosen by a sample of the item's input bytes, so the same image always
// gets the same answer. Responses carry Trtserve-Backend: simulated-gpu and
// the model status names the backend; nothing it reports is a model's
// prediction. It measures what the serving stack does around a GPU
// (copies, overlap, batching, CPU stages) on a GPU host without TensorRT.
//
// It needs an NVIDIA GPU and libtrtserve_simkernel.so (make simkernel).
// Without them the server refuses --backend simulated-gpu with the reason;
// only under TRTSERVE_CUDA_MOCK=1 (tests, a binary built with the cudamock
// tag) does it run on the CUDA mock (cuda/cudamock) with HostKernel
// standing in for the kernel.
//
// It owns the device copies of the synthetic outputs; the shapes, outputs
// and the simulated: timings are engines/simulated's, the streams and
// device buffers engines/gpuexec's, and the runtime, kernel and pinned pool
// the caller's (it never opens a native library itself). It must not know
// about TensorRT or HTTP.
//
// MeasureOverlap is the copy/compute overlap figure `trtserve doctor`
// reports and the GPU test asserts on.
package simgpu
