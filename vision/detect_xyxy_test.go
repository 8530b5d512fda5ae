package vision

import "testing"

// DecodeXYXY keeps each anchor's corners as the model gave them, scores it
// by its best class (the first on a tie), keeps it at or above the
// confidence, and suppresses per class (or across classes) as
// DecodeBoxes does.
func TestDecodeXYXY(t *testing.T) {
	boxes := []float32{
		10, 10, 50, 50, // 0: class 1, 0.9
		12, 12, 52, 52, // 1: class 1, 0.8, overlaps 0
		11, 11, 51, 51, // 2: class 0, 0.7, overlaps 0 but another class
		100, 100, 110, 130, // 3: tie 0.5/0.5: class 0
		0, 0, 1, 1, // 4: below
	}
	scores := []float32{
		0.1, 0.9,
		0.2, 0.8,
		0.7, 0.3,
		0.5, 0.5,
		0.2, 0.1,
	}
	for _, c := range []struct {
		name     string
		opts     NMSOptions
		want     []int // classes, most confident first
		first    Detection
		wantKeep int
	}{
		{"per class", NMSOptions{Confidence: 0.5, IoUThreshold: 0.5, MaxDetections: 300}, []int{1, 0, 0}, Detection{X1: 10, Y1: 10, X2: 50, Y2: 50, Confidence: 0.9, ClassID: 1}, 3},
		{"agnostic", NMSOptions{Confidence: 0.5, IoUThreshold: 0.5, ClassAgnostic: true, MaxDetections: 300}, []int{1, 0}, Detection{X1: 10, Y1: 10, X2: 50, Y2: 50, Confidence: 0.9, ClassID: 1}, 2},
		{"capped", NMSOptions{Confidence: 0.15, IoUThreshold: 0.5, MaxDetections: 1}, []int{1}, Detection{X1: 10, Y1: 10, X2: 50, Y2: 50, Confidence: 0.9, ClassID: 1}, 1},
	} {
		got, err := DecodeXYXY(boxes, scores, 5, 2, c.opts)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != c.wantKeep {
			t.Fatalf("%s: %+v", c.name, got)
		}
		for i, d := range got {
			if d.ClassID != c.want[i] {
				t.Errorf("%s #%d: class %d, want %d", c.name, i, d.ClassID, c.want[i])
			}
		}
		if f := got[0]; f.X1 != c.first.X1 || f.Y1 != c.first.Y1 || f.X2 != c.first.X2 || f.Y2 != c.first.Y2 || f.Confidence != c.first.Confidence || f.ClassID != c.first.ClassID || f.Extra != nil {
			t.Errorf("%s: first %+v, want %+v", c.name, got[0], c.first)
		}
	}
	if _, err := DecodeXYXY(boxes, scores[:9], 5, 2, NMSOptions{}); err == nil {
		t.Error("short scores accepted")
	}
}
