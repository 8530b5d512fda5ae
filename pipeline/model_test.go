package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trtserve/trtserve/engines"
	"github.com/trtserve/trtserve/model"
)

// fakeEngine multiplies its single input by factor into its single output.
// Runs may be slowed (delay) or held until gate is closed, and the next run
// made to fail.
type fakeEngine struct {
	factor float32
	max    int
	fixed  bool
	delay  time.Duration
	gate   chan struct{}
	fail   atomic.Bool

	mu     sync.Mutex // guards runs and inputs
	runs   []int
	inputs []float32 // first element of every item every run saw
}

func newFake() *fakeEngine { return &fakeEngine{factor: 2, max: 3} }

func (e *fakeEngine) Inputs() []model.TensorInfo {
	return []model.TensorInfo{{Name: "in", DataType: model.FP32, Shape: []int64{-1, 4}}}
}
func (e *fakeEngine) Outputs() []model.TensorInfo {
	return []model.TensorInfo{{Name: "out", DataType: model.FP32, Shape: []int64{-1, 4}}}
}
func (e *fakeEngine) MaxBatch() int                          { return e.max }
func (e *fakeEngine) FixedBatch() bool                       { return e.fixed }
func (e *fakeEngine) NewInstance() (engines.Instance, error) { return e, nil }
func (e *fakeEngine) Close() error                           { return nil }
func (e *fakeEngine) Run(_ context.Context, batch int, in, out []*engines.HostBuffer) error {
	if e.gate != nil {
		<-e.gate
	}
	time.Sleep(e.delay)
	if e.fail.Swap(false) {
		return errors.New("device lost")
	}
	e.mu.Lock()
	e.runs = append(e.runs, batch)
	for k := range batch {
		e.inputs = append(e.inputs, in[0].Float32s()[k*4])
	}
	e.mu.Unlock()
	for i, v := range in[0].Float32s()[:batch*4] {
		out[0].Float32s()[i] = e.factor * v
	}
	return nil
}

func (e *fakeEngine) executions() []int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]int(nil), e.runs...)
}

// work writes x into its slot and records what came back. got is atomic so
// a pipeline that touched a work after Do returned is caught by the test
// (and by the race detector when it is not atomic elsewhere).
type work struct {
	x     float32
	bad   bool
	panic bool
	got   atomic.Uint32 // math.Float32bits of out[0][3]
	calls atomic.Int32
}

func (w *work) Preprocess(in [][]float32) error {
	w.calls.Add(1)
	if w.panic {
		panic("decoder bug")
	}
	if w.bad {
		return errors.New("broken image")
	}
	for i := range in[0] {
		in[0][i] = w.x
	}
	return nil
}

func (w *work) Postprocess(out [][]float32) error {
	w.calls.Add(1)
	w.got.Store(uint32(out[0][3]))
	return nil
}

func testPools(t *testing.T) *pools {
	p := &pools{decode: newPool(2), post: newPool(2)}
	t.Cleanup(func() { p.decode.close(); p.post.close() })
	return p
}

func newTestModel(t *testing.T, eng *fakeEngine, instances int, opts Options) *Model {
	t.Helper()
	m, err := newModel(&model.Spec{Name: "f", Version: "1", InstanceCount: instances}, eng, engines.MmapAllocator{}, opts, testPools(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// doOne runs a single work and checks its answer is its own.
func doOne(ctx context.Context, m *Model, eng *fakeEngine, x float32) error {
	w := &work{x: x}
	if err := m.Do(ctx, []Work{w})[0]; err != nil {
		return err
	}
	if got, want := w.got.Load(), uint32(eng.factor*x); got != want {
		return fmt.Errorf("work %v got %v, want %v: another request's result", x, got, want)
	}
	return nil
}

func TestDoMixedWorks(t *testing.T) {
	for _, mode := range []Mode{Serial, Parallel} {
		for _, fixed := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/fixed=%v", mode, fixed), func(t *testing.T) {
				eng := newFake()
				eng.fixed = fixed
				m := newTestModel(t, eng, 2, Options{Mode: mode})
				ws := []*work{{x: 1}, {x: 2, bad: true}, {x: 3}, {x: 4, panic: true}}
				errs := m.Do(context.Background(), []Work{ws[0], ws[1], ws[2], ws[3]})
				var se, pe *StageError
				if errs[0] != nil || errs[2] != nil || !errors.As(errs[1], &se) || se.Stage != StagePreprocess ||
					!errors.As(errs[3], &pe) || pe.Stage != StagePreprocess {
					t.Fatalf("errs %v", errs)
				}
				if ws[0].got.Load() != 2 || ws[2].got.Load() != 6 {
					t.Fatalf("results %v %v: a work got another's output", ws[0].got.Load(), ws[2].got.Load())
				}
				for _, b := range eng.executions() {
					if fixed && b != 3 {
						t.Fatalf("fixed-batch engine ran batch %d", b)
					}
				}
				if err := m.Close(); err != nil {
					t.Fatal(err)
				}
				if errs := m.Do(context.Background(), []Work{&work{x: 1}}); !errors.Is(errs[0], ErrClosed) {
					t.Fatalf("after Close: %v", errs)
				}
			})
		}
	}
}

func TestBatchesFormUnderLoad(t *testing.T) {
	eng := newFake()
	eng.max, eng.delay = 8, 3*time.Millisecond
	m := newTestModel(t, eng, 1, Options{})
	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() { defer wg.Done(); errs <- doOne(context.Background(), m, eng, float32(i+1)) }()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	runs := eng.executions()
	if len(runs) >= n {
		t.Fatalf("%d executions for %d requests: no batching", len(runs), n)
	}
	if got := m.Stats.InferenceCount.Load(); got != n {
		t.Fatalf("inference_count %d", got)
	}
	if got := m.Stats.ExecutionCount.Load(); got != uint64(len(runs)) {
		t.Fatalf("execution_count %d, engine ran %d", got, len(runs))
	}
	t.Logf("%d requests in %d executions", n, len(runs))
}

func TestModelsNeverMix(t *testing.T) {
	a, b := newFake(), newFake()
	a.max, b.max, b.factor = 4, 4, 3
	a.delay, b.delay = time.Millisecond, time.Millisecond
	ma, mb := newTestModel(t, a, 2, Options{}), newTestModel(t, b, 1, Options{})
	var wg sync.WaitGroup
	errs := make(chan error, 400)
	for i := range 200 {
		wg.Add(2)
		go func() { defer wg.Done(); errs <- doOne(context.Background(), ma, a, float32(1000+i)) }()
		go func() { defer wg.Done(); errs <- doOne(context.Background(), mb, b, float32(5000+i)) }()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, x := range a.inputs {
		if x >= 5000 {
			t.Fatalf("model a ran model b's input %v", x)
		}
	}
	for _, x := range b.inputs {
		if x < 5000 {
			t.Fatalf("model b ran model a's input %v", x)
		}
	}
}

// eventually waits for cond, failing the test if it has not held after
// ten seconds: a guard against a hang, not a timing assertion.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting for %s", what)
		}
	}
}

// The scheduler carries out decideBatch's rule (batcher_test.go has the
// rule itself). Each case is ordered by what the batcher has seen, not by
// the clock: a max_queue_delay of an hour means "never" here.
func TestMaxQueueDelay(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // guards against a hang
	defer cancel()

	t.Run("a partial batch waits for more images", func(t *testing.T) {
		eng := newFake()
		eng.max = 2
		m := newTestModel(t, eng, 1, Options{MaxQueueDelay: time.Hour})
		a := &work{x: 1}
		done := make(chan []error, 1)
		go func() { done <- m.Do(ctx, []Work{a}) }()
		eventually(t, "the first image to get its slot", func() bool { return a.calls.Load() == 1 })
		if errs := m.Do(ctx, []Work{&work{x: 2}}); errs[0] != nil {
			t.Fatal(errs[0])
		}
		if errs := <-done; errs[0] != nil {
			t.Fatal(errs[0])
		}
		if runs := eng.executions(); fmt.Sprint(runs) != "[2]" {
			t.Fatalf("runs %v: the first image left alone instead of waiting for the second", runs)
		}
	})

	t.Run("the delay ships a partial batch", func(t *testing.T) {
		eng := newFake()
		eng.max = 8
		m := newTestModel(t, eng, 1, Options{MaxQueueDelay: 20 * time.Millisecond})
		if errs := m.Do(ctx, []Work{&work{x: 1}, &work{x: 2}, &work{x: 3}}); errs[0] != nil || errs[1] != nil || errs[2] != nil {
			t.Fatalf("a partial batch never left: %v", errs)
		}
		if runs := eng.executions(); fmt.Sprint(runs) != "[3]" {
			t.Fatalf("runs %v, want one batch of 3", runs)
		}
	})

	t.Run("a full batch leaves at once", func(t *testing.T) {
		eng := newFake()
		eng.max = 2
		m := newTestModel(t, eng, 1, Options{MaxQueueDelay: time.Hour})
		if errs := m.Do(ctx, []Work{&work{x: 1}, &work{x: 2}}); errs[0] != nil || errs[1] != nil {
			t.Fatalf("full batch waited for the delay: %v", errs)
		}
	})

	t.Run("a preferred size leaves at once", func(t *testing.T) {
		eng := newFake()
		eng.max = 8
		m := newTestModel(t, eng, 1, Options{MaxQueueDelay: time.Hour, PreferredBatchSizes: []int{2, 4}})
		if errs := m.Do(ctx, []Work{&work{x: 1}, &work{x: 2}}); errs[0] != nil || errs[1] != nil {
			t.Fatalf("preferred batch waited for the delay: %v", errs)
		}
		if runs := eng.executions(); fmt.Sprint(runs) != "[2]" {
			t.Fatalf("preferred batch: runs %v", runs)
		}
	})

	// Triton's rule: three images with preferred sizes 2 and 4 send 2 at
	// once and keep the third for the next batch, which a fourth image
	// then makes a preferred 2 as well.
	t.Run("the largest preferred size reached leaves, the rest waits", func(t *testing.T) {
		eng := newFake()
		eng.max = 8
		m := newTestModel(t, eng, 1, Options{MaxQueueDelay: time.Hour, PreferredBatchSizes: []int{2, 4}})
		done := make(chan []error, 1)
		go func() { done <- m.Do(ctx, []Work{&work{x: 1}, &work{x: 2}, &work{x: 3}}) }()
		eventually(t, "a first batch", func() bool { return len(eng.executions()) == 1 })
		if runs := eng.executions(); fmt.Sprint(runs) != "[2]" {
			t.Fatalf("first batch %v, want the preferred 2", runs)
		}
		if err := doOne(ctx, m, eng, 4); err != nil {
			t.Fatal(err)
		}
		for _, err := range <-done {
			if err != nil {
				t.Fatal(err)
			}
		}
		if runs := eng.executions(); fmt.Sprint(runs) != "[2 2]" {
			t.Fatalf("runs %v, want two preferred batches of 2", runs)
		}
	})
}

// waitFree waits until every buffer set is back in the free list but the
// one the idle batcher holds for the next arrival: nothing leaked a slot.
func waitFree(t *testing.T, m *Model) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); len(m.free) != len(m.sets)-1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d buffer sets free: a slot leaked", len(m.free), len(m.sets))
		}
	}
}

func TestCancelledRequestsLeakNothingAndGetNoResult(t *testing.T) {
	eng := newFake()
	eng.max, eng.gate = 4, make(chan struct{})
	m := newTestModel(t, eng, 1, Options{RingDepth: 2})
	var wg sync.WaitGroup
	var cancelled []*work
	var mu sync.Mutex
	for i := range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
			defer cancel()
			w := &work{x: float32(i + 1)}
			err := m.Do(ctx, []Work{w})[0]
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("held engine, want deadline, got %v", err)
			}
			mu.Lock()
			cancelled = append(cancelled, w)
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(eng.gate) // the held batch now runs; its requesters are gone
	for i := range 50 {
		if err := doOne(context.Background(), m, eng, float32(100+i)); err != nil {
			t.Fatal(err)
		}
	}
	waitFree(t, m)
	for _, w := range cancelled {
		if w.got.Load() != 0 {
			t.Fatalf("work %v was postprocessed after its Do returned", w.x)
		}
	}
	if c := m.Stats.Canceled.Load(); c != 30 {
		t.Fatalf("canceled counter %d, want 30", c)
	}
}

func TestFullQueueRejectsAndAcceptedComplete(t *testing.T) {
	for _, mode := range []Mode{Parallel, Serial} {
		t.Run(string(mode), func(t *testing.T) {
			eng := newFake()
			eng.max, eng.gate = 2, make(chan struct{})
			m := newTestModel(t, eng, 1, Options{Mode: mode, MaxQueueSize: 4, RingDepth: 2})
			var busy, ok atomic.Int32
			var wg sync.WaitGroup
			for i := range 40 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					err := doOne(context.Background(), m, eng, float32(i+1))
					switch {
					case errors.Is(err, ErrBusy):
						busy.Add(1)
					case err == nil:
						ok.Add(1)
					default:
						t.Error(err)
					}
				}()
			}
			// Let the rejections happen while the engine is held.
			for deadline := time.Now().Add(5 * time.Second); busy.Load() == 0 && time.Now().Before(deadline); {
				time.Sleep(time.Millisecond)
			}
			close(eng.gate)
			wg.Wait()
			if busy.Load() == 0 || ok.Load() == 0 || busy.Load()+ok.Load() != 40 {
				t.Fatalf("busy %d ok %d", busy.Load(), ok.Load())
			}
			if m.Stats.Rejected.Load() != uint64(busy.Load()) {
				t.Fatalf("rejected counter %d, busy %d", m.Stats.Rejected.Load(), busy.Load())
			}
		})
	}
}

func TestBackendErrorFailsOnlyItsBatch(t *testing.T) {
	eng := newFake()
	m := newTestModel(t, eng, 1, Options{})
	eng.fail.Store(true)
	var se *StageError
	if err := doOne(context.Background(), m, eng, 1); !errors.As(err, &se) || se.Stage != StageInfer {
		t.Fatalf("want infer error, got %v", err)
	}
	if err := doOne(context.Background(), m, eng, 2); err != nil {
		t.Fatalf("the next batch failed too: %v", err)
	}
	if m.Stats.BackendFailed.Load() != 1 {
		t.Fatalf("backend failures %d", m.Stats.BackendFailed.Load())
	}
}

func TestThousandConcurrentClients(t *testing.T) {
	eng := newFake()
	eng.max, eng.delay = 16, 2*time.Millisecond
	m := newTestModel(t, eng, 2, Options{})
	var wg sync.WaitGroup
	var failed atomic.Int32
	for i := range 1000 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := doOne(context.Background(), m, eng, float32(i+1)); err != nil {
				failed.Add(1)
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of 1000 failed", failed.Load())
	}
	waitFree(t, m)
}

func TestSerialHonoursDeadlineWhileWaitingForAnInstance(t *testing.T) {
	m := newTestModel(t, newFake(), 1, Options{Mode: Serial})
	inst := <-m.lent // hold the only instance
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if errs := m.Do(ctx, []Work{&work{x: 1}}); !errors.Is(errs[0], context.DeadlineExceeded) {
		t.Fatalf("want deadline, got %v", errs)
	}
	m.lent <- inst
}

// timedDo runs works and reports when Do returned.
func timedDo(m *Model, works []Work, done chan<- time.Duration, start time.Time) {
	for _, err := range m.Do(context.Background(), works) {
		if err != nil {
			panic(err)
		}
	}
	done <- time.Since(start)
}

// One huge request delays a small one on the same model by about one
// batch, not by the whole request; and a model whose queue is flooded
// does not slow another model down.
func TestFairShare(t *testing.T) {
	t.Run("huge request, same model", func(t *testing.T) {
		eng := newFake()
		eng.max, eng.delay = 2, 10*time.Millisecond
		m := newTestModel(t, eng, 1, Options{})
		huge := make([]Work, 40) // 20 batches: 200 ms
		for i := range huge {
			huge[i] = &work{x: float32(i)}
		}
		start := time.Now()
		hugeDone, smallDone := make(chan time.Duration, 1), make(chan time.Duration, 1)
		go timedDo(m, huge, hugeDone, start)
		eventually(t, "the huge request to start running", func() bool { return len(eng.executions()) > 0 })
		go timedDo(m, []Work{&work{x: 1000}}, smallDone, start)
		small, all := <-smallDone, <-hugeDone
		if small > all/2 {
			t.Fatalf("the small request took %v, the huge one %v: it waited behind it", small, all)
		}
	})
	t.Run("flooded model, other model", func(t *testing.T) {
		p := testPools(t)
		open := func(eng *fakeEngine) *Model {
			m, err := newModel(&model.Spec{Name: "m", Version: "1", InstanceCount: 1}, eng, engines.MmapAllocator{}, Options{MaxQueueSize: 64}, p)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { m.Close() })
			return m
		}
		slow, fast := newFake(), newFake()
		slow.max, slow.delay = 2, 20*time.Millisecond
		a, b := open(slow), open(fast)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var wg sync.WaitGroup
		for c := range 16 { // keeps a's queue full
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					a.Do(ctx, []Work{&work{x: float32(c)}, &work{x: 1}, &work{x: 2}, &work{x: 3}})
				}
			}()
		}
		// a's queue full of images is this many batches: a request of b's
		// that waited behind it would see a run about as many.
		behind := a.opts.MaxQueueSize / slow.max
		eventually(t, "a's queue to fill", func() bool { return a.QueueLen() >= a.opts.MaxQueueSize/2 })
		for i := range 20 {
			before := a.Stats.ExecutionCount.Load()
			if err := doOne(context.Background(), b, fast, float32(i)); err != nil {
				t.Fatal(err)
			}
			if ran := a.Stats.ExecutionCount.Load() - before; ran >= uint64(behind/2) {
				t.Fatalf("a request to model b took as long as %d of flooded a's batches (its queue is %d batches)", ran, behind)
			}
		}
		cancel()
		wg.Wait()
	})
}

// Admission never lets the queue count pass its bound, not even for an
// instant: the queue-length metric is read while requests are refused.
func TestAdmitNeverOvershoots(t *testing.T) {
	for _, tc := range []struct {
		queued, n, limit int64
		ok               bool
	}{
		{0, 1, 1, true},
		{0, 4, 4, true},
		{3, 2, 4, false},
		{4, 1, 4, false},
		{0, 5, 4, false},
	} {
		var q atomic.Int64
		q.Store(tc.queued)
		if ok := admit(&q, int(tc.n), int(tc.limit)); ok != tc.ok {
			t.Fatalf("admit(%d to %d of %d) = %v", tc.n, tc.queued, tc.limit, ok)
		}
		want := tc.queued
		if tc.ok {
			want += tc.n
		}
		if q.Load() != want {
			t.Fatalf("queued %d after admit(%d to %d of %d), want %d", q.Load(), tc.n, tc.queued, tc.limit, want)
		}
	}

	// Many requesters at once, each a few images, against a small bound:
	// a reader polling the count never sees it above the bound.
	var q atomic.Int64
	const limit = 8
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var peak atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if v := q.Load(); v > peak.Load() {
				peak.Store(v)
			}
		}
	}()
	var workers sync.WaitGroup
	for range 8 {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for range 2000 {
				if admit(&q, 3, limit) {
					q.Add(-3)
				}
			}
		}()
	}
	workers.Wait()
	close(stop)
	wg.Wait()
	if peak.Load() > limit {
		t.Fatalf("the queue count reached %d, over its bound %d", peak.Load(), limit)
	}
}
