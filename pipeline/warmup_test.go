package pipeline

import (
	"fmt"
	"slices"
	"testing"

	"github.com/trtserve/trtserve/engines"
	"github.com/trtserve/trtserve/model"
)

// sizedEngine is a fakeEngine that asks to be warmed up at given sizes, as
// the TensorRT engine asks for every batch size.
type sizedEngine struct {
	*fakeEngine
	sizes []int
}

func (e sizedEngine) WarmupBatches() []int { return e.sizes }

// Warm-up runs every instance at each size the engine lists (clipped to
// 1..max), a fixed-batch engine at its one size, any other at batch 1.
func TestWarmupSizes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		sizes []int // nil: the engine is no WarmupSizer
		fixed bool
		want  []int // the runs of one instance
	}{
		{"every size", []int{1, 2, 3}, false, []int{1, 2, 3}},
		{"clipped to the buffers", []int{0, 1, 3, 4}, false, []int{1, 3}},
		{"nothing usable listed", []int{9}, false, []int{1}},
		{"no list", nil, false, []int{1}},
		{"fixed batch", []int{1, 2, 3}, true, []int{3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := newFake() // max batch 3
			fake.fixed = tc.fixed
			var eng engines.Engine = fake
			if tc.sizes != nil {
				eng = sizedEngine{fake, tc.sizes}
			}
			m, err := newModel(&model.Spec{Name: "f", Version: "1", InstanceCount: 2}, eng, engines.MmapAllocator{}, Options{Warmup: true}, testPools(t))
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			want := slices.Concat(tc.want, tc.want) // two instances, one after the other
			if got := fake.executions(); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("warm-up runs %v, want %v", got, want)
			}
		})
	}
}
