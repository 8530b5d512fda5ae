package simgpu

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"unsafe"

	"github.com/trtserve/trtserve/cuda"
	"github.com/trtserve/trtserve/engines"
	"github.com/trtserve/trtserve/engines/gpuexec"
	"github.com/trtserve/trtserve/engines/simulated"
	"github.com/trtserve/trtserve/model"
)

// Name is the servable backend's name (serve --backend simulated-gpu, or
// backend: simulated-gpu in config.yaml). It says "simulated" because every
// answer it gives is synthetic.
const Name = model.BackendSimulatedGPU

// ErrUnavailable: the backend cannot start here (no GPU, no kernel).
var ErrUnavailable = errors.New("simulated-gpu backend unavailable")

// BackendOptions describe the device the backend runs on. The caller owns
// Runtime, Kernel and Pool and closes them after the backend.
type BackendOptions struct {
	Runtime cuda.Runtime
	Kernel  Launcher
	Device  int
	Pool    *cuda.Pool
	// Depth is device buffer sets per instance (2: copies overlap compute).
	Depth int
}

// Backend is the servable simulated GPU backend.
type Backend struct {
	o   BackendOptions
	sim *simulated.Backend
}

// NewBackend checks its options and returns the backend.
func NewBackend(o BackendOptions) (*Backend, error) {
	if o.Runtime == nil || o.Kernel == nil || o.Pool == nil {
		return nil, fmt.Errorf("%w: needs a CUDA runtime, the simulated kernel and a pinned pool", ErrUnavailable)
	}
	if o.Depth < 1 {
		o.Depth = 2
	}
	return &Backend{o: o, sim: simulated.New()}, nil
}

// Name implements engines.Backend.
func (*Backend) Name() string { return Name }

// Close implements engines.Backend; the runtime, kernel and pool are the
// caller's.
func (*Backend) Close() error { return nil }

// Load resolves the model's shapes and synthetic outputs as the simulated
// backend does (from the ONNX header; no weights are read) and uploads the
// outputs' variants to the device.
func (b *Backend) Load(ctx context.Context, m *model.Spec) (engines.Engine, error) {
	se, err := b.sim.Load(ctx, m)
	if err != nil {
		return nil, err
	}
	sim := se.(*simulated.Engine)
	e := &Engine{b: b, sim: sim, inBytes: sim.Inputs()[0].ElemsPerItem() * sim.Inputs()[0].DataType.Size()}
	for _, o := range sim.Outputs() {
		e.outBytes = append(e.outBytes, o.ElemsPerItem()*4) // the simulated outputs are FP32
	}
	err = cuda.OnDevice(b.o.Runtime, b.o.Device, func() error {
		rt := b.o.Runtime
		for i, n := range e.outBytes {
			d, err := rt.Malloc(n * sim.Variants())
			if err != nil {
				return fmt.Errorf("output %d templates: %w", i, err)
			}
			e.templates = append(e.templates, d)
			for v := range sim.Variants() {
				t := sim.Template(i, v)
				if err := rt.MemcpyHtoD(d+cuda.DevicePtr(v*n), unsafe.Slice((*byte)(unsafe.Pointer(&t[0])), n)); err != nil {
					return fmt.Errorf("output %d templates: %w", i, err)
				}
			}
		}
		return nil
	})
	if err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

// Engine is one model on the simulated GPU.
type Engine struct {
	b         *Backend
	sim       *simulated.Engine
	inBytes   int
	outBytes  []int
	templates []cuda.DevicePtr // per output: Variants() items, device memory
}

// Inputs implements engines.Engine.
func (e *Engine) Inputs() []model.TensorInfo { return e.sim.Inputs() }

// Outputs implements engines.Engine.
func (e *Engine) Outputs() []model.TensorInfo { return e.sim.Outputs() }

// MaxBatch implements engines.Engine.
func (e *Engine) MaxBatch() int { return e.sim.MaxBatch() }

// FixedBatch implements engines.Engine.
func (e *Engine) FixedBatch() bool { return e.sim.FixedBatch() }

// Allocator implements engines.BufferProvider: batch buffers come from the
// pinned pool, as the TensorRT backend's do.
func (e *Engine) Allocator() engines.Allocator { return gpuexec.PinnedAllocator{Pool: e.b.o.Pool} }

// Close frees the device templates (on the backend's device, so no other
// GPU gets a context).
func (e *Engine) Close() error {
	if len(e.templates) == 0 {
		return nil
	}
	ts := e.templates
	e.templates = nil
	rt := e.b.o.Runtime
	return cuda.OnDevice(rt, e.b.o.Device, func() error {
		var errs []error
		for _, d := range ts {
			errs = append(errs, rt.Free(d))
		}
		return errors.Join(errs...)
	})
}

// NewInstance implements engines.Engine: a GPU executor instance whose compute
// is the simulated kernel followed by device copies of the templates.
func (e *Engine) NewInstance() (engines.Instance, error) {
	in := &Instance{e: e}
	st, err := gpuexec.New(gpuexec.Options{
		Runtime: e.b.o.Runtime, Device: e.b.o.Device, Depth: e.b.o.Depth, MaxBatch: e.MaxBatch(),
		InBytes: []int{e.inBytes}, OutBytes: e.outBytes,
		NewCompute: func() (gpuexec.Compute, error) {
			scratch, err := e.b.o.Runtime.Malloc(e.MaxBatch())
			if err != nil {
				return nil, err
			}
			return &serveCompute{in: in, scratch: scratch}, nil
		},
	})
	if err != nil {
		return nil, err
	}
	in.st = st
	return in, nil
}

// Instance runs batches on the device; it implements engines.Submitter.
type Instance struct {
	e  *Engine
	st *gpuexec.Instance

	// submitMu keeps the order of variants pushed equal to the order of
	// batches handed to the executor instance, whose goroutine pops them.
	submitMu sync.Mutex
	mu       sync.Mutex // guards fifo
	fifo     [][]int    // per submitted batch, each item's variant
}

// Depth implements engines.Submitter.
func (in *Instance) Depth() int { return in.st.Depth() }

// Submit implements engines.Submitter. The variant of each item is chosen
// here, from a sample of its input bytes, because the host still owns the
// input; the device copies that variant's outputs.
func (in *Instance) Submit(batch int, inBufs, outBufs []*engines.HostBuffer, done func(error)) error {
	vs := make([]int, 0, batch)
	if len(inBufs) == 1 && batch >= 1 && inBufs[0].Len() >= batch*in.e.inBytes {
		b := inBufs[0].Bytes()
		for k := range batch {
			vs = append(vs, variant(b[k*in.e.inBytes:(k+1)*in.e.inBytes], in.e.sim.Variants()))
		}
	}
	in.submitMu.Lock()
	defer in.submitMu.Unlock()
	in.mu.Lock()
	in.fifo = append(in.fifo, vs)
	in.mu.Unlock()
	// A batch the executor instance takes but fails before its compute (an
	// input copy refused) leaves its entry behind, and later batches would
	// copy another item's variant: only after a device fault, which stops
	// the instance, and outputs are synthetic either way.
	if err := in.st.Submit(batch, inBufs, outBufs, done); err != nil {
		// Never queued: take back what was pushed (the last entry, as
		// submitMu is held).
		in.mu.Lock()
		in.fifo = in.fifo[:len(in.fifo)-1]
		in.mu.Unlock()
		return err
	}
	return nil
}

// Run implements engines.Instance: Submit and wait.
func (in *Instance) Run(_ context.Context, batch int, inBufs, outBufs []*engines.HostBuffer) error {
	res := make(chan error, 1)
	if err := in.Submit(batch, inBufs, outBufs, func(err error) { res <- err }); err != nil {
		return err
	}
	return <-res // the buffers are the caller's: wait even if ctx ends
}

// Close implements engines.Instance.
func (in *Instance) Close() error { return in.st.Close() }

func (in *Instance) pop() []int {
	in.mu.Lock()
	defer in.mu.Unlock()
	if len(in.fifo) == 0 {
		return nil
	}
	vs := in.fifo[0]
	in.fifo = in.fifo[1:]
	return vs
}

// serveCompute is the simulated network of one instance.
type serveCompute struct {
	in      *Instance
	scratch cuda.DevicePtr // the kernel's own output, one byte per item
}

func (c *serveCompute) Enqueue(s cuda.Stream, batch int, in, out []cuda.DevicePtr, consumed cuda.Event) error {
	e := c.in.e
	vs := c.in.pop()
	if len(vs) != batch {
		return fmt.Errorf("simulated-gpu: %d variants queued for a batch of %d", len(vs), batch)
	}
	rt := e.b.o.Runtime
	busy := e.sim.Latency(batch)
	if err := e.b.o.Kernel.Launch(s, in[0], batch*e.inBytes, c.scratch, batch, busy, batch); err != nil {
		return fmt.Errorf("simulated kernel: %w", err)
	}
	// The kernel has read its input when it ends: the copy-in stream may
	// overwrite it from then on.
	if err := rt.EventRecord(consumed, s); err != nil {
		return err
	}
	for i, n := range e.outBytes {
		for k, v := range vs {
			if err := rt.MemcpyDtoDAsync(out[i]+cuda.DevicePtr(k*n), e.templates[i]+cuda.DevicePtr(v*n), n, s); err != nil {
				return fmt.Errorf("output %d: %w", i, err)
			}
		}
	}
	return nil
}

func (c *serveCompute) Close() error { return c.in.e.b.o.Runtime.Free(c.scratch) }

// variant picks one of n synthetic outputs for an item from 64 words
// spread over its bytes: enough that different images get different
// answers and the same image the same, at a cost independent of the image
// size (the kernel, not the CPU, reads every byte).
func variant(item []byte, n int) int {
	const samples = 64
	h := uint64(len(item)) ^ 0xcbf29ce484222325
	words := len(item) / 8
	for i := range samples {
		if words == 0 {
			break
		}
		w := (i * words) / samples
		h ^= *(*uint64)(unsafe.Pointer(&item[w*8]))
		h *= 0x100000001b3
		h ^= h >> 29
	}
	for _, c := range item[words*8:] {
		h = (h ^ uint64(c)) * 0x100000001b3
	}
	return int(h % uint64(n))
}
