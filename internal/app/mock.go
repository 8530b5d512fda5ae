package app

import "github.com/trtserve/trtserve/cuda"

// CUDAMock is the CUDA mock as the composition root uses it: a Runtime
// of host memory standing in for GPUs (TRTSERVE_CUDA_MOCK=1, tests only),
// built only into binaries compiled with the tag cudamock (OpenCUDAMock).
type CUDAMock struct {
	// Runtime is the mock; "device" memory is host memory and every call
	// is synchronous.
	Runtime cuda.Runtime
	// Contexts lists the devices that got a context so far ("0,1"), for
	// the log line tests read at shutdown.
	Contexts func() string
	// Stop ends the fault-file watch; safe to call twice.
	Stop func()
}
