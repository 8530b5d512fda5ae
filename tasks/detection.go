package tasks

import (
	"github.com/trtserve/trtserve/model"
	"github.com/trtserve/trtserve/vision"
)

// Detection is object detection: YOLO boxes, NMS, boxes mapped back to the
// image.
type Detection struct{}

func init() { register(model.ObjectDetection, Detection{}) }

// DetectOptions are a detection request's knobs.
type DetectOptions struct {
	NMS vision.NMSOptions
	// ClassFilter keeps only the named classes (empty: all).
	ClassFilter map[string]bool
}

// Box is one detection in original-image pixels: centre, size, class.
type Box struct {
	X, Y, Width, Height float64
	Confidence          float64
	ClassID             int
	Class               string
}

// layout is where one anchor's values sit in a detection output: anchors
// boxes of width values each, nc class scores after the box (and, for
// yolov5, objectness), then extra values (mask coefficients, keypoints).
type layout struct {
	kind                      vision.Layout
	anchors, width, nc, extra int
}

// detectionLayout reads the first output per the model's layout: yolov8
// [batch, 4+classes+extra, anchors] or yolov5 [batch, anchors,
// 5+classes+extra]. A model naming fewer classes than the values after the
// box has extra values (e.g. mask coefficients); one naming more has an
// output that cannot hold its classes.
func detectionLayout(spec *model.Spec, outputs []model.TensorInfo) (layout, error) {
	want := "[batch, 4+classes, anchors] (yolov8 layout)"
	if spec.OutputLayout == model.LayoutYOLOv5 {
		want = "[batch, anchors, 5+classes] (yolov5 layout)"
	}
	if len(outputs) == 0 || len(outputs[0].Shape) != 3 {
		return layout{}, badOutputs(spec, outputs, "the first output must be %s", want)
	}
	shape := outputs[0].Shape
	l := layout{kind: vision.YOLOv8, anchors: int(shape[2]), width: int(shape[1])}
	head := 4
	if spec.OutputLayout == model.LayoutYOLOv5 {
		l.kind, l.anchors, l.width = vision.YOLOv5, int(shape[1]), int(shape[2])
		head = 5
	}
	l.nc = l.width - head
	if l.anchors <= 0 || l.nc <= 0 {
		return layout{}, badOutputs(spec, outputs, "the first output must be %s with at least one class and one anchor", want)
	}
	if n := len(spec.ClassNames); n > l.nc {
		return layout{}, badOutputs(spec, outputs, "the model names %d classes but its first output holds %d values per anchor after the box: it must be %s", n, l.nc, want)
	} else if n > 0 {
		l.nc = n // the rest are extras
	}
	l.extra = l.width - head - l.nc
	return l, nil
}

// Validate checks the first output's layout against the model's classes.
func (Detection) Validate(spec *model.Spec, outputs []model.TensorInfo) error {
	_, err := detectionLayout(spec, outputs)
	return err
}

// decode reads one image's detection output per the model's layout and
// runs NMS: detections in model-input pixels, extras attached.
func decode(spec *model.Spec, outputs []model.TensorInfo, out []float32, nms vision.NMSOptions) ([]vision.Detection, error) {
	l, err := detectionLayout(spec, outputs)
	if err != nil {
		return nil, err
	}
	nms.TrueIoU = spec.NMS == model.NMSUltralytics
	return vision.DecodeBoxes(out, l.kind, l.anchors, l.nc, l.extra, nms)
}

// box is a detection already mapped to image pixels, as a Box.
func box(spec *model.Spec, d vision.Detection) Box {
	x1, y1, x2, y2 := float64(d.X1), float64(d.Y1), float64(d.X2), float64(d.Y2)
	return Box{
		X: (x1 + x2) / 2, Y: (y1 + y2) / 2, Width: x2 - x1, Height: y2 - y1,
		Confidence: float64(d.Confidence), ClassID: d.ClassID, Class: spec.ClassName(d.ClassID),
	}
}

// Postprocess decodes one image's boxes, most confident first.
func (Detection) Postprocess(spec *model.Spec, outputs []model.TensorInfo, out [][]float32, f *Frame, o DetectOptions) ([]Box, error) {
	dets, err := decode(spec, outputs, out[0], o.NMS)
	if err != nil {
		return nil, err
	}
	vision.Rescale(dets, f.Geo, f.CropX, f.CropY)
	boxes := make([]Box, 0, len(dets))
	for _, d := range dets {
		if b := box(spec, d); o.keep(b.Class) {
			boxes = append(boxes, b)
		}
	}
	return boxes, nil
}

func (o *DetectOptions) keep(class string) bool {
	return len(o.ClassFilter) == 0 || o.ClassFilter[class]
}

// Overlays are the boxes with their labels.
func (Detection) Overlays(spec *model.Spec, boxes []Box) []vision.Overlay {
	out := make([]vision.Overlay, len(boxes))
	for i, b := range boxes {
		out[i] = boxOverlay(spec, b)
	}
	return out
}

// NMSOptions are the request's non-maximum suppression knobs (vision's,
// named here so protocol adapters need not import vision).
type NMSOptions = vision.NMSOptions
