package cuda

// The C half (the runtime's entry points as a table, and one C function per
// call) is cudart_shim.h and cudart_shim.c, which cgo compiles with the
// package.

// #include "cudart_shim.h"
import "C"

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/trtserve/trtserve/internal/dl"
)

// cudartCandidates are the names Open("") tries: the unversioned development link first (whatever toolkit the host
// installed), then the runtimes of the CUDA majors we support, newest first.
var cudartCandidates = []string{"libcudart.so", "libcudart.so.13", "libcudart.so.12", "libcudart.so.11.0"}

// cudartSoname is the file name the runtime of one CUDA major is installed
// under (CUDA 11 kept the minor in its soname).
func cudartSoname(major int) string {
	if major == 11 {
		return "libcudart.so.11.0"
	}
	return "libcudart.so." + strconv.Itoa(major)
}

// CandidatesFor is the order Open tries libcudart in when TensorRT was
// built for CUDA major (0: unknown): that major's runtime first, since a
// driver new enough for TensorRT is new enough for it, while the file-name
// order alone could pick a newer runtime than the driver supports (or an
// older one than TensorRT's kernels need); then the usual order.
func CandidatesFor(major int) []string {
	if major <= 0 {
		return append([]string(nil), cudartCandidates...)
	}
	first := cudartSoname(major)
	out := []string{first}
	for _, c := range cudartCandidates {
		if c != first {
			out = append(out, c)
		}
	}
	return out
}

// noDeviceCodes are the cudaError_t values that mean "this process has no
// GPU it can use", as opposed to a failed call on a working GPU (values
// from driver_types.h, unchanged from CUDA 11 to 13):
//
//	  3 cudaErrorInitializationError — driver and runtime could not be
//	    initialized (no /dev/nvidia*, driver not loaded)
//	 34 cudaErrorStubLibrary — libcuda.so is the toolkit's link stub, not a driver
//	 35 cudaErrorInsufficientDriver — no driver, or older than this runtime
//	    (what libcudart reports on a machine without libcuda.so.1)
//	 46 cudaErrorDevicesUnavailable — every device busy or in a prohibited /
//	    exclusive compute mode held by another process
//	100 cudaErrorNoDevice — no CUDA-capable device
//	802 cudaErrorSystemNotReady — e.g. the fabric manager is not running
//	803 cudaErrorSystemDriverMismatch — kernel module and libcuda differ
//	804 cudaErrorCompatNotSupportedOnDevice — forward-compat driver on a GPU
//	    it does not support
//
// Anything else (out of memory, invalid value, launch failures, 999
// cudaErrorUnknown) is reported as ErrCUDA: those are bugs or transient
// states, and falling back to the CPU would hide them.
var noDeviceCodes = map[int]bool{3: true, 34: true, 35: true, 46: true, 100: true, 802: true, 803: true, 804: true}

// cudaErrorNotReady is cudaEventQuery's "not yet", not a failure.
const cudaErrorNotReady = 600

// APIError is a failed runtime call. It unwraps to ErrNoDevice or ErrCUDA
// (and ErrDeviceFault when the error is sticky), so callers test
// errors.Is(err, cuda.ErrNoDevice) and logs get CUDA's own name and text.
type APIError struct {
	Op   string // the runtime function, e.g. "cudaGetDeviceCount"
	Code int    // the cudaError_t value
	Name string // cudaGetErrorName, e.g. "cudaErrorNoDevice"
	Text string // cudaGetErrorString, e.g. "no CUDA-capable device is detected"
	kind error
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%v: %s: %s (%d): %s", e.kind, e.Op, e.Name, e.Code, e.Text)
}

// NewAPIError is the error a runtime call that failed with code returns,
// for runtimes other than libcudart's (the simulated kernel, the mock):
// its kind follows from the code as for libcudart's own errors. name ""
// is the sticky error's name, or "cudaError".
func NewAPIError(op string, code int, name, text string) *APIError {
	if name == "" {
		name = stickyCodes[code]
		if name == "" {
			name = "cudaError"
		}
	}
	e := &APIError{Op: op, Code: code, Name: name, Text: text, kind: ErrCUDA}
	if noDeviceCodes[code] {
		e.kind = ErrNoDevice
	}
	return e
}

// Unwrap is the error's kind, and ErrDeviceFault too for a sticky error, so
// errors.Is(err, cuda.ErrDeviceFault) picks out a device that is lost.
func (e *APIError) Unwrap() []error {
	if Sticky(e.Code) {
		return []error{e.kind, ErrDeviceFault}
	}
	return []error{e.kind}
}

// cudartLib is one dlopen handle shared by every Runtime opened on it.
type cudartLib struct {
	dl *dl.Library
	// fns holds C function pointers only, so C may be handed &fns (cgo's
	// pointer rules look at the field, not the struct around it).
	fns     C.cudart_fns
	path    string // what was passed to dlopen
	file    string // the file the dynamic linker mapped
	version int    // runtime version, 12040 for 12.4; 0 if unknown
	name    string // "libcudart 12.4"
	refs    int    // guarded by libsMu
}

var (
	libsMu sync.Mutex // guards libs and every cudartLib.refs
	// libs is keyed by dlopen's handle, so two paths naming the same file
	// (a symlink and its target, "" and an explicit path) share one entry.
	libs = map[uintptr]*cudartLib{}
)

// cudart is one reference to a cudartLib: the Runtime Open returns.
type cudart struct {
	// mu guards lib, which Close sets to nil. Calls hold it for reading
	// for their whole duration, so Close waits for calls in flight and the
	// library is never unloaded under one.
	mu  sync.RWMutex
	lib *cudartLib
}

var _ Runtime = (*cudart)(nil)

// Open loads libcudart and returns the real Runtime. path is the file the
// caller was configured with (config's --cudart-lib); "" searches
// libcudart.so, libcudart.so.13, .so.12, .so.11.0 through the dynamic
// linker's usual search. A missing library or symbol is an error wrapping
// ErrNoLibrary.
//
// Open succeeds as soon as the library loads, even without a GPU or a
// driver: DeviceCount then says why, wrapping ErrNoDevice. Use Init for
// "give me a usable GPU or an error".
//
// Runtimes opened on the same library share one dlopen handle, refcounted:
// each Close drops one reference and the last unloads the library. Closing
// a Runtime twice, or calling it after Close, returns ErrClosed.
func Open(path string) (Runtime, error) { return OpenFor(path, 0) }

// OpenFor is Open searching CandidatesFor(major) when path is "": the
// runtime of the CUDA major TensorRT was built for first. Callers compare
// the Version of what opened with major and say so when it differs.
func OpenFor(path string, major int) (Runtime, error) {
	tries := []string{path}
	if path == "" {
		tries = CandidatesFor(major)
	}
	var reasons []string
	for _, p := range tries {
		lib, err := openLib(p)
		if err == nil {
			return &cudart{lib: lib}, nil
		}
		reasons = append(reasons, err.Error())
	}
	return nil, fmt.Errorf("%w: %s", ErrNoLibrary, strings.Join(reasons, "; "))
}

func openLib(path string) (*cudartLib, error) {
	libsMu.Lock()
	defer libsMu.Unlock()
	d, err := dl.Open(path, dl.Now|dl.Local)
	if err != nil {
		return nil, err
	}
	if lib := libs[d.Handle()]; lib != nil {
		// dlopen counted this open too; our own count is the one that
		// decides when to unload, so give dlopen's back now.
		d.Close()
		lib.refs++
		return lib, nil
	}
	lib := &cudartLib{dl: d, path: path, file: d.Path(), refs: 1}
	if err := lib.resolve(); err != nil {
		d.Close()
		return nil, err
	}
	var v C.int
	if C.cudart_runtime_version(&lib.fns, &v) == 0 && v > 0 {
		lib.version = int(v)
	} else {
		// CUDA 11's cudaRuntimeGetVersion fails without a driver
		// (cudaErrorInsufficientDriver); the file name still says which
		// runtime this is.
		lib.version = versionFromFile(lib.file)
	}
	lib.name = "libcudart"
	if lib.version > 0 {
		lib.name = fmt.Sprintf("libcudart %d.%d", lib.version/1000, lib.version%1000/10)
	}
	libs[d.Handle()] = lib
	return lib, nil
}

// resolve fills fns; a library lacking any entry point is refused whole.
// Where two names are given the first is a versioned entry point, preferred:
// NVIDIA adds "_v2" symbols when a signature or struct changes and may drop
// the unversioned one in a later major release.
func (l *cudartLib) resolve() error {
	f := &l.fns
	for _, s := range []struct {
		dst   **[0]byte
		names []string
	}{
		{&f.GetDeviceCount, []string{"cudaGetDeviceCount"}},
		{&f.GetDeviceProperties, []string{"cudaGetDeviceProperties_v2", "cudaGetDeviceProperties"}},
		{&f.DeviceGetAttribute, []string{"cudaDeviceGetAttribute"}},
		{&f.SetDevice, []string{"cudaSetDevice"}},
		{&f.GetDevice, []string{"cudaGetDevice"}},
		{&f.MemGetInfo, []string{"cudaMemGetInfo"}},
		{&f.RuntimeGetVersion, []string{"cudaRuntimeGetVersion"}},
		{&f.DriverGetVersion, []string{"cudaDriverGetVersion"}},
		{&f.GetErrorName, []string{"cudaGetErrorName"}},
		{&f.GetErrorString, []string{"cudaGetErrorString"}},
		{&f.HostAlloc, []string{"cudaHostAlloc"}},
		{&f.FreeHost, []string{"cudaFreeHost"}},
		{&f.Malloc, []string{"cudaMalloc"}},
		{&f.Free, []string{"cudaFree"}},
		{&f.StreamCreateWithPriority, []string{"cudaStreamCreateWithPriority"}},
		{&f.DeviceGetStreamPriorityRange, []string{"cudaDeviceGetStreamPriorityRange"}},
		{&f.StreamDestroy, []string{"cudaStreamDestroy"}},
		{&f.StreamSynchronize, []string{"cudaStreamSynchronize"}},
		{&f.StreamWaitEvent, []string{"cudaStreamWaitEvent"}},
		{&f.EventCreateWithFlags, []string{"cudaEventCreateWithFlags"}},
		{&f.EventRecord, []string{"cudaEventRecord"}},
		{&f.EventSynchronize, []string{"cudaEventSynchronize"}},
		{&f.EventQuery, []string{"cudaEventQuery"}},
		{&f.EventElapsedTime, []string{"cudaEventElapsedTime_v2", "cudaEventElapsedTime"}},
		{&f.EventDestroy, []string{"cudaEventDestroy"}},
		{&f.MemcpyAsync, []string{"cudaMemcpyAsync"}},
		{&f.MemsetAsync, []string{"cudaMemsetAsync"}},
		{&f.Memcpy, []string{"cudaMemcpy"}},
	} {
		var err error
		for _, name := range s.names {
			var p unsafe.Pointer
			if p, err = l.dl.Lookup(name); err == nil {
				*s.dst = (*[0]byte)(p)
				break
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// acquire pins the library for one call; release must follow.
func (r *cudart) acquire() (*cudartLib, error) {
	r.mu.RLock()
	if r.lib == nil {
		r.mu.RUnlock()
		return nil, ErrClosed
	}
	return r.lib, nil
}

func (r *cudart) release() { r.mu.RUnlock() }

// do is one runtime call that returns only a status.
func (r *cudart) do(op string, f func(l *cudartLib) C.cuerr) error {
	l, err := r.acquire()
	if err != nil {
		return err
	}
	defer r.release()
	return l.check(op, f(l))
}

// check turns a cudaError_t into nil or an *APIError.
func (l *cudartLib) check(op string, code C.cuerr) error {
	if code == 0 {
		return nil
	}
	return l.apiError(op, int(code))
}

func (l *cudartLib) apiError(op string, code int) *APIError {
	e := &APIError{Op: op, Code: code, kind: ErrCUDA}
	if noDeviceCodes[code] {
		e.kind = ErrNoDevice
	}
	if s := C.cudart_error_name(&l.fns, C.cuerr(code)); s != nil {
		e.Name = C.GoString(s)
	}
	if s := C.cudart_error_string(&l.fns, C.cuerr(code)); s != nil {
		e.Text = C.GoString(s)
	}
	return e
}

// Name is "libcudart <major>.<minor>"; it stays readable after Close.
func (r *cudart) Name() string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.lib == nil {
		return "libcudart (closed)"
	}
	return r.lib.name
}

// Close drops this Runtime's reference; the last one unloads the library.
// Objects created through it (streams, memory) must be freed first.
func (r *cudart) Close() error {
	r.mu.Lock()
	lib := r.lib
	r.lib = nil
	r.mu.Unlock()
	if lib == nil {
		return ErrClosed
	}
	libsMu.Lock()
	defer libsMu.Unlock()
	lib.refs--
	if lib.refs == 0 {
		delete(libs, lib.dl.Handle())
		lib.fns = C.cudart_fns{}
		return lib.dl.Close()
	}
	return nil
}

// DeviceCount reports the visible GPUs. Without a usable one it returns an
// error wrapping ErrNoDevice that carries CUDA's reason.
func (r *cudart) DeviceCount() (int, error) {
	l, err := r.acquire()
	if err != nil {
		return 0, err
	}
	defer r.release()
	var n C.int
	if err := l.check("cudaGetDeviceCount", C.cudart_get_device_count(&l.fns, &n)); err != nil {
		return 0, err
	}
	return int(n), nil
}

// DeviceInfo describes one device without creating a context on it (or on
// any other): describing every GPU of a host must not claim them all.
func (r *cudart) DeviceInfo(device int) (DeviceInfo, error) {
	l, err := r.acquire()
	if err != nil {
		return DeviceInfo{}, err
	}
	defer r.release()
	var info C.cudart_devinfo
	code := C.cudart_device_info(&l.fns, C.int(device), &info)
	if code != 0 {
		return DeviceInfo{}, l.check(C.GoString(info.failed), code)
	}
	return DeviceInfo{
		Index:       device,
		Name:        C.GoString(&info.name[0]),
		Major:       int(info.major),
		Minor:       int(info.minor),
		TotalMemory: int64(info.total),
		CopyEngines: int(info.engines),
		Integrated:  info.integrated != 0,
	}, nil
}

// SetDevice sets the current device of the calling OS thread only: a
// goroutine that drives a device calls runtime.LockOSThread first, or the
// next call may run on another thread with another current device.
func (r *cudart) SetDevice(device int) error {
	return r.do("cudaSetDevice", func(l *cudartLib) C.cuerr { return C.cudart_set_device(&l.fns, C.int(device)) })
}

// MemGetInfo is for the calling thread's current device (see SetDevice).
func (r *cudart) MemGetInfo() (free, total int64, err error) {
	l, err := r.acquire()
	if err != nil {
		return 0, 0, err
	}
	defer r.release()
	var f, t C.size_t
	if err := l.check("cudaMemGetInfo", C.cudart_mem_get_info(&l.fns, &f, &t)); err != nil {
		return 0, 0, err
	}
	return int64(f), int64(t), nil
}

// Version: driver is 0 when no driver is installed (CUDA's convention).
// Without a driver CUDA 11 cannot report its own version; the one read
// from the library's file name stands in.
func (r *cudart) Version() (runtime, driver int, err error) {
	l, err := r.acquire()
	if err != nil {
		return 0, 0, err
	}
	defer r.release()
	var rv, dv C.int
	if code := C.cudart_runtime_version(&l.fns, &rv); code != 0 {
		if l.version == 0 {
			return 0, 0, l.check("cudaRuntimeGetVersion", code)
		}
		rv = C.int(l.version) // known from the file name; see openLib
	}
	if err := l.check("cudaDriverGetVersion", C.cudart_driver_version(&l.fns, &dv)); err != nil {
		return 0, 0, err
	}
	return int(rv), int(dv), nil
}

// versionFromFile reads the runtime version from the real file behind a
// soname link: libcudart.so.11.0 -> libcudart.so.11.8.89 gives 11080.
func versionFromFile(file string) int {
	if file == "" {
		return 0
	}
	if real, err := filepath.EvalSymlinks(file); err == nil {
		file = real
	}
	_, rest, ok := strings.Cut(filepath.Base(file), ".so.")
	if !ok {
		return 0
	}
	parts := strings.Split(rest, ".")
	major, err := strconv.Atoi(parts[0])
	if err != nil || major <= 0 {
		return 0
	}
	minor := 0
	if len(parts) > 1 {
		if minor, err = strconv.Atoi(parts[1]); err != nil {
			return 0
		}
	}
	return major*1000 + minor*10
}

func badSize(op string, n int) error {
	return fmt.Errorf("%w: %s: negative size %d", ErrCUDA, op, n)
}

func (r *cudart) HostAlloc(size int, flags HostAllocFlags) (unsafe.Pointer, error) {
	if size < 0 {
		return nil, badSize("cudaHostAlloc", size)
	}
	l, err := r.acquire()
	if err != nil {
		return nil, err
	}
	defer r.release()
	var code C.cuerr
	p := C.cudart_host_alloc(&l.fns, C.size_t(size), C.uint(flags), &code)
	if err := l.check("cudaHostAlloc", code); err != nil {
		return nil, err
	}
	return p, nil
}

func (r *cudart) FreeHost(p unsafe.Pointer) error {
	return r.do("cudaFreeHost", func(l *cudartLib) C.cuerr { return C.cudart_free_host(&l.fns, p) })
}

func (r *cudart) Malloc(size int) (DevicePtr, error) {
	if size < 0 {
		return 0, badSize("cudaMalloc", size)
	}
	l, err := r.acquire()
	if err != nil {
		return 0, err
	}
	defer r.release()
	var p C.uintptr_t
	if err := l.check("cudaMalloc", C.cudart_malloc(&l.fns, &p, C.size_t(size))); err != nil {
		return 0, err
	}
	return DevicePtr(p), nil
}

func (r *cudart) Free(p DevicePtr) error {
	return r.do("cudaFree", func(l *cudartLib) C.cuerr { return C.cudart_free(&l.fns, C.uintptr_t(p)) })
}

func (r *cudart) StreamCreate(priority int) (Stream, error) {
	l, err := r.acquire()
	if err != nil {
		return 0, err
	}
	defer r.release()
	var s C.uintptr_t
	if err := l.check("cudaStreamCreateWithPriority", C.cudart_stream_create(&l.fns, &s, C.int(priority))); err != nil {
		return 0, err
	}
	return Stream(s), nil
}

func (r *cudart) StreamPriorityRange() (least, greatest int, err error) {
	l, err := r.acquire()
	if err != nil {
		return 0, 0, err
	}
	defer r.release()
	var lo, hi C.int
	if err := l.check("cudaDeviceGetStreamPriorityRange", C.cudart_stream_priority_range(&l.fns, &lo, &hi)); err != nil {
		return 0, 0, err
	}
	return int(lo), int(hi), nil
}

func (r *cudart) StreamDestroy(s Stream) error {
	return r.do("cudaStreamDestroy", func(l *cudartLib) C.cuerr { return C.cudart_stream_destroy(&l.fns, C.uintptr_t(s)) })
}

// StreamSynchronize blocks the calling OS thread (the Go scheduler starts
// another for other goroutines).
func (r *cudart) StreamSynchronize(s Stream) error {
	return r.do("cudaStreamSynchronize", func(l *cudartLib) C.cuerr { return C.cudart_stream_synchronize(&l.fns, C.uintptr_t(s)) })
}

func (r *cudart) StreamWaitEvent(s Stream, e Event) error {
	return r.do("cudaStreamWaitEvent", func(l *cudartLib) C.cuerr { return C.cudart_stream_wait_event(&l.fns, C.uintptr_t(s), C.uintptr_t(e)) })
}

func (r *cudart) EventCreate(flags EventFlags) (Event, error) {
	l, err := r.acquire()
	if err != nil {
		return 0, err
	}
	defer r.release()
	var e C.uintptr_t
	if err := l.check("cudaEventCreateWithFlags", C.cudart_event_create(&l.fns, &e, C.uint(flags))); err != nil {
		return 0, err
	}
	return Event(e), nil
}

func (r *cudart) EventRecord(e Event, s Stream) error {
	return r.do("cudaEventRecord", func(l *cudartLib) C.cuerr { return C.cudart_event_record(&l.fns, C.uintptr_t(e), C.uintptr_t(s)) })
}

// EventSynchronize sleeps the thread for events made with
// EventBlockingSync and spins it otherwise.
func (r *cudart) EventSynchronize(e Event) error {
	return r.do("cudaEventSynchronize", func(l *cudartLib) C.cuerr { return C.cudart_event_synchronize(&l.fns, C.uintptr_t(e)) })
}

func (r *cudart) EventQuery(e Event) (bool, error) {
	l, err := r.acquire()
	if err != nil {
		return false, err
	}
	defer r.release()
	code := C.cudart_event_query(&l.fns, C.uintptr_t(e))
	if code == cudaErrorNotReady {
		return false, nil
	}
	if err := l.check("cudaEventQuery", code); err != nil {
		return false, err
	}
	return true, nil
}

// EventElapsed has CUDA's resolution, about half a microsecond; both
// events must have been created without EventDisableTiming.
func (r *cudart) EventElapsed(start, end Event) (time.Duration, error) {
	l, err := r.acquire()
	if err != nil {
		return 0, err
	}
	defer r.release()
	var ms C.float
	if err := l.check("cudaEventElapsedTime", C.cudart_event_elapsed(&l.fns, &ms, C.uintptr_t(start), C.uintptr_t(end))); err != nil {
		return 0, err
	}
	return time.Duration(float64(ms) * float64(time.Millisecond)), nil
}

func (r *cudart) EventDestroy(e Event) error {
	return r.do("cudaEventDestroy", func(l *cudartLib) C.cuerr { return C.cudart_event_destroy(&l.fns, C.uintptr_t(e)) })
}

// MemcpyHtoDAsync: src must stay valid until the stream reaches the copy,
// which is why it is C memory (pinned for a truly asynchronous copy;
// pageable C memory makes CUDA stage it synchronously).
func (r *cudart) MemcpyHtoDAsync(dst DevicePtr, src unsafe.Pointer, n int, s Stream) error {
	if n <= 0 {
		if n < 0 {
			return badSize("cudaMemcpyAsync", n)
		}
		return nil
	}
	return r.do("cudaMemcpyAsync", func(l *cudartLib) C.cuerr {
		return C.cudart_htod_async(&l.fns, C.uintptr_t(dst), src, C.size_t(n), C.uintptr_t(s))
	})
}

func (r *cudart) MemcpyDtoHAsync(dst unsafe.Pointer, src DevicePtr, n int, s Stream) error {
	if n <= 0 {
		if n < 0 {
			return badSize("cudaMemcpyAsync", n)
		}
		return nil
	}
	return r.do("cudaMemcpyAsync", func(l *cudartLib) C.cuerr {
		return C.cudart_dtoh_async(&l.fns, dst, C.uintptr_t(src), C.size_t(n), C.uintptr_t(s))
	})
}

func (r *cudart) MemcpyDtoDAsync(dst, src DevicePtr, n int, s Stream) error {
	if n <= 0 {
		if n < 0 {
			return badSize("cudaMemcpyAsync", n)
		}
		return nil
	}
	return r.do("cudaMemcpyAsync", func(l *cudartLib) C.cuerr {
		return C.cudart_dtod_async(&l.fns, C.uintptr_t(dst), C.uintptr_t(src), C.size_t(n), C.uintptr_t(s))
	})
}

func (r *cudart) MemsetAsync(dst DevicePtr, value byte, n int, s Stream) error {
	if n <= 0 {
		if n < 0 {
			return badSize("cudaMemsetAsync", n)
		}
		return nil
	}
	return r.do("cudaMemsetAsync", func(l *cudartLib) C.cuerr {
		return C.cudart_memset_async(&l.fns, C.uintptr_t(dst), C.int(value), C.size_t(n), C.uintptr_t(s))
	})
}

// MemcpyHtoD passes Go memory to C for the call's duration only, which
// cgo's pointer rules allow because a []byte holds no Go pointers. It is
// safe because cudaMemcpy from pageable memory returns only once the source
// has been consumed (copied to the device or into the driver's staging
// buffer); CUDA keeps no reference to src afterwards.
func (r *cudart) MemcpyHtoD(dst DevicePtr, src []byte) error {
	if len(src) == 0 {
		return nil
	}
	return r.do("cudaMemcpy", func(l *cudartLib) C.cuerr {
		return C.cudart_htod(&l.fns, C.uintptr_t(dst), unsafe.Pointer(&src[0]), C.size_t(len(src)))
	})
}

// MemcpyDtoH writes into Go memory during the call only: cudaMemcpy to
// pageable memory returns after the data has landed.
func (r *cudart) MemcpyDtoH(dst []byte, src DevicePtr) error {
	if len(dst) == 0 {
		return nil
	}
	return r.do("cudaMemcpy", func(l *cudartLib) C.cuerr {
		return C.cudart_dtoh(&l.fns, unsafe.Pointer(&dst[0]), C.uintptr_t(src), C.size_t(len(dst)))
	})
}

// Init opens libcudart (see Open for path) and describes every visible
// device: the server's "is there a GPU" question. With no usable device it
// returns an error wrapping ErrNoDevice (or ErrNoLibrary without the
// library) and a nil Runtime; on success the caller owns the Runtime and
// closes it.
func Init(path string) (Runtime, []DeviceInfo, error) { return InitFor(path, 0) }

// InitFor is Init opening libcudart as OpenFor does: the runtime of CUDA
// major first. Describing the devices creates no context on any of them.
func InitFor(path string, major int) (Runtime, []DeviceInfo, error) {
	rt, err := OpenFor(path, major)
	if err != nil {
		return nil, nil, err
	}
	n, err := rt.DeviceCount()
	if err == nil && n <= 0 {
		err = fmt.Errorf("%w: %s reports %d devices", ErrNoDevice, rt.Name(), n)
	}
	if err != nil {
		rt.Close()
		return nil, nil, err
	}
	infos := make([]DeviceInfo, n)
	for i := range infos {
		if infos[i], err = rt.DeviceInfo(i); err != nil {
			rt.Close()
			return nil, nil, fmt.Errorf("device %d: %w", i, err)
		}
	}
	return rt, infos, nil
}
