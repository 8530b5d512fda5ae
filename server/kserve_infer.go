package server

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"time"
	"unsafe"

	gojson "github.com/goccy/go-json"
	"github.com/gofiber/fiber/v2"

	"github.com/trtserve/trtserve/model"
	"github.com/trtserve/trtserve/pipeline"
)

// HeaderInferenceHeaderLength is the binary tensor extension's header: the
// length of the JSON part of a body that continues with raw tensor bytes.
const HeaderInferenceHeaderLength = "Inference-Header-Content-Length"

// inferRequest is a KServe v2 inference request's JSON part.
type inferRequest struct {
	ID         string                       `json:"id"`
	Parameters map[string]gojson.RawMessage `json:"parameters"`
	Inputs     []inferInput                 `json:"inputs"`
	Outputs    []requestedOutput            `json:"outputs"`
}

type inferInput struct {
	Name       string                       `json:"name"`
	Shape      []int64                      `json:"shape"`
	Datatype   string                       `json:"datatype"`
	Parameters map[string]gojson.RawMessage `json:"parameters"`
	Data       gojson.RawMessage            `json:"data"`
}

type requestedOutput struct {
	Name       string                       `json:"name"`
	Parameters map[string]gojson.RawMessage `json:"parameters"`
}

// tensorReq is a parsed and validated inference request: for each model
// input, the bytes of the whole batch (a view into the request body for
// binary inputs), and the outputs to return.
type tensorReq struct {
	id      string
	batch   int
	inputs  [][]byte // by model input index
	outputs []tensorOut
	timeout time.Duration
}

type tensorOut struct {
	index  int // model output index
	info   model.TensorInfo
	binary bool
	data   []byte // the whole batch's bytes, filled by the works
}

// paramBool reads a boolean parameter; absent is def.
func paramBool(params map[string]gojson.RawMessage, key string, def bool) (bool, error) {
	raw, ok := params[key]
	if !ok {
		return def, nil
	}
	var v bool
	if err := gojson.Unmarshal(raw, &v); err != nil {
		return false, badRequest("parameter %s must be a boolean", key)
	}
	return v, nil
}

// parseInfer splits the body as the binary tensor extension says and
// checks every input against the model: names, datatypes, shapes and byte
// counts. Input data is not copied: binary inputs stay views into body,
// which lives until the handler returns.
func parseInfer(m *pipeline.Model, body []byte, headerLen string) (*tensorReq, error) {
	ins, outs := m.Engine.Inputs(), m.Engine.Outputs()
	var req inferRequest
	var blobs []byte
	raw := false
	switch {
	case headerLen == "":
		if err := gojson.Unmarshal(body, &req); err != nil {
			return nil, badRequest("malformed JSON inference request: %v", err)
		}
	default:
		n, err := strconv.Atoi(headerLen)
		if err != nil || n < 0 || n > len(body) {
			return nil, badRequest("%s %q: must be a length between 0 and the body's %d bytes", HeaderInferenceHeaderLength, headerLen, len(body))
		}
		if n == 0 {
			// A raw binary request: the body is the one input, batch 1.
			if len(ins) != 1 {
				return nil, badRequest("a raw binary request (%s: 0) needs a model with one input; this one has %d", HeaderInferenceHeaderLength, len(ins))
			}
			raw = true
			shape := slices.Clone(ins[0].Shape)
			shape[0] = 1
			req.Inputs = []inferInput{{Name: ins[0].Name, Shape: shape, Datatype: string(ins[0].DataType),
				Parameters: map[string]gojson.RawMessage{"binary_data_size": gojson.RawMessage(strconv.Itoa(len(body)))}}}
		} else if err := gojson.Unmarshal(body[:n], &req); err != nil {
			return nil, badRequest("malformed JSON inference header: %v", err)
		}
		blobs = body[n:]
	}

	tr := &tensorReq{id: req.ID, inputs: make([][]byte, len(ins)), batch: -1}
	if raw, ok := req.Parameters["timeout"]; ok {
		var us int64
		if err := gojson.Unmarshal(raw, &us); err != nil || us < 0 {
			return nil, badRequest("parameter timeout must be a non-negative number of microseconds")
		}
		tr.timeout = time.Duration(us) * time.Microsecond
	}
	if len(req.Inputs) != len(ins) {
		return nil, badRequest("expected %d inputs but got %d inputs for model '%s'", len(ins), len(req.Inputs), m.Spec.Name)
	}
	for _, in := range req.Inputs {
		i := slices.IndexFunc(ins, func(t model.TensorInfo) bool { return t.Name == in.Name })
		if i < 0 {
			return nil, badRequest("unexpected inference input '%s' for model '%s'", in.Name, m.Spec.Name)
		}
		if tr.inputs[i] != nil {
			return nil, badRequest("input '%s' given twice", in.Name)
		}
		want := ins[i]
		if in.Datatype != string(want.DataType) {
			return nil, badRequest("inference input '%s' data-type is '%s', but model '%s' expects '%s'", in.Name, in.Datatype, m.Spec.Name, want.DataType)
		}
		if err := checkShape(in.Shape, want, m.Spec.Name); err != nil {
			return nil, err
		}
		n := int(in.Shape[0])
		if limit := m.Options().MaxQueueSize; n > limit {
			// Checked before anything is sized from n.
			return nil, badRequest("a batch of %d exceeds model '%s''s queue of %d", n, m.Spec.Name, limit)
		}
		if tr.batch >= 0 && n != tr.batch {
			return nil, badRequest("inputs have different batch sizes (%d and %d)", tr.batch, n)
		}
		tr.batch = n
		size := n * want.ElemsPerItem() * want.DataType.Size()
		if rawSize, binary := in.Parameters["binary_data_size"]; binary {
			var sz int
			if err := gojson.Unmarshal(rawSize, &sz); err != nil || sz < 0 {
				return nil, badRequest("input '%s': binary_data_size must be a non-negative integer", in.Name)
			}
			if sz != size {
				return nil, badRequest("input '%s' has %d bytes of binary data; shape %v of %s needs %d", in.Name, sz, in.Shape, want.DataType, size)
			}
			if len(blobs) < sz {
				return nil, badRequest("input '%s': binary_data_size %d but only %d bytes of binary data remain in the body", in.Name, sz, len(blobs))
			}
			tr.inputs[i], blobs = blobs[:sz:sz], blobs[sz:]
			continue
		}
		if len(in.Data) == 0 {
			return nil, badRequest("input '%s' has neither data nor binary_data_size", in.Name)
		}
		vals, err := parseNumbers(in.Data, size/4)
		if err != nil {
			return nil, badRequest("input '%s': %v", in.Name, err)
		}
		tr.inputs[i] = unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(vals))), len(vals)*4)
	}
	if len(blobs) > 0 {
		return nil, badRequest("%d bytes of binary data after the last binary input", len(blobs))
	}

	allBinary, err := paramBool(req.Parameters, "binary_data_output", raw)
	if err != nil {
		return nil, err
	}
	if _, ok := req.Parameters["classification"]; ok {
		return nil, &apiError{Status: http.StatusNotImplemented, Type: "Unsupported", Msg: "the classification extension is not supported: use /infer/classification"}
	}
	add := func(i int, binary bool) {
		t := outs[i]
		tr.outputs = append(tr.outputs, tensorOut{index: i, info: t, binary: binary,
			data: make([]byte, tr.batch*t.ElemsPerItem()*t.DataType.Size())})
	}
	if len(req.Outputs) == 0 {
		for i := range outs {
			add(i, allBinary)
		}
	}
	for _, o := range req.Outputs {
		i := slices.IndexFunc(outs, func(t model.TensorInfo) bool { return t.Name == o.Name })
		if i < 0 {
			return nil, badRequest("unexpected inference output '%s' for model '%s'", o.Name, m.Spec.Name)
		}
		if _, ok := o.Parameters["classification"]; ok {
			return nil, &apiError{Status: http.StatusNotImplemented, Type: "Unsupported", Msg: "the classification extension is not supported: use /infer/classification"}
		}
		binary, err := paramBool(o.Parameters, "binary_data", allBinary)
		if err != nil {
			return nil, err
		}
		add(i, binary)
	}
	return tr, nil
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
		return badRequest("unexpected shape for input '%s' for model '%s': expected %v, got %v", want.Name, model, dims, shape)
	}
	return nil
}

// parseNumbers reads a KServe "data" array, flat or nested row-major, of
// exactly n numbers. It scans the bytes itself: a generic JSON decode of
// a 1.2-million-element tensor into []any costs ten times as much. Like
// Triton (rapidjson with kParseNanAndInfFlag) it accepts NaN, Infinity and
// -Infinity, which perf_analyzer's random JSON tensors contain.
func parseNumbers(data []byte, n int) ([]float32, error) {
	// A number and its separator take two bytes at least: a shape that
	// promises more than the text can hold fails before n is allocated.
	if n > len(data)/2+1 {
		return nil, fmt.Errorf("data has fewer elements than the %d its shape gives", n)
	}
	out := make([]float32, 0, n)
	depth := 0
	for i := 0; i < len(data); {
		switch ch := data[i]; ch {
		case ' ', '\t', '\n', '\r', ',':
			i++
		case '[':
			depth++
			i++
		case ']':
			if depth--; depth < 0 {
				return nil, fmt.Errorf("data: unbalanced ]")
			}
			i++
		default:
			j := i
			for j < len(data) && numberByte(data[j]) {
				j++
			}
			if j == i {
				return nil, fmt.Errorf("data: expected a number at byte %d, got %q", i, ch)
			}
			v, err := strconv.ParseFloat(unsafe.String(&data[i], j-i), 32)
			if err != nil {
				return nil, fmt.Errorf("data: %q is not a number", data[i:j])
			}
			if len(out) == n {
				return nil, fmt.Errorf("data has more than the %d elements its shape gives", n)
			}
			out = append(out, float32(v))
			i = j
		}
	}
	if depth != 0 || len(data) == 0 || data[0] != '[' {
		return nil, fmt.Errorf("data must be a JSON array")
	}
	if len(out) != n {
		return nil, fmt.Errorf("data has %d elements, its shape gives %d", len(out), n)
	}
	return out, nil
}

// numberByte: the bytes a number token may hold (strconv.ParseFloat then
// decides, so "true" or "nul" are refused there).
func numberByte(c byte) bool {
	return c == '-' || c == '+' || c == '.' || (c >= '0' && c <= '9') || (c|0x20 >= 'a' && c|0x20 <= 'z')
}

// tensorWork is one batch item of a KServe request: it copies its slice of
// each input into its batch slot, and its slot of each requested output
// into the response buffers. Those are the only copies of tensor data.
type tensorWork struct {
	req *tensorReq
	k   int
}

func bytesOf(f []float32) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(f))), len(f)*4)
}

func (w *tensorWork) Preprocess(in [][]float32) error {
	for t, src := range w.req.inputs {
		dst := bytesOf(in[t])
		copy(dst, src[w.k*len(dst):(w.k+1)*len(dst)])
	}
	return nil
}

func (w *tensorWork) Postprocess(out [][]float32) error {
	for _, o := range w.req.outputs {
		src := bytesOf(out[o.index])
		copy(o.data[w.k*len(src):(w.k+1)*len(src)], src)
	}
	return nil
}

func (s *Server) kserveInfer(c *fiber.Ctx) error {
	m, err := s.kserveModel(c)
	if err != nil {
		return err
	}
	tr, err := parseInfer(m, c.Body(), c.Get(HeaderInferenceHeaderLength))
	if err != nil {
		return err
	}
	ctx, cancel := s.inferContext(c)
	defer cancel()
	if tr.timeout > 0 {
		var cancelTimeout context.CancelFunc
		ctx, cancelTimeout = context.WithTimeout(ctx, tr.timeout)
		defer cancelTimeout()
	}
	works := make([]pipeline.Work, tr.batch)
	for k := range works {
		works[k] = &tensorWork{req: tr, k: k}
	}
	for _, err := range m.Do(ctx, works) {
		if err != nil {
			return err
		}
	}
	simulatedHeader(c, m)
	return sendInferResponse(c, m, tr)
}

// sendInferResponse writes the JSON part, then each binary output's bytes
// in order, as the binary tensor extension lays them out.
func sendInferResponse(c *fiber.Ctx, m *pipeline.Model, tr *tensorReq) error {
	buf := make([]byte, 0, 256)
	buf = append(buf, `{"model_name":`...)
	buf = strconv.AppendQuote(buf, m.Spec.Name)
	buf = append(buf, `,"model_version":`...)
	buf = strconv.AppendQuote(buf, m.Spec.Version)
	if tr.id != "" {
		buf = append(buf, `,"id":`...)
		buf = strconv.AppendQuote(buf, tr.id)
	}
	buf = append(buf, `,"outputs":[`...)
	blobs := 0
	for i, o := range tr.outputs {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, `{"name":`...)
		buf = strconv.AppendQuote(buf, o.info.Name)
		buf = append(buf, `,"datatype":"`...)
		buf = append(buf, o.info.DataType...)
		buf = append(buf, `","shape":[`...)
		buf = strconv.AppendInt(buf, int64(tr.batch), 10)
		for _, d := range o.info.Shape[1:] {
			buf = append(buf, ',')
			buf = strconv.AppendInt(buf, d, 10)
		}
		buf = append(buf, ']')
		if o.binary {
			buf = append(buf, `,"parameters":{"binary_data_size":`...)
			buf = strconv.AppendInt(buf, int64(len(o.data)), 10)
			buf = append(buf, "}}"...)
			blobs += len(o.data)
			continue
		}
		buf = append(buf, `,"data":`...)
		buf = appendFloats(buf, o.data)
		buf = append(buf, '}')
	}
	buf = append(buf, "]}"...)
	if blobs == 0 {
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		return c.Send(buf)
	}
	c.Set(HeaderInferenceHeaderLength, strconv.Itoa(len(buf)))
	c.Set(fiber.HeaderContentType, fiber.MIMEOctetStream)
	body := make([]byte, len(buf), len(buf)+blobs)
	copy(body, buf)
	for _, o := range tr.outputs {
		if o.binary {
			body = append(body, o.data...)
		}
	}
	return c.Send(body)
}

// appendFloats writes FP32 bytes as a JSON array with the fewest digits
// that read back as the same float32. NaN and infinities are written as
// NaN, Infinity and -Infinity, as Triton's rapidjson writer does and
// Python's json module reads (strict JSON parsers refuse them: ask for
// binary outputs).
func appendFloats(buf, data []byte) []byte {
	vals := unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(data))), len(data)/4)
	buf = append(buf, '[')
	for i, v := range vals {
		if i > 0 {
			buf = append(buf, ',')
		}
		switch f := float64(v); {
		case math.IsNaN(f):
			buf = append(buf, "NaN"...)
			continue
		case math.IsInf(f, 1):
			buf = append(buf, "Infinity"...)
			continue
		case math.IsInf(f, -1):
			buf = append(buf, "-Infinity"...)
			continue
		}
		buf = strconv.AppendFloat(buf, float64(v), 'g', -1, 32)
	}
	return append(buf, ']')
}
