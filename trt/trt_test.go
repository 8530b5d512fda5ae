package trt_test

import (
	"bytes"
	"errors"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"unsafe"

	"github.com/trtserve/trtserve/trt"
	"github.com/trtserve/trtserve/trt/trttest"
)

const plan = `trtshim-fake-plan 1
precision fp32
input images FLOAT -1x3x4x4 min=1x3x4x4 opt=4x3x4x4 max=8x3x4x4
output scores FLOAT -1x5
output boxes FLOAT -1x2x3
`

func open(t *testing.T) *trt.Library {
	t.Helper()
	lib, err := trt.Open(trttest.FakeLib(t))
	if err != nil {
		t.Fatal(err)
	}
	return lib
}

func TestOpen(t *testing.T) {
	lib := open(t)
	info := lib.Info()
	if info.NeedsDevice || !strings.Contains(info.Notice, "FAKE") || info.ABI != 3 || info.Version() != "fake" || !strings.Contains(info.Description, "not TensorRT") {
		t.Fatalf("info %+v", info)
	}
	again, _ := trt.Open(trttest.FakeLib(t))
	if again != lib {
		t.Fatal("opening twice loaded twice")
	}
	for _, path := range []string{"/nonexistent/libtrtshim.so", "/usr/lib/x86_64-linux-gnu/libc.so.6"} {
		if _, err := trt.Open(path); !errors.Is(err, trt.ErrNoShim) {
			t.Fatalf("%s: %v", path, err)
		}
	}
	// The environment is config's to read: Open("") searches Candidates.
	t.Setenv("TRTSERVE_TRTSHIM_LIB", "/nonexistent/x.so")
	for _, c := range trt.Candidates() {
		if c == "/nonexistent/x.so" {
			t.Fatalf("Candidates() = %q: read TRTSERVE_TRTSHIM_LIB", trt.Candidates())
		}
	}
}

func TestEngineIO(t *testing.T) {
	lib := open(t)
	eng, err := lib.Load([]byte(plan))
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	io := eng.IO()
	if len(io) != 3 {
		t.Fatalf("%d tensors", len(io))
	}
	want := []struct {
		name  string
		input bool
		shape []int64
	}{{"images", true, []int64{-1, 3, 4, 4}}, {"scores", false, []int64{-1, 5}}, {"boxes", false, []int64{-1, 2, 3}}}
	for i, w := range want {
		got := io[i]
		if got.Name != w.name || got.Input != w.input || got.DataType != trt.Float || !equal(got.Shape, w.shape) {
			t.Errorf("tensor %d: %+v, want %+v", i, got, w)
		}
	}
	if !equal(io[0].Min, []int64{1, 3, 4, 4}) || !equal(io[0].Max, []int64{8, 3, 4, 4}) || !equal(io[0].Opt, []int64{4, 3, 4, 4}) {
		t.Fatalf("profile %v %v %v", io[0].Min, io[0].Opt, io[0].Max)
	}
	if eng.DeviceMemorySize() <= 0 {
		t.Fatal("no device memory size")
	}
	if err := eng.Close(); err != nil {
		t.Fatal(err)
	}
	eng.Close() // twice
	if _, err := eng.NewContext(false); !errors.Is(err, trt.ErrClosed) {
		t.Fatalf("context of a closed engine: %v", err)
	}
}

func TestLoadErrors(t *testing.T) {
	lib := open(t)
	for _, tc := range []struct {
		name, plan string
	}{
		{"empty", ""},
		{"not a plan", "\x00\x01garbage"},
		{"bad dims", "trtshim-fake-plan 1\ninput x FLOAT -1xAx3\noutput y FLOAT -1x2\n"},
		{"no profile", "trtshim-fake-plan 1\ninput x FLOAT -1x3\noutput y FLOAT -1x2\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := lib.Load([]byte(tc.plan))
			if !errors.Is(err, trt.ErrDeserialize) {
				t.Fatalf("err = %v", err)
			}
			var te *trt.Error
			if tc.plan != "" && (!errors.As(err, &te) || te.Msg == "") {
				t.Fatalf("no message: %v", err)
			}
		})
	}
}

func cmem(t *testing.T, n int) []float32 { return trttest.Floats(t, n) }

func TestEnqueueMath(t *testing.T) {
	lib := open(t)
	eng, err := lib.Load([]byte(plan))
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	ctx, err := eng.NewContext(false)
	if err != nil {
		t.Fatal(err)
	}
	defer ctx.Close()
	for batch := 1; batch <= 8; batch++ {
		in := cmem(t, batch*48)
		for i := range in {
			in[i] = float32(i%48) + float32(i/48)*10
		}
		scores, boxes := cmem(t, batch*5), cmem(t, batch*6)
		if err := ctx.SetInputShape("images", []int64{int64(batch), 3, 4, 4}); err != nil {
			t.Fatal(err)
		}
		shape, err := ctx.TensorShape("scores")
		if err != nil || !equal(shape, []int64{int64(batch), 5}) {
			t.Fatalf("scores shape %v %v", shape, err)
		}
		bind(t, ctx, "images", in)
		bind(t, ctx, "scores", scores)
		bind(t, ctx, "boxes", boxes)
		if err := ctx.Enqueue(0); err != nil {
			t.Fatal(err)
		}
		for b := range batch {
			mean := 23.5 + float32(b)*10
			for j := range 5 {
				if got, want := scores[b*5+j], mean+float32(j)*0.001; math.Abs(float64(got-want)) > 1e-4 {
					t.Fatalf("batch %d item %d scores[%d] = %v, want %v", batch, b, j, got, want)
				}
			}
			for j := range 6 {
				if got, want := boxes[b*6+j], 2*mean+float32(j)*0.001; math.Abs(float64(got-want)) > 1e-4 {
					t.Fatalf("batch %d item %d boxes[%d] = %v, want %v", batch, b, j, got, want)
				}
			}
		}
	}
}

func bind(t *testing.T, ctx *trt.Context, name string, mem []float32) {
	t.Helper()
	if err := ctx.SetTensorAddress(name, uintptr(unsafe.Pointer(&mem[0]))); err != nil {
		t.Fatal(err)
	}
}

func TestContextErrors(t *testing.T) {
	lib := open(t)
	eng, _ := lib.Load([]byte(plan))
	defer eng.Close()
	ctx, _ := eng.NewContext(false)
	for _, tc := range []struct {
		name  string
		shape []int64
		want  error
	}{
		{"batch over max", []int64{9, 3, 4, 4}, trt.ErrShape},
		{"batch zero", []int64{0, 3, 4, 4}, trt.ErrShape},
		{"wrong fixed dim", []int64{2, 3, 5, 4}, trt.ErrShape},
		{"wrong rank", []int64{2, 3, 4}, trt.ErrShape},
		{"too many dims", make([]int64, 9), trt.ErrShape},
	} {
		if err := ctx.SetInputShape("images", tc.shape); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	if err := ctx.SetInputShape("nope", []int64{1}); !errors.Is(err, trt.ErrNotFound) {
		t.Errorf("unknown tensor: %v", err)
	}
	if _, err := ctx.TensorShape("scores"); !errors.Is(err, trt.ErrShape) {
		t.Errorf("output shape before input shape: %v", err)
	}
	if err := ctx.Enqueue(0); err == nil {
		t.Error("enqueue without shapes or addresses succeeded")
	}
	if err := ctx.SetProfile(1, 0); !errors.Is(err, trt.ErrInvalidArgument) {
		t.Errorf("profile 1: %v", err)
	}
	ctx.Close()
	ctx.Close()
	if err := ctx.Enqueue(0); !errors.Is(err, trt.ErrClosed) {
		t.Errorf("enqueue after close: %v", err)
	}

	user, err := eng.NewContext(true)
	if err != nil {
		t.Fatal(err)
	}
	defer user.Close()
	in, out1, out2 := cmem(t, 48), cmem(t, 5), cmem(t, 6)
	user.SetInputShape("images", []int64{1, 3, 4, 4})
	bind(t, user, "images", in)
	bind(t, user, "scores", out1)
	bind(t, user, "boxes", out2)
	if err := user.Enqueue(0); !errors.Is(err, trt.ErrInvalidArgument) {
		t.Errorf("user-memory context without memory: %v", err)
	}
	mem := trttest.Floats(t, int(eng.DeviceMemorySize()/4))
	if err := user.SetDeviceMemory(uintptr(unsafe.Pointer(&mem[0])), eng.DeviceMemorySize()); err != nil {
		t.Fatal(err)
	}
	if err := user.Enqueue(0); err != nil {
		t.Errorf("with memory: %v", err)
	}
}

// Several contexts of one engine run at once, each on its own goroutine.
func TestConcurrentContexts(t *testing.T) {
	lib := open(t)
	eng, _ := lib.Load([]byte(plan))
	defer eng.Close()
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, err := eng.NewContext(false)
			if err != nil {
				t.Error(err)
				return
			}
			defer ctx.Close()
			in, s, b := trttest.Floats(t, 8*48), trttest.Floats(t, 8*5), trttest.Floats(t, 8*6)
			for round := range 200 {
				batch := 1 + (g+round)%8
				v := float32(g*1000 + round)
				for i := range in[:batch*48] {
					in[i] = v
				}
				ctx.SetInputShape("images", []int64{int64(batch), 3, 4, 4})
				ctx.SetTensorAddress("images", uintptr(unsafe.Pointer(&in[0])))
				ctx.SetTensorAddress("scores", uintptr(unsafe.Pointer(&s[0])))
				ctx.SetTensorAddress("boxes", uintptr(unsafe.Pointer(&b[0])))
				if err := ctx.Enqueue(0); err != nil {
					t.Error(err)
					return
				}
				if s[(batch-1)*5] != v {
					t.Errorf("context %d round %d: %v, want %v", g, round, s[(batch-1)*5], v)
					return
				}
			}
		}()
	}
	wg.Wait()
}

type progress struct {
	mu     sync.Mutex
	events []string
	cancel int
}

func (p *progress) Start(phase, parent string, steps int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.events = append(p.events, "start "+phase)
}
func (p *progress) Step(phase string, step int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.events = append(p.events, "step")
	return p.cancel == 0 || step < p.cancel
}
func (p *progress) Finish(phase string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.events = append(p.events, "finish "+phase)
}

func TestBuild(t *testing.T) {
	lib := open(t)
	root, _ := trttest.Root()
	onnx, err := os.ReadFile(root + "/testdata/models/yolov8n-cls-320/1/model.onnx")
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	if err := lib.SetLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})), slog.LevelInfo); err != nil {
		t.Fatal(err)
	}
	defer lib.SetLogger(slog.New(slog.DiscardHandler), slog.LevelError)
	profile := []trt.ProfileDim{{Name: "images", Min: []int64{1, 3, 320, 320}, Opt: []int64{4, 3, 320, 320}, Max: []int64{8, 3, 320, 320}}}
	p := &progress{}
	planBytes, tc, err := lib.Build(onnx, "", trt.BuildOptions{Precision: trt.FP16, OptimizationLevel: -1, Profile: profile, Progress: p})
	if err != nil {
		t.Fatal(err)
	}
	if len(tc) == 0 || len(p.events) < 3 || p.events[0] != "start Building engine" {
		t.Fatalf("timing cache %d bytes, progress %v", len(tc), p.events)
	}
	eng, err := lib.Load(planBytes)
	if err != nil {
		t.Fatalf("%v\n%s", err, planBytes)
	}
	defer eng.Close()
	io := eng.IO()
	if len(io) != 2 || io[0].Name != "images" || !equal(io[0].Max, []int64{8, 3, 320, 320}) || io[1].Input {
		t.Fatalf("built engine IO %+v", io)
	}
	if !strings.Contains(logs.String(), "loaded engine") || !strings.Contains(logs.String(), "source=tensorrt") {
		t.Fatalf("shim log not routed to slog: %q", logs.String())
	}

	for _, tc := range []struct {
		name string
		onnx []byte
		opts trt.BuildOptions
		want error
	}{
		{"cancelled", onnx, trt.BuildOptions{OptimizationLevel: -1, Profile: profile, Progress: &progress{cancel: 1}}, trt.ErrCancelled},
		{"no profile for a dynamic input", onnx, trt.BuildOptions{OptimizationLevel: -1}, trt.ErrBuild},
		{"min over max", onnx, trt.BuildOptions{OptimizationLevel: -1, Profile: []trt.ProfileDim{{Name: "images", Min: []int64{9, 3, 320, 320}, Opt: []int64{4, 3, 320, 320}, Max: []int64{8, 3, 320, 320}}}}, trt.ErrInvalidArgument},
		{"unknown profile input", onnx, trt.BuildOptions{OptimizationLevel: -1, Profile: append(profile, trt.ProfileDim{Name: "x", Min: []int64{1}, Opt: []int64{1}, Max: []int64{1}})}, trt.ErrInvalidArgument},
		{"bad optimization level", onnx, trt.BuildOptions{OptimizationLevel: 9, Profile: profile}, trt.ErrInvalidArgument},
		{"int8 on the fake", onnx, trt.BuildOptions{Precision: trt.INT8, OptimizationLevel: -1, Profile: profile}, trt.ErrUnsupported},
		{"not onnx", []byte("hello, world"), trt.BuildOptions{OptimizationLevel: -1}, trt.ErrParse},
		{"empty", nil, trt.BuildOptions{OptimizationLevel: -1}, trt.ErrParse},
		{"foreign timing cache", onnx, trt.BuildOptions{OptimizationLevel: -1, Profile: profile, TimingCache: []byte("xyz")}, trt.ErrInvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := lib.Build(tc.onnx, "", tc.opts); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	if _, _, err := lib.Build(onnx, "", trt.BuildOptions{OptimizationLevel: -1, Profile: profile, TimingCache: tc}); err != nil {
		t.Fatalf("with its own timing cache: %v", err)
	}
	// DisableTF32 reaches the shim: the fake writes "no_tf32" into the plan
	// exactly when trtshim_build_options.disable_tf32 is 1.
	for _, disable := range []bool{false, true} {
		plan, _, err := lib.Build(onnx, "", trt.BuildOptions{OptimizationLevel: -1, Profile: profile, DisableTF32: disable})
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(string(plan), "\nno_tf32\n"); got != disable {
			t.Fatalf("DisableTF32 %v: plan has no_tf32 = %v:\n%s", disable, got, plan)
		}
	}
}

func TestParsePrecision(t *testing.T) {
	for _, s := range []string{"fp32", "fp16", "bf16", "int8", "strongly-typed"} {
		p, err := trt.ParsePrecision(s)
		if err != nil || p.String() != s {
			t.Errorf("%s: %v %v", s, p, err)
		}
	}
	if _, err := trt.ParsePrecision("fp64"); !errors.Is(err, trt.ErrInvalidArgument) {
		t.Error(err)
	}
}

func equal(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// OpenWith hands its options to the shim's trtshim_init and reports what
// the shim says back; each case gets its own copy of the fake because the
// shim's TensorRT state is process-wide.
func TestOpenWith(t *testing.T) {
	dir := t.TempDir()
	lean := dir + "/libnvinfer_lean.so.10"
	dispatch := dir + "/libnvinfer_dispatch.so.11"
	for _, p := range []string{lean, dispatch} {
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name     string
		opts     trt.OpenOptions
		runtime  string
		canBuild bool
		err      error
	}{
		{"defaults", trt.OpenOptions{AllowEngineHostCode: true}, trt.RuntimeFake, true, nil},
		{"no host code", trt.OpenOptions{}, trt.RuntimeFake, true, nil},
		{"lean", trt.OpenOptions{TensorRTLib: lean, AllowEngineHostCode: true}, trt.RuntimeLean, false, nil},
		{"dispatch", trt.OpenOptions{TensorRTLib: dispatch}, trt.RuntimeDispatch, false, nil},
		{"missing library", trt.OpenOptions{TensorRTLib: dir + "/libnvinfer.so.99"}, "", false, trt.ErrNoTensorRT},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lib, err := trt.OpenWith(trttest.FakeLibCopy(t), tc.opts)
			if tc.err != nil {
				if !errors.Is(err, tc.err) || !errors.Is(err, trt.ErrNoShim) || !strings.Contains(err.Error(), "libnvinfer.so.99") {
					t.Fatalf("err = %v, want %v and ErrNoShim naming the library", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			info := lib.Info()
			if info.Runtime != tc.runtime || info.CanBuild != tc.canBuild || info.TensorRTPath != tc.opts.TensorRTLib ||
				info.AllowEngineHostCode != tc.opts.AllowEngineHostCode || info.Plugins || info.CUDAVersion != 0 {
				t.Fatalf("info %+v for %+v", info, tc.opts)
			}
			onnx, opts := clsBuild(t)
			_, _, err = lib.Build(onnx, "", opts)
			if tc.canBuild != (err == nil) || (!tc.canBuild && (!errors.Is(err, trt.ErrUnsupported) || !strings.Contains(err.Error(), tc.runtime+" TensorRT runtime cannot build"))) {
				t.Fatalf("build on %s: %v", tc.runtime, err)
			}
			// A plan with host code (a version-compatible plan) loads only
			// where host code is allowed.
			eng, err := lib.Load([]byte(strings.Replace(plan, "precision fp32\n", "precision fp32\nhost_code\n", 1)))
			if tc.opts.AllowEngineHostCode {
				if err != nil {
					t.Fatal(err)
				}
				eng.Close()
			} else if !errors.Is(err, trt.ErrDeserialize) || !strings.Contains(err.Error(), "host code") {
				t.Fatalf("host-code plan with host code refused: %v", err)
			}
			// The process-wide state cannot change under a Library.
			other := tc.opts
			other.AllowEngineHostCode = !other.AllowEngineHostCode
			if _, err := trt.OpenWith(lib.Info().Path, other); !errors.Is(err, trt.ErrInvalidArgument) {
				t.Fatalf("reopen with other options: %v", err)
			}
			if again, err := trt.OpenWith(lib.Info().Path, tc.opts); err != nil || again != lib {
				t.Fatalf("reopen with the same options: %v", err)
			}
		})
	}
}

// A TensorRT that cannot start CUDA (real case: no GPU, or a driver older
// than its CUDA) is ErrCUDAInit with TensorRT's words, from load and build.
func TestCUDAInitFailure(t *testing.T) {
	lib := open(t)
	t.Setenv("TRTSHIM_FAKE_CUDA_INIT_ERROR", "35")
	_, err := lib.Load([]byte(plan))
	if !errors.Is(err, trt.ErrCUDAInit) || !strings.Contains(err.Error(), "CUDA initialization failure with error: 35") {
		t.Fatalf("load: %v", err)
	}
	onnx, opts := clsBuild(t)
	if _, _, err := lib.Build(onnx, "", opts); !errors.Is(err, trt.ErrCUDAInit) {
		t.Fatalf("build: %v", err)
	}
}

// clsBuild is the classification test model and options the fake builds.
func clsBuild(t *testing.T) ([]byte, trt.BuildOptions) {
	t.Helper()
	root, _ := trttest.Root()
	onnx, err := os.ReadFile(root + "/testdata/models/yolov8n-cls-320/1/model.onnx")
	if err != nil {
		t.Fatal(err)
	}
	return onnx, trt.BuildOptions{OptimizationLevel: -1, Profile: []trt.ProfileDim{
		{Name: "images", Min: []int64{1, 3, 320, 320}, Opt: []int64{4, 3, 320, 320}, Max: []int64{8, 3, 320, 320}}}}
}

// A library is refused before any call unless it exports trtshim_get_api
// and answers it for this ABI, with a message saying what to do.
func TestOpenRefusesOtherABIs(t *testing.T) {
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "cc"
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		name, src string
		want      []string
	}{
		{"another ABI", "#include <stddef.h>\n#include <stdint.h>\nconst void *trtshim_get_api(uint32_t abi) { (void)abi; return NULL; }\n",
			[]string{"does not implement ABI 3", "rebuild the shim"}},
		{"before the table", "int trtshim_abi_version(void) { return 2; }\n",
			[]string{"undefined symbol: trtshim_get_api", "older than ABI 3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".c")
			lib := strings.TrimSuffix(src, ".c") + ".so"
			if err := os.WriteFile(src, []byte(tc.src), 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(cc, "-shared", "-fPIC", "-o", lib, src).CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", cc, err, out)
			}
			_, err := trt.Open(lib)
			if !errors.Is(err, trt.ErrNoShim) {
				t.Fatalf("Open = %v, want ErrNoShim", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}
