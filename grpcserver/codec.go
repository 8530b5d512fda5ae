package grpcserver

import (
	"errors"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	pb "github.com/trtserve/trtserve/grpcapi/inference"
)

// codec is the server's protobuf codec: grpc-go's own for every message
// but the tensor-carrying ones, whose tensor bytes it does not copy.
//
//   - A ModelInferRequest's raw_input_contents are views of the message's
//     bytes (gathered once from the connection's buffers), where protobuf
//     would copy each entry again; kserve then copies them once into the
//     batch slots.
//   - A ModelInferResponse's raw_output_contents (the answer's buffers,
//     filled once from the output slots) go to the transport as they are,
//     after the rest of the message, where protobuf would first copy them
//     into the encoded message.
//
// The encoding is protobuf's: fields in field-number order, so any
// protobuf decoder reads the same message (codec_test.go checks it
// against proto.Marshal and proto.Unmarshal).
type codec struct{ std encoding.CodecV2 }

// protoCodecName is grpc-go's name for protobuf ("proto"), which clients
// send as the content subtype.
const protoCodecName = "proto"

func newCodec() codec { return codec{std: encoding.GetCodecV2(protoCodecName)} }

func (codec) Name() string { return protoCodecName }

// Field numbers of the tensor bytes (Triton's).
const (
	fieldRawInputContents  protowire.Number = 7 // ModelInferRequest.raw_input_contents
	fieldRawOutputContents protowire.Number = 6 // ModelInferResponse.raw_output_contents
	fieldInferResponse     protowire.Number = 2 // ModelStreamInferResponse.infer_response
)

func (c codec) Unmarshal(data mem.BufferSlice, v any) error {
	req, ok := v.(*pb.ModelInferRequest)
	if !ok {
		return c.std.Unmarshal(data, v)
	}
	// A fresh slice, not a pooled buffer: the request's raw inputs alias
	// it for as long as the request lives.
	return unmarshalInferRequest(data.Materialize(), req)
}

// unmarshalInferRequest decodes buf into req with raw_input_contents as
// views of buf; every other field is protobuf's to decode.
func unmarshalInferRequest(buf []byte, req *pb.ModelInferRequest) error {
	// First pass: find the raw entries (cheap: lengths are skipped over).
	var raw [][]byte
	restLen := 0
	for b := buf; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			return protowire.ParseError(m)
		}
		if num == fieldRawInputContents && typ == protowire.BytesType {
			v, _ := protowire.ConsumeBytes(b[n:])
			raw = append(raw, v[:len(v):len(v)])
		} else {
			restLen += n + m
		}
		b = b[n+m:]
	}
	if raw == nil {
		return proto.Unmarshal(buf, req)
	}
	// Second pass: the other fields (names, shapes, parameters: small
	// when the tensors are raw) for protobuf.
	rest := make([]byte, 0, restLen)
	for b := buf; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if num != fieldRawInputContents || typ != protowire.BytesType {
			rest = append(rest, b[:n+m]...)
		}
		b = b[n+m:]
	}
	if err := proto.Unmarshal(rest, req); err != nil {
		return err
	}
	req.RawInputContents = raw
	return nil
}

func (c codec) Marshal(v any) (mem.BufferSlice, error) {
	switch m := v.(type) {
	case *pb.ModelInferResponse:
		if len(m.RawOutputContents) > 0 {
			return marshalInferResponse(m)
		}
	case *pb.ModelStreamInferResponse:
		if len(m.GetInferResponse().GetRawOutputContents()) > 0 {
			inner, err := marshalInferResponse(m.InferResponse)
			if err != nil {
				return nil, err
			}
			head, err := proto.Marshal(&pb.ModelStreamInferResponse{ErrorMessage: m.ErrorMessage})
			if err != nil {
				return nil, err
			}
			head = protowire.AppendTag(head, fieldInferResponse, protowire.BytesType)
			head = protowire.AppendVarint(head, uint64(inner.Len()))
			return append(mem.BufferSlice{mem.SliceBuffer(head)}, inner...), nil
		}
	}
	return c.std.Marshal(v)
}

// marshalInferResponse encodes r's fields but raw_output_contents with
// protobuf, then each raw output as a field header and the answer's own
// buffer (not copied).
func marshalInferResponse(r *pb.ModelInferResponse) (mem.BufferSlice, error) {
	if r == nil {
		return nil, errors.New("grpcserver: nil ModelInferResponse")
	}
	head, err := proto.Marshal(&pb.ModelInferResponse{ModelName: r.ModelName, ModelVersion: r.ModelVersion, Id: r.Id,
		Parameters: r.Parameters, Outputs: r.Outputs})
	if err != nil {
		return nil, err
	}
	out := make(mem.BufferSlice, 0, 1+2*len(r.RawOutputContents))
	for _, d := range r.RawOutputContents {
		head = protowire.AppendTag(head, fieldRawOutputContents, protowire.BytesType)
		head = protowire.AppendVarint(head, uint64(len(d)))
		if len(d) == 0 {
			continue
		}
		out = append(out, mem.SliceBuffer(head), mem.SliceBuffer(d))
		head = nil
	}
	if len(head) > 0 {
		out = append(out, mem.SliceBuffer(head))
	}
	return out, nil
}
