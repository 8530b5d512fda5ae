//go:build cudamock

package app

import (
	"github.com/trtserve/trtserve/cuda"
	"github.com/trtserve/trtserve/cuda/cudamock"
)

// openSharedMemoryMock is the runtime CUDA shared-memory regions open on
// under TRTSERVE_CUDA_MOCK: a mock of devices GPUs that also opens
// cudamock.FileHandle handles (another process's "device memory" in a
// /dev/shm file), so clients test CUDA shared memory without a GPU.
func openSharedMemoryMock(devices int) (cuda.Runtime, error) {
	return cudamock.NewFileIPC(cudamock.New(devices), ""), nil
}
