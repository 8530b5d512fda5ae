package pipeline

import (
	"context"
	"fmt"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trtserve/trtserve/engines"
	"github.com/trtserve/trtserve/model"
)

// Mode picks how a model runs its requests.
type Mode string

const (
	// Parallel: admission queue, decode pool, dynamic batcher, instances
	// with buffer rings, postprocess pool (DESIGN.md §3).
	Parallel Mode = "parallel"
	// Serial: decode → infer at batch 1 → postprocess on the requester's
	// goroutine, holding an instance throughout. The baseline.
	Serial Mode = "serial"
)

// ParseMode reads --pipeline.
func ParseMode(s string) (Mode, error) {
	switch Mode(s) {
	case Parallel, Serial:
		return Mode(s), nil
	}
	return "", fmt.Errorf("pipeline must be parallel or serial, got %q", s)
}

// Options are one model's scheduling settings: Triton's dynamic_batching
// fields plus the pipeline's own.
type Options struct {
	Mode Mode
	// MaxQueueSize bounds the images admitted and not yet in a batch slot
	// (serial: not yet holding an instance). A request that does not fit
	// fails with ErrBusy at once.
	MaxQueueSize int
	// MaxQueueDelay is how long a partial batch may wait for more images
	// once an instance is free (Triton's max_queue_delay_microseconds; 0
	// ships what is ready).
	MaxQueueDelay time.Duration
	// PreferredBatchSizes are shipped without waiting out MaxQueueDelay;
	// the largest one is the batch the batcher aims for.
	PreferredBatchSizes []int
	// RingDepth is the number of batch buffer sets per instance (≥2): one
	// filling while another runs and a third being postprocessed.
	RingDepth int
	// Warmup runs every instance once on zeros before the model serves, so
	// a model is ready only once it has run (Triton's model_warmup). The
	// Manager always sets it.
	Warmup bool
}

// DefaultMaxQueueSize admits 1000 concurrent single-image clients per
// model with room to spare (the seed's benchmark runs 1000 at once).
const DefaultMaxQueueSize = 2048

// DefaultRingDepth: one set forming, one running, one in postprocess.
const DefaultRingDepth = 3

func (o Options) withDefaults() Options {
	if o.Mode == "" {
		o.Mode = Parallel
	}
	if o.MaxQueueSize <= 0 {
		o.MaxQueueSize = DefaultMaxQueueSize
	}
	if o.RingDepth < 2 {
		o.RingDepth = DefaultRingDepth
	}
	return o
}

// Model is a loaded model: its engine, its instances and the batch
// buffers they run on, and the scheduler requests go through.
type Model struct {
	Spec   *model.Spec
	Engine engines.Engine
	Stats  *Stats
	opts   Options

	maxBatch int // the engine's largest batch: every buffer set holds this many
	target   int // the batch size the batcher aims for
	pools    *pools
	sets     []*bufSet
	runs     []engines.Instance
	lastUsed atomic.Int64 // unix nanoseconds, for least-recently-used unloading

	// serial mode: instances (with their buffer set) lent to one requester.
	lent    chan serialInstance
	waiting atomic.Int64

	// parallel mode
	queue    chan *item   // admitted images in arrival order, room for MaxQueueSize
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

type serialInstance struct {
	run engines.Instance
	set *bufSet
}

// pools are the decode and postprocess workers, shared by every model so
// CPU work is bounded by the machine, not by the number of models.
type pools struct {
	decode, post *pool
}

// bufSet is one batch's worth of input and output buffers.
type bufSet struct {
	in, out         []*engines.HostBuffer
	inItem, outItem []int // elements of one batch item per tensor
	dirty           int   // slots [0, dirty) may hold old data (padding zeroes the rest)
}

// batch is a set being filled with items, slot k holding items[k].
type batch struct {
	set     *bufSet
	items   []*item
	first   time.Time      // admission of the oldest item: the delay counts from it
	pending sync.WaitGroup // decodes still writing into the set
}

func newModel(spec *model.Spec, eng engines.Engine, alloc engines.Allocator, opts Options, p *pools) (*Model, error) {
	opts = opts.withDefaults()
	m := &Model{Spec: spec, Engine: eng, opts: opts, pools: p, maxBatch: eng.MaxBatch()}
	m.Stats = newStats(m.maxBatch)
	m.target = m.maxBatch
	if ps := slices.DeleteFunc(slices.Clone(opts.PreferredBatchSizes), func(n int) bool { return n < 1 || n > m.maxBatch }); len(ps) > 0 {
		m.target = slices.Max(ps)
	}
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
			if err := guard("warm-up", func() error { return run.Run(context.Background(), size, set.in, set.out) }); err != nil {
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
// fit in the queue fails whole with ErrBusy. When ctx ends, Do returns
// ctx's error for unfinished works; no Work method runs after Do returns.
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

func (m *Model) doParallel(items []*item, errs []error) {
	n := int64(len(items))
	if m.reserved.Add(n) > int64(m.opts.MaxQueueSize) {
		m.reserved.Add(-n)
		for j := range errs {
			errs[j] = ErrBusy
		}
		return
	}
	// The queue has room for every reserved image, so these sends never
	// block. A request of more than a batch of images keeps only one batch
	// of them queued at a time: each next image enters when an earlier one
	// gets its slot. Other requests' images interleave with them instead
	// of waiting behind the whole request, so one huge request delays a
	// small one by about one batch, its fair share.
	w := min(len(items), m.maxBatch)
	if len(items) > w {
		for _, it := range items {
			it.claimed = make(chan struct{})
		}
	}
	for _, it := range items[:w] {
		m.queue <- it
	}
	fed := w
feed:
	for ; fed < len(items); fed++ {
		select {
		case <-items[fed-w].claimed:
			m.queue <- items[fed]
		case <-items[0].ctx.Done(): // one context for the whole request
			break feed
		}
	}
	m.reserved.Add(-int64(len(items) - fed)) // never queued: wait() drops them
	for i, it := range items {
		errs[i] = it.wait()
	}
}

func (m *Model) form() {
	defer m.wg.Done()
	for {
		var set *bufSet
		select {
		case set = <-m.free:
		case <-m.stop:
			return
		}
		if !m.fill(&batch{set: set, items: make([]*item, 0, m.maxBatch)}) {
			return
		}
	}
}

// fill claims items into b until it ships; false means the model stopped.
func (m *Model) fill(b *batch) bool {
	var timer *time.Timer
	var timerC <-chan time.Time
	delayPassed := m.opts.MaxQueueDelay <= 0
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
	greedy: // take everything already queued before offering a partial batch
		for len(b.items) < m.target {
			select {
			case it := <-m.queue:
				m.claim(b, it)
			default:
				break greedy
			}
		}
		n := len(b.items)
		if n == m.target {
			m.full <- b // cap is the number of sets: never blocks
			return true
		}
		var offer chan *batch
		if n > 0 {
			if delayPassed || (slices.Contains(m.opts.PreferredBatchSizes, n) && len(m.queue) == 0) {
				offer = m.ready
			} else if timerC == nil {
				timer = time.NewTimer(time.Until(b.first.Add(m.opts.MaxQueueDelay)))
				timerC = timer.C
			}
		}
		select {
		case it := <-m.queue:
			m.claim(b, it)
		case offer <- b:
			return true
		case <-timerC:
			delayPassed = true
		case <-m.stop:
			b.pending.Wait()
			for _, it := range b.items {
				it.fail(ErrClosed)
			}
			m.free <- b.set
			return false
		}
	}
}

// claim gives the item the next slot of b and queues its decode.
func (m *Model) claim(b *batch, it *item) {
	m.reserved.Add(-1)
	if it.claimed != nil {
		close(it.claimed)
	}
	if it.ctx.Err() != nil {
		it.start(stQueued, stCancelled) // gone before it got a slot
		return
	}
	k := len(b.items)
	if k == 0 {
		b.first = it.enq
	}
	b.items = append(b.items, it)
	b.pending.Add(1)
	m.pools.decode.submit(func() { m.decode(b, k, it) })
}

func (m *Model) decode(b *batch, k int, it *item) {
	defer b.pending.Done()
	if !it.start(stQueued, stDecoding) {
		return
	}
	t0 := time.Now()
	it.queued = t0.Sub(it.enq)
	err := guard("preprocess", func() error { return it.work.Preprocess(slots(b.set.in, b.set.inItem, k)) })
	it.decode = time.Since(t0)
	it.finish(stReady, err)
}

// serve is one instance: it runs complete batches first, else takes a
// partial batch the batcher offers while it is idle.
func (m *Model) serve(run engines.Instance) {
	defer m.wg.Done()
	for {
		var b *batch
		select {
		case b = <-m.full:
		default:
			select {
			case b = <-m.full:
			case b = <-m.ready:
			case <-m.stop:
				return
			}
		}
		m.execute(run, b)
	}
}

func (m *Model) execute(run engines.Instance, b *batch) {
	b.pending.Wait()
	var live []int
	n := 0
	for k, it := range b.items {
		if it.live() {
			live, n = append(live, k), k+1
		}
	}
	set := b.set
	if len(live) == 0 {
		m.free <- set
		return
	}
	size := n // holes before n (failed or cancelled images) run as they are; their outputs are dropped
	if m.Engine.FixedBatch() {
		size = m.maxBatch
		set.pad(n)
	} else {
		set.dirty = max(set.dirty, n)
	}
	var input time.Duration
	for _, k := range live {
		input += b.items[k].decode
	}
	t0 := time.Now()
	if sub, ok := run.(engines.Submitter); ok {
		// The instance overlaps this batch with the ones before it; the
		// rest happens when the device is done. infer time then includes
		// waiting behind the batch ahead on the device.
		err := guard("infer", func() error {
			return sub.Submit(size, set.in, set.out, func(err error) {
				if err != nil {
					err = &StageError{"infer", err}
				}
				m.complete(b, size, live, input, time.Since(t0), err)
			})
		})
		if err != nil {
			m.complete(b, size, live, input, time.Since(t0), err)
		}
		return
	}
	err := guard("infer", func() error { return run.Run(context.Background(), size, set.in, set.out) })
	m.complete(b, size, live, input, time.Since(t0), err)
}

// complete hands a batch that ran (or failed) to postprocessing.
func (m *Model) complete(b *batch, size int, live []int, input, d time.Duration, err error) {
	set := b.set
	m.Stats.execution(size, input, d)
	if err != nil {
		for _, k := range live {
			b.items[k].fail(err)
		}
		m.free <- set
		return
	}
	var remaining atomic.Int32
	var postNs atomic.Int64
	remaining.Store(int32(len(live)))
	for _, k := range live {
		it := b.items[k]
		it.infer = d
		m.pools.post.submit(func() {
			if it.start(stReady, stPost) {
				t0 := time.Now()
				err := guard("postprocess", func() error { return it.work.Postprocess(slots(set.out, set.outItem, k)) })
				it.post = time.Since(t0)
				postNs.Add(int64(it.post))
				it.finish(stDone, err)
			}
			if remaining.Add(-1) == 0 {
				m.Stats.batchOutput(size, time.Duration(postNs.Load()))
				m.free <- set
			}
		})
	}
}

// guard runs one stage, turning an error or a panic into a StageError so a
// bad image or a bug fails only its own request.
func guard(stage string, f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &StageError{stage, fmt.Errorf("panic: %v\n%s", r, debug.Stack())}
		}
	}()
	if err := f(); err != nil {
		return &StageError{stage, err}
	}
	return nil
}

// doSerial runs each item on this goroutine with an instance held from
// decode to postprocess: the accelerator idles while the CPU works, as in
// a server without a pipeline.
func (m *Model) doSerial(items []*item, errs []error) {
	if m.waiting.Add(int64(len(items))) > int64(m.opts.MaxQueueSize) {
		m.waiting.Add(-int64(len(items)))
		for i := range errs {
			errs[i] = ErrBusy
		}
		return
	}
	for i, it := range items {
		errs[i] = m.one(it)
	}
}

func (m *Model) one(it *item) error {
	var inst serialInstance
	select {
	case inst = <-m.lent:
		m.waiting.Add(-1)
	case <-it.ctx.Done():
		m.waiting.Add(-1)
		return it.ctx.Err()
	}
	defer func() { m.lent <- inst }()
	set := inst.set
	t0 := time.Now()
	it.queued = t0.Sub(it.enq)
	if err := guard("preprocess", func() error { return it.work.Preprocess(slots(set.in, set.inItem, 0)) }); err != nil {
		return err
	}
	t1 := time.Now()
	it.decode = t1.Sub(t0)
	batch := 1
	if m.Engine.FixedBatch() {
		batch = m.maxBatch
		set.pad(1) // serial writes only slot 0: the rest is zeroed once
	}
	if err := it.ctx.Err(); err != nil {
		return err
	}
	if err := guard("infer", func() error { return inst.run.Run(it.ctx, batch, set.in, set.out) }); err != nil {
		return err
	}
	t2 := time.Now()
	it.infer = t2.Sub(t1)
	m.Stats.execution(batch, it.decode, it.infer)
	err := guard("postprocess", func() error { return it.work.Postprocess(slots(set.out, set.outItem, 0)) })
	it.post = time.Since(t2)
	m.Stats.batchOutput(batch, it.post)
	return err
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
