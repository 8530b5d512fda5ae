package tasks

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/trtserve/trtserve/model"
	"github.com/trtserve/trtserve/vision"
)

// The end-to-end layouts accept YOLOv10 and YOLO26 exports for each task
// and refuse what cannot be their rows.
func TestValidateEndToEnd(t *testing.T) {
	det := out("output0", -1, 300, 6)        // yolov10n / yolo26n
	seg := out("output0", -1, 300, 38)       // yolo26n-seg: 6 + 32
	protos := out("output1", -1, 32, 80, 80) // its prototypes
	pose := out("output0", -1, 300, 57)      // yolo26n-pose: 6 + 17×3
	for _, layoutName := range []model.OutputLayout{model.LayoutYOLOv10, model.LayoutYOLO26} {
		for _, c := range []struct {
			name    string
			spec    model.Spec
			outputs []model.TensorInfo
			err     string
		}{
			{"detection", model.Spec{Task: model.ObjectDetection, ClassNames: names(80)}, []model.TensorInfo{det}, ""},
			{"detection of one class", model.Spec{Task: model.ObjectDetection, ClassNames: names(1)}, []model.TensorInfo{det}, ""},
			{"detection on a segmentation model", model.Spec{Task: model.ObjectDetection, ClassNames: names(80)}, []model.TensorInfo{seg, protos}, ""},
			{"detection of a yolov8 output", model.Spec{Task: model.ObjectDetection, ClassNames: names(80)}, []model.TensorInfo{out("output0", -1, 84, 5)}, "6+extra"},
			{"detection of rows too short", model.Spec{Task: model.ObjectDetection}, []model.TensorInfo{out("output0", -1, 300, 5)}, "at least one detection of 6 values"},
			{"detection of a classifier", model.Spec{Task: model.ObjectDetection}, []model.TensorInfo{out("output0", -1, 1000)}, "[batch, detections, 6+extra]"},
			{"segmentation", model.Spec{Task: model.InstanceSegmentation, ClassNames: names(80)}, []model.TensorInfo{seg, protos}, ""},
			{"segmentation without prototypes", model.Spec{Task: model.InstanceSegmentation, ClassNames: names(80)}, []model.TensorInfo{seg}, "prototypes"},
			{"segmentation of a detector", model.Spec{Task: model.InstanceSegmentation, ClassNames: names(80)}, []model.TensorInfo{det, protos}, "0 values after"},
			{"keypoints", model.Spec{Task: model.KeypointDetection, ClassNames: names(1), KeypointNames: names(17)}, []model.TensorInfo{pose}, ""},
			{"keypoints naming too many", model.Spec{Task: model.KeypointDetection, ClassNames: names(1), KeypointNames: names(18)}, []model.TensorInfo{pose}, "the 18 keypoints need 54"},
			// Ultralytics' dynamic YOLO26-seg export leaves its rows symbolic
			{"segmentation, symbolic rows", model.Spec{Task: model.InstanceSegmentation, ClassNames: names(80)}, []model.TensorInfo{out("output0", -1, -1, -1), protos}, ""},
			{"keypoints, symbolic rows", model.Spec{Task: model.KeypointDetection, KeypointNames: names(17)}, []model.TensorInfo{out("output0", -1, -1, -1)}, ""},
			{"detection, symbolic width", model.Spec{Task: model.ObjectDetection}, []model.TensorInfo{out("output0", -1, 300, -1)}, "row width is not fixed"},
			{"detection, no rows", model.Spec{Task: model.ObjectDetection}, []model.TensorInfo{out("output0", -1, 0, 6)}, "at least one detection"},
			{"keypoints of a detector", model.Spec{Task: model.KeypointDetection, KeypointNames: names(17)}, []model.TensorInfo{det}, "0 values after"},
			{"keypoints of a 4-d output", model.Spec{Task: model.KeypointDetection, KeypointNames: names(17)}, []model.TensorInfo{protos}, "[batch, detections, 6+extra]"},
		} {
			t.Run(string(layoutName)+"/"+c.name, func(t *testing.T) {
				c.spec.OutputLayout = layoutName
				err := Validate(&c.spec, c.outputs)
				switch {
				case c.err == "" && err != nil:
					t.Fatalf("refused: %v", err)
				case c.err != "" && err == nil:
					t.Fatal("accepted")
				case c.err != "" && (!errors.Is(err, model.ErrBadModel) || !strings.Contains(err.Error(), c.err)):
					t.Fatalf("error %q: want model.ErrBadModel saying %q", err, c.err)
				}
			})
		}
	}
}

// decodeEndToEnd keeps what inference-core's classes keep: rows strictly
// above the threshold compared in float32, in the graph's order, the
// class truncated; YOLOv10 then the first max_detections, YOLO26 all.
func TestDecodeEndToEnd(t *testing.T) {
	nan := float32(math.NaN())
	rows := []float32{
		1, 2, 3, 4, 0.9, 2, 7,
		5, 6, 7, 8, 0.4, 1, 8, // exactly the threshold: dropped
		9, 10, 11, 12, 0.41, 0.999, 9,
		0, 0, 1, 1, nan, 0, 10, // NaN: dropped
		0, 0, 2, 2, 0.5, 3, 11,
	}
	const width = 7
	for _, c := range []struct {
		name    string
		o       vision.NMSOptions
		capped  bool
		classes []int
	}{
		{"yolo26", vision.NMSOptions{Confidence: 0.4, MaxDetections: 1}, false, []int{2, 0, 3}},
		{"yolov10", vision.NMSOptions{Confidence: 0.4, MaxDetections: 300}, true, []int{2, 0, 3}},
		{"yolov10 capped", vision.NMSOptions{Confidence: 0.4, MaxDetections: 2}, true, []int{2, 0}},
		{"yolov10 max 0", vision.NMSOptions{Confidence: 0.4, MaxDetections: 0}, true, nil},
		{"threshold cast to float32", vision.NMSOptions{Confidence: 0.41, MaxDetections: 300}, true, []int{2, 3}},
		{"iou and agnostic ignored", vision.NMSOptions{Confidence: 0.0, IoUThreshold: 0.01, ClassAgnostic: true, MaxDetections: 300, MaxCandidates: 1}, false, []int{2, 1, 0, 3}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dets, err := decodeEndToEnd(rows, 5, width, 1, c.o, c.capped)
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			for _, d := range dets {
				got = append(got, d.ClassID)
				if len(d.Extra) != 1 {
					t.Fatalf("extra %v", d.Extra)
				}
			}
			if len(got) != len(c.classes) {
				t.Fatalf("classes %v, want %v", got, c.classes)
			}
			for i := range got {
				if got[i] != c.classes[i] {
					t.Fatalf("classes %v, want %v", got, c.classes)
				}
			}
		})
	}
	if dets, err := decodeEndToEnd(rows, 0, width, 1, vision.NMSOptions{Confidence: 0.4}, false); err != nil || len(dets) != 3 {
		t.Errorf("rows from the data: %v %v", dets, err)
	}
	if _, err := decodeEndToEnd(rows[:10], 5, width, 1, vision.NMSOptions{}, false); err == nil {
		t.Error("a short output was read")
	}
}

// rescale32 rounds where numpy rounds a float32 array: 100.14815 x
// 810/320 is 253.4999986 in float64 but 253.5 in float32, which rounds
// half to even to 254 (vision.Rescale, for float64 NMS rows, says 253).
func TestRescale32(t *testing.T) {
	x := float32(100.14815)
	stretch := vision.NewGeometry(model.Stretch, 810, 1080, 320, 320)
	for _, c := range []struct {
		name   string
		g      vision.Geometry
		cropX  int
		in     vision.Detection
		want32 [4]float32
		want64 [4]float32
	}{
		{"stretch float32 rounding", stretch, 0, vision.Detection{X1: x, Y1: 10, X2: 200, Y2: 400},
			[4]float32{254, 34, 506, 1080}, [4]float32{253, 34, 506, 1080}},
		{"stretch with crop offset", stretch, 7, vision.Detection{X1: 0, Y1: 0, X2: 320, Y2: 320},
			[4]float32{7, 0, 817, 1080}, [4]float32{7, 0, 817, 1080}},
		{"fit", vision.NewGeometry(model.FitGrey, 1280, 720, 320, 320), 0, vision.Detection{X1: 10, Y1: 70, X2: 330, Y2: 300},
			[4]float32{40, 0, 1280, 720}, [4]float32{40, 0, 1280, 720}},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, b := []vision.Detection{c.in}, []vision.Detection{c.in}
			rescale32(a, c.g, c.cropX, 0)
			vision.Rescale(b, c.g, c.cropX, 0)
			if got := [4]float32{a[0].X1, a[0].Y1, a[0].X2, a[0].Y2}; got != c.want32 {
				t.Errorf("rescale32 %v, want %v", got, c.want32)
			}
			if got := [4]float32{b[0].X1, b[0].Y1, b[0].X2, b[0].Y2}; got != c.want64 {
				t.Errorf("vision.Rescale %v, want %v", got, c.want64)
			}
		})
	}
}
