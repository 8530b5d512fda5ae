package pipeline

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trtserve/trtserve/engines"
	"github.com/trtserve/trtserve/model"
)

// submitEngine's instances overlap batches as a GPU instance does: Submit
// returns at once and the batch completes delay later on its own
// goroutine, at most depth at a time.
type submitEngine struct {
	*fakeEngine
	depth       int
	inflight    atomic.Int32
	maxInflight atomic.Int32
	allocs      atomic.Int32
}

type submitInstance struct {
	e     *submitEngine
	slots chan struct{}
	wg    sync.WaitGroup
}

func (e *submitEngine) NewInstance() (engines.Instance, error) {
	in := &submitInstance{e: e, slots: make(chan struct{}, e.depth)}
	for range e.depth {
		in.slots <- struct{}{}
	}
	return in, nil
}

// Allocator makes the pipeline take its buffers from the engine.
func (e *submitEngine) Allocator() engines.Allocator { return countingAlloc{&e.allocs} }

type countingAlloc struct{ n *atomic.Int32 }

func (a countingAlloc) Alloc(size int) (*engines.HostBuffer, error) {
	a.n.Add(1)
	return engines.MmapAllocator{}.Alloc(size)
}

func (in *submitInstance) Depth() int { return in.e.depth }
func (in *submitInstance) Run(ctx context.Context, batch int, i, o []*engines.HostBuffer) error {
	return in.e.fakeEngine.Run(ctx, batch, i, o)
}
func (in *submitInstance) Submit(batch int, i, o []*engines.HostBuffer, done func(error)) error {
	<-in.slots
	n := in.e.inflight.Add(1)
	for {
		m := in.e.maxInflight.Load()
		if n <= m || in.e.maxInflight.CompareAndSwap(m, n) {
			break
		}
	}
	in.wg.Add(1)
	go func() {
		defer in.wg.Done()
		err := in.e.fakeEngine.Run(context.Background(), batch, i, o) // sleeps delay
		in.e.inflight.Add(-1)
		in.slots <- struct{}{}
		done(err)
	}()
	return nil
}
func (in *submitInstance) Close() error { in.wg.Wait(); return nil }

// A Submitter instance gets batches while earlier ones are still on the
// device, every request still gets its own answer, and the engine's
// allocator provides the buffers.
func TestSubmitterOverlapsBatches(t *testing.T) {
	eng := &submitEngine{fakeEngine: newFake(), depth: 2}
	eng.max, eng.delay = 4, 5*time.Millisecond
	m, err := newModel(&model.Spec{Name: "s", Version: "1", InstanceCount: 1}, eng, engines.MmapAllocator{}, Options{}, testPools(t))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if got := len(m.sets); got != eng.depth+2 {
		t.Fatalf("%d buffer sets for a depth-%d instance, want %d", got, eng.depth, eng.depth+2)
	}
	if eng.allocs.Load() == 0 {
		t.Fatal("the engine's allocator was not used")
	}
	const n = 120
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() { defer wg.Done(); errs <- doOne(context.Background(), m, eng.fakeEngine, float32(i+1)) }()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := eng.maxInflight.Load(); got != 2 {
		t.Fatalf("at most %d batches were in flight, want 2 (no overlap)", got)
	}
	eng.fail.Store(true)
	failed := 0
	for i := range 3 {
		if doOne(context.Background(), m, eng.fakeEngine, float32(i+1)) != nil {
			failed++
		}
	}
	if failed != 1 {
		t.Fatalf("%d requests failed after one engine error, want 1", failed)
	}
}
