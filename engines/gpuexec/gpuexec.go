package gpuexec

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/trtserve/trtserve/cuda"
	"github.com/trtserve/trtserve/engines"
)

// Compute is the network: Enqueue queues it on stream for batch items,
// reading the device inputs in and writing the device outputs out (one
// address per tensor, each holding at least batch items). It must record
// consumed on stream once the inputs may be overwritten (TensorRT does
// this itself through setInputConsumedEvent; a plain kernel records it
// after itself). Enqueue is only ever called from the instance's own
// goroutine.
type Compute interface {
	Enqueue(stream cuda.Stream, batch int, in, out []cuda.DevicePtr, consumed cuda.Event) error
	Close() error
}

// Options describe one instance.
type Options struct {
	Runtime cuda.Runtime
	Device  int
	// Depth is how many batches may be on the device at once: 2 lets copies
	// overlap compute, 1 serializes them (the baseline of the overlap
	// benchmark).
	Depth int
	// MaxBatch and the per-item byte sizes of each input and output size
	// the device buffers.
	MaxBatch          int
	InBytes, OutBytes []int
	// NewCompute makes the network's per-instance state on the instance's
	// own thread (a TensorRT execution context is bound to the thread's
	// device).
	NewCompute func() (Compute, error)
}

// Instance is one execution context with its streams and device buffers;
// it implements engines.Submitter.
type Instance struct {
	opts  Options
	rt    cuda.Runtime
	jobs  chan job
	slots chan struct{} // Depth tokens: a batch holds one while in flight
	wake  chan wait     // batches whose last event the waiter syncs on
	wg    sync.WaitGroup

	mu     sync.Mutex // guards closed
	closed bool
	// fault is the sticky device error a batch failed with: after one the
	// device is lost for the process (cuda.ErrDeviceFault), so later
	// batches fail at once instead of queueing work CUDA will refuse. Not
	// under mu: Submit holds mu while it waits for a slot, which the
	// waiter frees after noting the fault.
	fault atomic.Pointer[error]
}

type job struct {
	batch   int
	in, out []*engines.HostBuffer
	done    func(error)
}

type wait struct {
	ev   cuda.Event
	done func(error)
	err  error
}

type ring struct {
	in, out                      [][]cuda.DevicePtr // [slot][tensor]
	h2d, consumed, computed, d2h []cuda.Event
}

// New starts an instance: its goroutine creates the streams, events,
// device buffers and the Compute; an error there is returned here.
func New(opts Options) (*Instance, error) {
	if opts.Depth < 1 {
		opts.Depth = 2
	}
	if opts.MaxBatch < 1 {
		return nil, fmt.Errorf("gpuexec: max batch %d", opts.MaxBatch)
	}
	in := &Instance{
		opts: opts, rt: opts.Runtime,
		jobs:  make(chan job),
		slots: make(chan struct{}, opts.Depth),
		wake:  make(chan wait, opts.Depth),
	}
	for range opts.Depth {
		in.slots <- struct{}{}
	}
	started := make(chan error, 1)
	in.wg.Add(2)
	go in.own(started)
	go in.waiter()
	if err := <-started; err != nil {
		in.wg.Wait()
		return nil, err
	}
	return in, nil
}

// Depth is how many batches may be in flight.
func (in *Instance) Depth() int { return in.opts.Depth }

// Fault is the sticky device error (cuda.ErrDeviceFault) a batch of this
// instance failed with, or nil while the device is sound.
func (in *Instance) Fault() error {
	if p := in.fault.Load(); p != nil {
		return *p
	}
	return nil
}

func (in *Instance) noteFault(err error) {
	if cuda.IsDeviceFault(err) {
		in.fault.CompareAndSwap(nil, &err)
	}
}

// Run is Submit and wait.
func (in *Instance) Run(ctx context.Context, batch int, inBufs, outBufs []*engines.HostBuffer) error {
	res := make(chan error, 1)
	if err := in.Submit(batch, inBufs, outBufs, func(err error) { res <- err }); err != nil {
		return err
	}
	return <-res // the buffers are the caller's: wait even if ctx ends
}

// Submit queues a batch; it blocks while Depth batches are in flight.
func (in *Instance) Submit(batch int, inBufs, outBufs []*engines.HostBuffer, done func(error)) error {
	if batch < 1 || batch > in.opts.MaxBatch {
		return fmt.Errorf("%w: batch %d outside 1..%d", engines.ErrBadShape, batch, in.opts.MaxBatch)
	}
	if len(inBufs) != len(in.opts.InBytes) || len(outBufs) != len(in.opts.OutBytes) {
		return fmt.Errorf("%w: %d inputs and %d outputs given, engine has %d and %d", engines.ErrBadShape,
			len(inBufs), len(outBufs), len(in.opts.InBytes), len(in.opts.OutBytes))
	}
	for i, b := range inBufs {
		if b.Len() < batch*in.opts.InBytes[i] {
			return fmt.Errorf("%w: input %d holds %d bytes, batch %d needs %d", engines.ErrBadShape, i, b.Len(), batch, batch*in.opts.InBytes[i])
		}
	}
	for i, b := range outBufs {
		if b.Len() < batch*in.opts.OutBytes[i] {
			return fmt.Errorf("%w: output %d holds %d bytes, batch %d needs %d", engines.ErrBadShape, i, b.Len(), batch, batch*in.opts.OutBytes[i])
		}
	}
	in.mu.Lock()
	if in.closed {
		in.mu.Unlock()
		return cuda.ErrClosed
	}
	if err := in.Fault(); err != nil {
		in.mu.Unlock()
		return fmt.Errorf("gpuexec: the device failed earlier: %w", err)
	}
	// Sending under the lock keeps Close from closing jobs under us; the
	// owner goroutine never takes the lock, so it always drains.
	<-in.slots
	in.jobs <- job{batch, inBufs, outBufs, done}
	in.mu.Unlock()
	return nil
}

// Close waits for the batches in flight, then frees everything; it is safe
// to call twice.
func (in *Instance) Close() error {
	in.mu.Lock()
	if in.closed {
		in.mu.Unlock()
		return nil
	}
	in.closed = true
	close(in.jobs)
	in.mu.Unlock()
	in.wg.Wait()
	return nil
}

// own is the instance's thread: every native call but the waiter's.
func (in *Instance) own(started chan<- error) {
	defer in.wg.Done()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	rt := in.rt
	var (
		streams  [3]cuda.Stream // copy-in, compute, copy-out
		r        ring
		compute  Compute
		cleanups []func() error
	)
	cleanup := func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}
	setup := func() error {
		if err := rt.SetDevice(in.opts.Device); err != nil {
			return err
		}
		// Copies get the higher priority: they are short and gate the
		// compute of the next batch.
		least, greatest, err := rt.StreamPriorityRange()
		if err != nil {
			return err
		}
		for i, prio := range []int{greatest, least, greatest} {
			s, err := rt.StreamCreate(prio)
			if err != nil {
				return err
			}
			streams[i] = s
			cleanups = append(cleanups, func() error { return rt.StreamDestroy(s) })
		}
		event := func(flags cuda.EventFlags) (cuda.Event, error) {
			e, err := rt.EventCreate(flags)
			if err == nil {
				cleanups = append(cleanups, func() error { return rt.EventDestroy(e) })
			}
			return e, err
		}
		buffers := func(sizes []int) ([]cuda.DevicePtr, error) {
			var ptrs []cuda.DevicePtr
			for _, n := range sizes {
				p, err := rt.Malloc(max(n*in.opts.MaxBatch, 1))
				if err != nil {
					return nil, err
				}
				ptrs = append(ptrs, p)
				cleanups = append(cleanups, func() error { return rt.Free(p) })
			}
			return ptrs, nil
		}
		for range in.opts.Depth {
			bi, err := buffers(in.opts.InBytes)
			if err != nil {
				return err
			}
			bo, err := buffers(in.opts.OutBytes)
			if err != nil {
				return err
			}
			r.in, r.out = append(r.in, bi), append(r.out, bo)
			var evs [4]cuda.Event
			for i := range evs {
				flags := cuda.EventDisableTiming
				if i == 3 {
					flags |= cuda.EventBlockingSync // the waiter sleeps on this one
				}
				if evs[i], err = event(flags); err != nil {
					return err
				}
			}
			r.h2d, r.consumed = append(r.h2d, evs[0]), append(r.consumed, evs[1])
			r.computed, r.d2h = append(r.computed, evs[2]), append(r.d2h, evs[3])
		}
		c, err := in.opts.NewCompute()
		if err != nil {
			return err
		}
		compute = c
		cleanups = append(cleanups, c.Close)
		return nil
	}
	if err := setup(); err != nil {
		cleanup()
		close(in.wake)
		started <- err
		return
	}
	started <- nil
	used := make([]bool, in.opts.Depth)
	next := 0
	for j := range in.jobs {
		slot := next % in.opts.Depth
		next++
		err := in.enqueue(streams, &r, slot, used[slot], compute, j)
		used[slot] = true
		if err != nil {
			// Part of the batch may be queued: let it finish before the
			// caller gets its buffers back.
			for _, s := range streams {
				rt.StreamSynchronize(s)
			}
		}
		in.wake <- wait{r.d2h[slot], j.done, err}
	}
	close(in.wake)
	// The waiter has synced every batch's last event; drain what else
	// might still reference the buffers before freeing them.
	for _, s := range streams {
		if s != 0 {
			rt.StreamSynchronize(s)
		}
	}
	cleanup()
}

// enqueue queues one batch on the three streams. Slot reuse is ordered on
// the device: the copy-in waits until the slot's previous inputs were
// consumed, the compute until its previous outputs were copied out.
func (in *Instance) enqueue(st [3]cuda.Stream, r *ring, slot int, used bool, c Compute, j job) error {
	rt := in.rt
	cin, comp, cout := st[0], st[1], st[2]
	if used {
		if err := rt.StreamWaitEvent(cin, r.consumed[slot]); err != nil {
			return err
		}
	}
	for t, b := range j.in {
		if err := rt.MemcpyHtoDAsync(r.in[slot][t], hostPtr(b), j.batch*in.opts.InBytes[t], cin); err != nil {
			return fmt.Errorf("input copy: %w", err)
		}
	}
	if err := rt.EventRecord(r.h2d[slot], cin); err != nil {
		return err
	}
	if err := rt.StreamWaitEvent(comp, r.h2d[slot]); err != nil {
		return err
	}
	if used {
		if err := rt.StreamWaitEvent(comp, r.d2h[slot]); err != nil {
			return err
		}
	}
	if err := c.Enqueue(comp, j.batch, r.in[slot], r.out[slot], r.consumed[slot]); err != nil {
		// Keep the slot's events in order for the next user of the slot.
		rt.EventRecord(r.consumed[slot], comp)
		rt.EventRecord(r.d2h[slot], comp)
		return err
	}
	if err := rt.EventRecord(r.computed[slot], comp); err != nil {
		return err
	}
	if err := rt.StreamWaitEvent(cout, r.computed[slot]); err != nil {
		return err
	}
	for t, b := range j.out {
		if err := rt.MemcpyDtoHAsync(hostPtr(b), r.out[slot][t], j.batch*in.opts.OutBytes[t], cout); err != nil {
			return fmt.Errorf("output copy: %w", err)
		}
	}
	return rt.EventRecord(r.d2h[slot], cout)
}

// waiter reports each batch when its last event has fired, in submission
// order, then frees its slot.
func (in *Instance) waiter() {
	defer in.wg.Done()
	// The runtime would otherwise make device 0 current on this thread
	// (and create a context there) for the wait.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	devErr := in.rt.SetDevice(in.opts.Device)
	for w := range in.wake {
		if w.err == nil && devErr != nil {
			w.err = devErr
		}
		err := w.err
		if err == nil {
			err = in.rt.EventSynchronize(w.ev)
		}
		in.noteFault(err)
		in.slots <- struct{}{}
		w.done(err)
	}
}

// hostPtr is the C address of a host buffer (pinned memory from the pool).
func hostPtr(b *engines.HostBuffer) unsafe.Pointer {
	mem := b.Bytes()
	if len(mem) == 0 {
		return nil
	}
	return unsafe.Pointer(&mem[0])
}

// PinnedAllocator hands the pipeline batch buffers from a pinned pool.
type PinnedAllocator struct{ Pool *cuda.Pool }

// Alloc takes a block from the pool.
func (a PinnedAllocator) Alloc(size int) (*engines.HostBuffer, error) {
	blk, err := a.Pool.Get(size)
	if err != nil {
		return nil, err
	}
	return engines.NewHostBuffer(blk.Bytes(), func([]byte) error { return blk.Release() }), nil
}

var _ engines.Submitter = (*Instance)(nil)
