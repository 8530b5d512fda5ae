//go:build !cudamock

package app

import (
	"errors"
	"log/slog"
)

// OpenCUDAMock refuses: the CUDA mock is test code, compiled in only with
// the build tag cudamock (see mock_on.go), so a release binary cannot be
// talked into pretending it has a GPU.
func OpenCUDAMock(devices int, faultFile string, log *slog.Logger) (*CUDAMock, error) {
	return nil, errNoCUDAMock
}

var errNoCUDAMock = errors.New("TRTSERVE_CUDA_MOCK: this binary was built without the CUDA mock (build tag cudamock); the mock is for tests: go build -tags cudamock")
