package vision

import (
	"errors"
	"testing"
)

// yolov8Out lays anchors (cx, cy, w, h, class scores...) out as a YOLOv8
// export does: one row of N values per channel.
func yolov8Out(anchors [][]float32) []float32 {
	n, ch := len(anchors), len(anchors[0])
	out := make([]float32, n*ch)
	for a, v := range anchors {
		for k, x := range v {
			out[k*n+a] = x
		}
	}
	return out
}

// TestDecodeBoxesSemantics: the rules the goldens exercise only in bulk,
// one case each, for both suppressions and both layouts.
func TestDecodeBoxesSemantics(t *testing.T) {
	// A big box and a small one inside it, both class 0: inference-core's
	// test divides the intersection by the small box's area (1.0, so it
	// goes); Ultralytics' IoU is 0.04 (it stays).
	nested := yolov8Out([][]float32{{50, 50, 100, 100, 0.9, 0.1}, {50, 50, 20, 20, 0.8, 0.1}})
	// Two overlapping boxes of different classes: only class-agnostic NMS
	// lets one suppress the other.
	twoClasses := yolov8Out([][]float32{{50, 50, 40, 40, 0.9, 0.1}, {52, 50, 40, 40, 0.2, 0.8}})
	// A score exactly at the threshold (0.5 is exact in float32).
	atThreshold := yolov8Out([][]float32{{50, 50, 10, 10, 0.5, 0.1}})
	// YOLOv5 rows: cx cy w h objectness class0 class1. inference-core
	// scores by objectness alone (0.9); yolov5's NMS by the product (0.9 x
	// 0.3 = 0.27, under 0.4).
	v5 := []float32{50, 50, 10, 10, 0.9, 0.3, 0.2}
	v5LowObj := []float32{50, 50, 10, 10, 0.3, 1, 0.2} // objectness under the threshold: out in both
	cases := []struct {
		name   string
		out    []float32
		layout Layout
		opts   NMSOptions
		want   []float32 // confidences kept, in order
		wantK  []int     // their classes
	}{
		{"roboflow suppresses the nested box", nested, YOLOv8, NMSOptions{Confidence: 0.4, IoUThreshold: 0.5, MaxDetections: 300}, []float32{0.9}, []int{0}},
		{"ultralytics keeps the nested box", nested, YOLOv8, NMSOptions{Confidence: 0.4, IoUThreshold: 0.5, MaxDetections: 300, TrueIoU: true}, []float32{0.9, 0.8}, []int{0, 0}},
		{"class-aware keeps both classes", twoClasses, YOLOv8, NMSOptions{Confidence: 0.4, IoUThreshold: 0.3, MaxDetections: 300}, []float32{0.9, 0.8}, []int{0, 1}},
		{"class-agnostic keeps one", twoClasses, YOLOv8, NMSOptions{Confidence: 0.4, IoUThreshold: 0.3, ClassAgnostic: true, MaxDetections: 300}, []float32{0.9}, []int{0}},
		{"class-aware ultralytics keeps both", twoClasses, YOLOv8, NMSOptions{Confidence: 0.4, IoUThreshold: 0.3, MaxDetections: 300, TrueIoU: true}, []float32{0.9, 0.8}, []int{0, 1}},
		{"class-agnostic ultralytics keeps one", twoClasses, YOLOv8, NMSOptions{Confidence: 0.4, IoUThreshold: 0.3, ClassAgnostic: true, MaxDetections: 300, TrueIoU: true}, []float32{0.9}, []int{0}},
		{"max_detections truncates", twoClasses, YOLOv8, NMSOptions{Confidence: 0.4, IoUThreshold: 0.3, MaxDetections: 1}, []float32{0.9}, []int{0}},
		{"max_candidates caps NMS's input", twoClasses, YOLOv8, NMSOptions{Confidence: 0.4, IoUThreshold: 0.3, MaxDetections: 300, MaxCandidates: 1}, []float32{0.9}, []int{0}},
		{"roboflow keeps a score at the threshold", atThreshold, YOLOv8, NMSOptions{Confidence: 0.5, IoUThreshold: 0.5, MaxDetections: 300}, []float32{0.5}, []int{0}},
		{"ultralytics drops a score at the threshold", atThreshold, YOLOv8, NMSOptions{Confidence: 0.5, IoUThreshold: 0.5, MaxDetections: 300, TrueIoU: true}, nil, nil},
		{"yolov5 roboflow: objectness is the confidence", v5, YOLOv5, NMSOptions{Confidence: 0.4, IoUThreshold: 0.5, MaxDetections: 300}, []float32{0.9}, []int{0}},
		{"yolov5 ultralytics: objectness x class", v5, YOLOv5, NMSOptions{Confidence: 0.25, IoUThreshold: 0.5, MaxDetections: 300, TrueIoU: true}, []float32{0.9 * 0.3}, []int{0}},
		{"yolov5 ultralytics: the product under the threshold", v5, YOLOv5, NMSOptions{Confidence: 0.4, IoUThreshold: 0.5, MaxDetections: 300, TrueIoU: true}, nil, nil},
		{"yolov5 roboflow: low objectness", v5LowObj, YOLOv5, NMSOptions{Confidence: 0.4, IoUThreshold: 0.5, MaxDetections: 300}, nil, nil},
		{"yolov5 ultralytics: low objectness", v5LowObj, YOLOv5, NMSOptions{Confidence: 0.25, IoUThreshold: 0.5, MaxDetections: 300, TrueIoU: true}, []float32{0.3}, []int{0}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			anchors, nc := len(c.out)/7, 2
			if c.layout == YOLOv8 {
				anchors = len(c.out) / 6
			}
			dets, err := DecodeBoxes(c.out, c.layout, anchors, nc, 0, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(dets) != len(c.want) {
				t.Fatalf("kept %d (%+v), want %d", len(dets), dets, len(c.want))
			}
			for i, d := range dets {
				if d.Confidence != c.want[i] || d.ClassID != c.wantK[i] {
					t.Errorf("#%d: confidence %v class %d, want %v class %d", i, d.Confidence, d.ClassID, c.want[i], c.wantK[i])
				}
			}
		})
	}
}

func TestDecodeBoxesRefusesWrongSizes(t *testing.T) {
	for _, c := range []struct {
		name              string
		n, anchors, nc, x int
	}{{"short", 83 * 10, 10, 80, 0}, {"no classes", 40, 10, 0, 0}, {"no anchors", 0, 0, 80, 0}, {"extras missing", 84 * 10, 10, 80, 32}} {
		if _, err := DecodeBoxes(make([]float32, c.n), YOLOv8, c.anchors, c.nc, c.x, NMSOptions{}); err == nil {
			t.Errorf("%s: want an error", c.name)
		} else if errors.Is(err, ErrCorruptImage) {
			t.Errorf("%s: a shape error is not an image error: %v", c.name, err)
		}
	}
}
