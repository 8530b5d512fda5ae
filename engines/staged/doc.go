// Package staged runs a GPU network the way docs/architecture.md §3 lays
// out an instance: a copy-in stream for H2D, a compute stream for the network and
// a copy-out stream for D2H, linked by events, over a ring of device
// buffer sets so that batch b+1's input copy overlaps batch b's compute and
// batch b-1's output copy.
//
// It owns the streams, events and device buffers of one instance, and the
// pinned host allocator (PinnedAllocator) the pipeline fills. It knows
// nothing of what the network is: the TensorRT backend and the simulated
// GPU engine plug in a Compute. All native calls of an instance run on one
// goroutine locked to its OS thread (CUDA's current device is per thread,
// and a TensorRT execution context must not be used from two threads);
// a second goroutine waits for each batch's last event, on an event created
// with EventBlockingSync, so waiting costs no CPU core.
//
// After a sticky device error (cuda.ErrDeviceFault) an instance refuses
// every later batch at once and reports it (Fault): the device is lost for
// the process, and the server decides what follows.
//
// With cuda.Mock every copy is synchronous and device memory is host
// memory, so the same code runs — and is tested — without a GPU.
package staged
