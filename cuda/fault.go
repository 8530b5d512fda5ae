package cuda

import (
	"errors"
	"sync"
	"time"
	"unsafe"
)

// ErrDeviceFault: the device hit a sticky error. CUDA documents these as
// leaving the process "in an inconsistent state": every later call on the
// device returns the same error and only a new process can use the GPU
// again, so retrying or reloading a model cannot help.
//
// It has a method, DeviceFault, so that packages that must not link CUDA
// (the HTTP server) can tell a sticky error by behaviour:
// errors.As(err, &f) with f an interface{ DeviceFault() bool }.
var ErrDeviceFault error = deviceFault{}

type deviceFault struct{}

func (deviceFault) Error() string {
	return "cuda: sticky device fault: the process must be restarted to use the GPU again"
}

// DeviceFault is true: see ErrDeviceFault.
func (deviceFault) DeviceFault() bool { return true }

// stickyCodes are the cudaError_t values whose documentation in
// driver_types.h (CUDA 13.x; the values are unchanged since CUDA 11) says
// that the process must be terminated and relaunched to continue using
// CUDA. Only these: 701 (launch out of resources), 720 (cooperative launch
// too large) and 999 (unknown) fail one call and leave the context usable,
// and 214 (uncorrectable ECC) is documented without that sentence.
var stickyCodes = map[int]string{
	226: "cudaErrorContained",
	700: "cudaErrorIllegalAddress",
	702: "cudaErrorLaunchTimeout",
	710: "cudaErrorAssert",
	714: "cudaErrorHardwareStackError",
	715: "cudaErrorIllegalInstruction",
	716: "cudaErrorMisalignedAddress",
	717: "cudaErrorInvalidAddressSpace",
	718: "cudaErrorInvalidPc",
	719: "cudaErrorLaunchFailure",
	721: "cudaErrorTensorMemoryLeak",
	810: "cudaErrorMpsClientTerminated",
	911: "cudaErrorExternalDevice",
}

// Sticky reports whether a cudaError_t value is one of the sticky errors
// after which the process cannot use the GPU again.
func Sticky(code int) bool {
	_, ok := stickyCodes[code]
	return ok
}

// IsDeviceFault reports whether err is, or wraps, a sticky device error.
func IsDeviceFault(err error) bool { return errors.Is(err, ErrDeviceFault) }

// Watch wraps rt so that the first sticky error any call returns is handed
// to onFault, once, on the calling goroutine. Every caller of the runtime
// then reports a GPU fault without knowing about it: after one, CUDA
// returns the same error from every later call (a stream sync, an event
// wait, an allocation), so whichever call comes next notices.
func Watch(rt Runtime, onFault func(error)) *Watched {
	return &Watched{rt: rt, onFault: onFault}
}

// Watched is a Runtime that reports its first sticky error (see Watch).
type Watched struct {
	rt      Runtime
	onFault func(error)
	once    sync.Once
	mu      sync.Mutex // guards fault
	fault   error
}

var _ Runtime = (*Watched)(nil)

// Fault is the first sticky error seen, or nil.
func (w *Watched) Fault() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.fault
}

// Unwrap is the runtime being watched (tests reach the mock through it).
func (w *Watched) Unwrap() Runtime { return w.rt }

func (w *Watched) see(err error) error {
	if err != nil && IsDeviceFault(err) {
		w.once.Do(func() {
			w.mu.Lock()
			w.fault = err
			w.mu.Unlock()
			if w.onFault != nil {
				w.onFault(err)
			}
		})
	}
	return err
}

func (w *Watched) Name() string { return w.rt.Name() }
func (w *Watched) DeviceCount() (int, error) {
	n, err := w.rt.DeviceCount()
	return n, w.see(err)
}
func (w *Watched) DeviceInfo(device int) (DeviceInfo, error) {
	d, err := w.rt.DeviceInfo(device)
	return d, w.see(err)
}
func (w *Watched) SetDevice(device int) error { return w.see(w.rt.SetDevice(device)) }
func (w *Watched) MemGetInfo() (free, total int64, err error) {
	free, total, err = w.rt.MemGetInfo()
	return free, total, w.see(err)
}
func (w *Watched) Version() (runtime, driver int, err error) {
	runtime, driver, err = w.rt.Version()
	return runtime, driver, w.see(err)
}
func (w *Watched) HostAlloc(size int, flags HostAllocFlags) (unsafe.Pointer, error) {
	p, err := w.rt.HostAlloc(size, flags)
	return p, w.see(err)
}
func (w *Watched) FreeHost(p unsafe.Pointer) error { return w.see(w.rt.FreeHost(p)) }
func (w *Watched) Malloc(size int) (DevicePtr, error) {
	p, err := w.rt.Malloc(size)
	return p, w.see(err)
}
func (w *Watched) Free(p DevicePtr) error { return w.see(w.rt.Free(p)) }
func (w *Watched) StreamCreate(priority int) (Stream, error) {
	s, err := w.rt.StreamCreate(priority)
	return s, w.see(err)
}
func (w *Watched) StreamPriorityRange() (least, greatest int, err error) {
	least, greatest, err = w.rt.StreamPriorityRange()
	return least, greatest, w.see(err)
}
func (w *Watched) StreamDestroy(s Stream) error     { return w.see(w.rt.StreamDestroy(s)) }
func (w *Watched) StreamSynchronize(s Stream) error { return w.see(w.rt.StreamSynchronize(s)) }
func (w *Watched) StreamWaitEvent(s Stream, e Event) error {
	return w.see(w.rt.StreamWaitEvent(s, e))
}
func (w *Watched) EventCreate(flags EventFlags) (Event, error) {
	e, err := w.rt.EventCreate(flags)
	return e, w.see(err)
}
func (w *Watched) EventRecord(e Event, s Stream) error { return w.see(w.rt.EventRecord(e, s)) }
func (w *Watched) EventSynchronize(e Event) error      { return w.see(w.rt.EventSynchronize(e)) }
func (w *Watched) EventQuery(e Event) (bool, error) {
	done, err := w.rt.EventQuery(e)
	return done, w.see(err)
}
func (w *Watched) EventElapsed(start, end Event) (time.Duration, error) {
	d, err := w.rt.EventElapsed(start, end)
	return d, w.see(err)
}
func (w *Watched) EventDestroy(e Event) error { return w.see(w.rt.EventDestroy(e)) }
func (w *Watched) MemcpyHtoDAsync(dst DevicePtr, src unsafe.Pointer, n int, s Stream) error {
	return w.see(w.rt.MemcpyHtoDAsync(dst, src, n, s))
}
func (w *Watched) MemcpyDtoHAsync(dst unsafe.Pointer, src DevicePtr, n int, s Stream) error {
	return w.see(w.rt.MemcpyDtoHAsync(dst, src, n, s))
}
func (w *Watched) MemcpyDtoDAsync(dst, src DevicePtr, n int, s Stream) error {
	return w.see(w.rt.MemcpyDtoDAsync(dst, src, n, s))
}
func (w *Watched) MemsetAsync(dst DevicePtr, value byte, n int, s Stream) error {
	return w.see(w.rt.MemsetAsync(dst, value, n, s))
}
func (w *Watched) MemcpyHtoD(dst DevicePtr, src []byte) error {
	return w.see(w.rt.MemcpyHtoD(dst, src))
}
func (w *Watched) MemcpyDtoH(dst []byte, src DevicePtr) error {
	return w.see(w.rt.MemcpyDtoH(dst, src))
}
func (w *Watched) Close() error { return w.rt.Close() }
