package simulated

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/trtserve/trtserve/engines"
	"github.com/trtserve/trtserve/model"
)

// Name is the backend name models select in config.yaml (backend:
// simulated) or with serve --backend simulated.
const Name = model.BackendSimulated

// Default timing: a batch of n takes DefaultBase + n × DefaultPerItem.
// Batch 1 is 1.0 ms, Ultralytics' published YOLOv8n latency with TensorRT
// on an A100 (0.99 ms at 640 px); how that splits into a fixed and a
// per-image part is our assumption (small models leave a big GPU mostly
// idle at batch 1, so batch 8 costs 3.8 ms, 0.48 ms an image).
const (
	DefaultBase    = 600 * time.Microsecond
	DefaultPerItem = 400 * time.Microsecond
)

// Timing is config.yaml's simulated: section: the wall time of one batch,
// BaseMicros + PerItemMicros × batch, zero fields taking the defaults
// above. FailEvery and PanicEvery inject faults for the hardening tests:
// every Nth run (counting the warm-up) returns an error, or panics, as a
// broken engine or driver would.
type Timing struct {
	BaseMicros    float64 `yaml:"base_us"`
	PerItemMicros float64 `yaml:"per_item_us"`
	FailEvery     int     `yaml:"fail_every"`
	PanicEvery    int     `yaml:"panic_every"`
}

// TimingOf decodes spec's simulated: section; a model without one gets the
// zero Timing (the default times, no faults).
func TimingOf(spec *model.Spec) (Timing, error) {
	var c struct {
		Simulated         Timing `yaml:"simulated"`
		engines.OtherKeys `yaml:",inline"`
	}
	if err := engines.DecodeConfig(spec, &c); err != nil {
		return Timing{}, err
	}
	if c.Simulated.BaseMicros < 0 || c.Simulated.PerItemMicros < 0 {
		return Timing{}, fmt.Errorf("%w: config.yaml: simulated times must not be negative", model.ErrBadModel)
	}
	if err := c.Simulated.check(); err != nil { // memory.go
		return Timing{}, err
	}
	return c.Simulated, nil
}

// variants is how many distinct synthetic outputs a model has; an image
// picks one by the hash of its input tensor.
const variants = 8

// Backend makes simulated engines.
type Backend struct{}

// New returns the simulated backend.
func New() *Backend { return &Backend{} }

// Name implements engines.Backend.
func (*Backend) Name() string { return Name }

// Close implements engines.Backend.
func (*Backend) Close() error { return nil }

// Load reads the shapes from the model's ONNX header (no weights are read)
// and builds the synthetic outputs.
func (*Backend) Load(_ context.Context, m *model.Spec) (engines.Engine, error) {
	if m.ONNX == nil || len(m.ONNX.Inputs) != 1 {
		return nil, fmt.Errorf("%w: %s: the simulated backend needs an ONNX model with one input", model.ErrBadModel, m.ID())
	}
	timing, err := TimingOf(m)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", m.ID(), err)
	}
	e := &Engine{timing: timing, base: DefaultBase, perItem: DefaultPerItem, written: map[*engines.HostBuffer][]int8{}}
	if timing.BaseMicros > 0 {
		e.base = time.Duration(timing.BaseMicros * float64(time.Microsecond))
	}
	if timing.PerItemMicros > 0 {
		e.perItem = time.Duration(timing.PerItemMicros * float64(time.Microsecond))
	}
	in := m.ONNX.Inputs[0]
	in.Shape = append([]int64(nil), in.Shape...)
	e.maxBatch = m.MaxBatchSize
	if in.Shape[0] > 0 {
		e.fixed, e.maxBatch = true, int(in.Shape[0])
	}
	in.Shape[0], in.Shape[2], in.Shape[3] = -1, int64(m.InputHeight), int64(m.InputWidth)
	e.inputs = []model.TensorInfo{in}
	for _, o := range m.ONNX.Outputs {
		o.Shape = append([]int64(nil), o.Shape...)
		if len(o.Shape) < 2 {
			return nil, fmt.Errorf("%w: %s: output %s has no batch dimension", engines.ErrBadShape, m.ID(), o.Name)
		}
		o.Shape[0] = -1
		if err := resolveDims(o.Shape, m.InputHeight, m.InputWidth); err != nil {
			return nil, fmt.Errorf("%w: %s: output %s: %v", engines.ErrBadShape, m.ID(), o.Name, err)
		}
		o.DataType = model.FP32
		e.outputs = append(e.outputs, o)
	}
	e.templates = make([][][]float32, len(e.outputs))
	for i, o := range e.outputs {
		for v := range variants {
			e.templates[i] = append(e.templates[i], synth(m, i, o, uint64(v)))
		}
	}
	return e, nil
}

// resolveDims fills symbolic dimensions of YOLO outputs from the input
// size: anchors over strides 8, 16, 32 for [B, C, anchors] and the 1/4
// scale mask prototypes of segmentation models.
func resolveDims(shape []int64, h, w int) error {
	anchors := int64((h/8)*(w/8) + (h/16)*(w/16) + (h/32)*(w/32))
	switch {
	case len(shape) == 3 && shape[2] <= 0 && shape[1] > 0:
		shape[2] = anchors
	case len(shape) == 3 && shape[1] <= 0 && shape[2] > 0:
		shape[1] = anchors
	case len(shape) == 4 && shape[2] <= 0 && shape[3] <= 0:
		shape[2], shape[3] = int64(h/4), int64(w/4)
	}
	for _, d := range shape[1:] {
		if d <= 0 {
			return fmt.Errorf("shape %v is dynamic beyond what the simulated backend can infer", shape)
		}
	}
	return nil
}

// synth builds one deterministic output item. Detection-like outputs
// ([C, anchors], YOLOv8 layout) get a few confident boxes in a sea of
// low scores, so NMS and rescaling have real work; classification gets
// one winning class; anything else small noise.
func synth(m *model.Spec, index int, t model.TensorInfo, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, uint64(index)))
	out := make([]float32, t.ElemsPerItem())
	for i := range out {
		out[i] = r.Float32() * 0.02
	}
	nc := len(m.ClassNames)
	switch {
	case index == 0 && len(t.Shape) == 2:
		out[r.IntN(len(out))] = 8 // a logit that wins the softmax
	case index == 0 && len(t.Shape) == 3:
		rows, anchors := int(t.Shape[1]), int(t.Shape[2])
		yolov5 := m.OutputLayout == model.LayoutYOLOv5
		if yolov5 {
			rows, anchors = anchors, rows
		}
		if nc <= 0 || nc > rows-4 {
			nc = rows - 4
		}
		at := func(row, a int) *float32 {
			if yolov5 {
				return &out[a*rows+row]
			}
			return &out[row*anchors+a]
		}
		W, H := float32(m.InputWidth), float32(m.InputHeight)
		for a := range anchors {
			*at(0, a), *at(1, a) = r.Float32()*W, r.Float32()*H
			*at(2, a), *at(3, a) = 4+r.Float32()*W/8, 4+r.Float32()*H/8
			for row := 4 + nc; row < rows; row++ { // keypoints, mask coefficients
				*at(row, a) = r.Float32() * W
			}
		}
		for range 12 + r.IntN(12) { // objects, each seen by a few anchors
			cx, cy, bw, bh := r.Float32()*W, r.Float32()*H, 16+r.Float32()*W/3, 16+r.Float32()*H/3
			cls, conf := r.IntN(max(nc, 1)), 0.5+0.45*r.Float32()
			for range 3 {
				a := r.IntN(anchors)
				*at(0, a), *at(1, a), *at(2, a), *at(3, a) = cx+r.Float32()*4, cy+r.Float32()*4, bw, bh
				if 4+cls < rows {
					*at(4+cls, a) = conf - 0.05*r.Float32()
				}
			}
		}
	}
	return out
}

// Engine is a simulated model.
type Engine struct {
	inputs, outputs []model.TensorInfo
	templates       [][][]float32 // [output][variant] one item
	maxBatch        int
	fixed           bool
	timing          Timing
	base, perItem   time.Duration
	runs            atomic.Int64 // for the injected faults

	mu      sync.Mutex                     // guards written
	written map[*engines.HostBuffer][]int8 // variant in each slot of each output buffer, -1 unknown
}

// Inputs implements engines.Engine.
func (e *Engine) Inputs() []model.TensorInfo { return e.inputs }

// Outputs implements engines.Engine.
func (e *Engine) Outputs() []model.TensorInfo { return e.outputs }

// MaxBatch implements engines.Engine.
func (e *Engine) MaxBatch() int { return e.maxBatch }

// FixedBatch implements engines.Engine.
func (e *Engine) FixedBatch() bool { return e.fixed }

// NewInstance implements engines.Engine: instances are independent
// simulated execution contexts that run concurrently.
func (e *Engine) NewInstance() (engines.Instance, error) { return e, nil }

// Close implements engines.Engine and engines.Instance.
func (e *Engine) Close() error { return nil }

// Latency is the simulated time of one batch.
func (e *Engine) Latency(batch int) time.Duration { return e.base + time.Duration(batch)*e.perItem }

// Run reads every input byte (a host-to-device copy reads them too),
// writes each item the synthetic output its input hashes to, and returns
// when the simulated batch time has passed, sleeping, not spinning. The
// reading and copying happen within that time: they are the CPU-side cost
// of a real engine's copies (about 0.5 ms an image at 640 px here).
func (e *Engine) Run(ctx context.Context, batch int, in, out []*engines.HostBuffer) error {
	deadline := time.Now().Add(e.Latency(batch))
	if batch < 1 || batch > e.maxBatch {
		return fmt.Errorf("%w: batch %d outside 1..%d", engines.ErrBadShape, batch, e.maxBatch)
	}
	if n, f := e.runs.Add(1), e.timing; f.FailEvery > 0 && n%int64(f.FailEvery) == 0 {
		return fmt.Errorf("simulated fault: run %d failed (fail_every: %d)", n, f.FailEvery)
	} else if f.PanicEvery > 0 && n%int64(f.PanicEvery) == 0 {
		panic(fmt.Sprintf("simulated fault: run %d panicked (panic_every: %d)", n, f.PanicEvery))
	}
	itemBytes := e.inputs[0].ElemsPerItem() * 4
	if in[0].Len() < batch*itemBytes {
		return fmt.Errorf("%w: input buffer holds %d bytes, batch %d needs %d", engines.ErrBadShape, in[0].Len(), batch, batch*itemBytes)
	}
	for k := range batch {
		v := int8(hash(in[0].Bytes()[k*itemBytes:(k+1)*itemBytes]) % variants)
		for i, tmpl := range e.templates {
			if e.holds(out[i], k, v) {
				continue // the slot already holds exactly these bytes
			}
			n := len(tmpl[v])
			copy(out[i].Float32s()[k*n:(k+1)*n], tmpl[v])
		}
	}
	return sleepUntil(ctx, deadline)
}

// sleepUntil blocks this goroutine's thread in nanosleep, in slices of at
// most 5 ms so a cancelled context is noticed. Go's timers wake on the
// netpoller's millisecond ticks here (a 1 ms timer fires after ~1.1 ms, a
// 1.5 ms one after ~2.1 ms), too coarse for sub-millisecond batches; a
// thread blocked in a syscall is also what a real engine's stream
// synchronisation looks like to the scheduler.
func sleepUntil(ctx context.Context, deadline time.Time) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		d := time.Until(deadline)
		if d <= 0 {
			return nil
		}
		ts := syscall.NsecToTimespec(int64(min(d, 5*time.Millisecond)))
		for syscall.Nanosleep(&ts, &ts) == syscall.EINTR {
		}
	}
}

// holds reports whether slot k of buf already holds variant v, and records
// that it will. Skipping the copy leaves the output bytes as they would be
// after it; it only spares the CPU a copy a GPU would make by DMA (a YOLO
// output item is 2.8 MB at 640 px). The caller owns buffers, so an unknown
// or re-used one is simply written.
func (e *Engine) holds(buf *engines.HostBuffer, k int, v int8) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	slots := e.written[buf]
	for len(slots) <= k {
		slots = append(slots, -1)
	}
	e.written[buf] = slots
	if slots[k] == v {
		return true
	}
	slots[k] = v
	return false
}

// hash folds the bytes eight at a time (memory-bound, like a DMA read),
// then mixes.
func hash(b []byte) uint64 {
	var h uint64
	n := len(b) / 8
	if n > 0 {
		words := unsafe.Slice((*uint64)(unsafe.Pointer(&b[0])), n)
		for _, w := range words {
			h ^= w
			h = h<<1 | h>>63
		}
	}
	for _, c := range b[n*8:] {
		h = h*31 + uint64(c)
	}
	// splitmix64 finaliser
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	return h ^ h>>31
}

// Variants is how many distinct synthetic outputs each output has.
func (e *Engine) Variants() int { return variants }

// Template is variant v of one item of output i: the bytes Run writes for
// an item whose input hashes to v. The simulated GPU backend
// (engines/simgpu) uploads them to the device and copies them there.
func (e *Engine) Template(i, v int) []float32 { return e.templates[i][v] }
