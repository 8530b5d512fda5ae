package vision

import (
	"fmt"
	"math"
	"sort"
	"sync"
)

// bestsPool recycles DecodeBoxes' per-anchor best scores.
var bestsPool = sync.Pool{New: func() any { return new([]float32) }}

// Detection is one box in model-input pixels (after NMS) or, after
// Rescale, in original-image pixels.
type Detection struct {
	X1, Y1, X2, Y2 float32
	Confidence     float32
	ClassID        int
	// Extra holds the values after the class scores (mask coefficients,
	// keypoints), nil for plain detection.
	Extra []float32
}

// Layout says how a detection output tensor is arranged.
type Layout int

// Output layouts of YOLO exports.
const (
	// YOLOv8 (and v11): [4+nc+extra, N], class scores without objectness.
	YOLOv8 Layout = iota
	// YOLOv5: [N, 5+nc+extra], objectness at index 4. inference-core
	// scores a box by its objectness alone (its NMS reads column 4, which
	// for YOLOv8 outputs it fills with the best class score); Ultralytics
	// mode scores it, as yolov5's own NMS does, by objectness times the
	// class score.
	YOLOv5
)

// NMSOptions are the request knobs of Roboflow's object detection API.
type NMSOptions struct {
	Confidence    float64
	IoUThreshold  float64
	ClassAgnostic bool
	MaxDetections int
	// MaxCandidates caps the boxes entering NMS, highest confidence first
	// (Roboflow accepts the field but ignores it; trtserve honours it so
	// one noisy image cannot make NMS quadratic in the anchor count).
	MaxCandidates int
	// TrueIoU switches from inference-core's suppression to Ultralytics'
	// (ultralytics.utils.nms.non_max_suppression with torchvision's NMS):
	// intersection over union instead of intersection over the other box's
	// +1-pixel area, scores strictly above Confidence instead of at or
	// above, and class-aware suppression on boxes shifted by class × 7680
	// pixels in float32, as Ultralytics does it, so its rounding is ours.
	TrueIoU bool
}

// ultralyticsMaxWH is Ultralytics' max_wh: the per-class coordinate offset
// of its class-aware NMS.
const ultralyticsMaxWH = 7680

// DecodeBoxes reads one image's detection output (out: the image's slice of
// the output tensor, anchors N, nc classes, extra trailing values per
// anchor) and returns NMS-filtered detections sorted by confidence, in
// model-input pixels, exactly as inference-core's w_np_non_max_suppression:
// confidence = max class score (times objectness for YOLOv5), kept when
// >= Confidence, per-class (or agnostic) greedy suppression, then the
// MaxDetections most confident.
func DecodeBoxes(out []float32, layout Layout, anchors, nc, extra int, opts NMSOptions) ([]Detection, error) {
	var stride, step, first int // value k of anchor a is out[a*step + k*stride]
	switch layout {
	case YOLOv8:
		stride, step, first = anchors, 1, 4
	case YOLOv5:
		stride, step, first = 1, 5+nc+extra, 5
	}
	width := first + nc + extra
	if nc <= 0 || anchors <= 0 || len(out) != anchors*width {
		return nil, fmt.Errorf("detection output holds %d values, want %d anchors x %d", len(out), anchors, width)
	}
	at := func(a, k int) float32 { return out[a*step+k*stride] }
	conf := float32(opts.Confidence)
	var cands []Detection
	bestOf := func(a int) (float32, int) {
		best, bestK := at(a, first), 0
		for k := 1; k < nc; k++ {
			if v := at(a, first+k); v > best {
				best, bestK = v, k
			}
		}
		return best, bestK
	}
	var bests []float32
	if layout == YOLOv8 {
		// Class scores are rows of `anchors` floats: take each anchor's
		// best score row by row (sequential memory, SIMD in C: colMax),
		// and the class only of the anchors whose score passes — a few
		// dozen of thousands. Strict > in class order keeps the first
		// maximum, as argmax, so the class is the first row holding the
		// maximum (a NaN first score stays the best, class 0, as before).
		bp := bestsPool.Get().(*[]float32)
		defer bestsPool.Put(bp)
		if cap(*bp) < anchors {
			*bp = make([]float32, anchors)
		}
		bests = (*bp)[:anchors]
		colMax(out[first*anchors:(first+nc)*anchors], nc, anchors, bests)
		bestOf = func(a int) (float32, int) {
			best := bests[a]
			for k := 0; k < nc; k++ {
				if out[(first+k)*anchors+a] == best {
					return best, k
				}
			}
			return best, 0
		}
	}
	if layout == YOLOv5 && opts.TrueIoU {
		// yolov5 multiplies every class score by the objectness before it
		// takes the best, so a tie in the products goes to the first class.
		bestOf = func(a int) (float32, int) {
			obj := at(a, 4)
			best, bestK := at(a, first)*obj, 0
			for k := 1; k < nc; k++ {
				if v := at(a, first+k) * obj; v > best {
					best, bestK = v, k
				}
			}
			return best, bestK
		}
	}
	// numpy (and torch) compare float32 with the threshold cast to
	// float32; Ultralytics keeps only scores above it.
	pass := func(v float32) bool { return v >= conf && !(opts.TrueIoU && v == conf) }
	for a := 0; a < anchors; a++ {
		if layout == YOLOv5 && !pass(at(a, 4)) { // both filter on objectness first
			continue
		}
		if bests != nil && !pass(bests[a]) { // YOLOv8: the best class score is the score
			continue
		}
		score, bestK := bestOf(a)
		if layout == YOLOv5 && !opts.TrueIoU {
			score = at(a, 4)
		}
		if !pass(score) {
			continue
		}
		cx, cy, w, h := at(a, 0), at(a, 1), at(a, 2), at(a, 3)
		d := Detection{X1: cx - w/2, Y1: cy - h/2, X2: cx + w/2, Y2: cy + h/2, Confidence: score, ClassID: bestK}
		if extra > 0 {
			d.Extra = make([]float32, extra)
			for k := range d.Extra {
				d.Extra[k] = at(a, first+nc+k)
			}
		}
		cands = append(cands, d)
	}
	return suppressCandidates(cands, opts), nil
}

// suppressCandidates is the NMS every box decoding ends with: candidates
// (above the confidence) ranked, capped at MaxCandidates, suppressed per
// class (or agnostic), the MaxDetections most confident kept.
func suppressCandidates(cands []Detection, opts NMSOptions) []Detection {
	byConfidence(cands)
	if opts.MaxCandidates > 0 && len(cands) > opts.MaxCandidates {
		cands = cands[:opts.MaxCandidates]
	}
	var kept []Detection
	if opts.ClassAgnostic {
		kept = suppress(cands, opts)
	} else {
		byClass := map[int][]Detection{}
		var classes []int
		for _, d := range cands {
			if _, ok := byClass[d.ClassID]; !ok {
				classes = append(classes, d.ClassID)
			}
			byClass[d.ClassID] = append(byClass[d.ClassID], d)
		}
		sort.Ints(classes)
		for _, c := range classes {
			kept = append(kept, suppress(byClass[c], opts)...)
		}
		byConfidence(kept)
	}
	if opts.MaxDetections >= 0 && len(kept) > opts.MaxDetections {
		kept = kept[:opts.MaxDetections]
	}
	return kept
}

func byConfidence(d []Detection) {
	sort.SliceStable(d, func(i, j int) bool { return d[i].Confidence > d[j].Confidence })
}

// suppress is greedy NMS over boxes sorted by confidence, all of one class
// unless opts.ClassAgnostic. In Roboflow mode it is Malisiewicz's
// non_max_suppression_fast as inference-core has it, float32 arithmetic
// included: a box is dropped when its overlap with a kept box, divided by
// its own (+1-pixel) area, exceeds the threshold. In Ultralytics mode it is
// torchvision's nms on Ultralytics' class-shifted boxes. Products are
// converted to float32 before they are added so no platform fuses them
// into a multiply-add the references never do.
func suppress(boxes []Detection, opts NMSOptions) []Detection {
	removed := make([]bool, len(boxes))
	var keep []Detection
	for i := range boxes {
		if removed[i] {
			continue
		}
		a := boxes[i]
		keep = append(keep, a)
		var off float32
		if opts.TrueIoU && !opts.ClassAgnostic {
			off = float32(a.ClassID * ultralyticsMaxWH)
		}
		ax1, ay1, ax2, ay2 := a.X1+off, a.Y1+off, a.X2+off, a.Y2+off
		areaA := float32((ax2 - ax1) * (ay2 - ay1))
		for j := i + 1; j < len(boxes); j++ {
			if removed[j] {
				continue
			}
			b := boxes[j]
			var overlap float32
			if opts.TrueIoU {
				bx1, by1, bx2, by2 := b.X1+off, b.Y1+off, b.X2+off, b.Y2+off
				w := max(0, min(ax2, bx2)-max(ax1, bx1))
				h := max(0, min(ay2, by2)-max(ay1, by1))
				inter := float32(w * h)
				// 0/0 is NaN and suppresses nothing, as in torchvision.
				overlap = inter / (areaA + float32((bx2-bx1)*(by2-by1)) - inter)
			} else {
				w := max(0, min(a.X2, b.X2)-max(a.X1, b.X1)+1)
				h := max(0, min(a.Y2, b.Y2)-max(a.Y1, b.Y1)+1)
				overlap = float32(w*h) / float32((b.X2-b.X1+1)*(b.Y2-b.Y1+1))
			}
			if float64(overlap) > opts.IoUThreshold {
				removed[j] = true
			}
		}
	}
	return keep
}

// Rescale maps boxes from model-input pixels to original-image pixels as
// inference-core's post_process_bboxes does (in float64: its NMS returns
// boxes as float64): undo stretch or letterbox, clip to the image, round
// half to even. cropX/cropY shift boxes back when a static crop was applied
// first, and g.SrcW/SrcH are then the crop's size.
func Rescale(dets []Detection, g Geometry, cropX, cropY int) {
	ow, oh := float64(g.SrcW), float64(g.SrcH)
	for i := range dets {
		d := &dets[i]
		x1, y1, x2, y2 := float64(d.X1), float64(d.Y1), float64(d.X2), float64(d.Y2)
		if !g.Mode.IsFit() {
			sx, sy := ow/float64(g.InW), oh/float64(g.InH)
			x1, x2, y1, y2 = x1*sx, x2*sx, y1*sy, y2*sy
		} else {
			scale := math.Min(float64(g.InH)/oh, float64(g.InW)/ow)
			px := (float64(g.InW) - math.RoundToEven(ow*scale)) / 2
			py := (float64(g.InH) - math.RoundToEven(oh*scale)) / 2
			x1, x2 = (x1-px)/scale, (x2-px)/scale
			y1, y2 = (y1-py)/scale, (y2-py)/scale
		}
		d.X1 = roundClip(x1, ow) + float32(cropX)
		d.X2 = roundClip(x2, ow) + float32(cropX)
		d.Y1 = roundClip(y1, oh) + float32(cropY)
		d.Y2 = roundClip(y2, oh) + float32(cropY)
	}
}

func roundClip(v, hi float64) float32 {
	return float32(math.RoundToEven(math.Max(0, math.Min(v, hi))))
}

// Keypoint is one keypoint of a detection, in original-image pixels.
type Keypoint struct {
	X, Y, Confidence float64
	ID               int
}

// Keypoints maps the n (x, y, confidence) triples in each detection's Extra
// to original-image pixels as inference-core's post_process_keypoints
// does: Stretch scales; Fit undoes the letterbox with padding from int()
// truncated placement sizes (boxes round them: Rescale); then clip to the
// image, round half to even, and shift by the static crop.
func Keypoints(d Detection, n int, g Geometry, cropX, cropY int) []Keypoint {
	ow, oh := float64(g.SrcW), float64(g.SrcH)
	out := make([]Keypoint, 0, n)
	for k := 0; k < n && 3*k+2 < len(d.Extra); k++ {
		x, y := float64(d.Extra[3*k]), float64(d.Extra[3*k+1])
		if !g.Mode.IsFit() {
			x *= ow / float64(g.InW)
			y *= oh / float64(g.InH)
		} else {
			scale := math.Min(float64(g.InH)/oh, float64(g.InW)/ow)
			px := (float64(g.InW) - math.Trunc(ow*scale)) / 2
			py := (float64(g.InH) - math.Trunc(oh*scale)) / 2
			x, y = (x-px)/scale, (y-py)/scale
		}
		out = append(out, Keypoint{
			X:          float64(roundClip(x, ow)) + float64(cropX),
			Y:          float64(roundClip(y, oh)) + float64(cropY),
			Confidence: float64(d.Extra[3*k+2]),
			ID:         k,
		})
	}
	return out
}
