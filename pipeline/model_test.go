package pipeline

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/trtserve/trtserve/engines"
)

// fakeEngine doubles its single input into its single output.
type fakeEngine struct {
	fixed bool
	runs  []int
}

func (e *fakeEngine) Inputs() []engines.TensorInfo {
	return []engines.TensorInfo{{Name: "in", DataType: engines.FP32, Shape: []int64{-1, 4}}}
}
func (e *fakeEngine) Outputs() []engines.TensorInfo {
	return []engines.TensorInfo{{Name: "out", DataType: engines.FP32, Shape: []int64{-1, 4}}}
}
func (e *fakeEngine) MaxBatch() int                          { return 3 }
func (e *fakeEngine) FixedBatch() bool                       { return e.fixed }
func (e *fakeEngine) NewInstance() (engines.Instance, error) { return e, nil }
func (e *fakeEngine) Close() error                           { return nil }
func (e *fakeEngine) Run(_ context.Context, batch int, in, out []*engines.HostBuffer) error {
	e.runs = append(e.runs, batch)
	for i, v := range in[0].Float32s()[:batch*4] {
		out[0].Float32s()[i] = 2 * v
	}
	return nil
}

type work struct {
	x, got float32
	bad    bool
}

func (w *work) Preprocess(in [][]float32) error {
	if w.bad {
		return errors.New("broken image")
	}
	for i := range in[0] {
		in[0][i] = w.x
	}
	return nil
}
func (w *work) Postprocess(out [][]float32) error { w.got = out[0][3]; return nil }

func TestSerialDo(t *testing.T) {
	for _, fixed := range []bool{false, true} {
		eng := &fakeEngine{fixed: fixed}
		m, err := newModel(&engines.Model{Name: "f", Version: "1", InstanceCount: 2}, eng, engines.MmapAllocator{})
		if err != nil {
			t.Fatal(err)
		}
		ws := []*work{{x: 1}, {x: 2, bad: true}, {x: 3}}
		errs := m.Do(context.Background(), []Work{ws[0], ws[1], ws[2]})
		var se *StageError
		if errs[0] != nil || errs[2] != nil || !errors.As(errs[1], &se) || se.Stage != "preprocess" {
			t.Fatalf("fixed=%v errs %v", fixed, errs)
		}
		if ws[0].got != 2 || ws[2].got != 6 {
			t.Fatalf("fixed=%v results %v %v: a work got another's output", fixed, ws[0].got, ws[2].got)
		}
		wantBatch := 1
		if fixed {
			wantBatch = 3 // padded to the engine's fixed batch
		}
		if len(eng.runs) != 2 || eng.runs[0] != wantBatch {
			t.Fatalf("fixed=%v runs %v", fixed, eng.runs)
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		if errs := m.Do(context.Background(), []Work{&work{x: 1}}); !errors.Is(errs[0], ErrClosed) {
			t.Fatalf("after Close: %v", errs)
		}
	}
}

func TestDoHonoursDeadlineWhileWaitingForAnInstance(t *testing.T) {
	m, err := newModel(&engines.Model{Name: "f", Version: "1", InstanceCount: 1}, &fakeEngine{}, engines.MmapAllocator{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	inst := <-m.instances // hold the only instance
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if errs := m.Do(ctx, []Work{&work{x: 1}}); !errors.Is(errs[0], context.DeadlineExceeded) {
		t.Fatalf("want deadline, got %v", errs)
	}
	m.instances <- inst
}
