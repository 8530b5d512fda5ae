package tasks

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trtserve/trtserve/model"
	"github.com/trtserve/trtserve/vision"
)

func readGz(t *testing.T, name string) []byte {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "testdata", "goldens", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readFloats(t *testing.T, name string) []float32 {
	b := readGz(t, name)
	v := make([]float32, len(b)/4)
	if err := binary.Read(bytes.NewReader(b), binary.LittleEndian, v); err != nil {
		t.Fatal(err)
	}
	return v
}

type goldenPred struct {
	X, Y, Width, Height, Confidence float64
	Class                           string `json:"class"`
	ClassID                         int    `json:"class_id"`
}

// TestRFDETRDecodeMatchesInferenceCore: RFDETRObjectDetection.postprocess
// on bus.jpg's raw outputs (testdata/goldens/rfdetr-stretch.json.gz, from
// make_nas_rfdetr_goldens.py) and trtserve's RF-DETR layout on the same
// numbers give the same detections: count, order, classes (the background
// class removed, the labels after it shifted, the extra label dropped),
// boxes to the last bit; confidences within 4 float32 steps: numpy 2.2's
// float32 exp (AVX2/AVX512F loops) is up to 2 ulps from the exact exp Go
// rounds to float32, which the sigmoid's division carries to 3 (measured
// on these outputs: 31 of 1500 scores 2 or 3 steps apart, none more). Where
// numpy runs without AVX2 it calls libm instead, so inference-core's own
// confidences move by as much from one CPU to another.
func TestRFDETRDecodeMatchesInferenceCore(t *testing.T) {
	var g struct {
		ClassNames []string `json:"class_names"`
		InputSize  []int    `json:"input_size"`
		Cases      []struct {
			Image  string `json:"image"`
			Params struct {
				Confidence    float64 `json:"confidence"`
				MaxDetections int     `json:"max_detections"`
			} `json:"params"`
			ImageSize struct{ Width, Height int } `json:"image_size"`
			Raw       *struct {
				Dets        string  `json:"dets"`
				DetsShape   []int64 `json:"dets_shape"`
				Labels      string  `json:"labels"`
				LabelsShape []int64 `json:"labels_shape"`
			} `json:"raw_output"`
			Post []goldenPred `json:"postprocess_predictions"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(readGz(t, "rfdetr-stretch.json.gz"), &g); err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, c := range g.Cases {
		if c.Raw == nil {
			continue
		}
		spec := &model.Spec{Task: model.ObjectDetection, OutputLayout: model.LayoutRFDETR,
			ClassNames: append([]string(nil), g.ClassNames...), InputWidth: g.InputSize[0], InputHeight: g.InputSize[1]}
		// what the repository's RF-DETR family does with the class list
		if spec.ClassNames[0] != "background_class83422" {
			t.Fatalf("class names %v: the golden model has Roboflow's background class first", spec.ClassNames)
		}
		spec.OneIndexed, spec.BackgroundClass, spec.ClassNames = true, 0, spec.ClassNames[1:]
		outputs := []model.TensorInfo{{Name: "dets", Shape: c.Raw.DetsShape}, {Name: "labels", Shape: c.Raw.LabelsShape}}
		if err := (Detection{}).Validate(spec, outputs); err != nil {
			t.Fatal(err)
		}
		out := [][]float32{readFloats(t, c.Raw.Dets), readFloats(t, c.Raw.Labels)}
		f := &Frame{Geo: vision.NewGeometry(model.Stretch, c.ImageSize.Width, c.ImageSize.Height, spec.InputWidth, spec.InputHeight),
			Width: c.ImageSize.Width, Height: c.ImageSize.Height}
		opts := DetectOptions{NMS: vision.NMSOptions{Confidence: c.Params.Confidence, MaxDetections: c.Params.MaxDetections}}
		got, err := (Detection{}).Postprocess(spec, outputs, out, f, opts)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(c.Post) || len(got) == 0 {
			t.Fatalf("%s conf %.2f: %d detections, inference-core %d", c.Image, c.Params.Confidence, len(got), len(c.Post))
		}
		for i, w := range c.Post {
			d := got[i]
			ulp := 4 * (float64(math.Nextafter32(float32(w.Confidence), 2)) - w.Confidence)
			if d.X != w.X || d.Y != w.Y || d.Width != w.Width || d.Height != w.Height || d.ClassID != w.ClassID ||
				d.Class != w.Class || math.Abs(d.Confidence-w.Confidence) > ulp {
				t.Errorf("%s #%d: got %+v, inference-core %+v", c.Image, i, d, w)
			}
		}
		checked++
	}
	if checked == 0 {
		t.Fatal("no case with raw outputs")
	}
}

// TestRFDETRLabels: the background class is dropped wherever it sits, the
// labels after it move down one, a label past the class list is dropped,
// and max_detections counts the dropped ones (inference-core ranks before
// it filters).
func TestRFDETRLabels(t *testing.T) {
	// two queries, four labels: background at 1, classes a, b, then "no object"
	spec := &model.Spec{OutputLayout: model.LayoutRFDETR, ClassNames: []string{"a", "b"}, OneIndexed: true, BackgroundClass: 1,
		InputWidth: 10, InputHeight: 10}
	boxes := []float32{0.5, 0.5, 0.2, 0.2, 0.25, 0.25, 0.1, 0.1}
	logits := []float32{3, 2, 1, 4, 0.5, -1, 0.7, 5}
	l := layout{anchors: 2, width: 4, nc: 2}
	dets, err := decodeRFDETR(spec, l, [][]float32{boxes, logits}, vision.NMSOptions{Confidence: 0.5, MaxDetections: 300})
	if err != nil {
		t.Fatal(err)
	}
	// ranked: q1 "no object" (5, dropped), q0 "no object" (4, dropped),
	// q0 label 0 "a" (3), q0 background (2, dropped), q0 label 2 -> "b" (1),
	// q1 label 2 -> "b" (0.7), q1 label 0 "a" (0.5)
	want := []int{0, 1, 1, 0}
	if len(dets) != len(want) {
		t.Fatalf("%d detections %+v, want %d", len(dets), dets, len(want))
	}
	for i, d := range dets {
		if d.ClassID != want[i] {
			t.Errorf("#%d class %d, want %d", i, d.ClassID, want[i])
		}
	}
	dets, _ = decodeRFDETR(spec, l, [][]float32{boxes, logits}, vision.NMSOptions{Confidence: 0.5, MaxDetections: 3})
	if len(dets) != 1 || dets[0].ClassID != 0 || dets[0].Confidence != sigmoid32(3) {
		t.Errorf("max_detections 3: %+v, want the one class-a detection of the top 3", dets)
	}
}

// The YOLO-NAS and RF-DETR layouts refuse, at load, outputs that are not
// theirs, naming what they expected.
func TestValidateYOLONASAndRFDETR(t *testing.T) {
	ti := func(name string, shape ...int64) model.TensorInfo {
		return model.TensorInfo{Name: name, DataType: model.FP32, Shape: shape}
	}
	nas := []model.TensorInfo{ti("913", 1, 2100, 4), ti("904", 1, 2100, 80)}
	rf := []model.TensorInfo{ti("dets", 1, 300, 4), ti("labels", 1, 300, 5)}
	rfSeg := append(append([]model.TensorInfo{}, rf...), ti("masks", 1, 300, 28, 28))
	for _, c := range []struct {
		name    string
		task    model.Task
		layout  model.OutputLayout
		classes int
		outputs []model.TensorInfo
		err     string
	}{
		{"nas", model.ObjectDetection, model.LayoutYOLONAS, 80, nas, ""},
		{"nas too many classes", model.ObjectDetection, model.LayoutYOLONAS, 81, nas, "names 81 classes but scores 80"},
		{"nas one output", model.ObjectDetection, model.LayoutYOLONAS, 80, nas[:1], "YOLO-NAS layout"},
		{"nas anchors differ", model.ObjectDetection, model.LayoutYOLONAS, 80, []model.TensorInfo{nas[0], ti("904", 1, 2000, 80)}, "the same anchors"},
		{"rfdetr", model.ObjectDetection, model.LayoutRFDETR, 4, rf, ""},
		{"rfdetr boxes of 5", model.ObjectDetection, model.LayoutRFDETR, 4, []model.TensorInfo{ti("dets", 1, 300, 5), rf[1]}, "RF-DETR layout"},
		{"rfdetr seg", model.InstanceSegmentation, model.LayoutRFDETR, 4, rfSeg, ""},
		{"rfdetr seg without masks", model.InstanceSegmentation, model.LayoutRFDETR, 4, rf, "masks [batch, queries, h, w]"},
		{"rfdetr seg masks per other queries", model.InstanceSegmentation, model.LayoutRFDETR, 4, []model.TensorInfo{rf[0], rf[1], ti("masks", 1, 200, 28, 28)}, "a mask per query"},
	} {
		spec := &model.Spec{Task: c.task, OutputLayout: c.layout, ClassNames: make([]string, c.classes), InputWidth: 112, InputHeight: 112}
		err := Validate(spec, c.outputs)
		if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("%s: %v, want %q", c.name, err, c.err)
		}
	}
}

// An RF-DETR instance's mask: the query's own mask logits, letterbox
// padding cropped off, resized to the image, > 0; its RLE is that mask at
// the image's size and its polygon that mask's outline.
func TestRFDETRSegmentMask(t *testing.T) {
	// one query, one class; input 8x8, masks 4x4; a 16x8 image letterboxed
	// black: scaled 8x4 at pad y 2, i.e. mask rows 1..2 hold the image.
	spec := &model.Spec{Task: model.InstanceSegmentation, OutputLayout: model.LayoutRFDETR, ClassNames: []string{"a"},
		InputWidth: 8, InputHeight: 8, Pre: model.Preprocessing{Resize: model.FitBlack}}
	outputs := []model.TensorInfo{{Name: "dets", Shape: []int64{1, 1, 4}}, {Name: "labels", Shape: []int64{1, 1, 2}},
		{Name: "masks", Shape: []int64{1, 1, 4, 4}}}
	boxes := []float32{0.5, 0.5, 0.5, 0.25}
	logits := []float32{4, -4}
	// padding rows (0 and 3) positive: they must be cropped away; in the
	// image rows, the left half is in, the right half out
	masks := []float32{
		9, 9, 9, 9,
		5, 5, -5, -5,
		5, 5, -5, -5,
		9, 9, 9, 9,
	}
	f := &Frame{Geo: vision.NewGeometry(model.FitBlack, 16, 8, 8, 8), Width: 16, Height: 8}
	o := SegmentOptions{DetectOptions: DetectOptions{NMS: vision.NMSOptions{Confidence: 0.5, MaxDetections: 300}},
		Mode: vision.MaskAccurate, Polygon: true, RLE: true}
	got, err := (Segmentation{}).Postprocess(spec, outputs, [][]float32{boxes, logits, masks}, f, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].RLE == nil || got[0].RLE.Width != 16 || got[0].RLE.Height != 8 {
		t.Fatalf("%+v", got)
	}
	// the 2x4 crop resized to 16x8: left 8 columns (and the blend's
	// zero crossing at the middle) positive, every row
	want := make([]uint8, 16*8)
	full := vision.ResizePlane([]float32{5, 5, -5, -5, 5, 5, -5, -5}, 4, 2, 16, 8)
	for i, v := range full {
		if v > 0 {
			want[i] = 1
		}
	}
	if got[0].RLE.Counts != vision.COCORLE(want, 16, 8) {
		t.Errorf("RLE %q, want %q", got[0].RLE.Counts, vision.COCORLE(want, 16, 8))
	}
	minX, maxX, minY, maxY := 99.0, -1.0, 99.0, -1.0
	for _, p := range got[0].Polygon {
		minX, maxX, minY, maxY = min(minX, p.X), max(maxX, p.X), min(minY, p.Y), max(maxY, p.Y)
	}
	if minX != 0 || minY != 0 || maxY != 7 || maxX < 6 || maxX > 8 {
		t.Errorf("polygon %v spans x %v..%v y %v..%v, want the left half of the 16x8 image", got[0].Polygon, minX, maxX, minY, maxY)
	}
	// the box: (0.25..0.75, 0.375..0.625) of the input, less pad y 2, over
	// scale 0.5: x 4..12, y 2..6
	if b := got[0].Box; b.X != 8 || b.Y != 4 || b.Width != 8 || b.Height != 4 {
		t.Errorf("box %+v", b)
	}
}
