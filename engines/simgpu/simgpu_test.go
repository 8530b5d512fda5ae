package simgpu

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/trtserve/trtserve/cuda"
	"github.com/trtserve/trtserve/engines"
	"github.com/trtserve/trtserve/engines/staged"
)

// hostKernel stands in for the CUDA kernel on the mock: out[i] = byte sum
// of the input + part index, as csrc/simkernel computes it.
type hostKernel struct {
	rt       cuda.Runtime
	mu       sync.Mutex
	launches []time.Duration
}

func (k *hostKernel) Launch(s cuda.Stream, in cuda.DevicePtr, inBytes int, out cuda.DevicePtr, outBytes int, busy time.Duration, batch int) error {
	k.mu.Lock()
	k.launches = append(k.launches, busy)
	k.mu.Unlock()
	buf := make([]byte, inBytes)
	if err := k.rt.MemcpyDtoH(buf, in); err != nil {
		return err
	}
	var sum byte
	for _, b := range buf {
		sum += b
	}
	o := make([]byte, outBytes)
	part := outBytes / batch
	for i := range o {
		o[i] = sum + byte(i/part)
	}
	return k.rt.MemcpyHtoD(out, o)
}

// On the mock, the simulated engine's plumbing: busy time per batch, the
// kernel's output copied back, nothing leaked.
func TestSimulatedEngineOnMock(t *testing.T) {
	m := cuda.NewMock()
	defer m.Close()
	pool := cuda.NewPool(m, cuda.PoolOptions{})
	k := &hostKernel{rt: m}
	inst, err := New(Options{Runtime: m, Kernel: k, Depth: 2, MaxBatch: 4, InBytes: 16, OutBytes: 8, Base: time.Millisecond, PerItem: 100 * time.Microsecond})
	if err != nil {
		t.Fatal(err)
	}
	alloc := staged.PinnedAllocator{Pool: pool}
	in, _ := alloc.Alloc(64)
	out, _ := alloc.Alloc(32)
	for i := range in.Bytes() {
		in.Bytes()[i] = 1
	}
	if err := inst.Run(context.Background(), 3, []*engines.HostBuffer{in}, []*engines.HostBuffer{out}); err != nil {
		t.Fatal(err)
	}
	if got := out.Bytes()[:24]; got[0] != 48 || got[8] != 49 || got[23] != 50 {
		t.Fatalf("outputs %v", got)
	}
	if k.launches[0] != 1300*time.Microsecond {
		t.Fatalf("busy %v", k.launches[0])
	}
	inst.Close()
	in.Close()
	out.Close()
	pool.Close()
	if st := m.Stats(); st.HostAllocs+st.DeviceAllocs+st.StreamsLive+st.EventsLive != 0 {
		t.Fatalf("leaked %+v", st)
	}
	if _, err := New(Options{Runtime: m}); err == nil {
		t.Fatal("no kernel accepted")
	}
}

// gpu is the real device and kernel, or a skip with the reason.
func gpu(t testing.TB) (cuda.Runtime, *cuda.SimKernel) {
	t.Helper()
	rt, devs, err := cuda.Init("")
	if err != nil {
		t.Skipf("no usable GPU: %v", err)
	}
	k, err := cuda.LoadSimKernel("")
	if err != nil {
		rt.Close()
		t.Skipf("simulated kernel not built (make simkernel): %v", err)
	}
	t.Logf("simulated engine on %s (%s)", devs[0].Name, devs[0].ComputeCapability())
	return rt, k
}

// run pushes n batches through an instance with `sets` host buffer sets
// in rotation and returns the wall time.
func run(t testing.TB, inst *staged.Instance, pool *cuda.Pool, inBytes, outBytes, batch, n int) time.Duration {
	sets := inst.Depth() + 1
	alloc := staged.PinnedAllocator{Pool: pool}
	type set struct{ in, out *engines.HostBuffer }
	var ss []set
	for range sets {
		a, err := alloc.Alloc(inBytes * batch)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := alloc.Alloc(outBytes * batch)
		ss = append(ss, set{a, b})
	}
	defer func() {
		for _, s := range ss {
			s.in.Close()
			s.out.Close()
		}
	}()
	free := make(chan set, sets)
	for _, s := range ss {
		free <- s
	}
	var wg sync.WaitGroup
	t0 := time.Now()
	for range n {
		s := <-free
		wg.Add(1)
		if err := inst.Submit(batch, []*engines.HostBuffer{s.in}, []*engines.HostBuffer{s.out}, func(err error) {
			if err != nil {
				t.Error(err)
			}
			free <- s
			wg.Done()
		}); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	return time.Since(t0)
}

// TestGPUOverlap measures copy/compute overlap of the simulated engine:
// with the kernel's busy time set to the measured H2D time of one batch,
// two buffer sets should approach (copy + compute) / max(copy, compute)
// times the throughput of one. Efficiency = measured speedup ÷ that
// ideal; the target is ≥ 0.8.
func TestGPUOverlap(t *testing.T) {
	rt, k := gpu(t)
	defer rt.Close()
	defer k.Close()
	pool := cuda.NewPool(rt, cuda.PoolOptions{})
	defer pool.Close()
	const batch, n = 8, 60
	inBytes, outBytes := 3*640*640*4, 84*8400*4 // a YOLOv8 640 detection batch
	probe, err := New(Options{Runtime: rt, Kernel: k, Depth: 1, MaxBatch: batch, InBytes: inBytes, OutBytes: outBytes})
	if err != nil {
		t.Fatal(err)
	}
	run(t, probe, pool, inBytes, outBytes, batch, 3) // warm-up
	copyOnly := run(t, probe, pool, inBytes, outBytes, batch, n) / n
	probe.Close()
	// copyOnly is H2D + a near-empty kernel + D2H per batch: give the
	// kernel as long as the copies take.
	busy := copyOnly
	var per [3]time.Duration
	for _, depth := range []int{1, 2} {
		inst, err := New(Options{Runtime: rt, Kernel: k, Depth: depth, MaxBatch: batch, InBytes: inBytes, OutBytes: outBytes, Base: busy})
		if err != nil {
			t.Fatal(err)
		}
		run(t, inst, pool, inBytes, outBytes, batch, 3)
		per[depth] = run(t, inst, pool, inBytes, outBytes, batch, n) / n
		inst.Close()
	}
	speedup := float64(per[1]) / float64(per[2])
	ideal := float64(copyOnly+busy) / float64(max(copyOnly, busy))
	eff := speedup / ideal
	line := fmt.Sprintf("| simulated engine, batch %d × 3×640×640 FP32 | copies %v/batch, kernel %v | 1 buffer set: %v/batch | 2 sets: %v/batch | speedup %.2f of ideal %.2f | overlap efficiency %.2f |",
		batch, copyOnly.Round(time.Microsecond), busy.Round(time.Microsecond), per[1].Round(time.Microsecond), per[2].Round(time.Microsecond), speedup, ideal, eff)
	t.Log(line)
	if path := os.Getenv("TRTSERVE_GPU_REPORT"); path != "" {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err == nil {
			fmt.Fprintln(f, line)
			f.Close()
		}
	}
	if eff < 0.8 {
		t.Errorf("overlap efficiency %.2f below 0.8", eff)
	}
}

// BenchmarkOverlap reports batches/s of the simulated engine with one and
// two device buffer sets (kernel 2 ms per batch).
func BenchmarkOverlap(b *testing.B) {
	rt, k := gpu(b)
	defer rt.Close()
	defer k.Close()
	pool := cuda.NewPool(rt, cuda.PoolOptions{})
	defer pool.Close()
	const batch = 8
	inBytes, outBytes := 3*640*640*4, 84*8400*4
	for _, depth := range []int{1, 2} {
		b.Run(fmt.Sprintf("sets=%d", depth), func(b *testing.B) {
			inst, err := New(Options{Runtime: rt, Kernel: k, Depth: depth, MaxBatch: batch, InBytes: inBytes, OutBytes: outBytes, Base: 2 * time.Millisecond})
			if err != nil {
				b.Fatal(err)
			}
			defer inst.Close()
			b.SetBytes(int64(batch * inBytes))
			b.ResetTimer()
			run(b, inst, pool, inBytes, outBytes, batch, b.N)
		})
	}
}
