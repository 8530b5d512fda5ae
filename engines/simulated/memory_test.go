package simulated

import (
	"errors"
	"strings"
	"testing"

	"github.com/trtserve/trtserve/model"
)

func TestSimulatedTimesAreBounded(t *testing.T) {
	for _, tc := range []struct{ config, err string }{
		{"simulated: {base_us: 10000000, per_item_us: 10000000}\n", ""},
		{"simulated: {base_us: 1e12}\n", "simulated.base_us 1e+12 is above the limit 10000000"},
		{"simulated: {per_item_us: 10000001}\n", "simulated.per_item_us 1.0000001e+07 is above the limit 10000000"},
		{"simulated: {base_us: .nan}\n", "simulated.base_us must be a number"},
	} {
		_, err := TimingOf(&model.Spec{Config: []byte(tc.config)})
		if tc.err == "" {
			if err != nil {
				t.Errorf("%q: %v", tc.config, err)
			}
			continue
		}
		if !errors.Is(err, model.ErrBadModel) || err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%q: err = %v, want %q", tc.config, err, tc.err)
		}
	}
}

// The estimate is the synthetic outputs: Variants items of every output,
// its symbolic anchors resolved from the input size as Load resolves them.
func TestEstimateLoad(t *testing.T) {
	spec := &model.Spec{InputWidth: 320, InputHeight: 320, MaxBatchSize: 8, InstanceCount: 4, ONNX: &model.ONNXInfo{
		Inputs:  []model.TensorInfo{{Name: "images", Shape: []int64{-1, 3, -1, -1}}},
		Outputs: []model.TensorInfo{{Name: "output0", Shape: []int64{-1, 84, -1}}, {Name: "protos", Shape: []int64{-1, 32, -1, -1}}},
	}}
	want := int64(84*2100*4 + 32*80*80*4)
	if got := OutputItemBytes(spec); got != want {
		t.Fatalf("OutputItemBytes = %d, want %d", got, want)
	}
	est, err := New().EstimateLoad(spec)
	if err != nil || est.Own.Host != Variants*want || est.Own.Device != 0 || est.PinnedBuffers || est.Depth != 0 {
		t.Fatalf("EstimateLoad = %+v, %v", est, err)
	}
}

// An alias bomb under simulated: is refused by the strict decode without
// being expanded (the repository leaves the key undecoded).
func TestAliasBombInSimulatedKey(t *testing.T) {
	doc := "simulated:\n  a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
	for i, c := range "bcdefghi" {
		prev := string("abcdefghi"[i])
		doc += "  " + string(c) + ": &" + string(c) + " [" + strings.TrimSuffix(strings.Repeat("*"+prev+",", 9), ",") + "]\n"
	}
	if _, err := TimingOf(&model.Spec{Config: []byte(doc)}); !errors.Is(err, model.ErrBadModel) {
		t.Fatalf("err = %v", err)
	}
}
