package engines

import (
	"context"
	"errors"

	"github.com/trtserve/trtserve/model"
)

// Sentinel errors that callers map to user-facing statuses.
var (
	ErrUnknownBackend = errors.New("unknown backend")
	ErrBackendMissing = errors.New("backend not available")
	ErrBadShape       = errors.New("invalid tensor shape")
	// ErrBackendCannotRun: the backend cannot run this model on this
	// machine (TensorRT cannot parse or build its ONNX, or cannot start
	// CUDA), though another backend could; the manager then loads it on
	// the backend's fallback (see BackendSet.SetFallback).
	ErrBackendCannotRun = errors.New("cannot run this model here")
)

// Backend turns a model's files into an Engine. One Backend serves every
// model that names it; it is safe for concurrent use.
type Backend interface {
	Name() string
	// Load prepares the model's weights. Input spatial dimensions that are
	// dynamic in the file are fixed to spec.InputHeight/InputWidth.
	Load(ctx context.Context, spec *model.Spec) (Engine, error)
	Close() error
}

// Engine is one loaded model. Its shapes are fully resolved except the batch
// dimension, which is -1 when the model accepts any batch size up to
// MaxBatch.
type Engine interface {
	Inputs() []model.TensorInfo
	Outputs() []model.TensorInfo
	// MaxBatch is the largest batch one Run accepts.
	MaxBatch() int
	// FixedBatch reports a model that only runs at exactly MaxBatch; callers
	// pad smaller batches.
	FixedBatch() bool
	// NewInstance makes an independent execution context. Instances run
	// concurrently with each other; one instance runs one batch at a time.
	NewInstance() (Instance, error)
	Close() error
}

// Instance runs batches. in[i] and out[i] hold Inputs()[i] and Outputs()[i]
// for at least batch items, laid out contiguously item after item; the
// caller owns them (see HostBuffer).
type Instance interface {
	Run(ctx context.Context, batch int, in, out []*HostBuffer) error
	Close() error
}

// Submitter is an Instance that overlaps batches, as a GPU instance with
// a stream per stage does: batch b+1's input copy runs while batch b
// computes. Submit queues a batch and returns once it is queued; done runs
// exactly once, on another goroutine, when out holds the results (or the
// batch failed). in and out stay the caller's but must not be touched
// until done. When Submit returns an error, done never runs. At most Depth
// batches are in flight; Submit blocks while Depth are. Close waits for the
// batches in flight.
type Submitter interface {
	Instance
	Submit(batch int, in, out []*HostBuffer, done func(error)) error
	Depth() int
}

// WarmupSizer is an Engine whose first run at each batch size costs more
// than the next ones (TensorRT: kernels chosen per shape, loaded on their
// first launch under CUDA lazy loading). The pipeline warms each instance
// up at every size WarmupBatches lists, in order, instead of once, so no
// live batch pays that cost.
type WarmupSizer interface {
	WarmupBatches() []int
}

// BufferProvider is an Engine whose instances want their host buffers from
// a particular allocator (pinned memory for DMA); the pipeline allocates
// that engine's batch buffers through it.
type BufferProvider interface {
	Allocator() Allocator
}
