package cuda

import (
	"errors"
	"runtime"
	"strconv"
	"time"
	"unsafe"
)

// Sentinel errors. Errors from the runtime wrap them (errors.Is) and carry
// CUDA's own code and text.
var (
	// ErrNoLibrary: libcudart could not be opened or lacks a symbol.
	ErrNoLibrary = errors.New("cuda: runtime library not available")
	// ErrNoDevice: the library loaded but there is no usable GPU (no device,
	// no driver, or a driver too old for this runtime).
	ErrNoDevice = errors.New("cuda: no usable device")
	// ErrClosed: a call on an object (or a runtime) already closed.
	ErrClosed = errors.New("cuda: closed")
	// ErrCUDA: any other error the runtime reported.
	ErrCUDA = errors.New("cuda error")
)

// Stream, Event and DevicePtr are the runtime's opaque handles
// (cudaStream_t, cudaEvent_t, device addresses). They are plain integers on
// the Go side so no Go pointer ever reaches C, and the trt binding passes
// them on unchanged.
type (
	Stream    uintptr
	Event     uintptr
	DevicePtr uintptr
)

// HostAllocFlags are cudaHostAlloc's flags.
type HostAllocFlags uint32

const (
	// HostAllocPortable: pinned for every CUDA context, not just the
	// current one (what the pool always asks for).
	HostAllocPortable HostAllocFlags = 0x01
	// HostAllocWriteCombined: faster for the GPU to read over PCIe, very
	// slow for the CPU to read back — for input buffers the host only
	// writes.
	HostAllocWriteCombined HostAllocFlags = 0x04
)

// EventFlags are cudaEventCreateWithFlags' flags.
type EventFlags uint32

const (
	EventDefault EventFlags = 0x00
	// EventBlockingSync: a host thread waiting on the event sleeps instead
	// of spinning — how a goroutine waits for a stream without burning a
	// CPU core.
	EventBlockingSync EventFlags = 0x01
	// EventDisableTiming: cheaper events for pure ordering.
	EventDisableTiming EventFlags = 0x02
)

// DeviceInfo is what the server logs and the metrics label a device with.
type DeviceInfo struct {
	Index        int
	Name         string
	Major, Minor int   // compute capability
	TotalMemory  int64 // bytes
	CopyEngines  int   // asyncEngineCount: 2 lets H2D and D2H run at once
	Integrated   bool
}

// ComputeCapability is "sm_XY", the engine cache's GPU key.
func (d DeviceInfo) ComputeCapability() string {
	return "sm_" + strconv.Itoa(d.Major) + strconv.Itoa(d.Minor)
}

// OnDevice runs f on a goroutine locked to its OS thread with device
// current there (CUDA's current device is per thread), and waits for it.
// A nil rt runs f on a locked thread without choosing a device (the fake
// TensorRT shim needs none).
func OnDevice(rt Runtime, device int, f func() error) error {
	res := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if rt != nil {
			if err := rt.SetDevice(device); err != nil {
				res <- err
				return
			}
		}
		res <- f()
	}()
	return <-res
}

// Runtime is the native seam, in the manner of go-nvml's Interface: the
// real implementation calls libcudart (Open); cudamock.Mock does the same work on the
// host so pool, buffer and lifetime logic — and the TensorRT backend over
// the fake shim — run unchanged without a GPU.
//
// Host pointers are C memory (HostAlloc) or, for the synchronous
// MemcpyHtoD/DtoH used to measure pageable copies, Go slices passed for the
// call's duration only.
type Runtime interface {
	// Name says which implementation this is ("libcudart 12.4", "mock").
	Name() string
	DeviceCount() (int, error)
	DeviceInfo(device int) (DeviceInfo, error)
	// SetDevice makes device current for the calling OS thread: callers
	// lock their goroutine to its thread first.
	SetDevice(device int) error
	MemGetInfo() (free, total int64, err error)
	// Version is the runtime's and the driver's CUDA version (e.g. 12040).
	Version() (runtime, driver int, err error)

	HostAlloc(size int, flags HostAllocFlags) (unsafe.Pointer, error)
	FreeHost(p unsafe.Pointer) error
	Malloc(size int) (DevicePtr, error)
	Free(p DevicePtr) error

	// StreamCreate makes a non-blocking stream; lower priority numbers run
	// first (CUDA's convention), within StreamPriorityRange.
	StreamCreate(priority int) (Stream, error)
	StreamPriorityRange() (least, greatest int, err error)
	StreamDestroy(s Stream) error
	StreamSynchronize(s Stream) error
	StreamWaitEvent(s Stream, e Event) error

	EventCreate(flags EventFlags) (Event, error)
	EventRecord(e Event, s Stream) error
	EventSynchronize(e Event) error
	EventQuery(e Event) (done bool, err error)
	EventElapsed(start, end Event) (time.Duration, error)
	EventDestroy(e Event) error

	MemcpyHtoDAsync(dst DevicePtr, src unsafe.Pointer, n int, s Stream) error
	MemcpyDtoHAsync(dst unsafe.Pointer, src DevicePtr, n int, s Stream) error
	MemcpyDtoDAsync(dst, src DevicePtr, n int, s Stream) error
	MemsetAsync(dst DevicePtr, value byte, n int, s Stream) error
	// MemcpyHtoD and MemcpyDtoH are synchronous copies from and to Go
	// memory (pageable): the baseline pinned memory is measured against.
	MemcpyHtoD(dst DevicePtr, src []byte) error
	MemcpyDtoH(dst []byte, src DevicePtr) error

	// Close releases the library (refcounted for the real one).
	Close() error
}
