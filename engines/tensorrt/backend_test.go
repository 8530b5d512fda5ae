package tensorrt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/trtserve/trtserve/cuda"
	"github.com/trtserve/trtserve/cuda/cudamock"
	"github.com/trtserve/trtserve/engines"
	"github.com/trtserve/trtserve/engines/gpuexec"
	"github.com/trtserve/trtserve/model"
	"github.com/trtserve/trtserve/repository"
	"github.com/trtserve/trtserve/trt"
	"github.com/trtserve/trtserve/trt/trttest"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

type fixture struct {
	backend *Backend
	mock    *cudamock.Mock
	pool    *cuda.Pool
	repo    *repository.Repository
	logs    *syncBuf
	root    string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	lib, err := trt.Open(trttest.FakeLib(t))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{mock: cudamock.New(1), logs: &syncBuf{}, root: t.TempDir()}
	f.pool = cuda.NewPool(f.mock, cuda.PoolOptions{})
	log := slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f.backend, err = New(Options{Lib: lib, Runtime: f.mock, Pool: f.pool, CacheDir: filepath.Join(f.root, "cache"), Log: log})
	if err != nil {
		t.Fatal(err)
	}
	f.repo = &repository.Repository{Roots: []string{filepath.Join(f.root, "models")}, Defaults: repository.Defaults{Backend: Name, MaxBatchSize: 4}}
	t.Cleanup(func() {
		f.pool.Close()
		if st := f.mock.Stats(); st.HostAllocs+st.DeviceAllocs+st.StreamsLive+st.EventsLive != 0 {
			t.Errorf("leaked: %+v", st)
		}
		f.mock.Close()
	})
	return f
}

// addONNX puts testdata's 320 classification export into the repository.
func (f *fixture) addONNX(t *testing.T, name, config string) repository.Entry {
	t.Helper()
	root, _ := trttest.Root()
	dir := filepath.Join(f.root, "models", name, "1")
	os.MkdirAll(dir, 0o755)
	onnx, err := os.ReadFile(filepath.Join(root, "testdata/models/yolov8n-cls-320/1/model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "model.onnx"), onnx, 0o644)
	if config != "" {
		os.WriteFile(filepath.Join(dir, "..", "config.yaml"), []byte(config), 0o644)
	}
	return f.entry(t, name)
}

// addEngine writes a fake plan as an engine-only version folder (and the
// model's config.yaml unless config is empty) and returns its entry.
func (f *fixture) addEngine(t *testing.T, name, plan, config string) repository.Entry {
	t.Helper()
	dir := filepath.Join(f.root, "models", name, "1")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "model.engine"), []byte(plan), 0o644)
	if config != "" {
		os.WriteFile(filepath.Join(dir, "..", "config.yaml"), []byte(config), 0o644)
	}
	return f.entry(t, name)
}

func (f *fixture) entry(t *testing.T, name string) repository.Entry {
	t.Helper()
	entries, err := f.repo.Scan()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name == name {
			return e
		}
	}
	t.Fatalf("%s not in the repository", name)
	return repository.Entry{}
}

func (f *fixture) load(t *testing.T, e repository.Entry) (*Engine, error) {
	t.Helper()
	spec, err := f.repo.Resolve(e)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := f.backend.Load(context.Background(), spec)
	if err != nil {
		return nil, err
	}
	return eng.(*Engine), nil
}

// run feeds one batch through an instance and checks the fake's math:
// output element j of item b = mean(input item b) + j/1000.
func run(t *testing.T, f *fixture, eng *Engine, inst engines.Instance, batch int, seed float32) {
	t.Helper()
	alloc := eng.Allocator()
	in, err := alloc.Alloc(batch * eng.Inputs()[0].ElemsPerItem() * 4)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	per := eng.Outputs()[0].ElemsPerItem()
	out, _ := alloc.Alloc(batch * per * 4)
	defer out.Close()
	x := in.Float32s()
	n := eng.Inputs()[0].ElemsPerItem()
	for b := range batch {
		for i := range n {
			x[b*n+i] = seed + float32(b) + float32(i%2) // item mean = seed + b + 0.5
		}
	}
	if err := inst.Run(context.Background(), batch, []*engines.HostBuffer{in}, []*engines.HostBuffer{out}); err != nil {
		t.Fatal(err)
	}
	y := out.Float32s()
	for b := range batch {
		for _, j := range []int{0, per - 1} {
			want := seed + float32(b) + 0.5 + float32(j)*0.001
			if got := y[b*per+j]; math.Abs(float64(got-want)) > 1e-3 {
				t.Fatalf("batch %d item %d out[%d] = %v, want %v", batch, b, j, got, want)
			}
		}
	}
}

func TestBuildCacheAndRun(t *testing.T) {
	f := newFixture(t)
	e := f.addONNX(t, "cls", "")
	eng, err := f.load(t, e)
	if err != nil {
		t.Fatal(err)
	}
	if got := eng.Inputs()[0].Shape; got[0] != -1 || got[2] != 320 || eng.MaxBatch() != 4 || eng.FixedBatch() {
		t.Fatalf("inputs %v max %d", eng.Inputs(), eng.MaxBatch())
	}
	if len(eng.Outputs()) != 1 || eng.Outputs()[0].Shape[0] != -1 {
		t.Fatalf("outputs %v", eng.Outputs())
	}
	var insts []engines.Instance
	for range 2 {
		inst, err := eng.NewInstance()
		if err != nil {
			t.Fatal(err)
		}
		insts = append(insts, inst)
	}
	var wg sync.WaitGroup
	for k, inst := range insts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := range 3 {
				for batch := 1; batch <= 4; batch++ {
					run(t, f, eng, inst, batch, float32(k*100+round))
				}
			}
		}()
	}
	wg.Wait()
	if err := insts[0].Run(context.Background(), 5, nil, nil); !errors.Is(err, engines.ErrBadShape) {
		t.Fatalf("batch over max: %v", err)
	}
	for _, inst := range insts {
		inst.Close()
		inst.Close()
	}
	eng.Close()
	eng.Close()
	if got := strings.Count(f.logs.String(), "building TensorRT engine"); got != 1 {
		t.Fatalf("%d builds", got)
	}
	plans, _ := filepath.Glob(filepath.Join(f.root, "cache", "cls-1-*.plan"))
	metas, _ := filepath.Glob(filepath.Join(f.root, "cache", "cls-1-*.json"))
	caches, _ := filepath.Glob(filepath.Join(f.root, "cache", "timing-*.cache"))
	if len(plans) != 1 || len(metas) != 1 || len(caches) != 1 {
		t.Fatalf("cache holds %v %v %v", plans, metas, caches)
	}

	// Loaded again: from the cache. A new precision: a new build.
	eng2, err := f.load(t, e)
	if err != nil {
		t.Fatal(err)
	}
	eng2.Close()
	if !strings.Contains(f.logs.String(), "engine cache hit") || strings.Count(f.logs.String(), "building TensorRT engine") != 1 {
		t.Fatal("second load rebuilt")
	}
	os.WriteFile(filepath.Join(f.root, "models", "cls", "config.yaml"), []byte("precision: fp16\n"), 0o644)
	eng3, err := f.load(t, e)
	if err != nil {
		t.Fatal(err)
	}
	eng3.Close()
	if strings.Count(f.logs.String(), "building TensorRT engine") != 2 {
		t.Fatal("a new precision did not rebuild")
	}
	if !strings.Contains(f.logs.String(), "build phase") {
		t.Fatal("no build progress in the log")
	}
}

// config.yaml's tf32: false reaches the shim as disable_tf32 (the fake
// writes "no_tf32" into the plan it builds), is recorded beside the cached
// plan, and is its own cache entry: turning it back on rebuilds.
func TestConfigTF32ReachesShim(t *testing.T) {
	f := newFixture(t)
	e := f.addONNX(t, "cls", "tf32: false\n")
	plans := func() map[string]bool {
		t.Helper()
		files, _ := filepath.Glob(filepath.Join(f.root, "cache", "cls-1-*.plan"))
		out := map[string]bool{}
		for _, p := range files {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			out[p] = strings.Contains(string(b), "\nno_tf32\n")
		}
		return out
	}
	for i, tc := range []struct {
		config    string
		noTF32    bool
		metaTF32  string
		wantPlans int
	}{
		{"tf32: false\n", true, `"tf32": false`, 1},
		{"tf32: true\n", false, `"tf32": true`, 2},
	} {
		os.WriteFile(filepath.Join(f.root, "models", "cls", "config.yaml"), []byte(tc.config), 0o644)
		eng, err := f.load(t, e)
		if err != nil {
			t.Fatal(err)
		}
		eng.Close()
		if got := strings.Count(f.logs.String(), "building TensorRT engine"); got != i+1 {
			t.Fatalf("%q: %d builds, want %d", tc.config, got, i+1)
		}
		ps := plans()
		if len(ps) != tc.wantPlans {
			t.Fatalf("%q: cache holds %v", tc.config, ps)
		}
		found := false
		for p, noTF32 := range ps {
			meta, _ := os.ReadFile(strings.TrimSuffix(p, ".plan") + ".json")
			if noTF32 == tc.noTF32 && strings.Contains(string(meta), tc.metaTF32) {
				found = true
			}
		}
		if !found {
			t.Fatalf("%q: no cached plan with no_tf32 = %v and %s: %v", tc.config, tc.noTF32, tc.metaTF32, ps)
		}
	}
}

// config.yaml's precision: and tf32: are this backend's: decoded on Load,
// with the reason when a value is wrong; only an explicit tf32: false
// turns TF32 off, because TensorRT allows it by default and an absent key
// must build as before.
func TestSettingsOf(t *testing.T) {
	for _, tc := range []struct {
		name, config string
		want         Settings
		err          string
	}{
		{"no config", "", Settings{Precision: "fp32"}, ""},
		{"other keys only", "max_batch_size: 4\nsimulated: {base_us: 1}\n", Settings{Precision: "fp32"}, ""},
		{"absent tf32", "precision: fp32\n", Settings{Precision: "fp32"}, ""},
		{"tf32 true", "tf32: true\n", Settings{Precision: "fp32"}, ""},
		{"tf32 false", "tf32: false\n", Settings{Precision: "fp32", DisableTF32: true}, ""},
		{"with fp16", "precision: fp16\ntf32: false\n", Settings{Precision: "fp16", DisableTF32: true}, ""},
		{"strongly typed", "precision: strongly-typed\n", Settings{Precision: "strongly-typed"}, ""},
		{"tf32 not a bool", "tf32: maybe\n", Settings{}, "cannot unmarshal"},
		{"unknown precision", "precision: fp64\n", Settings{}, `config.yaml: precision must be fp32, fp16, bf16, int8 or strongly-typed, got "fp64"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := SettingsOf(&model.Spec{Config: []byte(tc.config)})
			if tc.err != "" {
				if !errors.Is(err, model.ErrBadModel) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q (invalid model)", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("SettingsOf = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

// A bad TensorRT setting fails the load with the reason; it is not a
// reason to fall back to another backend (the config is wrong everywhere).
func TestBadSettingFailsLoad(t *testing.T) {
	f := newFixture(t)
	e := f.addONNX(t, "cls", "precision: fp64\n")
	_, err := f.load(t, e)
	if !errors.Is(err, model.ErrBadModel) || errors.Is(err, engines.ErrBackendCannotRun) ||
		!strings.Contains(err.Error(), "cls/1: invalid model: config.yaml: precision must be") {
		t.Fatalf("err = %v", err)
	}
}

// Two loads of one model at once build once: the cache file lock.
func TestConcurrentLoadsBuildOnce(t *testing.T) {
	f := newFixture(t)
	e := f.addONNX(t, "cls", "")
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			eng, err := f.load(t, e)
			if err != nil {
				t.Error(err)
				return
			}
			eng.Close()
		}()
	}
	wg.Wait()
	if got := strings.Count(f.logs.String(), "building TensorRT engine"); got != 1 {
		t.Fatalf("%d builds", got)
	}
}

func TestEngineFile(t *testing.T) {
	f := newFixture(t)
	write := func(plan, config string) { f.addEngine(t, "det", plan, config) }
	write("trtshim-fake-plan 1\ninput images FLOAT -1x3x64x64 min=1x3x64x64 opt=2x3x64x64 max=2x3x64x64\noutput out FLOAT -1x6x10\n",
		"task: object-detection\ninput_width: 64\ninput_height: 64\nclass_names: [a, b]\nmax_batch_size: 8\n")
	eng, err := f.load(t, f.entry(t, "det"))
	if err != nil {
		t.Fatal(err)
	}
	if eng.MaxBatch() != 2 { // the engine's profile caps max_batch_size
		t.Fatalf("max batch %d", eng.MaxBatch())
	}
	inst, err := eng.NewInstance()
	if err != nil {
		t.Fatal(err)
	}
	run(t, f, eng, inst, 2, 3)
	inst.Close()
	eng.Close()

	for _, tc := range []struct{ name, plan, config, want string }{
		{"input size mismatch", "trtshim-fake-plan 1\ninput images FLOAT 1x3x32x32\noutput out FLOAT 1x6\n",
			"task: object-detection\ninput_width: 64\ninput_height: 64\n", "input size"},
		{"int32 input", "trtshim-fake-plan 1\ninput images INT32 1x3x64x64\noutput out FLOAT 1x6\n",
			"task: object-detection\ninput_width: 64\ninput_height: 64\n", "FP32"},
		{"corrupt", "not an engine", "task: object-detection\ninput_width: 64\ninput_height: 64\n", "deserialization"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			write(tc.plan, tc.config)
			_, err := f.load(t, f.entry(t, "det"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	// Without config.yaml an engine-only folder cannot be resolved.
	os.Remove(filepath.Join(f.root, "models", "det", "config.yaml"))
	if _, err := f.repo.Resolve(f.entry(t, "det")); !errors.Is(err, model.ErrBadModel) {
		t.Fatalf("engine without config: %v", err)
	}
}

// An engine file's outputs must be [batch, fixed...]: trtserve sizes
// their buffers as batch × the per-item size. One that is not is refused at
// load with what is wrong, instead of sizing buffers from a batch-1 probe
// (dimension 0 taken for the batch) or panicking on a scalar.
func TestEngineFileOutputShapes(t *testing.T) {
	f := newFixture(t)
	const config = "task: classification\ninput_width: 64\ninput_height: 64\nmax_batch_size: 4\n"
	const dynamic = "trtshim-fake-plan 1\ninput images FLOAT -1x3x64x64 min=1x3x64x64 opt=4x3x64x64 max=4x3x64x64\n"
	const fixed = "trtshim-fake-plan 1\ninput images FLOAT 1x3x64x64\n"
	for _, tc := range []struct{ name, plan, want string }{
		{"dim 0 fixed, input dynamic", dynamic + "output out FLOAT 2x6\n", "output out dimension 0 is not the batch ([2 6] at batch 1, [2 6] at batch 4)"},
		{"dim 0 fixed, input fixed", fixed + "output out FLOAT 2x6\n", "output out dimension 0 is not the batch ([2 6] at batch 1"},
		{"second output wrong", dynamic + "output a FLOAT -1x6\noutput b FLOAT 1x6\n", "output b dimension 0 is not the batch"},
		{"scalar output", dynamic + "output out FLOAT -1x6\noutput loss FLOAT scalar\n", "output loss is a scalar (rank 0)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.load(t, f.addEngine(t, "det", tc.plan, config))
			if !errors.Is(err, model.ErrBadModel) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrBadModel with %q", err, tc.want)
			}
		})
	}
	// Outputs that follow the batch load; several of them too.
	eng, err := f.load(t, f.addEngine(t, "det", dynamic+"output a FLOAT -1x6\noutput b FLOAT -1x2x3\n", config))
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	if got := fmt.Sprint(eng.Outputs()); got != "[a FP32[-1,6] b FP32[-1,2,3]]" {
		t.Fatalf("outputs %s", got)
	}
}

// batchedShape's rules one case each, including those the fake cannot
// produce (its outputs only ever vary in dimension 0).
func TestBatchedShape(t *testing.T) {
	for _, tc := range []struct {
		name       string
		lo, hi     int
		atLo, atHi []int64
		want       string // "" = accepted
	}{
		{"follows the batch", 1, 8, []int64{1, 84, 2100}, []int64{8, 84, 2100}, ""},
		{"one batch only", 4, 4, []int64{4, 10}, []int64{4, 10}, ""},
		{"scalar", 1, 8, []int64{}, []int64{}, "scalar"},
		{"dim 0 fixed", 1, 8, []int64{1, 6}, []int64{1, 6}, "dimension 0 is not the batch"},
		{"dim 0 a multiple of the batch", 1, 8, []int64{3, 6}, []int64{24, 6}, "dimension 0 is not the batch"},
		{"batch moved to dim 1", 1, 8, []int64{6, 1}, []int64{6, 8}, "dimension 0 is not the batch"},
		{"other dim moves", 1, 8, []int64{1, 10}, []int64{8, 80}, "dimension 1 changes with the batch"},
		{"rank moves", 1, 8, []int64{1, 10}, []int64{8, 10, 1}, "changes rank"},
		{"data-dependent", 1, 8, []int64{1, -1}, []int64{8, -1}, "depends on the data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := batchedShape("out", tc.lo, tc.hi, tc.atLo, tc.atHi)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want == "" && fmt.Sprint(got) != fmt.Sprint(tc.atHi):
				t.Fatalf("shape %v, want %v", got, tc.atHi)
			case tc.want != "" && (!errors.Is(err, model.ErrBadModel) || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("err = %v, want ErrBadModel with %q", err, tc.want)
			}
		})
	}
}

// An engine whose profile starts above batch 1 loads, and a smaller batch
// runs padded to the profile minimum: the answers of the real items are
// right and nothing else is returned. A max_batch_size below the profile
// minimum is raised to it (every run computes that many anyway).
func TestEngineFileProfileMinAboveOne(t *testing.T) {
	f := newFixture(t)
	const plan = "trtshim-fake-plan 1\ninput images FLOAT -1x3x64x64 min=3x3x64x64 opt=4x3x64x64 max=6x3x64x64\noutput out FLOAT -1x10\n"
	for _, tc := range []struct {
		maxBatch, want int
	}{{4, 4}, {2, 3}} {
		t.Run(fmt.Sprintf("max_batch_size %d", tc.maxBatch), func(t *testing.T) {
			eng, err := f.load(t, f.addEngine(t, "det", plan, fmt.Sprintf("task: classification\ninput_width: 64\ninput_height: 64\nmax_batch_size: %d\n", tc.maxBatch)))
			if err != nil {
				t.Fatal(err)
			}
			defer eng.Close()
			if eng.MaxBatch() != tc.want || eng.FixedBatch() {
				t.Fatalf("max batch %d (fixed %v), want %d", eng.MaxBatch(), eng.FixedBatch(), tc.want)
			}
			inst, err := eng.NewInstance()
			if err != nil {
				t.Fatal(err)
			}
			defer inst.Close()
			for round := range 2 { // the second round runs on slots holding the first's rows
				for batch := 1; batch <= eng.MaxBatch(); batch++ {
					run(t, f, eng, inst, batch, float32(10*round+batch))
				}
			}
		})
	}
}

// The pad rows of a batch run below the profile minimum are zeroed on the
// device before the network reads them: they hold no earlier request's
// data. The fake computes every row, so its outputs for the pad rows show
// what they read (mean 0 for zeroed rows).
func TestPadRowsAreZeroed(t *testing.T) {
	f := newFixture(t)
	eng, err := f.load(t, f.addEngine(t, "det", "trtshim-fake-plan 1\ninput x FLOAT -1x4 min=3x4 opt=3x4 max=3x4\noutput y FLOAT -1x2\n",
		"task: classification\ninput_width: 64\ninput_height: 64\n"))
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	err = cuda.OnDevice(f.mock, 0, func() error {
		in, err := f.mock.Malloc(3 * 4 * 4)
		if err != nil {
			return err
		}
		defer f.mock.Free(in)
		out, err := f.mock.Malloc(3 * 2 * 4)
		if err != nil {
			return err
		}
		defer f.mock.Free(out)
		stale := make([]byte, 3*4*4) // every row 7s: what an earlier batch left
		for i := 0; i < len(stale); i += 4 {
			binary.LittleEndian.PutUint32(stale[i:], math.Float32bits(7))
		}
		if err := f.mock.MemcpyHtoD(in, stale); err != nil {
			return err
		}
		s, err := f.mock.StreamCreate(0)
		if err != nil {
			return err
		}
		defer f.mock.StreamDestroy(s)
		ctx, err := eng.cudaEngine.NewContext(false)
		if err != nil {
			return err
		}
		c := &compute{e: eng, ctx: ctx}
		defer c.Close()
		if err := c.Enqueue(s, 1, []cuda.DevicePtr{in}, []cuda.DevicePtr{out}, 0); err != nil {
			return err
		}
		got := make([]byte, 3*2*4)
		if err := f.mock.MemcpyDtoH(got, out); err != nil {
			return err
		}
		for row, want := range []float32{7, 0, 0} { // row 0 is the real item
			if v := math.Float32frombits(binary.LittleEndian.Uint32(got[row*8:])); v != want {
				return fmt.Errorf("row %d read mean %v, want %v", row, v, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The pipeline warms a TensorRT engine up at every batch size it can be
// sent (engines.WarmupSizer), a fixed-batch engine at its one size.
func TestWarmupBatches(t *testing.T) {
	f := newFixture(t)
	const config = "task: classification\ninput_width: 64\ninput_height: 64\nmax_batch_size: 8\n"
	for _, tc := range []struct{ plan, want string }{
		{"input images FLOAT -1x3x64x64 min=1x3x64x64 opt=4x3x64x64 max=4x3x64x64\noutput out FLOAT -1x10\n", "[1 2 3 4]"},
		{"input images FLOAT -1x3x64x64 min=2x3x64x64 opt=3x3x64x64 max=3x3x64x64\noutput out FLOAT -1x10\n", "[1 2 3]"},
		{"input images FLOAT 2x3x64x64\noutput out FLOAT 2x10\n", "[2]"},
	} {
		eng, err := f.load(t, f.addEngine(t, "det", "trtshim-fake-plan 1\n"+tc.plan, config))
		if err != nil {
			t.Fatal(err)
		}
		var _ engines.WarmupSizer = eng
		if got := fmt.Sprint(eng.WarmupBatches()); got != tc.want {
			t.Errorf("%s: warm-up at %s, want %s", tc.plan, got, tc.want)
		}
		eng.Close()
	}
}

func TestPinnedBudget(t *testing.T) {
	f := newFixture(t)
	e := f.addONNX(t, "cls", "")
	eng, err := f.load(t, e)
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	small := cuda.NewPool(f.mock, cuda.PoolOptions{Budget: 1 << 20, Log: slog.New(slog.DiscardHandler)})
	defer small.Close()
	_, err = gpuexec.PinnedAllocator{Pool: small}.Alloc(4 * 3 * 320 * 320 * 4)
	if !errors.Is(err, cuda.ErrPoolExhausted) {
		t.Fatalf("err = %v", err)
	}
}

// Every setting that changes what the builder produces changes the key;
// the timing cache and the progress callback, which only change how long
// it takes, do not.
func TestCacheKey(t *testing.T) {
	p := []trt.ProfileDim{{Name: "x", Min: []int64{1}, Opt: []int64{4}, Max: []int64{4}}}
	o := trt.BuildOptions{Precision: trt.FP16, WorkspaceBytes: 1 << 30, OptimizationLevel: -1, Profile: p}
	key := func(onnx, cc, version string, change func(*trt.BuildOptions), tf32 string) string {
		oo := o
		if change != nil {
			change(&oo)
		}
		return CacheKey([]byte(onnx), cc, version, oo, tf32)
	}
	base := key("onnx", "sm_90", "10.16.0-rt101600", nil, "")
	for name, k := range map[string]string{
		"onnx":      key("onnx2", "sm_90", "10.16.0-rt101600", nil, ""),
		"gpu":       key("onnx", "sm_89", "10.16.0-rt101600", nil, ""),
		"tensorrt":  key("onnx", "sm_90", "10.16.1-rt101601", nil, ""),
		"precision": key("onnx", "sm_90", "10.16.0-rt101600", func(o *trt.BuildOptions) { o.Precision = trt.FP32 }, ""),
		"profile": key("onnx", "sm_90", "10.16.0-rt101600", func(o *trt.BuildOptions) {
			o.Profile = []trt.ProfileDim{{Name: "x", Min: []int64{1}, Opt: []int64{8}, Max: []int64{8}}}
		}, ""),
		"workspace":       key("onnx", "sm_90", "10.16.0-rt101600", func(o *trt.BuildOptions) { o.WorkspaceBytes = 2 << 30 }, ""),
		"default space":   key("onnx", "sm_90", "10.16.0-rt101600", func(o *trt.BuildOptions) { o.WorkspaceBytes = 0 }, ""),
		"opt level":       key("onnx", "sm_90", "10.16.0-rt101600", func(o *trt.BuildOptions) { o.OptimizationLevel = 5 }, ""),
		"hardware compat": key("onnx", "sm_90", "10.16.0-rt101600", func(o *trt.BuildOptions) { o.HardwareCompat = trt.HWCompatAmperePlus }, ""),
		"same-cc compat":  key("onnx", "sm_90", "10.16.0-rt101600", func(o *trt.BuildOptions) { o.HardwareCompat = trt.HWCompatSameComputeCapability }, ""),
		"version compat":  key("onnx", "sm_90", "10.16.0-rt101600", func(o *trt.BuildOptions) { o.VersionCompat = true }, ""),
		"tf32 off":        key("onnx", "sm_90", "10.16.0-rt101600", nil, "0"),
		"tf32 flag off":   key("onnx", "sm_90", "10.16.0-rt101600", func(o *trt.BuildOptions) { o.DisableTF32 = true }, ""),
	} {
		if k == base {
			t.Errorf("changing the %s keeps the key", name)
		}
	}
	// The build option and the environment variable are separate inputs:
	// an engine built with one is not the cached answer for the other.
	flagOff := key("onnx", "sm_90", "10.16.0-rt101600", func(o *trt.BuildOptions) { o.DisableTF32 = true }, "")
	if flagOff == key("onnx", "sm_90", "10.16.0-rt101600", nil, "0") ||
		flagOff == key("onnx", "sm_90", "10.16.0-rt101600", func(o *trt.BuildOptions) { o.DisableTF32 = true }, "0") {
		t.Error("tf32: false and NVIDIA_TF32_OVERRIDE=0 share a key")
	}
	same := key("onnx", "sm_90", "10.16.0-rt101600", func(o *trt.BuildOptions) {
		o.TimingCache = []byte("trtshim-fake-timing-cache 1\n")
		o.Progress = &logProgress{ctx: context.Background(), log: slog.New(slog.DiscardHandler)}
	}, "")
	if same != base {
		t.Error("the timing cache or progress callback changes the key (or the key is not deterministic)")
	}
}

// On a TensorRT runtime that cannot build (lean, dispatch) an ONNX model
// is refused before any build with what to do instead, as an error that
// makes the manager serve it on ONNX Runtime; an engine file still loads.
func TestLeanRuntimeCannotBuild(t *testing.T) {
	dir := t.TempDir()
	lean := filepath.Join(dir, "libnvinfer_lean.so.10")
	os.WriteFile(lean, nil, 0o644) // the fake only looks at the name
	lib, err := trt.OpenWith(trttest.FakeLibCopy(t), trt.OpenOptions{TensorRTLib: lean, AllowEngineHostCode: true})
	if err != nil {
		t.Fatal(err)
	}
	if info := lib.Info(); info.CanBuild || info.Runtime != trt.RuntimeLean {
		t.Fatalf("the fake did not open a lean runtime: %+v", info)
	}
	f := newFixture(t)
	f.backend.opts.Lib = lib
	_, err = f.load(t, f.addONNX(t, "cls", ""))
	if !errors.Is(err, engines.ErrBackendCannotRun) || !errors.Is(err, trt.ErrUnsupported) || !strings.Contains(err.Error(), "lean runtime") ||
		!strings.Contains(err.Error(), "cannot build model.onnx") {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(f.logs.String(), "building TensorRT engine") {
		t.Fatal("a build was attempted")
	}
	eng, err := f.load(t, f.addEngine(t, "det", "trtshim-fake-plan 1\ninput images FLOAT -1x3x64x64 min=1x3x64x64 opt=2x3x64x64 max=2x3x64x64\noutput out FLOAT -1x10\n",
		"task: classification\ninput_width: 64\ninput_height: 64\n"))
	if err != nil {
		t.Fatal(err)
	}
	eng.Close()
}

// The errors that mean "TensorRT cannot run this model here" are marked
// for the manager's fallback: a parse or build failure, an unsupported
// model or precision, CUDA that TensorRT cannot start. Others are not.
func TestCannotRunMarksFallbackErrors(t *testing.T) {
	t.Setenv("TRTSHIM_FAKE_CUDA_INIT_ERROR", "35")
	f := newFixture(t)
	_, err := f.load(t, f.addONNX(t, "cls", ""))
	if !errors.Is(err, engines.ErrBackendCannotRun) || !errors.Is(err, trt.ErrCUDAInit) || !strings.Contains(err.Error(), "error: 35") {
		t.Fatalf("CUDA init failure: %v", err)
	}
	for _, tc := range []struct {
		err  error
		mark bool
	}{
		{trt.ErrParse, true}, {trt.ErrBuild, true}, {trt.ErrUnsupported, true}, {trt.ErrCUDAInit, true},
		{trt.ErrDeserialize, false}, {trt.ErrOutOfMemory, false}, {model.ErrBadModel, false}, {os.ErrNotExist, false},
	} {
		got := cannotRun(fmt.Errorf("tensorrt build: %w", tc.err))
		if errors.Is(got, engines.ErrBackendCannotRun) != tc.mark || !errors.Is(got, tc.err) {
			t.Errorf("%v: marked %v, want %v", tc.err, !tc.mark, tc.mark)
		}
	}
}
