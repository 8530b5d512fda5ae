package simgpu

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/trtserve/trtserve/cuda"
	"github.com/trtserve/trtserve/cuda/cudamock"
	"github.com/trtserve/trtserve/engines"
	"github.com/trtserve/trtserve/engines/gpuexec"
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
	m := cudamock.New(1)
	defer m.Close()
	pool := cuda.NewPool(m, cuda.PoolOptions{})
	k := &hostKernel{rt: m}
	inst, err := newKernelInstance(kernelOptions{Runtime: m, Kernel: k, Depth: 2, MaxBatch: 4, InBytes: 16, OutBytes: 8, Base: time.Millisecond, PerItem: 100 * time.Microsecond})
	if err != nil {
		t.Fatal(err)
	}
	alloc := gpuexec.PinnedAllocator{Pool: pool}
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
	if _, err := newKernelInstance(kernelOptions{Runtime: m}); err == nil {
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

// run is Drive for tests and benchmarks.
func run(t testing.TB, inst *gpuexec.Instance, pool *cuda.Pool, inBytes, outBytes, batch, n int) time.Duration {
	t.Helper()
	took, err := drive(inst, pool, inBytes, outBytes, batch, n)
	if err != nil {
		t.Fatal(err)
	}
	return took
}

// TestGPUOverlap measures copy/compute overlap of the simulated engine
// (MeasureOverlap, what `trtserve doctor` reports): efficiency = measured
// speedup of two buffer sets over one ÷ the ideal; the target is ≥ 0.8.
func TestGPUOverlap(t *testing.T) {
	rt, k := gpu(t)
	defer rt.Close()
	defer k.Close()
	pool := cuda.NewPool(rt, cuda.PoolOptions{})
	defer pool.Close()
	var ov Overlap
	err := cuda.OnDevice(rt, 0, func() (err error) {
		ov, err = MeasureOverlap(OverlapOptions{Runtime: rt, Kernel: k, Pool: pool})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	line := fmt.Sprintf("| simulated engine, batch %d × 3×640×640 FP32 | copies %v/batch, kernel %v | 1 buffer set: %v/batch | 2 sets: %v/batch | speedup %.2f of ideal %.2f | overlap efficiency %.2f |",
		ov.Batch, ov.CopyOnly.Round(time.Microsecond), ov.Busy.Round(time.Microsecond), ov.Serial.Round(time.Microsecond), ov.Overlapped.Round(time.Microsecond), ov.Speedup, ov.Ideal, ov.Efficiency)
	t.Log(line)
	if path := os.Getenv("TRTSERVE_GPU_REPORT"); path != "" {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err == nil {
			fmt.Fprintln(f, line)
			f.Close()
		}
	}
	if ov.Efficiency < 0.8 {
		t.Errorf("overlap efficiency %.2f below 0.8", ov.Efficiency)
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
			inst, err := newKernelInstance(kernelOptions{Runtime: rt, Kernel: k, Depth: depth, MaxBatch: batch, InBytes: inBytes, OutBytes: outBytes, Base: 2 * time.Millisecond})
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
