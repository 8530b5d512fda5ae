package grpcserver

import (
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/trtserve/trtserve/grpcapi/inference"
	"github.com/trtserve/trtserve/kserve"
	"github.com/trtserve/trtserve/shm"
)

// FuzzInferRequest: any bytes a client can send as a ModelInferRequest
// either fail to decode, or are refused by the conversion or by kserve's
// checks with an error, or are accepted with every input a view of
// exactly the bytes its shape needs — never a panic, and nothing sized
// from an unchecked shape. Shared-memory windows point into a registered
// region, so out-of-bounds windows are exercised too.
func FuzzInferRequest(f *testing.F) {
	mg := testManager(f)
	m, ok := mg.Latest(testModel)
	if !ok {
		f.Fatal("model not loaded")
	}
	dir := f.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "fz"), make([]byte, 1<<16), 0o600); err != nil {
		f.Fatal(err)
	}
	regions := shm.NewRegistry(shm.Options{Dir: dir})
	f.Cleanup(func() { regions.Close() })
	if err := regions.RegisterSystem("r", "/fz", 0, 1<<16); err != nil {
		f.Fatal(err)
	}
	seed := func(r *pb.ModelInferRequest) {
		b, err := proto.Marshal(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	small := func(n int64, shape ...int64) *pb.ModelInferRequest {
		return &pb.ModelInferRequest{ModelName: testModel,
			Inputs:           []*pb.ModelInferRequest_InferInputTensor{{Name: inputName, Datatype: "FP32", Shape: shape}},
			RawInputContents: [][]byte{make([]byte, n)}}
	}
	seed(small(16, 1, 3, 320, 320))
	seed(small(4, 1, 1<<40, 1<<40, 2))
	seed(small(0, -1, 3, 320, 320))
	seed(&pb.ModelInferRequest{ModelName: testModel, Inputs: []*pb.ModelInferRequest_InferInputTensor{{Name: inputName, Datatype: "FP32", Shape: []int64{1, 3, 320, 320},
		Parameters: map[string]*pb.InferParameter{
			"shared_memory_region":    {ParameterChoice: &pb.InferParameter_StringParam{StringParam: "r"}},
			"shared_memory_offset":    {ParameterChoice: &pb.InferParameter_Int64Param{Int64Param: 1 << 15}},
			"shared_memory_byte_size": {ParameterChoice: &pb.InferParameter_Uint64Param{Uint64Param: 1 << 63}},
		}}},
		Outputs: []*pb.ModelInferRequest_InferRequestedOutputTensor{{Name: "output0", Parameters: map[string]*pb.InferParameter{
			"shared_memory_region":    {ParameterChoice: &pb.InferParameter_StringParam{StringParam: "r"}},
			"shared_memory_byte_size": {ParameterChoice: &pb.InferParameter_Int64Param{Int64Param: 1 << 16}},
		}}}})
	seed(&pb.ModelInferRequest{ModelName: testModel, Inputs: []*pb.ModelInferRequest_InferInputTensor{{Name: inputName, Datatype: "FP32", Shape: []int64{2, 3, 320, 320},
		Contents: &pb.InferTensorContents{Fp32Contents: make([]float32, 7)}}}})
	f.Fuzz(func(t *testing.T, data []byte) {
		var req pb.ModelInferRequest
		if proto.Unmarshal(data, &req) != nil {
			return
		}
		kr, err := inferRequest(&req)
		if err != nil {
			return
		}
		p, err := kserve.Prepare(m, kr, regions)
		if err != nil {
			return
		}
		defer p.Release()
		if p.Batch() < 1 || p.Batch() > m.Options().MaxQueueSize {
			t.Fatalf("accepted a batch of %d", p.Batch())
		}
		for _, o := range p.Outputs() {
			if o.Data != nil && int64(len(o.Data)) != 4*o.Shape[0]*elems(o.Shape[1:]) {
				t.Fatalf("output %s: %d bytes for shape %v", o.Name, len(o.Data), o.Shape)
			}
		}
	})
}

func elems(dims []int64) int64 {
	n := int64(1)
	for _, d := range dims {
		n *= d
	}
	return n
}
