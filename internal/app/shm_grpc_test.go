package app

import (
	"bytes"
	"context"
	"encoding/binary"
	"log/slog"
	"math"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/trtserve/trtserve/cuda"
	pb "github.com/trtserve/trtserve/grpcapi/inference"
	"github.com/trtserve/trtserve/grpcserver"
)

// TestCUDASharedMemoryOverGRPCOnMock: the CUDA shared-memory extension
// over gRPC, on the CUDA mock, through the registry app.Run builds: a
// client allocation exported with cudaIpcGetMemHandle and registered with
// CudaSharedMemoryRegister (the handle's raw bytes), an infer reading its
// input from the region and writing its output into it, equal to the
// same request answered with raw contents; status, a window past the
// region refused, unregister closing every IPC mapping.
func TestCUDASharedMemoryOverGRPCOnMock(t *testing.T) {
	m, regions, models := cudaSharedMemoryOnMock(t)
	srv := grpcserver.New(models, grpcserver.Options{Regions: regions}, slog.New(slog.DiscardHandler), nil)
	ln := bufconn.Listen(1 << 20)
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return ln.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(math.MaxInt32)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := pb.NewGRPCInferenceServiceClient(conn)
	ctx := context.Background()

	const n, inSize, outSize = 2, 2 * 3 * 320 * 320 * 4, 2 * 84 * 2100 * 4
	input := make([]byte, inSize)
	for i := 0; i < inSize/4; i++ {
		binary.LittleEndian.PutUint32(input[i*4:], math.Float32bits(float32(i%509)/509))
	}
	size := inSize + 4096 + outSize
	dev, err := m.Malloc(size)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.MemcpyHtoD(dev, input); err != nil {
		t.Fatal(err)
	}
	h, err := m.IpcGetMemHandle(dev)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CudaSharedMemoryRegister(ctx, &pb.CudaSharedMemoryRegisterRequest{Name: "gpu", RawHandle: h[:], DeviceId: 0, ByteSize: uint64(size)}); err != nil {
		t.Fatal(err)
	}
	st, err := c.CudaSharedMemoryStatus(ctx, &pb.CudaSharedMemoryStatusRequest{Name: "gpu"})
	if err != nil || st.Regions["gpu"].GetByteSize() != uint64(size) || st.Regions["gpu"].GetDeviceId() != 0 {
		t.Fatalf("status %v %v", st, err)
	}

	in := func() *pb.ModelInferRequest_InferInputTensor {
		return &pb.ModelInferRequest_InferInputTensor{Name: "images", Datatype: "FP32", Shape: []int64{n, 3, 320, 320}}
	}
	inline, err := c.ModelInfer(ctx, &pb.ModelInferRequest{ModelName: "yolov8n-320", Inputs: []*pb.ModelInferRequest_InferInputTensor{in()}, RawInputContents: [][]byte{input}})
	if err != nil {
		t.Fatal(err)
	}
	p := func(off, n int) map[string]*pb.InferParameter {
		return map[string]*pb.InferParameter{
			"shared_memory_region":    {ParameterChoice: &pb.InferParameter_StringParam{StringParam: "gpu"}},
			"shared_memory_offset":    {ParameterChoice: &pb.InferParameter_Int64Param{Int64Param: int64(off)}},
			"shared_memory_byte_size": {ParameterChoice: &pb.InferParameter_Int64Param{Int64Param: int64(n)}},
		}
	}
	req := &pb.ModelInferRequest{ModelName: "yolov8n-320", Inputs: []*pb.ModelInferRequest_InferInputTensor{in()},
		Outputs: []*pb.ModelInferRequest_InferRequestedOutputTensor{{Name: "output0", Parameters: p(inSize+4096, outSize)}}}
	req.Inputs[0].Parameters = p(0, inSize)
	resp, err := c.ModelInfer(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.RawOutputContents) != 1 || len(resp.RawOutputContents[0]) != 0 {
		t.Fatalf("answer carries tensor bytes: %d", len(resp.RawOutputContents[0]))
	}
	got := make([]byte, outSize)
	if err := m.MemcpyDtoH(got, dev+cuda.DevicePtr(inSize+4096)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, inline.RawOutputContents[0]) {
		t.Fatal("the client's device memory does not hold the inline answer")
	}
	req.Outputs[0].Parameters = p(inSize+4096+4, outSize)
	if _, err := c.ModelInfer(ctx, req); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("output past the CUDA region: %v", err)
	}
	if _, err := c.CudaSharedMemoryUnregister(ctx, &pb.CudaSharedMemoryUnregisterRequest{Name: "gpu"}); err != nil {
		t.Fatal(err)
	}
	if n := m.IPCOpen(); n != 0 {
		t.Fatalf("%d IPC mappings open after unregister", n)
	}
}
