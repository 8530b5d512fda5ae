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
	"sync/atomic"
	"syscall"
	"time"

	"github.com/trtserve/trtserve/config"
	"github.com/trtserve/trtserve/engines"
	"github.com/trtserve/trtserve/engines/onnxruntime"
	"github.com/trtserve/trtserve/engines/simulated"
	"github.com/trtserve/trtserve/pipeline"
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
	repo := NewRepository(cfg)
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
	models := pipeline.NewManager(repo, backends, nil, pipeline.ManagerOptions{
		Mode: mode, MaxQueueSize: cfg.MaxQueueSize, MaxQueueDelay: cfg.MaxQueueDelay,
		DecodeWorkers: decodeWorkers, PostWorkers: postWorkers, MaxLoaded: cfg.MaxActiveModels, Log: log,
	})
	defer models.Close()
	log.Info("pipeline", "mode", mode, "max_queue_size", cfg.MaxQueueSize, "max_queue_delay", cfg.MaxQueueDelay,
		"decode_workers", decodeWorkers, "post_workers", postWorkers, "gomaxprocs", runtime.GOMAXPROCS(0))

	var ready atomic.Bool
	srv := New(models, Options{
		MaxBodyBytes: cfg.MaxBodyBytes, MaxImagePixels: cfg.MaxImagePixels, RequestTimeout: cfg.RequestTimeout,
		ReadTimeout: cfg.ReadTimeout, WriteTimeout: cfg.WriteTimeout, MaxConnections: cfg.MaxConnections,
		AllowURLInput: cfg.AllowURLInput, URLAllowlist: strings.Split(cfg.URLAllowlist, ","), JPEGDCTScaling: cfg.JPEGDCTScaling, LegacyRoutes: true,
		AutoLoad: cfg.ModelControl == ControlExplicit, ModelControl: cfg.ModelControl,
		APIKey: cfg.APIKey, AccessLog: cfg.AccessLog,
	}, log, ready.Load)

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
	select {
	case err := <-serveErr:
		return err
	case sig := <-sigs:
		log.Info("shutting down", "signal", sig.String(), "deadline", cfg.ShutdownTimeout)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	return srv.Shutdown(ctx)
}

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

func loadInitial(ctx context.Context, log *slog.Logger, repo *engines.Repository, models *pipeline.Manager, which string) {
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

// NewBackends starts the backends this machine has: ONNX Runtime (its
// absence is fatal unless every model runs simulated) and the simulated
// accelerator. TensorRT is recorded as missing with the reason.
func NewBackends(cfg *config.Config, log *slog.Logger) (*engines.Registry, error) {
	backends := engines.NewRegistry()
	ort, err := onnxruntime.New(onnxruntime.Options{LibraryPath: cfg.ORTLibrary, IntraOpThreads: cfg.IntraOpThreads})
	switch {
	case err == nil:
		backends.Register(ort)
		log.Info("backend ready", "backend", onnxruntime.Name, "onnxruntime", onnxruntime.Version(), "jpeg", vision.JPEGDecoder)
	case cfg.Backend == simulated.Name:
		// Nothing will run on it: say so and go on.
		backends.MarkMissing(onnxruntime.Name, err)
		log.Warn("onnxruntime backend unavailable", "err", err)
	default:
		return nil, fmt.Errorf("onnxruntime backend: %w", err)
	}
	backends.MarkMissing("tensorrt", errors.New("the TensorRT backend is not built yet in this version of trtserve"))
	backends.Register(simulated.New())
	if cfg.Backend == simulated.Name {
		log.Warn("every model runs on the SIMULATED accelerator: outputs are synthetic, timings are a model of a GPU", "base", simulated.DefaultBase, "per_image", simulated.DefaultPerItem)
	}
	return backends, nil
}

// NewRepository is the model repository the config describes.
func NewRepository(cfg *config.Config) *engines.Repository {
	return &engines.Repository{Roots: cfg.Roots(), Defaults: engines.Defaults{
		Backend: onnxruntime.Name, MaxBatchSize: cfg.MaxBatchSize, InstanceCount: cfg.InstanceCount, ForceBackend: cfg.Backend,
	}}
}
