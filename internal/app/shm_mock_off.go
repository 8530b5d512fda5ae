//go:build !cudamock

package app

import "github.com/trtserve/trtserve/cuda"

// openSharedMemoryMock refuses: no CUDA mock in this binary (see
// mock_off.go).
func openSharedMemoryMock(devices int) (cuda.Runtime, error) {
	return nil, errNoCUDAMock
}
