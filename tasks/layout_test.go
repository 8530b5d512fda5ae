package tasks

import (
	"errors"
	"math/rand"
	"reflect"
	"strings"
	"testing"

	"github.com/trtserve/trtserve/model"
	"github.com/trtserve/trtserve/vision"
)

// Every layout a model can name decodes; YOLOv7's segmentation outputs
// (five, prototypes last) are accepted where YOLOv5's two are, and the
// other way round is refused with the reason.
func TestLayoutsValidate(t *testing.T) {
	rows := out("output", -1, 6300, 5+3+32)
	protos := out("protos", -1, 32, 80, 80)
	raw := []model.TensorInfo{out("p3", -1, 3, 40, 40, 40), out("p4", -1, 3, 20, 20, 40), out("p5", -1, 3, 10, 10, 40)}
	v7 := append(append([]model.TensorInfo{rows}, raw...), protos)
	seg := func(l model.OutputLayout) model.Spec {
		return model.Spec{Task: model.InstanceSegmentation, OutputLayout: l, ClassNames: names(3)}
	}
	for _, c := range []struct {
		name    string
		spec    model.Spec
		outputs []model.TensorInfo
		err     string
	}{
		{"yolov7 segmentation", seg(model.LayoutYOLOv7), v7, ""},
		{"yolov7 detection", model.Spec{Task: model.ObjectDetection, OutputLayout: model.LayoutYOLOv7, ClassNames: names(3)}, v7, ""},
		{"yolov5 segmentation", seg(model.LayoutYOLOv5), []model.TensorInfo{rows, protos}, ""},
		{"yolov5 segmentation of a yolov7 export", seg(model.LayoutYOLOv5), v7, "[batch, masks, h, w] prototypes"},
		{"yolov7 segmentation of a yolov5 export", seg(model.LayoutYOLOv7), []model.TensorInfo{rows, protos}, "[batch, masks, h, w] prototypes"},
		{"unknown layout", model.Spec{Task: model.ObjectDetection, OutputLayout: "yolov99"}, []model.TensorInfo{rows}, `no output layout "yolov99"`},
	} {
		t.Run(c.name, func(t *testing.T) {
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

// A YOLOv7 segmentation model answers exactly what the same rows and
// prototypes answer as a YOLOv5 one: only where the prototypes are differs.
func TestYOLOv7SegmentationIsYOLOv5s(t *testing.T) {
	const anchors, nc, nm, ph = 300, 3, 4, 8
	r := rand.New(rand.NewSource(1))
	rows := make([]float32, anchors*(5+nc+nm))
	for a := 0; a < anchors; a++ {
		v := rows[a*(5+nc+nm):]
		v[0], v[1], v[2], v[3] = r.Float32()*64, r.Float32()*64, 4+r.Float32()*20, 4+r.Float32()*20
		for k := 4; k < 5+nc; k++ {
			v[k] = r.Float32()
		}
		for k := 5 + nc; k < len(v) && k < 5+nc+nm; k++ {
			v[k] = r.Float32()*2 - 1
		}
	}
	protos := make([]float32, nm*ph*ph)
	for i := range protos {
		protos[i] = r.Float32()*2 - 1
	}
	rowsInfo, protosInfo := out("output", 1, anchors, 5+nc+nm), out("protos", 1, nm, ph, ph)
	rawInfo := out("p3", 1, 3, 8, 8, 5+nc+nm)
	f := &Frame{Geo: vision.NewGeometry(model.Stretch, 64, 64, 64, 64), Width: 64, Height: 64}
	o := SegmentOptions{DetectOptions: DetectOptions{NMS: vision.NMSOptions{Confidence: 0.3, IoUThreshold: 0.5, MaxDetections: 100, MaxCandidates: 3000}}, Mode: vision.MaskAccurate, Polygon: true, RLE: true}
	spec := model.Spec{Task: model.InstanceSegmentation, ClassNames: names(nc), InputWidth: 64, InputHeight: 64}

	spec.OutputLayout = model.LayoutYOLOv5
	want, err := Segmentation{}.Postprocess(&spec, []model.TensorInfo{rowsInfo, protosInfo}, [][]float32{rows, protos}, f, o)
	if err != nil || len(want) == 0 {
		t.Fatalf("yolov5: %d instances, %v", len(want), err)
	}
	spec.OutputLayout = model.LayoutYOLOv7
	got, err := Segmentation{}.Postprocess(&spec, []model.TensorInfo{rowsInfo, rawInfo, rawInfo, rawInfo, protosInfo},
		[][]float32{rows, nil, nil, nil, protos}, f, o)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("yolov7 answers differ from yolov5's:\n got  %+v\n want %+v", got, want)
	}
}
