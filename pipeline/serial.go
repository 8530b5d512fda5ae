package pipeline

import (
	"time"

	"github.com/trtserve/trtserve/engines"
)

type serialInstance struct {
	run engines.Instance
	set *bufSet
}

// doSerial runs each item on this goroutine with an instance held from
// decode to postprocess: the accelerator idles while the CPU works, as in
// a server without a pipeline.
func (m *Model) doSerial(items []*item, errs []error) {
	if !admit(&m.waiting, len(items), m.opts.MaxQueueSize) {
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
	if err := guard(StagePreprocess, func() error { return it.work.Preprocess(slots(set.in, set.inItem, 0)) }); err != nil {
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
	if err := guard(StageInfer, func() error { return inst.run.Run(it.ctx, batch, set.in, set.out) }); err != nil {
		return err
	}
	t2 := time.Now()
	it.infer = t2.Sub(t1)
	m.Stats.execution(batch, it.decode, it.infer)
	err := guard(StagePostprocess, func() error { return it.work.Postprocess(slots(set.out, set.outItem, 0)) })
	it.post = time.Since(t2)
	m.Stats.batchOutput(batch, it.post)
	return err
}
