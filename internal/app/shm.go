package app

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/trtserve/trtserve/config"
	"github.com/trtserve/trtserve/cuda"
	"github.com/trtserve/trtserve/shm"
)

// OpenSharedMemory is the registry of client shared-memory regions both
// servers share (Triton's system and CUDA shared-memory extensions), and
// the function that closes it at shutdown, after the servers have drained.
//
// CUDA regions open through the GPU backend's runtime when one started
// (b.Runtime), otherwise through libcudart opened on the first CUDA
// registration (--cudart-lib). Without a usable GPU such a registration
// fails with "CUDA shared memory needs a GPU: <why>", and system regions
// work the same either way.
//
// Under TRTSERVE_CUDA_MOCK (a binary built with the cudamock tag, for
// tests) CUDA regions open on a mock of their own that also takes
// cudamock.FileHandle handles: "device memory" in a /dev/shm file another
// process wrote, so CUDA shared memory is tested end to end without a GPU.
func OpenSharedMemory(cfg *config.Config, b *Backends, log *slog.Logger) (*shm.Registry, func() error) {
	o := &cudaOpener{cfg: cfg, log: log}
	if b != nil && b.Runtime != nil && !cfg.CUDAMock {
		o.rt, o.tried = b.Runtime, true
	}
	reg := shm.NewRegistry(shm.Options{CUDA: o})
	return reg, func() error {
		err := reg.Close()
		return errors.Join(err, o.close())
	}
}

// cudaOpener is shm.CUDAOpener over package cuda.
type cudaOpener struct {
	cfg *config.Config
	log *slog.Logger

	mu    sync.Mutex // guards everything below
	rt    cuda.Runtime
	owned bool  // rt was opened here (closed by close)
	tried bool  // the runtime was looked for; err says why there is none
	err   error // why CUDA regions cannot be opened
}

// runtime is the CUDA runtime, opened on first use.
func (o *cudaOpener) runtime() (cuda.Runtime, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.tried {
		return o.rt, o.err
	}
	o.tried = true
	var rt cuda.Runtime
	var err error
	if o.cfg.CUDAMock {
		rt, err = openSharedMemoryMock(o.cfg.CUDAMockDevices)
	} else {
		rt, err = cuda.Open(o.cfg.CUDALib)
		if err == nil {
			if _, err = rt.DeviceCount(); err != nil {
				rt.Close()
				rt = nil
			}
		}
	}
	if err != nil {
		o.err = err
		return nil, err
	}
	o.rt, o.owned = rt, true
	return rt, nil
}

func (o *cudaOpener) close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.owned || o.rt == nil {
		return nil
	}
	rt := o.rt
	o.rt, o.owned, o.err = nil, false, cuda.ErrClosed
	return rt.Close()
}

// OpenIPC opens a client's cudaIpcMemHandle_t on device deviceID.
func (o *cudaOpener) OpenIPC(raw []byte, deviceID int, byteSize uint64) (shm.CUDAMapping, error) {
	rt, err := o.runtime()
	if err != nil {
		return nil, shm.Mark(fmt.Errorf("CUDA shared memory needs a GPU: %w", err), shm.ErrNoCUDA)
	}
	n, err := rt.DeviceCount()
	if err != nil {
		return nil, shm.Mark(fmt.Errorf("CUDA shared memory needs a GPU: %w", err), shm.ErrNoCUDA)
	}
	if deviceID >= n {
		return nil, fmt.Errorf("device_id %d: this machine has %d GPU(s)", deviceID, n)
	}
	if len(raw) != cuda.IPCHandleSize {
		return nil, fmt.Errorf("a cudaIpcMemHandle_t is %d bytes, got %d", cuda.IPCHandleSize, len(raw))
	}
	var h cuda.IPCHandle
	copy(h[:], raw)
	m, err := cuda.OpenIPC(rt, deviceID, h, byteSize)
	if errors.Is(err, cuda.ErrIPCBounds) {
		return nil, shm.Mark(fmt.Errorf("byte_size %d: %w", byteSize, err), shm.ErrBounds)
	}
	if err != nil {
		return nil, fmt.Errorf("opening the CUDA IPC handle on device %d: %w", deviceID, err)
	}
	return m, nil
}
