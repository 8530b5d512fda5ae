package server

import (
	"bytes"
	"strconv"
	"testing"

	"github.com/trtserve/trtserve/pipeline"
)

// TestKServeInflightBytes: KServe HTTP inferences reserve their tensors
// in the server-wide byte budget (--max-inflight-bytes) as the Roboflow
// routes do: 413 for a request larger than the budget, 429 when it does
// not fit now, every byte back after each answer.
func TestKServeInflightBytes(t *testing.T) {
	b := pipeline.NewByteBudget(6 << 20)
	s := testServer(t, Options{InflightBytes: b})
	infer := func(n int) (int, []byte) {
		hdr := inferHeader(n, "")
		status, _, body := do(t, s, "POST", "/v2/models/"+testModel+"/infer", append(hdr, tensorBytes(n)...), HeaderInferenceHeaderLength, strconv.Itoa(len(hdr)))
		return status, body[:min(len(body), 300)]
	}
	if status, body := infer(1); status != 200 || b.InUse() != 0 {
		t.Fatalf("batch 1: %d %s, %d bytes in use after", status, body, b.InUse())
	}
	if status, body := infer(4); status != 413 || !bytes.Contains(body, []byte("--max-inflight-bytes")) {
		t.Errorf("over the budget: %d %s", status, body)
	}
	if err := b.Acquire(5 << 20); err != nil {
		t.Fatal(err)
	}
	if status, body := infer(1); status != 429 {
		t.Errorf("budget full: %d %s", status, body)
	}
	b.Release(5 << 20)
	if status, _ := infer(1); status != 200 || b.InUse() != 0 {
		t.Errorf("after: %d, %d bytes in use", status, b.InUse())
	}
}
