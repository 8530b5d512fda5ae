package pipeline

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/trtserve/trtserve/engines"
	"github.com/trtserve/trtserve/model"
	"github.com/trtserve/trtserve/repository"
)

// memBackend says what its loads hold (engines.MemoryEstimator) and what
// its device has free (engines.MemoryReporter), and counts its loads.
type memBackend struct {
	est            engines.LoadEstimate
	pinned, device int64
	outElems       int64 // the loaded engine's output elements per item (0: the fake's 4)
	loads, closes  atomic.Int32
}

func (*memBackend) Name() string { return "onnxruntime" }
func (*memBackend) Close() error { return nil }
func (b *memBackend) Load(context.Context, *model.Spec) (engines.Engine, error) {
	b.loads.Add(1)
	return &memEngine{fakeEngine: newFake(), b: b}, nil
}
func (b *memBackend) EstimateLoad(*model.Spec) (engines.LoadEstimate, error) { return b.est, nil }
func (b *memBackend) FreeMemory() (int64, int64, error)                      { return b.pinned, b.device, nil }

type memEngine struct {
	*fakeEngine
	b *memBackend
}

func (e *memEngine) Outputs() []model.TensorInfo {
	if e.b.outElems == 0 {
		return e.fakeEngine.Outputs()
	}
	return []model.TensorInfo{{Name: "out", DataType: model.FP32, Shape: []int64{-1, e.b.outElems}}}
}
func (e *memEngine) Close() error { e.b.closes.Add(1); return nil }

// memAlloc counts the batch buffers allocated through it.
type memAlloc struct{ n, bytes atomic.Int64 }

func (a *memAlloc) Alloc(size int) (*engines.HostBuffer, error) {
	a.n.Add(1)
	a.bytes.Add(int64(size))
	return engines.MmapAllocator{}.Alloc(size)
}

// A load whose estimate does not fit is refused before the backend loads
// anything and before a batch buffer is allocated; one that only the
// engine's exact shapes show too big is refused after the backend's load,
// whose engine is closed, and still before any buffer. The refusal names
// the limit, and the model's status says it.
func TestLoadRefusedBeforeAllocating(t *testing.T) {
	const id = "yolov8n-320/1"
	plenty := func() (int64, string) { return 1 << 40, "test" }
	for _, tc := range []struct {
		name   string
		b      *memBackend
		opts   ManagerOptions
		err    string // "" loads
		loads  int32  // backend loads made
		closed int32  // engines closed after a refusal
	}{
		{name: "fits", b: &memBackend{pinned: -1, device: -1}, opts: ManagerOptions{HostAvailable: plenty}, loads: 1},
		{name: "model memory cap", b: &memBackend{est: engines.LoadEstimate{Own: engines.Memory{Host: 64 << 20}}},
			opts: ManagerOptions{MaxModelMemory: 32 << 20, HostAvailable: plenty}, err: "above --max-model-memory (32.0 MiB)"},
		{name: "host memory free", b: &memBackend{est: engines.LoadEstimate{Own: engines.Memory{Host: 64 << 20}}},
			opts: ManagerOptions{HostAvailable: func() (int64, string) { return 16 << 20, "test's MemAvailable" }}, err: "above the host memory free (test's MemAvailable) (16.0 MiB)"},
		{name: "GPU memory free", b: &memBackend{est: engines.LoadEstimate{Own: engines.Memory{Device: 8 << 30}}, pinned: -1, device: 1 << 30},
			opts: ManagerOptions{HostAvailable: plenty}, err: "above the GPU's free memory (1.0 GiB)"},
		{name: "pinned pool budget", b: &memBackend{est: engines.LoadEstimate{PinnedBuffers: true}, pinned: 4096, device: -1},
			opts: ManagerOptions{HostAvailable: plenty}, err: "above the pinned memory pool's budget left (--pinned-memory-pool-bytes) (4.0 KiB)"},
		{name: "pinned memory counts as host memory", b: &memBackend{est: engines.LoadEstimate{PinnedBuffers: true, Own: engines.Memory{Pinned: 1 << 30}}, pinned: -1, device: -1},
			opts: ManagerOptions{HostAvailable: func() (int64, string) { return 1 << 29, "test" }}, err: "above the host memory free"},
		// The ONNX leaves the anchors symbolic: only the loaded engine says
		// its output is 64 Mi floats an image (3 sets × 4 images × 256 MiB).
		{name: "exact shapes after the backend's load", b: &memBackend{outElems: 64 << 20},
			opts: ManagerOptions{MaxModelMemory: 1 << 30, HostAvailable: plenty}, err: "above --max-model-memory (1.0 GiB)", loads: 1, closed: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.b
			reg := engines.NewBackendSet()
			reg.Register(b)
			alloc := &memAlloc{}
			repo := &repository.Repository{Roots: []string{"../testdata/models"}, Defaults: repository.Defaults{MaxBatchSize: 4, InstanceCount: 1}}
			mg := NewManager(repo, reg, alloc, tc.opts)
			defer mg.Close()
			_, err := mg.Load(context.Background(), id)
			if got := b.loads.Load(); got != tc.loads {
				t.Errorf("backend loads %d, want %d", got, tc.loads)
			}
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				if alloc.n.Load() == 0 {
					t.Fatal("a loaded model allocated no batch buffers")
				}
				return
			}
			if !errors.Is(err, ErrInsufficientMemory) || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err = %v, want ErrInsufficientMemory saying %q", err, tc.err)
			}
			if n := alloc.n.Load(); n != 0 {
				t.Errorf("a refused load allocated %d batch buffers (%d bytes)", n, alloc.bytes.Load())
			}
			if got := b.closes.Load(); got != tc.closed {
				t.Errorf("engines closed %d, want %d", got, tc.closed)
			}
			if st := mg.Status(id); st.State != StateUnavailable || !strings.Contains(st.Reason, "not enough memory") {
				t.Errorf("status %+v", st)
			}
			if len(mg.Loaded()) != 0 {
				t.Errorf("loaded %d models", len(mg.Loaded()))
			}
		})
	}
}

// The estimate's arithmetic: sets per instance as newModel makes them
// (ring depth; one in serial mode; Depth+2 for a submitter), each buffer
// rounded as its allocator rounds it.
func TestEstimate(t *testing.T) {
	spec := &model.Spec{Name: "m", Version: "1", InstanceCount: 2, MaxBatchSize: 8}
	page := int64(4096)
	for _, tc := range []struct {
		name    string
		mode    Mode
		est     engines.LoadEstimate
		items   []int64
		sets    int
		buffers engines.Memory
	}{
		{"parallel", Parallel, engines.LoadEstimate{}, []int64{4096, 1000}, 6, engines.Memory{Host: 6 * (8*4096 + 2*page)}},
		{"serial", Serial, engines.LoadEstimate{}, []int64{4096}, 2, engines.Memory{Host: 2 * 8 * 4096}},
		{"submitter", Parallel, engines.LoadEstimate{Depth: 2, PinnedBuffers: true}, []int64{3 << 20, 100}, 8, engines.Memory{Pinned: 8 * (24<<20 + 4096)}},
		{"large pinned", Parallel, engines.LoadEstimate{PinnedBuffers: true}, []int64{5 << 20}, 6, engines.Memory{Pinned: 6 * (40 << 20)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mg := &Manager{opts: ManagerOptions{Mode: tc.mode, RingDepth: 3}}
			e, err := mg.estimate(spec, &memBackend{est: tc.est}, tc.items, spec.MaxBatchSize)
			if err != nil {
				t.Fatal(err)
			}
			if e.Sets != tc.sets || e.Buffers != tc.buffers {
				t.Fatalf("sets %d buffers %+v, want %d %+v", e.Sets, e.Buffers, tc.sets, tc.buffers)
			}
		})
	}
	// Absurd sizes saturate instead of wrapping to something small.
	mg := &Manager{opts: ManagerOptions{RingDepth: 3}}
	e, err := mg.estimate(&model.Spec{InstanceCount: 1 << 20, MaxBatchSize: 1 << 30}, &memBackend{}, []int64{1 << 40}, 1<<30)
	if err != nil || e.Total().Total() != 1<<63-1 {
		t.Fatalf("saturated estimate %v %v", e, err)
	}
}

func TestHostAvailableReadsSomething(t *testing.T) {
	free, where := HostAvailable()
	if free <= 0 || where == "" {
		t.Fatalf("HostAvailable() = %d, %q: this Linux machine has /proc/meminfo", free, where)
	}
}

// gatedBackend's loads wait for its gate: a load in progress that has not
// allocated yet.
type gatedBackend struct {
	memBackend
	gate chan struct{}
}

func (b *gatedBackend) Load(ctx context.Context, spec *model.Spec) (engines.Engine, error) {
	<-b.gate
	return b.memBackend.Load(ctx, spec)
}

// Concurrent loads cannot all fit the same free memory: a load's estimate
// counts as taken until it is done, so the second of two loads that fit
// only one at a time is refused while the first is in progress, and fits
// once it is done.
func TestLoadsInProgressCountAsTaken(t *testing.T) {
	b := &gatedBackend{memBackend: memBackend{est: engines.LoadEstimate{Own: engines.Memory{Host: 600 << 20}}}, gate: make(chan struct{})}
	reg := engines.NewBackendSet()
	reg.Register(b)
	repo := &repository.Repository{Roots: []string{"../testdata/models"}, Defaults: repository.Defaults{MaxBatchSize: 4, InstanceCount: 1}}
	free := func() (int64, string) { return 1 << 30, "test" } // room for one 600 MiB load, not two
	mg := NewManager(repo, reg, nil, ManagerOptions{HostAvailable: free})
	defer mg.Close()
	first := make(chan error, 1)
	go func() {
		_, err := mg.Load(context.Background(), "yolov8n-320/1")
		first <- err
	}()
	eventually(t, "the first load holds its reservation", func() bool {
		mg.loadMu.Lock()
		defer mg.loadMu.Unlock()
		return mg.pending.Host > 0
	})
	_, err := mg.Load(context.Background(), "yolov8n-cls-320/1")
	if !errors.Is(err, ErrInsufficientMemory) || !strings.Contains(err.Error(), "beside the loads in progress") {
		t.Fatalf("second load while the first is in progress: %v", err)
	}
	close(b.gate)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if mg.pending != (engines.Memory{}) {
		t.Fatalf("reservations left after the loads: %+v", mg.pending)
	}
	// Done, its memory is now the free figure's business (here a fixed
	// one), and the second load fits beside nothing in progress.
	if _, err := mg.Load(context.Background(), "yolov8n-cls-320/1"); err != nil {
		t.Fatal(err)
	}
}
