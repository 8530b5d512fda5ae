package kserve

import (
	"context"
	"errors"
	"slices"
	"time"
	"unsafe"

	"github.com/trtserve/trtserve/model"
	"github.com/trtserve/trtserve/pipeline"
	"github.com/trtserve/trtserve/shm"
)

// Param is a request or tensor parameter: exactly one field is set, or
// none for a value of another kind (a JSON object, array or null), which
// known parameters refuse and unknown ones ignore.
type Param struct {
	Bool   *bool
	Int    *int64
	String *string
	Double *float64
}

// BoolParam, IntParam and StringParam make parameters.
func BoolParam(v bool) Param      { return Param{Bool: &v} }
func IntParam(v int64) Param      { return Param{Int: &v} }
func StringParam(v string) Param  { return Param{String: &v} }
func DoubleParam(v float64) Param { return Param{Double: &v} }

// Request is an inference request, as either protocol carries it.
type Request struct {
	ID      string
	Params  map[string]Param // timeout (µs), binary_data_output, ...
	Inputs  []Input
	Outputs []RequestedOutput // none: every output of the model
	// Timeout, when positive, bounds the inference (a "timeout" parameter
	// takes precedence).
	Timeout time.Duration
	// Budget is the server's bound on the bytes admitted requests hold
	// (--max-inflight-bytes, shared with the Roboflow routes); nil: none.
	// Prepare reserves the request's tensor bytes in it — its inputs
	// (raw, typed or decoded; a CUDA region's host copy) and its answer's
	// buffers; windows of system shared-memory regions count nothing —
	// and Release returns them.
	Budget *pipeline.ByteBudget
}

// Input is one input tensor of a request. Its data is exactly one of Raw
// (little-endian bytes: the HTTP binary extension, gRPC's
// raw_input_contents; a view, never copied here), FP32 (typed contents),
// Decode, or shared_memory_region / _offset / _byte_size in Params.
type Input struct {
	Name     string
	Shape    []int64
	Datatype string
	Params   map[string]Param
	Raw      []byte
	FP32     []float32
	// Decode parses typed data held in another form (HTTP's JSON "data"
	// array). Prepare calls it with the element count once name, datatype
	// and shape have been checked, so a shape that does not fit the model
	// is refused before anything is sized from the data.
	Decode func(n int) ([]float32, error)
}

// RequestedOutput is an output a request asks for. Params: binary_data
// (HTTP), shared_memory_region / _offset / _byte_size.
type RequestedOutput struct {
	Name   string
	Params map[string]Param
}

// Output is one output tensor of an answer. Data is the whole batch's
// bytes, nil when the output went to a shared-memory region; Binary says
// the HTTP adapter should send it in the binary extension; Params holds
// the shared_memory_* parameters of an output written to a region.
type Output struct {
	Name, Datatype string
	Shape          []int64
	Data           []byte
	Binary         bool
	Params         map[string]Param
}

// Prepared is a request validated against a model: every input's bytes
// for the whole batch, every requested output's buffer (or region).
// Release it once the answer is written.
type Prepared struct {
	m       *pipeline.Model
	id      string
	batch   int
	inputs  [][]byte  // by model input index
	inRegs  []*region // by model input index: the system region inputs[i] is a view of, or nil
	outputs []outBuf
	timeout time.Duration
	leases  []lease
	budget  *pipeline.ByteBudget
	held    int64 // bytes reserved in budget
}

type outBuf struct {
	index  int // model output index
	info   model.TensorInfo
	binary bool
	data   []byte // the whole batch's bytes, filled by the works
	region *region
}

// ID is the request's id, echoed in the answer.
func (p *Prepared) ID() string { return p.id }

// Batch is the request's batch size (the first dimension of its inputs).
func (p *Prepared) Batch() int { return p.batch }

// Model is the model the request runs on.
func (p *Prepared) Model() *pipeline.Model { return p.m }

func paramBool(params map[string]Param, key string, def bool) (bool, error) {
	v, ok := params[key]
	if !ok {
		return def, nil
	}
	if v.Bool == nil {
		return false, invalid("parameter %s must be a boolean", key)
	}
	return *v.Bool, nil
}

// Prepare checks req against m: input names, datatypes, shapes and byte
// counts, the batch against the model's queue, output names, parameters,
// and shared-memory windows against their regions (through regions; nil
// refuses shared-memory tensors). Errors are *Error. Input data is not
// copied: the inputs stay views into req's buffers (or the regions),
// which must live until Release.
func Prepare(m *pipeline.Model, req *Request, regions *shm.Registry) (*Prepared, error) {
	p := &Prepared{m: m, id: req.ID, batch: -1, timeout: req.Timeout, budget: req.Budget}
	if err := p.prepare(req, regions); err != nil {
		p.Release() // the leases taken before the error
		return nil, err
	}
	return p, nil
}

func (p *Prepared) prepare(req *Request, regions *shm.Registry) error {
	m := p.m
	ins, outs := m.Engine.Inputs(), m.Engine.Outputs()
	p.inputs = make([][]byte, len(ins))
	p.inRegs = make([]*region, len(ins))
	if v, ok := req.Params["timeout"]; ok {
		if v.Int == nil || *v.Int < 0 {
			return invalid("parameter timeout must be a non-negative number of microseconds")
		}
		p.timeout = time.Duration(*v.Int) * time.Microsecond
	}
	if len(req.Inputs) != len(ins) {
		return invalid("expected %d inputs but got %d inputs for model '%s'", len(ins), len(req.Inputs), m.Spec.Name)
	}
	for _, in := range req.Inputs {
		i := slices.IndexFunc(ins, func(t model.TensorInfo) bool { return t.Name == in.Name })
		if i < 0 {
			return invalid("unexpected inference input '%s' for model '%s'", in.Name, m.Spec.Name)
		}
		if p.inputs[i] != nil {
			return invalid("input '%s' given twice", in.Name)
		}
		want := ins[i]
		if in.Datatype != string(want.DataType) {
			return invalid("inference input '%s' data-type is '%s', but model '%s' expects '%s'", in.Name, in.Datatype, m.Spec.Name, want.DataType)
		}
		if err := checkShape(in.Shape, want, m.Spec.Name); err != nil {
			return err
		}
		n := int(in.Shape[0])
		if limit := m.Options().MaxQueueSize; n > limit {
			// Checked before anything is sized from n.
			return invalid("a batch of %d exceeds model '%s''s queue of %d", n, m.Spec.Name, limit)
		}
		if p.batch >= 0 && n != p.batch {
			return invalid("inputs have different batch sizes (%d and %d)", p.batch, n)
		}
		p.batch = n
		size := n * want.ElemsPerItem() * want.DataType.Size()
		if _, inSHM := in.Params[ParamSHMRegion]; !inSHM {
			// Reserved before typed data is decoded (sized from the
			// checked shape); a CUDA region reserves its host copy itself.
			if err := p.hold(size); err != nil {
				return err
			}
		}
		data, r, err := p.inputData(&in, size, regions)
		if err != nil {
			return err
		}
		p.inputs[i], p.inRegs[i] = data, r
	}

	allBinary, err := paramBool(req.Params, "binary_data_output", false)
	if err != nil {
		return err
	}
	if _, ok := req.Params["classification"]; ok {
		return &Error{Code: Unimplemented, Msg: "the classification extension is not supported: use /infer/classification"}
	}
	add := func(i int, binary bool, r *region) error {
		t := outs[i]
		o := outBuf{index: i, info: t, binary: binary, region: r}
		if r == nil || r.lease.Bytes() == nil {
			size := p.batch * t.ElemsPerItem() * t.DataType.Size()
			if err := p.hold(size); err != nil {
				return err
			}
			o.data = make([]byte, size)
		}
		p.outputs = append(p.outputs, o)
		return nil
	}
	if len(req.Outputs) == 0 {
		for i := range outs {
			if err := add(i, allBinary, nil); err != nil {
				return err
			}
		}
	}
	for _, o := range req.Outputs {
		i := slices.IndexFunc(outs, func(t model.TensorInfo) bool { return t.Name == o.Name })
		if i < 0 {
			return invalid("unexpected inference output '%s' for model '%s'", o.Name, m.Spec.Name)
		}
		if _, ok := o.Params["classification"]; ok {
			return &Error{Code: Unimplemented, Msg: "the classification extension is not supported: use /infer/classification"}
		}
		binary, err := paramBool(o.Params, "binary_data", allBinary)
		if err != nil {
			return err
		}
		t := outs[i]
		r, err := p.outputRegion(o, p.batch*t.ElemsPerItem()*t.DataType.Size(), regions)
		if err != nil {
			return err
		}
		if r != nil {
			if v := o.Params["binary_data"]; v.Bool != nil && *v.Bool {
				return invalid("output '%s' can't set both 'shared_memory_region' and 'binary_data'", o.Name)
			}
			binary = false
		}
		if err := add(i, binary, r); err != nil {
			return err
		}
	}
	return nil
}

// hold reserves n more bytes of the request in the server's budget, as
// its tensors are sized (inputs, then the answer's buffers): a request
// that already needs more than the budget itself is TooLarge (413: it can
// never be admitted); one that does not fit beside the others now is
// ResourceExhausted (429: retry later).
func (p *Prepared) hold(n int) error {
	err := p.budget.Acquire(int64(n))
	switch {
	case err == nil:
		p.held += int64(n)
		return nil
	case errors.Is(err, pipeline.ErrBusy) && p.held+int64(n) > p.budget.Limit():
		err = &pipeline.TooLargeError{What: "bytes", Got: p.held + int64(n), Limit: p.budget.Limit(), Bound: "--max-inflight-bytes"}
	}
	return CodeOf(err)
}

// inputData is one input's bytes for the whole batch: a view of Raw, of
// the typed contents, or of a shared-memory window (then r is the window's
// region when the bytes are a view into its mapping).
func (p *Prepared) inputData(in *Input, size int, regions *shm.Registry) (data []byte, r *region, err error) {
	_, shm := in.Params["shared_memory_region"]
	sources := 0
	for _, has := range []bool{in.Raw != nil, in.FP32 != nil, in.Decode != nil, shm} {
		if has {
			sources++
		}
	}
	if sources > 1 {
		return nil, nil, invalid("input '%s' must have exactly one of data, binary data or a shared-memory region", in.Name)
	}
	switch {
	case shm:
		return p.inputRegion(in, size, regions)
	case in.Raw != nil:
		if len(in.Raw) != size {
			return nil, nil, invalid("input '%s' has %d bytes of binary data; shape %v of %s needs %d", in.Name, len(in.Raw), in.Shape, in.Datatype, size)
		}
		return in.Raw[:size:size], nil, nil
	case in.FP32 != nil || in.Decode != nil:
		vals := in.FP32
		if in.Decode != nil {
			var err error
			if vals, err = in.Decode(size / 4); err != nil {
				return nil, nil, invalid("input '%s': %v", in.Name, err)
			}
		}
		if len(vals)*4 != size {
			return nil, nil, invalid("input '%s': data has %d elements, its shape gives %d", in.Name, len(vals), size/4)
		}
		return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(vals))), len(vals)*4), nil, nil
	}
	return nil, nil, invalid("input '%s' has neither data nor binary_data_size", in.Name)
}

// checkShape accepts [N, dims...] where dims match the model's (a -1 in
// the model is fixed here at load, so every dim must match) and N ≥ 1.
func checkShape(shape []int64, want model.TensorInfo, model string) error {
	ok := len(shape) == len(want.Shape) && len(shape) > 0 && shape[0] >= 1
	for d := 1; ok && d < len(shape); d++ {
		ok = shape[d] == want.Shape[d]
	}
	if !ok {
		dims := slices.Clone(want.Shape)
		dims[0] = -1
		return invalid("unexpected shape for input '%s' for model '%s': expected %v, got %v", want.Name, model, dims, shape)
	}
	return nil
}

// Run runs the request's batch items through the model (admission,
// batcher, instances) and fills the outputs: the answer's buffers, or the
// shared-memory regions. It returns the first item's error, as CodeOf
// classifies it.
func (p *Prepared) Run(ctx context.Context) error {
	if p.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.timeout)
		defer cancel()
	}
	works := make([]pipeline.Work, p.batch)
	for k := range works {
		works[k] = &tensorWork{p: p, k: k}
	}
	for _, err := range p.m.Do(ctx, works) {
		if err != nil {
			return CodeOf(err)
		}
	}
	for _, o := range p.outputs {
		if o.region != nil && o.data != nil {
			// A region with no host view (CUDA): one copy of the whole
			// output into it.
			if err := o.region.lease.Write(o.data); err != nil {
				return &Error{Code: Internal, Msg: "writing output '" + o.info.Name + "' to shared-memory region '" + Clip(o.region.name) + "' failed", Err: err}
			}
		}
	}
	return nil
}

// Outputs are the answer's tensors, in the order they were requested.
func (p *Prepared) Outputs() []Output {
	out := make([]Output, len(p.outputs))
	for i, o := range p.outputs {
		shape := slices.Clone(o.info.Shape)
		shape[0] = int64(p.batch)
		out[i] = Output{Name: o.info.Name, Datatype: string(o.info.DataType), Shape: shape, Binary: o.binary}
		if o.region != nil {
			out[i].Params = o.region.params()
			continue
		}
		out[i].Data = o.data
	}
	return out
}

// Release ends the request's leases on shared-memory regions. Call it
// once the answer is written (Outputs' Data stays valid: it is the
// request's own memory).
func (p *Prepared) Release() {
	for _, l := range p.leases {
		l.Release()
	}
	p.leases = nil
	p.budget.Release(p.held)
	p.held = 0
}

// tensorWork is one batch item: it copies its slice of each input into
// its batch slot, and its slot of each requested output into the answer's
// buffer or the output's region. Those are the only copies of tensor data.
type tensorWork struct {
	p *Prepared
	k int
}

func bytesOf(f []float32) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(f))), len(f)*4)
}

func (w *tensorWork) Preprocess(in [][]float32) error {
	for t, src := range w.p.inputs {
		dst := bytesOf(in[t])
		src = src[w.k*len(dst) : (w.k+1)*len(dst)]
		if r := w.p.inRegs[t]; r != nil {
			if err := guardedCopy(dst, src); err != nil {
				return r.faulted("input", w.p.m.Engine.Inputs()[t].Name)
			}
			continue
		}
		copy(dst, src)
	}
	return nil
}

func (w *tensorWork) Postprocess(out [][]float32) error {
	for _, o := range w.p.outputs {
		src := bytesOf(out[o.index])
		if o.data != nil {
			copy(o.data[w.k*len(src):(w.k+1)*len(src)], src)
			continue
		}
		// A system region: straight into the mapping.
		dst := o.region.lease.Bytes()
		if err := guardedCopy(dst[w.k*len(src):(w.k+1)*len(src)], src); err != nil {
			return o.region.faulted("output", o.info.Name)
		}
	}
	return nil
}
