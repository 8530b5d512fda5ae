package config

import (
	"flag"
	"fmt"
	"io"
	"log/slog"

	"strings"
	"time"

	"github.com/caarlos0/env/v10"
)

// Config is everything `trtserve serve` can be told.
type Config struct {
	Host            string        `env:"TRTSERVE_HOST" envDefault:"0.0.0.0"`
	Port            int           `env:"PORT" envDefault:"9001"`
	ModelRepository string        `env:"TRTSERVE_MODEL_REPOSITORY" envDefault:"./models"`
	ModelCacheDir   string        `env:"MODEL_CACHE_DIR"`
	LoadModels      string        `env:"TRTSERVE_LOAD_MODELS" envDefault:"all"`
	ORTLibrary      string        `env:"TRTSERVE_ONNXRUNTIME_LIB"`
	IntraOpThreads  int           `env:"TRTSERVE_INTRA_OP_THREADS" envDefault:"0"`
	MaxBatchSize    int           `env:"MAX_BATCH_SIZE" envDefault:"8"`
	InstanceCount   int           `env:"TRTSERVE_INSTANCE_COUNT" envDefault:"1"`
	MaxBodyBytes    int           `env:"TRTSERVE_MAX_BODY_BYTES" envDefault:"67108864"`
	MaxImagePixels  int64         `env:"TRTSERVE_MAX_IMAGE_PIXELS" envDefault:"64000000"`
	RequestTimeout  time.Duration `env:"TRTSERVE_REQUEST_TIMEOUT" envDefault:"60s"`
	ShutdownTimeout time.Duration `env:"TRTSERVE_SHUTDOWN_TIMEOUT" envDefault:"30s"`
	ReadTimeout     time.Duration `env:"TRTSERVE_READ_TIMEOUT" envDefault:"30s"`
	WriteTimeout    time.Duration `env:"TRTSERVE_WRITE_TIMEOUT" envDefault:"60s"`
	MaxConnections  int           `env:"TRTSERVE_MAX_CONNECTIONS" envDefault:"8192"`
	AllowURLInput   bool          `env:"TRTSERVE_ALLOW_URL_INPUT" envDefault:"false"`
	URLAllowlist    string        `env:"TRTSERVE_URL_ALLOWLIST"`
	JPEGDCTScaling  bool          `env:"TRTSERVE_JPEG_DCT_SCALING" envDefault:"false"`
	Pipeline        string        `env:"TRTSERVE_PIPELINE" envDefault:"parallel"`
	MaxQueueSize    int           `env:"TRTSERVE_MAX_QUEUE_SIZE" envDefault:"2048"`
	MaxQueueDelay   time.Duration `env:"TRTSERVE_MAX_QUEUE_DELAY" envDefault:"0s"`
	DecodeWorkers   int           `env:"TRTSERVE_DECODE_WORKERS" envDefault:"0"`
	PostWorkers     int           `env:"TRTSERVE_POST_WORKERS" envDefault:"0"`
	MaxActiveModels int           `env:"MAX_ACTIVE_MODELS" envDefault:"0"`
	Backend         string        `env:"TRTSERVE_BACKEND"`
	TensorRT        string        `env:"TRTSERVE_TENSORRT" envDefault:"auto"`
	TRTShimLib      string        `env:"TRTSERVE_TRTSHIM_LIB"`
	// TensorRTLib is the TensorRT library the shim opens: the full
	// libnvinfer, the lean or the dispatch runtime ("" searches).
	TensorRTLib string `env:"TRTSERVE_TENSORRT_LIB"`
	// AllowEngineHostCode lets engine files run the host code a
	// version-compatible plan may embed: only load plans you trust.
	AllowEngineHostCode bool `env:"TRTSERVE_ALLOW_ENGINE_HOST_CODE" envDefault:"true"`
	// ExitOnGPUFault exits (non-zero, after draining) on a sticky CUDA
	// error, so an orchestrator restarts the process: nothing else can
	// make the GPU usable again. The container image turns it on.
	ExitOnGPUFault  bool   `env:"TRTSERVE_EXIT_ON_GPU_FAULT" envDefault:"false"`
	CUDALib         string `env:"TRTSERVE_CUDART_LIB"`
	GPU             int    `env:"TRTSERVE_GPU" envDefault:"0"`
	EngineCacheDir  string `env:"TRTSERVE_ENGINE_CACHE_DIR"`
	PinnedPoolBytes int64  `env:"TRTSERVE_PINNED_MEMORY_POOL_BYTES" envDefault:"0"`
	// CUDAMock runs the GPU path on cudamock.Mock (host memory standing in for
	// device memory): for end-to-end tests of the TensorRT backend over the
	// fake shim. Environment only, and loudly logged.
	CUDAMock bool `env:"TRTSERVE_CUDA_MOCK" envDefault:"false"`
	// CUDAMockDevices is how many GPUs the mock has, and
	// CUDAMockFaultFile a file whose appearance makes the mock lose its
	// device with the sticky CUDA error code the file holds: test knobs of
	// the mock, environment only.
	CUDAMockDevices   int    `env:"TRTSERVE_CUDA_MOCK_DEVICES" envDefault:"1"`
	CUDAMockFaultFile string `env:"TRTSERVE_CUDA_MOCK_FAULT_FILE"`
	// SimKernelLib is the simulated GPU backend's kernel library ("":
	// next to the binary, then build/). Environment only.
	SimKernelLib string `env:"TRTSERVE_SIMKERNEL_LIB"`
	// TF32Override is NVIDIA's NVIDIA_TF32_OVERRIDE as this process saw it
	// at start: TensorRT honours it when building, so it is part of the
	// engine cache key.
	TF32Override string `env:"NVIDIA_TF32_OVERRIDE"`
	// MaxImagesPerRequest: a Roboflow request naming more images gets 413
	// before any image is read (a model's own queue bound also answers
	// 413 for a request larger than it). MaxInflightBytes bounds the bytes
	// admitted requests hold at once (their images and tensors): beyond it
	// 429, 413 for a request larger than the bound; 0 derives it from the
	// memory limit (internal/app: a quarter of it).
	MaxImagesPerRequest int   `env:"TRTSERVE_MAX_IMAGES_PER_REQUEST" envDefault:"2048"`
	MaxInflightBytes    int64 `env:"TRTSERVE_MAX_INFLIGHT_BYTES" envDefault:"0"`
	// GOMEMLIMIT is Go's own variable (the runtime reads it): when the
	// user set it, Run keeps it instead of deriving the limit from the
	// container's cgroup memory limit.
	GOMEMLIMIT string `env:"GOMEMLIMIT"`
	// GOGC is Go's own variable too: when the user set it, Run keeps it
	// instead of DefaultGCPercent.
	GOGC string `env:"GOGC"`

	// GOMAXPROCS is Go's own variable: when the user set it, Run leaves
	// the scheduler as told instead of adding a P for the engines.
	GOMAXPROCS   string        `env:"GOMAXPROCS"`
	ModelControl string        `env:"TRTSERVE_MODEL_CONTROL_MODE" envDefault:"explicit"`
	PollInterval time.Duration `env:"TRTSERVE_REPOSITORY_POLL_INTERVAL" envDefault:"15s"`
	APIKey       string        `env:"TRTSERVE_API_KEY"`
	// SharedMemory turns Triton's system and CUDA shared-memory extensions
	// on (the default, as in Triton). A client that may register a region
	// can read and write any shm object the server's user can open, so a
	// server whose clients are not trusted turns it off.
	SharedMemory bool   `env:"TRTSERVE_SHARED_MEMORY" envDefault:"true"`
	AccessLog    bool   `env:"TRTSERVE_ACCESS_LOG" envDefault:"false"`
	LogLevel     string `env:"TRTSERVE_LOG_LEVEL" envDefault:"info"`
	LogFormat    string `env:"TRTSERVE_LOG_FORMAT" envDefault:"text"`

	// AdminAPIKey, when set, is the key model control needs (KServe
	// repository load/unload, /model/remove, /model/clear, gRPC
	// RepositoryModelLoad/Unload) instead of APIKey; see ControlKey.
	AdminAPIKey string `env:"TRTSERVE_ADMIN_API_KEY"`
	// MaxModelMemory caps what one model may hold (host, pinned and GPU
	// memory, estimated before it loads); 0 is no explicit cap.
	MaxModelMemory int64 `env:"TRTSERVE_MAX_MODEL_MEMORY"`
	// PprofAddr serves Go's net/http/pprof profiles on this address
	// ("": off, the default). For profiling only: bind it to loopback.
	PprofAddr string `env:"TRTSERVE_PPROF_ADDR"`

	// TLSCert and TLSKey (PEM files, both or neither) serve HTTP and gRPC
	// over TLS (1.2 at least); TLSClientCA (PEM, one or more CA
	// certificates) then requires every client to present a certificate
	// signed by one of them (mutual TLS). SIGHUP rereads all three, and
	// so does a look every TLSReloadInterval that finds them changed (0:
	// SIGHUP only).
	TLSCert           string        `env:"TRTSERVE_TLS_CERT"`
	TLSKey            string        `env:"TRTSERVE_TLS_KEY"`
	TLSClientCA       string        `env:"TRTSERVE_TLS_CLIENT_CA"`
	TLSReloadInterval time.Duration `env:"TRTSERVE_TLS_RELOAD_INTERVAL" envDefault:"30s"`

	// GRPCPort serves the KServe v2 / Triton gRPC protocol (0: off).
	// GRPCMaxMessageBytes bounds a received message, after decompression.
	// The keepalive settings are grpc-go's server parameters and ping
	// enforcement policy (Triton's --grpc-keepalive-* flags).
	GRPCPort                        int           `env:"TRTSERVE_GRPC_PORT" envDefault:"8001"`
	GRPCMaxMessageBytes             int           `env:"TRTSERVE_GRPC_MAX_MESSAGE_BYTES" envDefault:"67108864"`
	GRPCKeepaliveTime               time.Duration `env:"TRTSERVE_GRPC_KEEPALIVE_TIME" envDefault:"2h"`
	GRPCKeepaliveTimeout            time.Duration `env:"TRTSERVE_GRPC_KEEPALIVE_TIMEOUT" envDefault:"20s"`
	GRPCKeepaliveMinPingInterval    time.Duration `env:"TRTSERVE_GRPC_KEEPALIVE_MIN_PING_INTERVAL" envDefault:"5m"`
	GRPCKeepalivePermitWithoutCalls bool          `env:"TRTSERVE_GRPC_KEEPALIVE_PERMIT_WITHOUT_CALLS" envDefault:"false"`
	// GRPCWindowBytes, when positive, fixes each gRPC stream's HTTP/2
	// flow-control window (and the connection's, at 4×) instead of
	// grpc-go's dynamic windows sized from measured round trips.
	GRPCWindowBytes int `env:"TRTSERVE_GRPC_WINDOW_BYTES" envDefault:"0"`
	// HealthPort, when set, serves the four health routes again on a port
	// of their own, in plain HTTP and without a key: for probes (the
	// kubelet's) that cannot pass mutual TLS on the main port.
	HealthPort int `env:"TRTSERVE_HEALTH_PORT" envDefault:"0"`
}

// Load parses the environment, then args (flags override environment).
func Load(args []string, stderr io.Writer) (*Config, error) {
	var c Config
	if err := env.Parse(&c); err != nil {
		return nil, fmt.Errorf("environment: %w", err)
	}
	fs := flag.NewFlagSet("trtserve serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.Host, "host", c.Host, "address to listen on (TRTSERVE_HOST)")
	fs.IntVar(&c.Port, "port", c.Port, "port to listen on (PORT)")
	fs.StringVar(&c.ModelRepository, "model-repository", c.ModelRepository, "model repository folder: <name>/<version>/model.onnx (TRTSERVE_MODEL_REPOSITORY)")
	fs.StringVar(&c.ModelCacheDir, "model-cache-dir", c.ModelCacheDir, "Roboflow model cache folder: <dataset>/<version>/weights.onnx (MODEL_CACHE_DIR)")
	fs.StringVar(&c.LoadModels, "load-models", c.LoadModels, `models to load at start: "all", "none" or a comma-separated list of name/version (TRTSERVE_LOAD_MODELS)`)
	fs.StringVar(&c.ORTLibrary, "onnxruntime-lib", c.ORTLibrary, "path to libonnxruntime.so (TRTSERVE_ONNXRUNTIME_LIB; default: ./third_party/onnxruntime/lib)")
	fs.IntVar(&c.IntraOpThreads, "intra-op-threads", c.IntraOpThreads, "ONNX Runtime threads per inference, 0 = one per core (TRTSERVE_INTRA_OP_THREADS)")
	fs.IntVar(&c.MaxBatchSize, "max-batch-size", c.MaxBatchSize, "largest batch for dynamic-batch models (MAX_BATCH_SIZE)")
	fs.IntVar(&c.InstanceCount, "instance-count", c.InstanceCount, "engine instances per model (TRTSERVE_INSTANCE_COUNT)")
	fs.IntVar(&c.MaxBodyBytes, "max-body-bytes", c.MaxBodyBytes, "largest request body; larger ones get 413 (TRTSERVE_MAX_BODY_BYTES)")
	fs.Int64Var(&c.MaxImagePixels, "max-image-pixels", c.MaxImagePixels, "largest image (width*height) decoded; larger ones get 413 (TRTSERVE_MAX_IMAGE_PIXELS)")
	fs.DurationVar(&c.RequestTimeout, "request-timeout", c.RequestTimeout, "time one request may take; 504 after (TRTSERVE_REQUEST_TIMEOUT)")
	fs.DurationVar(&c.ReadTimeout, "read-timeout", c.ReadTimeout, "time a client gets to send a whole request, body included; slower ones are cut off (TRTSERVE_READ_TIMEOUT)")
	fs.DurationVar(&c.WriteTimeout, "write-timeout", c.WriteTimeout, "time a client gets to read an answer (TRTSERVE_WRITE_TIMEOUT)")
	fs.IntVar(&c.MaxConnections, "max-connections", c.MaxConnections, "open connections at most; more get 503 (TRTSERVE_MAX_CONNECTIONS)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "time in-flight requests get to finish on SIGTERM (TRTSERVE_SHUTDOWN_TIMEOUT)")
	fs.BoolVar(&c.AllowURLInput, "allow-url-input", c.AllowURLInput, "let requests name images by URL, on the hosts of --url-allowlist only (TRTSERVE_ALLOW_URL_INPUT)")
	fs.StringVar(&c.URLAllowlist, "url-allowlist", c.URLAllowlist, `hosts image URLs may name, comma-separated: "host", "host:port", ".example.com" for its subdomains (TRTSERVE_URL_ALLOWLIST)`)
	fs.BoolVar(&c.JPEGDCTScaling, "jpeg-dct-scaling", c.JPEGDCTScaling, "decode large JPEGs at 1/2..1/8 scale: faster, but predictions differ slightly from Roboflow's (TRTSERVE_JPEG_DCT_SCALING)")
	fs.StringVar(&c.Pipeline, "pipeline", c.Pipeline, "parallel (decode pool, dynamic batcher, postprocess pool) or serial (the baseline) (TRTSERVE_PIPELINE)")
	fs.IntVar(&c.MaxQueueSize, "max-queue-size", c.MaxQueueSize, "images a model admits before answering 429; config.yaml dynamic_batching.max_queue_size overrides (TRTSERVE_MAX_QUEUE_SIZE)")
	fs.IntVar(&c.MaxImagesPerRequest, "max-images-per-request", c.MaxImagesPerRequest, "images one Roboflow request may name; more get 413 before any is read (TRTSERVE_MAX_IMAGES_PER_REQUEST)")
	fs.Int64Var(&c.MaxInflightBytes, "max-inflight-bytes", c.MaxInflightBytes, "bytes the requests being served may hold at once (their images and tensors); beyond, 429, and 413 for a request larger than this; 0 = a quarter of the memory limit (GOMEMLIMIT, else 90% of the cgroup's, else of the machine's memory) (TRTSERVE_MAX_INFLIGHT_BYTES)")
	fs.DurationVar(&c.MaxQueueDelay, "max-queue-delay", c.MaxQueueDelay, "how long a partial batch waits for more images; config.yaml max_queue_delay_microseconds overrides (TRTSERVE_MAX_QUEUE_DELAY)")
	fs.IntVar(&c.DecodeWorkers, "decode-workers", c.DecodeWorkers, "image decode/preprocess workers, 0 = one per CPU (TRTSERVE_DECODE_WORKERS)")
	fs.IntVar(&c.PostWorkers, "post-workers", c.PostWorkers, "postprocess workers, 0 = one per CPU (TRTSERVE_POST_WORKERS)")
	fs.IntVar(&c.MaxActiveModels, "max-active-models", c.MaxActiveModels, "models loaded at once, least recently used unloaded beyond; 0 = no cap (MAX_ACTIVE_MODELS)")
	fs.StringVar(&c.Backend, "backend", c.Backend, `run every model on this backend ("onnxruntime", "tensorrt", "simulated", or "simulated-gpu": synthetic outputs through real copies and a real kernel on the GPU, a benchmark backend), whatever config.yaml says (TRTSERVE_BACKEND)`)
	fs.StringVar(&c.TensorRT, "tensorrt", c.TensorRT, "auto: run ONNX models as TensorRT engines when the shim, libcudart and a GPU are here (else ONNX Runtime); off: never (TRTSERVE_TENSORRT)")
	fs.StringVar(&c.TRTShimLib, "trtshim-lib", c.TRTShimLib, "path to libtrtshim.so (TRTSERVE_TRTSHIM_LIB; default: next to the binary, then build/csrc, then the loader's path)")
	fs.StringVar(&c.CUDALib, "cudart-lib", c.CUDALib, "path to libcudart.so (TRTSERVE_CUDART_LIB; default: the loader's path)")
	fs.StringVar(&c.TensorRTLib, "tensorrt-lib", c.TensorRTLib, "TensorRT library the shim loads: libnvinfer.so (build and serve), or the lean or dispatch runtime (serve version-compatible engines only) (TRTSERVE_TENSORRT_LIB; default: the usual places)")
	fs.BoolVar(&c.AllowEngineHostCode, "allow-engine-host-code", c.AllowEngineHostCode, "let TensorRT engine files run the host code they embed (version-compatible plans): load only plans you trust, or set false (TRTSERVE_ALLOW_ENGINE_HOST_CODE)")
	fs.IntVar(&c.GPU, "gpu", c.GPU, "CUDA device index to run on; no other GPU is touched (TRTSERVE_GPU)")
	fs.BoolVar(&c.ExitOnGPUFault, "exit-on-gpu-fault", c.ExitOnGPUFault, "after a sticky CUDA error (illegal address, launch failure, ...) drain in-flight requests and exit non-zero so an orchestrator restarts the process; without it the server stays up, not ready (TRTSERVE_EXIT_ON_GPU_FAULT)")
	fs.StringVar(&c.EngineCacheDir, "engine-cache-dir", c.EngineCacheDir, "where built TensorRT engines and timing caches are kept (TRTSERVE_ENGINE_CACHE_DIR; default: $XDG_CACHE_HOME/trtserve/engines)")
	fs.Int64Var(&c.PinnedPoolBytes, "pinned-memory-pool-bytes", c.PinnedPoolBytes, "cap on pinned host memory for batch buffers; 0 = what the loaded models need (TRTSERVE_PINNED_MEMORY_POOL_BYTES)")
	fs.StringVar(&c.ModelControl, "model-control-mode", c.ModelControl, "explicit: load/unload by API (and Roboflow routes load on first use); none: load at start only; poll: load the whole repository and follow its changes (TRTSERVE_MODEL_CONTROL_MODE)")
	fs.DurationVar(&c.PollInterval, "repository-poll-interval", c.PollInterval, "how often poll mode rescans the repository (TRTSERVE_REPOSITORY_POLL_INTERVAL)")
	fs.BoolVar(&c.SharedMemory, "shared-memory", c.SharedMemory, "serve Triton's system and CUDA shared-memory extensions (register regions, tensors in shared memory) over HTTP and gRPC; false answers them 501 / UNIMPLEMENTED (TRTSERVE_SHARED_MEMORY)")
	fs.StringVar(&c.APIKey, "api-key", c.APIKey, "require this key on every route but health checks (TRTSERVE_API_KEY; prefer the variable: flags show in ps)")
	fs.StringVar(&c.AdminAPIKey, "admin-api-key", c.AdminAPIKey, "require this key, not --api-key, for model control: KServe repository load/unload, /model/remove, /model/clear (/model/add takes either) (TRTSERVE_ADMIN_API_KEY; prefer the variable: flags show in ps)")
	fs.Int64Var(&c.MaxModelMemory, "max-model-memory", c.MaxModelMemory, "bytes one model may hold (batch buffers, weights, GPU memory; estimated before it loads, refused beyond); 0 = no cap but the memory free (TRTSERVE_MAX_MODEL_MEMORY)")
	fs.StringVar(&c.TLSCert, "tls-cert", c.TLSCert, "serve HTTP and gRPC over TLS with this PEM certificate (chain); needs --tls-key; SIGHUP, or a change seen by --tls-reload-interval, rereads it (TRTSERVE_TLS_CERT)")
	fs.StringVar(&c.TLSKey, "tls-key", c.TLSKey, "PEM private key of --tls-cert (TRTSERVE_TLS_KEY)")
	fs.StringVar(&c.TLSClientCA, "tls-client-ca", c.TLSClientCA, "PEM CA certificate(s): require every client to present a certificate they signed (mutual TLS); needs --tls-cert (TRTSERVE_TLS_CLIENT_CA)")
	fs.DurationVar(&c.TLSReloadInterval, "tls-reload-interval", c.TLSReloadInterval, "reread the TLS files this often and reload them when they changed (a rotated Kubernetes Secret); 0 = on SIGHUP only (TRTSERVE_TLS_RELOAD_INTERVAL)")
	fs.IntVar(&c.GRPCPort, "grpc-port", c.GRPCPort, "port of the KServe v2 / Triton gRPC server, 0 = off (TRTSERVE_GRPC_PORT)")
	fs.IntVar(&c.HealthPort, "health-port", c.HealthPort, "also serve /healthz, /readiness and /v2/health/{live,ready} on this port, plain HTTP, no key (probes under mutual TLS); 0 = off (TRTSERVE_HEALTH_PORT)")
	fs.IntVar(&c.GRPCMaxMessageBytes, "grpc-max-message-bytes", c.GRPCMaxMessageBytes, "largest gRPC message received, after decompression; larger ones fail RESOURCE_EXHAUSTED (TRTSERVE_GRPC_MAX_MESSAGE_BYTES)")
	fs.DurationVar(&c.GRPCKeepaliveTime, "grpc-keepalive-time", c.GRPCKeepaliveTime, "ping a gRPC client after this long without activity (TRTSERVE_GRPC_KEEPALIVE_TIME)")
	fs.DurationVar(&c.GRPCKeepaliveTimeout, "grpc-keepalive-timeout", c.GRPCKeepaliveTimeout, "close a gRPC connection whose ping is not answered within this (TRTSERVE_GRPC_KEEPALIVE_TIMEOUT)")
	fs.DurationVar(&c.GRPCKeepaliveMinPingInterval, "grpc-keepalive-min-ping-interval", c.GRPCKeepaliveMinPingInterval, "close gRPC connections whose client pings more often than this (TRTSERVE_GRPC_KEEPALIVE_MIN_PING_INTERVAL)")
	fs.IntVar(&c.GRPCWindowBytes, "grpc-window-bytes", c.GRPCWindowBytes, "fixed HTTP/2 flow-control window per gRPC stream (the connection's is 4x), at least 64 KiB; 0 = grpc-go's dynamic windows (TRTSERVE_GRPC_WINDOW_BYTES)")
	fs.BoolVar(&c.GRPCKeepalivePermitWithoutCalls, "grpc-keepalive-permit-without-calls", c.GRPCKeepalivePermitWithoutCalls, "allow gRPC client pings on connections with no call in progress (TRTSERVE_GRPC_KEEPALIVE_PERMIT_WITHOUT_CALLS)")
	fs.BoolVar(&c.AccessLog, "access-log", c.AccessLog, "log one line per request (TRTSERVE_ACCESS_LOG)")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error (TRTSERVE_LOG_LEVEL)")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "text or json (TRTSERVE_LOG_FORMAT)")
	fs.StringVar(&c.PprofAddr, "pprof-addr", c.PprofAddr, "serve Go's pprof profiles (/debug/pprof/) on this address, e.g. 127.0.0.1:6060; off when empty, the default; no API key: keep it on loopback (TRTSERVE_PPROF_ADDR)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	return &c, c.Validate()
}

// Validate checks ranges and enumerations.
func (c *Config) Validate() error {
	switch {
	case c.Port < 0 || c.Port > 65535:
		return fmt.Errorf("port %d out of range", c.Port)
	case c.MaxBatchSize < 1:
		return fmt.Errorf("max-batch-size must be at least 1")
	case c.InstanceCount < 1:
		return fmt.Errorf("instance-count must be at least 1")
	case c.MaxBodyBytes < 1 || c.MaxImagePixels < 1:
		return fmt.Errorf("max-body-bytes and max-image-pixels must be positive")
	case c.IntraOpThreads < 0:
		return fmt.Errorf("intra-op-threads must not be negative")
	case c.Pipeline != "parallel" && c.Pipeline != "serial":
		return fmt.Errorf("pipeline must be parallel or serial, got %q", c.Pipeline)
	case c.MaxQueueSize < 1:
		return fmt.Errorf("max-queue-size must be at least 1")
	case c.MaxImagesPerRequest < 1:
		return fmt.Errorf("max-images-per-request must be at least 1")
	case c.MaxInflightBytes < 0:
		return fmt.Errorf("max-inflight-bytes must not be negative (0 derives it from the memory limit)")
	case c.MaxQueueDelay < 0 || c.DecodeWorkers < 0 || c.PostWorkers < 0 || c.MaxActiveModels < 0:
		return fmt.Errorf("max-queue-delay, decode-workers, post-workers and max-active-models must not be negative")
	case c.Backend != "" && c.Backend != "onnxruntime" && c.Backend != "simulated" && c.Backend != "simulated-gpu" && c.Backend != "tensorrt":
		return fmt.Errorf("backend must be onnxruntime, tensorrt, simulated or simulated-gpu, got %q", c.Backend)
	case c.TensorRT != "auto" && c.TensorRT != "off":
		return fmt.Errorf("tensorrt must be auto or off, got %q", c.TensorRT)
	case c.GPU < 0 || c.PinnedPoolBytes < 0:
		return fmt.Errorf("gpu and pinned-memory-pool-bytes must not be negative")
	case c.ModelControl != "explicit" && c.ModelControl != "none" && c.ModelControl != "poll":
		return fmt.Errorf("model-control-mode must be explicit, none or poll, got %q", c.ModelControl)
	case c.AllowURLInput && strings.TrimSpace(c.URLAllowlist) == "":
		return fmt.Errorf("allow-url-input needs url-allowlist: the hosts images may be fetched from")
	case c.ReadTimeout <= 0 || c.WriteTimeout <= 0 || c.MaxConnections < 1:
		return fmt.Errorf("read-timeout, write-timeout and max-connections must be positive")
	case c.PollInterval <= 0:
		return fmt.Errorf("repository-poll-interval must be positive")
	case c.CUDAMockDevices < 0:
		return fmt.Errorf("TRTSERVE_CUDA_MOCK_DEVICES must not be negative")
	case c.MaxBatchSize > MaxModelBatchSize || c.InstanceCount > MaxModelInstances || c.MaxQueueSize > MaxModelQueueSize || c.MaxQueueDelay > MaxModelQueueDelay:
		return fmt.Errorf("max-batch-size %d, instance-count %d, max-queue-size %d, max-queue-delay %v: the limits are %d, %d, %d and %v",
			c.MaxBatchSize, c.InstanceCount, c.MaxQueueSize, c.MaxQueueDelay, MaxModelBatchSize, MaxModelInstances, MaxModelQueueSize, MaxModelQueueDelay)
	case c.MaxModelMemory < 0:
		return fmt.Errorf("max-model-memory must not be negative")
	case (c.TLSCert == "") != (c.TLSKey == ""):
		return fmt.Errorf("--tls-cert (TRTSERVE_TLS_CERT) and --tls-key (TRTSERVE_TLS_KEY) go together: got tls-cert %q and tls-key %q", c.TLSCert, c.TLSKey)
	case c.GRPCPort < 0 || c.GRPCPort > 65535:
		return fmt.Errorf("grpc-port %d out of range", c.GRPCPort)
	case c.GRPCPort != 0 && c.GRPCPort == c.Port:
		return fmt.Errorf("grpc-port and port are both %d: the gRPC and HTTP servers need ports of their own", c.Port)
	case c.HealthPort < 0 || c.HealthPort > 65535:
		return fmt.Errorf("health-port %d out of range", c.HealthPort)
	case c.HealthPort != 0 && (c.HealthPort == c.Port || c.HealthPort == c.GRPCPort):
		return fmt.Errorf("health-port %d is also the HTTP or gRPC port: it needs one of its own", c.HealthPort)
	case c.GRPCMaxMessageBytes < 1:
		return fmt.Errorf("grpc-max-message-bytes must be positive")
	case c.GRPCWindowBytes != 0 && (c.GRPCWindowBytes < 64<<10 || c.GRPCWindowBytes > 256<<20):
		return fmt.Errorf("grpc-window-bytes %d: 0 (dynamic), or between 65536 and 268435456", c.GRPCWindowBytes)
	case c.GRPCKeepaliveTime <= 0 || c.GRPCKeepaliveTimeout <= 0 || c.GRPCKeepaliveMinPingInterval <= 0:
		return fmt.Errorf("grpc-keepalive-time, grpc-keepalive-timeout and grpc-keepalive-min-ping-interval must be positive")
	case c.TLSReloadInterval < 0:
		return fmt.Errorf("tls-reload-interval must not be negative (0: reload on SIGHUP only)")
	case c.TLSClientCA != "" && c.TLSCert == "":
		return fmt.Errorf("--tls-client-ca (TRTSERVE_TLS_CLIENT_CA) needs --tls-cert and --tls-key: mutual TLS is TLS first")
	}
	if _, err := c.Logger(io.Discard); err != nil {
		return err
	}
	return nil
}

// LevelCritical is above error: what a log line says when the process can
// no longer do its job (a lost GPU). slog has no such level; the logger
// Logger builds names it CRITICAL.
const LevelCritical = slog.LevelError + 4

// Logger builds the slog logger the config asks for.
func (c *Config) Logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return nil, fmt.Errorf("log-level %q: want debug, info, warn or error", c.LogLevel)
	}
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if a.Key == slog.LevelKey && len(groups) == 0 {
			if l, ok := a.Value.Any().(slog.Level); ok && l == LevelCritical {
				a.Value = slog.StringValue("CRITICAL")
			}
		}
		return a
	}}
	switch c.LogFormat {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log-format %q: want text or json", c.LogFormat)
}

// Roots are the model folders to scan: the repository, then the Roboflow
// cache when set.
func (c *Config) Roots() []string {
	roots := []string{c.ModelRepository}
	if c.ModelCacheDir != "" {
		roots = append(roots, c.ModelCacheDir)
	}
	return roots
}
