package server

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/trtserve/trtserve/model"
	"github.com/trtserve/trtserve/pipeline"
	"github.com/trtserve/trtserve/repository"
)

// A model setting beyond its bound is the request's (or the config's)
// fault: 400 naming the bound, not the 503 other bad models get; a load
// refused for memory is 507 on the Roboflow routes (KServe's load answers
// 400, as Triton does, in package kserve).
func TestLoadLimitStatuses(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
		typ    string
		msg    string
	}{
		{fmt.Errorf("m/1: config.yaml: %w", &repository.BoundError{Field: "max_batch_size", Value: 1000000000, Limit: 1024, Above: true}),
			http.StatusBadRequest, "InvalidModelConfig", "max_batch_size 1000000000 is above the limit 1024"},
		{fmt.Errorf("m/1: %w: it would hold 3 GiB, above --max-model-memory (1 GiB)", pipeline.ErrInsufficientMemory),
			http.StatusInsufficientStorage, "InsufficientMemory", "above --max-model-memory"},
		{fmt.Errorf("m/1: %w: cannot tell the task", model.ErrBadModel), http.StatusServiceUnavailable, "ModelLoadError", "cannot tell the task"},
	} {
		status, typ, msg := classify(tc.err)
		if status != tc.status || typ != tc.typ || !strings.Contains(msg, tc.msg) {
			t.Errorf("classify(%v) = %d %s %q, want %d %s %q", tc.err, status, typ, msg, tc.status, tc.typ, tc.msg)
		}
	}
}
