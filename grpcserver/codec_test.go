package grpcserver

import (
	"testing"
	"unsafe"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	pb "github.com/trtserve/trtserve/grpcapi/inference"
)

func sampleRequests() []*pb.ModelInferRequest {
	sp := func(s string) *pb.InferParameter {
		return &pb.InferParameter{ParameterChoice: &pb.InferParameter_StringParam{StringParam: s}}
	}
	return []*pb.ModelInferRequest{
		{},
		{ModelName: "m", ModelVersion: "2", Id: "x", RawInputContents: [][]byte{{1, 2, 3}, {}, {4}},
			Inputs:     []*pb.ModelInferRequest_InferInputTensor{{Name: "a", Datatype: "FP32", Shape: []int64{1, 3}}, {Name: "b"}, {Name: "c"}},
			Parameters: map[string]*pb.InferParameter{"p": sp("v")},
			Outputs:    []*pb.ModelInferRequest_InferRequestedOutputTensor{{Name: "o", Parameters: map[string]*pb.InferParameter{"q": sp("w")}}}},
		{ModelName: "typed", Inputs: []*pb.ModelInferRequest_InferInputTensor{{Name: "a", Contents: &pb.InferTensorContents{Fp32Contents: []float32{1, 2.5}}}}},
		{ModelName: "raw only", RawInputContents: [][]byte{make([]byte, 70000)}},
	}
}

// The codec decodes what protobuf decodes, with raw inputs as views of
// the message's bytes.
func TestCodecUnmarshalMatchesProtobuf(t *testing.T) {
	for i, want := range sampleRequests() {
		buf, err := proto.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		var got pb.ModelInferRequest
		if err := unmarshalInferRequest(buf, &got); err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		if !proto.Equal(&got, want) {
			t.Errorf("%d: decoded %v, want %v", i, &got, want)
		}
		for _, r := range got.RawInputContents {
			if len(r) > 0 && !within(r, buf) {
				t.Errorf("%d: a raw input was copied", i)
			}
		}
		// Through the codec's grpc entry point too.
		var viaCodec pb.ModelInferRequest
		if err := newCodec().Unmarshal(mem.BufferSlice{mem.SliceBuffer(buf[:len(buf)/2]), mem.SliceBuffer(buf[len(buf)/2:])}, &viaCodec); err != nil || !proto.Equal(&viaCodec, want) {
			t.Errorf("%d: codec: %v", i, err)
		}
	}
	var r pb.ModelInferRequest
	if err := unmarshalInferRequest([]byte{0x3a, 0x05, 1}, &r); err == nil {
		t.Error("a truncated raw entry decoded")
	}
}

func within(s, buf []byte) bool {
	p, b := uintptr(unsafe.Pointer(unsafe.SliceData(s))), uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
	return p >= b && p+uintptr(len(s)) <= b+uintptr(len(buf))
}

// The codec encodes what protobuf decodes back to the same message, and
// sends the answer's raw output buffers themselves.
func TestCodecMarshalMatchesProtobuf(t *testing.T) {
	big := make([]byte, 1<<17)
	big[5] = 7
	ip := &pb.InferParameter{ParameterChoice: &pb.InferParameter_Int64Param{Int64Param: 9}}
	resp := &pb.ModelInferResponse{ModelName: "m", ModelVersion: "1", Id: "x",
		Outputs: []*pb.ModelInferResponse_InferOutputTensor{
			{Name: "a", Datatype: "FP32", Shape: []int64{1, 2}},
			{Name: "b", Parameters: map[string]*pb.InferParameter{"shared_memory_offset": ip}},
			{Name: "c"}},
		RawOutputContents: [][]byte{big, nil, {1, 2, 3, 4}}}
	msgs := []proto.Message{
		resp,
		&pb.ModelInferResponse{ModelName: "no raw"},
		&pb.ModelStreamInferResponse{InferResponse: resp},
		&pb.ModelStreamInferResponse{ErrorMessage: "bad shape"},
		&pb.ServerLiveResponse{Live: true},
	}
	for i, want := range msgs {
		out, err := newCodec().Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		got := want.ProtoReflect().New().Interface()
		if err := proto.Unmarshal(out.Materialize(), got); err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		if !proto.Equal(got, want) {
			t.Errorf("%d: round trip gave %v, want %v", i, got, want)
		}
		if i == 0 || i == 2 {
			shared := false
			for _, b := range out {
				d := b.ReadOnlyData()
				shared = shared || len(d) == len(big) && unsafe.SliceData(d) == unsafe.SliceData(big)
			}
			if !shared {
				t.Errorf("%d: the raw output was copied into the message", i)
			}
		}
	}
}

// FuzzCodecUnmarshal: on any bytes the codec and protobuf agree: both
// fail, or both decode the same message.
func FuzzCodecUnmarshal(f *testing.F) {
	for _, r := range sampleRequests() {
		b, _ := proto.Marshal(r)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var want, got pb.ModelInferRequest
		errStd := proto.Unmarshal(data, &want)
		errCodec := unmarshalInferRequest(append([]byte(nil), data...), &got)
		if (errStd == nil) != (errCodec == nil) {
			t.Fatalf("protobuf: %v, codec: %v", errStd, errCodec)
		}
		if errStd == nil && !proto.Equal(&want, &got) {
			t.Fatalf("protobuf decoded %v, the codec %v", &want, &got)
		}
	})
}
