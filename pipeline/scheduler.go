package pipeline

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trtserve/trtserve/engines"
)

// batch is a set being filled with items, slot k holding items[k].
type batch struct {
	set     *bufSet
	items   []*item
	first   time.Time      // admission of the oldest item: the delay counts from it
	pending sync.WaitGroup // decodes still writing into the set
}

func (m *Model) doParallel(items []*item, errs []error) {
	if !admit(&m.reserved, len(items), m.opts.MaxQueueSize) {
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
// decideBatch makes every choice; fill carries it out. Images the rule
// leaves for the next batch wait in m.held, unclaimed, so that the
// batcher still wakes when one arrives.
func (m *Model) fill(b *batch) bool {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		m.look(m.policy.target() - len(b.items))
		oldest := b.first
		if len(b.items) == 0 && len(m.held) > 0 {
			oldest = m.held[0].enq
		}
		n := len(b.items)
		d := decideBatch(m.policy, n, len(m.held), oldest, time.Now())
		for _, it := range m.held[:d.Take] {
			m.claim(b, it)
		}
		m.held = slices.Delete(m.held, 0, d.Take)
		if len(b.items) < n+d.Take {
			continue // some had given up before their slot: decide on what is left
		}
		var offer chan *batch
		var timerC <-chan time.Time
		switch d.Ship {
		case shipFull:
			m.full <- b // cap is the number of sets: never blocks
			return true
		case shipIdle:
			offer = m.ready
		case keep:
			if d.Wait > 0 {
				if timer == nil {
					timer = time.NewTimer(d.Wait)
				} else {
					timer.Reset(d.Wait)
				}
				timerC = timer.C
			}
		}
		select {
		case it := <-m.queue:
			m.held = append(m.held, it)
		case offer <- b:
			return true
		case <-timerC:
		case <-m.stop:
			b.pending.Wait()
			for _, it := range slices.Concat(b.items, m.held) {
				it.fail(ErrClosed)
			}
			m.held = nil
			m.free <- b.set
			return false
		}
	}
}

// look moves queued images into m.held, the batcher's view of the head of
// the queue, until it holds n or the queue is empty. It never blocks.
func (m *Model) look(n int) {
	for len(m.held) < n {
		select {
		case it := <-m.queue:
			m.held = append(m.held, it)
		default:
			return
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
	err := guard(StagePreprocess, func() error { return it.work.Preprocess(slots(b.set.in, b.set.inItem, k)) })
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
		err := guard(StageInfer, func() error {
			return sub.Submit(size, set.in, set.out, func(err error) {
				if err != nil {
					err = &StageError{StageInfer, err}
				}
				m.complete(b, size, live, input, time.Since(t0), err)
			})
		})
		if err != nil {
			m.complete(b, size, live, input, time.Since(t0), err)
		}
		return
	}
	err := guard(StageInfer, func() error { return run.Run(context.Background(), size, set.in, set.out) })
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
				err := guard(StagePostprocess, func() error { return it.work.Postprocess(slots(set.out, set.outItem, k)) })
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
