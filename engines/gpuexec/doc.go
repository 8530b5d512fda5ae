// Package gpuexec is the GPU executor that both GPU backends run on
// (engines/tensorrt, and engines/simgpu which stands in for TensorRT with
// a synthetic kernel). It is not a backend: it runs a network it is given
// the way docs/architecture.md §3 lays out an instance, staged — a copy-in
// stream for H2D, a compute stream for the network and a copy-out stream
// for D2H, linked by events, over a ring of device buffer sets so that
// batch b+1's input copy overlaps batch b's compute and batch b-1's output
// copy.
//
// It lives beside the backends rather than inside engines/tensorrt because
// the simulated GPU must run exactly this code without TensorRT: that is
// what lets the copies, overlap and fault handling be measured on a GPU
// host with no TensorRT and tested on a CPU with the CUDA mock.
//
// It owns the streams, events and device buffers of one instance, and the
// pinned host allocator (PinnedAllocator) the pipeline fills. It must not
// know what the network is (the TensorRT backend and the simulated GPU
// plug in a Compute), nor models, config or HTTP, and it opens no library
// (the caller hands it a cuda.Runtime).
//
// All native calls of an instance run on one goroutine locked to its OS
// thread (CUDA's current device is per thread, and a TensorRT execution
// context must not be used from two threads); a second goroutine waits for
// each batch's last event, on an event created with EventBlockingSync, so
// waiting costs no CPU core.
//
// After a sticky device error (cuda.ErrDeviceFault) an instance refuses
// every later batch at once and reports it (Fault): the device is lost for
// the process, and the pipeline and the composition root decide what
// follows.
//
// With the CUDA mock (cuda/cudamock) every copy is synchronous and device
// memory is host memory, so the same code runs — and is tested — without
// a GPU.
package gpuexec
