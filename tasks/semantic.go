package tasks

import (
	"fmt"
	"math"

	"github.com/trtserve/trtserve/model"
	"github.com/trtserve/trtserve/vision"
)

// SemanticSegmentation labels every pixel with one class, as inference-core
// 1.8.3's SemanticSegmentationBaseOnnxRoboflowInferenceModel does for
// DeepLabV3+: a softmax over the classes at each pixel of the model's
// [batch, classes, height, width] logits, the most probable class and its
// probability (scaled to 0..255 and rounded half to even, as torch.round
// does), both resized to the image with nearest-neighbour sampling
// (torch's interpolate mode="nearest"). Masks are 8-bit, as Roboflow's
// PNGs are, so a model may have at most 256 classes.
type SemanticSegmentation struct{}

func init() { register(model.SemanticSegmentation, SemanticSegmentation{}) }

// SemanticMask is one image's answer: two Width x Height 8-bit maps, row by
// row, at the size of the image (after orientation; a static crop is
// stretched back over the whole image, as inference-core does).
type SemanticMask struct {
	Width, Height int
	// ClassIDs is the most probable class of each pixel.
	ClassIDs []uint8
	// Confidence is that class's probability x 255, rounded.
	Confidence []uint8
	// Present lists the class ids that occur in ClassIDs, ascending.
	Present []int
}

// maxSemanticClasses is what an 8-bit class map can hold.
const maxSemanticClasses = 256

// semanticShape is the output's classes, height and width: the output's
// own dimensions, or the model's input size where they are dynamic
// (DeepLabV3+ answers at its input's resolution).
func semanticShape(spec *model.Spec, outputs []model.TensorInfo) (nc, h, w int, err error) {
	if len(outputs) == 0 || len(outputs[0].Shape) != 4 || outputs[0].Shape[1] <= 0 {
		return 0, 0, 0, badOutputs(spec, outputs, "the first output must be [batch, classes, height, width] logits")
	}
	s := outputs[0].Shape
	nc, h, w = int(s[1]), int(s[2]), int(s[3])
	if h <= 0 || w <= 0 {
		h, w = spec.InputHeight, spec.InputWidth
	}
	if nc > maxSemanticClasses {
		return 0, 0, 0, badOutputs(spec, outputs, "%d classes; semantic masks are 8-bit, at most %d", nc, maxSemanticClasses)
	}
	if n := len(spec.ClassNames); n > 0 && n != nc {
		return 0, 0, 0, badOutputs(spec, outputs, "the model names %d classes but its output has %d", n, nc)
	}
	return nc, h, w, nil
}

// Validate checks the output is per-pixel logits for the named classes.
func (SemanticSegmentation) Validate(spec *model.Spec, outputs []model.TensorInfo) error {
	_, _, _, err := semanticShape(spec, outputs)
	return err
}

// Postprocess labels one image. It takes no options: inference-core's
// semantic segmentation reads none (the request's confidence is accepted
// and unused).
func (SemanticSegmentation) Postprocess(spec *model.Spec, outputs []model.TensorInfo, out [][]float32, f *Frame, _ struct{}) (SemanticMask, error) {
	nc, h, w, err := semanticShape(spec, outputs)
	if err != nil {
		return SemanticMask{}, err
	}
	if len(out[0]) != nc*h*w {
		return SemanticMask{}, fmt.Errorf("semantic segmentation output has %d values, want %d x %d x %d", len(out[0]), nc, h, w)
	}
	ids, conf := SemanticMaps(out[0], nc, h, w)
	r := SemanticMask{Width: f.Width, Height: f.Height}
	r.ClassIDs = ResizeNearest(ids, w, h, f.Width, f.Height)
	r.Confidence = ResizeNearest(conf, w, h, f.Width, f.Height)
	var seen [maxSemanticClasses]bool
	for _, c := range r.ClassIDs {
		seen[c] = true
	}
	for c, ok := range seen {
		if ok {
			r.Present = append(r.Present, c)
		}
	}
	return r, nil
}

// SemanticMaps turns [classes, h, w] logits into each pixel's class and
// confidence at the model's resolution: the softmax in float32 as torch's
// CPU kernel computes it (subtract the maximum, SLEEF's exp, the sum in
// class order, divide), the first class of highest probability, and
// round(p x 255) half to even. A correctly rounded exp differs from
// SLEEF's in the last bit for about one value in twelve, which moves a
// rounded confidence now and then; with SLEEF's the maps are torch's bit
// for bit.
func SemanticMaps(logits []float32, nc, h, w int) (ids, conf []uint8) {
	plane := h * w
	ids, conf = make([]uint8, plane), make([]uint8, plane)
	e := make([]float32, nc)
	for i := 0; i < plane; i++ {
		hi := logits[i]
		for c := 1; c < nc; c++ {
			hi = max(hi, logits[c*plane+i])
		}
		var sum float32
		for c := 0; c < nc; c++ {
			e[c] = expf(logits[c*plane+i] - hi)
			sum += e[c]
		}
		best, bp := 0, e[0]/sum
		for c := 1; c < nc; c++ {
			if p := e[c] / sum; p > bp {
				best, bp = c, p
			}
		}
		ids[i] = uint8(best)
		conf[i] = uint8(math.RoundToEven(float64(bp * 255)))
	}
	return ids, conf
}

// expf is SLEEF's xexpf (1-ULP single precision, FMA build), which
// torch's vectorised CPU softmax calls through Vectorized<float>::exp:
// Cody-Waite reduction by ln 2 in two parts, a degree-6 polynomial,
// scaling by 2^q in two steps. FMA is computed exactly in float64 and
// rounded to float32 (double rounding can differ from a true float32 FMA
// only when the float64 result lands on a float32 tie: never in the
// goldens).
func expf(d float32) float32 {
	const (
		rLn2 = float32(1.442695040888963407359924681001892137426645954152985934135449406931)
		l2U  = float32(0.693145751953125)
		l2L  = float32(1.428606765330187045e-06)
	)
	fma := func(x, y, z float32) float32 { return float32(math.FMA(float64(x), float64(y), float64(z))) }
	q := float32(math.RoundToEven(float64(d * rLn2)))
	s := fma(q, -l2U, d)
	s = fma(q, -l2L, s)
	u := float32(0.000198527617612853646278381)
	u = fma(u, s, 0.00139304355252534151077271)
	u = fma(u, s, 0.00833336077630519866943359)
	u = fma(u, s, 0.0416664853692054748535156)
	u = fma(u, s, 0.166666671633720397949219)
	u = fma(u, s, 0.5)
	u = 1 + fma(s*s, u, s)
	qi := int32(q)
	u = u * pow2i(qi>>1) * pow2i(qi-qi>>1)
	if d < -104 {
		return 0
	}
	if d > 100 {
		return float32(math.Inf(1))
	}
	return u
}

// pow2i is 2^e for e in float32's normal exponent range.
func pow2i(e int32) float32 { return math.Float32frombits(uint32(e+127) << 23) }

// ResizeNearest resizes an 8-bit map as torch.nn.functional.interpolate
// (mode="nearest") does on CPU: source index floor(dst x in/out), the
// scale and the product in float32, clamped to the last row or column.
func ResizeNearest(src []uint8, sw, sh, dw, dh int) []uint8 {
	dst := make([]uint8, dw*dh)
	xs := nearestIndex(sw, dw)
	ys := nearestIndex(sh, dh)
	for y, sy := range ys {
		row, srow := dst[y*dw:(y+1)*dw], src[sy*sw:(sy+1)*sw]
		for x, sx := range xs {
			row[x] = srow[sx]
		}
	}
	return dst
}

// nearestIndex is torch's nearest_idx for each output index.
func nearestIndex(in, out int) []int {
	idx := make([]int, out)
	scale := float32(in) / float32(out)
	for i := range idx {
		switch {
		case out == in:
			idx[i] = i
		case out == 2*in:
			idx[i] = i >> 1
		default:
			idx[i] = min(int(math.Floor(float64(float32(i)*scale))), in-1)
		}
	}
	return idx
}

// Overlays draws nothing: inference-core 1.8.3 has no drawing of semantic
// masks (its detection drawing fails on them), so a visualisation is the
// image itself.
func (SemanticSegmentation) Overlays(*model.Spec, SemanticMask) []vision.Overlay { return nil }
