package cuda

// Tests and benchmarks that need a real GPU. Without one (Init finds no
// usable device or no libcudart) every test here skips, saying why.
//
//	go test -run GPU -bench 'Copy' -benchtime 2s ./cuda/
//	TRTSERVE_GPU_REPORT=bench/gpu-bandwidth.md go test -run GPUReportBandwidth ./cuda/

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// One Runtime for every GPU test in the process, never closed: closing the
// last reference unloads libcudart and tears down the device's context,
// and re-creating it for each benchmark round would cost a second each.
var gpuShared struct {
	once  sync.Once
	rt    Runtime
	infos []DeviceInfo
	err   error
}

// gpu returns the shared Runtime with device 0 current on the calling
// goroutine's OS thread, which it locks (current device is per thread; see
// SetDevice). A test stays locked until it ends; a benchmark function,
// which the testing package may call on several goroutines, unlocks itself
// on return.
func gpu(tb testing.TB) (Runtime, DeviceInfo) {
	tb.Helper()
	gpuShared.once.Do(func() { gpuShared.rt, gpuShared.infos, gpuShared.err = Init("") })
	if gpuShared.err != nil {
		tb.Skipf("no usable GPU: %v", gpuShared.err)
	}
	runtime.LockOSThread()
	if _, ok := tb.(*testing.T); ok {
		tb.Cleanup(runtime.UnlockOSThread)
	}
	must(tb, gpuShared.rt.SetDevice(0))
	return gpuShared.rt, gpuShared.infos[0]
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// check is must for cleanups, which report rather than stop.
func check(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Error(err)
	}
}

// pinned allocates C-owned pinned memory, freed at cleanup, and returns it
// as a byte slice view whose lifetime is the test's.
func pinned(tb testing.TB, rt Runtime, size int, flags HostAllocFlags) []byte {
	tb.Helper()
	p, err := rt.HostAlloc(size, flags)
	must(tb, err)
	tb.Cleanup(func() { check(tb, rt.FreeHost(p)) })
	return unsafe.Slice((*byte)(p), size)
}

func device(tb testing.TB, rt Runtime, size int) DevicePtr {
	tb.Helper()
	d, err := rt.Malloc(size)
	must(tb, err)
	tb.Cleanup(func() { check(tb, rt.Free(d)) })
	return d
}

func stream(tb testing.TB, rt Runtime, prio int) Stream {
	tb.Helper()
	s, err := rt.StreamCreate(prio)
	must(tb, err)
	tb.Cleanup(func() { check(tb, rt.StreamDestroy(s)) })
	return s
}

func event(tb testing.TB, rt Runtime, flags EventFlags) Event {
	tb.Helper()
	e, err := rt.EventCreate(flags)
	must(tb, err)
	tb.Cleanup(func() { check(tb, rt.EventDestroy(e)) })
	return e
}

func fillRandom(b []byte, seed int64) {
	rand.New(rand.NewSource(seed)).Read(b)
}

func ptr(b []byte) unsafe.Pointer { return unsafe.Pointer(&b[0]) }

func TestGPUDeviceInfo(t *testing.T) {
	rt, info := gpu(t)
	rv, dv, err := rt.Version()
	must(t, err)
	t.Logf("%s, driver %d: %+v (%s)", rt.Name(), dv, info, info.ComputeCapability())
	if info.Name == "" || info.Major < 3 || info.TotalMemory <= 0 || rv <= 0 || dv < rv/1000*1000 {
		t.Errorf("implausible device info %+v, runtime %d driver %d", info, rv, dv)
	}
	free, total, err := rt.MemGetInfo()
	must(t, err)
	if total != info.TotalMemory || free <= 0 || free > total {
		t.Errorf("MemGetInfo = %d free of %d; DeviceInfo says %d total", free, total, info.TotalMemory)
	}
}

func TestGPURoundTrip(t *testing.T) {
	rt, _ := gpu(t)
	const size = 8<<20 + 3 // odd, so nothing relies on alignment of the length
	least, greatest, err := rt.StreamPriorityRange()
	must(t, err)
	s := stream(t, rt, greatest)
	t.Logf("stream priorities %d (least) .. %d (greatest)", least, greatest)

	src := pinned(t, rt, size, HostAllocPortable|HostAllocWriteCombined)
	dst := pinned(t, rt, size, HostAllocPortable)
	want := make([]byte, size)
	fillRandom(want, 1)
	copy(src, want) // write-combined: the host only writes it
	d1, d2 := device(t, rt, size), device(t, rt, size)

	must(t, rt.MemcpyHtoDAsync(d1, ptr(src), size, s))
	must(t, rt.MemcpyDtoDAsync(d2, d1, size, s))
	must(t, rt.MemcpyDtoHAsync(ptr(dst), d2, size, s))
	must(t, rt.StreamSynchronize(s))
	if !bytes.Equal(dst, want) {
		t.Fatal("pinned H2D → D2D → D2H round trip changed the data")
	}

	must(t, rt.MemsetAsync(d2, 0xAB, size, s))
	must(t, rt.StreamSynchronize(s))
	page := make([]byte, size) // pageable Go memory, synchronous copies
	must(t, rt.MemcpyDtoH(page, d2))
	if !bytes.Equal(page, bytes.Repeat([]byte{0xAB}, size)) {
		t.Fatal("MemsetAsync + pageable D2H: wrong bytes")
	}
	must(t, rt.MemcpyHtoD(d2, want))
	clear(page)
	must(t, rt.MemcpyDtoH(page, d2))
	if !bytes.Equal(page, want) {
		t.Fatal("pageable H2D → D2H round trip changed the data")
	}
}

// TestGPUStreamOrdering: a copy on stream B ordered after stream A's copy
// by an event only (no host synchronization in between) sees A's data.
func TestGPUStreamOrdering(t *testing.T) {
	rt, _ := gpu(t)
	const size = 64 << 20 // long enough that B would overtake A without the wait
	a, b := stream(t, rt, 0), stream(t, rt, 0)
	ev := event(t, rt, EventDisableTiming)
	src := pinned(t, rt, size, HostAllocPortable)
	dst := pinned(t, rt, size, HostAllocPortable)
	d := device(t, rt, size)
	for round := 0; round < 3; round++ {
		fillRandom(src, int64(round))
		clear(dst)
		must(t, rt.MemsetAsync(d, 0, size, a))
		must(t, rt.MemcpyHtoDAsync(d, ptr(src), size, a))
		must(t, rt.EventRecord(ev, a))
		must(t, rt.StreamWaitEvent(b, ev))
		must(t, rt.MemcpyDtoHAsync(ptr(dst), d, size, b))
		must(t, rt.StreamSynchronize(b))
		if !bytes.Equal(dst, src) {
			t.Fatalf("round %d: D2H on stream B did not see stream A's H2D", round)
		}
		must(t, rt.StreamSynchronize(a))
	}
}

func TestGPUEventElapsed(t *testing.T) {
	rt, _ := gpu(t)
	const size = 64 << 20
	s := stream(t, rt, 0)
	start, end := event(t, rt, EventDefault), event(t, rt, EventDefault)
	src := pinned(t, rt, size, HostAllocPortable)
	d := device(t, rt, size)
	t0 := time.Now()
	must(t, rt.EventRecord(start, s))
	must(t, rt.MemcpyHtoDAsync(d, ptr(src), size, s))
	must(t, rt.EventRecord(end, s))
	must(t, rt.EventSynchronize(end))
	wall := time.Since(t0)
	done, err := rt.EventQuery(end)
	must(t, err)
	el, err := rt.EventElapsed(start, end)
	must(t, err)
	t.Logf("64 MiB pinned H2D: %v by events (%.1f GB/s), %v wall", el, float64(size)/el.Seconds()/1e9, wall)
	if !done || el <= 0 || el > wall+time.Millisecond {
		t.Errorf("elapsed %v (done %v): want 0 < elapsed <= wall %v", el, done, wall)
	}
}

// busyWork enqueues copies on s that keep the GPU busy for about d.
func busyWork(tb testing.TB, rt Runtime, s Stream, d time.Duration) {
	tb.Helper()
	const size = 64 << 20
	a, b := device(tb, rt, size), device(tb, rt, size)
	e0, e1 := event(tb, rt, EventDefault), event(tb, rt, EventDefault)
	must(tb, rt.EventRecord(e0, s))
	for i := 0; i < 10; i++ {
		must(tb, rt.MemcpyDtoDAsync(b, a, size, s))
	}
	must(tb, rt.EventRecord(e1, s))
	must(tb, rt.EventSynchronize(e1))
	el, err := rt.EventElapsed(e0, e1)
	must(tb, err)
	n := int(d/(el/10+1)) + 1
	for i := 0; i < n && i < 200000; i++ {
		must(tb, rt.MemcpyDtoDAsync(b, a, size, s))
	}
}

// TestGPUEventBlockingSync: waiting on an EventBlockingSync event sleeps
// the thread instead of spinning a core, which is what lets one goroutine
// per instance wait on the GPU cheaply.
func TestGPUEventBlockingSync(t *testing.T) {
	rt, _ := gpu(t)
	s := stream(t, rt, 0)
	ev := event(t, rt, EventBlockingSync|EventDisableTiming)
	busyWork(t, rt, s, 300*time.Millisecond)
	must(t, rt.EventRecord(ev, s))
	if done, err := rt.EventQuery(ev); err != nil || done {
		t.Logf("EventQuery right after enqueueing 300 ms of work: %v, %v (expected not done)", done, err)
	}
	var r0, r1 unix.Rusage
	must(t, unix.Getrusage(unix.RUSAGE_THREAD, &r0))
	t0 := time.Now()
	must(t, rt.EventSynchronize(ev))
	wall := time.Since(t0)
	must(t, unix.Getrusage(unix.RUSAGE_THREAD, &r1))
	cpu := time.Duration(r1.Utime.Nano()+r1.Stime.Nano()-r0.Utime.Nano()-r0.Stime.Nano()) * time.Nanosecond
	done, err := rt.EventQuery(ev)
	must(t, err)
	t.Logf("EventSynchronize waited %v using %v of CPU", wall, cpu)
	if !done {
		t.Error("EventQuery after EventSynchronize: not done")
	}
	// A spinning wait burns ~100% of the wall time; a sleeping one a few
	// percent at most (wake-ups). Half is a wide margin either way.
	if wall > 50*time.Millisecond && cpu > wall/2 {
		t.Errorf("blocking-sync wait used %v CPU over %v: the thread spun", cpu, wall)
	}
}

// TestGPUAllocCycles: 10,000 alloc/free cycles of each kind leave device
// and host memory where they were (AllocCycles, what `trtserve doctor`
// runs; its tolerance is explained at AllocCyclesOptions).
func TestGPUAllocCycles(t *testing.T) {
	rt, _ := gpu(t)
	r, err := AllocCycles(rt, AllocCyclesOptions{})
	must(t, err)
	t.Logf("%d cycles in %v (%v per HostAlloc+FreeHost+Malloc+Free); device free %+d bytes, VmSize %+d bytes",
		r.Cycles, r.Took, r.Took/time.Duration(r.Cycles), r.DeviceFreeDelta, r.VMSizeDelta)
	if err := r.Check(); err != nil {
		t.Error(err)
	}
}

// TestGPUSimKernel: the simulated engine takes the time asked for, reads
// its input (unaligned, odd length) and writes the documented output.
func TestGPUSimKernel(t *testing.T) {
	rt, _ := gpu(t)
	k, err := LoadSimKernel("")
	if err != nil {
		t.Skipf("simulated kernel not built: %v", err)
	}
	defer k.Close()
	const inSize, outSize, batch = 3<<20 + 5, 1001, 4
	s := stream(t, rt, 0)
	e0, e1 := event(t, rt, EventDefault), event(t, rt, EventDefault)
	in := make([]byte, inSize)
	fillRandom(in, 7)
	var sum uint64
	for _, c := range in {
		sum += uint64(c)
	}
	din := device(t, rt, inSize+1)
	must(t, rt.MemcpyHtoD(din+1, in)) // din+1: not 16-byte aligned
	dout := device(t, rt, outSize)
	out := pinned(t, rt, outSize, HostAllocPortable)

	// Warm-up: the first launch loads the module and creates the
	// stream-ordered memory pool, host-side work the timings must not see.
	must(t, k.Launch(s, din+1, inSize, dout, outSize, 0, batch))
	must(t, rt.StreamSynchronize(s))

	times := map[time.Duration]time.Duration{}
	for _, busy := range []time.Duration{time.Millisecond, 5 * time.Millisecond, 20 * time.Millisecond} {
		must(t, rt.MemsetAsync(dout, 0, outSize, s))
		must(t, rt.EventRecord(e0, s))
		must(t, k.Launch(s, din+1, inSize, dout, outSize, busy, batch))
		must(t, rt.EventRecord(e1, s))
		must(t, rt.MemcpyDtoHAsync(ptr(out), dout, outSize, s))
		must(t, rt.StreamSynchronize(s))
		el, err := rt.EventElapsed(e0, e1)
		must(t, err)
		times[busy] = el
		t.Logf("busy %v: kernel took %v", busy, el)
		// At least busy, whatever else the GPU runs: the kernel spins on
		// the GPU's own clock until busy has passed. No upper bound: a
		// shared or throttled GPU may take any longer, and the growth check
		// below catches a spin that ignores busy.
		if el < busy {
			t.Errorf("busy %v: took %v, want at least busy", busy, el)
		}
		part := outSize / batch
		for i, c := range out {
			p := min(i/part, batch-1)
			if want := byte(sum + uint64(p)); c != want {
				t.Fatalf("busy %v: out[%d] = %d, want (sum %d + part %d) mod 256 = %d", busy, i, c, sum, p, want)
			}
		}
	}
	// The time scales with what was asked: 20 ms of spin takes longer than
	// 5 ms, which takes longer than 1 ms.
	if !(times[time.Millisecond] < times[5*time.Millisecond] && times[5*time.Millisecond] < times[20*time.Millisecond]) {
		t.Errorf("kernel times do not grow with busy: %v", times)
	}
}

// copySizes are the benchmark sizes: a small input batch, a 640x640 fp32
// batch of 8 (39 MB) rounded up, and the size the report uses.
var copySizes = []int{1 << 20, 16 << 20, 64 << 20}

// h2dKinds are the host memory kinds compared.
var h2dKinds = []string{"pinned", "pinned-write-combined", "pageable"}

// h2d returns a function that copies size bytes host→device n times and
// waits for the copies, from the given kind of host memory.
func h2d(tb testing.TB, rt Runtime, kind string, size int) func(n int) {
	d := device(tb, rt, size)
	s := stream(tb, rt, 0)
	var src []byte
	switch kind {
	case "pinned":
		src = pinned(tb, rt, size, HostAllocPortable)
	case "pinned-write-combined":
		src = pinned(tb, rt, size, HostAllocPortable|HostAllocWriteCombined)
	case "pageable":
		src = make([]byte, size)
		fillRandom(src, 3) // touch every page, as a decoded image would
		return func(n int) {
			for i := 0; i < n; i++ {
				must(tb, rt.MemcpyHtoD(d, src))
			}
			// cudaMemcpy from pageable memory may return before its last
			// DMA lands; the legacy default stream (0) is behind it.
			must(tb, rt.StreamSynchronize(0))
		}
	default:
		tb.Fatalf("unknown kind %q", kind)
	}
	fillRandom(src, 3)
	return func(n int) {
		for i := 0; i < n; i++ {
			must(tb, rt.MemcpyHtoDAsync(d, ptr(src), size, s))
		}
		must(tb, rt.StreamSynchronize(s))
	}
}

func d2d(tb testing.TB, rt Runtime, size int) func(n int) {
	a, b := device(tb, rt, size), device(tb, rt, size)
	s := stream(tb, rt, 0)
	return func(n int) {
		for i := 0; i < n; i++ {
			must(tb, rt.MemcpyDtoDAsync(b, a, size, s))
		}
		must(tb, rt.StreamSynchronize(s))
	}
}

func sizeName(n int) string { return fmt.Sprintf("%dMiB", n>>20) }

func BenchmarkCopyH2D(b *testing.B) {
	for _, kind := range h2dKinds {
		for _, size := range copySizes {
			b.Run(kind+"/"+sizeName(size), func(b *testing.B) {
				rt, _ := gpu(b)
				defer runtime.UnlockOSThread()
				run := h2d(b, rt, kind, size)
				run(1) // first-touch, page-in, lazy context work
				b.SetBytes(int64(size))
				b.ResetTimer()
				run(b.N)
			})
		}
	}
}

// BenchmarkCopyD2D is the device's own copy bandwidth, the reference for
// the best a copy can do on this device. SetBytes counts bytes copied (each
// is read and written, so memory traffic is twice that).
func BenchmarkCopyD2D(b *testing.B) {
	for _, size := range copySizes {
		b.Run(sizeName(size), func(b *testing.B) {
			rt, _ := gpu(b)
			defer runtime.UnlockOSThread()
			run := d2d(b, rt, size)
			run(1)
			b.SetBytes(int64(size))
			b.ResetTimer()
			run(b.N)
		})
	}
}

// TestGPUReportBandwidth writes the pinned-vs-pageable table of
// docs/benchmarks.md's GPU section to $TRTSERVE_GPU_REPORT (markdown), when
// that is set.
func TestGPUReportBandwidth(t *testing.T) {
	path := os.Getenv("TRTSERVE_GPU_REPORT")
	if path == "" {
		t.Skip("set TRTSERVE_GPU_REPORT=file.md to measure and write the bandwidth report")
	}
	rt, info := gpu(t)
	_, dv, err := rt.Version()
	must(t, err)
	// MeasureCopy is what `trtserve doctor` reports, in both directions;
	// this table is its H2D half.
	res := map[string]map[int]float64{}
	for _, kind := range append(append([]string{}, h2dKinds...), "d2d") {
		res[kind] = map[int]float64{}
		for _, size := range copySizes {
			dir := HtoD
			if kind == "d2d" {
				dir = DtoD
			}
			b, err := MeasureCopy(rt, dir, HostMemory(kind), size, BandwidthOptions{})
			must(t, err)
			res[kind][size] = b.GBps
		}
	}
	largest := copySizes[len(copySizes)-1]
	pin, page := res["pinned"][largest], res["pageable"][largest]
	best := max(pin, res["pinned-write-combined"][largest], page)

	var w strings.Builder
	fmt.Fprintf(&w, "# GPU copy bandwidth\n\n")
	fmt.Fprintf(&w, "Device: %s (%s, %d copy engines, %d MiB), %s, driver %d. Measured %s by `go test -run GPUReportBandwidth ./cuda/`; GB/s = 1e9 bytes/s, best of 5 rounds of ~200 ms.\n\n",
		info.Name, info.ComputeCapability(), info.CopyEngines, info.TotalMemory>>20, rt.Name(), dv, time.Now().UTC().Format("2006-01-02"))
	fmt.Fprintf(&w, "| size | pinned H2D | pinned write-combined H2D | pageable H2D | D2D (device reference) |\n|---:|---:|---:|---:|---:|\n")
	for _, size := range copySizes {
		fmt.Fprintf(&w, "| %s | %.2f | %.2f | %.2f | %.1f |\n", sizeName(size),
			res["pinned"][size], res["pinned-write-combined"][size], res["pageable"][size], res["d2d"][size])
	}
	fmt.Fprintf(&w, "\n| figure (%s) | value |\n|---|---:|\n", sizeName(largest))
	fmt.Fprintf(&w, "| pinned H2D GB/s | %.2f |\n", pin)
	fmt.Fprintf(&w, "| pageable H2D GB/s | %.2f |\n", page)
	fmt.Fprintf(&w, "| pinned ÷ pageable | %.2f |\n", pin/page)
	fmt.Fprintf(&w, "| pinned ÷ best H2D of the run | %.3f |\n", pin/best)
	must(t, os.WriteFile(path, []byte(w.String()), 0o644))
	t.Logf("wrote %s:\n%s", path, w.String())
	if pin/best < 0.9 {
		t.Logf("note: pinned H2D is %.2f of the best H2D of the run (target >= 0.9)", pin/best)
	}
}
