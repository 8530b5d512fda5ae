package pipeline

import (
	"context"
	"sync"
	"time"
)

// itemState is where one image is on its trip. Workers move it forward
// with start/finish; the requester may cancel it at any time.
type itemState uint8

const (
	stQueued    itemState = iota // admitted, waiting for a slot or for decode
	stDecoding                   // Preprocess is running
	stReady                      // in its slot, decoded; waiting for or in inference
	stPost                       // Postprocess is running
	stDone                       // reply sent
	stCancelled                  // the requester gave up; workers skip it
)

// item is one Work admitted to a model. Its reply channel is buffered(1) so
// a worker never blocks on a requester that has gone.
type item struct {
	work  Work
	ctx   context.Context
	reply chan error
	enq   time.Time
	// claimed is closed when the batcher takes the item from the queue;
	// only items of requests fed in gradually have one.
	claimed chan struct{}

	// Stage timings, written by the worker that runs the stage and read by
	// the requester after the reply (the channel orders them).
	queued, decode, infer, post time.Duration

	mu     sync.Mutex // guards state and waiter
	state  itemState
	waiter chan struct{} // closed when a running stage ends after cancel
}

func newItem(ctx context.Context, w Work) *item {
	return &item{work: w, ctx: ctx, reply: make(chan error, 1), enq: time.Now()}
}

// start moves the item from one waiting state into a running stage. It
// fails when the requester cancelled (or the deadline passed) first, so a
// Work's methods never run after its Do returned.
func (it *item) start(from, to itemState) bool {
	if it.ctx.Err() != nil {
		it.mu.Lock()
		if it.state == from {
			it.state = stCancelled
		}
		it.mu.Unlock()
		return false
	}
	it.mu.Lock()
	defer it.mu.Unlock()
	if it.state != from {
		return false
	}
	it.state = to
	return true
}

// finish ends a running stage. With err != nil or next == stDone the reply
// is sent. It reports false when the requester cancelled during the stage
// (it has been told the stage ended; nothing more may run).
func (it *item) finish(next itemState, err error) bool {
	it.mu.Lock()
	defer it.mu.Unlock()
	if it.waiter != nil {
		it.state = stCancelled
		close(it.waiter)
		return false
	}
	if err != nil {
		next = stDone
	}
	it.state = next
	if next == stDone {
		it.reply <- err
	}
	return true
}

// fail ends an item that is not in a running stage (queued or ready) with
// err, unless the requester already cancelled it.
func (it *item) fail(err error) {
	it.mu.Lock()
	defer it.mu.Unlock()
	if it.state == stQueued || it.state == stReady {
		it.state = stDone
		it.reply <- err
	}
}

// live reports whether the item still waits for a result.
func (it *item) live() bool {
	it.mu.Lock()
	defer it.mu.Unlock()
	return it.state == stReady
}

// cancel is called by the requester when its context ends. A waiting item
// is dropped at once; a running stage is waited for (it is short: one
// decode or one postprocess), so the Work is never touched after Do
// returns. It returns the reply when the item had already finished.
func (it *item) cancel() (error, bool) {
	it.mu.Lock()
	switch it.state {
	case stQueued, stReady:
		it.state = stCancelled
		it.mu.Unlock()
		return nil, false
	case stDecoding, stPost:
		w := make(chan struct{})
		it.waiter = w
		it.mu.Unlock()
		<-w
		return nil, false
	case stDone:
		it.mu.Unlock()
		return <-it.reply, true
	}
	it.mu.Unlock()
	return nil, false
}

// wait blocks until the item's reply or its context's end.
func (it *item) wait() error {
	select {
	case err := <-it.reply:
		return err
	case <-it.ctx.Done():
		if err, ok := it.cancel(); ok {
			return err
		}
		return it.ctx.Err()
	}
}
