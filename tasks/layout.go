package tasks

import (
	"fmt"
	"sort"
	"strings"

	"github.com/trtserve/trtserve/model"
	"github.com/trtserve/trtserve/vision"
)

// layout is where one anchor's values sit in a detection output: anchors
// boxes of width values each, nc class scores after the box (and, for
// yolov5, objectness), then extra values (mask coefficients, keypoints).
// A layout whose decoder needs more than this keeps it in its own
// decoder; this is what the tasks read.
type layout struct {
	kind                      vision.Layout
	anchors, width, nc, extra int
}

// layoutDecoder is one output layout (model.OutputLayout): how a family's
// raw outputs become detections. The detection-like tasks (detection,
// segmentation, keypoints) ask it for the geometry at load and for one
// image's detections per request; what they do with the extras (masks,
// keypoints) stays theirs. Each layout lives in tasks/layout_<name>.go and
// registers itself there, so a new family's outputs are one new file.
type layoutDecoder struct {
	// check reads the outputs' geometry and refuses, via badOutputs, a
	// model whose outputs cannot be this layout or cannot hold its classes.
	check func(spec *model.Spec, outputs []model.TensorInfo) (layout, error)
	// decode turns one image's outputs (out[i] is output i) into
	// detections in model-input pixels, NMS applied where the layout needs
	// it, extras attached, most confident first.
	decode func(spec *model.Spec, l layout, out [][]float32, nms vision.NMSOptions) ([]vision.Detection, error)
	// protos is the index of the prototype masks' output in an instance
	// segmentation model, which then has exactly protos+1 outputs; 0 when
	// the layout has no prototype masks.
	protos int
	// rescale, when not nil, maps this layout's boxes from model-input to
	// image pixels instead of vision.Rescale (end-to-end layouts: float32
	// arithmetic, see layout_endtoend.go).
	rescale func(dets []vision.Detection, g vision.Geometry, cropX, cropY int)
}

// rescale maps one image's detections to its pixels as the model's
// layout needs.
func rescale(spec *model.Spec, dets []vision.Detection, f *Frame) {
	if d, err := layoutOf(spec); err == nil && d.rescale != nil {
		d.rescale(dets, f.Geo, f.CropX, f.CropY)
		return
	}
	vision.Rescale(dets, f.Geo, f.CropX, f.CropY)
}

// layouts maps each model.OutputLayout to its decoder ("" is yolov8's,
// what a model says when nothing names a layout).
var layouts = map[model.OutputLayout]layoutDecoder{}

func registerLayout(name model.OutputLayout, d layoutDecoder) {
	if _, dup := layouts[name]; dup {
		panic("tasks: layout " + string(name) + " registered twice")
	}
	layouts[name] = d
}

// layoutOf is the decoder of the model's output layout.
func layoutOf(spec *model.Spec) (layoutDecoder, error) {
	name := spec.OutputLayout
	if name == "" {
		name = model.LayoutYOLOv8
	}
	if d, ok := layouts[name]; ok {
		return d, nil
	}
	names := make([]string, 0, len(layouts))
	for n := range layouts {
		names = append(names, string(n))
	}
	sort.Strings(names)
	return layoutDecoder{}, fmt.Errorf("%w: no output layout %q (trtserve reads %s)", model.ErrBadModel, name, strings.Join(names, ", "))
}

// detectionLayout reads the outputs' geometry per the model's layout.
func detectionLayout(spec *model.Spec, outputs []model.TensorInfo) (layout, error) {
	d, err := layoutOf(spec)
	if err != nil {
		return layout{}, err
	}
	return d.check(spec, outputs)
}

// decode reads one image's outputs per the model's layout: detections in
// model-input pixels, extras attached.
func decode(spec *model.Spec, outputs []model.TensorInfo, out [][]float32, nms vision.NMSOptions) ([]vision.Detection, error) {
	d, err := layoutOf(spec)
	if err != nil {
		return nil, err
	}
	l, err := d.check(spec, outputs)
	if err != nil {
		return nil, err
	}
	nms.TrueIoU = spec.NMS == model.NMSUltralytics
	return d.decode(spec, l, out, nms)
}

// anchorRows is the check shared by the YOLO layouts that give every
// anchor a row of width values: head values (box, objectness) then the
// classes, then extras. A model naming fewer classes than the values after
// the head has extra values (e.g. mask coefficients); one naming more has
// an output that cannot hold its classes.
func anchorRows(spec *model.Spec, outputs []model.TensorInfo, l layout, head int, want string) (layout, error) {
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

// decodeRows is the decode of the anchor-row layouts: vision's YOLO box
// decoding and NMS on the first output.
func decodeRows(_ *model.Spec, l layout, out [][]float32, nms vision.NMSOptions) ([]vision.Detection, error) {
	return vision.DecodeBoxes(out[0], l.kind, l.anchors, l.nc, l.extra, nms)
}
