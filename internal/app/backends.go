package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/trtserve/trtserve/config"
	"github.com/trtserve/trtserve/cuda"
	"github.com/trtserve/trtserve/engines"
	"github.com/trtserve/trtserve/engines/onnxruntime"
	"github.com/trtserve/trtserve/engines/simgpu"
	"github.com/trtserve/trtserve/engines/simulated"
	"github.com/trtserve/trtserve/engines/tensorrt"
	"github.com/trtserve/trtserve/internal/gpustack"
	"github.com/trtserve/trtserve/vision"
)

// Backends are the backends this machine started, and what follows from
// which did.
type Backends struct {
	*engines.BackendSet
	// Default runs models whose config.yaml names no backend: tensorrt
	// when the GPU path started, else onnxruntime.
	Default string
	// PinnedPool is the GPU backend's pinned host memory (nil without it),
	// reported as nv_pinned_memory_pool_*.
	PinnedPool *cuda.Pool
	// GPUFault receives the first sticky CUDA error a GPU backend's
	// runtime returns (cuda.Watch): the device is lost for the process.
	GPUFault <-chan error
	// Runtime is the TensorRT backend's CUDA runtime (nil without it).
	Runtime  cuda.Runtime
	gpuFault chan error
	closers  []func() error
}

// fault passes a sticky CUDA error on to GPUFault, once.
func (b *Backends) fault(err error) {
	select {
	case b.gpuFault <- err:
	default: // one fault is enough: the device is gone either way
	}
}

// Close closes the backends, then the GPU runtime.
func (b *Backends) Close() error {
	errs := []error{b.BackendSet.Close()}
	for i := len(b.closers) - 1; i >= 0; i-- {
		errs = append(errs, b.closers[i]())
	}
	return errors.Join(errs...)
}

// OpenBackends starts the backends this machine has: TensorRT when the
// shim, libcudart and a GPU are all here (otherwise it is recorded as
// missing with the reason, and models asking for it fall back to ONNX
// Runtime), ONNX Runtime (its absence is fatal unless another backend can
// run the models) and the simulated accelerator.
func OpenBackends(cfg *config.Config, log *slog.Logger) (*Backends, error) {
	b := &Backends{BackendSet: engines.NewBackendSet(), Default: onnxruntime.Name, gpuFault: make(chan error, 1)}
	b.GPUFault = b.gpuFault
	b.SetFallback(tensorrt.Name, onnxruntime.Name)
	trtErr := startTensorRT(cfg, log, b)
	if trtErr != nil {
		b.MarkMissing(tensorrt.Name, trtErr)
		if cfg.TensorRT == "off" {
			log.Info("TensorRT backend off", "why", trtErr)
		} else {
			log.Info("TensorRT backend not available: models run on ONNX Runtime (CPU)", "why", trtErr)
		}
	}
	ort, err := onnxruntime.New(onnxruntime.Options{LibraryPath: cfg.ORTLibrary, IntraOpThreads: cfg.IntraOpThreads})
	switch {
	case err == nil:
		b.Register(ort)
		log.Info("backend ready", "backend", onnxruntime.Name, "onnxruntime", onnxruntime.Version(), "jpeg", vision.JPEGDecoder)
	case cfg.Backend == simulated.Name || cfg.Backend == simgpu.Name || trtErr == nil:
		// Nothing needs to run on it: say so and go on.
		b.MarkMissing(onnxruntime.Name, err)
		log.Warn("onnxruntime backend unavailable", "err", err)
	default:
		b.Close()
		return nil, fmt.Errorf("onnxruntime backend: %w", err)
	}
	b.Register(simulated.New())
	if cfg.Backend == simulated.Name {
		log.Warn("every model runs on the SIMULATED accelerator: outputs are synthetic, timings are a model of a GPU", "base", simulated.DefaultBase, "per_image", simulated.DefaultPerItem)
	}
	if cfg.Backend != simgpu.Name {
		// It takes a GPU context and pinned memory: only when asked for.
		b.MarkMissing(simgpu.Name, errors.New("a benchmark backend: start the server with --backend simulated-gpu"))
	} else if err := startSimGPU(cfg, log, b); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// startSimGPU starts the simulated GPU backend (engines/simgpu) on
// --gpu, or says why it cannot: it needs a real GPU and the simulated
// kernel, except under TRTSERVE_CUDA_MOCK (tests).
func startSimGPU(cfg *config.Config, log *slog.Logger, b *Backends) error {
	unavailable := func(err error) error {
		return fmt.Errorf("%w: %w (it needs an NVIDIA GPU and %s from `make simkernel`; without a GPU only TRTSERVE_CUDA_MOCK=1 runs it, for tests)",
			simgpu.ErrUnavailable, err, cuda.SimKernelLib)
	}
	var (
		rt     cuda.Runtime
		kernel simgpu.Launcher
		closer func() error
	)
	if cfg.CUDAMock {
		log.Warn("CUDA MOCK (TRTSERVE_CUDA_MOCK): the simulated-gpu backend runs on host memory with a host stand-in for its kernel — for tests only")
		m, err := OpenCUDAMock(cfg.CUDAMockDevices, "", log)
		if err != nil {
			return unavailable(err)
		}
		rt = m.Runtime
		kernel, closer = simgpu.HostKernel{Runtime: rt}, func() error { return nil }
	} else {
		var err error
		if rt, err = cuda.Open(cfg.CUDALib); err != nil {
			return unavailable(err)
		}
		n, err := rt.DeviceCount()
		if err == nil && cfg.GPU >= n {
			err = fmt.Errorf("%w: --gpu %d, but this machine has %d", cuda.ErrNoDevice, cfg.GPU, n)
		}
		if err != nil {
			rt.Close()
			return unavailable(err)
		}
		k, err := cuda.LoadSimKernel(cfg.SimKernelLib)
		if err != nil {
			rt.Close()
			return unavailable(err)
		}
		kernel, closer = k, k.Close
	}
	rt = cuda.Watch(rt, b.fault)
	pool := cuda.NewPool(rt, cuda.PoolOptions{Budget: cfg.PinnedPoolBytes, Device: cfg.GPU, Log: log})
	backend, err := simgpu.NewBackend(simgpu.BackendOptions{Runtime: rt, Kernel: kernel, Device: cfg.GPU, Pool: pool})
	if err != nil {
		pool.Close()
		closer()
		rt.Close()
		return err
	}
	b.Register(backend)
	b.closers = append(b.closers, rt.Close, closer, pool.Close)
	if b.PinnedPool == nil {
		b.PinnedPool = pool
	}
	dev, _ := rt.DeviceInfo(cfg.GPU)
	log.Warn("every model runs on the SIMULATED GPU backend: real pinned copies, streams and a kernel reading every input byte; outputs are synthetic, not predictions",
		"gpu", dev.Name, "cuda", rt.Name())
	return nil
}

// startTensorRT starts the GPU backend, or says why it cannot.
func startTensorRT(cfg *config.Config, log *slog.Logger, b *Backends) error {
	if cfg.TensorRT == "off" {
		return errors.New("disabled by --tensorrt=off")
	}
	var mock *CUDAMock
	stopMock := func() {
		if mock != nil {
			mock.Stop()
		}
	}
	o := gpustack.Options{
		ShimLib: cfg.TRTShimLib, TensorRTLib: cfg.TensorRTLib, AllowEngineHostCode: cfg.AllowEngineHostCode,
		CUDALib: cfg.CUDALib, GPU: cfg.GPU, Log: log,
		// The pinned pool and the copies are CUDA calls of the backend's
		// own, whatever the shim.
		NeedRuntime: true,
		OnFault:     b.fault,
	}
	if cfg.CUDAMock {
		o.OpenRuntime = func() (cuda.Runtime, error) {
			log.Warn("CUDA MOCK (TRTSERVE_CUDA_MOCK): no GPU is used; \"device\" memory is host memory and copies are synchronous — for tests only", "devices", cfg.CUDAMockDevices)
			m, err := OpenCUDAMock(cfg.CUDAMockDevices, cfg.CUDAMockFaultFile, log)
			if err != nil {
				return nil, err
			}
			mock = m
			return m.Runtime, nil
		}
	}
	stack, err := gpustack.Open(o)
	if err != nil {
		stopMock()
		return err
	}
	lib, rt := stack.Shim, stack.Runtime
	fail := func(err error) error {
		stopMock()
		stack.Close()
		return err
	}
	pool := cuda.NewPool(rt, cuda.PoolOptions{Budget: cfg.PinnedPoolBytes, Device: cfg.GPU, Log: log})
	level := slog.LevelWarn
	if log.Enabled(context.Background(), slog.LevelDebug) {
		level = slog.LevelInfo // TensorRT's info is chatty: only at --log-level=debug
	}
	if err := lib.SetLogger(log, level); err != nil {
		return fail(err)
	}
	backend, err := tensorrt.New(tensorrt.Options{Lib: lib, Runtime: rt, Device: cfg.GPU, Pool: pool, CacheDir: cfg.EngineCacheDir, TF32Override: cfg.TF32Override, Log: log})
	if err != nil {
		pool.Close()
		return fail(err)
	}
	b.Register(backend)
	b.Default, b.PinnedPool, b.Runtime = tensorrt.Name, pool, rt
	if mock != nil {
		// Closers run last to first: this one after everything else, so
		// tests see every device that got a context in the whole run.
		b.closers = append(b.closers, func() error {
			log.Info("CUDA MOCK: devices that got a context", "devices", mock.Contexts())
			return nil
		})
	}
	b.closers = append(b.closers, stack.Close, pool.Close, func() error { stopMock(); return nil })
	info, dev := stack.Info, backend.Device()
	log.Info("backend ready", "backend", tensorrt.Name, "tensorrt", info.Version(), "shim", info.Path, "gpu", dev.Name,
		"compute_capability", dev.ComputeCapability(), "cuda", rt.Name(), "pinned_pool_budget", cfg.PinnedPoolBytes)
	if info.Notice != "" {
		log.Warn(info.Notice, "shim", info.Path)
	}
	return nil
}
