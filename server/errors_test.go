package server

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/trtserve/trtserve/cuda"
	"github.com/trtserve/trtserve/pipeline"
)

// A sticky CUDA error answers 503 GPUFault however it is wrapped (server
// tells it by its DeviceFault method, without importing cuda); a CUDA
// error that is not sticky fails only its batch.
func TestClassifyGPUErrors(t *testing.T) {
	sticky := cuda.NewAPIError("cudaStreamSynchronize", 700, "", "an illegal memory access was encountered")
	for _, tc := range []struct {
		name   string
		err    error
		status int
		typ    string
	}{
		{"sticky error of a batch", &pipeline.StageError{Stage: pipeline.StageInfer, Err: fmt.Errorf("instance 0: %w", sticky)}, http.StatusServiceUnavailable, "GPUFault"},
		{"the sentinel itself", fmt.Errorf("load: %w", cuda.ErrDeviceFault), http.StatusServiceUnavailable, "GPUFault"},
		{"model out of service", fmt.Errorf("m/1: %w: gone", pipeline.ErrDeviceLost), http.StatusServiceUnavailable, "GPUFault"},
		{"launch out of resources", &pipeline.StageError{Stage: pipeline.StageInfer, Err: cuda.NewAPIError("cudaLaunchKernel", 701, "cudaErrorLaunchOutOfResources", "")}, http.StatusInternalServerError, "EngineError"},
		{"not CUDA at all", errors.New("boom"), http.StatusInternalServerError, "InternalError"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if status, typ, _ := classify(tc.err); status != tc.status || typ != tc.typ {
				t.Fatalf("classify = %d %s, want %d %s", status, typ, tc.status, tc.typ)
			}
		})
	}
}
