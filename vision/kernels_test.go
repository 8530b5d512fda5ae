package vision

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/trtserve/trtserve/model"
)

// colMax (C with SSE2 under cgo) against the scalar scan it replaces, on
// ties, signed zeros and NaNs in every position.
func TestColMaxMatchesScalarScan(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	special := []float32{0, float32(math.Copysign(0, -1)), float32(math.NaN()), 0.5, 0.5, float32(math.Inf(1)), float32(math.Inf(-1))}
	for _, n := range []int{1, 7, 8, 9, 33, 8400} {
		for _, rows := range []int{1, 2, 80} {
			out := make([]float32, rows*n)
			for i := range out {
				if r.IntN(5) == 0 {
					out[i] = special[r.IntN(len(special))]
				} else {
					out[i] = float32(r.IntN(8)) / 8
				}
			}
			want := make([]float32, n)
			copy(want, out[:n])
			for k := 1; k < rows; k++ {
				for a := range n {
					if v := out[k*n+a]; v > want[a] {
						want[a] = v
					}
				}
			}
			got := make([]float32, n)
			colMax(out, rows, n, got)
			for a := range n {
				if math.Float32bits(got[a]) != math.Float32bits(want[a]) {
					t.Fatalf("n=%d rows=%d anchor %d: %v, want %v", n, rows, a, got[a], want[a])
				}
			}
		}
	}
}

// decodeBoxesArgmax is DecodeBoxes' YOLOv8 scoring before colMax: every
// anchor's argmax, row by row.
func decodeBoxesArgmax(out []float32, anchors, nc int, conf float32) []Detection {
	bests, bestKs := make([]float32, anchors), make([]int32, anchors)
	copy(bests, out[4*anchors:5*anchors])
	for k := 1; k < nc; k++ {
		for a, v := range out[(4+k)*anchors : (5+k)*anchors] {
			if v > bests[a] {
				bests[a], bestKs[a] = v, int32(k)
			}
		}
	}
	var c []Detection
	for a := range anchors {
		if bests[a] >= conf {
			cx, cy, w, h := out[a], out[anchors+a], out[2*anchors+a], out[3*anchors+a]
			c = append(c, Detection{X1: cx - w/2, Y1: cy - h/2, X2: cx + w/2, Y2: cy + h/2, Confidence: bests[a], ClassID: int(bestKs[a])})
		}
	}
	return c
}

// DecodeBoxes keeps exactly the candidates (score and class, ties to the
// first class) the full argmax gave.
func TestDecodeBoxesCandidatesMatchArgmax(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const anchors, nc = 1000, 12
	for trial := range 50 {
		out := make([]float32, (4+nc)*anchors)
		for a := range anchors {
			out[a], out[anchors+a], out[2*anchors+a], out[3*anchors+a] = r.Float32()*640, r.Float32()*640, 5+r.Float32()*50, 5+r.Float32()*50
		}
		for i := 4 * anchors; i < len(out); i++ {
			switch r.IntN(20) {
			case 0:
				out[i] = float32(math.NaN())
			case 1, 2:
				out[i] = 0.5 // ties between classes
			default:
				out[i] = float32(r.IntN(10)) / 10
			}
		}
		opts := NMSOptions{Confidence: 0.45, IoUThreshold: 1.1, MaxDetections: -1, ClassAgnostic: true}
		got, err := DecodeBoxes(out, YOLOv8, anchors, nc, 0, opts)
		if err != nil {
			t.Fatal(err)
		}
		want := suppressCandidates(decodeBoxesArgmax(out, anchors, nc, 0.45), opts)
		if !slices.EqualFunc(got, want, func(a, b Detection) bool {
			return a.X1 == b.X1 && a.Y1 == b.Y1 && a.X2 == b.X2 && a.Y2 == b.Y2 && a.Confidence == b.Confidence && a.ClassID == b.ClassID
		}) {
			t.Fatalf("trial %d: %d detections, want %d", trial, len(got), len(want))
		}
	}
}

// emitPlanes (C under cgo) writes what the Go table loop writes.
func TestEmitPlanesMatchesTable(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var lut [3][256]float32
	for c := range 3 {
		for v := range 256 {
			lut[c][v] = (float32(v)/255 - 0.4) / 0.2
		}
	}
	const w, h, stride, inW, inH = 37, 11, 37*3 + 5, 50, 20
	pix := make([]byte, h*stride)
	for i := range pix {
		pix[i] = byte(r.IntN(256))
	}
	planes := make([]float32, 3*inW*inH)
	o := 3*inW + 4
	emitPlanes(pix, w, h, stride, &lut, planes[o:], planes[inW*inH+o:], planes[2*inW*inH+o:], inW)
	for c := range 3 {
		for y := range inH {
			for x := range inW {
				got := planes[c*inW*inH+y*inW+x]
				var want float32
				if y >= 3 && y < 3+h && x >= 4 && x < 4+w {
					want = lut[c][pix[(y-3)*stride+3*(x-4)+c]]
				}
				if got != want {
					t.Fatalf("channel %d (%d,%d): %v, want %v", c, x, y, got, want)
				}
			}
		}
	}
}

// Every letterbox kernel compiled in writes the pure-Go kernel's tensor on
// exact halvings (OpenCV's INTER_AREA fast path, SIMD row sums with a
// scalar tail) and exact 3x downscales (rows of weight 0 skipped).
func TestLetterboxKernelsAgreeOnExactScales(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	var lut [3][256]float32
	for c := range 3 {
		for v := range 256 {
			lut[c][v] = float32(v)/255 + float32(c)
		}
	}
	for _, sz := range [][4]int{{74, 42, 40, 40}, {640, 640, 320, 320}, {2 * 37, 2 * 21, 37, 37}, {1920, 1080, 640, 640}, {3 * 29, 3 * 13, 29, 29}} {
		img := &Image{Pix: make([]byte, sz[0]*sz[1]*3), W: sz[0], H: sz[1], SrcW: sz[0], SrcH: sz[1]}
		for i := range img.Pix {
			img.Pix[i] = byte(r.IntN(256))
		}
		g := NewGeometry(model.FitGrey, sz[0], sz[1], sz[2], sz[3])
		want := make([]float32, 3*sz[2]*sz[3])
		letterboxGo(img, g, &lut, want)
		for name, kernel := range letterboxKernels {
			got := make([]float32, len(want))
			kernel(img, g, &lut, got)
			if !slices.Equal(got, want) {
				t.Fatalf("%v: kernel %s differs from the Go kernel", sz, name)
			}
		}
	}
}

func TestFirstLastNonZero(t *testing.T) {
	for n := range 40 {
		for a := -1; a < n; a++ {
			for b := a; b < n; b++ {
				p := make([]uint8, n)
				if a >= 0 {
					p[a], p[b] = 1, 1
				}
				wantB := b
				if a < 0 {
					wantB = -1
				}
				if f, l := firstNonZero(p), lastNonZero(p); f != a || l != wantB {
					t.Fatalf("n=%d ones at %d,%d: first %d last %d", n, a, b, f, l)
				}
			}
		}
	}
}

// The exact 3x downscales of TestLetterboxKernelsAgreeOnExactScales and
// the goldens (1920x1080 into 640) are point samples on both axes, so
// the C kernel's gather path is the one they check.
func TestExactThirdIsPointSampling(t *testing.T) {
	var sc resizeScratch
	sc.setTaps(1920, 1080, 640, 360)
	for i, x := range sc.xtaps {
		if x.w0 != resizeCoefScale || x.w1 != 0 || x.o0 != int32(3*(3*i+1)) {
			t.Fatalf("x tap %d: %+v", i, x)
		}
	}
	for y := range 360 {
		if sc.y.w0[y] != resizeCoefScale || sc.y.w1[y] != 0 || sc.y.s0[y] != int32(3*y+1) {
			t.Fatalf("y tap %d: %d %d %d", y, sc.y.s0[y], sc.y.w0[y], sc.y.w1[y])
		}
	}
}
