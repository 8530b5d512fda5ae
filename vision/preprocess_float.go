package vision

import (
	"fmt"
	"math"
)

// ToTensorNormalizedFirst is ToTensor in the order inference-core's
// RF-DETR class works in: it normalises the 8-bit RGB pixels to float32
// first ((p/255 - mean) / std, numpy's float32 steps, through the same
// table), then resizes that float image with OpenCV's float INTER_LINEAR
// (cv2.resize on float32, also inside letterbox_image), and pads a Fit
// mode with the raw pad colour (cv2.copyMakeBorder on the normalised
// image: 0, 114 or 255, never normalised). Resizing is linear, so only the
// rounding and the padding differ from ToTensor; the padding is what
// RF-DETR's model sees around a letterboxed image. The resize is the one
// cv2.resize runs on such an image: each pass a lerp, p0 + (p1−p0)·w,
// fused, with weights from double-precision coordinates (ippTap).
func ToTensorNormalizedFirst(img *Image, g Geometry, norm Normalize, pad float32, dst []float32) error {
	plane := g.InW * g.InH
	if len(dst) != 3*plane {
		return fmt.Errorf("tensor slot holds %d floats, want %d", len(dst), 3*plane)
	}
	var lut [3][256]float32
	for c := 0; c < 3; c++ {
		for v := 0; v < 256; v++ {
			lut[c][v] = (float32(v)/255 - norm.Mean[c]) / norm.Std[c]
		}
	}
	if g.NW != g.InW || g.NH != g.InH {
		for c := 0; c < 3; c++ {
			p := dst[c*plane : (c+1)*plane]
			fill(p[:g.PadY*g.InW], pad)
			fill(p[(g.PadY+g.NH)*g.InW:], pad)
			for y := g.PadY; y < g.PadY+g.NH; y++ {
				row := p[y*g.InW : (y+1)*g.InW]
				fill(row[:g.PadX], pad)
				fill(row[g.PadX+g.NW:], pad)
			}
		}
	}
	stride := img.W * 3
	chans := [3][]float32{dst[:plane], dst[plane : 2*plane], dst[2*plane:]}
	xs0, xs1, wx := make([]int, g.NW), make([]int, g.NW), make([]float32, g.NW)
	for x := range wx {
		var x0 int
		x0, wx[x] = ippTap(x, img.W, g.NW)
		xs0[x], xs1[x] = x0*3, min(x0+1, img.W-1)*3
	}
	for y := 0; y < g.NH; y++ {
		y0, fy := ippTap(y, img.H, g.NH)
		y1 := min(y0+1, img.H-1)
		row0 := img.Pix[y0*stride : (y0+1)*stride]
		row1 := img.Pix[y1*stride : (y1+1)*stride]
		o := (y+g.PadY)*g.InW + g.PadX
		for c := 0; c < 3; c++ {
			t := &lut[c]
			out := chans[c][o : o+g.NW]
			for x := range out {
				a, b, fx := xs0[x]+c, xs1[x]+c, wx[x]
				h0 := fma32(t[row0[b]]-t[row0[a]], fx, t[row0[a]])
				h1 := fma32(t[row1[b]]-t[row1[a]], fx, t[row1[a]])
				out[x] = fma32(h1-h0, fy, h0)
			}
		}
	}
	return nil
}

// ippTap is the source pixel and the weight of its right (lower)
// neighbour for destination pixel d of n → dn, as the resize cv2.resize
// runs on a 3-channel float32 image in opencv-python 4.12 (Intel IPP's
// linear resize): the coordinate in double precision, (d+0.5)·n/dn − 0.5,
// its fraction rounded to float32 once, borders clamped with weight 0.
// OpenCV's own loop rounds the coordinate to float32 first, which moves
// results by up to 0.006 grey levels on a 1080-pixel image; this matches
// cv2.resize bit for bit (the RF-DETR goldens, cmd/trtserve
// TestYOLONASAndRFDETRMatchRoboflow, need it: boxes there are unrounded).
func ippTap(d, n, dn int) (int, float32) {
	f := (float64(d)+0.5)*(float64(n)/float64(dn)) - 0.5
	i := int(math.Floor(f))
	if i < 0 {
		return 0, 0
	}
	if i >= n-1 {
		return n - 1, 0
	}
	return i, float32(f - float64(i))
}

// fma32 is a fused multiply-add in float32 (a·b + c rounded once): the
// product of two float32 values is exact in float64, and the sum's double
// rounding never differed from the single one on the goldens.
func fma32(a, b, c float32) float32 {
	return float32(math.FMA(float64(a), float64(b), float64(c)))
}

// ResizePlane resizes one float32 plane of sw x sh to dw x dh as cv2.resize
// (INTER_LINEAR) does on a float32 mask in opencv-python 4.12: the taps
// and fused lerps of ToTensorNormalizedFirst.
func ResizePlane(src []float32, sw, sh, dw, dh int) []float32 {
	out := make([]float32, dw*dh)
	xs0, xs1, wx := make([]int, dw), make([]int, dw), make([]float32, dw)
	for x := range wx {
		xs0[x], wx[x] = ippTap(x, sw, dw)
		xs1[x] = min(xs0[x]+1, sw-1)
	}
	for y := 0; y < dh; y++ {
		y0, fy := ippTap(y, sh, dh)
		y1 := min(y0+1, sh-1)
		r0, r1 := src[y0*sw:(y0+1)*sw], src[y1*sw:(y1+1)*sw]
		row := out[y*dw : (y+1)*dw]
		for x := range row {
			a, b, fx := xs0[x], xs1[x], wx[x]
			h0 := fma32(r0[b]-r0[a], fx, r0[a])
			h1 := fma32(r1[b]-r1[a], fx, r1[a])
			row[x] = fma32(h1-h0, fy, h0)
		}
	}
	return out
}
