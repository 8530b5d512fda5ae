package kserve

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trtserve/trtserve/engines"
	"github.com/trtserve/trtserve/engines/simulated"
	"github.com/trtserve/trtserve/model"
	"github.com/trtserve/trtserve/pipeline"
	"github.com/trtserve/trtserve/repository"
	"github.com/trtserve/trtserve/shm"
)

const testModel = "yolov8n-320"

// item is one 3×320×320 FP32 image; out one 84×2100 output.
const (
	itemBytes = 3 * 320 * 320 * 4
	outBytes  = 84 * 2100 * 4
)

// testManager serves the test repository on the simulated accelerator
// with yolov8n-320/1 loaded (batch 4, queue 8).
func testManager(t testing.TB) (*pipeline.Manager, *pipeline.Model) {
	t.Helper()
	reg := engines.NewBackendSet()
	reg.Register(simulated.New())
	repo := &repository.Repository{Roots: []string{"../testdata/models"}, Defaults: repository.Defaults{
		Backend: simulated.Name, MaxBatchSize: 4, InstanceCount: 1, ForceBackend: simulated.Name}}
	mg := pipeline.NewManager(repo, reg, nil, pipeline.ManagerOptions{Log: slog.New(slog.DiscardHandler), MaxQueueSize: 8})
	t.Cleanup(func() { mg.Close() })
	m, err := mg.Load(context.Background(), testModel+"/1")
	if err != nil {
		t.Fatal(err)
	}
	return mg, m
}

// ramp is n images of a ramp, little-endian FP32, different per image.
func ramp(n int) []byte {
	out := make([]byte, n*itemBytes)
	for i := 0; i < len(out)/4; i++ {
		binary.LittleEndian.PutUint32(out[i*4:], math.Float32bits(float32(i%251)/251))
	}
	return out
}

// fakeCUDA opens "handles" naming host buffers: the CUDA path without a
// GPU. open counts mappings not yet closed.
type fakeCUDA struct {
	mu   sync.Mutex
	mem  map[byte][]byte
	open int
}

type fakeMapping struct {
	f   *fakeCUDA
	mem []byte
}

func (f *fakeCUDA) OpenIPC(h []byte, dev int, size uint64) (shm.CUDAMapping, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	mem, ok := f.mem[h[0]]
	if !ok || size > uint64(len(mem)) {
		return nil, fmt.Errorf("no such allocation")
	}
	f.open++
	return &fakeMapping{f, mem[:size]}, nil
}

func (m *fakeMapping) CopyToHost(dst []byte, off uint64) error   { copy(dst, m.mem[off:]); return nil }
func (m *fakeMapping) CopyFromHost(src []byte, off uint64) error { copy(m.mem[off:], src); return nil }
func (m *fakeMapping) Close() error {
	m.f.mu.Lock()
	defer m.f.mu.Unlock()
	m.f.open--
	return nil
}

func (f *fakeCUDA) opened() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.open
}

func handle(b byte) []byte { h := make([]byte, shm.CUDAHandleSize); h[0] = b; return h }

// testRegions is a registry over a temporary directory holding the file
// "in" (region "in": 2 images, from byte 16) and "out" (region "out": 2
// outputs and 8 spare bytes), and CUDA regions "cin" and "cout" over
// host buffers.
func testRegions(t *testing.T, input []byte) (*shm.Registry, string, *fakeCUDA) {
	t.Helper()
	dir := t.TempDir()
	f := &fakeCUDA{mem: map[byte][]byte{1: append([]byte(nil), input...), 2: make([]byte, 2*outBytes)}}
	r := shm.NewRegistry(shm.Options{Dir: dir, CUDA: f})
	t.Cleanup(func() { r.Close() })
	if err := os.WriteFile(filepath.Join(dir, "in"), append(make([]byte, 16), input...), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "out"), make([]byte, 2*outBytes+8), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{
		r.RegisterSystem("in", "/in", 16, uint64(len(input))),
		r.RegisterSystem("out", "/out", 0, 2*outBytes+8),
		r.RegisterCUDA("cin", handle(1), 0, uint64(len(input))),
		r.RegisterCUDA("cout", handle(2), 0, 2*outBytes),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return r, dir, f
}

func shmParams(region string, offset, size int64) map[string]Param {
	p := map[string]Param{ParamSHMRegion: StringParam(region), ParamSHMByteSize: IntParam(size)}
	if offset >= 0 {
		p[ParamSHMOffset] = IntParam(offset)
	}
	return p
}

func rawInput(n int, raw []byte) Input {
	return Input{Name: "images", Shape: []int64{int64(n), 3, 320, 320}, Datatype: "FP32", Raw: raw}
}

func TestPrepareRefuses(t *testing.T) {
	_, m := testManager(t)
	two := ramp(2)
	regions, _, _ := testRegions(t, two)
	shmIn := func(p map[string]Param) Input {
		return Input{Name: "images", Shape: []int64{2, 3, 320, 320}, Datatype: "FP32", Params: p}
	}
	f32 := make([]float32, 3*320*320)
	for _, tc := range []struct {
		name string
		req  Request
		code Code
		text string
	}{
		{"timeout not an integer", Request{Params: map[string]Param{"timeout": StringParam("soon")}}, InvalidArgument, "parameter timeout"},
		{"negative timeout", Request{Params: map[string]Param{"timeout": IntParam(-1)}}, InvalidArgument, "parameter timeout"},
		{"no inputs", Request{}, InvalidArgument, "expected 1 inputs but got 0"},
		{"unknown input", Request{Inputs: []Input{{Name: "x", Shape: []int64{1}, Datatype: "FP32"}}}, InvalidArgument, "unexpected inference input 'x'"},
		{"wrong datatype", Request{Inputs: []Input{{Name: "images", Shape: []int64{1, 3, 320, 320}, Datatype: "FP16"}}}, InvalidArgument, "data-type is 'FP16'"},
		{"wrong shape", Request{Inputs: []Input{{Name: "images", Shape: []int64{1, 3, 32, 32}, Datatype: "FP32"}}}, InvalidArgument, "expected [-1 3 320 320], got [1 3 32 32]"},
		{"batch 0", Request{Inputs: []Input{rawInput(0, nil)}}, InvalidArgument, "unexpected shape"},
		{"batch over the queue", Request{Inputs: []Input{rawInput(9, nil)}}, InvalidArgument, "a batch of 9 exceeds model 'yolov8n-320''s queue of 8"},
		{"raw too short", Request{Inputs: []Input{rawInput(1, two[:100])}}, InvalidArgument, "has 100 bytes of binary data; shape [1 3 320 320] of FP32 needs 1228800"},
		{"typed too short", Request{Inputs: []Input{{Name: "images", Shape: []int64{2, 3, 320, 320}, Datatype: "FP32", FP32: f32}}}, InvalidArgument, "data has 307200 elements, its shape gives 614400"},
		{"decode fails", Request{Inputs: []Input{{Name: "images", Shape: []int64{1, 3, 320, 320}, Datatype: "FP32",
			Decode: func(int) ([]float32, error) { return nil, errors.New("bad JSON") }}}}, InvalidArgument, "input 'images': bad JSON"},
		{"two sources", Request{Inputs: []Input{{Name: "images", Shape: []int64{1, 3, 320, 320}, Datatype: "FP32", Raw: two[:itemBytes], FP32: f32}}}, InvalidArgument, "exactly one of"},
		{"raw and shm", Request{Inputs: []Input{{Name: "images", Shape: []int64{2, 3, 320, 320}, Datatype: "FP32", Raw: two, Params: shmParams("in", 0, int64(len(two)))}}}, InvalidArgument, "exactly one of"},
		{"no data", Request{Inputs: []Input{{Name: "images", Shape: []int64{1, 3, 320, 320}, Datatype: "FP32"}}}, InvalidArgument, "neither data nor binary_data_size"},
		{"region not a string", Request{Inputs: []Input{shmIn(map[string]Param{ParamSHMRegion: IntParam(1), ParamSHMByteSize: IntParam(1)})}}, InvalidArgument, "shared_memory_region must be a string"},
		{"no byte size", Request{Inputs: []Input{shmIn(map[string]Param{ParamSHMRegion: StringParam("in")})}}, InvalidArgument, "input 'images': parameter shared_memory_byte_size is required with shared_memory_region"},
		{"byte size not an integer", Request{Inputs: []Input{shmIn(map[string]Param{ParamSHMRegion: StringParam("in"), ParamSHMByteSize: StringParam("9")})}}, InvalidArgument, "shared_memory_byte_size must be a non-negative integer"},
		{"negative offset", Request{Inputs: []Input{shmIn(map[string]Param{ParamSHMRegion: StringParam("in"), ParamSHMOffset: IntParam(-4), ParamSHMByteSize: IntParam(int64(len(two)))})}}, InvalidArgument, "shared_memory_offset must be a non-negative integer"},
		{"offset not an integer", Request{Inputs: []Input{shmIn(map[string]Param{ParamSHMRegion: StringParam("in"), ParamSHMOffset: DoubleParam(1.5), ParamSHMByteSize: IntParam(int64(len(two)))})}}, InvalidArgument, "shared_memory_offset must be a non-negative integer"},
		{"input byte size not the tensor's", Request{Inputs: []Input{shmIn(shmParams("in", 0, int64(len(two))-4))}}, InvalidArgument, "shared_memory_byte_size is 2457596; shape [2 3 320 320] of FP32 needs 2457600"},
		{"unknown region", Request{Inputs: []Input{shmIn(shmParams("nope", 0, int64(len(two))))}}, NotFound, "Unable to find shared memory region: 'nope'"},
		{"offset past the region", Request{Inputs: []Input{shmIn(shmParams("in", int64(len(two)), int64(len(two))))}}, InvalidArgument, "Invalid offset"},
		{"window past the region", Request{Inputs: []Input{shmIn(shmParams("in", 4, int64(len(two))))}}, InvalidArgument, "past the region"},
		{"huge offset", Request{Inputs: []Input{shmIn(shmParams("in", math.MaxInt64, int64(len(two))))}}, InvalidArgument, "Invalid offset"},
		{"unknown output", Request{Inputs: []Input{rawInput(2, two)}, Outputs: []RequestedOutput{{Name: "nope"}}}, InvalidArgument, "unexpected inference output 'nope'"},
		{"classification", Request{Inputs: []Input{rawInput(2, two)}, Outputs: []RequestedOutput{{Name: "output0", Params: map[string]Param{"classification": IntParam(3)}}}}, Unimplemented, "classification"},
		{"request classification", Request{Params: map[string]Param{"classification": IntParam(3)}, Inputs: []Input{rawInput(2, two)}}, Unimplemented, "classification"},
		{"binary_data not a boolean", Request{Inputs: []Input{rawInput(2, two)}, Outputs: []RequestedOutput{{Name: "output0", Params: map[string]Param{"binary_data": IntParam(1)}}}}, InvalidArgument, "binary_data must be a boolean"},
		{"output region too small", Request{Inputs: []Input{rawInput(2, two)}, Outputs: []RequestedOutput{{Name: "output0", Params: shmParams("out", 0, outBytes)}}}, InvalidArgument, "shared_memory_byte_size is 705600; the output needs 1411200"},
		{"output window past the region", Request{Inputs: []Input{rawInput(2, two)}, Outputs: []RequestedOutput{{Name: "output0", Params: shmParams("out", 16, 2*outBytes)}}}, InvalidArgument, "past the region"},
		{"output shm and binary", Request{Inputs: []Input{rawInput(2, two)}, Outputs: []RequestedOutput{{Name: "output0", Params: func() map[string]Param {
			p := shmParams("out", 0, 2*outBytes)
			p["binary_data"] = BoolParam(true)
			return p
		}()}}}, InvalidArgument, "can't set both 'shared_memory_region' and 'binary_data'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Prepare(m, &tc.req, regions)
			var ke *Error
			if p != nil || !errors.As(err, &ke) || ke.Code != tc.code || !strings.Contains(ke.Msg, tc.text) {
				t.Fatalf("got %v, %v; want %v with %q", p, err, tc.code, tc.text)
			}
		})
	}
	// Without a registry, shared-memory tensors are refused.
	_, err := Prepare(m, &Request{Inputs: []Input{shmIn(shmParams("in", 16, int64(len(two))))}}, nil)
	if e := CodeOf(err); e == nil || e.Code != InvalidArgument || !strings.Contains(e.Msg, "not enabled") {
		t.Fatalf("no registry: %v", err)
	}
}

// run prepares and runs req, returning its outputs.
func run(t *testing.T, m *pipeline.Model, req *Request, regions *shm.Registry) []Output {
	t.Helper()
	p, err := Prepare(m, req, regions)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Release()
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	return p.Outputs()
}

// TestSharedMemoryAnswersEqualInline: inputs read from system and CUDA
// regions and outputs written into them give the bytes the same request
// with its tensors inline gives, and the answer carries the outputs'
// metadata and parameters with no data.
func TestSharedMemoryAnswersEqualInline(t *testing.T) {
	_, m := testManager(t)
	two := ramp(2)
	regions, dir, _ := testRegions(t, two)
	want := run(t, m, &Request{ID: "a", Inputs: []Input{rawInput(2, two)}}, nil)
	if len(want) != 1 || len(want[0].Data) != 2*outBytes || fmt.Sprint(want[0].Shape) != "[2 84 2100]" {
		t.Fatalf("inline answer %+v", want)
	}
	for _, tc := range []struct {
		name          string
		in, out       string
		inOff, outOff int64
	}{
		{"system", "in", "out", -1, 8},
		{"system with offset 0 given", "in", "out", 0, 0},
		{"cuda", "cin", "cout", -1, 0},
		{"system in, cuda out", "in", "cout", -1, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := Input{Name: "images", Shape: []int64{2, 3, 320, 320}, Datatype: "FP32", Params: shmParams(tc.in, tc.inOff, int64(len(two)))}
			outSize := int64(2 * outBytes)
			outs := run(t, m, &Request{Inputs: []Input{in}, Outputs: []RequestedOutput{{Name: "output0", Params: shmParams(tc.out, tc.outOff, outSize)}}}, regions)
			o := outs[0]
			if o.Data != nil || o.Binary || o.Name != "output0" || o.Datatype != "FP32" || fmt.Sprint(o.Shape) != "[2 84 2100]" {
				t.Fatalf("shm output %+v", o)
			}
			if *o.Params[ParamSHMRegion].String != tc.out || *o.Params[ParamSHMByteSize].Int != outSize || *o.Params[ParamSHMOffset].Int != max(tc.outOff, 0) {
				t.Fatalf("shm output parameters %v", o.Params)
			}
			l, err := regions.Acquire(tc.out, uint64(max(tc.outOff, 0)), uint64(outSize))
			if err != nil {
				t.Fatal(err)
			}
			got := make([]byte, outSize)
			if err := l.Read(got); err != nil {
				t.Fatal(err)
			}
			l.Release()
			if !bytes.Equal(got, want[0].Data) {
				t.Fatal("the region holds other bytes than the inline answer")
			}
		})
	}
	// The first case wrote at offset 8 of the file: the bytes there are
	// the mapping's, shared with the client.
	file, err := os.ReadFile(filepath.Join(dir, "out"))
	if err != nil || len(file) != 2*outBytes+8 {
		t.Fatalf("the output file changed size: %d %v", len(file), err)
	}
}

// TestWorksCopyTheirItem: each batch item copies exactly its slice of
// every input into its slot, and its slot into its slice of the output,
// whether the tensor is inline or in a region.
func TestWorksCopyTheirItem(t *testing.T) {
	_, m := testManager(t)
	two := ramp(2)
	regions, _, _ := testRegions(t, two)
	for _, shmIO := range []bool{false, true} {
		req := &Request{Inputs: []Input{rawInput(2, two)}}
		if shmIO {
			req.Inputs[0] = Input{Name: "images", Shape: []int64{2, 3, 320, 320}, Datatype: "FP32", Params: shmParams("in", 0, int64(len(two)))}
			req.Outputs = []RequestedOutput{{Name: "output0", Params: shmParams("out", 0, 2*outBytes)}}
		}
		p, err := Prepare(m, req, regions)
		if err != nil {
			t.Fatal(err)
		}
		for k := range 2 {
			slot := make([]float32, itemBytes/4)
			w := &tensorWork{p: p, k: k}
			if err := w.Preprocess([][]float32{slot}); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(bytesOf(slot), two[k*itemBytes:(k+1)*itemBytes]) {
				t.Fatalf("shm %v: item %d's slot holds other bytes", shmIO, k)
			}
			out := make([]float32, outBytes/4)
			for i := range out {
				out[i] = float32(k*1000 + i%97)
			}
			if err := w.Postprocess([][]float32{out}); err != nil {
				t.Fatal(err)
			}
			dst := p.outputs[0].data
			if shmIO {
				dst = p.outputs[0].region.lease.Bytes()
			}
			if !bytes.Equal(dst[k*outBytes:(k+1)*outBytes], bytesOf(out)) {
				t.Fatalf("shm %v: item %d's output slice holds other bytes", shmIO, k)
			}
		}
		p.Release()
	}
}

// TestPrepareReleasesOnError: leases taken before a refusal are given
// back, so an unregistered region is unmapped at once.
func TestPrepareReleasesOnError(t *testing.T) {
	_, m := testManager(t)
	two := ramp(2)
	regions, _, f := testRegions(t, two)
	in := Input{Name: "images", Shape: []int64{2, 3, 320, 320}, Datatype: "FP32", Params: shmParams("cin", 0, int64(len(two)))}
	_, err := Prepare(m, &Request{Inputs: []Input{in}, Outputs: []RequestedOutput{{Name: "output0", Params: shmParams("cout", 0, 1)}}}, regions)
	if err == nil {
		t.Fatal("an output region too small was accepted")
	}
	if err := regions.Unregister(shm.CUDA, ""); err != nil {
		t.Fatal(err)
	}
	if n := f.opened(); n != 0 {
		t.Fatalf("%d CUDA mappings still open after unregister: a lease leaked", n)
	}
}

// TestLeaseOutlivesUnregister: a region unregistered while a request
// holds it stays usable until the request is released.
func TestLeaseOutlivesUnregister(t *testing.T) {
	_, m := testManager(t)
	two := ramp(2)
	regions, _, f := testRegions(t, two)
	in := Input{Name: "images", Shape: []int64{2, 3, 320, 320}, Datatype: "FP32", Params: shmParams("in", 0, int64(len(two)))}
	p, err := Prepare(m, &Request{Inputs: []Input{in}, Outputs: []RequestedOutput{{Name: "output0", Params: shmParams("cout", 0, 2*outBytes)}}}, regions)
	if err != nil {
		t.Fatal(err)
	}
	if err := regions.Unregister(shm.System, ""); err != nil {
		t.Fatal(err)
	}
	if err := regions.Unregister(shm.CUDA, ""); err != nil {
		t.Fatal(err)
	}
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if f.opened() != 1 {
		t.Fatal("the CUDA region was closed under a request")
	}
	p.Release()
	if f.opened() != 0 {
		t.Fatal("the CUDA region stayed open after the request was released")
	}
}

func TestTimeoutParameter(t *testing.T) {
	_, m := testManager(t)
	for _, tc := range []struct {
		params map[string]Param
		dflt   string
		want   string
	}{
		{nil, "0s", "0s"},
		{nil, "2s", "2s"},
		{map[string]Param{"timeout": IntParam(1500)}, "2s", "1.5ms"},
		{map[string]Param{"timeout": IntParam(0)}, "2s", "0s"},
	} {
		req := &Request{Params: tc.params, Inputs: []Input{rawInput(1, ramp(1))}}
		req.Timeout, _ = time.ParseDuration(tc.dflt)
		p, err := Prepare(m, req, nil)
		if err != nil {
			t.Fatal(err)
		}
		if p.timeout.String() != tc.want {
			t.Errorf("%v with default %s: timeout %v, want %s", tc.params, tc.dflt, p.timeout, tc.want)
		}
		p.Release()
	}
}

func TestCodeOf(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code Code
		msg  string
	}{
		{pipeline.ErrBusy, ResourceExhausted, "the model's queue is full: retry later"},
		{pipeline.ErrInflightFull, ResourceExhausted, "the server holds as many request bytes as --max-inflight-bytes allows: retry later"},
		{fmt.Errorf("x: %w", pipeline.ErrTooLarge), TooLarge, "x: request can never be admitted"},
		{context.DeadlineExceeded, DeadlineExceeded, "request timed out"},
		{context.Canceled, Canceled, "request cancelled"},
		{pipeline.ErrClosed, Unavailable, "model is unloading"},
		{pipeline.ErrDeviceLost, Unavailable, "the GPU failed"},
		{fmt.Errorf("%w: m", model.ErrUnknownModel), NotFound, "m"},
		{&pipeline.StageError{Stage: pipeline.StageInfer, Err: errors.New("cuda 700")}, Internal, "the model's engine failed on this request's batch"},
		{&pipeline.StageError{Stage: pipeline.StagePreprocess, Err: invalid("input 'x': faulted")}, InvalidArgument, "input 'x': faulted"},
		{errors.New("secret detail"), Internal, "internal error"},
	} {
		e := CodeOf(tc.err)
		if e.Code != tc.code || !strings.Contains(e.Msg, tc.msg) || strings.Contains(e.Msg, "secret") {
			t.Errorf("%v: %v %q, want %v %q", tc.err, e.Code, e.Msg, tc.code, tc.msg)
		}
		if e.Code != InvalidArgument && !errors.Is(e, tc.err) {
			t.Errorf("%v: the cause is lost", tc.err)
		}
	}
	if CodeOf(nil) != nil {
		t.Error("CodeOf(nil) is not nil")
	}
}

// TestShrunkRegionFailsTheRequest: a client that truncates its file under
// a registered region makes the copies fault; the request fails naming the
// region (InvalidArgument) and the process and the model go on.
func TestShrunkRegionFailsTheRequest(t *testing.T) {
	_, m := testManager(t)
	two := ramp(2)
	regions, dir, _ := testRegions(t, two)
	for _, tc := range []struct {
		file, tensor string
		req          Request
	}{
		{"in", "input 'images'", Request{Inputs: []Input{{Name: "images", Shape: []int64{2, 3, 320, 320}, Datatype: "FP32", Params: shmParams("in", 0, int64(len(two)))}}}},
		{"out", "output 'output0'", Request{Inputs: []Input{rawInput(2, two)}, Outputs: []RequestedOutput{{Name: "output0", Params: shmParams("out", 0, 2*outBytes)}}}},
	} {
		p, err := Prepare(m, &tc.req, regions)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(filepath.Join(dir, tc.file), 0); err != nil {
			t.Fatal(err)
		}
		err = p.Run(context.Background())
		p.Release()
		e := CodeOf(err)
		if e == nil || e.Code != InvalidArgument || !strings.Contains(e.Msg, tc.tensor+": shared-memory region '"+tc.file+"' faulted") {
			t.Fatalf("%s truncated: %v", tc.file, err)
		}
	}
	if outs := run(t, m, &Request{Inputs: []Input{rawInput(2, two)}}, nil); len(outs[0].Data) != 2*outBytes {
		t.Fatal("the model does not answer after the faults")
	}
}
