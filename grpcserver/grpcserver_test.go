package grpcserver

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding/gzip"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/trtserve/trtserve/engines"
	"github.com/trtserve/trtserve/engines/simulated"
	pb "github.com/trtserve/trtserve/grpcapi/inference"
	"github.com/trtserve/trtserve/kserve"
	"github.com/trtserve/trtserve/pipeline"
	"github.com/trtserve/trtserve/repository"
	"github.com/trtserve/trtserve/shm"
)

const (
	testModel  = "yolov8n-320"
	inputName  = "images"
	inputElems = 3 * 320 * 320
)

// testManager serves the test repository on the simulated accelerator
// (fast, no ONNX Runtime) with yolov8n-320/1 loaded.
func testManager(t testing.TB) *pipeline.Manager {
	t.Helper()
	reg := engines.NewBackendSet()
	reg.Register(simulated.New())
	repo := &repository.Repository{Roots: []string{"../testdata/models"}, Defaults: repository.Defaults{
		Backend: simulated.Name, MaxBatchSize: 4, InstanceCount: 1, ForceBackend: simulated.Name}}
	mg := pipeline.NewManager(repo, reg, nil, pipeline.ManagerOptions{Log: slog.New(slog.DiscardHandler)})
	t.Cleanup(func() { mg.Close() })
	if _, err := mg.Load(context.Background(), testModel+"/1"); err != nil {
		t.Fatal(err)
	}
	return mg
}

// harness is a Server on an in-memory listener and a client of it.
type harness struct {
	srv    *Server
	client pb.GRPCInferenceServiceClient
	health healthpb.HealthClient
	conn   *grpc.ClientConn
	ready  *atomic.Bool
	shmDir string
}

func newHarness(t *testing.T, mg *pipeline.Manager, opts Options) *harness {
	t.Helper()
	h := &harness{ready: &atomic.Bool{}, shmDir: t.TempDir()}
	h.ready.Store(true)
	if opts.Regions == nil {
		opts.Regions = shm.NewRegistry(shm.Options{Dir: h.shmDir})
		t.Cleanup(func() { opts.Regions.Close() })
	}
	h.srv = New(mg, opts, slog.New(slog.DiscardHandler), h.ready.Load)
	ln := bufconn.Listen(1 << 20)
	go h.srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		h.srv.Shutdown(ctx)
	})
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return ln.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(math.MaxInt32), grpc.MaxCallSendMsgSize(math.MaxInt32)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	h.conn, h.client, h.health = conn, pb.NewGRPCInferenceServiceClient(conn), healthpb.NewHealthClient(conn)
	return h
}

// tensorBytes is n images of a ramp, little-endian FP32.
func tensorBytes(n int) []byte {
	out := make([]byte, n*inputElems*4)
	for i := 0; i < len(out)/4; i++ {
		binary.LittleEndian.PutUint32(out[i*4:], math.Float32bits(float32(i%255)/255))
	}
	return out
}

func floatsOf(b []byte) []float32 {
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[i*4:]))
	}
	return out
}

func rawRequest(n int) *pb.ModelInferRequest {
	return &pb.ModelInferRequest{ModelName: testModel, Id: "req-1",
		Inputs:           []*pb.ModelInferRequest_InferInputTensor{{Name: inputName, Datatype: "FP32", Shape: []int64{int64(n), 3, 320, 320}}},
		RawInputContents: [][]byte{tensorBytes(n)}}
}

func typedRequest(n int) *pb.ModelInferRequest {
	return &pb.ModelInferRequest{ModelName: testModel, Id: "req-1",
		Inputs: []*pb.ModelInferRequest_InferInputTensor{{Name: inputName, Datatype: "FP32", Shape: []int64{int64(n), 3, 320, 320},
			Contents: &pb.InferTensorContents{Fp32Contents: floatsOf(tensorBytes(n))}}}}
}

func TestStatusMapping(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want codes.Code
	}{
		{"invalid", kserve.Errorf(kserve.InvalidArgument, "bad shape"), codes.InvalidArgument},
		{"not found", kserve.Errorf(kserve.NotFound, "unknown model"), codes.NotFound},
		{"unavailable", kserve.Errorf(kserve.Unavailable, "loading"), codes.Unavailable},
		{"unimplemented", kserve.Errorf(kserve.Unimplemented, "classification"), codes.Unimplemented},
		{"unauthenticated", kserve.Errorf(kserve.Unauthenticated, "key"), codes.Unauthenticated},
		{"queue full", pipeline.ErrBusy, codes.ResourceExhausted},
		{"queue full, wrapped", fmt.Errorf("image 3: %w", pipeline.ErrBusy), codes.ResourceExhausted},
		{"deadline", context.DeadlineExceeded, codes.DeadlineExceeded},
		{"cancelled", context.Canceled, codes.Canceled},
		{"model closing", pipeline.ErrClosed, codes.Unavailable},
		{"anything else", errors.New("boom"), codes.Internal},
		{"a status stays", status.Error(codes.AlreadyExists, "x"), codes.AlreadyExists},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := status.Code(toStatus(tc.err)); got != tc.want {
				t.Errorf("code %v, want %v", got, tc.want)
			}
		})
	}
	if msg := status.Convert(toStatus(errors.New("secret path /etc/x"))).Message(); msg != "internal error" {
		t.Errorf("an internal cause leaked: %q", msg)
	}
	for c := kserve.Internal; c <= kserve.TooLarge; c++ {
		if _, ok := grpcCodes[c]; !ok {
			t.Errorf("kserve code %v has no gRPC code", c)
		}
	}
}

func TestSHMStatusMapping(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want codes.Code
	}{
		{fmt.Errorf("%w: Unable to find system shared memory region: 'x'", shm.ErrNotFound), codes.NotFound},
		{fmt.Errorf("%w: shared memory region 'x' already in manager", shm.ErrExists), codes.AlreadyExists},
		{fmt.Errorf("%w: offset 9 beyond 8", shm.ErrBounds), codes.InvalidArgument},
		{fmt.Errorf("%w: bad key", shm.ErrInvalid), codes.InvalidArgument},
		{fmt.Errorf("%w: %w", shm.ErrNoCUDA, shm.ErrInvalid), codes.InvalidArgument},
		{errors.New("munmap failed"), codes.Internal},
	} {
		if got := status.Code(shmStatus(tc.err)); got != tc.want {
			t.Errorf("%v: code %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestInferRequestConversion(t *testing.T) {
	in := func(name string, mod func(*pb.ModelInferRequest_InferInputTensor)) *pb.ModelInferRequest_InferInputTensor {
		t := &pb.ModelInferRequest_InferInputTensor{Name: name, Datatype: "FP32", Shape: []int64{1, 2}}
		if mod != nil {
			mod(t)
		}
		return t
	}
	shmParams := map[string]*pb.InferParameter{
		"shared_memory_region":    {ParameterChoice: &pb.InferParameter_StringParam{StringParam: "r"}},
		"shared_memory_byte_size": {ParameterChoice: &pb.InferParameter_Int64Param{Int64Param: 8}},
		"shared_memory_offset":    {ParameterChoice: &pb.InferParameter_Uint64Param{Uint64Param: 16}},
	}
	for _, tc := range []struct {
		name    string
		req     *pb.ModelInferRequest
		wantErr string
		check   func(t *testing.T, r *kserve.Request)
	}{
		{"raw", &pb.ModelInferRequest{Id: "a", Inputs: []*pb.ModelInferRequest_InferInputTensor{in("x", nil)}, RawInputContents: [][]byte{{1, 2, 3, 4, 5, 6, 7, 8}}}, "",
			func(t *testing.T, r *kserve.Request) {
				if r.ID != "a" || len(r.Inputs[0].Raw) != 8 || r.Inputs[0].FP32 != nil {
					t.Errorf("%+v", r.Inputs[0])
				}
			}},
		{"an empty raw entry is data of 0 bytes, not none", &pb.ModelInferRequest{Inputs: []*pb.ModelInferRequest_InferInputTensor{in("x", nil)}, RawInputContents: [][]byte{nil}}, "",
			func(t *testing.T, r *kserve.Request) {
				if r.Inputs[0].Raw == nil {
					t.Error("nil raw")
				}
			}},
		{"typed", &pb.ModelInferRequest{Inputs: []*pb.ModelInferRequest_InferInputTensor{in("x", func(t *pb.ModelInferRequest_InferInputTensor) {
			t.Contents = &pb.InferTensorContents{Fp32Contents: []float32{1, 2}}
		})}}, "", func(t *testing.T, r *kserve.Request) {
			if len(r.Inputs[0].FP32) != 2 || r.Inputs[0].Raw != nil {
				t.Errorf("%+v", r.Inputs[0])
			}
		}},
		{"empty typed contents are data of 0 elements", &pb.ModelInferRequest{Inputs: []*pb.ModelInferRequest_InferInputTensor{in("x", func(t *pb.ModelInferRequest_InferInputTensor) {
			t.Contents = &pb.InferTensorContents{}
		})}}, "", func(t *testing.T, r *kserve.Request) {
			if r.Inputs[0].FP32 == nil {
				t.Error("nil FP32")
			}
		}},
		{"shared memory takes no raw entry", &pb.ModelInferRequest{Inputs: []*pb.ModelInferRequest_InferInputTensor{
			in("a", func(t *pb.ModelInferRequest_InferInputTensor) { t.Parameters = shmParams }), in("b", nil)},
			RawInputContents: [][]byte{{9}}}, "", func(t *testing.T, r *kserve.Request) {
			a, b := r.Inputs[0], r.Inputs[1]
			if a.Raw != nil || a.FP32 != nil || *a.Params["shared_memory_region"].String != "r" || *a.Params["shared_memory_offset"].Int != 16 {
				t.Errorf("a: %+v", a)
			}
			if !bytes.Equal(b.Raw, []byte{9}) {
				t.Errorf("b: %+v", b)
			}
		}},
		{"typed and raw mixed", &pb.ModelInferRequest{Inputs: []*pb.ModelInferRequest_InferInputTensor{in("x", func(t *pb.ModelInferRequest_InferInputTensor) {
			t.Contents = &pb.InferTensorContents{Fp32Contents: []float32{1, 2}}
		})}, RawInputContents: [][]byte{{1}}}, "contents field must not be specified when using raw_input_contents for 'x'", nil},
		{"other typed contents for FP32", &pb.ModelInferRequest{Inputs: []*pb.ModelInferRequest_InferInputTensor{in("x", func(t *pb.ModelInferRequest_InferInputTensor) {
			t.Contents = &pb.InferTensorContents{IntContents: []int32{1, 2}}
		})}}, "datatype FP32 takes fp32_contents, not int_contents", nil},
		{"no data", &pb.ModelInferRequest{Inputs: []*pb.ModelInferRequest_InferInputTensor{in("x", nil), in("y", nil)}, RawInputContents: [][]byte{{1}}},
			"unable to find data for input tensor 'y'", nil},
		{"extra raw", &pb.ModelInferRequest{Inputs: []*pb.ModelInferRequest_InferInputTensor{in("x", nil)}, RawInputContents: [][]byte{{1}, {2}}},
			"raw_input_contents has 2 entries but only 1 inputs take raw data", nil},
		{"parameters of every type", &pb.ModelInferRequest{
			Parameters: map[string]*pb.InferParameter{
				"b": {ParameterChoice: &pb.InferParameter_BoolParam{BoolParam: true}},
				"d": {ParameterChoice: &pb.InferParameter_DoubleParam{DoubleParam: 0.5}},
				"u": {ParameterChoice: &pb.InferParameter_Uint64Param{Uint64Param: math.MaxUint64}},
				"n": {},
			},
			Inputs: []*pb.ModelInferRequest_InferInputTensor{in("x", nil)}, RawInputContents: [][]byte{{1}},
			Outputs: []*pb.ModelInferRequest_InferRequestedOutputTensor{{Name: "o"}}}, "", func(t *testing.T, r *kserve.Request) {
			p := r.Params
			if !*p["b"].Bool || *p["d"].Double != 0.5 || p["u"] != (kserve.Param{}) || p["n"] != (kserve.Param{}) {
				t.Errorf("%+v", p)
			}
			if len(r.Outputs) != 1 || r.Outputs[0].Name != "o" {
				t.Errorf("outputs %+v", r.Outputs)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := inferRequest(tc.req)
			if tc.wantErr != "" {
				if status.Code(err) != codes.InvalidArgument || !bytes.Contains([]byte(status.Convert(err).Message()), []byte(tc.wantErr)) {
					t.Fatalf("err %v, want INVALID_ARGUMENT %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, r)
		})
	}
}

func TestMetadataAndReadiness(t *testing.T) {
	h := newHarness(t, testManager(t), Options{Version: "9.9"})
	ctx := context.Background()
	live, err := h.client.ServerLive(ctx, &pb.ServerLiveRequest{})
	if err != nil || !live.Live {
		t.Fatalf("live %v %v", live, err)
	}
	ready, err := h.client.ServerReady(ctx, &pb.ServerReadyRequest{})
	if err != nil || !ready.Ready {
		t.Fatalf("ready %v %v", ready, err)
	}
	md, err := h.client.ServerMetadata(ctx, &pb.ServerMetadataRequest{})
	if err != nil || md.Name != "trtserve" || md.Version != "9.9" || len(md.Extensions) == 0 {
		t.Fatalf("server metadata %v %v", md, err)
	}
	for _, tc := range []struct {
		name, version string
		ready         bool
	}{{testModel, "", true}, {testModel, "1", true}, {testModel, "7", false}, {"nope", "", false}, {"yolov5n-320", "", false}} {
		r, err := h.client.ModelReady(ctx, &pb.ModelReadyRequest{Name: tc.name, Version: tc.version})
		if err != nil || r.Ready != tc.ready {
			t.Errorf("ModelReady(%s/%s) = %v, %v; want %v", tc.name, tc.version, r, err, tc.ready)
		}
	}
	mm, err := h.client.ModelMetadata(ctx, &pb.ModelMetadataRequest{Name: testModel})
	if err != nil {
		t.Fatal(err)
	}
	if mm.Name != testModel || mm.Platform != "simulated" || len(mm.Versions) != 1 || mm.Versions[0] != "1" ||
		len(mm.Inputs) != 1 || mm.Inputs[0].Name != inputName || mm.Inputs[0].Datatype != "FP32" || fmt.Sprint(mm.Inputs[0].Shape) != "[-1 3 320 320]" {
		t.Errorf("model metadata %v", mm)
	}
	for _, tc := range []struct {
		name, version string
		want          codes.Code
	}{{"nope", "", codes.NotFound}, {"yolov5n-320", "", codes.Unavailable}} {
		if _, err := h.client.ModelMetadata(ctx, &pb.ModelMetadataRequest{Name: tc.name, Version: tc.version}); status.Code(err) != tc.want {
			t.Errorf("ModelMetadata(%s): %v, want %v", tc.name, err, tc.want)
		}
	}
	cfg, err := h.client.ModelConfig(ctx, &pb.ModelConfigRequest{Name: testModel})
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Config
	if c.Name != testModel || c.MaxBatchSize != 4 || len(c.Input) != 1 || c.Input[0].DataType != pb.DataType_TYPE_FP32 ||
		c.Input[0].Format != pb.ModelInput_FORMAT_NCHW || fmt.Sprint(c.Input[0].Dims) != "[3 320 320]" ||
		c.GetDynamicBatching().GetDefaultQueuePolicy().GetMaxQueueSize() == 0 || len(c.InstanceGroup) != 1 ||
		c.InstanceGroup[0].Kind != pb.ModelInstanceGroup_KIND_GPU || c.Parameters["task"].GetStringValue() != "object-detection" {
		t.Errorf("config %v", c)
	}
	// Server readiness follows isReady, and so does health.
	h.ready.Store(false)
	if r, _ := h.client.ServerReady(ctx, &pb.ServerReadyRequest{}); r.Ready {
		t.Error("ready while isReady says not")
	}
	if _, err := h.client.ModelReady(ctx, &pb.ModelReadyRequest{Name: testModel}); status.Code(err) != codes.Unavailable {
		t.Errorf("model ready while the server is not: %v", err)
	}
}

func inferOK(t *testing.T, h *harness, req *pb.ModelInferRequest) *pb.ModelInferResponse {
	t.Helper()
	resp, err := h.client.ModelInfer(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestInferRawAndTypedAgree(t *testing.T) {
	h := newHarness(t, testManager(t), Options{})
	for _, n := range []int{1, 4} {
		raw := inferOK(t, h, rawRequest(n))
		typed := inferOK(t, h, typedRequest(n))
		for _, r := range []*pb.ModelInferResponse{raw, typed} {
			if r.ModelName != testModel || r.ModelVersion != "1" || r.Id != "req-1" || len(r.Outputs) != 1 || len(r.RawOutputContents) != 1 {
				t.Fatalf("batch %d: %v", n, r)
			}
			o := r.Outputs[0]
			want := int64(n)
			for _, d := range o.Shape[1:] {
				want *= d
			}
			if o.Shape[0] != int64(n) || o.Datatype != "FP32" || int64(len(r.RawOutputContents[0])) != want*4 {
				t.Fatalf("batch %d: output %v with %d bytes", n, o, len(r.RawOutputContents[0]))
			}
		}
		if !bytes.Equal(raw.RawOutputContents[0], typed.RawOutputContents[0]) {
			t.Errorf("batch %d: raw and typed inputs answer differently", n)
		}
	}
	// Requested outputs: unknown ones are refused.
	req := rawRequest(1)
	req.Outputs = []*pb.ModelInferRequest_InferRequestedOutputTensor{{Name: "nope"}}
	if _, err := h.client.ModelInfer(context.Background(), req); status.Code(err) != codes.InvalidArgument {
		t.Errorf("unknown output: %v", err)
	}
}

func TestInferErrors(t *testing.T) {
	h := newHarness(t, testManager(t), Options{})
	for _, tc := range []struct {
		name string
		mod  func(r *pb.ModelInferRequest)
		want codes.Code
		msg  string
	}{
		{"unknown model", func(r *pb.ModelInferRequest) { r.ModelName = "nope" }, codes.NotFound, "unknown model"},
		{"model not loaded", func(r *pb.ModelInferRequest) { r.ModelName = "yolov5n-320" }, codes.Unavailable, "not ready"},
		{"bad shape", func(r *pb.ModelInferRequest) { r.Inputs[0].Shape = []int64{1, 3, 32, 32} }, codes.InvalidArgument, "unexpected shape for input 'images'"},
		{"bad datatype", func(r *pb.ModelInferRequest) { r.Inputs[0].Datatype = "FP16" }, codes.InvalidArgument, "data-type is 'FP16'"},
		{"short raw", func(r *pb.ModelInferRequest) { r.RawInputContents[0] = r.RawInputContents[0][:100] }, codes.InvalidArgument, "has 100 bytes"},
		{"unknown input", func(r *pb.ModelInferRequest) { r.Inputs[0].Name = "x" }, codes.InvalidArgument, "unexpected inference input 'x'"},
		{"timeout parameter of the wrong type", func(r *pb.ModelInferRequest) {
			r.Parameters = map[string]*pb.InferParameter{"timeout": {ParameterChoice: &pb.InferParameter_StringParam{StringParam: "1"}}}
		}, codes.InvalidArgument, "timeout"},
		{"classification", func(r *pb.ModelInferRequest) {
			r.Outputs = []*pb.ModelInferRequest_InferRequestedOutputTensor{{Name: "output0", Parameters: map[string]*pb.InferParameter{
				"classification": {ParameterChoice: &pb.InferParameter_Int64Param{Int64Param: 3}}}}}
		}, codes.Unimplemented, "classification"},
		{"unknown region", func(r *pb.ModelInferRequest) {
			r.RawInputContents = nil
			r.Inputs[0].Parameters = map[string]*pb.InferParameter{
				"shared_memory_region":    {ParameterChoice: &pb.InferParameter_StringParam{StringParam: "nope"}},
				"shared_memory_byte_size": {ParameterChoice: &pb.InferParameter_Int64Param{Int64Param: inputElems * 4}}}
		}, codes.NotFound, "Unable to find shared memory region: 'nope'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := rawRequest(1)
			tc.mod(req)
			_, err := h.client.ModelInfer(context.Background(), req)
			if status.Code(err) != tc.want || !bytes.Contains([]byte(status.Convert(err).Message()), []byte(tc.msg)) {
				t.Errorf("%v, want %v %q", err, tc.want, tc.msg)
			}
		})
	}
	// A passed deadline.
	ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	<-ctx.Done()
	if _, err := h.client.ModelInfer(ctx, rawRequest(1)); status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("deadline: %v", err)
	}
	// The server still serves.
	inferOK(t, h, rawRequest(1))
}

// TestQueueFullIsResourceExhausted: a model with a queue of 1 image and a
// slow engine refuses the requests that do not fit with RESOURCE_EXHAUSTED.
func TestQueueFullIsResourceExhausted(t *testing.T) {
	mg := testManager(t)
	cfg := []byte(`{"backend": "simulated", "max_batch_size": 1, "simulated": {"base_us": 300000}, "dynamic_batching": {"max_queue_size": 1}}`)
	if _, err := mg.Reload(context.Background(), testModel+"/1", cfg); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, mg, Options{})
	const n = 8
	codesSeen := make([]codes.Code, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := h.client.ModelInfer(context.Background(), rawRequest(1))
			codesSeen[i] = status.Code(err)
		}()
	}
	wg.Wait()
	count := map[codes.Code]int{}
	for _, c := range codesSeen {
		count[c]++
	}
	if count[codes.OK] == 0 || count[codes.ResourceExhausted] == 0 || count[codes.OK]+count[codes.ResourceExhausted] != n {
		t.Errorf("codes %v: want some OK and the rest RESOURCE_EXHAUSTED", count)
	}
}

func TestStreamInfer(t *testing.T) {
	h := newHarness(t, testManager(t), Options{StreamInflight: 3})
	stream, err := h.client.ModelStreamInfer(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	const n = 10
	want := inferOK(t, h, rawRequest(1)).RawOutputContents[0]
	go func() {
		for i := range n {
			req := rawRequest(1)
			req.Id = fmt.Sprint(i)
			if i%3 == 2 {
				req.ModelName = "nope" // an error answers in error_message; the stream goes on
			}
			if err := stream.Send(req); err != nil {
				t.Error(err)
				return
			}
		}
		stream.CloseSend()
	}()
	ids, errs := map[string]bool{}, 0
	for {
		r, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if r.ErrorMessage != "" {
			if !bytes.Contains([]byte(r.ErrorMessage), []byte("unknown model")) {
				t.Errorf("error message %q", r.ErrorMessage)
			}
			errs++
			continue
		}
		ids[r.InferResponse.Id] = true
		if !bytes.Equal(r.InferResponse.RawOutputContents[0], want) {
			t.Errorf("stream answer %s differs from the unary one", r.InferResponse.Id)
		}
	}
	if len(ids)+errs != n || errs != 3 {
		t.Errorf("%d answers and %d errors, want %d and 3", len(ids), errs, n-3)
	}
}

func TestStatisticsIndexLoadUnload(t *testing.T) {
	h := newHarness(t, testManager(t), Options{})
	ctx := context.Background()
	inferOK(t, h, rawRequest(4))
	st, err := h.client.ModelStatistics(ctx, &pb.ModelStatisticsRequest{Name: testModel})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.ModelStats) != 1 || st.ModelStats[0].InferenceCount < 4 || st.ModelStats[0].InferenceStats.Success.Count == 0 || len(st.ModelStats[0].BatchStats) == 0 {
		t.Errorf("stats %v", st)
	}
	if _, err := h.client.ModelStatistics(ctx, &pb.ModelStatisticsRequest{Name: "nope"}); status.Code(err) != codes.NotFound {
		t.Errorf("stats of an unknown model: %v", err)
	}
	idx, err := h.client.RepositoryIndex(ctx, &pb.RepositoryIndexRequest{Ready: true})
	if err != nil || len(idx.Models) != 1 || idx.Models[0].Name != testModel || idx.Models[0].State != "READY" {
		t.Fatalf("ready index %v %v", idx, err)
	}
	if _, err := h.client.RepositoryIndex(ctx, &pb.RepositoryIndexRequest{RepositoryName: "other"}); status.Code(err) != codes.Unimplemented {
		t.Errorf("named repository: %v", err)
	}
	if _, err := h.client.RepositoryModelLoad(ctx, &pb.RepositoryModelLoadRequest{ModelName: "yolov5n-320"}); err != nil {
		t.Fatal(err)
	}
	if r, err := h.client.ModelReady(ctx, &pb.ModelReadyRequest{Name: "yolov5n-320"}); err != nil || !r.Ready {
		t.Errorf("not ready after load: %v", err)
	}
	if _, err := h.client.RepositoryModelUnload(ctx, &pb.RepositoryModelUnloadRequest{ModelName: "yolov5n-320"}); err != nil {
		t.Fatal(err)
	}
	if r, err := h.client.ModelReady(ctx, &pb.ModelReadyRequest{Name: "yolov5n-320"}); err != nil || r.Ready {
		t.Errorf("ready after unload: %v %v", r, err)
	}
	for _, tc := range []struct {
		name string
		call func() error
		want codes.Code
	}{
		{"load unknown", func() error {
			_, err := h.client.RepositoryModelLoad(ctx, &pb.RepositoryModelLoadRequest{ModelName: "nope"})
			return err
		}, codes.NotFound},
		{"unload unknown", func() error {
			_, err := h.client.RepositoryModelUnload(ctx, &pb.RepositoryModelUnloadRequest{ModelName: "nope"})
			return err
		}, codes.NotFound},
		{"file upload", func() error {
			_, err := h.client.RepositoryModelLoad(ctx, &pb.RepositoryModelLoadRequest{ModelName: testModel, Parameters: map[string]*pb.ModelRepositoryParameter{
				"file:1/model.onnx": {ParameterChoice: &pb.ModelRepositoryParameter_BytesParam{BytesParam: []byte{1}}}}})
			return err
		}, codes.Unimplemented},
		{"config not a string", func() error {
			_, err := h.client.RepositoryModelLoad(ctx, &pb.RepositoryModelLoadRequest{ModelName: testModel, Parameters: map[string]*pb.ModelRepositoryParameter{
				"config": {ParameterChoice: &pb.ModelRepositoryParameter_BoolParam{BoolParam: true}}}})
			return err
		}, codes.InvalidArgument},
		{"bad config", func() error {
			_, err := h.client.RepositoryModelLoad(ctx, &pb.RepositoryModelLoadRequest{ModelName: testModel, Parameters: map[string]*pb.ModelRepositoryParameter{
				"config": {ParameterChoice: &pb.ModelRepositoryParameter_StringParam{StringParam: `{"max_batch_size": 100000}`}}}})
			return err
		}, codes.InvalidArgument},
		{"trace settings", func() error {
			_, err := h.client.TraceSetting(ctx, &pb.TraceSettingRequest{})
			return err
		}, codes.Unimplemented},
		{"log settings", func() error {
			_, err := h.client.LogSettings(ctx, &pb.LogSettingsRequest{})
			return err
		}, codes.Unimplemented},
	} {
		if err := tc.call(); status.Code(err) != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	// The model that failed a reload keeps serving.
	inferOK(t, h, rawRequest(1))
}

func TestModelControlModes(t *testing.T) {
	for _, mode := range []string{"none", "poll"} {
		h := newHarness(t, testManager(t), Options{ModelControl: mode})
		_, err := h.client.RepositoryModelLoad(context.Background(), &pb.RepositoryModelLoadRequest{ModelName: testModel})
		if status.Code(err) != codes.Unavailable || !bytes.Contains([]byte(status.Convert(err).Message()), []byte("not allowed")) {
			t.Errorf("%s: load answered %v", mode, err)
		}
		_, err = h.client.RepositoryModelUnload(context.Background(), &pb.RepositoryModelUnloadRequest{ModelName: testModel})
		if status.Code(err) != codes.Unavailable {
			t.Errorf("%s: unload answered %v", mode, err)
		}
	}
}

func TestAPIKeys(t *testing.T) {
	h := newHarness(t, testManager(t), Options{APIKey: "sekret", AdminAPIKey: "admin"})
	with := func(kv ...string) context.Context {
		return metadata.NewOutgoingContext(context.Background(), metadata.Pairs(kv...))
	}
	for _, tc := range []struct {
		name string
		ctx  context.Context
		call func(ctx context.Context) error
		want codes.Code
	}{
		{"live needs no key", context.Background(), func(ctx context.Context) error {
			_, err := h.client.ServerLive(ctx, &pb.ServerLiveRequest{})
			return err
		}, codes.OK},
		{"ready needs no key", context.Background(), func(ctx context.Context) error {
			_, err := h.client.ServerReady(ctx, &pb.ServerReadyRequest{})
			return err
		}, codes.OK},
		{"health needs no key", context.Background(), func(ctx context.Context) error {
			_, err := h.health.Check(ctx, &healthpb.HealthCheckRequest{})
			return err
		}, codes.OK},
		{"metadata without a key", context.Background(), func(ctx context.Context) error {
			_, err := h.client.ServerMetadata(ctx, &pb.ServerMetadataRequest{})
			return err
		}, codes.Unauthenticated},
		{"wrong key", with("authorization", "Bearer nope"), func(ctx context.Context) error {
			_, err := h.client.ServerMetadata(ctx, &pb.ServerMetadataRequest{})
			return err
		}, codes.Unauthenticated},
		{"bearer key", with("authorization", "Bearer sekret"), func(ctx context.Context) error {
			_, err := h.client.ModelInfer(ctx, rawRequest(1))
			return err
		}, codes.OK},
		{"bearer, any case", with("authorization", "bearer sekret"), func(ctx context.Context) error {
			_, err := h.client.ServerMetadata(ctx, &pb.ServerMetadataRequest{})
			return err
		}, codes.OK},
		{"x-api-key", with("x-api-key", "sekret"), func(ctx context.Context) error {
			_, err := h.client.ServerMetadata(ctx, &pb.ServerMetadataRequest{})
			return err
		}, codes.OK},
		{"stream without a key", context.Background(), func(ctx context.Context) error {
			s, err := h.client.ModelStreamInfer(ctx)
			if err != nil {
				return err
			}
			_, err = s.Recv()
			return err
		}, codes.Unauthenticated},
		{"admin key for inference", with("authorization", "Bearer admin"), func(ctx context.Context) error {
			_, err := h.client.ServerMetadata(ctx, &pb.ServerMetadataRequest{})
			return err
		}, codes.OK},
		{"unload with the inference key", with("authorization", "Bearer sekret"), func(ctx context.Context) error {
			_, err := h.client.RepositoryModelUnload(ctx, &pb.RepositoryModelUnloadRequest{ModelName: "yolov5n-320"})
			return err
		}, codes.PermissionDenied},
		{"unload with a wrong key", with("authorization", "Bearer nope"), func(ctx context.Context) error {
			_, err := h.client.RepositoryModelUnload(ctx, &pb.RepositoryModelUnloadRequest{ModelName: "yolov5n-320"})
			return err
		}, codes.Unauthenticated},
		{"unload with the admin key", with("authorization", "Bearer admin"), func(ctx context.Context) error {
			_, err := h.client.RepositoryModelUnload(ctx, &pb.RepositoryModelUnloadRequest{ModelName: "yolov5n-320"})
			return err
		}, codes.OK},
	} {
		if err := tc.call(tc.ctx); status.Code(err) != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	// Only an admin key: inference is open, model control needs it.
	h = newHarness(t, testManager(t), Options{AdminAPIKey: "admin"})
	if _, err := h.client.ModelInfer(context.Background(), rawRequest(1)); err != nil {
		t.Errorf("inference with only an admin key set: %v", err)
	}
	if _, err := h.client.RepositoryModelUnload(context.Background(), &pb.RepositoryModelUnloadRequest{ModelName: "yolov5n-320"}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("control without a key: %v", err)
	}
	if _, err := h.client.RepositoryModelUnload(with("authorization", "Bearer admin"), &pb.RepositoryModelUnloadRequest{ModelName: "yolov5n-320"}); err != nil {
		t.Errorf("control with the admin key: %v", err)
	}
	// Only an API key: it is the control key too.
	h = newHarness(t, testManager(t), Options{APIKey: "sekret"})
	if _, err := h.client.RepositoryModelUnload(with("authorization", "Bearer sekret"), &pb.RepositoryModelUnloadRequest{ModelName: "yolov5n-320"}); err != nil {
		t.Errorf("control with the only key: %v", err)
	}
}

func TestHealthAndDrain(t *testing.T) {
	h := newHarness(t, testManager(t), Options{})
	ctx := context.Background()
	check := func(service string) healthpb.HealthCheckResponse_ServingStatus {
		r, err := h.health.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
		if err != nil {
			t.Fatal(err)
		}
		return r.Status
	}
	for _, svc := range []string{"", "inference.GRPCInferenceService"} {
		if st := check(svc); st != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("%q: %v", svc, st)
		}
	}
	if _, err := h.health.Check(ctx, &healthpb.HealthCheckRequest{Service: "nope"}); status.Code(err) != codes.NotFound {
		t.Errorf("unknown service: %v", err)
	}
	// Not ready: NOT_SERVING once the watcher sees it (no timing asserted:
	// wait for the change).
	h.ready.Store(false)
	for check("") != healthpb.HealthCheckResponse_NOT_SERVING {
		time.Sleep(50 * time.Millisecond)
	}
	h.ready.Store(true)
	for check("") != healthpb.HealthCheckResponse_SERVING {
		time.Sleep(50 * time.Millisecond)
	}
	// A stream open across the drain: its request in flight is answered,
	// then it ends UNAVAILABLE.
	stream, err := h.client.ModelStreamInfer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(rawRequest(1)); err != nil {
		t.Fatal(err)
	}
	if r, err := stream.Recv(); err != nil || r.ErrorMessage != "" {
		t.Fatalf("%v %v", r, err)
	}
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		done <- h.srv.Shutdown(ctx)
	}()
	if _, err := stream.Recv(); status.Code(err) != codes.Unavailable {
		t.Errorf("stream after drain: %v", err)
	}
	if err := <-done; err != nil {
		t.Errorf("shutdown: %v", err)
	}
	if h.srv.ready() {
		t.Error("ready after shutdown")
	}
}

func TestGzipAndMessageLimit(t *testing.T) {
	h := newHarness(t, testManager(t), Options{MaxMessageBytes: 1 << 20})
	ctx := context.Background()
	// 1.2 MB of zeros compress to little, but the limit is on the message
	// after decompression.
	req := rawRequest(1)
	req.RawInputContents[0] = make([]byte, inputElems*4)
	if _, err := h.client.ModelInfer(ctx, req, grpc.UseCompressor(gzip.Name)); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("over the message limit: %v", err)
	}
	if _, err := h.client.ModelInfer(ctx, req, grpc.UseCompressor("deflate")); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("over the message limit, deflate: %v", err)
	}
	h2 := newHarness(t, testManager(t), Options{})
	want := inferOK(t, h2, rawRequest(2)).RawOutputContents[0]
	for _, c := range []string{gzip.Name, "deflate"} {
		r, err := h2.client.ModelInfer(ctx, rawRequest(2), grpc.UseCompressor(c))
		if err != nil || len(r.RawOutputContents) != 1 || !bytes.Equal(r.RawOutputContents[0], want) {
			t.Fatalf("%s: %v", c, err)
		}
	}
}

func TestSharedMemoryRPCsAndInfer(t *testing.T) {
	h := newHarness(t, testManager(t), Options{})
	ctx := context.Background()
	want := inferOK(t, h, rawRequest(1))
	outBytes := len(want.RawOutputContents[0])
	in := tensorBytes(1)
	// One region holding the input at offset 64 and then room for the output.
	size := 64 + len(in) + outBytes
	buf := make([]byte, size)
	copy(buf[64:], in)
	if err := os.WriteFile(filepath.Join(h.shmDir, "trt_region"), buf, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := h.client.SystemSharedMemoryRegister(ctx, &pb.SystemSharedMemoryRegisterRequest{Name: "r", Key: "/trt_region", ByteSize: uint64(size)}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.client.SystemSharedMemoryRegister(ctx, &pb.SystemSharedMemoryRegisterRequest{Name: "r", Key: "/trt_region", ByteSize: 8}); status.Code(err) != codes.AlreadyExists {
		t.Errorf("register twice: %v", err)
	}
	st, err := h.client.SystemSharedMemoryStatus(ctx, &pb.SystemSharedMemoryStatusRequest{})
	if err != nil || len(st.Regions) != 1 || st.Regions["r"].Key != "/trt_region" || st.Regions["r"].ByteSize != uint64(size) {
		t.Fatalf("status %v %v", st, err)
	}
	if _, err := h.client.SystemSharedMemoryStatus(ctx, &pb.SystemSharedMemoryStatusRequest{Name: "nope"}); status.Code(err) != codes.NotFound {
		t.Errorf("status of an unknown region: %v", err)
	}
	p := func(region string, off, n int) map[string]*pb.InferParameter {
		return map[string]*pb.InferParameter{
			"shared_memory_region":    {ParameterChoice: &pb.InferParameter_StringParam{StringParam: region}},
			"shared_memory_offset":    {ParameterChoice: &pb.InferParameter_Int64Param{Int64Param: int64(off)}},
			"shared_memory_byte_size": {ParameterChoice: &pb.InferParameter_Int64Param{Int64Param: int64(n)}},
		}
	}
	req := &pb.ModelInferRequest{ModelName: testModel,
		Inputs:  []*pb.ModelInferRequest_InferInputTensor{{Name: inputName, Datatype: "FP32", Shape: []int64{1, 3, 320, 320}, Parameters: p("r", 64, len(in))}},
		Outputs: []*pb.ModelInferRequest_InferRequestedOutputTensor{{Name: want.Outputs[0].Name, Parameters: p("r", 64+len(in), outBytes)}}}
	resp := inferOK(t, h, req)
	if len(resp.RawOutputContents) != 1 || len(resp.RawOutputContents[0]) != 0 || resp.Outputs[0].Parameters["shared_memory_region"].GetStringParam() != "r" {
		t.Fatalf("shm answer %v", resp)
	}
	got, err := os.ReadFile(filepath.Join(h.shmDir, "trt_region"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[64+len(in):], want.RawOutputContents[0]) {
		t.Error("the output written to shared memory differs from the raw answer")
	}
	// Out of bounds: refused, and nothing outside the region is read.
	req.Inputs[0].Parameters = p("r", size-8, len(in))
	if _, err := h.client.ModelInfer(ctx, req); status.Code(err) != codes.InvalidArgument {
		t.Errorf("out of bounds: %v", err)
	}
	if _, err := h.client.SystemSharedMemoryUnregister(ctx, &pb.SystemSharedMemoryUnregisterRequest{Name: "r"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.client.SystemSharedMemoryUnregister(ctx, &pb.SystemSharedMemoryUnregisterRequest{Name: "r"}); err != nil {
		t.Errorf("unregister twice: %v (Triton succeeds)", err)
	}
	if st, err := h.client.SystemSharedMemoryStatus(ctx, &pb.SystemSharedMemoryStatusRequest{}); err != nil || len(st.Regions) != 0 {
		t.Errorf("status after unregister %v %v", st, err)
	}
	// CUDA without an opener: refused, INVALID_ARGUMENT.
	if _, err := h.client.CudaSharedMemoryRegister(ctx, &pb.CudaSharedMemoryRegisterRequest{Name: "c", RawHandle: make([]byte, 64), ByteSize: 8}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("CUDA without CUDA: %v", err)
	}
	if st, err := h.client.CudaSharedMemoryStatus(ctx, &pb.CudaSharedMemoryStatusRequest{}); err != nil || len(st.Regions) != 0 {
		t.Errorf("CUDA status %v %v", st, err)
	}
	if _, err := h.client.CudaSharedMemoryRegister(ctx, &pb.CudaSharedMemoryRegisterRequest{Name: "c", DeviceId: -1}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("negative device: %v", err)
	}
}

// TestFixedWindows: with fixed flow-control windows (--grpc-window-bytes)
// messages larger than the window still go through, both ways.
func TestFixedWindows(t *testing.T) {
	mg := testManager(t)
	want := inferOK(t, newHarness(t, mg, Options{}), rawRequest(4)).RawOutputContents[0]
	got := inferOK(t, newHarness(t, mg, Options{WindowBytes: 64 << 10}), rawRequest(4)).RawOutputContents[0]
	if !bytes.Equal(got, want) {
		t.Error("answers differ with a 64 KiB window")
	}
}

// TestInflightBytes: the server-wide byte budget (--max-inflight-bytes)
// bounds gRPC inferences as it does HTTP's: a request larger than the
// budget, or one that does not fit beside the others now, is
// RESOURCE_EXHAUSTED, and every byte comes back after each answer.
func TestInflightBytes(t *testing.T) {
	mg := testManager(t)
	b := pipeline.NewByteBudget(6 << 20)
	h := newHarness(t, mg, Options{InflightBytes: b})
	inferOK(t, h, rawRequest(1))
	if b.InUse() != 0 || b.Peak() == 0 {
		t.Errorf("in use %d, peak %d after an answer", b.InUse(), b.Peak())
	}
	_, err := h.client.ModelInfer(context.Background(), rawRequest(4)) // 4.9 MB in + 2.8 MB out
	if status.Code(err) != codes.ResourceExhausted || !bytes.Contains([]byte(status.Convert(err).Message()), []byte("--max-inflight-bytes")) {
		t.Errorf("over the budget: %v", err)
	}
	if err := b.Acquire(5 << 20); err != nil {
		t.Fatal(err)
	}
	_, err = h.client.ModelInfer(context.Background(), rawRequest(1))
	if status.Code(err) != codes.ResourceExhausted || !bytes.Contains([]byte(status.Convert(err).Message()), []byte("retry later")) {
		t.Errorf("budget full: %v", err)
	}
	b.Release(5 << 20)
	inferOK(t, h, rawRequest(1))
	if b.InUse() != 0 {
		t.Errorf("%d bytes in use at rest", b.InUse())
	}
}
