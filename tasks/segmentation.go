package tasks

import (
	"fmt"

	"github.com/trtserve/trtserve/model"
	"github.com/trtserve/trtserve/vision"
)

// Segmentation is instance segmentation: detection boxes whose extra
// values are mask coefficients over the model's prototype masks (its
// second output).
type Segmentation struct{}

func init() { register(model.InstanceSegmentation, Segmentation{}) }

// SegmentOptions are a segmentation request's knobs.
type SegmentOptions struct {
	DetectOptions
	Mode     vision.MaskMode
	Tradeoff float64
	// Polygon and RLE say which mask forms to compute.
	Polygon, RLE bool
}

// Instance is one detected object with its mask: the mask's longest
// outer contour (Polygon) and/or the whole mask in image pixels (RLE).
type Instance struct {
	Box
	Polygon []vision.Point
	RLE     *RLE
}

// RLE is COCO's compressed run-length encoding of a mask the size of the
// image.
type RLE struct {
	Width, Height int
	Counts        string
}

// protoShape checks the outputs are a detection output and [batch, masks,
// h, w] prototypes (where the layout puts them: the second output for
// YOLOv5 and YOLOv8), with a mask coefficient per prototype after each
// anchor's classes. It returns the prototypes' output index and shape.
func protoShape(spec *model.Spec, outputs []model.TensorInfo) (layout, int, []int64, error) {
	d, err := layoutOf(spec)
	if err != nil {
		return layout{}, 0, nil, err
	}
	p := d.protos
	if p <= 0 || len(outputs) != p+1 || len(outputs[p].Shape) != 4 {
		return layout{}, 0, nil, badOutputs(spec, outputs, "must output detections and [batch, masks, h, w] prototypes")
	}
	l, err := d.check(spec, outputs)
	if err != nil {
		return l, 0, nil, err
	}
	ps := outputs[p].Shape
	if ps[1] <= 0 || ps[2] <= 0 || ps[3] <= 0 {
		return l, 0, nil, badOutputs(spec, outputs, "the prototypes %s have no masks", outputs[p].Name)
	}
	if l.extra < int(ps[1]) {
		return l, 0, nil, badOutputs(spec, outputs, "each anchor has %d values after its %d classes, the %d prototypes need as many mask coefficients", l.extra, l.nc, ps[1])
	}
	return l, p, ps, nil
}

// Validate checks the detection output and the prototypes.
func (Segmentation) Validate(spec *model.Spec, outputs []model.TensorInfo) error {
	if spec.OutputLayout == model.LayoutRFDETR { // masks per query, no prototypes (rfdetr_seg.go)
		_, _, err := rfdetrMaskShape(spec, outputs)
		return err
	}
	_, _, _, err := protoShape(spec, outputs)
	return err
}

// Postprocess decodes one image's instances, most confident first. Masks
// are computed only for the instances the class filter keeps.
func (Segmentation) Postprocess(spec *model.Spec, outputs []model.TensorInfo, out [][]float32, f *Frame, o SegmentOptions) ([]Instance, error) {
	if spec.OutputLayout == model.LayoutRFDETR {
		return rfdetrSegment(spec, outputs, out, f, o)
	}
	_, p, ps, err := protoShape(spec, outputs)
	if err != nil {
		return nil, err
	}
	protos := vision.Protos{Data: out[p], C: int(ps[1]), H: int(ps[2]), W: int(ps[3])}
	dets, err := decode(spec, outputs, out, o.NMS)
	if err != nil {
		return nil, err
	}
	res := make([]Instance, 0, len(dets))
	inW, inH := spec.InputWidth, spec.InputHeight
	for _, d := range dets {
		if !o.keep(spec.ClassName(d.ClassID)) {
			continue
		}
		if len(d.Extra) < protos.C {
			return nil, fmt.Errorf("detection has %d mask coefficients, the prototypes %d", len(d.Extra), protos.C)
		}
		mask := vision.DecodeMask(d.Extra[:protos.C], protos, [4]float32{d.X1, d.Y1, d.X2, d.Y2}, inW, inH, o.Mode, o.Tradeoff)
		var in Instance
		if o.Polygon {
			in.Polygon = vision.Polygon(vision.LongestExternalContour(mask), mask.W, mask.H, f.Geo, f.CropX, f.CropY)
		}
		scaled := []vision.Detection{d}
		rescale(spec, scaled, f)
		in.Box = box(spec, scaled[0])
		if o.RLE {
			full := vision.MaskToImage(mask, f.Geo, f.CropX, f.CropY, f.Width, f.Height)
			in.RLE = &RLE{Width: f.Width, Height: f.Height, Counts: vision.COCORLE(full, f.Width, f.Height)}
		}
		res = append(res, in)
	}
	return res, nil
}

// Overlays are the boxes with their mask outlines filled.
func (Segmentation) Overlays(spec *model.Spec, instances []Instance) []vision.Overlay {
	out := make([]vision.Overlay, len(instances))
	for i, in := range instances {
		out[i] = boxOverlay(spec, in.Box)
		out[i].Polygon = in.Polygon
	}
	return out
}

// MaskMode is Roboflow's mask_decode_mode (vision's, named here so
// protocol adapters need not import vision).
type MaskMode = vision.MaskMode

// ParseMaskMode reads mask_decode_mode: accurate, fast or tradeoff.
func ParseMaskMode(s string) (MaskMode, error) { return vision.ParseMaskMode(s) }
