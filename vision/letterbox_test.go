package vision

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"testing"

	"github.com/trtserve/trtserve/model"
)

// letterboxGolden is testdata/goldens/letterbox-pixels.json.gz
// (scripts/fixtures/make_letterbox_goldens.py): per generated image, OpenCV's
// resize as inference-core's letterbox_image makes it, and per Fit mode
// where it goes, on which colour, and the hash of the whole letterbox.
type letterboxGolden struct {
	OpenCV string `json:"opencv"`
	Cases  []struct {
		Src     [2]int `json:"src"`
		Kind    string `json:"kind"`
		Seed    int    `json:"seed"`
		Input   [2]int `json:"input"`
		Resized [2]int `json:"resized"`
		Top     int    `json:"top"`
		Left    int    `json:"left"`
		Offset  int    `json:"offset"`
		Modes   []struct {
			Resize string `json:"resize"`
			Pad    uint8  `json:"pad"`
			SHA256 string `json:"sha256"`
		} `json:"modes"`
	} `json:"cases"`
}

// hash32 is lowbias32, the generator's pixel source (its twin is hash32 in
// make_letterbox_goldens.py).
func hash32(v uint32) uint32 {
	v ^= v >> 16
	v *= 0x7feb352d
	v ^= v >> 15
	v *= 0x846ca68b
	v ^= v >> 16
	return v
}

// sourcePixels is make_letterbox_goldens.py's pixels(): the same image,
// generated rather than stored.
func sourcePixels(t testing.TB, w, h int, kind string, seed int) *Image {
	img := &Image{Pix: make([]byte, w*h*3), W: w, H: h, SrcW: w, SrcH: h}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			for c := 0; c < 3; c++ {
				idx := (((uint64(seed)*uint64(h)+uint64(y))*uint64(w)+uint64(x))*3 + uint64(c)) & 0xffffffff
				hv := hash32(uint32(idx))
				var v uint8
				switch kind {
				case "noise":
					v = uint8(hv >> 24)
				case "grey":
					g := hash32(uint32((((uint64(seed)*uint64(h)+uint64(y))*uint64(w) + uint64(x)) * 3) & 0xffffffff))
					v = uint8(g >> 24)
				case "smooth":
					v = uint8(uint64(x)*200/uint64(w) + uint64(y)*55/uint64(h) + uint64(c)*20 + uint64(hv&1))
				default:
					t.Fatalf("unknown kind %q", kind)
				}
				img.Pix[(y*w+x)*3+c] = v
			}
		}
	}
	return img
}

// undelta undoes the generator's row delta coding (each byte stored minus
// its left neighbour of the same channel, mod 256).
func undelta(b []byte, w int) {
	for r := 0; r+3*w <= len(b); r += 3 * w {
		row := b[r : r+3*w]
		for i := 3; i < len(row); i++ {
			row[i] += row[i-3]
		}
	}
}

// TestLetterboxMatchesOpenCV: for every generated image and every Fit mode,
// trtserve's letterboxed tensor equals inference-core's (cv2.resize
// INTER_LINEAR on the 8-bit image, copyMakeBorder, /255) bit for bit. Sizes
// cover one pixel, one row and column, primes, extreme aspect ratios, up-
// and downscales, exact 2x, 1/2x (OpenCV's INTER_AREA path), 1/3x and 1/4x,
// a resize that is a copy, grey and colour.
func TestLetterboxMatchesOpenCV(t *testing.T) {
	var g letterboxGolden
	loadGolden(t, "letterbox-pixels", &g)
	blob := readGolden(t, "letterbox-pixels.bin.gz")
	if len(g.Cases) < 20 {
		t.Fatalf("%d cases: the golden is truncated", len(g.Cases))
	}
	checked := 0
	for _, c := range g.Cases {
		name := fmt.Sprintf("%dx%d-%s-to-%dx%d", c.Src[0], c.Src[1], c.Kind, c.Input[0], c.Input[1])
		t.Run(name, func(t *testing.T) {
			src := sourcePixels(t, c.Src[0], c.Src[1], c.Kind, c.Seed)
			nw, nh := c.Resized[0], c.Resized[1]
			region := append([]byte(nil), blob[c.Offset:c.Offset+nw*nh*3]...)
			undelta(region, nw)

			// The resize alone, byte for byte.
			got := ResizeLinear8(src, nw, nh)
			if n := countDiff(got.Pix, region); n != 0 {
				t.Errorf("ResizeLinear8 %dx%d -> %dx%d: %d of %d bytes differ from OpenCV %s", c.Src[0], c.Src[1], nw, nh, n, len(region), g.OpenCV)
			}

			iw, ih := c.Input[0], c.Input[1]
			for _, m := range c.Modes {
				mode := model.ParseResizeMode(m.Resize)
				if !mode.IsFit() || mode.PadValue() != m.Pad {
					t.Fatalf("%s: mode %q, pad %d; inference-core pads with %d", name, mode, mode.PadValue(), m.Pad)
				}
				geo := NewGeometry(mode, c.Src[0], c.Src[1], iw, ih)
				if geo.NW != nw || geo.NH != nh || geo.PadX != c.Left || geo.PadY != c.Top {
					t.Errorf("%s %s: placed %dx%d at (%d,%d); inference-core %dx%d at (%d,%d)",
						name, m.Resize, geo.NW, geo.NH, geo.PadX, geo.PadY, nw, nh, c.Left, c.Top)
					continue
				}
				// inference-core's letterbox, rebuilt from the golden's
				// resize, placement and colour, is what it hashed.
				want := make([]byte, iw*ih*3)
				for i := range want {
					want[i] = m.Pad
				}
				for y := 0; y < nh; y++ {
					copy(want[((y+c.Top)*iw+c.Left)*3:], region[y*nw*3:(y+1)*nw*3])
				}
				if sum := sha256.Sum256(want); hex.EncodeToString(sum[:]) != m.SHA256 {
					t.Fatalf("%s %s: rebuilt letterbox does not hash as inference-core's", name, m.Resize)
				}
				tensor := make([]float32, 3*iw*ih)
				if err := ToTensor(src, geo, Normalize{Std: [3]float32{1, 1, 1}}, mode.PadValue(), tensor); err != nil {
					t.Fatal(err)
				}
				if diff, worst := tensorDiff(tensor, want); diff != 0 {
					t.Errorf("%s %s: %d of %d tensor values differ from inference-core's (worst %.3f grey levels)",
						name, m.Resize, diff, len(tensor), worst)
				}
				checked++
			}
			// Every kernel compiled in, not only the one ToTensor
			// picks: the resized region, through the identity table.
			geo := Geometry{Mode: model.FitBlack, SrcW: c.Src[0], SrcH: c.Src[1], InW: nw, InH: nh, NW: nw, NH: nh}
			var lut [3][256]float32
			for ch := range lut {
				for v := range lut[ch] {
					lut[ch][v] = float32(v) / 255
				}
			}
			for kname, kernel := range letterboxKernels {
				tensor := make([]float32, 3*nw*nh)
				kernel(src, geo, &lut, tensor)
				if diff, worst := tensorDiff(tensor, region); diff != 0 {
					t.Errorf("%s: kernel %s: %d of %d values differ from OpenCV's resize (worst %.3f grey levels)",
						name, kname, diff, len(tensor), worst)
				}
			}
		})
	}
	t.Logf("%d letterboxes (%d images x Fit modes) equal to OpenCV %s's, bit for bit", checked, len(g.Cases), g.OpenCV)
}

// letterboxKernels are the resize kernels compiled in, by name: the pure-Go
// one always, the C one's SIMD and scalar code with cgo
// (resize_cgo_test.go).
var letterboxKernels = map[string]func(img *Image, g Geometry, lut *[3][256]float32, dst []float32){
	"go": letterboxGo,
}

// tensorDiff compares a planar float tensor with inference-core's: the
// packed RGB bytes want, as float32, / 255, bit for bit. It returns how
// many values differ and the largest difference in grey levels.
func tensorDiff(tensor []float32, want []byte) (int, float64) {
	plane, diff, worst := len(want)/3, 0, 0.0
	for i := 0; i < plane; i++ {
		for ch := 0; ch < 3; ch++ {
			w := float32(want[3*i+ch]) / 255
			if math.Float32bits(tensor[ch*plane+i]) != math.Float32bits(w) {
				diff++
				worst = max(worst, math.Abs(float64(tensor[ch*plane+i]-w))*255)
			}
		}
	}
	return diff, worst
}

func countDiff(a, b []byte) int {
	if len(a) != len(b) {
		return max(len(a), len(b))
	}
	n := 0
	for i := range a {
		if a[i] != b[i] {
			n++
		}
	}
	return n
}

// TestResizeTaps pins the coefficient rules that the golden cases exercise
// only in passing: weights sum to 2048 away from ties, the horizontal
// border rule zeroes the outer weight, the vertical one keeps both.
func TestResizeTaps(t *testing.T) {
	var x, y linearTaps
	makeTaps(&x, 3, 12, true) // 4x upscale: the first and last taps fall outside
	makeTaps(&y, 3, 12, false)
	if x.s0[0] != 0 || x.w0[0] != 2048 || x.w1[0] != 0 {
		t.Errorf("horizontal left edge: s0 %d, weights %d %d; OpenCV clamps to pixel 0 with 2048, 0", x.s0[0], x.w0[0], x.w1[0])
	}
	// f = (0+0.5)*0.25-0.5 = -0.375: floor -1, fraction 0.625.
	if y.s0[0] != 0 || y.s1[0] != 0 || y.w0[0] != 768 || y.w1[0] != 1280 {
		t.Errorf("vertical top edge: rows %d %d, weights %d %d; OpenCV reads row 0 twice with 768, 1280",
			y.s0[0], y.s1[0], y.w0[0], y.w1[0])
	}
	if last := len(x.s0) - 1; x.s0[last] != 2 || x.w0[last] != 2048 || x.w1[last] != 0 {
		t.Errorf("horizontal right edge: s0 %d, weights %d %d", x.s0[last], x.w0[last], x.w1[last])
	}
	for i := range x.w0 {
		if s := x.w0[i] + x.w1[i]; s != 2048 {
			t.Errorf("tap %d: weights sum to %d", i, s)
		}
	}
}

// oldLetterbox is ToTensor's letterbox before the 8-bit path: float taps
// over normalized values (what Stretch still does). Kept here only as the
// benchmark's baseline.
func oldLetterbox(img *Image, g Geometry, norm Normalize, pad uint8, dst []float32) {
	plane := g.InW * g.InH
	var lut [3][256]float32
	for c := 0; c < 3; c++ {
		for v := 0; v < 256; v++ {
			lut[c][v] = (float32(v)/255 - norm.Mean[c]) / norm.Std[c]
		}
	}
	for c := 0; c < 3; c++ {
		v := lut[c][pad]
		p := dst[c*plane : (c+1)*plane]
		for i := range p {
			p[i] = v
		}
	}
	resizeFloat(img, g, &lut, dst[:plane], dst[plane:2*plane], dst[2*plane:])
}

// BenchmarkLetterbox: the letterbox into a float tensor (resize, padding,
// normalization), before (float taps) and now (OpenCV's fixed point), in
// one run:
//
//	go test -run '^$' -bench Letterbox ./vision/
func BenchmarkLetterbox(b *testing.B) {
	photo, err := Decode(mustRead(b, "../testdata/images/zidane_1080p.jpg"), DecodeOptions{})
	if err != nil {
		b.Fatal(err)
	}
	bus, err := Decode(mustRead(b, "../testdata/images/bus.jpg"), DecodeOptions{})
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		img    *Image
		in     int
		before bool
	}{
		{"1080p-to-640/float-before", photo, 640, true},
		{"1080p-to-640/opencv-8bit", photo, 640, false},
		{"810x1080-to-640/float-before", bus, 640, true},
		{"810x1080-to-640/opencv-8bit", bus, 640, false},
		{"810x1080-to-320/float-before", bus, 320, true},
		{"810x1080-to-320/opencv-8bit", bus, 320, false},
	} {
		b.Run(tc.name, func(b *testing.B) {
			g := NewGeometry(model.FitGrey, tc.img.SrcW, tc.img.SrcH, tc.in, tc.in)
			dst := make([]float32, 3*tc.in*tc.in)
			norm := Normalize{Std: [3]float32{1, 1, 1}}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if tc.before {
					oldLetterbox(tc.img, g, norm, 114, dst)
				} else if err := ToTensor(tc.img, g, norm, 114, dst); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
