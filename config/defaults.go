package config

import "time"

// Every default trtserve has lives here, so that a reader looking for "what
// happens when I set nothing" finds one file. The envDefault tags of Config
// must spell the same values (TestEnvDefaultsMatchConstants checks), and the
// packages that fill zero fields (server, pipeline) take their fallbacks
// from these constants rather than keeping their own.

// Listening and the model repository.
const (
	DefaultHost            = "0.0.0.0"
	DefaultPort            = 9001
	DefaultModelRepository = "./models"
	DefaultLoadModels      = "all"
)

// Batching and engine instances.
const (
	DefaultMaxBatchSize  = 8
	DefaultInstanceCount = 1
)

// HTTP limits. A zero field of server.Options falls back to these.
const (
	DefaultMaxBodyBytes    = 64 << 20
	DefaultMaxImagePixels  = int64(64_000_000)
	DefaultRequestTimeout  = 60 * time.Second
	DefaultShutdownTimeout = 30 * time.Second
	DefaultReadTimeout     = 30 * time.Second
	DefaultWriteTimeout    = 60 * time.Second
	DefaultMaxConnections  = 8192
	// URL inputs have no setting of their own: a download is capped by size
	// and time so a slow or huge remote image cannot hold a request.
	DefaultMaxURLBytes = int64(32 << 20)
	DefaultURLTimeout  = 10 * time.Second
)

// The pipeline. A zero field of pipeline's options falls back to these.
const (
	// DefaultPipeline is the parallel pipeline (decode pool, dynamic
	// batcher, postprocess pool); "serial" is the baseline.
	DefaultPipeline = "parallel"
	// DefaultMaxQueueSize is how many images a model admits before 429.
	DefaultMaxQueueSize = 2048
	// DefaultMaxImagesPerRequest is the most images one Roboflow request
	// may name (413 beyond, before any is read): the default queue's
	// capacity, the most a model could ever admit.
	DefaultMaxImagesPerRequest = DefaultMaxQueueSize
	// DefaultInflightBytesFraction: --max-inflight-bytes 0 bounds the bytes
	// requests hold at once to this fraction of the memory limit, leaving
	// the rest to the garbage collector's headroom, decoded pixels, batch
	// buffers and the backends.
	DefaultInflightBytesFraction = 0.25
	// DefaultMemoryLimitFraction: without GOMEMLIMIT, a container's cgroup
	// memory limit sets Go's soft memory limit to this fraction of it, so
	// the collector works harder before the kernel's OOM killer acts.
	DefaultMemoryLimitFraction = 0.9
	// DefaultGCPercent (GOGC, unless set): the collector's headroom over
	// the live heap. Go's 100 lets the heap reach twice what is live; a
	// server's live heap under load is mostly waiting images, pointer-free
	// bytes the collector marks for almost nothing, so half the headroom
	// costs no measurable CPU and takes a fifth off the peak RSS
	// (docs/benchmarks.md, "Memory": 809 vs 985 MiB at 1000 clients, CPU
	// per image 0.99-1.01x).
	DefaultGCPercent = 50
	// DefaultRingDepth is the batch buffer sets per instance: one forming,
	// one running, one in postprocess.
	DefaultRingDepth = 3
	// DefaultRetireGrace is how long a model replaced by a reload keeps
	// serving requests already admitted to it.
	DefaultRetireGrace = 5 * time.Second
)

// Bounds on a model's settings, from config.yaml, a load request's config
// override, the flags above or the model's own files alike: a value beyond
// one fails the load at once with 400, before anything is allocated
// (repository/bounds.go has the table; docs/operations.md "Limits").
const (
	MaxModelBatchSize  = 1024             // max_batch_size, --max-batch-size
	MaxModelInstances  = 64               // instance_count, --instance-count
	MaxModelInputSide  = 8192             // input_width, input_height (pixels)
	MaxModelChannels   = 64               // the input tensor's channel dimension
	MaxModelQueueSize  = 1 << 16          // dynamic_batching.max_queue_size, --max-queue-size
	MaxModelQueueDelay = 10 * time.Second // dynamic_batching.max_queue_delay_microseconds, --max-queue-delay
	MaxModelClasses    = 100_000          // class_names
	MaxRingDepth       = 16               // batch buffer sets per instance
)

// DefaultMaxModelMemory is --max-model-memory's default: 0, no explicit
// cap. A load is still refused when its estimate exceeds what the machine
// (or the container's memory limit, or the GPU) has free.
const DefaultMaxModelMemory = int64(0)

// Backends, the GPU and model control.
const (
	DefaultTensorRT            = "auto"
	DefaultAllowEngineHostCode = true
	// DefaultSharedMemory: Triton's shared-memory extensions are on, as in
	// Triton; --shared-memory=false turns them off for untrusted clients.
	DefaultSharedMemory    = true
	DefaultGPU             = 0
	DefaultCUDAMockDevices = 1
	DefaultModelControl    = "explicit"
	DefaultPollInterval    = 15 * time.Second
)

// Shared memory (Triton's system and CUDA shared-memory extensions).
const (
	// DefaultMaxSharedMemoryRegions bounds the regions registered at once,
	// both kinds together, so a client cannot exhaust the server's
	// mappings (package shm).
	DefaultMaxSharedMemoryRegions = 256
)

// The gRPC server (KServe v2 / Triton's GRPCInferenceService).
const (
	// DefaultGRPCPort is Triton's.
	DefaultGRPCPort = 8001
	// DefaultGRPCMaxMessageBytes bounds a received message (after
	// decompression) as --max-body-bytes bounds an HTTP body.
	DefaultGRPCMaxMessageBytes = 64 << 20
	// Keepalive: grpc-go's and Triton's defaults (ping an idle client
	// after 2 h, give it 20 s to answer; refuse client pings more often
	// than every 5 min, and on connections with no call).
	DefaultGRPCKeepaliveTime               = 2 * time.Hour
	DefaultGRPCKeepaliveTimeout            = 20 * time.Second
	DefaultGRPCKeepaliveMinPingInterval    = 5 * time.Minute
	DefaultGRPCKeepalivePermitWithoutCalls = false
	// DefaultGRPCStreamInflight bounds the requests of one ModelStreamInfer
	// stream being served at once; the server reads the stream's next
	// request only when one finishes, so HTTP/2 flow control holds a
	// faster client back.
	DefaultGRPCStreamInflight = 64
	// DefaultTLSReloadInterval: how often the TLS files are reread for a
	// change. The kubelet takes up to a minute or so to update a Secret
	// volume, so a rotation is served within about that much more; each
	// look reads three small files.
	DefaultTLSReloadInterval = 30 * time.Second
)

// Logging.
const (
	DefaultLogLevel  = "info"
	DefaultLogFormat = "text"
)

// `trtserve build`.
const (
	DefaultBuildPrecision      = "fp32"
	DefaultBuildMinBatch       = 1
	DefaultBuildMaxBatch       = 8
	DefaultBuildOptLevel       = -1 // TensorRT's own (3)
	DefaultBuildHardwareCompat = "none"
	DefaultBuildTF32           = true // TensorRT's default: fp32 layers may run as TF32
)

// `trtserve bench`.
const (
	DefaultBenchURL         = "http://127.0.0.1:9001"
	DefaultBenchModel       = "yolov5s-coco/1"
	DefaultBenchTask        = "object_detection"
	DefaultBenchImages      = "testdata/images"
	DefaultBenchConcurrency = "1,8,64,256,1000"
	DefaultBenchWarmup      = 3 * time.Second
	DefaultBenchDuration    = 10 * time.Second
	DefaultBenchTimeout     = 120 * time.Second
)
