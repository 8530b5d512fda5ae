package cudamock

/*
#include <malloc.h>
#include <stdlib.h>

// capArenas keeps glibc from giving each new thread its own malloc arena
// (64 MiB of address space each). The mock's "device" memory is C memory,
// so doctor's alloc/free cycles measure VmSize over it: a thread the Go
// runtime started mid-run that then called C would read as 64 MiB of
// growth that no cycle leaked (1 run in 4 here). Real pinned memory comes
// from the driver, not malloc, so this touches only the mock.
static void capArenas(void) { mallopt(M_ARENA_MAX, 2); }
*/
import "C"

import (
	"fmt"
	"sort"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/trtserve/trtserve/cuda"
)

// Mock is a cuda.Runtime that does the work on the host, for tests and for
// running the GPU code paths without a GPU: "device" memory is C memory
// too, so a native library handed a cuda.DevicePtr (the fake TensorRT shim) can
// read and write it. Every asynchronous call completes before it returns,
// so stream order holds trivially and events are always complete; what the
// mock checks is everything else — that every copy stays inside one live
// allocation, that handles are live, and that everything allocated is freed.
//
// It also keeps CUDA's per-thread current device and records which devices
// got a context, as the real runtime creates a device's primary context on
// the first call that needs one from a thread whose current device it is
// (device 0 on a thread that never called SetDevice). And InjectFault makes
// it lose the device as a sticky error does.
type Mock struct {
	// Devices is what DeviceCount reports; 0 makes the mock a machine
	// whose GPU is missing.
	Devices int
	// HostLimit and DeviceLimit, when positive, make allocations beyond
	// that many bytes in use fail, as a full GPU or locked-memory limit does.
	HostLimit, DeviceLimit int64

	mu      sync.Mutex // guards everything below
	host    map[uintptr]mockAlloc
	dev     map[uintptr]mockAlloc
	streams map[cuda.Stream]bool
	events  map[cuda.Event]time.Time
	next    uintptr
	closed  bool
	stats   Stats
	// current is each OS thread's current device (absent: 0, CUDA's
	// default); contexts are the devices that got a primary context.
	current  map[int]int
	contexts map[int]bool
	fault    *cuda.APIError // set by InjectFault: every call needing a context fails
}

type mockAlloc struct {
	p    unsafe.Pointer
	size int
}

// Stats counts what the mock has seen.
type Stats struct {
	HostBytes, DeviceBytes     int64 // in use now
	HostAllocs, DeviceAllocs   int   // live allocations
	StreamsLive, EventsLive    int
	CopiesHtoD, CopiesDtoH     int
	BytesHtoD, BytesDtoH       int64
	StreamWaits, EventsRecords int
}

// New is a mock machine with that many devices (0: a machine whose GPU is
// missing).
func New(devices int) *Mock { return &Mock{Devices: devices} }

var _ cuda.Runtime = (*Mock)(nil)

// arenasOnce caps malloc arenas the first time any mock is used.
var arenasOnce sync.Once

func (m *Mock) init() error {
	arenasOnce.Do(func() { C.capArenas() })
	if m.closed {
		return cuda.ErrClosed
	}
	if m.host == nil {
		m.host, m.dev = map[uintptr]mockAlloc{}, map[uintptr]mockAlloc{}
		m.streams, m.events = map[cuda.Stream]bool{}, map[cuda.Event]time.Time{}
		m.current, m.contexts = map[int]int{}, map[int]bool{}
	}
	return nil
}

// ctx is what a runtime call that needs a context does first: create the
// primary context of the calling thread's current device, and fail if the
// device is lost. The lock is held.
func (m *Mock) ctx(op string) error {
	if err := m.init(); err != nil {
		return err
	}
	m.contexts[m.current[unix.Gettid()]] = true
	if m.fault != nil {
		f := *m.fault
		f.Op = op
		return &f
	}
	return nil
}

// Contexts are the devices that got a context so far, sorted.
func (m *Mock) Contexts() []int {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []int
	for d := range m.contexts {
		out = append(out, d)
	}
	sort.Ints(out)
	return out
}

// InjectFault makes the device fail as after a sticky error (code, e.g.
// 700 cudaErrorIllegalAddress): every later call that needs a context
// returns it, as CUDA does until the process exits.
func (m *Mock) InjectFault(code int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fault = cuda.NewAPIError("", code, "", "injected by the CUDA mock")
}

// do runs f with the lock held on an open mock, in a context (see ctx).
func (m *Mock) do(op string, f func() error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.ctx(op); err != nil {
		return err
	}
	return f()
}

// Stats is a snapshot of the mock's accounting.
func (m *Mock) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stats
}

func (m *Mock) Name() string { return "mock (host memory, synchronous)" }

func (m *Mock) DeviceCount() (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.init(); err != nil {
		return 0, err
	}
	if m.Devices == 0 {
		return 0, fmt.Errorf("%w: mock machine without a GPU", cuda.ErrNoDevice)
	}
	return m.Devices, nil
}

func (m *Mock) DeviceInfo(device int) (cuda.DeviceInfo, error) {
	n, err := m.DeviceCount()
	if err != nil {
		return cuda.DeviceInfo{}, err
	}
	if device < 0 || device >= n {
		return cuda.DeviceInfo{}, fmt.Errorf("%w: invalid device ordinal %d", cuda.ErrCUDA, device)
	}
	return cuda.DeviceInfo{Index: device, Name: "Mock GPU", Major: 9, Minor: 0, TotalMemory: 80 << 30, CopyEngines: 2}, nil
}

// SetDevice creates the device's context at once, as cudaSetDevice does
// since CUDA 12.
func (m *Mock) SetDevice(device int) error {
	if _, err := m.DeviceInfo(device); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.init(); err != nil {
		return err
	}
	m.current[unix.Gettid()] = device
	return m.ctx("cudaSetDevice")
}

func (m *Mock) MemGetInfo() (free, total int64, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.ctx("cudaMemGetInfo"); err != nil {
		return 0, 0, err
	}
	total = 80 << 30
	return total - m.stats.DeviceBytes, total, nil
}

func (m *Mock) Version() (runtime, driver int, err error) { return 13000, 13000, nil }

func (m *Mock) alloc(table map[uintptr]mockAlloc, size int, inUse *int64, limit int64, count *int) (unsafe.Pointer, error) {
	if size <= 0 {
		return nil, fmt.Errorf("%w: invalid argument: size %d", cuda.ErrCUDA, size)
	}
	if limit > 0 && *inUse+int64(size) > limit {
		return nil, fmt.Errorf("%w: out of memory (mock limit %d bytes, %d in use, %d asked)", cuda.ErrCUDA, limit, *inUse, size)
	}
	p := C.calloc(1, C.size_t(size))
	if p == nil {
		return nil, fmt.Errorf("%w: out of memory", cuda.ErrCUDA)
	}
	table[uintptr(p)] = mockAlloc{p, size}
	*inUse += int64(size)
	*count++
	return p, nil
}

func (m *Mock) free(table map[uintptr]mockAlloc, p uintptr, inUse *int64, count *int) error {
	a, ok := table[p]
	if !ok {
		return fmt.Errorf("%w: invalid argument: %#x is not the start of a live allocation", cuda.ErrCUDA, p)
	}
	delete(table, p)
	*inUse -= int64(a.size)
	*count--
	C.free(a.p)
	return nil
}

func (m *Mock) HostAlloc(size int, flags cuda.HostAllocFlags) (unsafe.Pointer, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.ctx("cudaHostAlloc"); err != nil {
		return nil, err
	}
	return m.alloc(m.host, size, &m.stats.HostBytes, m.HostLimit, &m.stats.HostAllocs)
}

func (m *Mock) FreeHost(p unsafe.Pointer) error {
	return m.do("cudaFreeHost", func() error {
		return m.free(m.host, uintptr(p), &m.stats.HostBytes, &m.stats.HostAllocs)
	})
}

func (m *Mock) Malloc(size int) (cuda.DevicePtr, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.ctx("cudaMalloc"); err != nil {
		return 0, err
	}
	p, err := m.alloc(m.dev, size, &m.stats.DeviceBytes, m.DeviceLimit, &m.stats.DeviceAllocs)
	return cuda.DevicePtr(p), err
}

func (m *Mock) Free(p cuda.DevicePtr) error {
	return m.do("cudaFree", func() error {
		return m.free(m.dev, uintptr(p), &m.stats.DeviceBytes, &m.stats.DeviceAllocs)
	})
}

// span finds the live allocation holding [addr, addr+n) and returns it as a
// Go view (for the copy only).
func span(table map[uintptr]mockAlloc, addr uintptr, n int, what string) ([]byte, error) {
	for base, a := range table {
		if addr >= base && addr+uintptr(n) <= base+uintptr(a.size) {
			return unsafe.Slice((*byte)(unsafe.Add(a.p, addr-base)), n), nil
		}
	}
	return nil, fmt.Errorf("%w: invalid argument: %s range %#x+%d is not inside one live allocation", cuda.ErrCUDA, what, addr, n)
}

func (m *Mock) stream(s cuda.Stream) error {
	if s != 0 && !m.streams[s] {
		return fmt.Errorf("%w: invalid resource handle: stream %#x", cuda.ErrCUDA, uintptr(s))
	}
	return nil
}

func (m *Mock) copy(dstT, srcT map[uintptr]mockAlloc, dst, src uintptr, n int, s cuda.Stream) error {
	if err := m.ctx("cudaMemcpyAsync"); err != nil {
		return err
	}
	if err := m.stream(s); err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	d, err := span(dstT, dst, n, "destination")
	if err != nil {
		return err
	}
	sv, err := span(srcT, src, n, "source")
	if err != nil {
		return err
	}
	copy(d, sv)
	return nil
}

func (m *Mock) MemcpyHtoDAsync(dst cuda.DevicePtr, src unsafe.Pointer, n int, s cuda.Stream) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	// Async copies must come from pinned memory: a Go or malloc pointer
	// here is the bug the mock exists to catch.
	if err := m.copy(m.dev, m.host, uintptr(dst), uintptr(src), n, s); err != nil {
		return err
	}
	m.stats.CopiesHtoD++
	m.stats.BytesHtoD += int64(n)
	return nil
}

func (m *Mock) MemcpyDtoHAsync(dst unsafe.Pointer, src cuda.DevicePtr, n int, s cuda.Stream) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.copy(m.host, m.dev, uintptr(dst), uintptr(src), n, s); err != nil {
		return err
	}
	m.stats.CopiesDtoH++
	m.stats.BytesDtoH += int64(n)
	return nil
}

func (m *Mock) MemcpyDtoDAsync(dst, src cuda.DevicePtr, n int, s cuda.Stream) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.copy(m.dev, m.dev, uintptr(dst), uintptr(src), n, s)
}

func (m *Mock) MemsetAsync(dst cuda.DevicePtr, value byte, n int, s cuda.Stream) error {
	return m.do("cudaMemsetAsync", func() error {
		if err := m.stream(s); err != nil {
			return err
		}
		d, err := span(m.dev, uintptr(dst), n, "destination")
		if err != nil {
			return err
		}
		for i := range d {
			d[i] = value
		}
		return nil
	})
}

func (m *Mock) MemcpyHtoD(dst cuda.DevicePtr, src []byte) error {
	return m.do("cudaMemcpy", func() error {
		d, err := span(m.dev, uintptr(dst), len(src), "destination")
		if err != nil {
			return err
		}
		copy(d, src)
		return nil
	})
}

func (m *Mock) MemcpyDtoH(dst []byte, src cuda.DevicePtr) error {
	return m.do("cudaMemcpy", func() error {
		sv, err := span(m.dev, uintptr(src), len(dst), "source")
		if err != nil {
			return err
		}
		copy(dst, sv)
		return nil
	})
}

func (m *Mock) StreamCreate(priority int) (cuda.Stream, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.ctx("cudaStreamCreateWithPriority"); err != nil {
		return 0, err
	}
	if priority < -5 || priority > 0 {
		return 0, fmt.Errorf("%w: invalid argument: priority %d outside [-5, 0]", cuda.ErrCUDA, priority)
	}
	m.next++
	s := cuda.Stream(m.next)
	m.streams[s] = true
	m.stats.StreamsLive++
	return s, nil
}

func (m *Mock) StreamPriorityRange() (least, greatest int, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.ctx("cudaDeviceGetStreamPriorityRange"); err != nil {
		return 0, 0, err
	}
	return 0, -5, nil
}

func (m *Mock) StreamDestroy(s cuda.Stream) error {
	return m.do("cudaStreamDestroy", func() error {
		if !m.streams[s] {
			return fmt.Errorf("%w: invalid resource handle: stream %#x", cuda.ErrCUDA, uintptr(s))
		}
		delete(m.streams, s)
		m.stats.StreamsLive--
		return nil
	})
}

func (m *Mock) StreamSynchronize(s cuda.Stream) error {
	return m.do("cudaStreamSynchronize", func() error {
		return m.stream(s)
	})
}

func (m *Mock) StreamWaitEvent(s cuda.Stream, e cuda.Event) error {
	return m.do("cudaStreamWaitEvent", func() error {
		if err := m.stream(s); err != nil {
			return err
		}
		if _, ok := m.events[e]; !ok {
			return fmt.Errorf("%w: invalid resource handle: event %#x", cuda.ErrCUDA, uintptr(e))
		}
		m.stats.StreamWaits++
		return nil
	})
}

func (m *Mock) EventCreate(flags cuda.EventFlags) (cuda.Event, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.ctx("cudaEventCreateWithFlags"); err != nil {
		return 0, err
	}
	m.next++
	e := cuda.Event(m.next)
	m.events[e] = time.Time{}
	m.stats.EventsLive++
	return e, nil
}

func (m *Mock) event(e cuda.Event) error {
	if _, ok := m.events[e]; !ok {
		return fmt.Errorf("%w: invalid resource handle: event %#x", cuda.ErrCUDA, uintptr(e))
	}
	return nil
}

func (m *Mock) EventRecord(e cuda.Event, s cuda.Stream) error {
	return m.do("cudaEventRecord", func() error {
		if err := m.stream(s); err != nil {
			return err
		}
		if err := m.event(e); err != nil {
			return err
		}
		m.events[e] = time.Now()
		m.stats.EventsRecords++
		return nil
	})
}

func (m *Mock) EventSynchronize(e cuda.Event) error {
	return m.do("cudaEventSynchronize", func() error {
		return m.event(e)
	})
}

func (m *Mock) EventQuery(e cuda.Event) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.ctx("cudaEventQuery"); err != nil {
		return false, err
	}
	return true, m.event(e)
}

func (m *Mock) EventElapsed(start, end cuda.Event) (time.Duration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.ctx("cudaEventElapsedTime"); err != nil {
		return 0, err
	}
	t0, ok0 := m.events[start]
	t1, ok1 := m.events[end]
	if !ok0 || !ok1 || t0.IsZero() || t1.IsZero() {
		return 0, fmt.Errorf("%w: invalid resource handle: event not recorded", cuda.ErrCUDA)
	}
	return t1.Sub(t0), nil
}

func (m *Mock) EventDestroy(e cuda.Event) error {
	return m.do("cudaEventDestroy", func() error {
		if err := m.event(e); err != nil {
			return err
		}
		delete(m.events, e)
		m.stats.EventsLive--
		return nil
	})
}

// Close frees whatever is still allocated and fails every later call; tests
// check Stats before closing to catch leaks.
func (m *Mock) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	for _, a := range m.host {
		C.free(a.p)
	}
	for _, a := range m.dev {
		C.free(a.p)
	}
	m.host, m.dev = nil, nil
	m.closed = true
	return nil
}
