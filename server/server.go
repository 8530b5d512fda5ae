package server

import (
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	gojson "github.com/goccy/go-json"
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/google/uuid"

	"github.com/trtserve/trtserve/config"
	"github.com/trtserve/trtserve/metrics"
	"github.com/trtserve/trtserve/pipeline"
	"github.com/trtserve/trtserve/shm"
)

// Version is trtserve's version, reported by /info.
var Version = "0.1.0-dev"

// Options are the server's limits and switches. A zero or negative limit
// takes its default from package config (config.DefaultMaxBodyBytes, ...);
// the switches are off unless set (app.Run turns LegacyRoutes and
// AutoLoad on, as Roboflow's server has them).
type Options struct {
	// MaxBodyBytes refuses larger request bodies with 413.
	MaxBodyBytes int
	// MaxImagePixels refuses images whose header declares more pixels,
	// before decoding them (decompression bombs).
	MaxImagePixels int64
	// RequestTimeout bounds one request's time in the server (504 after).
	RequestTimeout time.Duration
	// ReadTimeout bounds reading one request, headers and body: a client
	// trickling bytes (slowloris) is cut off after it. WriteTimeout bounds
	// writing the answer to a client that does not read.
	ReadTimeout, WriteTimeout time.Duration
	// MaxConnections caps open connections; beyond, new ones get 503.
	MaxConnections int
	// AllowURLInput lets requests name images by http(s) URL, on the
	// hosts of URLAllowlist only: "host" or "host:port" exactly, or
	// ".example.com" for example.com's subdomains.
	AllowURLInput bool
	URLAllowlist  []string
	// MaxURLBytes and URLTimeout cap a URL download.
	MaxURLBytes int64
	URLTimeout  time.Duration
	// LegacyRoutes enables POST /{dataset}/{version}.
	LegacyRoutes bool
	// Metrics is the /metrics registry (with GPU and pinned pool
	// collectors added by Run); nil makes one for the models alone.
	Metrics *metrics.Registry
	// JPEGDCTScaling lets libjpeg-turbo decode large JPEGs at 1/2, 1/4 or
	// 1/8 scale (still at least the model input size). It is several times
	// faster, but the DCT-domain downscale is a low-pass filter where
	// Roboflow's OpenCV path point-samples a full decode, so pixel values,
	// and with them predictions, differ from Roboflow's. Off by default:
	// drop-in users get Roboflow's answers.
	JPEGDCTScaling bool
	// AutoLoad loads a repository model on first use (Roboflow's
	// behaviour) instead of answering 404 until /model/add.
	AutoLoad bool
	// ModelControl is Triton's model control mode: ControlExplicit lets
	// the APIs (/v2/repository/..., /model/add|remove|clear) load and
	// unload models; ControlNone and ControlPoll refuse them.
	ModelControl string
	// APIKey, when set, is required on every route but the health checks:
	// as "Authorization: Bearer <key>", "X-API-Key: <key>", ?api_key=<key>,
	// or Roboflow's "api_key" field of a JSON body.
	APIKey string
	// AdminAPIKey, when set, is the key model control needs (KServe
	// repository load/unload, /model/remove, /model/clear) in place of
	// APIKey; /model/add and inference take either key. See authorize.
	AdminAPIKey string
	// AccessLog logs one line per request.
	AccessLog bool
	// SharedMemory is the registry of Triton's shared-memory regions
	// (/v2/systemsharedmemory, /v2/cudasharedmemory, and inference tensors
	// in regions); nil turns the extensions off (their routes answer 501).
	SharedMemory *shm.Registry
	// MaxImagesPerRequest refuses a Roboflow request naming more images
	// with 413, before any is loaded or decoded (0: the default,
	// config.DefaultMaxImagesPerRequest). A model's own queue bound
	// (max_queue_size) refuses larger requests with 413 as well.
	MaxImagesPerRequest int
	// InflightBytes bounds the bytes admitted requests hold (their bodies)
	// across the server: 429 when one does not fit now, 413 when it never
	// can. nil: no bound.
	InflightBytes *pipeline.ByteBudget
}

// Model control modes (Triton's --model-control-mode).
const (
	ControlNone     = "none"
	ControlPoll     = "poll"
	ControlExplicit = "explicit"
)

// Server is trtserve's HTTP server.
type Server struct {
	app    *fiber.App
	models *pipeline.Manager
	opts   Options
	log    *slog.Logger
	uuid   string
	ready  func() bool
	// watcher cancels requests whose clients hung up.
	watcher *watcher
	// draining is set once shutdown begins: readiness turns 503 so load
	// balancers stop sending while in-flight requests finish.
	draining atomic.Bool
	apiKey   [32]byte // SHA-256 of Options.APIKey
	adminKey [32]byte // SHA-256 of Options.AdminAPIKey
}

// orDefault replaces a zero or negative limit with its default, one of
// package config's: the one place defaults are kept.
func orDefault[T int | int64 | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// New builds the Fiber app. ready reports whether startup (initial model
// loads) has finished; /readiness answers 503 until it does.
func New(models *pipeline.Manager, opts Options, log *slog.Logger, ready func() bool) *Server {
	orDefault(&opts.MaxBodyBytes, config.DefaultMaxBodyBytes)
	orDefault(&opts.MaxImagePixels, config.DefaultMaxImagePixels)
	orDefault(&opts.RequestTimeout, config.DefaultRequestTimeout)
	orDefault(&opts.ReadTimeout, config.DefaultReadTimeout)
	orDefault(&opts.WriteTimeout, config.DefaultWriteTimeout)
	orDefault(&opts.MaxConnections, config.DefaultMaxConnections)
	orDefault(&opts.MaxURLBytes, config.DefaultMaxURLBytes)
	orDefault(&opts.URLTimeout, config.DefaultURLTimeout)
	if ready == nil {
		ready = func() bool { return true }
	}
	s := &Server{models: models, opts: opts, log: log, uuid: uuid.NewString(), ready: ready, watcher: newWatcher(200 * time.Millisecond)}
	if opts.APIKey != "" {
		s.apiKey = sha256.Sum256([]byte(opts.APIKey))
	}
	if opts.AdminAPIKey != "" {
		s.adminKey = sha256.Sum256([]byte(opts.AdminAPIKey))
	}
	s.app = fiber.New(fiber.Config{
		AppName:               "trtserve",
		BodyLimit:             opts.MaxBodyBytes,
		ErrorHandler:          s.errorHandler,
		JSONEncoder:           gojson.Marshal,
		JSONDecoder:           gojson.Unmarshal,
		DisableStartupMessage: true,
		ReadTimeout:           opts.ReadTimeout,
		WriteTimeout:          opts.WriteTimeout,
		Concurrency:           opts.MaxConnections,
		IdleTimeout:           2 * time.Minute,
	})
	s.routes()
	return s
}

func (s *Server) routes() {
	a := s.app
	a.Use(s.observe, s.compressResponse, s.decompress, s.authorize)
	a.Get("/info", s.info)
	s.healthRoutesOn(a)
	reg := s.opts.Metrics
	if reg == nil {
		reg = metrics.New(s.models)
	}
	a.Get("/metrics", adaptor.HTTPHandler(reg.Handler()))
	a.Get("/model/registry", s.registry)
	a.Post("/model/add", s.addModel)
	a.Post("/model/remove", s.removeModel)
	a.Post("/model/clear", s.clearModels)
	a.Post("/infer/object_detection", s.inferObjectDetection)
	a.Post("/infer/classification", s.inferClassification)
	a.Post("/infer/keypoints_detection", s.inferKeypoints)
	a.Post("/infer/instance_segmentation", s.inferSegmentation)
	a.Post("/infer/semantic_segmentation", s.inferSemantic)
	s.kserveRoutes()
	if s.opts.LegacyRoutes {
		a.Post("/:dataset/:version", s.legacyInfer)
	}
	a.Use(func(c *fiber.Ctx) error {
		return &apiError{Status: fiber.StatusNotFound, Type: "NotFound", Msg: "no route " + c.Method() + " " + c.Path()}
	})
}

// App exposes the Fiber app (tests drive it with app.Test).
func (s *Server) App() *fiber.App { return s.app }

// Serve accepts connections on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error { return s.app.Listener(ln) }

// Shutdown stops accepting and waits for in-flight requests until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.draining.Store(true)
	err := s.app.ShutdownWithContext(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		s.log.Warn("shutdown deadline passed with requests in flight")
	}
	return err
}

func (s *Server) info(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"name": "trtserve (Roboflow Inference compatible)", "version": Version, "uuid": s.uuid})
}

// isReady: startup loads done and not shutting down.
func (s *Server) isReady() bool { return s.ready() && !s.draining.Load() }

// sendJSON writes responses already encoded by the postprocess workers: one
// object, or a JSON list for a request that sent a list of images. Answers
// from the simulated accelerator say so in a header, since their
// predictions are synthetic.
func (s *Server) sendJSON(c *fiber.Ctx, m *pipeline.Model, bodies [][]byte, list bool) error {
	simulatedHeader(c, m)
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	if !list {
		return c.Send(bodies[0])
	}
	n := 2 + len(bodies)
	for _, b := range bodies {
		n += len(b)
	}
	out := make([]byte, 0, n)
	out = append(out, '[')
	for i, b := range bodies {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, b...)
	}
	return c.Send(append(out, ']'))
}

// HeaderBackend marks responses computed by a backend that is not a real
// model (the simulated accelerator).
const HeaderBackend = "Trtserve-Backend"
