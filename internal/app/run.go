package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
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
	"github.com/trtserve/trtserve/engines/simgpu"
	"github.com/trtserve/trtserve/engines/tensorrt"
	"github.com/trtserve/trtserve/grpcserver"
	"github.com/trtserve/trtserve/internal/tlsconf"
	"github.com/trtserve/trtserve/metrics"
	"github.com/trtserve/trtserve/pipeline"
	"github.com/trtserve/trtserve/repository"
	"github.com/trtserve/trtserve/server"
	"github.com/trtserve/trtserve/tasks"
)

// Run is `trtserve serve`: start backends, load models, serve HTTP until
// SIGINT/SIGTERM, then drain in-flight requests and exit.
func Run(cfg *config.Config) error {
	log, err := cfg.Logger(os.Stderr)
	if err != nil {
		return err
	}
	// Go's memory limit from the container's (unless GOMEMLIMIT is set)
	// and the in-flight bytes bound (memlimit.go).
	mem := applyMemoryLimits(cfg, "/")
	mem.log(log)
	// TLS for every listener (nil: plain TCP), read before anything slow
	// so that bad files fail the start at once. tlsConfig hands each
	// handshake the current files; SIGHUP rereads them (certs.Reload).
	certs, err := tlsconf.Load(tlsconf.Files{Cert: cfg.TLSCert, Key: cfg.TLSKey, ClientCA: cfg.TLSClientCA}, log)
	if err != nil {
		return err
	}
	var tlsConfig *tls.Config
	// Failed handshakes on either port, with TLS on: logged (a line per
	// 10 s at most) and counted (trtserve_tls_handshake_failures_total).
	handshakes := tlsconf.NewHandshakeFailures(log, 10*time.Second)
	if certs != nil {
		tlsConfig = certs.Config()
		if cfg.TLSReloadInterval > 0 {
			// Kubernetes never sends SIGHUP: a rotated Secret is found by
			// looking.
			watchCtx, stopWatching := context.WithCancel(context.Background())
			defer stopWatching()
			go certs.Watch(watchCtx, cfg.TLSReloadInterval)
		}
	}
	backends, err := OpenBackends(cfg, log)
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
	// A GOMAXPROCS the user set wins.
	if cfg.GOMAXPROCS == "" {
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
	models := pipeline.NewManager(repo, backends.BackendSet, nil, pipeline.ManagerOptions{
		Mode: mode, MaxQueueSize: cfg.MaxQueueSize, MaxQueueDelay: cfg.MaxQueueDelay,
		DecodeWorkers: decodeWorkers, PostWorkers: postWorkers, MaxLoaded: cfg.MaxActiveModels, Log: log,
		// A model whose outputs do not fit its task fails its load with
		// the reason, instead of serving 500s.
		Validate: tasks.Validate,
		// A load whose memory estimate does not fit is refused before it
		// allocates (pipeline/estimate.go).
		MaxModelMemory: cfg.MaxModelMemory,
	})
	defer models.Close()
	log.Info("pipeline", "mode", mode, "max_queue_size", cfg.MaxQueueSize, "max_queue_delay", cfg.MaxQueueDelay,
		"decode_workers", decodeWorkers, "post_workers", postWorkers, "gomaxprocs", runtime.GOMAXPROCS(0))

	stopPprof, err := servePprof(cfg.PprofAddr, log)
	if err != nil {
		return err
	}
	defer stopPprof()
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
	// Triton's shared-memory regions, one registry for HTTP and gRPC
	// (shm.go); closed after the servers have drained (defers run after
	// shutdownAll).
	shmRegions, closeShm := OpenSharedMemory(cfg, backends, log)
	defer closeShm()
	if !cfg.SharedMemory {
		shmRegions = nil // both servers then refuse the extensions
	}
	// One bound on the bytes admitted requests hold, for every route and
	// protocol (--max-inflight-bytes).
	inflight := pipeline.NewByteBudget(mem.InflightBytes)
	if err := reg.RegisterInflightBytes(func() (int64, int64, int64) {
		return inflight.Limit(), inflight.InUse(), inflight.Peak()
	}); err != nil {
		return err
	}
	if certs != nil {
		if err := reg.RegisterTLSHandshakeFailures(handshakes.Total); err != nil {
			return err
		}
	}
	srv := server.New(models, server.Options{
		Metrics:      reg,
		AdminAPIKey:  cfg.AdminAPIKey,
		MaxBodyBytes: cfg.MaxBodyBytes, MaxImagePixels: cfg.MaxImagePixels, RequestTimeout: cfg.RequestTimeout,
		ReadTimeout: cfg.ReadTimeout, WriteTimeout: cfg.WriteTimeout, MaxConnections: cfg.MaxConnections,
		AllowURLInput: cfg.AllowURLInput, URLAllowlist: strings.Split(cfg.URLAllowlist, ","), JPEGDCTScaling: cfg.JPEGDCTScaling, LegacyRoutes: true,
		AutoLoad: cfg.ModelControl == server.ControlExplicit, ModelControl: cfg.ModelControl,
		APIKey: cfg.APIKey, AccessLog: cfg.AccessLog, SharedMemory: shmRegions,
		MaxImagesPerRequest: cfg.MaxImagesPerRequest, InflightBytes: inflight,
	}, log, isReady)
	if cfg.ModelControl == server.ControlExplicit && config.ControlKey(cfg.AdminAPIKey, cfg.APIKey) == "" {
		log.Warn("model control is open to every client (no TRTSERVE_ADMIN_API_KEY or TRTSERVE_API_KEY): loads are bounded and their memory estimated before they allocate; on an untrusted network set TRTSERVE_ADMIN_API_KEY or --model-control-mode none")
	}
	// Every server's graceful stop, run together on SIGTERM under one
	// --shutdown-timeout deadline (shutdownAll).
	shutdowns := []func(context.Context) error{srv.Shutdown}

	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)))
	if err != nil {
		return err
	}
	if tlsConfig != nil {
		ln = tlsconf.Listener(ln, tlsConfig, handshakes.Report)
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String(), "tls", tlsConfig != nil)
	if cfg.HealthPort != 0 {
		// The health routes alone, plain HTTP, no key (--health-port):
		// for probes that cannot pass mutual TLS. It stays up through
		// the drain, answering 503 to readiness, and closes last.
		hln, err := net.Listen("tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.HealthPort)))
		if err != nil {
			return fmt.Errorf("health port (--health-port %d): %w", cfg.HealthPort, err)
		}
		hsrv := &http.Server{Handler: srv.HealthHandler(), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second}
		go hsrv.Serve(hln)
		defer hsrv.Close()
		log.Info("health port listening", "addr", hln.Addr().String())
	}
	// The KServe v2 / Triton gRPC server beside HTTP: the same models,
	// queues, shared-memory regions, keys and TLS; drained with it.
	if cfg.GRPCPort != 0 {
		gsrv := grpcserver.New(models, grpcserver.Options{
			Regions: shmRegions, Version: server.Version,
			APIKey: cfg.APIKey, AdminAPIKey: cfg.AdminAPIKey, ModelControl: cfg.ModelControl, RequestTimeout: cfg.RequestTimeout,
			MaxMessageBytes: cfg.GRPCMaxMessageBytes, WindowBytes: cfg.GRPCWindowBytes, TLS: tlsConfig, AccessLog: cfg.AccessLog,
			InflightBytes: inflight, TLSHandshakeFailed: handshakes.Report,
			Keepalive: grpcserver.Keepalive{Time: cfg.GRPCKeepaliveTime, Timeout: cfg.GRPCKeepaliveTimeout,
				MinPingInterval: cfg.GRPCKeepaliveMinPingInterval, PermitWithoutCalls: cfg.GRPCKeepalivePermitWithoutCalls},
		}, log, isReady)
		gln, err := net.Listen("tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.GRPCPort)))
		if err != nil {
			return fmt.Errorf("gRPC server (--grpc-port %d; 0 turns it off): %w", cfg.GRPCPort, err)
		}
		go func() {
			if err := gsrv.Serve(gln); err != nil {
				select {
				case serveErr <- err:
				default:
				}
			}
		}()
		shutdowns = append(shutdowns, gsrv.Shutdown)
		log.Info("listening", "grpc", gln.Addr().String(), "tls", tlsConfig != nil)
	}

	// Load at start, in the background, so /healthz answers at once and
	// /readiness turns 200 when the models are in.
	pollCtx, stopPolling := context.WithCancel(context.Background())
	defer stopPolling()
	go func() {
		if cfg.ModelControl == server.ControlPoll {
			// Triton's poll mode: the whole repository, then its changes.
			if err := models.Sync(pollCtx); err != nil {
				log.Error("scan model repository", "err", err)
			}
		} else {
			loadInitial(context.Background(), log, repo, models, cfg.LoadModels)
		}
		ready.Store(true)
		log.Info("ready", "models", len(models.Loaded()), "model_control_mode", cfg.ModelControl)
		if cfg.ModelControl == server.ControlPoll {
			poll(pollCtx, log, models, cfg.PollInterval)
		}
	}()

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	// SIGHUP reloads what can be reloaded (the TLS files) and never stops
	// the server.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var exitErr error
wait:
	for {
		select {
		case err := <-serveErr:
			return err
		case sig := <-sigs:
			log.Info("shutting down", "signal", sig.String(), "deadline", cfg.ShutdownTimeout)
			break wait
		case <-hup:
			if certs == nil {
				log.Info("SIGHUP: nothing to reload (TLS is off)")
			} else {
				certs.Reload() // logs the new certificate, or why it kept the old one
			}
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
	return errors.Join(exitErr, shutdownAll(ctx, shutdowns))
}

// shutdownAll stops every server at once, each draining its in-flight
// requests until ctx ends, and returns their errors.
func shutdownAll(ctx context.Context, stops []func(context.Context) error) error {
	errs := make([]error, len(stops))
	var wg sync.WaitGroup
	for i, stop := range stops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = stop(ctx)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
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

// NewRepository is the model repository the config describes, its default
// backend the one OpenBackends chose.
func NewRepository(cfg *config.Config, b *Backends) *repository.Repository {
	return &repository.Repository{Roots: cfg.Roots(), Defaults: repository.Defaults{
		Backend: b.Default, MaxBatchSize: cfg.MaxBatchSize, InstanceCount: cfg.InstanceCount, ForceBackend: cfg.Backend,
	}}
}
