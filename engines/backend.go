package engines

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

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
	// the backend's fallback (see Registry.SetFallback).
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

// Registry maps backend names to backends. Backends register when they are
// available on this machine; a model naming a missing one fails to load
// with ErrBackendMissing and the reason recorded at registration.
type Registry struct {
	mu        sync.Mutex // guards backends, missing and fallbacks
	backends  map[string]Backend
	missing   map[string]error
	fallbacks map[string]string
}

// NewRegistry makes an empty registry.
func NewRegistry() *Registry {
	return &Registry{backends: map[string]Backend{}, missing: map[string]error{}, fallbacks: map[string]string{}}
}

// SetFallback makes models that ask for the missing backend from run on
// to instead (tensorrt → onnxruntime on a machine without a GPU).
func (r *Registry) SetFallback(from, to string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fallbacks[from] = to
}

// Fallback is the backend that stands in for a missing one: its name and
// why the asked-for one is missing. ok is false when name is available or
// has no fallback.
func (r *Registry) Fallback(name string) (to string, why error, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, here := r.backends[name]; here {
		return "", nil, false
	}
	to, ok = r.fallbacks[name]
	if _, avail := r.backends[to]; !ok || !avail {
		return "", nil, false
	}
	return to, r.missing[name], true
}

// Alternative is the available backend that stands in for name when name
// cannot run a particular model (ErrBackendCannotRun): the fallback set
// with SetFallback, if it is registered.
func (r *Registry) Alternative(name string) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	to, ok := r.fallbacks[name]
	if !ok {
		return "", false
	}
	_, avail := r.backends[to]
	return to, avail
}

// Register adds an available backend.
func (r *Registry) Register(b Backend) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.backends[b.Name()] = b
	delete(r.missing, b.Name())
}

// MarkMissing records why a backend could not start here.
func (r *Registry) MarkMissing(name string, why error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.missing[name] = why
}

// Get returns the named backend.
func (r *Registry) Get(name string) (Backend, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if b, ok := r.backends[name]; ok {
		return b, nil
	}
	if why, ok := r.missing[name]; ok {
		return nil, fmt.Errorf("%w: %s: %v", ErrBackendMissing, name, why)
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownBackend, name)
}

// Names lists the available backends, sorted.
func (r *Registry) Names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.backends))
	for n := range r.backends {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Close closes every backend.
func (r *Registry) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	for _, b := range r.backends {
		errs = append(errs, b.Close())
	}
	r.backends = map[string]Backend{}
	return errors.Join(errs...)
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
