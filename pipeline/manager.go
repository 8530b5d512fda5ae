package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/trtserve/trtserve/engines"
)

// ManagerOptions configure every model a Manager loads.
type ManagerOptions struct {
	// Mode, MaxQueueSize and MaxQueueDelay are defaults; a model's
	// config.yaml dynamic_batching overrides the queue settings.
	Mode          Mode
	MaxQueueSize  int
	MaxQueueDelay time.Duration
	RingDepth     int
	// DecodeWorkers and PostWorkers size the shared pools (default
	// GOMAXPROCS each).
	DecodeWorkers, PostWorkers int
	// MaxLoaded caps the loaded models; loading one more unloads the least
	// recently used (Roboflow's MAX_ACTIVE_MODELS). 0 means no cap.
	MaxLoaded int
	Log       *slog.Logger
}

// Manager loads, serves and unloads models found in a repository.
type Manager struct {
	Repo     *engines.Repository
	Backends *engines.Registry
	Alloc    engines.Allocator
	opts     ManagerOptions
	pools    *pools

	mu      sync.Mutex // guards loaded and loading
	loaded  map[string]*Model
	loading map[string]*loadCall
}

type loadCall struct {
	done  chan struct{}
	model *Model
	err   error
}

// NewManager makes a manager with nothing loaded. Close stops its workers.
func NewManager(repo *engines.Repository, backends *engines.Registry, alloc engines.Allocator, opts ManagerOptions) *Manager {
	if alloc == nil {
		alloc = engines.MmapAllocator{}
	}
	if opts.DecodeWorkers <= 0 {
		opts.DecodeWorkers = runtime.GOMAXPROCS(0)
	}
	if opts.PostWorkers <= 0 {
		opts.PostWorkers = runtime.GOMAXPROCS(0)
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &Manager{
		Repo: repo, Backends: backends, Alloc: alloc, opts: opts,
		pools:  &pools{decode: newPool(opts.DecodeWorkers), post: newPool(opts.PostWorkers)},
		loaded: map[string]*Model{}, loading: map[string]*loadCall{},
	}
}

// Mode is the pipeline models get by default.
func (mg *Manager) Mode() Mode { return mg.opts.withModel(nil).Mode }

func (o ManagerOptions) withModel(spec *engines.Model) Options {
	opts := Options{Mode: o.Mode, MaxQueueSize: o.MaxQueueSize, MaxQueueDelay: o.MaxQueueDelay, RingDepth: o.RingDepth}
	if spec != nil {
		b := spec.Batching
		if b.MaxQueueSize > 0 {
			opts.MaxQueueSize = b.MaxQueueSize
		}
		if b.MaxQueueDelayMicroseconds > 0 {
			opts.MaxQueueDelay = time.Duration(b.MaxQueueDelayMicroseconds) * time.Microsecond
		}
		opts.PreferredBatchSizes = b.PreferredBatchSize
	}
	return opts.withDefaults()
}

// Get returns a loaded model by "name/version".
func (mg *Manager) Get(id string) (*Model, bool) {
	mg.mu.Lock()
	defer mg.mu.Unlock()
	m, ok := mg.loaded[id]
	return m, ok
}

// Load loads a model from the repository, or returns it when already
// loaded. Concurrent loads of one model share a single load; loads of
// different models run in parallel and never block serving.
func (mg *Manager) Load(ctx context.Context, id string) (*Model, error) {
	entry, err := mg.Repo.Find(id)
	if err != nil {
		return nil, err
	}
	id = entry.ID()
	mg.mu.Lock()
	if m, ok := mg.loaded[id]; ok {
		mg.mu.Unlock()
		return m, nil
	}
	if c, ok := mg.loading[id]; ok {
		mg.mu.Unlock()
		select {
		case <-c.done:
			return c.model, c.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	c := &loadCall{done: make(chan struct{})}
	mg.loading[id] = c
	mg.mu.Unlock()

	c.model, c.err = mg.load(ctx, entry)
	var evict *Model
	mg.mu.Lock()
	delete(mg.loading, id)
	if c.err == nil {
		mg.loaded[id] = c.model
		evict = mg.leastRecentlyUsed(id)
	}
	mg.mu.Unlock()
	close(c.done)
	if evict != nil {
		mg.opts.Log.Info("unloading least recently used model", "model", evict.Spec.ID(), "max_loaded", mg.opts.MaxLoaded)
		go evict.Close() // waits for its requests; the new model serves meanwhile
	}
	return c.model, c.err
}

// leastRecentlyUsed removes and returns the model to evict when over the
// cap, never the one just loaded. mg.mu is held.
func (mg *Manager) leastRecentlyUsed(keep string) *Model {
	if mg.opts.MaxLoaded <= 0 || len(mg.loaded) <= mg.opts.MaxLoaded {
		return nil
	}
	var lru *Model
	for id, m := range mg.loaded {
		if id != keep && (lru == nil || m.lastUsed.Load() < lru.lastUsed.Load()) {
			lru = m
		}
	}
	if lru != nil {
		delete(mg.loaded, lru.Spec.ID())
	}
	return lru
}

func (mg *Manager) load(ctx context.Context, e engines.Entry) (*Model, error) {
	spec, err := mg.Repo.Resolve(e)
	if err != nil {
		return nil, err
	}
	backend, err := mg.Backends.Get(spec.Backend)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", spec.ID(), err)
	}
	eng, err := backend.Load(ctx, spec)
	if err != nil {
		return nil, err
	}
	m, err := newModel(spec, eng, mg.Alloc, mg.opts.withModel(spec), mg.pools)
	if err != nil {
		eng.Close()
		return nil, fmt.Errorf("%s: %w", spec.ID(), err)
	}
	for _, w := range spec.Warnings {
		mg.opts.Log.Warn(w, "model", spec.ID())
	}
	return m, nil
}

// Unload removes a model; requests already running on it finish first.
func (mg *Manager) Unload(id string) error {
	mg.mu.Lock()
	m, ok := mg.loaded[id]
	delete(mg.loaded, id)
	mg.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotLoaded, id)
	}
	return m.Close()
}

// UnloadAll unloads every model.
func (mg *Manager) UnloadAll() error {
	mg.mu.Lock()
	models := mg.loaded
	mg.loaded = map[string]*Model{}
	mg.mu.Unlock()
	var errs []error
	for _, m := range models {
		errs = append(errs, m.Close())
	}
	return errors.Join(errs...)
}

// Close unloads every model and stops the worker pools.
func (mg *Manager) Close() error {
	err := mg.UnloadAll()
	mg.pools.decode.close()
	mg.pools.post.close()
	return err
}

// Loaded lists the loaded models, sorted by ID.
func (mg *Manager) Loaded() []*Model {
	mg.mu.Lock()
	defer mg.mu.Unlock()
	out := make([]*Model, 0, len(mg.loaded))
	for _, m := range mg.loaded {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Spec.ID() < out[j].Spec.ID() })
	return out
}
