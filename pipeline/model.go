package pipeline

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trtserve/trtserve/engines"
	"github.com/trtserve/trtserve/model"
)

// Model is a loaded model: its engine, its instances and the batch
// buffers they run on, and the scheduler requests go through.
type Model struct {
	Spec   *model.Spec
	Engine engines.Engine
	Stats  *Stats
	opts   Options

	maxBatch int // the engine's largest batch: every buffer set holds this many
	policy   batchPolicy
	pools    *pools
	sets     []*bufSet
	runs     []engines.Instance
	lastUsed atomic.Int64 // unix nanoseconds, for least-recently-used unloading

	// serial mode: instances (with their buffer set) lent to one requester.
	lent    chan serialInstance
	waiting atomic.Int64

	// parallel mode
	queue    chan *item   // admitted images in arrival order, room for MaxQueueSize
	held     []*item      // the batcher's: taken off queue, left for the next batch by the rule
	reserved atomic.Int64 // images admitted and not yet given a slot: the admission bound
	free     chan *bufSet // sets nobody is filling, running or postprocessing
	full     chan *batch  // complete batches waiting for an instance
	ready    chan *batch  // unbuffered: a send succeeds only when an instance is idle
	stop     chan struct{}
	wg       sync.WaitGroup // the former and instance goroutines

	// inflight counts Do calls so Close waits for them.
	inflight sync.WaitGroup
	mu       sync.Mutex // guards closed
	closed   bool
}

// bufSet is one batch's worth of input and output buffers.
type bufSet struct {
	in, out         []*engines.HostBuffer
	inItem, outItem []int // elements of one batch item per tensor
	dirty           int   // slots [0, dirty) may hold old data (padding zeroes the rest)
}

func newModel(spec *model.Spec, eng engines.Engine, alloc engines.Allocator, opts Options, p *pools) (*Model, error) {
	opts = opts.withDefaults()
	m := &Model{Spec: spec, Engine: eng, opts: opts, pools: p, maxBatch: eng.MaxBatch()}
	m.Stats = newStats(m.maxBatch)
	m.policy = newBatchPolicy(m.maxBatch, opts.PreferredBatchSizes, opts.MaxQueueDelay)
	n := max(spec.InstanceCount, 1)
	if bp, ok := eng.(engines.BufferProvider); ok {
		alloc = bp.Allocator()
	}
	depth := opts.RingDepth
	if opts.Mode == Serial {
		depth = 1
	}
	fail := func(err error) (*Model, error) {
		m.freeAll()
		return nil, err
	}
	for range n {
		run, err := eng.NewInstance()
		if err != nil {
			return fail(err)
		}
		m.runs = append(m.runs, run)
		sets := depth
		if sub, ok := run.(engines.Submitter); ok && opts.Mode != Serial {
			// Depth batches in flight on the device, plus one filling and
			// one in postprocess.
			sets = max(depth, sub.Depth()+2)
		}
		for range sets {
			set, err := newBufSet(eng, alloc, m.maxBatch)
			if err != nil {
				return fail(err)
			}
			m.sets = append(m.sets, set)
		}
	}
	// Warm up every instance before the model is reported loaded (Triton's
	// model_warmup): first runs allocate and tune, and a model that loads
	// but cannot run fails its load here instead of its first request.
	for _, run := range m.runs {
		if !opts.Warmup {
			break
		}
		set := m.sets[0]
		for _, b := range set.in {
			clear(b.Bytes())
		}
		set.dirty = 0
		for _, size := range warmupSizes(eng, m.maxBatch) {
			if err := guard(StageWarmup, func() error { return run.Run(context.Background(), size, set.in, set.out) }); err != nil {
				return fail(fmt.Errorf("warm-up at batch %d: %w", size, err))
			}
		}
	}
	m.lastUsed.Store(time.Now().UnixNano())
	if opts.Mode == Serial {
		m.lent = make(chan serialInstance, n)
		for i, run := range m.runs {
			m.lent <- serialInstance{run, m.sets[i*depth]}
		}
		return m, nil
	}
	m.queue = make(chan *item, opts.MaxQueueSize)
	m.free = make(chan *bufSet, len(m.sets))
	m.full = make(chan *batch, len(m.sets))
	m.ready = make(chan *batch)
	m.stop = make(chan struct{})
	for _, s := range m.sets {
		m.free <- s
	}
	m.wg.Add(1 + len(m.runs))
	go m.form()
	for _, run := range m.runs {
		go m.serve(run)
	}
	return m, nil
}

// warmupSizes are the batch sizes an instance runs before serving: the
// engine's own list when it has one (engines.WarmupSizer), clipped to what
// the buffers hold; else the one size a fixed-batch engine runs, or 1.
func warmupSizes(eng engines.Engine, maxBatch int) []int {
	if eng.FixedBatch() {
		return []int{maxBatch}
	}
	if w, ok := eng.(engines.WarmupSizer); ok {
		sizes := slices.DeleteFunc(slices.Clone(w.WarmupBatches()), func(n int) bool { return n < 1 || n > maxBatch })
		if len(sizes) > 0 {
			return sizes
		}
	}
	return []int{1}
}

func newBufSet(eng engines.Engine, alloc engines.Allocator, batch int) (*bufSet, error) {
	s := &bufSet{dirty: batch} // allocators need not zero memory
	alloc1 := func(ts []model.TensorInfo) (bufs []*engines.HostBuffer, items []int, err error) {
		for _, t := range ts {
			n := t.ElemsPerItem()
			if n <= 0 {
				return bufs, items, fmt.Errorf("%w: %s has no fixed per-item size", engines.ErrBadShape, t)
			}
			buf, err := alloc.Alloc(n * batch * 4)
			if err != nil {
				return bufs, items, err
			}
			bufs, items = append(bufs, buf), append(items, n)
		}
		return bufs, items, nil
	}
	var err error
	s.in, s.inItem, err = alloc1(eng.Inputs())
	if err == nil {
		s.out, s.outItem, err = alloc1(eng.Outputs())
	}
	if err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

func (s *bufSet) close() {
	for _, b := range append(s.in, s.out...) {
		b.Close()
	}
}

// slots are the views of batch item k of every input (or output) buffer.
func slots(bufs []*engines.HostBuffer, item []int, k int) [][]float32 {
	out := make([][]float32, len(bufs))
	for t, b := range bufs {
		f := b.Float32s()
		out[t] = f[k*item[t] : (k+1)*item[t]]
	}
	return out
}

// pad zeroes slots [n, batch) that earlier batches wrote, for engines that
// only run full batches.
func (s *bufSet) pad(n int) {
	for k := n; k < s.dirty; k++ {
		for _, v := range slots(s.in, s.inItem, k) {
			clear(v)
		}
	}
	s.dirty = n
}

// MaxBatch is the largest batch the model runs.
func (m *Model) MaxBatch() int { return m.maxBatch }

// Options are the scheduling settings the model runs with.
func (m *Model) Options() Options { return m.opts }

// Mode reports how the model schedules requests.
func (m *Model) Mode() Mode { return m.opts.Mode }

// QueueLen is the number of images waiting for admission into a batch.
func (m *Model) QueueLen() int {
	if m.opts.Mode == Serial {
		return int(m.waiting.Load())
	}
	return int(m.reserved.Load())
}

// Do runs each work and returns one error per work (nil on success); a
// failed work never fails the others. A request whose images do not all
// fit in the queue now fails whole with ErrBusy; one of more images than
// the queue holds at all fails whole with a *TooLargeError (ErrTooLarge),
// since retrying cannot help. When ctx ends, Do returns ctx's error for
// unfinished works; no Work method runs after Do returns.
func (m *Model) Do(ctx context.Context, works []Work) []error {
	errs := make([]error, len(works))
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		for i := range errs {
			errs[i] = ErrClosed
		}
		return errs
	}
	if limit := m.opts.MaxQueueSize; len(works) > limit {
		m.mu.Unlock()
		err := m.TooLarge(len(works))
		for i := range errs {
			errs[i] = err
		}
		m.Stats.request(nil, errs[:1], time.Now())
		return errs
	}
	m.inflight.Add(1)
	m.mu.Unlock()
	defer m.inflight.Done()
	start := time.Now()
	m.lastUsed.Store(start.UnixNano())
	items := make([]*item, len(works))
	for i, w := range works {
		items[i] = newItem(ctx, w)
	}
	m.Stats.Pending.Add(int64(len(items)))
	defer m.Stats.Pending.Add(-int64(len(items)))
	if m.opts.Mode == Serial {
		m.doSerial(items, errs)
	} else {
		m.doParallel(items, errs)
	}
	m.Stats.request(items, errs, start)
	return errs
}

// TooLarge is the error of a request of n images when n is more than the
// model's queue holds (MaxQueueSize): it can never be admitted.
func (m *Model) TooLarge(n int) error {
	return &TooLargeError{What: "images", Got: int64(n), Limit: int64(m.opts.MaxQueueSize),
		Bound: "model " + m.Spec.ID() + "'s max_queue_size"}
}

// admit adds n images to queued unless that would take it past limit. It
// never adds and takes back, so QueueLen, scraped as a metric while
// requests are being refused, never reads above the bound.
func admit(queued *atomic.Int64, n, limit int) bool {
	for {
		cur := queued.Load()
		if cur+int64(n) > int64(limit) {
			return false
		}
		if queued.CompareAndSwap(cur, cur+int64(n)) {
			return true
		}
	}
}

// Close waits for in-flight requests, stops the scheduler, then frees the
// buffers, instances and engine.
func (m *Model) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.mu.Unlock()
	m.inflight.Wait()
	if m.stop != nil {
		close(m.stop)
		m.wg.Wait()
	}
	m.freeAll()
	return m.Engine.Close()
}

// freeAll closes the instances first: closing one waits for the batches it
// still has on the device, which may be writing into the sets.
func (m *Model) freeAll() {
	for _, r := range m.runs {
		r.Close()
	}
	for _, s := range m.sets {
		s.close()
	}
	m.sets, m.runs = nil, nil
}
