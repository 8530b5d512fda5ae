package tensorrt

import (
	"fmt"

	"github.com/trtserve/trtserve/cuda"
	"github.com/trtserve/trtserve/engines"
	"github.com/trtserve/trtserve/engines/staged"
	"github.com/trtserve/trtserve/trt"
)

// Engine is a deserialized TensorRT engine.
type Engine struct {
	b        *Backend
	spec     *engines.Model
	eng      *trt.Engine
	inputs   []engines.TensorInfo
	outputs  []engines.TensorInfo
	inShape  [][]int64 // per input: the shape to set, batch dim overwritten per run
	names    []string  // inputs then outputs, TensorRT names
	maxBatch int
	fixed    bool
}

// load deserializes plan and works out the IO trtserve feeds. It runs on
// a device thread.
func (e *Engine) load(plan []byte) error {
	eng, err := e.b.opts.Lib.Load(plan)
	if err != nil {
		return err
	}
	e.eng = eng
	spec := e.spec
	e.maxBatch = max(spec.MaxBatchSize, 1)
	for _, io := range eng.IO() {
		if !io.Input {
			continue
		}
		if io.DataType != trt.Float || !io.Linear {
			return fmt.Errorf("%w: input %s is %s (linear %v); trtserve feeds linear FP32 (build with FP32 inputs)", engines.ErrBadModel, io.Name, io.DataType, io.Linear)
		}
		if len(io.Shape) == 0 {
			return fmt.Errorf("%w: input %s is a scalar", engines.ErrBadModel, io.Name)
		}
		shape := append([]int64(nil), io.Shape...)
		if len(shape) == 4 {
			for i, want := range map[int]int64{2: int64(spec.InputHeight), 3: int64(spec.InputWidth)} {
				if shape[i] < 0 {
					shape[i] = want
				} else if shape[i] != want {
					return fmt.Errorf("%w: input %s is %v but the model's input size is %dx%d (fix input_width/input_height)", engines.ErrBadModel, io.Name, io.Shape, spec.InputWidth, spec.InputHeight)
				}
			}
		}
		for i, d := range shape[1:] {
			if d < 0 {
				return fmt.Errorf("%w: input %s dimension %d is dynamic and trtserve cannot choose it", engines.ErrBadModel, io.Name, i+1)
			}
		}
		switch {
		case shape[0] > 0:
			e.fixed, e.maxBatch = true, int(shape[0])
		case io.Max != nil:
			e.maxBatch = min(e.maxBatch, int(io.Max[0]))
			for i := 1; i < len(shape); i++ {
				if shape[i] < io.Min[i] || shape[i] > io.Max[i] {
					return fmt.Errorf("%w: input %s: %v is outside the engine's profile %v..%v", engines.ErrBadModel, io.Name, shape, io.Min, io.Max)
				}
			}
		}
		e.inShape = append(e.inShape, shape)
		e.names = append(e.names, io.Name)
		info := engines.TensorInfo{Name: io.Name, DataType: engines.FP32, Shape: append([]int64(nil), shape...)}
		if !e.fixed {
			info.Shape[0] = -1
		}
		e.inputs = append(e.inputs, info)
	}
	if len(e.inputs) == 0 {
		return fmt.Errorf("%w: engine has no inputs", engines.ErrBadModel)
	}
	// Output shapes follow from the input shapes: ask a context.
	ctx, err := eng.NewContext(false)
	if err != nil {
		return err
	}
	defer ctx.Close()
	for i, name := range e.names {
		s := append([]int64(nil), e.inShape[i]...)
		s[0] = 1
		if e.fixed {
			s[0] = int64(e.maxBatch)
		}
		if err := ctx.SetInputShape(name, s); err != nil {
			return err
		}
	}
	for _, io := range eng.IO() {
		if io.Input {
			continue
		}
		if io.DataType != trt.Float {
			return fmt.Errorf("%w: output %s is %s; trtserve reads FP32 outputs", engines.ErrBadModel, io.Name, io.DataType)
		}
		shape, err := ctx.TensorShape(io.Name)
		if err != nil {
			return err
		}
		for i, d := range shape[1:] {
			if d < 0 || io.DataDependent {
				return fmt.Errorf("%w: output %s dimension %d depends on the data (an NMS layer in the engine?); export the model without NMS", engines.ErrBadModel, io.Name, i+1)
			}
		}
		if !e.fixed {
			shape[0] = -1
		}
		e.names = append(e.names, io.Name)
		e.outputs = append(e.outputs, engines.TensorInfo{Name: io.Name, DataType: engines.FP32, Shape: shape})
	}
	return nil
}

func (e *Engine) Inputs() []engines.TensorInfo  { return e.inputs }
func (e *Engine) Outputs() []engines.TensorInfo { return e.outputs }
func (e *Engine) MaxBatch() int                 { return e.maxBatch }
func (e *Engine) FixedBatch() bool              { return e.fixed }

// Allocator is the backend's pinned pool: the pipeline's batch buffers are
// what the copy-in stream DMAs from.
func (e *Engine) Allocator() engines.Allocator { return staged.PinnedAllocator{Pool: e.b.opts.Pool} }

// NewInstance makes an execution context with its own streams and device
// buffers.
func (e *Engine) NewInstance() (engines.Instance, error) {
	bytes := func(ts []engines.TensorInfo) []int {
		var out []int
		for _, t := range ts {
			out = append(out, t.ElemsPerItem()*4)
		}
		return out
	}
	return staged.New(staged.Options{
		Runtime: e.b.opts.Runtime, Device: e.b.opts.Device, Depth: e.b.opts.Depth, MaxBatch: e.maxBatch,
		InBytes: bytes(e.inputs), OutBytes: bytes(e.outputs),
		NewCompute: func() (staged.Compute, error) {
			ctx, err := e.eng.NewContext(false)
			if err != nil {
				return nil, err
			}
			return &compute{e: e, ctx: ctx}, nil
		},
	})
}

// Close frees the engine; the pipeline closes its instances first.
func (e *Engine) Close() error {
	if e.eng != nil {
		return e.eng.Close()
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
	for i, name := range e.names[:len(e.inputs)] {
		shape := e.inShape[i]
		if !e.fixed {
			shape = append([]int64{int64(batch)}, shape[1:]...)
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
