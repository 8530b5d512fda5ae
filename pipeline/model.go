package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/trtserve/trtserve/engines"
)

// Model is a loaded model: its engine, a pool of instances each owning its
// own batch buffers, and the runner requests go through.
type Model struct {
	Spec   *engines.Model
	Engine engines.Engine

	instances chan *instance
	all       []*instance
	// inflight counts Do calls so Close waits for them.
	inflight sync.WaitGroup
	mu       sync.Mutex // guards closed
	closed   bool
}

// instance is an engine instance with input and output buffers sized for
// the engine's largest batch.
type instance struct {
	run     engines.Instance
	in, out []*engines.HostBuffer
	// inItem/outItem are the elements of one batch item per tensor.
	inItem, outItem []int
}

func newModel(spec *engines.Model, eng engines.Engine, alloc engines.Allocator) (*Model, error) {
	m := &Model{Spec: spec, Engine: eng, instances: make(chan *instance, spec.InstanceCount)}
	for i := 0; i < spec.InstanceCount; i++ {
		inst, err := newInstance(eng, alloc)
		if err != nil {
			m.closeInstances()
			return nil, err
		}
		m.all = append(m.all, inst)
		m.instances <- inst
	}
	return m, nil
}

func newInstance(eng engines.Engine, alloc engines.Allocator) (*instance, error) {
	run, err := eng.NewInstance()
	if err != nil {
		return nil, err
	}
	inst := &instance{run: run}
	batch := eng.MaxBatch()
	alloc1 := func(ts []engines.TensorInfo) (bufs []*engines.HostBuffer, items []int, err error) {
		for _, t := range ts {
			n := t.ElemsPerItem()
			if n <= 0 {
				return bufs, items, fmt.Errorf("%w: %s has no fixed per-item size", engines.ErrBadShape, t)
			}
			buf, err := alloc.Alloc(n * batch * 4)
			if err != nil {
				return bufs, items, err
			}
			bufs, items = append(bufs, buf), append(items, n)
		}
		return bufs, items, nil
	}
	inst.in, inst.inItem, err = alloc1(eng.Inputs())
	if err == nil {
		inst.out, inst.outItem, err = alloc1(eng.Outputs())
	}
	if err != nil {
		inst.close()
		return nil, err
	}
	return inst, nil
}

func (i *instance) close() {
	for _, b := range append(i.in, i.out...) {
		b.Close()
	}
	if i.run != nil {
		i.run.Close()
	}
}

// slots are the views of batch item k of every input (or output) buffer.
func slots(bufs []*engines.HostBuffer, item []int, k int) [][]float32 {
	out := make([][]float32, len(bufs))
	for t, b := range bufs {
		f := b.Float32s()
		out[t] = f[k*item[t] : (k+1)*item[t]]
	}
	return out
}

// Do runs each work serially at batch 1 (a fixed-batch engine gets its
// batch padded with zeros) on an instance borrowed from the pool.
func (m *Model) Do(ctx context.Context, works []Work) []error {
	errs := make([]error, len(works))
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		for i := range errs {
			errs[i] = ErrClosed
		}
		return errs
	}
	m.inflight.Add(1)
	m.mu.Unlock()
	defer m.inflight.Done()
	for i, w := range works {
		errs[i] = m.one(ctx, w)
	}
	return errs
}

func (m *Model) one(ctx context.Context, w Work) error {
	var inst *instance
	select {
	case inst = <-m.instances:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { m.instances <- inst }()
	if err := w.Preprocess(slots(inst.in, inst.inItem, 0)); err != nil {
		return &StageError{"preprocess", err}
	}
	batch := 1
	if m.Engine.FixedBatch() {
		batch = m.Engine.MaxBatch()
		for k := 1; k < batch; k++ {
			for _, s := range slots(inst.in, inst.inItem, k) {
				clear(s)
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := inst.run.Run(ctx, batch, inst.in, inst.out); err != nil {
		return &StageError{"infer", err}
	}
	if err := w.Postprocess(slots(inst.out, inst.outItem, 0)); err != nil {
		return &StageError{"postprocess", err}
	}
	return nil
}

// Close waits for in-flight work, then frees instances and the engine.
func (m *Model) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.mu.Unlock()
	m.inflight.Wait()
	m.closeInstances()
	return m.Engine.Close()
}

func (m *Model) closeInstances() {
	for _, inst := range m.all {
		inst.close()
	}
	m.all = nil
}

// Manager loads, serves and unloads models found in a repository.
type Manager struct {
	Repo     *engines.Repository
	Backends *engines.Registry
	Alloc    engines.Allocator

	mu      sync.Mutex // guards loaded and loading
	loaded  map[string]*Model
	loading map[string]*loadCall
}

type loadCall struct {
	done  chan struct{}
	model *Model
	err   error
}

// NewManager makes a manager with nothing loaded.
func NewManager(repo *engines.Repository, backends *engines.Registry, alloc engines.Allocator) *Manager {
	if alloc == nil {
		alloc = engines.MmapAllocator{}
	}
	return &Manager{Repo: repo, Backends: backends, Alloc: alloc, loaded: map[string]*Model{}, loading: map[string]*loadCall{}}
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
	mg.mu.Lock()
	delete(mg.loading, id)
	if c.err == nil {
		mg.loaded[id] = c.model
	}
	mg.mu.Unlock()
	close(c.done)
	return c.model, c.err
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
	m, err := newModel(spec, eng, mg.Alloc)
	if err != nil {
		eng.Close()
		return nil, fmt.Errorf("%s: %w", spec.ID(), err)
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

// Loaded lists the loaded models.
func (mg *Manager) Loaded() []*Model {
	mg.mu.Lock()
	defer mg.mu.Unlock()
	out := make([]*Model, 0, len(mg.loaded))
	for _, m := range mg.loaded {
		out = append(out, m)
	}
	return out
}
