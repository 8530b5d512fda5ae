package tasks

import (
	"fmt"
	"math"

	"github.com/trtserve/trtserve/model"
	"github.com/trtserve/trtserve/vision"
)

// RF-DETR's instance segmentation has no prototypes: its third output holds
// one mask (logits, [batch, queries, h, w] at a quarter of the input) per
// query. inference-core 1.8.3's RFDETRInstanceSegmentation keeps the
// detection class's (query, label) pairs and, per kept instance: crops a
// Fit mode's padding off the mask, resizes it (accurate: to the image;
// tradeoff: between; fast: not at all), thresholds it at 0, and scales its
// longest outer contour to the image. The detection layout's decode and
// rescale give the boxes; this file is the mask half.

// rfdetrMaskShape checks the detection outputs and the masks: one per
// query.
func rfdetrMaskShape(spec *model.Spec, outputs []model.TensorInfo) (layout, []int64, error) {
	l, err := checkRFDETR(spec, outputs)
	if err != nil {
		return l, nil, err
	}
	if len(outputs) != 3 || len(outputs[2].Shape) != 4 {
		return l, nil, badOutputs(spec, outputs, "must output %s and masks [batch, queries, h, w]", rfdetrWant)
	}
	ms := outputs[2].Shape
	if int(ms[1]) != l.anchors || ms[2] <= 0 || ms[3] <= 0 {
		return l, nil, badOutputs(spec, outputs, "must output a mask per query: masks [batch, %d, h, w]", l.anchors)
	}
	return l, ms, nil
}

// rfdetrSegment is Segmentation.Postprocess for the RF-DETR layout.
func rfdetrSegment(spec *model.Spec, outputs []model.TensorInfo, out [][]float32, f *Frame, o SegmentOptions) ([]Instance, error) {
	l, ms, err := rfdetrMaskShape(spec, outputs)
	if err != nil {
		return nil, err
	}
	mh, mw := int(ms[2]), int(ms[3])
	if len(out[2]) != l.anchors*mh*mw {
		return nil, fmt.Errorf("RF-DETR masks hold %d values, want %d queries x %d x %d", len(out[2]), l.anchors, mh, mw)
	}
	dets, err := decodeRFDETR(spec, l, out, o.NMS)
	if err != nil {
		return nil, err
	}
	rescaleRFDETR(dets, f.Geo, f.CropX, f.CropY)
	g := f.Geo
	ow, oh := g.SrcW, g.SrcH
	// The letterbox padding, in mask pixels (Fit modes): Python's round()
	// of the input-pixel placement scaled to the mask.
	cx1, cy1, cx2, cy2 := 0, 0, mw, mh
	if g.Mode.IsFit() {
		_, padX, padY, sw, sh := rfdetrLetterbox(g)
		iw, ih := float64(g.InW), float64(g.InH)
		cx1 = int(math.RoundToEven(padX * float64(mw) / iw))
		cy1 = int(math.RoundToEven(padY * float64(mh) / ih))
		cx2 = int(math.RoundToEven((padX + float64(sw)) * float64(mw) / iw))
		cy2 = int(math.RoundToEven((padY + float64(sh)) * float64(mh) / ih))
	}
	cw, ch := cx2-cx1, cy2-cy1
	if cw <= 0 || ch <= 0 {
		return nil, fmt.Errorf("RF-DETR mask crop %dx%d is empty", cw, ch)
	}
	res := make([]Instance, 0, len(dets))
	for _, d := range dets {
		b := box(spec, d)
		if !o.keep(b.Class) {
			continue
		}
		q := int(d.Extra[0])
		plane := out[2][q*mh*mw : (q+1)*mh*mw]
		crop := plane
		if cw != mw || ch != mh {
			crop = make([]float32, cw*ch)
			for y := 0; y < ch; y++ {
				copy(crop[y*cw:(y+1)*cw], plane[(y+cy1)*mw+cx1:])
			}
		}
		tw, th := ow, oh
		switch o.Mode {
		case vision.MaskFast:
			tw, th = cw, ch
		case vision.MaskTradeoff:
			t := o.Tradeoff
			tw, th = int(float64(cw)*(1-t)+float64(ow)*t), int(float64(ch)*(1-t)+float64(oh)*t)
		}
		soft := crop
		if tw != cw || th != ch {
			soft = vision.ResizePlane(crop, cw, ch, tw, th)
		}
		in := Instance{Box: b}
		if o.Polygon {
			m := binarize(soft, tw, th)
			pts := vision.LongestExternalContour(m)
			sx, sy := float32(float64(ow)/float64(tw)), float32(float64(oh)/float64(th))
			in.Polygon = make([]vision.Point, len(pts))
			for i, p := range pts {
				in.Polygon[i] = vision.Point{X: float64(float32(p[0]) * sx), Y: float64(float32(p[1]) * sy)}
			}
		}
		if o.RLE {
			full := soft
			if tw != ow || th != oh {
				full = vision.ResizePlane(crop, cw, ch, ow, oh)
			}
			in.RLE = &RLE{Width: ow, Height: oh, Counts: vision.COCORLE(binarize(full, ow, oh).Pix, ow, oh)}
		}
		res = append(res, in)
	}
	return res, nil
}

// binarize is the class's mask > 0.
func binarize(v []float32, w, h int) vision.Mask {
	m := vision.Mask{Pix: make([]uint8, w*h), W: w, H: h}
	for i, x := range v {
		if x > 0 {
			m.Pix[i] = 1
		}
	}
	return m
}
