package tensorrt

import (
	"fmt"

	"github.com/trtserve/trtserve/cuda"
	"github.com/trtserve/trtserve/engines"
	"github.com/trtserve/trtserve/engines/gpuexec"
	"github.com/trtserve/trtserve/model"
	"github.com/trtserve/trtserve/trt"
)

// Engine is one model loaded on the TensorRT backend: an engines.Engine,
// like every backend's Engine. TensorRT's own engine (ICudaEngine, the
// deserialized plan) is trt.Engine, held here as cudaEngine; its
// serialized bytes are always called the plan (model.engine/model.plan,
// the engine cache's .plan files).
type Engine struct {
	b          *Backend
	spec       *model.Spec
	cudaEngine *trt.Engine
	inputs     []model.TensorInfo
	outputs    []model.TensorInfo
	inShape    [][]int64 // per input: the shape to set, batch dim overwritten per run
	names      []string  // inputs then outputs, TensorRT names
	maxBatch   int
	// minBatch is the smallest batch the engine's profile accepts: smaller
	// batches run padded to it (see compute.Enqueue).
	minBatch int
	fixed    bool
}

// load deserializes plan and works out the IO trtserve feeds. It runs on
// a device thread.
func (e *Engine) load(plan []byte) error {
	eng, err := e.b.opts.Lib.Load(plan)
	if err != nil {
		return err
	}
	e.cudaEngine = eng
	spec := e.spec
	e.maxBatch = max(spec.MaxBatchSize, 1)
	for _, io := range eng.IO() {
		if !io.Input {
			continue
		}
		if io.DataType != trt.Float || !io.Linear {
			return fmt.Errorf("%w: input %s is %s (linear %v); trtserve feeds linear FP32 (build with FP32 inputs)", model.ErrBadModel, io.Name, io.DataType, io.Linear)
		}
		if len(io.Shape) == 0 {
			return fmt.Errorf("%w: input %s is a scalar", model.ErrBadModel, io.Name)
		}
		shape := append([]int64(nil), io.Shape...)
		if len(shape) == 4 {
			for i, want := range map[int]int64{2: int64(spec.InputHeight), 3: int64(spec.InputWidth)} {
				if shape[i] < 0 {
					shape[i] = want
				} else if shape[i] != want {
					return fmt.Errorf("%w: input %s is %v but the model's input size is %dx%d (fix input_width/input_height)", model.ErrBadModel, io.Name, io.Shape, spec.InputWidth, spec.InputHeight)
				}
			}
		}
		for i, d := range shape[1:] {
			if d < 0 {
				return fmt.Errorf("%w: input %s dimension %d is dynamic and trtserve cannot choose it", model.ErrBadModel, io.Name, i+1)
			}
		}
		switch {
		case shape[0] > 0:
			e.fixed, e.maxBatch = true, int(shape[0])
		case io.Max != nil:
			e.maxBatch = min(e.maxBatch, int(io.Max[0]))
			e.minBatch = max(e.minBatch, int(io.Min[0]))
			for i := 1; i < len(shape); i++ {
				if shape[i] < io.Min[i] || shape[i] > io.Max[i] {
					return fmt.Errorf("%w: input %s: %v is outside the engine's profile %v..%v", model.ErrBadModel, io.Name, shape, io.Min, io.Max)
				}
			}
		}
		e.inShape = append(e.inShape, shape)
		e.names = append(e.names, io.Name)
		info := model.TensorInfo{Name: io.Name, DataType: model.FP32, Shape: append([]int64(nil), shape...)}
		if !e.fixed {
			info.Shape[0] = -1
		}
		e.inputs = append(e.inputs, info)
	}
	if len(e.inputs) == 0 {
		return fmt.Errorf("%w: engine has no inputs", model.ErrBadModel)
	}
	e.minBatch = max(e.minBatch, 1)
	if e.fixed {
		e.minBatch = e.maxBatch
	} else if e.minBatch > e.maxBatch {
		// The profile cannot run fewer than minBatch items, so every run
		// computes that many anyway: letting the batcher fill them costs
		// nothing, and device buffers must hold them.
		e.b.opts.Log.Info("the engine's profile starts above max_batch_size: batches go up to its minimum",
			"model", spec.ID(), "max_batch_size", spec.MaxBatchSize, "profile_min_batch", e.minBatch)
		e.maxBatch = e.minBatch
	}
	// Output shapes follow from the input shapes: ask a context at the
	// smallest and the largest batch, so an output whose dimension 0 is
	// not the batch (or whose other dimensions move with it) is caught
	// here rather than sizing buffers wrongly.
	lo, hi := e.minBatch, e.maxBatch
	ctx, err := eng.NewContext(false)
	if err != nil {
		return err
	}
	defer ctx.Close()
	probe := func(batch int) (map[string][]int64, error) {
		for i, name := range e.names {
			s := append([]int64(nil), e.inShape[i]...)
			if !e.fixed {
				s[0] = int64(batch)
			}
			if err := ctx.SetInputShape(name, s); err != nil {
				return nil, fmt.Errorf("input %s at batch %d: %w", name, batch, err)
			}
		}
		out := map[string][]int64{}
		for _, io := range eng.IO() {
			if io.Input {
				continue
			}
			shape, err := ctx.TensorShape(io.Name)
			if err != nil {
				return nil, fmt.Errorf("output %s at batch %d: %w", io.Name, batch, err)
			}
			out[io.Name] = shape
		}
		return out, nil
	}
	atLo, err := probe(lo)
	if err != nil {
		return err
	}
	atHi := atLo
	if hi != lo {
		if atHi, err = probe(hi); err != nil {
			return err
		}
	}
	for _, io := range eng.IO() {
		if io.Input {
			continue
		}
		if io.DataType != trt.Float {
			return fmt.Errorf("%w: output %s is %s; trtserve reads FP32 outputs", model.ErrBadModel, io.Name, io.DataType)
		}
		if len(io.Shape) == 0 {
			return fmt.Errorf("%w: output %s is a scalar (rank 0): trtserve splits outputs by their batch dimension, so every output needs one", model.ErrBadModel, io.Name)
		}
		if io.DataDependent {
			return fmt.Errorf("%w: output %s has a shape that depends on the data (an NMS layer in the engine?); export the model without NMS", model.ErrBadModel, io.Name)
		}
		shape, err := batchedShape(io.Name, lo, hi, atLo[io.Name], atHi[io.Name])
		if err != nil {
			return err
		}
		if !e.fixed {
			shape[0] = -1
		}
		e.names = append(e.names, io.Name)
		e.outputs = append(e.outputs, model.TensorInfo{Name: io.Name, DataType: model.FP32, Shape: shape})
	}
	return nil
}

// batchedShape checks an output's shapes at batches lo and hi: dimension 0
// must be the batch and every other dimension fixed, because trtserve
// sizes each output's buffers as batch × the per-item size and hands item
// k the k-th slice. It returns the shape at hi.
func batchedShape(name string, lo, hi int, atLo, atHi []int64) ([]int64, error) {
	if len(atLo) == 0 || len(atHi) == 0 {
		return nil, fmt.Errorf("%w: output %s is a scalar (rank 0): trtserve splits outputs by their batch dimension, so every output needs one", model.ErrBadModel, name)
	}
	if len(atLo) != len(atHi) {
		return nil, fmt.Errorf("%w: output %s changes rank with the batch (%v at batch %d, %v at batch %d)", model.ErrBadModel, name, atLo, lo, atHi, hi)
	}
	if atLo[0] != int64(lo) || atHi[0] != int64(hi) {
		return nil, fmt.Errorf("%w: output %s dimension 0 is not the batch (%v at batch %d, %v at batch %d): trtserve needs outputs shaped [batch, ...]", model.ErrBadModel, name, atLo, lo, atHi, hi)
	}
	for i := 1; i < len(atHi); i++ {
		if atLo[i] < 0 || atHi[i] < 0 {
			return nil, fmt.Errorf("%w: output %s dimension %d depends on the data (an NMS layer in the engine?); export the model without NMS", model.ErrBadModel, name, i)
		}
		if atLo[i] != atHi[i] {
			return nil, fmt.Errorf("%w: output %s dimension %d changes with the batch (%v at batch %d, %v at batch %d): only dimension 0 may", model.ErrBadModel, name, i, atLo, lo, atHi, hi)
		}
	}
	return append([]int64(nil), atHi...), nil
}

func (e *Engine) Inputs() []model.TensorInfo  { return e.inputs }
func (e *Engine) Outputs() []model.TensorInfo { return e.outputs }
func (e *Engine) MaxBatch() int               { return e.maxBatch }
func (e *Engine) FixedBatch() bool            { return e.fixed }

// WarmupBatches is every batch size the batcher can send, 1..MaxBatch
// (engines.WarmupSizer). Not just 1 and the maximum: TensorRT may pick
// kernels per shape at enqueue time, and with CUDA lazy loading (the
// default since CUDA 12.2) a kernel's module loads on its first launch, a
// stall of milliseconds that would otherwise land on the first live batch
// of each size. A run costs one batch of compute, so warming max_batch_size
// sizes per instance is a fraction of a second for the models trtserve
// serves, paid while the model is still LOADING.
func (e *Engine) WarmupBatches() []int {
	if e.fixed {
		return []int{e.maxBatch}
	}
	out := make([]int, e.maxBatch)
	for i := range out {
		out[i] = i + 1
	}
	return out
}

// Allocator is the backend's pinned pool: the pipeline's batch buffers are
// what the copy-in stream DMAs from.
func (e *Engine) Allocator() engines.Allocator { return gpuexec.PinnedAllocator{Pool: e.b.opts.Pool} }

// NewInstance makes an execution context with its own streams and device
// buffers.
func (e *Engine) NewInstance() (engines.Instance, error) {
	bytes := func(ts []model.TensorInfo) []int {
		var out []int
		for _, t := range ts {
			out = append(out, t.ElemsPerItem()*4)
		}
		return out
	}
	return gpuexec.New(gpuexec.Options{
		Runtime: e.b.opts.Runtime, Device: e.b.opts.Device, Depth: e.b.opts.Depth, MaxBatch: e.maxBatch,
		InBytes: bytes(e.inputs), OutBytes: bytes(e.outputs),
		NewCompute: func() (gpuexec.Compute, error) {
			ctx, err := e.cudaEngine.NewContext(false)
			if err != nil {
				return nil, err
			}
			return &compute{e: e, ctx: ctx}, nil
		},
	})
}

// Close frees the engine; the pipeline closes its instances first.
func (e *Engine) Close() error {
	if e.cudaEngine != nil {
		// Destroying an engine frees device memory: on a thread without
		// the device current that would create a context on GPU 0.
		return e.b.onDevice(e.cudaEngine.Close)
	}
	return nil
}

// compute drives one execution context from its instance's thread.
type compute struct {
	e   *Engine
	ctx *trt.Context
}

func (c *compute) Enqueue(stream cuda.Stream, batch int, in, out []cuda.DevicePtr, consumed cuda.Event) error {
	e := c.e
	run := batch
	if !e.fixed && batch < e.minBatch {
		// The profile starts above this batch: run minBatch rows. The pad
		// rows are zeroed, on this stream before the network reads them, so
		// they hold no stale request data and compute no NaNs; staged copies
		// only the first batch rows of each output back.
		run = e.minBatch
		for i, t := range e.inputs {
			per := t.ElemsPerItem() * 4
			if err := e.b.opts.Runtime.MemsetAsync(in[i]+cuda.DevicePtr(batch*per), 0, (run-batch)*per, stream); err != nil {
				return fmt.Errorf("zeroing the pad rows of %s: %w", t.Name, err)
			}
		}
	}
	for i, name := range e.names[:len(e.inputs)] {
		shape := e.inShape[i]
		if !e.fixed {
			shape = append([]int64{int64(run)}, shape[1:]...)
		}
		if err := c.ctx.SetInputShape(name, shape); err != nil {
			return err
		}
		if err := c.ctx.SetTensorAddress(name, uintptr(in[i])); err != nil {
			return err
		}
	}
	for i, name := range e.names[len(e.inputs):] {
		if err := c.ctx.SetTensorAddress(name, uintptr(out[i])); err != nil {
			return err
		}
	}
	if err := c.ctx.SetInputConsumedEvent(uintptr(consumed)); err != nil {
		return err
	}
	return c.ctx.Enqueue(uintptr(stream))
}

func (c *compute) Close() error { return c.ctx.Close() }
