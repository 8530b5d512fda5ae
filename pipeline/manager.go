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

	"github.com/trtserve/trtserve/config"
	"github.com/trtserve/trtserve/engines"
	"github.com/trtserve/trtserve/model"
	"github.com/trtserve/trtserve/repository"
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
	// RetireGrace is how long a model replaced by Reload keeps accepting
	// requests: those that looked it up just before the swap are served
	// by it instead of failing. Default config.DefaultRetireGrace.
	RetireGrace time.Duration
	// Validate, when set, checks a model's outputs once its backend has
	// loaded it (tasks.Validate: do they fit its task?); an error fails
	// the load with that reason instead of serving a model every request
	// of which would fail.
	Validate func(spec *model.Spec, outputs []model.TensorInfo) error
	// MaxModelMemory caps what one model may hold (host, pinned and GPU
	// memory together, as estimated before it loads: see estimate.go); 0
	// is no explicit cap. Whatever the cap, a load whose estimate exceeds
	// the memory free (host or container, pinned pool, GPU) is refused
	// with ErrInsufficientMemory before it allocates.
	MaxModelMemory int64
	// HostAvailable says how much host memory is free and where that
	// figure comes from (negative: unknown); nil reads the container's
	// cgroup and /proc/meminfo (HostAvailable). Tests replace it.
	HostAvailable func() (int64, string)
	Log           *slog.Logger
}

// Manager loads, serves and unloads models found in a repository.
type Manager struct {
	Repo     *repository.Repository
	Backends *engines.BackendSet
	Alloc    engines.Allocator
	opts     ManagerOptions
	pools    *pools

	mu      sync.Mutex // guards loaded, loading, reasons and prints
	loaded  map[string]*Model
	loading map[string]*loadCall
	// reasons says why a repository version is not loaded: its last load
	// error, or how it was unloaded.
	reasons map[string]string
	// prints are the repository.Entry fingerprints of the files each version
	// was last loaded (or failed to load) from, for Sync.
	prints map[string]string
	// retiring are replaced models waiting out RetireGrace.
	retiring map[*Model]*time.Timer
	// faults are the backends whose device is lost, with why (FailBackend);
	// failing counts the models they took out still finishing requests.
	faults  map[string]string
	failing sync.WaitGroup

	// loadMu guards pending: the estimates of the loads in progress, which
	// have not allocated yet (or not all), so concurrent loads cannot all
	// fit the same free memory (estimate.go).
	loadMu  sync.Mutex
	pending engines.Memory
}

type loadCall struct {
	done  chan struct{}
	model *Model
	err   error
}

// NewManager makes a manager with nothing loaded. Close stops its workers.
func NewManager(repo *repository.Repository, backends *engines.BackendSet, alloc engines.Allocator, opts ManagerOptions) *Manager {
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
	if opts.RetireGrace <= 0 {
		opts.RetireGrace = config.DefaultRetireGrace
	}
	return &Manager{
		Repo: repo, Backends: backends, Alloc: alloc, opts: opts,
		pools:  &pools{decode: newPool(opts.DecodeWorkers), post: newPool(opts.PostWorkers)},
		loaded: map[string]*Model{}, loading: map[string]*loadCall{},
		reasons: map[string]string{}, prints: map[string]string{}, retiring: map[*Model]*time.Timer{},
		faults: map[string]string{},
	}
}

// withModel is spec's scheduling: the manager's settings, overridden by
// the model's dynamic_batching.
func (o ManagerOptions) withModel(spec *model.Spec) Options {
	opts := Options{Mode: o.Mode, MaxQueueSize: o.MaxQueueSize, MaxQueueDelay: o.MaxQueueDelay, RingDepth: o.RingDepth, Warmup: true}
	b := spec.Batching
	if b.MaxQueueSize > 0 {
		opts.MaxQueueSize = b.MaxQueueSize
	}
	if b.MaxQueueDelayMicroseconds > 0 {
		opts.MaxQueueDelay = time.Duration(b.MaxQueueDelayMicroseconds) * time.Microsecond
	}
	opts.PreferredBatchSizes = b.PreferredBatchSize
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
	return mg.loadEntry(ctx, id, nil, false)
}

// Reload loads a model afresh from its files (or with override in place of
// its config.yaml, see repository.Repository.ResolveWith) even when it is
// loaded. The running version serves until the new one is ready, then the
// new one takes every new request and the old one finishes the requests it
// admitted before it is closed: nothing is dropped. When the new version
// fails to load, the old one keeps serving.
func (mg *Manager) Reload(ctx context.Context, id string, override []byte) (*Model, error) {
	return mg.loadEntry(ctx, id, override, true)
}

func (mg *Manager) loadEntry(ctx context.Context, id string, override []byte, fresh bool) (*Model, error) {
	entry, err := mg.Repo.Find(id)
	if err != nil {
		return nil, err
	}
	id = entry.ID()
	var c *loadCall
	for c == nil {
		mg.mu.Lock()
		if m, ok := mg.loaded[id]; ok && !fresh {
			mg.mu.Unlock()
			return m, nil
		}
		other, busy := mg.loading[id]
		if !busy {
			c = &loadCall{done: make(chan struct{})}
			mg.loading[id] = c
		}
		mg.mu.Unlock()
		if busy {
			select {
			case <-other.done:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			if !fresh {
				return other.model, other.err
			}
			// A reload must read the files after it was asked for: go again.
		}
	}

	stamp := entry.Fingerprint() // before reading, so a change during the load is seen by the next poll
	c.model, c.err = mg.open(ctx, entry, override)
	var old, evict *Model
	mg.mu.Lock()
	delete(mg.loading, id)
	mg.prints[id] = stamp
	if c.err == nil && mg.faults[c.model.Spec.Backend] != "" {
		// Its backend lost the GPU while it loaded.
		lost := c.model
		c.model, c.err = nil, fmt.Errorf("%s: %w: %s", id, ErrDeviceLost, mg.faults[lost.Spec.Backend])
		mg.failing.Add(1)
		go func() {
			defer mg.failing.Done()
			lost.Close()
		}()
	}
	if c.err == nil {
		old = mg.loaded[id]
		mg.loaded[id] = c.model
		delete(mg.reasons, id)
		evict = mg.leastRecentlyUsed(id)
	} else if _, serving := mg.loaded[id]; !serving {
		mg.reasons[id] = c.err.Error()
	}
	mg.mu.Unlock()
	close(c.done)
	if old != nil {
		mg.opts.Log.Info("model reloaded: the new version serves, the old one finishes its requests", "model", id)
		mg.retire(old)
	}
	if evict != nil {
		mg.opts.Log.Info("unloading least recently used model", "model", evict.Spec.ID(), "max_loaded", mg.opts.MaxLoaded)
		mg.setReason(evict.Spec.ID(), "unloaded: least recently used")
		go evict.Close() // waits for its requests; the new model serves meanwhile
	}
	return c.model, c.err
}

// retire closes a replaced model after RetireGrace. Until then it still
// admits requests, so one that found it an instant before the swap is
// served rather than refused; Close then waits for all it admitted.
func (mg *Manager) retire(m *Model) {
	mg.mu.Lock()
	defer mg.mu.Unlock()
	mg.retiring[m] = time.AfterFunc(mg.opts.RetireGrace, func() {
		mg.mu.Lock()
		delete(mg.retiring, m)
		mg.mu.Unlock()
		m.Close()
	})
}

func (mg *Manager) setReason(id, why string) {
	mg.mu.Lock()
	defer mg.mu.Unlock()
	mg.reasons[id] = why
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

func (mg *Manager) open(ctx context.Context, e repository.Entry, override []byte) (*Model, error) {
	spec, err := mg.Repo.ResolveWith(e, override)
	if err != nil {
		return nil, err
	}
	// An engine file runs only where it was built for; an ONNX model asking
	// for a backend this machine lacks (tensorrt without a GPU) runs on its
	// fallback, loudly.
	if to, why, ok := mg.Backends.Fallback(spec.Backend); ok && spec.Source != model.SourceEngine {
		mg.opts.Log.Warn("backend not available here: falling back", "model", spec.ID(), "backend", spec.Backend, "instead", to, "why", why)
		spec.FallbackReason = fmt.Sprintf("serving on %s: %s is not available here: %v", to, spec.Backend, why)
		spec.Backend = to
	}
	backend, err := mg.Backends.Get(spec.Backend)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", spec.ID(), err)
	}
	if why := mg.backendFault(spec.Backend); why != "" {
		return nil, fmt.Errorf("%s: %w: %s", spec.ID(), ErrDeviceLost, why)
	}
	// Before anything is allocated: would the model fit? (estimate.go)
	if err := checkRingDepth(mg.opts.RingDepth); err != nil {
		return nil, fmt.Errorf("%s: %w", spec.ID(), err)
	}
	est, err := mg.estimate(spec, backend, specItemBytes(spec), spec.MaxBatchSize)
	if err == nil {
		err = mg.reserve(spec, backend, est)
	}
	if err != nil {
		return nil, err
	}
	defer mg.release(est)
	eng, err := backend.Load(ctx, spec)
	if err != nil {
		if eng, err = mg.fallBack(ctx, spec, err); err != nil {
			return nil, err
		}
		backend, _ = mg.Backends.Get(spec.Backend) // the fallback's
	}
	if mg.opts.Validate != nil {
		if err := mg.opts.Validate(spec, eng.Outputs()); err != nil {
			eng.Close()
			return nil, fmt.Errorf("%s: %w", spec.ID(), err)
		}
	}
	// Again with the engine's exact shapes and batch, before the batch
	// buffers are allocated.
	exact, err := mg.estimate(spec, backend, engineItemBytes(eng), eng.MaxBatch())
	if err == nil {
		err = mg.fits(spec, backend, exact, true)
	}
	if err != nil {
		eng.Close()
		return nil, err
	}
	mg.opts.Log.Debug("model memory estimate", "model", spec.ID(), "estimate", exact.String())
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

// FailBackend takes every model of backend out of service for good, after
// its GPU hit a sticky error (cuda.ErrDeviceFault): each one's state turns
// UNAVAILABLE with why as the reason, later loads on the backend fail with
// ErrDeviceLost, and requests already admitted finish (with the device's
// error) while the models close in the background. It returns the models
// taken out. It may be called from a model's own goroutines, so it never
// waits for them.
func (mg *Manager) FailBackend(backend string, why error) []string {
	reason := "GPU fault: " + why.Error()
	mg.mu.Lock()
	if mg.faults[backend] == "" {
		mg.faults[backend] = why.Error()
	}
	var ids []string
	var gone []*Model
	for id, m := range mg.loaded {
		if m.Spec.Backend == backend {
			delete(mg.loaded, id)
			mg.reasons[id] = reason
			ids, gone = append(ids, id), append(gone, m)
		}
	}
	mg.failing.Add(len(gone))
	mg.mu.Unlock()
	for _, m := range gone {
		go func() {
			defer mg.failing.Done()
			m.Close()
		}()
	}
	sort.Strings(ids)
	return ids
}

func (mg *Manager) backendFault(backend string) string {
	mg.mu.Lock()
	defer mg.mu.Unlock()
	return mg.faults[backend]
}

// Unload removes a model; requests already running on it finish first.
func (mg *Manager) Unload(id string) error {
	mg.mu.Lock()
	m, ok := mg.loaded[id]
	delete(mg.loaded, id)
	if ok {
		mg.reasons[id] = "unloaded"
	}
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
	for id := range models {
		mg.reasons[id] = "unloaded"
	}
	mg.mu.Unlock()
	var errs []error
	for _, m := range models {
		errs = append(errs, m.Close())
	}
	return errors.Join(errs...)
}

// Close unloads every model and stops the worker pools.
func (mg *Manager) Close() error {
	mg.mu.Lock()
	var retired []*Model
	for m, t := range mg.retiring {
		t.Stop()
		retired = append(retired, m)
	}
	clear(mg.retiring)
	mg.mu.Unlock()
	for _, m := range retired {
		m.Close()
	}
	err := mg.UnloadAll()
	mg.failing.Wait()
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

// Latest is the loaded version of name with the highest version number
// (KServe requests that name no version get it).
func (mg *Manager) Latest(name string) (*Model, bool) {
	mg.mu.Lock()
	defer mg.mu.Unlock()
	var best *Model
	for _, m := range mg.loaded {
		if m.Spec.Name == name && (best == nil || repository.VersionLess(best.Spec.Version, m.Spec.Version)) {
			best = m
		}
	}
	return best, best != nil
}

// UnloadName unloads every loaded version of name.
func (mg *Manager) UnloadName(name string) error {
	var ids []string
	for _, m := range mg.Loaded() {
		if m.Spec.Name == name {
			ids = append(ids, m.Spec.ID())
		}
	}
	if len(ids) == 0 {
		return fmt.Errorf("%w: %s", ErrNotLoaded, name)
	}
	var errs []error
	for _, id := range ids {
		if err := mg.Unload(id); err != nil && !errors.Is(err, ErrNotLoaded) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// State is a model version's state, named as Triton's repository index
// names them.
type State string

// The states a version can be in.
const (
	StateReady       State = "READY"
	StateLoading     State = "LOADING"
	StateUnavailable State = "UNAVAILABLE"
)

// Status is one model version's state and, when it is not ready, why; a
// ready version serving on a fallback backend says why it does.
type Status struct {
	Name, Version string
	State         State
	Reason        string
}

// Index lists every version in the repository, and every loaded version
// whose files have gone since, with its state.
func (mg *Manager) Index() ([]Status, error) {
	entries, err := mg.Repo.Scan()
	if err != nil {
		return nil, err
	}
	mg.mu.Lock()
	defer mg.mu.Unlock()
	ids := map[string]bool{}
	for _, e := range entries {
		ids[e.ID()] = true
	}
	for id := range mg.loaded {
		ids[id] = true
	}
	for id := range mg.loading {
		ids[id] = true
	}
	out := make([]Status, 0, len(ids))
	for id := range ids {
		out = append(out, mg.statusLocked(id))
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return repository.VersionLess(out[i].Version, out[j].Version)
	})
	return out, nil
}

// Status is the state of version id ("name/version").
func (mg *Manager) Status(id string) Status {
	mg.mu.Lock()
	defer mg.mu.Unlock()
	return mg.statusLocked(id)
}

func (mg *Manager) statusLocked(id string) Status {
	name, version := model.SplitID(id)
	st := Status{Name: name, Version: version, State: StateUnavailable}
	switch _, loading := mg.loading[id]; {
	case mg.loaded[id] != nil:
		st.State = StateReady // a reload in progress serves the old version meanwhile
		st.Reason = mg.loaded[id].Spec.FallbackReason
	case loading:
		st.State = StateLoading
	case mg.reasons[id] != "":
		st.Reason = mg.reasons[id]
	default:
		st.Reason = "not loaded"
	}
	return st
}

// Sync brings the loaded models in line with the repository, as Triton's
// poll mode does: it loads versions that appeared, reloads loaded ones
// whose files changed (see Reload: no request is dropped), retries failed
// ones whose files changed, and unloads versions whose files are gone.
func (mg *Manager) Sync(ctx context.Context) error {
	entries, err := mg.Repo.Scan()
	if err != nil {
		return err
	}
	present := map[string]bool{}
	for _, e := range entries {
		id := e.ID()
		present[id] = true
		mg.mu.Lock()
		_, loaded := mg.loaded[id]
		stamp, tried := mg.prints[id]
		mg.mu.Unlock()
		if tried && stamp == e.Fingerprint() {
			continue
		}
		if _, err := mg.loadEntry(ctx, id, nil, loaded); err != nil {
			mg.opts.Log.Error("model failed to load", "model", id, "err", err)
		} else {
			mg.opts.Log.Info("model loaded", "model", id, "reload", loaded)
		}
	}
	for _, m := range mg.Loaded() {
		if id := m.Spec.ID(); !present[id] {
			mg.opts.Log.Info("model files removed: unloading", "model", id)
			mg.Unload(id)
			mg.mu.Lock()
			delete(mg.prints, id)
			mg.mu.Unlock()
		}
	}
	return nil
}
