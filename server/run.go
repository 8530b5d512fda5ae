package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/trtserve/trtserve/config"
	"github.com/trtserve/trtserve/cuda"
	"github.com/trtserve/trtserve/cuda/cudamock"
	"github.com/trtserve/trtserve/engines"
	"github.com/trtserve/trtserve/engines/onnxruntime"
	"github.com/trtserve/trtserve/engines/simgpu"
	"github.com/trtserve/trtserve/engines/simulated"
	"github.com/trtserve/trtserve/engines/tensorrt"
	"github.com/trtserve/trtserve/metrics"
	"github.com/trtserve/trtserve/pipeline"
	"github.com/trtserve/trtserve/repository"
	"github.com/trtserve/trtserve/trt"
	"github.com/trtserve/trtserve/vision"
)

// Run is `trtserve serve`: start backends, load models, serve HTTP until
// SIGINT/SIGTERM, then drain in-flight requests and exit.
func Run(cfg *config.Config) error {
	log, err := cfg.Logger(os.Stderr)
	if err != nil {
		return err
	}
	backends, err := NewBackends(cfg, log)
	if err != nil {
		return err
	}
	defer backends.Close()
	repo := NewRepository(cfg, backends)
	mode, err := pipeline.ParseMode(cfg.Pipeline)
	if err != nil {
		return err
	}
	cpus := runtime.GOMAXPROCS(0) // the CPU quota (Go reads the cgroup limit)
	if os.Getenv("GOMAXPROCS") == "" {
		// Instances spend their time blocked in the engine (a syscall or a
		// cgo call). Returning from it needs a P; with every P busy
		// decoding, the instance waits for the next scheduling point, about
		// 1 ms a batch here, and the accelerator idles. One P more than the
		// CPU quota lets it run at once; the pools stay sized to the quota,
		// so the OS shares the cores. Measured: +8.5% fps on the simulated
		// YOLOv8x at concurrency 64 (docs/benchmarks.md).
		runtime.GOMAXPROCS(cpus + 1)
	}
	decodeWorkers, postWorkers := cfg.DecodeWorkers, cfg.PostWorkers
	if decodeWorkers == 0 {
		decodeWorkers = cpus
	}
	if postWorkers == 0 {
		postWorkers = cpus
	}
	models := pipeline.NewManager(repo, backends.Registry, nil, pipeline.ManagerOptions{
		Mode: mode, MaxQueueSize: cfg.MaxQueueSize, MaxQueueDelay: cfg.MaxQueueDelay,
		DecodeWorkers: decodeWorkers, PostWorkers: postWorkers, MaxLoaded: cfg.MaxActiveModels, Log: log,
	})
	defer models.Close()
	log.Info("pipeline", "mode", mode, "max_queue_size", cfg.MaxQueueSize, "max_queue_delay", cfg.MaxQueueDelay,
		"decode_workers", decodeWorkers, "post_workers", postWorkers, "gomaxprocs", runtime.GOMAXPROCS(0))

	reg := metrics.New(models)
	gpuMetrics := reg.RegisterGPU(log)
	defer gpuMetrics.Close()
	var ready atomic.Bool
	// A GPU fault (a sticky CUDA error) is for good: ready never returns.
	var gpuFault atomic.Pointer[error]
	if backends.PinnedPool != nil { // a GPU backend started
		if err := reg.RegisterPinnedPool(backends.PinnedPool.Usage); err != nil {
			return err
		}
		if err := reg.RegisterGPUFault(func() bool { return gpuFault.Load() != nil }); err != nil {
			return err
		}
	}
	isReady := func() bool { return ready.Load() && gpuFault.Load() == nil }
	srv := New(models, Options{
		Metrics:      reg,
		MaxBodyBytes: cfg.MaxBodyBytes, MaxImagePixels: cfg.MaxImagePixels, RequestTimeout: cfg.RequestTimeout,
		ReadTimeout: cfg.ReadTimeout, WriteTimeout: cfg.WriteTimeout, MaxConnections: cfg.MaxConnections,
		AllowURLInput: cfg.AllowURLInput, URLAllowlist: strings.Split(cfg.URLAllowlist, ","), JPEGDCTScaling: cfg.JPEGDCTScaling, LegacyRoutes: true,
		AutoLoad: cfg.ModelControl == ControlExplicit, ModelControl: cfg.ModelControl,
		APIKey: cfg.APIKey, AccessLog: cfg.AccessLog,
	}, log, isReady)

	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)))
	if err != nil {
		return err
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String())

	// Load at start, in the background, so /healthz answers at once and
	// /readiness turns 200 when the models are in.
	pollCtx, stopPolling := context.WithCancel(context.Background())
	defer stopPolling()
	go func() {
		if cfg.ModelControl == ControlPoll {
			// Triton's poll mode: the whole repository, then its changes.
			if err := models.Sync(pollCtx); err != nil {
				log.Error("scan model repository", "err", err)
			}
		} else {
			loadInitial(context.Background(), log, repo, models, cfg.LoadModels)
		}
		ready.Store(true)
		log.Info("ready", "models", len(models.Loaded()), "model_control_mode", cfg.ModelControl)
		if cfg.ModelControl == ControlPoll {
			poll(pollCtx, log, models, cfg.PollInterval)
		}
	}()

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	var exitErr error
wait:
	for {
		select {
		case err := <-serveErr:
			return err
		case sig := <-sigs:
			log.Info("shutting down", "signal", sig.String(), "deadline", cfg.ShutdownTimeout)
			break wait
		case fault := <-backends.GPUFault:
			gpuFault.Store(&fault)
			// Both GPU backends share the process's context on the device:
			// it is lost for both.
			gone := append(models.FailBackend(tensorrt.Name, fault), models.FailBackend(simgpu.Name, fault)...)
			log.Log(context.Background(), config.LevelCritical, "GPU fault: the device is lost until this process exits; not ready from now on",
				"gpu", cfg.GPU, "err", fault, "models_out_of_service", gone, "exit_on_gpu_fault", cfg.ExitOnGPUFault)
			if cfg.ExitOnGPUFault {
				log.Info("exiting after in-flight requests finish (--exit-on-gpu-fault)", "deadline", cfg.ShutdownTimeout)
				exitErr = fmt.Errorf("%w: %w", ErrGPUFault, fault)
				break wait
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	return errors.Join(exitErr, srv.Shutdown(ctx))
}

// ErrGPUFault is Run's error after a sticky CUDA error with
// --exit-on-gpu-fault: the process exits non-zero so that an orchestrator
// restarts it, the only way to use the GPU again.
var ErrGPUFault = errors.New("exiting after a GPU fault")

// poll rescans the repository every interval until ctx ends.
func poll(ctx context.Context, log *slog.Logger, models *pipeline.Manager, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := models.Sync(ctx); err != nil {
				log.Error("scan model repository", "err", err)
			}
		}
	}
}

func loadInitial(ctx context.Context, log *slog.Logger, repo *repository.Repository, models *pipeline.Manager, which string) {
	var ids []string
	switch strings.TrimSpace(which) {
	case "none", "":
		return
	case "all":
		entries, err := repo.Scan()
		if err != nil {
			log.Error("scan model repository", "err", err)
			return
		}
		for _, e := range entries {
			ids = append(ids, e.ID())
		}
	default:
		for _, id := range strings.Split(which, ",") {
			ids = append(ids, strings.TrimSpace(id))
		}
	}
	for _, id := range ids {
		m, err := models.Load(ctx, id)
		if err != nil {
			log.Error("model failed to load", "model", id, "err", err)
			continue
		}
		log.Info("model loaded", "model", id, "task", m.Spec.Task, "input", fmt.Sprintf("%dx%d", m.Spec.InputWidth, m.Spec.InputHeight),
			"max_batch", m.Engine.MaxBatch(), "backend", m.Spec.Backend, "pipeline", m.Mode(), "classes", len(m.Spec.ClassNames))
	}
}

// Backends are the backends this machine started, and what follows from
// which did.
type Backends struct {
	*engines.Registry
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

// watch wraps a GPU backend's runtime so its first sticky error reaches
// GPUFault.
func (b *Backends) watch(rt cuda.Runtime) cuda.Runtime {
	return cuda.Watch(rt, func(err error) {
		select {
		case b.gpuFault <- err:
		default: // one fault is enough: the device is gone either way
		}
	})
}

// Close closes the backends, then the GPU runtime.
func (b *Backends) Close() error {
	errs := []error{b.Registry.Close()}
	for i := len(b.closers) - 1; i >= 0; i-- {
		errs = append(errs, b.closers[i]())
	}
	return errors.Join(errs...)
}

// NewBackends starts the backends this machine has: TensorRT when the
// shim, libcudart and a GPU are all here (otherwise it is recorded as
// missing with the reason, and models asking for it fall back to ONNX
// Runtime), ONNX Runtime (its absence is fatal unless another backend can
// run the models) and the simulated accelerator.
func NewBackends(cfg *config.Config, log *slog.Logger) (*Backends, error) {
	b := &Backends{Registry: engines.NewRegistry(), Default: onnxruntime.Name, gpuFault: make(chan error, 1)}
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
		rt = &cudamock.Mock{Devices: cfg.CUDAMockDevices}
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
		k, err := cuda.LoadSimKernel("")
		if err != nil {
			rt.Close()
			return unavailable(err)
		}
		kernel, closer = k, k.Close
	}
	rt = b.watch(rt)
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
	// The shim first: it needs no CUDA, and says which CUDA major TensorRT
	// was built for, whose libcudart is then tried first.
	lib, err := trt.OpenWith(cfg.TRTShimLib, trt.OpenOptions{TensorRTLib: cfg.TensorRTLib, AllowEngineHostCode: cfg.AllowEngineHostCode})
	if err != nil {
		return err
	}
	var rt cuda.Runtime
	stopMock := func() {}
	if cfg.CUDAMock {
		log.Warn("CUDA MOCK (TRTSERVE_CUDA_MOCK): no GPU is used; \"device\" memory is host memory and copies are synchronous — for tests only", "devices", cfg.CUDAMockDevices)
		m := &cudamock.Mock{Devices: cfg.CUDAMockDevices}
		rt, stopMock = m, mockFaultTrigger(m, cfg.CUDAMockFaultFile, log)
	} else if rt, err = openCUDART(cfg.CUDALib, lib.Info().CUDAVersion, log); err != nil {
		return err
	}
	// Every CUDA call of the backend (pool, loads, instances) goes through
	// the watch: the first sticky error is reported once, whoever hits it.
	rt = b.watch(rt)
	fail := func(err error) error {
		stopMock()
		rt.Close()
		return err
	}
	n, err := rt.DeviceCount()
	if err != nil {
		return fail(err)
	}
	if cfg.GPU >= n {
		return fail(fmt.Errorf("%w: --gpu %d, but this machine has %d", cuda.ErrNoDevice, cfg.GPU, n))
	}
	pool := cuda.NewPool(rt, cuda.PoolOptions{Budget: cfg.PinnedPoolBytes, Device: cfg.GPU, Log: log})
	level := slog.LevelWarn
	if log.Enabled(context.Background(), slog.LevelDebug) {
		level = slog.LevelInfo // TensorRT's info is chatty: only at --log-level=debug
	}
	if err := lib.SetLogger(log, level); err != nil {
		return fail(err)
	}
	backend, err := tensorrt.New(tensorrt.Options{Lib: lib, Runtime: rt, Device: cfg.GPU, Pool: pool, CacheDir: cfg.EngineCacheDir, Log: log})
	if err != nil {
		pool.Close()
		return fail(err)
	}
	b.Register(backend)
	b.Default, b.PinnedPool, b.Runtime = tensorrt.Name, pool, rt
	if m, ok := rt.(*cuda.Watched).Unwrap().(*cudamock.Mock); ok {
		// Closers run last to first: this one after everything else, so
		// tests see every device that got a context in the whole run.
		b.closers = append(b.closers, func() error {
			log.Info("CUDA MOCK: devices that got a context", "devices", strings.Trim(strings.Join(strings.Fields(fmt.Sprint(m.Contexts())), ","), "[]"))
			return nil
		})
	}
	b.closers = append(b.closers, rt.Close, pool.Close, func() error { stopMock(); return nil })
	info, dev := lib.Info(), backend.Device()
	log.Info("backend ready", "backend", tensorrt.Name, "tensorrt", info.Version(), "shim", info.Path, "gpu", dev.Name,
		"compute_capability", dev.ComputeCapability(), "cuda", rt.Name(), "pinned_pool_budget", cfg.PinnedPoolBytes)
	if info.Fake {
		log.Warn("the TensorRT shim is the FAKE (csrc/fake): outputs are synthetic CPU math, not your model — for tests only", "shim", info.Path)
	}
	return nil
}

// openCUDART opens libcudart, the CUDA major TensorRT was built for
// (cudaVersion, e.g. 13000; 0 = unknown) first, and says so when only
// another major is here.
func openCUDART(path string, cudaVersion int, log *slog.Logger) (cuda.Runtime, error) {
	want := cudaVersion / 1000
	rt, err := cuda.OpenFor(path, want)
	if err != nil {
		return nil, err
	}
	if v, _, verr := rt.Version(); verr == nil && want > 0 && v/1000 != want {
		log.Warn("libcudart is not of the CUDA major TensorRT was built for: using it anyway (install the matching runtime, or point --cudart-lib at it)",
			"tensorrt_cuda", fmt.Sprintf("%d.%d", want, cudaVersion%1000/10), "libcudart", rt.Name())
	}
	return rt, nil
}

// mockFaultTrigger makes the CUDA mock lose its device, with the sticky
// error code written in file, once the file appears: how end-to-end tests
// inject a GPU fault into a running server. It returns the stop function.
func mockFaultTrigger(m *cudamock.Mock, file string, log *slog.Logger) func() {
	if file == "" {
		return func() {}
	}
	stop := make(chan struct{})
	var once sync.Once
	go func() {
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			data, err := os.ReadFile(file)
			if err != nil || len(strings.TrimSpace(string(data))) == 0 {
				continue // not there, or not written yet
			}
			code, err := strconv.Atoi(strings.TrimSpace(string(data)))
			if err != nil || !cuda.Sticky(code) {
				log.Error("TRTSERVE_CUDA_MOCK_FAULT_FILE must hold a sticky CUDA error code, e.g. 700", "file", file, "content", string(data))
				return
			}
			log.Warn("CUDA MOCK: injecting a sticky device fault", "code", code)
			m.InjectFault(code)
			return
		}
	}()
	return func() { once.Do(func() { close(stop) }) }
}

// NewRepository is the model repository the config describes.
func NewRepository(cfg *config.Config, b *Backends) *repository.Repository {
	return &repository.Repository{Roots: cfg.Roots(), Defaults: repository.Defaults{
		Backend: b.Default, MaxBatchSize: cfg.MaxBatchSize, InstanceCount: cfg.InstanceCount, ForceBackend: cfg.Backend,
	}}
}
