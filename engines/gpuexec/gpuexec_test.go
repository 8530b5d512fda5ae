package gpuexec

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trtserve/trtserve/cuda"
	"github.com/trtserve/trtserve/cuda/cudamock"
	"github.com/trtserve/trtserve/engines"
)

// doubler is a Compute for the mock: out = 2*in + slot-independent offset,
// done with synchronous copies through the runtime (the mock's device
// memory is host memory, but the test still goes through the seam).
type doubler struct {
	rt      cuda.Runtime
	item    int // float32s per item
	failAt  int
	calls   int
	closed  *int
	batches []int
}

func (d *doubler) Enqueue(s cuda.Stream, batch int, in, out []cuda.DevicePtr, consumed cuda.Event) error {
	d.calls++
	d.batches = append(d.batches, batch)
	if d.failAt > 0 && d.calls%d.failAt == 0 {
		return errors.New("injected compute failure")
	}
	buf := make([]byte, batch*d.item*4)
	if err := d.rt.MemcpyDtoH(buf, in[0]); err != nil {
		return err
	}
	if err := d.rt.EventRecord(consumed, s); err != nil {
		return err
	}
	for i := 0; i < len(buf); i += 4 {
		v := math.Float32frombits(binary.LittleEndian.Uint32(buf[i:]))
		binary.LittleEndian.PutUint32(buf[i:], math.Float32bits(2*v+1))
	}
	return d.rt.MemcpyHtoD(out[0], buf)
}

func (d *doubler) Close() error { *d.closed++; return nil }

func newInstance(t *testing.T, m *cudamock.Mock, depth, failAt int) (*Instance, *doubler, *int) {
	t.Helper()
	closed := new(int)
	d := &doubler{rt: m, item: 6, failAt: failAt, closed: closed}
	in, err := New(Options{Runtime: m, Depth: depth, MaxBatch: 8, InBytes: []int{24}, OutBytes: []int{24},
		NewCompute: func() (Compute, error) { return d, nil }})
	if err != nil {
		t.Fatal(err)
	}
	return in, d, closed
}

func TestInstanceBatches(t *testing.T) {
	for _, depth := range []int{1, 2, 3} {
		m := cudamock.New(1)
		pool := cuda.NewPool(m, cuda.PoolOptions{})
		alloc := PinnedAllocator{pool}
		inst, d, closed := newInstance(t, m, depth, 0)
		type set struct{ in, out *engines.HostBuffer }
		var sets []set
		for range 4 {
			a, err := alloc.Alloc(8 * 24)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := alloc.Alloc(8 * 24)
			sets = append(sets, set{a, b})
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		bad := 0
		for round := range 5 {
			for batch := 1; batch <= 8; batch += 3 {
				s := sets[(round*3+batch)%len(sets)]
				wg.Wait() // a set is reused only when its batch is done
				f := s.in.Float32s()
				for i := range batch * 6 {
					f[i] = float32(round*100 + i)
				}
				wg.Add(1)
				err := inst.Submit(batch, []*engines.HostBuffer{s.in}, []*engines.HostBuffer{s.out}, func(err error) {
					defer wg.Done()
					o := s.out.Float32s()
					mu.Lock()
					defer mu.Unlock()
					for i := range batch * 6 {
						if err != nil || o[i] != 2*float32(round*100+i)+1 {
							bad++
						}
					}
				})
				if err != nil {
					t.Fatal(err)
				}
			}
		}
		wg.Wait()
		if bad != 0 {
			t.Fatalf("depth %d: %d wrong outputs", depth, bad)
		}
		if len(d.batches) != 15 {
			t.Fatalf("%d batches ran", len(d.batches))
		}
		if err := inst.Close(); err != nil {
			t.Fatal(err)
		}
		inst.Close()
		if *closed != 1 {
			t.Fatalf("compute closed %d times", *closed)
		}
		for _, s := range sets {
			s.in.Close()
			s.out.Close()
		}
		pool.Close()
		if st := m.Stats(); st.HostAllocs+st.DeviceAllocs+st.StreamsLive+st.EventsLive != 0 {
			t.Fatalf("depth %d leaked: %+v", depth, st)
		}
		if st := m.Stats(); st.StreamWaits == 0 {
			t.Fatal("stages were not linked by events")
		}
	}
}

func TestInstanceErrors(t *testing.T) {
	m := cudamock.New(1)
	defer m.Close()
	pool := cuda.NewPool(m, cuda.PoolOptions{})
	defer pool.Close()
	inst, _, _ := newInstance(t, m, 2, 2)
	a, _ := PinnedAllocator{pool}.Alloc(8 * 24)
	b, _ := PinnedAllocator{pool}.Alloc(8 * 24)
	defer a.Close()
	defer b.Close()
	io := func() ([]*engines.HostBuffer, []*engines.HostBuffer) {
		return []*engines.HostBuffer{a}, []*engines.HostBuffer{b}
	}
	x, y := io()
	if err := inst.Run(t.Context(), 1, x, y); err != nil {
		t.Fatal(err)
	}
	if err := inst.Run(t.Context(), 1, x, y); err == nil || err.Error() != "injected compute failure" {
		t.Fatalf("compute failure: %v", err)
	}
	if err := inst.Run(t.Context(), 2, x, y); err != nil {
		t.Fatalf("instance did not recover: %v", err)
	}
	for _, n := range []int{0, 9} {
		if err := inst.Run(t.Context(), n, x, y); !errors.Is(err, engines.ErrBadShape) {
			t.Fatalf("batch %d: %v", n, err)
		}
	}
	if err := inst.Run(t.Context(), 1, nil, y); !errors.Is(err, engines.ErrBadShape) {
		t.Fatalf("missing input: %v", err)
	}
	// Go memory cannot be DMA'd: the mock refuses it as the driver would
	// fail (or silently stage) a pageable async copy.
	goBuf := engines.NewHostBuffer(make([]byte, 8*24), nil)
	if err := inst.Run(t.Context(), 1, []*engines.HostBuffer{goBuf}, y); err == nil {
		t.Fatal("a Go-heap buffer was copied asynchronously")
	}
	inst.Close()
	if err := inst.Run(t.Context(), 1, x, y); !errors.Is(err, cuda.ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
}

func TestInstanceSetupFailure(t *testing.T) {
	m := &cudamock.Mock{Devices: 1, DeviceLimit: 100}
	defer m.Close()
	_, err := New(Options{Runtime: m, Depth: 2, MaxBatch: 8, InBytes: []int{24}, OutBytes: []int{24},
		NewCompute: func() (Compute, error) { t.Fatal("compute made despite failed setup"); return nil, nil }})
	if err == nil {
		t.Fatal("device allocation beyond the limit succeeded")
	}
	if st := m.Stats(); st.DeviceAllocs+st.StreamsLive+st.EventsLive != 0 {
		t.Fatalf("failed setup leaked: %+v", st)
	}
	noGPU := &cudamock.Mock{}
	defer noGPU.Close()
	if _, err := New(Options{Runtime: noGPU, MaxBatch: 1, NewCompute: func() (Compute, error) { return nil, nil }}); !errors.Is(err, cuda.ErrNoDevice) {
		t.Fatalf("no device: %v", err)
	}
}

type noop struct{}

func (noop) Enqueue(cuda.Stream, int, []cuda.DevicePtr, []cuda.DevicePtr, cuda.Event) error {
	return nil
}
func (noop) Close() error { return nil }

// BenchmarkRoundTrip is the instance's own cost per batch (two goroutine
// handoffs, the mock's bookkeeping for 3 copies and 4 events), with a
// network that does nothing: what the staged (stream-per-stage) design adds on top of the
// GPU's time.
func BenchmarkRoundTrip(b *testing.B) {
	for _, depth := range []int{1, 2} {
		b.Run(fmt.Sprintf("depth=%d", depth), func(b *testing.B) {
			m := cudamock.New(1)
			defer m.Close()
			pool := cuda.NewPool(m, cuda.PoolOptions{})
			defer pool.Close()
			inst, err := New(Options{Runtime: m, Depth: depth, MaxBatch: 1, InBytes: []int{64}, OutBytes: []int{64},
				NewCompute: func() (Compute, error) { return noop{}, nil }})
			if err != nil {
				b.Fatal(err)
			}
			defer inst.Close()
			in, _ := PinnedAllocator{pool}.Alloc(64)
			out, _ := PinnedAllocator{pool}.Alloc(64)
			defer in.Close()
			defer out.Close()
			ins, outs := []*engines.HostBuffer{in}, []*engines.HostBuffer{out}
			b.ResetTimer()
			for range b.N {
				if err := inst.Run(context.Background(), 1, ins, outs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// After a sticky CUDA error the instance reports it and refuses later
// batches at once, as the device is lost until the process exits.
func TestInstanceStickyFault(t *testing.T) {
	m := cudamock.New(1)
	defer m.Close()
	pool := cuda.NewPool(m, cuda.PoolOptions{})
	inst, _, _ := newInstance(t, m, 2, 0)
	a, _ := PinnedAllocator{pool}.Alloc(8 * 24)
	b, _ := PinnedAllocator{pool}.Alloc(8 * 24)
	x, y := []*engines.HostBuffer{a}, []*engines.HostBuffer{b}
	if err := inst.Run(t.Context(), 2, x, y); err != nil || inst.Fault() != nil {
		t.Fatalf("before the fault: %v, fault %v", err, inst.Fault())
	}
	m.InjectFault(719) // cudaErrorLaunchFailure
	if err := inst.Run(t.Context(), 2, x, y); !cuda.IsDeviceFault(err) {
		t.Fatalf("batch on a lost device: %v", err)
	}
	if !cuda.IsDeviceFault(inst.Fault()) {
		t.Fatalf("Fault() = %v", inst.Fault())
	}
	done := false
	err := inst.Submit(1, x, y, func(error) { done = true })
	if !cuda.IsDeviceFault(err) || done {
		t.Fatalf("a batch after the fault must be refused at once: %v (queued %v)", err, done)
	}
	if err := inst.Close(); err != nil {
		t.Fatal(err)
	}
}

// An instance on GPU 1 (its streams, buffers, compute, waiter and close)
// creates no context on GPU 0.
func TestInstanceTouchesOnlyItsDevice(t *testing.T) {
	m := &cudamock.Mock{Devices: 2}
	defer m.Close()
	pool := cuda.NewPool(m, cuda.PoolOptions{Device: 1})
	d := &doubler{rt: m, item: 6, closed: new(int)}
	inst, err := New(Options{Runtime: m, Device: 1, Depth: 2, MaxBatch: 8, InBytes: []int{24}, OutBytes: []int{24},
		NewCompute: func() (Compute, error) { return d, nil }})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := PinnedAllocator{pool}.Alloc(8 * 24)
	b, _ := PinnedAllocator{pool}.Alloc(8 * 24)
	for n := 1; n <= 8; n++ {
		if err := inst.Run(t.Context(), n, []*engines.HostBuffer{a}, []*engines.HostBuffer{b}); err != nil {
			t.Fatal(err)
		}
	}
	inst.Close()
	a.Close()
	b.Close()
	pool.Close()
	if c := m.Contexts(); len(c) != 1 || c[0] != 1 {
		t.Fatalf("contexts on devices %v, want only [1]", c)
	}
}

// A fault met while other batches wait for a slot must not deadlock: the
// waiter notes the fault while Submit holds the instance's lock waiting for
// the slot the waiter is about to free.
func TestInstanceFaultWithBatchesWaiting(t *testing.T) {
	m := cudamock.New(1)
	defer m.Close()
	pool := cuda.NewPool(m, cuda.PoolOptions{})
	inst, _, _ := newInstance(t, m, 1, 0)
	var wg sync.WaitGroup
	var ran atomic.Int64
	for range 4 {
		a, _ := PinnedAllocator{pool}.Alloc(8 * 24)
		b, _ := PinnedAllocator{pool}.Alloc(8 * 24)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				err := inst.Run(context.Background(), 1, []*engines.HostBuffer{a}, []*engines.HostBuffer{b})
				if ran.Add(1) == 20 {
					m.InjectFault(700)
				}
				if err != nil {
					if !cuda.IsDeviceFault(err) {
						t.Errorf("want a device fault, got %v", err)
					}
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("deadlock: submitters still blocked a minute after the fault")
	}
	inst.Close()
}
