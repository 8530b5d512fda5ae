package grpcserver

import (
	"context"
	"errors"
	"io"
	"math"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/trtserve/trtserve/grpcapi/inference"
	"github.com/trtserve/trtserve/kserve"
)

// inferParams are a request's or a tensor's parameters as kserve's. A
// uint64 that does not fit an int64 becomes a parameter of no known type,
// which the parameters kserve reads refuse (and others ignore).
func inferParams(params map[string]*pb.InferParameter) map[string]kserve.Param {
	if len(params) == 0 {
		return nil
	}
	out := make(map[string]kserve.Param, len(params))
	for k, p := range params {
		switch v := p.GetParameterChoice().(type) {
		case *pb.InferParameter_BoolParam:
			out[k] = kserve.BoolParam(v.BoolParam)
		case *pb.InferParameter_Int64Param:
			out[k] = kserve.IntParam(v.Int64Param)
		case *pb.InferParameter_StringParam:
			out[k] = kserve.StringParam(v.StringParam)
		case *pb.InferParameter_DoubleParam:
			out[k] = kserve.DoubleParam(v.DoubleParam)
		case *pb.InferParameter_Uint64Param:
			if v.Uint64Param <= math.MaxInt64 {
				out[k] = kserve.IntParam(int64(v.Uint64Param))
			} else {
				out[k] = kserve.Param{}
			}
		default:
			out[k] = kserve.Param{}
		}
	}
	return out
}

// responseParams are kserve's answer parameters as protobuf's.
func responseParams(params map[string]kserve.Param) map[string]*pb.InferParameter {
	if len(params) == 0 {
		return nil
	}
	out := make(map[string]*pb.InferParameter, len(params))
	for k, p := range params {
		switch {
		case p.Bool != nil:
			out[k] = &pb.InferParameter{ParameterChoice: &pb.InferParameter_BoolParam{BoolParam: *p.Bool}}
		case p.Int != nil:
			out[k] = &pb.InferParameter{ParameterChoice: &pb.InferParameter_Int64Param{Int64Param: *p.Int}}
		case p.String != nil:
			out[k] = &pb.InferParameter{ParameterChoice: &pb.InferParameter_StringParam{StringParam: *p.String}}
		case p.Double != nil:
			out[k] = &pb.InferParameter{ParameterChoice: &pb.InferParameter_DoubleParam{DoubleParam: *p.Double}}
		}
	}
	return out
}

// otherContents names the typed contents field other than fp32_contents
// that c fills, "" when none.
func otherContents(c *pb.InferTensorContents) string {
	switch {
	case len(c.BoolContents) > 0:
		return "bool_contents"
	case len(c.IntContents) > 0:
		return "int_contents"
	case len(c.Int64Contents) > 0:
		return "int64_contents"
	case len(c.UintContents) > 0:
		return "uint_contents"
	case len(c.Uint64Contents) > 0:
		return "uint64_contents"
	case len(c.Fp64Contents) > 0:
		return "fp64_contents"
	case len(c.BytesContents) > 0:
		return "bytes_contents"
	}
	return ""
}

// inferRequest is a ModelInferRequest as kserve's Request. Tensor bytes
// are not copied: inputs are views of raw_input_contents or of the typed
// contents, which live as long as req. Each input takes its data, as
// Triton's does, from a shared-memory region when its parameters name
// one, else from its typed contents, else from the next entry of
// raw_input_contents; typed contents and raw_input_contents do not mix.
func inferRequest(req *pb.ModelInferRequest) (*kserve.Request, error) {
	out := &kserve.Request{ID: req.Id, Params: inferParams(req.Parameters), Inputs: make([]kserve.Input, len(req.Inputs))}
	raw := req.RawInputContents
	next := 0
	for i, in := range req.Inputs {
		ki := kserve.Input{Name: in.Name, Shape: in.Shape, Datatype: in.Datatype, Params: inferParams(in.Parameters)}
		_, inSHM := in.Parameters[kserve.ParamSHMRegion]
		switch {
		case in.Contents != nil:
			if len(raw) > 0 {
				return nil, invalidf("contents field must not be specified when using raw_input_contents for '%s' for model '%s'", in.Name, req.ModelName)
			}
			if other := otherContents(in.Contents); other != "" {
				if in.Datatype == "FP32" {
					return nil, invalidf("input '%s' for model '%s': datatype FP32 takes fp32_contents, not %s", in.Name, req.ModelName, other)
				}
				// kserve refuses the datatype, naming the model's.
			}
			// With a region too, kserve refuses the input for having
			// two sources.
			ki.FP32 = in.Contents.Fp32Contents
			if ki.FP32 == nil {
				ki.FP32 = []float32{}
			}
		case inSHM:
		case next < len(raw):
			ki.Raw = raw[next]
			if ki.Raw == nil {
				ki.Raw = []byte{}
			}
			next++
		default:
			return nil, invalidf("unable to find data for input tensor '%s' for model '%s' in request", in.Name, req.ModelName)
		}
		out.Inputs[i] = ki
	}
	if next < len(raw) {
		return nil, invalidf("raw_input_contents has %d entries but only %d inputs take raw data", len(raw), next)
	}
	for _, o := range req.Outputs {
		out.Outputs = append(out.Outputs, kserve.RequestedOutput{Name: o.Name, Params: inferParams(o.Parameters)})
	}
	return out, nil
}

// infer runs one request: the model it names, kserve's checks, the
// pipeline; the answer's outputs are raw_output_contents.
func (s *Server) infer(ctx context.Context, req *pb.ModelInferRequest) (*pb.ModelInferResponse, error) {
	if s.closing.Load() {
		return nil, status.Error(codes.Unavailable, "the server is shutting down")
	}
	m, err := kserve.FindModel(s.models, req.ModelName, req.ModelVersion)
	if err != nil {
		return nil, err
	}
	kr, err := inferRequest(req)
	if err != nil {
		return nil, err
	}
	kr.Budget = s.opts.InflightBytes
	p, err := kserve.Prepare(m, kr, s.opts.Regions)
	if err != nil {
		return nil, err
	}
	defer p.Release()
	ctx, cancel := context.WithTimeout(ctx, s.opts.RequestTimeout)
	defer cancel()
	if err := p.Run(ctx); err != nil {
		return nil, err
	}
	outs := p.Outputs()
	resp := &pb.ModelInferResponse{ModelName: m.Spec.Name, ModelVersion: m.Spec.Version, Id: p.ID(),
		Outputs: make([]*pb.ModelInferResponse_InferOutputTensor, len(outs)), RawOutputContents: make([][]byte, len(outs))}
	for i, o := range outs {
		resp.Outputs[i] = &pb.ModelInferResponse_InferOutputTensor{Name: o.Name, Datatype: o.Datatype, Shape: o.Shape, Parameters: responseParams(o.Params)}
		// The answer's own buffer (nil, an empty entry, for an output in
		// shared memory): no copy here.
		resp.RawOutputContents[i] = o.Data
	}
	return resp, nil
}

func (s *Server) ModelInfer(ctx context.Context, req *pb.ModelInferRequest) (*pb.ModelInferResponse, error) {
	resp, err := s.infer(ctx, req)
	if err != nil {
		return nil, s.fail("ModelInfer", err)
	}
	return resp, nil
}

// ModelStreamInfer answers each request of the stream as it finishes, up
// to StreamInflight of them at once; a request's error goes in its
// response's error_message and the stream goes on. It ends when the
// client closes its side (after the last answer), when the client goes
// away, or when the server drains (after the answers in flight, with
// UNAVAILABLE).
func (s *Server) ModelStreamInfer(stream grpc.BidiStreamingServer[pb.ModelInferRequest, pb.ModelStreamInferResponse]) error {
	ctx := stream.Context()
	type recvd struct {
		req *pb.ModelInferRequest
		err error
	}
	slots := make(chan struct{}, s.opts.StreamInflight)
	reqs := make(chan recvd)
	// The reader takes a slot before each read, so an unanswered request
	// holds back the next read (and HTTP/2 flow control the client).
	go func() {
		for {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			req, err := stream.Recv()
			select {
			case reqs <- recvd{req, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	var (
		wg      sync.WaitGroup
		sendMu  sync.Mutex
		sendErr error
	)
	send := func(r *pb.ModelStreamInferResponse) {
		sendMu.Lock()
		defer sendMu.Unlock()
		if sendErr == nil {
			sendErr = stream.Send(r)
		}
	}
	for {
		select {
		case r := <-reqs:
			if r.err != nil {
				wg.Wait()
				if errors.Is(r.err, io.EOF) {
					return nil // the client closed its side: every answer is sent
				}
				return r.err
			}
			wg.Add(1)
			go func() {
				defer func() {
					if p := recover(); p != nil {
						send(&pb.ModelStreamInferResponse{ErrorMessage: status.Convert(s.recovered("ModelStreamInfer", p)).Message()})
					}
					<-slots
					wg.Done()
				}()
				resp, err := s.infer(ctx, r.req)
				if err != nil {
					send(&pb.ModelStreamInferResponse{ErrorMessage: status.Convert(s.fail("ModelStreamInfer", err)).Message()})
					return
				}
				send(&pb.ModelStreamInferResponse{InferResponse: resp})
			}()
		case <-s.drain:
			wg.Wait()
			return status.Error(codes.Unavailable, "the server is shutting down: the requests in flight were answered, send the rest to another server")
		}
	}
}
