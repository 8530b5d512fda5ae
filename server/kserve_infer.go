package server

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strconv"
	"unsafe"

	gojson "github.com/goccy/go-json"
	"github.com/gofiber/fiber/v2"

	"github.com/trtserve/trtserve/kserve"
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

// jsonParams reads a parameters object into kserve's values: booleans,
// integers, other numbers and strings; any other JSON value (object,
// array, null) is an empty Param, which known parameters refuse and
// unknown ones ignore.
func jsonParams(raw map[string]gojson.RawMessage) map[string]kserve.Param {
	if len(raw) == 0 {
		return nil
	}
	out := make(map[string]kserve.Param, len(raw))
	for k, v := range raw {
		out[k] = jsonParam(v)
	}
	return out
}

func jsonParam(v gojson.RawMessage) kserve.Param {
	t := bytes.TrimSpace(v)
	if len(t) == 0 {
		return kserve.Param{}
	}
	switch c := t[0]; {
	case string(t) == "true":
		return kserve.BoolParam(true)
	case string(t) == "false":
		return kserve.BoolParam(false)
	case c == '"':
		var s string
		if gojson.Unmarshal(t, &s) == nil {
			return kserve.StringParam(s)
		}
	case c == '-' || (c >= '0' && c <= '9'):
		if i, err := strconv.ParseInt(string(t), 10, 64); err == nil {
			return kserve.IntParam(i)
		}
		if f, err := strconv.ParseFloat(string(t), 64); err == nil {
			return kserve.DoubleParam(f)
		}
	}
	return kserve.Param{}
}

// parseInfer splits the body as the binary tensor extension says and
// turns it into a kserve.Request: binary inputs are views into body (which
// lives until the handler returns), JSON data is parsed by kserve.Prepare
// through Input.Decode once the shape has been checked.
func parseInfer(m *pipeline.Model, body []byte, headerLen string) (*kserve.Request, error) {
	ins := m.Engine.Inputs()
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

	kr := &kserve.Request{ID: req.ID, Params: jsonParams(req.Parameters), Inputs: make([]kserve.Input, len(req.Inputs))}
	if raw {
		// A raw request's answer is binary (it has no JSON to say otherwise).
		kr.Params = map[string]kserve.Param{"binary_data_output": kserve.BoolParam(true)}
	}
	for i, in := range req.Inputs {
		ki := kserve.Input{Name: in.Name, Shape: in.Shape, Datatype: in.Datatype, Params: jsonParams(in.Parameters)}
		if rawSize, binary := in.Parameters["binary_data_size"]; binary {
			var sz int
			if err := gojson.Unmarshal(rawSize, &sz); err != nil || sz < 0 {
				return nil, badRequest("input '%s': binary_data_size must be a non-negative integer", in.Name)
			}
			if len(blobs) < sz {
				return nil, badRequest("input '%s': binary_data_size %d but only %d bytes of binary data remain in the body", in.Name, sz, len(blobs))
			}
			ki.Raw, blobs = blobs[:sz:sz], blobs[sz:]
			if ki.Raw == nil {
				ki.Raw = []byte{}
			}
		} else if len(in.Data) > 0 {
			data := in.Data
			ki.Decode = func(n int) ([]float32, error) { return parseNumbers(data, n) }
		}
		kr.Inputs[i] = ki
	}
	if len(blobs) > 0 {
		return nil, badRequest("%d bytes of binary data after the last binary input", len(blobs))
	}
	for _, o := range req.Outputs {
		kr.Outputs = append(kr.Outputs, kserve.RequestedOutput{Name: o.Name, Params: jsonParams(o.Parameters)})
	}
	return kr, nil
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

func bytesOf(f []float32) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(f))), len(f)*4)
}

func (s *Server) kserveInfer(c *fiber.Ctx) error {
	m, err := s.kserveModel(c)
	if err != nil {
		return err
	}
	req, err := parseInfer(m, c.Body(), c.Get(HeaderInferenceHeaderLength))
	if err != nil {
		return err
	}
	req.Budget = s.opts.InflightBytes // the body's tensors and the answer's buffers
	p, err := kserve.Prepare(m, req, s.opts.SharedMemory)
	if err != nil {
		return err
	}
	defer p.Release()
	ctx, cancel := s.inferContext(c)
	defer cancel()
	if err := p.Run(ctx); err != nil {
		return err
	}
	simulatedHeader(c, m)
	return sendInferResponse(c, m, p)
}

// sendInferResponse writes the JSON part, then each binary output's bytes
// in order, as the binary tensor extension lays them out. An output
// written to a shared-memory region has its name, datatype and shape and
// nothing else, as Triton answers.
func sendInferResponse(c *fiber.Ctx, m *pipeline.Model, p *kserve.Prepared) error {
	outs := p.Outputs()
	buf := make([]byte, 0, 256)
	buf = append(buf, `{"model_name":`...)
	buf = strconv.AppendQuote(buf, m.Spec.Name)
	buf = append(buf, `,"model_version":`...)
	buf = strconv.AppendQuote(buf, m.Spec.Version)
	if id := p.ID(); id != "" {
		buf = append(buf, `,"id":`...)
		buf = strconv.AppendQuote(buf, id)
	}
	buf = append(buf, `,"outputs":[`...)
	blobs := 0
	for i, o := range outs {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, `{"name":`...)
		buf = strconv.AppendQuote(buf, o.Name)
		buf = append(buf, `,"datatype":"`...)
		buf = append(buf, o.Datatype...)
		buf = append(buf, `","shape":[`...)
		for j, d := range o.Shape {
			if j > 0 {
				buf = append(buf, ',')
			}
			buf = strconv.AppendInt(buf, d, 10)
		}
		buf = append(buf, ']')
		switch {
		case o.Data == nil: // in a shared-memory region
			buf = append(buf, '}')
		case o.Binary:
			buf = append(buf, `,"parameters":{"binary_data_size":`...)
			buf = strconv.AppendInt(buf, int64(len(o.Data)), 10)
			buf = append(buf, "}}"...)
			blobs += len(o.Data)
		default:
			buf = append(buf, `,"data":`...)
			buf = appendFloats(buf, o.Data)
			buf = append(buf, '}')
		}
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
	for _, o := range outs {
		if o.Binary && o.Data != nil {
			body = append(body, o.Data...)
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
