package vision

import (
	"math"
	"testing"

	"github.com/trtserve/trtserve/model"
)

type segGolden struct {
	Resize string `json:"resize"`
	Input  [2]int `json:"input_size"`
	Cases  []struct {
		Image  string `json:"image"`
		Params struct {
			Confidence float64 `json:"confidence"`
			IoU        float64 `json:"iou_threshold"`
			Mode       string  `json:"mask_decode_mode"`
			Tradeoff   float64 `json:"tradeoff_factor"`
		} `json:"params"`
		ImageSize struct{ Width, Height int } `json:"image_size"`
		Raw       *goldenRaw                  `json:"raw_output"`
		Post      []struct {
			goldenPred
			Points []Point `json:"points"`
		} `json:"postprocess_predictions"`
		Masks []struct {
			Shape [2]int `json:"shape"`
			Bits  []byte `json:"bits"` // np.packbits, most significant bit first
		} `json:"masks"`
	} `json:"cases"`
}

// TestSegmentationGoldens runs the seg model's raw outputs through
// DecodeBoxes, DecodeMask in each mode, LongestExternalContour and Polygon,
// and wants inference-core's answers: same detections; in fast and
// accurate modes the same polygons, vertex for vertex (1 px of slack); in
// tradeoff mode the same masks except pixels that sit on the 0.5 threshold
// within float rounding (OpenCV's resize by a non-dyadic factor rounds
// differently from any portable code, and this random-weight model has
// plateaus of logits at exactly 0), with polygons compared where the masks
// agree. The lowest mask IoU is logged.
func TestSegmentationGoldens(t *testing.T) {
	for _, name := range []string{"seg-stretch", "seg-fitgrey"} {
		var g segGolden
		loadGolden(t, name, &g)
		mode := resizeOf(g.Resize)
		polys, exact, minIoU := 0, 0, 1.0
		for _, c := range g.Cases {
			if c.Raw == nil {
				continue
			}
			out := readFloats(t, c.Raw.File)
			ps := c.Raw.ProtosShape
			protos := Protos{Data: readFloats(t, c.Raw.Protos), C: ps[1], H: ps[2], W: ps[3]}
			ch, anchors := c.Raw.Shape[1], c.Raw.Shape[2]
			dets, err := DecodeBoxes(out, YOLOv8, anchors, ch-4-ps[1], ps[1], NMSOptions{
				Confidence: c.Params.Confidence, IoUThreshold: c.Params.IoU, MaxDetections: 300,
			})
			if err != nil {
				t.Fatal(err)
			}
			mm, err := ParseMaskMode(c.Params.Mode)
			if err != nil {
				t.Fatal(err)
			}
			geo := NewGeometry(mode, c.ImageSize.Width, c.ImageSize.Height, g.Input[1], g.Input[0])
			if len(dets) != len(c.Post) {
				t.Fatalf("%s %s %s: %d detections, golden %d", name, c.Image, c.Params.Mode, len(dets), len(c.Post))
			}
			for i, d := range dets {
				m := DecodeMask(d.Extra, protos, [4]float32{d.X1, d.Y1, d.X2, d.Y2}, g.Input[1], g.Input[0], mm, c.Params.Tradeoff)
				got := Polygon(LongestExternalContour(m), m.W, m.H, geo, 0, 0)
				want := c.Post[i].Points
				polys++
				if mm == MaskTradeoff {
					// Tradeoff resizes by a non-dyadic factor: OpenCV (with
					// IPP) rounds its interpolation differently from any
					// portable code, and this random-weight model has whole
					// plateaus of logits at exactly 0 (sigmoid 0.5, the
					// threshold), so single pixels flip and near-tie
					// contours can swap. The masks are what must agree.
					gm := c.Masks[i]
					if gm.Shape != [2]int{m.H, m.W} {
						t.Fatalf("%s %s tradeoff #%d: mask %dx%d, golden %v", name, c.Image, i, m.W, m.H, gm.Shape)
					}
					vals, _, _ := maskValues(d.Extra, protos, [4]float32{d.X1, d.Y1, d.X2, d.Y2}, g.Input[1], g.Input[0], mm, c.Params.Tradeoff)
					var inter, union int
					for k, v := range m.Pix {
						g := gm.Bits[k/8]>>(7-k%8)&1 == 1
						if v == 1 && g {
							inter++
						}
						if v == 1 || g {
							union++
						}
						if (v == 1) != g && math.Abs(float64(vals[k])-0.5) > 1e-5 {
							t.Errorf("%s %s tradeoff #%d pixel %d: %v, inference-core says %v, not a threshold tie", name, c.Image, i, k, vals[k], g)
						}
					}
					iou := 1.0
					if union > 0 {
						iou = float64(inter) / float64(union)
					}
					minIoU = math.Min(minIoU, iou)
					if inter != union {
						continue // polygons of differing masks may legitimately differ
					}
				}
				if len(got) != len(want) {
					t.Errorf("%s %s %s #%d: %d vertices, golden %d", name, c.Image, c.Params.Mode, i, len(got), len(want))
					continue
				}
				same := true
				for j := range got {
					dx, dy := math.Abs(got[j].X-want[j].X), math.Abs(got[j].Y-want[j].Y)
					if dx > 1/geoScale(geo)+1e-3 || dy > 1/geoScale(geo)+1e-3 {
						t.Errorf("%s %s %s #%d vertex %d: %+v, golden %+v", name, c.Image, c.Params.Mode, i, j, got[j], want[j])
						break
					}
					same = same && dx < 1e-3 && dy < 1e-3
				}
				if same {
					exact++
				}
			}
		}
		t.Logf("%s: %d polygons, %d identical to the vertex; tradeoff mask IoU >= %.4f", name, polys, exact, minIoU)
		if polys == 0 {
			t.Fatalf("%s: no polygons checked", name)
		}
	}
}

// geoScale is model-input pixels per image pixel (a mask pixel maps to
// 1/scale image pixels, so "1 px" of mask error is that much in the image).
func geoScale(g Geometry) float64 {
	return math.Min(float64(g.InW)/float64(g.SrcW), float64(g.InH)/float64(g.SrcH))
}

// BenchmarkMasks: masks and polygons for every detection the seg model
// makes on bus.jpg at confidence 0.4, per decode mode:
//
//	go test -run '^$' -bench Masks ./vision/
func BenchmarkMasks(b *testing.B) {
	out := readFloats(b, "seg-stretch-bus.bin.gz")
	protos := Protos{Data: readFloats(b, "seg-stretch-bus-protos.bin.gz"), C: 32, H: 80, W: 80}
	dets, err := DecodeBoxes(out, YOLOv8, 2100, 80, 32, NMSOptions{Confidence: 0.4, IoUThreshold: 0.3, MaxDetections: 300})
	if err != nil {
		b.Fatal(err)
	}
	geo := NewGeometry(model.Stretch, 810, 1080, 320, 320)
	for _, mode := range []MaskMode{MaskFast, MaskAccurate, MaskTradeoff} {
		b.Run([]string{"accurate", "fast", "tradeoff-0.5"}[mode], func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				for _, d := range dets {
					m := DecodeMask(d.Extra, protos, [4]float32{d.X1, d.Y1, d.X2, d.Y2}, 320, 320, mode, 0.5)
					Polygon(LongestExternalContour(m), m.W, m.H, geo, 0, 0)
				}
			}
			b.ReportMetric(float64(len(dets)), "masks/op")
		})
	}
}
