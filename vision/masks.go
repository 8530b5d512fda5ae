package vision

import (
	"encoding/binary"
	"fmt"
	"math"
	"sync"
)

// MaskMode is Roboflow's mask_decode_mode.
type MaskMode int

const (
	MaskAccurate MaskMode = iota // upsample to the model input, then crop and threshold
	MaskFast                     // crop and threshold at prototype resolution
	MaskTradeoff                 // upsample part of the way (TradeoffFactor)
)

// ParseMaskMode reads mask_decode_mode.
func ParseMaskMode(s string) (MaskMode, error) {
	switch s {
	case "accurate":
		return MaskAccurate, nil
	case "fast":
		return MaskFast, nil
	case "tradeoff":
		return MaskTradeoff, nil
	}
	return 0, fmt.Errorf("mask_decode_mode must be accurate, fast or tradeoff, got %q", s)
}

// Protos are a segmentation model's prototype masks for one image:
// C planes of H x W, row-major.
type Protos struct {
	Data    []float32
	C, H, W int
}

// Mask is a binary mask (1 = object) of W x H pixels.
type Mask struct {
	Pix  []uint8
	W, H int
}

// DecodeMask is inference-core's mask for one detection (instance
// segmentation base + utils/postprocess.py): sigmoid(coeffs · protos),
// cropped of the prototype padding, resized per mode with OpenCV's
// bilinear arithmetic, zeroed outside the box (x1, y1, x2, y2 in model
// input pixels, before rescaling to the image) and thresholded at 0.5.
func DecodeMask(coeffs []float32, p Protos, box [4]float32, inW, inH int, mode MaskMode, tradeoff float64) Mask {
	v, w, h := maskValues(coeffs, p, box, inW, inH, mode, tradeoff)
	m := Mask{Pix: make([]uint8, w*h), W: w, H: h}
	for i, x := range v {
		if x >= 0.5 {
			m.Pix[i] = 1
		}
	}
	return m
}

// maskValues is DecodeMask before the threshold: the sigmoid values, resized
// per mode, zero outside the box.
func maskValues(coeffs []float32, p Protos, box [4]float32, inW, inH int, mode MaskMode, tradeoff float64) ([]float32, int, int) {
	// Prototype padding (non-square inputs only).
	gain := math.Min(float64(p.H)/float64(inH), float64(p.W)/float64(inW))
	padX, padY := (float64(p.W)-float64(inW)*gain)/2, (float64(p.H)-float64(inH)*gain)/2
	top, left := int(padY), int(padX)
	bottom, right := int(float64(p.H)-padY), int(float64(p.W)-padX)
	mw, mh := right-left, bottom-top
	soft := make([]float32, mw*mh)
	plane := p.H * p.W
	// sigmoid(coeffs · protos) over [sx0, sx1) x [sy0, sy1) of the
	// prototypes: only what the box (and the resize taps around it) reads.
	// Row by row, prototype plane by plane: each pixel still sums its
	// products in coefficient order from zero, as a per-pixel loop over
	// the coefficients would (the same float32 result), but every plane is
	// read along a row instead of one value per plane per pixel.
	computeSoft := func(sx0, sy0, sx1, sy1 int) {
		xa, xb := max(sx0, 0), min(sx1, mw)
		if xa >= xb {
			return
		}
		ya, yb := max(sy0, 0), min(sy1, mh)
		if ya >= yb {
			return
		}
		// soft is fresh, so the sums start from zero (C with SSE2: protoDot).
		protoDot(soft[ya*mw+xa:], yb-ya, xb-xa, mw, p.Data[(ya+top)*p.W+xa+left:], p.W, plane, coeffs)
		for y := ya; y < yb; y++ {
			acc := soft[y*mw+xa : y*mw+xb]
			for i, a := range acc {
				acc[i] = float32(1 / (1 + math.Exp(-float64(a))))
			}
		}
	}
	outW, outH := mw, mh
	switch mode {
	case MaskAccurate:
		outW, outH = inW, inH
	case MaskTradeoff:
		if tradeoff != 0 {
			// inference-core passes (h, w) where OpenCV takes (width,
			// height); the same for the square inputs YOLO models use.
			outW = int(float64(p.H)*(1-tradeoff) + float64(inH)*tradeoff)
			outH = int(float64(p.W)*(1-tradeoff) + float64(inW)*tradeoff)
		}
	}
	// Boxes scale to the output mask (fast and tradeoff) with the
	// prototypes' full size, as inference-core does.
	bx := box
	if mode != MaskAccurate {
		sx, sy := float32(float64(outW)/float64(inW)), float32(float64(outH)/float64(inH))
		if mode == MaskFast {
			sx, sy = float32(float64(p.W)/float64(inW)), float32(float64(p.H)/float64(inH))
		}
		bx = [4]float32{box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy}
	}
	x0, x1 := max(0, int(math.Ceil(float64(bx[0])))), min(outW, int(math.Ceil(float64(bx[2]))))
	y0, y1 := max(0, int(math.Ceil(float64(bx[1])))), min(outH, int(math.Ceil(float64(bx[3]))))
	if outW == mw && outH == mh {
		// No resize: the values inside the box are the sigmoids, and soft
		// is zero everywhere else already.
		computeSoft(x0, y0, x1, y1)
		return soft, outW, outH
	}
	vals := make([]float32, outW*outH)
	// OpenCV INTER_LINEAR on float32, only where the box keeps pixels.
	sx, sy := 1/(float64(outW)/float64(mw)), 1/(float64(outH)/float64(mh)) // OpenCV's scale: 1 / (dst / src)
	xas, fxs := make([]int, max(0, x1-x0)), make([]float32, max(0, x1-x0))
	for x := x0; x < x1; x++ {
		xas[x-x0], fxs[x-x0] = tap((float64(x)+0.5)*sx-0.5, mw)
	}
	if x1 > x0 && y1 > y0 {
		ya0, _ := tap((float64(y0)+0.5)*sy-0.5, mh)
		ya1, _ := tap((float64(y1-1)+0.5)*sy-0.5, mh)
		computeSoft(xas[0], ya0, xas[len(xas)-1]+2, ya1+2)
	}
	for y := y0; y < y1; y++ {
		ya, fy := tap((float64(y)+0.5)*sy-0.5, mh)
		yb := min(ya+1, mh-1)
		for x := x0; x < x1; x++ {
			xa, fx := xas[x-x0], fxs[x-x0]
			xb := min(xa+1, mw-1)
			top := soft[ya*mw+xa]*(1-fx) + soft[ya*mw+xb]*fx
			bot := soft[yb*mw+xa]*(1-fx) + soft[yb*mw+xb]*fx
			vals[y*outW+x] = top*(1-fy) + bot*fy
		}
	}
	return vals, outW, outH
}

// Chain-code steps in OpenCV's order (0 = right, counter-clockwise on
// screen), twice over so a search can run past 7.
var (
	stepX = [16]int{1, 1, 0, -1, -1, -1, 0, 1, 1, 1, 0, -1, -1, -1, 0, 1}
	stepY = [16]int{0, -1, -1, -1, 0, 1, 1, 1, 0, -1, -1, -1, 0, 1, 1, 1}
)

// firstNonZero is the index of the first non-zero byte of p, -1 if none;
// eight bytes at a time.
func firstNonZero(p []uint8) int {
	i := 0
	for ; i+8 <= len(p); i += 8 {
		if binary.LittleEndian.Uint64(p[i:]) != 0 {
			break
		}
	}
	for ; i < len(p); i++ {
		if p[i] != 0 {
			return i
		}
	}
	return -1
}

// lastNonZero is the index of the last non-zero byte of p, -1 if none.
func lastNonZero(p []uint8) int {
	i := len(p)
	for ; i >= 8; i -= 8 {
		if binary.LittleEndian.Uint64(p[i-8:]) != 0 {
			break
		}
	}
	for i--; i >= 0; i-- {
		if p[i] != 0 {
			return i
		}
	}
	return -1
}

// contourScratch is LongestExternalContour's working image and fill stack,
// reused between masks.
type contourScratch struct {
	img   []uint8
	stack []int32
}

var contourPool = sync.Pool{New: func() any { return new(contourScratch) }}

// LongestExternalContour is what inference-core keeps of a mask:
// cv2.findContours(RETR_EXTERNAL, CHAIN_APPROX_SIMPLE) and the contour
// with the most points (on ties, the one OpenCV lists first: the last
// found in raster order). Points are pixel coordinates; nil when the mask
// is empty. Components inside another's hole are not external, as in
// OpenCV.
func LongestExternalContour(m Mask) [][2]int {
	// Work on the bounding box of the object pixels: masks are zero outside
	// their detection's box, and tracing or flood-filling the whole model
	// input for each detection would cost more than the mask itself.
	bx0, by0, bx1, by1 := m.W, m.H, -1, -1
	for y := 0; y < m.H; y++ {
		row := m.Pix[y*m.W : (y+1)*m.W]
		first := firstNonZero(row)
		if first < 0 {
			continue
		}
		last := lastNonZero(row)
		bx0, bx1 = min(bx0, first), max(bx1, last)
		by0, by1 = min(by0, y), y
	}
	if bx1 < 0 {
		return nil
	}
	cw, chh := bx1-bx0+1, by1-by0+1
	W, H := cw+2, chh+2 // a zero frame, as findContours adds
	sc := contourPool.Get().(*contourScratch)
	defer contourPool.Put(sc)
	if cap(sc.img) < W*H {
		sc.img = make([]uint8, W*H)
	}
	img := sc.img[:W*H]
	clear(img)
	for y := 0; y < chh; y++ {
		copy(img[(y+1)*W+1:(y+1)*W+1+cw], m.Pix[(y+by0)*m.W+bx0:(y+by0)*m.W+bx0+cw])
	}
	// The background connected to the frame (4-connected, the dual of
	// 8-connected objects), and the objects already traced.
	const outside, seen = 2, 3
	// A flood fill's result does not depend on its visiting order: the
	// stack holds x, y pairs in one reused slice.
	fill := func(x, y int, from, to uint8, eight bool) {
		step := 2
		if eight {
			step = 1
		}
		stack := append(sc.stack[:0], int32(x), int32(y))
		img[y*W+x] = to
		for len(stack) > 0 {
			px, py := int(stack[len(stack)-2]), int(stack[len(stack)-1])
			stack = stack[:len(stack)-2]
			for d := 0; d < 8; d += step {
				nx, ny := px+stepX[d], py+stepY[d]
				if nx >= 0 && ny >= 0 && nx < W && ny < H && img[ny*W+nx] == from {
					img[ny*W+nx] = to
					stack = append(stack, int32(nx), int32(ny))
				}
			}
		}
		sc.stack = stack
	}
	fill(0, 0, 0, outside, false)
	var best [][2]int
	for y := 1; y < H-1; y++ {
		for x := 1; x < W-1; x++ {
			if img[y*W+x] != 1 || img[y*W+x-1] != outside {
				continue
			}
			c := traceBorder(img, W, x, y)
			fill(x, y, 1, seen, true)
			if len(c) >= len(best) {
				best = c
			}
		}
	}
	for i := range best {
		best[i][0] += bx0 - 1
		best[i][1] += by0 - 1
	}
	return best
}

// traceBorder follows an outer border from its raster-first pixel exactly
// as OpenCV's icvFetchContour does, keeping only the points where the
// chain code changes (CHAIN_APPROX_SIMPLE). Non-zero pixels are object.
func traceBorder(img []uint8, W, x0, y0 int) [][2]int {
	on := func(x, y int) bool { v := img[y*W+x]; return v == 1 || v == 3 }
	s := 4
	for {
		s = (s - 1) & 7
		if on(x0+stepX[s], y0+stepY[s]) || s == 4 {
			break
		}
	}
	if s == 4 {
		return [][2]int{{x0, y0}}
	}
	x1, y1 := x0+stepX[s], y0+stepY[s]
	x3, y3 := x0, y0
	prev := s ^ 4
	px, py := x0, y0
	var pts [][2]int
	for {
		var x4, y4 int
		for s < 15 {
			s++
			x4, y4 = x3+stepX[s], y3+stepY[s]
			if on(x4, y4) {
				break
			}
		}
		s &= 7
		if s != prev {
			pts = append(pts, [2]int{px, py})
			prev = s
		}
		px, py = px+stepX[s], py+stepY[s]
		if x4 == x0 && y4 == y0 && x3 == x1 && y3 == y1 {
			break
		}
		x3, y3 = x4, y4
		s = (s + 4) & 7
	}
	return pts
}

// Point is a polygon vertex in original-image pixels.
type Point struct{ X, Y float64 }

// Polygon maps contour points from a W x H mask (which covers the model
// input) to original-image pixels as inference-core's post_process_polygons
// does, in float32 like its NumPy scalars: Stretch scales; Fit undoes the
// letterbox with int() placement sizes. Points are not clipped or rounded.
func Polygon(pts [][2]int, maskW, maskH int, g Geometry, cropX, cropY int) []Point {
	ow, oh := float64(g.SrcW), float64(g.SrcH)
	out := make([]Point, len(pts))
	for i, p := range pts {
		x, y := float32(p[0]), float32(p[1])
		if !g.Mode.IsFit() {
			x *= float32(ow / float64(maskW))
			y *= float32(oh / float64(maskH))
		} else {
			scale := math.Min(float64(maskH)/oh, float64(maskW)/ow)
			padX := (float64(maskW) - math.Trunc(ow*scale)) / 2
			padY := (float64(maskH) - math.Trunc(oh*scale)) / 2
			x = (x - float32(padX)) / float32(scale)
			y = (y - float32(padY)) / float32(scale)
		}
		out[i] = Point{float64(x) + float64(cropX), float64(y) + float64(cropY)}
	}
	return out
}
