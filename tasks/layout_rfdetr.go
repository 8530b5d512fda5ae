package tasks

import (
	"fmt"
	"math"
	"sort"

	"github.com/trtserve/trtserve/model"
	"github.com/trtserve/trtserve/vision"
)

// RF-DETR, as the rfdetr package exports it, answers a fixed set of
// queries: output 0 is [batch, queries, 4] boxes (cx, cy, w, h normalised
// to the model input), output 1 [batch, queries, labels] class logits (the
// labels are the classes plus one), and a segmentation model's output 2
// [batch, queries, h, w] mask logits. inference-core 1.8.3's
// RFDETRObjectDetection runs no NMS: it takes the sigmoid of every
// (query, label) logit, keeps the max_detections highest scores over all
// of them, those above the confidence (strictly), drops Roboflow's
// background class (and shifts the labels after it down by one) and any
// label past the class list, and scales the boxes itself, in float32 and
// without rounding. decode does all of that but the scaling, leaving the
// corners normalised; rescaleRFDETR then scales them as the class does.

func init() {
	registerLayout(model.LayoutRFDETR, layoutDecoder{check: checkRFDETR, decode: decodeRFDETR, rescale: rescaleRFDETR})
}

const rfdetrWant = "boxes [batch, queries, 4] then class logits [batch, queries, labels] (RF-DETR layout)"

// checkRFDETR reads queries (anchors) and labels (width) from the boxes
// and logits; nc is the class list's length. A third output, when there
// is one, is the segmentation head's (rfdetrMasks checks it).
func checkRFDETR(spec *model.Spec, outputs []model.TensorInfo) (layout, error) {
	if len(outputs) < 2 || len(outputs[0].Shape) != 3 || len(outputs[1].Shape) != 3 {
		return layout{}, badOutputs(spec, outputs, "must output %s", rfdetrWant)
	}
	b, s := outputs[0].Shape, outputs[1].Shape
	if b[2] != 4 || b[1] <= 0 || s[1] != b[1] || s[2] <= 0 {
		return layout{}, badOutputs(spec, outputs, "must output %s, the same queries in both", rfdetrWant)
	}
	return layout{anchors: int(b[1]), width: int(s[2]), nc: len(spec.ClassNames)}, nil
}

// sigmoid32 is inference-core's sigmoid_stable on float32: exp(-|x|), then
// 1/(1+z) or z/(1+z), each step rounded to float32.
func sigmoid32(x float32) float32 {
	z := float32(math.Exp(-math.Abs(float64(x))))
	if x >= 0 {
		return 1 / (1 + z)
	}
	return z / (1 + z)
}

// decodeRFDETR is one image's kept (query, label) pairs, most confident
// first, with normalised corners.
func decodeRFDETR(spec *model.Spec, l layout, out [][]float32, o vision.NMSOptions) ([]vision.Detection, error) {
	boxes, logits := out[0], out[1]
	if len(boxes) != l.anchors*4 || len(logits) != l.anchors*l.width {
		return nil, fmt.Errorf("RF-DETR outputs hold %d box and %d logit values, want %d queries x 4 and x %d", len(boxes), len(logits), l.anchors, l.width)
	}
	// Top max_detections of all scores, then those above the threshold,
	// is the same set as the top max_detections of those above it:
	// threshold first, rank fewer.
	conf := float32(o.Confidence)
	type cand struct {
		score float32
		i     int
	}
	var cands []cand
	for i, x := range logits {
		if s := sigmoid32(x); s > conf {
			cands = append(cands, cand{s, i})
		}
	}
	sort.SliceStable(cands, func(a, b int) bool { return cands[a].score > cands[b].score })
	if o.MaxDetections >= 0 && len(cands) > o.MaxDetections {
		cands = cands[:o.MaxDetections]
	}
	dets := make([]vision.Detection, 0, len(cands))
	for _, c := range cands {
		q, label := c.i/l.width, c.i%l.width
		if spec.OneIndexed {
			if label == spec.BackgroundClass {
				continue
			}
			if label > spec.BackgroundClass {
				label--
			}
		}
		if n := len(spec.ClassNames); n > 0 && label >= n {
			continue // the "no object" label past the classes
		}
		b := boxes[q*4 : q*4+4]
		hw, hh := float32(0.5*b[2]), float32(0.5*b[3])
		dets = append(dets, vision.Detection{
			X1: b[0] - hw, Y1: b[1] - hh, X2: b[0] + hw, Y2: b[1] + hh,
			Confidence: c.score, ClassID: label,
			Extra: []float32{float32(q)}, // the query, for its mask
		})
	}
	return dets, nil
}

// rfdetrLetterbox is the class's own letterbox arithmetic (it recomputes
// the placement rather than asking the resize): scale, int() sizes, and
// half the slack as the offset.
func rfdetrLetterbox(g vision.Geometry) (scale, padX, padY float64, scaledW, scaledH int) {
	ow, oh := float64(g.SrcW), float64(g.SrcH)
	scale = math.Min(float64(g.InW)/ow, float64(g.InH)/oh)
	scaledW, scaledH = int(ow*scale), int(oh*scale)
	return scale, float64(g.InW-scaledW) / 2, float64(g.InH-scaledH) / 2, scaledW, scaledH
}

// rescaleRFDETR maps normalised corners to image pixels as the class
// does, every step in float32 (numpy keeps float32 arrays float32 against
// Python scalars): Stretch multiplies by the image size; Fit by the input
// size, less the padding, over the scale; then a clip to the image, and
// no rounding. With a static crop the class scales to the whole image's
// size and ignores the crop's offset; this scales to the crop's size (the
// geometry's source) and ignores the offset too, so boxes differ from
// inference-core's there (README: RF-DETR with a static crop).
func rescaleRFDETR(dets []vision.Detection, g vision.Geometry, _, _ int) {
	fw, fh := float32(g.SrcW), float32(g.SrcH)
	clip := func(v, hi float32) float32 { return max(0, min(v, hi)) }
	if !g.Mode.IsFit() {
		for i := range dets {
			d := &dets[i]
			d.X1, d.X2 = clip(float32(d.X1*fw), fw), clip(float32(d.X2*fw), fw)
			d.Y1, d.Y2 = clip(float32(d.Y1*fh), fh), clip(float32(d.Y2*fh), fh)
		}
		return
	}
	scale, padX, padY, _, _ := rfdetrLetterbox(g)
	s, px, py := float32(scale), float32(padX), float32(padY)
	iw, ih := float32(g.InW), float32(g.InH)
	for i := range dets {
		d := &dets[i]
		d.X1 = clip(float32(float32(d.X1*iw)-px)/s, fw)
		d.X2 = clip(float32(float32(d.X2*iw)-px)/s, fw)
		d.Y1 = clip(float32(float32(d.Y1*ih)-py)/s, fh)
		d.Y2 = clip(float32(float32(d.Y2*ih)-py)/s, fh)
	}
}
