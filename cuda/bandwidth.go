package cuda

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
	"unsafe"
)

// Measurements of a device that `trtserve doctor` reports and the GPU
// tests assert on: copy bandwidth by host memory kind and direction, and
// whether alloc/free cycles leak. They run on the calling goroutine, which
// must be locked to its OS thread with the device current (OnDevice).

// HostMemory is the kind of host memory a copy reads or writes.
type HostMemory string

const (
	// Pinned is page-locked memory (cudaHostAlloc, portable): DMA reads it
	// directly, what the pinned pool hands the pipeline.
	Pinned HostMemory = "pinned"
	// PinnedWriteCombined is pinned and write-combined: faster for the GPU
	// to read over PCIe, very slow for the CPU to read back.
	PinnedWriteCombined HostMemory = "pinned-write-combined"
	// Pageable is ordinary Go memory: the driver stages it through its own
	// pinned buffer, the baseline pinned memory is measured against.
	Pageable HostMemory = "pageable"
	// DeviceMemory is no host memory at all: the D2D reference.
	DeviceMemory HostMemory = "device"
)

// HostMemories are the host kinds compared, in report order.
var HostMemories = []HostMemory{Pinned, PinnedWriteCombined, Pageable}

// Direction is a copy's direction.
type Direction string

const (
	HtoD Direction = "H2D"
	DtoH Direction = "D2H"
	DtoD Direction = "D2D"
)

// BandwidthOptions tune MeasureCopy; zero values take the defaults.
type BandwidthOptions struct {
	// Round is about how long one timed round of copies runs (200 ms).
	Round time.Duration
	// Rounds is how many timed rounds run; the best counts (5), since
	// anything else on the machine only ever makes a round slower.
	Rounds int
}

func (o BandwidthOptions) withDefaults() BandwidthOptions {
	if o.Round <= 0 {
		o.Round = 200 * time.Millisecond
	}
	if o.Rounds <= 0 {
		o.Rounds = 5
	}
	return o
}

// Bandwidth is one measured copy bandwidth.
type Bandwidth struct {
	Direction Direction
	Memory    HostMemory
	Bytes     int     // per copy
	Copies    int     // in the best round
	GBps      float64 // 1e9 bytes per second, best round
}

// ErrBadMeasurement: a measurement's arguments make no sense.
var ErrBadMeasurement = errors.New("cuda: bad measurement request")

// MeasureCopy times size-byte copies in direction dir from or to mem
// (DtoD ignores mem) and returns the best round's bandwidth. Pinned copies
// are asynchronous on one stream and end with its synchronization;
// pageable ones are cudaMemcpy, followed by a synchronization of the
// legacy default stream because a pageable cudaMemcpy may return before
// its last DMA lands. Everything it allocates is freed before it returns.
func MeasureCopy(rt Runtime, dir Direction, mem HostMemory, size int, o BandwidthOptions) (Bandwidth, error) {
	o = o.withDefaults()
	if size <= 0 {
		return Bandwidth{}, fmt.Errorf("%w: copy size %d", ErrBadMeasurement, size)
	}
	if dir == DtoD {
		mem = DeviceMemory
	}
	run, free, err := copier(rt, dir, mem, size)
	if err != nil {
		return Bandwidth{}, err
	}
	defer free()
	// The first copies pay page-in, lazy context work and, for pageable
	// memory, the driver's staging buffer: not bandwidth.
	if err := run(2); err != nil {
		return Bandwidth{}, err
	}
	t0 := time.Now()
	if err := run(4); err != nil {
		return Bandwidth{}, err
	}
	per := time.Since(t0) / 4
	n := max(1, int(o.Round/(per+1)))
	best := Bandwidth{Direction: dir, Memory: mem, Bytes: size, Copies: n}
	for range o.Rounds {
		t0 := time.Now()
		if err := run(n); err != nil {
			return Bandwidth{}, err
		}
		best.GBps = max(best.GBps, float64(size)*float64(n)/time.Since(t0).Seconds()/1e9)
	}
	return best, nil
}

// copier allocates what one kind of copy needs and returns the loop that
// runs n copies and waits for them, and the function that frees it all.
func copier(rt Runtime, dir Direction, mem HostMemory, size int) (run func(n int) error, free func(), err error) {
	var frees []func() error
	free = func() {
		for i := len(frees) - 1; i >= 0; i-- {
			frees[i]()
		}
	}
	fail := func(err error) (func(int) error, func(), error) {
		free()
		return nil, nil, err
	}
	d, err := rt.Malloc(size)
	if err != nil {
		return fail(err)
	}
	frees = append(frees, func() error { return rt.Free(d) })
	s, err := rt.StreamCreate(0)
	if err != nil {
		return fail(err)
	}
	frees = append(frees, func() error { return rt.StreamDestroy(s) })
	sync := func() error { return rt.StreamSynchronize(s) }

	if dir == DtoD {
		d2, err := rt.Malloc(size)
		if err != nil {
			return fail(err)
		}
		frees = append(frees, func() error { return rt.Free(d2) })
		return func(n int) error {
			for range n {
				if err := rt.MemcpyDtoDAsync(d2, d, size, s); err != nil {
					return err
				}
			}
			return sync()
		}, free, nil
	}
	if dir != HtoD && dir != DtoH {
		return fail(fmt.Errorf("%w: direction %q", ErrBadMeasurement, dir))
	}

	switch mem {
	case Pageable:
		buf := make([]byte, size)
		fillPattern(buf) // every page touched, as a decoded image's would be
		return func(n int) error {
			for range n {
				var err error
				if dir == HtoD {
					err = rt.MemcpyHtoD(d, buf)
				} else {
					err = rt.MemcpyDtoH(buf, d)
				}
				if err != nil {
					return err
				}
			}
			return rt.StreamSynchronize(0)
		}, free, nil
	case Pinned, PinnedWriteCombined:
		flags := HostAllocPortable
		if mem == PinnedWriteCombined {
			flags |= HostAllocWriteCombined
		}
		p, err := rt.HostAlloc(size, flags)
		if err != nil {
			return fail(err)
		}
		frees = append(frees, func() error { return rt.FreeHost(p) })
		fillPattern(unsafe.Slice((*byte)(p), size)) // the host only writes it
		return func(n int) error {
			for range n {
				var err error
				if dir == HtoD {
					err = rt.MemcpyHtoDAsync(d, p, size, s)
				} else {
					err = rt.MemcpyDtoHAsync(p, d, size, s)
				}
				if err != nil {
					return err
				}
			}
			return sync()
		}, free, nil
	default:
		return fail(fmt.Errorf("%w: host memory %q", ErrBadMeasurement, mem))
	}
}

func fillPattern(b []byte) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i+8 <= len(b); i += 8 {
		v := r.Uint64()
		copy(b[i:i+8], unsafe.Slice((*byte)(unsafe.Pointer(&v)), 8))
	}
}

// AllocCyclesOptions size an AllocCycles run; zero values take the
// defaults of `trtserve doctor`.
type AllocCyclesOptions struct {
	Cycles     int   // 10,000
	HostSize   int   // bytes of pinned memory per cycle: 64 KiB
	DeviceSize int   // bytes of device memory per cycle: 1 MiB
	Tolerance  int64 // bytes either figure may move: 64 MiB
}

// Tolerance 64 MiB. A real leak is at least one allocation per cycle,
// 64 KiB host or 1 MiB device, so 10,000 cycles would leak 625 MiB or
// 10 GiB: ten to a hundred and fifty times the tolerance. What the
// tolerance absorbs is legitimate: the driver reports free memory in 2 MiB
// pages and may keep freed chunks of its sub-allocator and page tables
// cached, other processes may use the same GPU while we run, and the Go
// runtime's own heap may grow the virtual size by a few MiB.
func (o AllocCyclesOptions) withDefaults() AllocCyclesOptions {
	if o.Cycles <= 0 {
		o.Cycles = 10000
	}
	if o.HostSize <= 0 {
		o.HostSize = 64 << 10
	}
	if o.DeviceSize <= 0 {
		o.DeviceSize = 1 << 20
	}
	if o.Tolerance <= 0 {
		o.Tolerance = 64 << 20
	}
	return o
}

// AllocCyclesResult is what AllocCycles saw.
type AllocCyclesResult struct {
	AllocCyclesOptions
	Took time.Duration
	// DeviceFreeDelta is cudaMemGetInfo's free memory after minus before
	// (negative: device memory was lost).
	DeviceFreeDelta int64
	// VMSizeDelta is the process's virtual size after minus before: pinned
	// host memory is mapped into it, so a cudaHostAlloc leak shows there
	// (cudaMemGetInfo sees only device memory).
	VMSizeDelta int64
}

// ErrMemoryGrowth: alloc/free cycles left memory behind.
var ErrMemoryGrowth = errors.New("cuda: memory grew over alloc/free cycles")

// Check returns nil when neither figure moved by more than the tolerance,
// else an error wrapping ErrMemoryGrowth that says which.
func (r AllocCyclesResult) Check() error {
	var errs []error
	if r.DeviceFreeDelta > r.Tolerance || -r.DeviceFreeDelta > r.Tolerance {
		errs = append(errs, fmt.Errorf("device free memory moved by %d bytes over %d cycles (tolerance %d)", r.DeviceFreeDelta, r.Cycles, r.Tolerance))
	}
	if r.VMSizeDelta > r.Tolerance {
		errs = append(errs, fmt.Errorf("virtual size grew by %d bytes over %d pinned alloc/free cycles (tolerance %d)", r.VMSizeDelta, r.Cycles, r.Tolerance))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrMemoryGrowth, errors.Join(errs...))
}

// AllocCycles runs o.Cycles cycles of HostAlloc+touch+FreeHost and
// Malloc+Free and reports how device free memory and the process's
// virtual size moved. A failed call ends it with that error.
func AllocCycles(rt Runtime, o AllocCyclesOptions) (AllocCyclesResult, error) {
	o = o.withDefaults()
	res := AllocCyclesResult{AllocCyclesOptions: o}
	// All cycles on one OS thread: glibc gives each thread that first
	// mallocs its own arena (64 MiB of address space), so a cycle that
	// migrated to a fresh thread would read as growth in VmSize that no
	// cycle leaked.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	// One cycle first, so both allocators' one-time pools are in "before".
	cycle := func(i int) error {
		p, err := rt.HostAlloc(o.HostSize, HostAllocPortable)
		if err != nil {
			return err
		}
		*(*byte)(p) = byte(i) // touch it: the page must really be there
		if err := rt.FreeHost(p); err != nil {
			return err
		}
		d, err := rt.Malloc(o.DeviceSize)
		if err != nil {
			return err
		}
		return rt.Free(d)
	}
	if err := cycle(0); err != nil {
		return res, err
	}
	freeBefore, _, err := rt.MemGetInfo()
	if err != nil {
		return res, err
	}
	vmBefore, err := VMSize()
	if err != nil {
		return res, err
	}
	t0 := time.Now()
	for i := range o.Cycles {
		if err := cycle(i); err != nil {
			return res, fmt.Errorf("cycle %d: %w", i, err)
		}
	}
	res.Took = time.Since(t0)
	freeAfter, _, err := rt.MemGetInfo()
	if err != nil {
		return res, err
	}
	vmAfter, err := VMSize()
	if err != nil {
		return res, err
	}
	res.DeviceFreeDelta, res.VMSizeDelta = freeAfter-freeBefore, vmAfter-vmBefore
	return res, nil
}

// VMSize is the process's virtual size (VmSize in /proc/self/status).
func VMSize() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmSize:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("VmSize %q: %w", f[1], err)
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("no VmSize in /proc/self/status")
}
