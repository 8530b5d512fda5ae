package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding/gzip"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	grpcstatus "google.golang.org/grpc/status"

	pb "github.com/trtserve/trtserve/grpcapi/inference"
)

// grpcServer starts the binary with the gRPC server on a free loopback
// port and returns the HTTP URL and a client of the gRPC server.
func grpcServer(t *testing.T, args ...string) (string, pb.GRPCInferenceServiceClient, *grpc.ClientConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, port, _ := net.SplitHostPort(addr)
	url := startServer(t, append([]string{"--grpc-port", port}, args...)...)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(math.MaxInt32)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return url, pb.NewGRPCInferenceServiceClient(conn), conn
}

// rampImages is n 3×320×320 FP32 images of a ramp, little-endian.
func rampImages(n int) []byte {
	out := make([]byte, n*3*320*320*4)
	for i := 0; i < len(out)/4; i++ {
		binary.LittleEndian.PutUint32(out[i*4:], math.Float32bits(float32(i%251)/251))
	}
	return out
}

func grpcInput(n int) *pb.ModelInferRequest_InferInputTensor {
	return &pb.ModelInferRequest_InferInputTensor{Name: "images", Datatype: "FP32", Shape: []int64{int64(n), 3, 320, 320}}
}

// httpInferBinary is the HTTP route's answer to the same tensor: the
// first output's bytes (binary tensor extension both ways).
func httpInferBinary(t *testing.T, url, model string, n int, data []byte) []byte {
	t.Helper()
	hdr := fmt.Sprintf(`{"inputs":[{"name":"images","shape":[%d,3,320,320],"datatype":"FP32","parameters":{"binary_data_size":%d}}],"parameters":{"binary_data_output":true}}`, n, len(data))
	req, _ := http.NewRequest("POST", url+"/v2/models/"+model+"/infer", bytes.NewReader(append([]byte(hdr), data...)))
	req.Header.Set("Inference-Header-Content-Length", strconv.Itoa(len(hdr)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("HTTP infer: %d %s", resp.StatusCode, body[:min(len(body), 300)])
	}
	jl, _ := strconv.Atoi(resp.Header.Get("Inference-Header-Content-Length"))
	var answer struct {
		Outputs []struct {
			Parameters struct {
				BinaryDataSize int `json:"binary_data_size"`
			} `json:"parameters"`
		} `json:"outputs"`
	}
	if err := json.Unmarshal(body[:jl], &answer); err != nil {
		t.Fatal(err)
	}
	return body[jl : jl+answer.Outputs[0].Parameters.BinaryDataSize]
}

// TestGRPCAgainstTheRealBinary: Triton's gRPC service on ONNX Runtime,
// answers equal to the HTTP route's for the same tensors.
func TestGRPCAgainstTheRealBinary(t *testing.T) {
	url, c, conn := grpcServer(t, "--load-models", "yolov8n-320/1")
	ctx := context.Background()

	t.Run("health and metadata", func(t *testing.T) {
		h, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		if err != nil || h.Status != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("health %v %v", h, err)
		}
		if r, err := c.ServerLive(ctx, &pb.ServerLiveRequest{}); err != nil || !r.Live {
			t.Errorf("live %v %v", r, err)
		}
		if r, err := c.ServerReady(ctx, &pb.ServerReadyRequest{}); err != nil || !r.Ready {
			t.Errorf("ready %v %v", r, err)
		}
		if r, err := c.ModelReady(ctx, &pb.ModelReadyRequest{Name: "yolov8n-320", Version: "1"}); err != nil || !r.Ready {
			t.Errorf("model ready %v %v", r, err)
		}
		md, err := c.ServerMetadata(ctx, &pb.ServerMetadataRequest{})
		if err != nil || md.Name != "trtserve" {
			t.Errorf("server metadata %v %v", md, err)
		}
		mm, err := c.ModelMetadata(ctx, &pb.ModelMetadataRequest{Name: "yolov8n-320"})
		if err != nil || mm.Platform != "onnxruntime_onnx" || fmt.Sprint(mm.Inputs[0].Shape) != "[-1 3 320 320]" || len(mm.Outputs) != 1 {
			t.Errorf("model metadata %v %v", mm, err)
		}
		cfg, err := c.ModelConfig(ctx, &pb.ModelConfigRequest{Name: "yolov8n-320"})
		if err != nil || cfg.Config.Platform != "onnxruntime_onnx" || cfg.Config.MaxBatchSize < 4 || cfg.Config.Input[0].DataType != pb.DataType_TYPE_FP32 {
			t.Errorf("config %v %v", cfg, err)
		}
	})

	t.Run("infer typed and raw at batch 1 and 4 equal HTTP", func(t *testing.T) {
		for _, n := range []int{1, 4} {
			data := rampImages(n)
			want := httpInferBinary(t, url, "yolov8n-320", n, data)
			raw, err := c.ModelInfer(ctx, &pb.ModelInferRequest{ModelName: "yolov8n-320", Id: "r" + fmt.Sprint(n),
				Inputs: []*pb.ModelInferRequest_InferInputTensor{grpcInput(n)}, RawInputContents: [][]byte{data}})
			if err != nil {
				t.Fatal(err)
			}
			if raw.Id != "r"+fmt.Sprint(n) || raw.Outputs[0].Shape[0] != int64(n) || !bytes.Equal(raw.RawOutputContents[0], want) {
				t.Errorf("batch %d raw: id %q shape %v, output equal to HTTP's: %v", n, raw.Id, raw.Outputs[0].Shape, bytes.Equal(raw.RawOutputContents[0], want))
			}
			floats := make([]float32, len(data)/4)
			for i := range floats {
				floats[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[i*4:]))
			}
			in := grpcInput(n)
			in.Contents = &pb.InferTensorContents{Fp32Contents: floats}
			typed, err := c.ModelInfer(ctx, &pb.ModelInferRequest{ModelName: "yolov8n-320", Inputs: []*pb.ModelInferRequest_InferInputTensor{in},
				Outputs: []*pb.ModelInferRequest_InferRequestedOutputTensor{{Name: raw.Outputs[0].Name}}}, grpc.UseCompressor(gzip.Name))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(typed.RawOutputContents[0], want) {
				t.Errorf("batch %d typed (gzip): output differs from HTTP's", n)
			}
		}
	})

	t.Run("stream", func(t *testing.T) {
		want := httpInferBinary(t, url, "yolov8n-320", 1, rampImages(1))
		s, err := c.ModelStreamInfer(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 4 {
			req := &pb.ModelInferRequest{ModelName: "yolov8n-320", Id: fmt.Sprint(i),
				Inputs: []*pb.ModelInferRequest_InferInputTensor{grpcInput(1)}, RawInputContents: [][]byte{rampImages(1)}}
			if i == 3 {
				req.Inputs[0].Shape = []int64{1, 3, 32, 32}
			}
			if err := s.Send(req); err != nil {
				t.Fatal(err)
			}
		}
		s.CloseSend()
		ok, bad := 0, 0
		for {
			r, err := s.Recv()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.ErrorMessage != "" {
				bad++
				continue
			}
			if bytes.Equal(r.InferResponse.RawOutputContents[0], want) {
				ok++
			}
		}
		if ok != 3 || bad != 1 {
			t.Errorf("stream: %d right answers, %d errors; want 3 and 1", ok, bad)
		}
	})

	t.Run("errors", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			req  *pb.ModelInferRequest
			want codes.Code
		}{
			{"unknown model", &pb.ModelInferRequest{ModelName: "nope", Inputs: []*pb.ModelInferRequest_InferInputTensor{grpcInput(1)}, RawInputContents: [][]byte{rampImages(1)}}, codes.NotFound},
			{"bad shape", &pb.ModelInferRequest{ModelName: "yolov8n-320", Inputs: []*pb.ModelInferRequest_InferInputTensor{{Name: "images", Datatype: "FP32", Shape: []int64{1, 3}}}, RawInputContents: [][]byte{{1}}}, codes.InvalidArgument},
			{"not loaded", &pb.ModelInferRequest{ModelName: "yolov5n-320", Inputs: []*pb.ModelInferRequest_InferInputTensor{grpcInput(1)}, RawInputContents: [][]byte{rampImages(1)}}, codes.Unavailable},
		} {
			if _, err := c.ModelInfer(ctx, tc.req); grpcstatus.Code(err) != tc.want {
				t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
			}
		}
	})

	t.Run("statistics, index, load and unload", func(t *testing.T) {
		st, err := c.ModelStatistics(ctx, &pb.ModelStatisticsRequest{Name: "yolov8n-320", Version: "1"})
		if err != nil || len(st.ModelStats) != 1 || st.ModelStats[0].InferenceCount < 13 || st.ModelStats[0].InferenceStats.Success.Count == 0 {
			t.Errorf("statistics %v %v", st, err)
		}
		if _, err := c.RepositoryModelLoad(ctx, &pb.RepositoryModelLoadRequest{ModelName: "yolov5n-320"}); err != nil {
			t.Fatal(err)
		}
		idx, err := c.RepositoryIndex(ctx, &pb.RepositoryIndexRequest{Ready: true})
		if err != nil || len(idx.Models) != 2 {
			t.Errorf("ready index after load: %v %v", idx, err)
		}
		if _, err := c.RepositoryModelUnload(ctx, &pb.RepositoryModelUnloadRequest{ModelName: "yolov5n-320"}); err != nil {
			t.Fatal(err)
		}
		if r, err := c.ModelReady(ctx, &pb.ModelReadyRequest{Name: "yolov5n-320"}); err != nil || r.Ready {
			t.Errorf("ready after unload: %v %v", r, err)
		}
	})

	t.Run("system shared memory", func(t *testing.T) {
		data := rampImages(1)
		want := httpInferBinary(t, url, "yolov8n-320", 1, data)
		key := fmt.Sprintf("trtserve-grpc-e2e-%d", os.Getpid())
		region := append(append([]byte{}, data...), make([]byte, len(want))...)
		if err := os.WriteFile("/dev/shm/"+key, region, 0o600); err != nil {
			t.Skipf("no /dev/shm here: %v", err)
		}
		defer os.Remove("/dev/shm/" + key)
		if _, err := c.SystemSharedMemoryRegister(ctx, &pb.SystemSharedMemoryRegisterRequest{Name: "e2e", Key: "/" + key, ByteSize: uint64(len(region))}); err != nil {
			t.Fatal(err)
		}
		p := func(off, n int) map[string]*pb.InferParameter {
			return map[string]*pb.InferParameter{
				"shared_memory_region":    {ParameterChoice: &pb.InferParameter_StringParam{StringParam: "e2e"}},
				"shared_memory_offset":    {ParameterChoice: &pb.InferParameter_Int64Param{Int64Param: int64(off)}},
				"shared_memory_byte_size": {ParameterChoice: &pb.InferParameter_Int64Param{Int64Param: int64(n)}},
			}
		}
		in := grpcInput(1)
		in.Parameters = p(0, len(data))
		r, err := c.ModelInfer(ctx, &pb.ModelInferRequest{ModelName: "yolov8n-320", Inputs: []*pb.ModelInferRequest_InferInputTensor{in},
			Outputs: []*pb.ModelInferRequest_InferRequestedOutputTensor{{Name: "output0", Parameters: p(len(data), len(want))}}})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile("/dev/shm/" + key)
		if len(r.RawOutputContents[0]) != 0 || !bytes.Equal(got[len(data):], want) {
			t.Error("the output in shared memory differs from HTTP's answer")
		}
		in.Parameters = p(len(region)-4, len(data))
		if _, err := c.ModelInfer(ctx, &pb.ModelInferRequest{ModelName: "yolov8n-320", Inputs: []*pb.ModelInferRequest_InferInputTensor{in}}); grpcstatus.Code(err) != codes.InvalidArgument {
			t.Errorf("window beyond the region: %v", err)
		}
		if _, err := c.SystemSharedMemoryUnregister(ctx, &pb.SystemSharedMemoryUnregisterRequest{Name: "e2e"}); err != nil {
			t.Fatal(err)
		}
	})
}

// TestGRPCAPIKey: with --api-key, every RPC but the probes needs the key
// as "authorization: Bearer <key>" metadata.
func TestGRPCAPIKey(t *testing.T) {
	_, c, conn := grpcServer(t, "--load-models", "none", "--api-key", "k3y")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.ServerReady(ctx, &pb.ServerReadyRequest{}); err != nil {
		t.Errorf("ready needs no key: %v", err)
	}
	if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Errorf("health needs no key: %v", err)
	}
	if _, err := c.ServerMetadata(ctx, &pb.ServerMetadataRequest{}); grpcstatus.Code(err) != codes.Unauthenticated {
		t.Errorf("no key: %v", err)
	}
	authed := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer k3y")
	if _, err := c.ServerMetadata(authed, &pb.ServerMetadataRequest{}); err != nil {
		t.Errorf("with the key: %v", err)
	}
	wrong := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer nope")
	if _, err := c.RepositoryIndex(wrong, &pb.RepositoryIndexRequest{}); grpcstatus.Code(err) != codes.Unauthenticated {
		t.Errorf("wrong key: %v", err)
	}
}
