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

// Validate checks the first output's layout against the model's classes.
func (Detection) Validate(spec *model.Spec, outputs []model.TensorInfo) error {
	_, err := detectionLayout(spec, outputs)
	return err
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
	dets, err := decode(spec, outputs, out, o.NMS)
	if err != nil {
		return nil, err
	}
	rescale(spec, dets, f)
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
