package kserve

import (
	"testing"

	"github.com/trtserve/trtserve/pipeline"
)

// TestByteBudget: Prepare reserves a request's tensor bytes (inputs and
// the answer's buffers; system shared-memory windows count nothing, a CUDA
// region's host copy counts) in the server's --max-inflight-bytes budget,
// refuses what does not fit now (ResourceExhausted) or ever (TooLarge),
// and Release gives every byte back, on success and on error alike.
func TestByteBudget(t *testing.T) {
	_, m := testManager(t)
	regions, _, _ := testRegions(t, ramp(2))
	in1, out1 := int64(itemBytes), int64(outBytes)
	for _, tc := range []struct {
		name   string
		limit  int64
		busy   int64 // bytes other requests hold
		req    Request
		held   int64 // bytes the prepared request holds
		code   Code
		hasErr bool
	}{
		{"raw input and its answer", 10 << 20, 0, Request{Inputs: []Input{rawInput(1, ramp(1))}}, in1 + out1, 0, false},
		{"typed input", 10 << 20, 0, Request{Inputs: []Input{{Name: "images", Shape: []int64{1, 3, 320, 320}, Datatype: "FP32", FP32: make([]float32, itemBytes/4)}}}, in1 + out1, 0, false},
		{"system shm in and out count nothing", 1 << 10, 0, Request{
			Inputs:  []Input{{Name: "images", Shape: []int64{2, 3, 320, 320}, Datatype: "FP32", Params: shmParams("in", -1, 2*in1)}},
			Outputs: []RequestedOutput{{Name: "output0", Params: shmParams("out", 0, 2*out1)}}}, 0, 0, false},
		{"a CUDA input's host copy counts", 10 << 20, 0, Request{
			Inputs:  []Input{{Name: "images", Shape: []int64{2, 3, 320, 320}, Datatype: "FP32", Params: shmParams("cin", -1, 2*in1)}},
			Outputs: []RequestedOutput{{Name: "output0", Params: shmParams("out", 0, 2*out1)}}}, 2 * in1, 0, false},
		{"does not fit now", 4 << 20, 3 << 20, Request{Inputs: []Input{rawInput(1, ramp(1))}}, 0, ResourceExhausted, true},
		{"never fits", 1 << 20, 0, Request{Inputs: []Input{rawInput(1, ramp(1))}}, 0, TooLarge, true},
		{"the answer does not fit", in1 + out1 - 1, 0, Request{Inputs: []Input{rawInput(1, ramp(1))}}, 0, TooLarge, true},
		{"refused after reserving: all given back", 10 << 20, 0, Request{Inputs: []Input{rawInput(1, ramp(1))}, Outputs: []RequestedOutput{{Name: "nope"}}}, 0, InvalidArgument, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := pipeline.NewByteBudget(tc.limit)
			if err := b.Acquire(tc.busy); err != nil {
				t.Fatal(err)
			}
			req := tc.req
			req.Budget = b
			p, err := Prepare(m, &req, regions)
			if tc.hasErr {
				if CodeOf(err) == nil || CodeOf(err).Code != tc.code {
					t.Fatalf("err %v, want %v", err, tc.code)
				}
				if b.InUse() != tc.busy {
					t.Fatalf("%d bytes in use after the refusal, want %d", b.InUse(), tc.busy)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := b.InUse() - tc.busy; got != tc.held {
				t.Errorf("holds %d bytes, want %d", got, tc.held)
			}
			p.Release()
			p.Release() // twice is harmless
			if b.InUse() != tc.busy {
				t.Errorf("%d bytes in use after Release, want %d", b.InUse(), tc.busy)
			}
		})
	}
}
