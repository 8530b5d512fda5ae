//go:build cudamock

package app

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/trtserve/trtserve/cuda/cudamock"
)

// OpenCUDAMock is the CUDA mock TRTSERVE_CUDA_MOCK=1 runs the GPU path on:
// devices GPUs of host memory, and, when faultFile is not "", a device
// that is lost once that file appears holding a sticky CUDA error code
// (cudamock.FaultOnFile). This binary was built with the tag cudamock, for
// tests.
func OpenCUDAMock(devices int, faultFile string, log *slog.Logger) (*CUDAMock, error) {
	m := cudamock.New(devices)
	return &CUDAMock{
		Runtime: m,
		Contexts: func() string {
			return strings.Trim(strings.Join(strings.Fields(fmt.Sprint(m.Contexts())), ","), "[]")
		},
		Stop: cudamock.FaultOnFile(m, faultFile, log),
	}, nil
}
