package vision

import (
	"encoding/json"
	"slices"
	"testing"
)

type clsGolden struct {
	Cases []struct {
		Image      string     `json:"image"`
		Confidence float64    `json:"confidence"`
		Raw        *goldenRaw `json:"raw_output"`
		Post       struct {
			Predictions      json.RawMessage `json:"predictions"`
			PredictedClasses []string        `json:"predicted_classes"`
			Top              string          `json:"top"`
			Confidence       float64         `json:"confidence"`
		} `json:"postprocess_response"`
	} `json:"cases"`
}

func readClsGolden(t *testing.T, name string) clsGolden {
	var g clsGolden
	loadGolden(t, name, &g)
	return g
}

// TestClassificationGoldens feeds the ONNX outputs inference-core
// post-processed to Classify and MultiLabel and wants its answers exactly:
// same classes in the same order, same rounded confidences.
func TestClassificationGoldens(t *testing.T) {
	n := 0
	for _, c := range readClsGolden(t, "cls-single").Cases {
		if c.Raw == nil {
			continue
		}
		n++
		var want []struct {
			ClassID    int     `json:"class_id"`
			Confidence float64 `json:"confidence"`
		}
		if err := json.Unmarshal(c.Post.Predictions, &want); err != nil {
			t.Fatal(err)
		}
		got := Classify(readFloats(t, c.Raw.File), c.Confidence)
		if len(got) != len(want) {
			t.Fatalf("%s conf %v: %d classes, inference-core %d: %v vs %v", c.Image, c.Confidence, len(got), len(want), got, want)
		}
		for i := range got {
			if got[i].ClassID != want[i].ClassID || got[i].Confidence != want[i].Confidence {
				t.Fatalf("%s conf %v: #%d %+v, inference-core %+v", c.Image, c.Confidence, i, got[i], want[i])
			}
		}
	}
	for _, c := range readClsGolden(t, "cls-multi").Cases {
		if c.Raw == nil {
			continue
		}
		n++
		var want map[string]struct {
			ClassID    int     `json:"class_id"`
			Confidence float64 `json:"confidence"`
		}
		if err := json.Unmarshal(c.Post.Predictions, &want); err != nil {
			t.Fatal(err)
		}
		scores, predicted := MultiLabel(readFloats(t, c.Raw.File), c.Confidence)
		for _, w := range want {
			if scores[w.ClassID] != w.Confidence {
				t.Fatalf("%s: class %d score %v, inference-core %v", c.Image, w.ClassID, scores[w.ClassID], w.Confidence)
			}
		}
		var wantIDs []int
		for _, name := range c.Post.PredictedClasses {
			wantIDs = append(wantIDs, want[name].ClassID)
		}
		if !slices.Equal(predicted, wantIDs) {
			t.Fatalf("%s conf %v: predicted %v, inference-core %v", c.Image, c.Confidence, predicted, wantIDs)
		}
	}
	if n < 6 {
		t.Fatalf("only %d golden cases with raw outputs", n)
	}
}

func TestPairwiseSumMatchesNumPyShape(t *testing.T) {
	// Exact in any order: small integers. Checks the block bookkeeping for
	// every length class (<8, ≤128, split).
	for _, n := range []int{0, 1, 7, 8, 9, 16, 127, 128, 129, 1000, 1001} {
		a := make([]float32, n)
		var want float32
		for i := range a {
			a[i] = float32(i%5 + 1)
			want += a[i]
		}
		if got := pairwiseSum(a); got != want {
			t.Errorf("n=%d: %v, want %v", n, got, want)
		}
	}
	for _, c := range []struct{ x, want float64 }{{0.00265, 0.0027}, {0.00275, 0.0027}, {0.0026999, 0.0027}, {2.675, 2.67}} {
		// Python 3: round(0.00265, 4) == round(0.00275, 4) == 0.0027, round(2.675, 2) == 2.67
		// (decided on the exact binary value, not the decimal literal)
		if got := RoundPython(c.x, map[bool]int{true: 2, false: 4}[c.x > 1]); got != c.want {
			t.Errorf("round(%v) = %v, want %v", c.x, got, c.want)
		}
	}
}
