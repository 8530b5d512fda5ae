package simulated

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trtserve/trtserve/engines"
	"github.com/trtserve/trtserve/model"
	"github.com/trtserve/trtserve/repository"
	"github.com/trtserve/trtserve/vision"
)

func load(t *testing.T, id string, timing Timing) *Engine {
	t.Helper()
	repo := &repository.Repository{Roots: []string{"../../testdata/models"}, Defaults: repository.Defaults{MaxBatchSize: 4, ForceBackend: Name}}
	e, err := repo.Find(id)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := repo.Resolve(e)
	if err != nil {
		t.Fatal(err)
	}
	if spec.Backend != Name {
		t.Fatalf("ForceBackend: backend %q", spec.Backend)
	}
	spec.Config = fmt.Appendf(nil, "simulated: {base_us: %g, per_item_us: %g}\n", timing.BaseMicros, timing.PerItemMicros)
	eng, err := New().Load(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	return eng.(*Engine)
}

func buffers(t *testing.T, ts []model.TensorInfo, batch int) []*engines.HostBuffer {
	var out []*engines.HostBuffer
	for _, ti := range ts {
		b, err := engines.MmapAllocator{}.Alloc(ti.ElemsPerItem() * batch * 4)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		out = append(out, b)
	}
	return out
}

func TestShapesOfEveryTask(t *testing.T) {
	for _, c := range []struct {
		id   string
		outs [][]int64
	}{
		{"yolov8n-320/1", [][]int64{{-1, 84, 2100}}},
		{"yolov8n-seg-320/1", [][]int64{{-1, 116, 2100}, {-1, 32, 80, 80}}},
		{"yolov8n-pose-320/1", [][]int64{{-1, 56, 2100}}},
		{"yolov8n-cls-320/1", [][]int64{{-1, 1000}}},
	} {
		e := load(t, c.id, Timing{})
		for i, o := range e.Outputs() {
			if !slices.Equal(o.Shape, c.outs[i]) {
				t.Errorf("%s output %d: %v, want %v", c.id, i, o.Shape, c.outs[i])
			}
		}
	}
}

func TestRunTakesItsTimeAndIsDeterministic(t *testing.T) {
	e := load(t, "yolov8n-320/1", Timing{BaseMicros: 20000, PerItemMicros: 5000})
	in, out := buffers(t, e.Inputs(), 4), buffers(t, e.Outputs(), 4)
	f := in[0].Float32s()
	item := len(f) / 4
	for k := range 4 {
		for i := range item {
			f[k*item+i] = float32((i*7+k%2)%255) / 255 // items 0 and 2 are equal, as are 1 and 3
		}
	}
	start := time.Now()
	if err := e.Run(context.Background(), 4, in, out); err != nil {
		t.Fatal(err)
	}
	if took, want := time.Since(start), e.Latency(4); took < want {
		t.Fatalf("batch of 4 took %v, less than the simulated %v", took, want)
	}
	o := out[0].Float32s()
	n := len(o) / 4
	if !slices.Equal(o[:n], o[2*n:3*n]) || !slices.Equal(o[n:2*n], o[3*n:]) {
		t.Fatal("equal inputs must give equal outputs")
	}
	dets, err := vision.DecodeBoxes(o[:n], vision.YOLOv8, 2100, 80, 0, vision.NMSOptions{Confidence: 0.4, IoUThreshold: 0.3, MaxDetections: 300, MaxCandidates: 3000})
	if err != nil {
		t.Fatal(err)
	}
	if len(dets) < 5 {
		t.Fatalf("synthetic output gives %d detections; postprocessing should have work", len(dets))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	if err := e.Run(ctx, 4, in, out); err == nil {
		t.Fatal("Run ignored its context")
	}
	if err := e.Run(context.Background(), 5, in, out); err == nil {
		t.Fatal("batch above the maximum accepted")
	}
}

// Outputs must be right whatever the buffer held: the engine skips copies
// into slots it knows hold the same variant, never others.
func TestOutputsRightAfterReuse(t *testing.T) {
	e := load(t, "yolov8n-320/1", Timing{BaseMicros: 1, PerItemMicros: 1})
	in, out := buffers(t, e.Inputs(), 2), buffers(t, e.Outputs(), 2)
	f, o := in[0].Float32s(), out[0].Float32s()
	n := len(o) / 2
	var want [][]float32
	for round := range 6 {
		for i := range f {
			f[i] = float32((i + round%3) % 7) // rounds r and r+3 send the same images
		}
		if err := e.Run(context.Background(), 2, in, out); err != nil {
			t.Fatal(err)
		}
		if round < 3 {
			want = append(want, slices.Clone(o[:n]))
		} else if !slices.Equal(o[:n], want[round-3]) {
			t.Fatalf("round %d: slot 0 differs from the first run with the same input", round)
		}
	}
}

// The simulated: section is the backend's own: decoded on Load, strictly,
// while the repository's keys beside it pass through.
func TestTimingOf(t *testing.T) {
	for _, tc := range []struct {
		name, config string
		want         Timing
		err          string
	}{
		{"no config", "", Timing{}, ""},
		{"other keys only", "max_batch_size: 4\nprecision: fp16\n", Timing{}, ""},
		{"times and faults", "backend: simulated\nsimulated:\n  base_us: 500\n  per_item_us: 20\n  fail_every: 3\n  panic_every: 4\n",
			Timing{BaseMicros: 500, PerItemMicros: 20, FailEvery: 3, PanicEvery: 4}, ""},
		{"negative", "simulated: {base_us: -1}\n", Timing{}, "config.yaml: simulated times must not be negative"},
		{"misspelt", "simulated: {base_ms: 1}\n", Timing{}, "field base_ms not found"},
		{"not a number", "simulated: {base_us: slow}\n", Timing{}, "cannot unmarshal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := TimingOf(&model.Spec{Config: []byte(tc.config)})
			if tc.err != "" {
				if err == nil || !errors.Is(err, model.ErrBadModel) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q (invalid model)", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("TimingOf = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}
