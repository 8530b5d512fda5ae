package vision

import (
	"fmt"
	"math"

	"github.com/trtserve/trtserve/model"
)

// Geometry places an image of SrcW x SrcH inside the model input InW x InH:
// scaled to NW x NH and offset by PadX, PadY (a Fit mode), or stretched to
// fill it. It is computed on the full-resolution size so that decoding at a
// DCT scale never changes where boxes land.
type Geometry struct {
	Mode       model.ResizeMode
	SrcW, SrcH int
	InW, InH   int
	NW, NH     int
	PadX, PadY int
}

// NewGeometry is Roboflow's arithmetic (inference-core
// resize_image_keeping_aspect_ratio and letterbox_image): for Fit, the side
// that limits is set to the input size and the other is truncated
// (int(W/ratio)); padding is split with the odd pixel at the bottom/right.
func NewGeometry(mode model.ResizeMode, srcW, srcH, inW, inH int) Geometry {
	g := Geometry{Mode: mode, SrcW: srcW, SrcH: srcH, InW: inW, InH: inH, NW: inW, NH: inH}
	if mode.IsFit() {
		imgRatio := float64(srcW) / float64(srcH)
		if imgRatio >= float64(inW)/float64(inH) {
			g.NW, g.NH = inW, int(float64(inW)/imgRatio)
		} else {
			g.NW, g.NH = int(float64(inH)*imgRatio), inH
		}
		g.NW, g.NH = max(g.NW, 1), max(g.NH, 1)
		g.PadX, g.PadY = (inW-g.NW)/2, (inH-g.NH)/2
	}
	return g
}

// Normalize maps a pixel p (0..255) of channel c to (p/255 - Mean[c]) / Std[c].
type Normalize struct {
	Mean, Std [3]float32
}

// ToTensor resizes img into place as inference-core does, normalizes, and
// writes a planar RGB float32 tensor of 3 x InH x InW into dst. Fit modes
// resize the 8-bit image with OpenCV's fixed-point INTER_LINEAR, bit for bit
// (resize.go); Stretch resizes in float32 with the same taps, as
// inference-core resizes a float copy of the image. Padding gets pad.
// dst must hold exactly 3*InW*InH values: it is the image's slot of a batch
// buffer, so nothing else is allocated per pixel.
func ToTensor(img *Image, g Geometry, norm Normalize, pad uint8, dst []float32) error {
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
		// Only the border: the image's own pixels are written below.
		for c := 0; c < 3; c++ {
			v := lut[c][pad]
			p := dst[c*plane : (c+1)*plane]
			fillPad(p[:g.PadY*g.InW], v)
			fillPad(p[(g.PadY+g.NH)*g.InW:], v)
			if g.PadX > 0 || g.NW < g.InW {
				for y := g.PadY; y < g.PadY+g.NH; y++ {
					row := p[y*g.InW : (y+1)*g.InW]
					fill(row[:g.PadX], v)
					fill(row[g.PadX+g.NW:], v)
				}
			}
		}
	}
	r, gg, b := dst[:plane], dst[plane:2*plane], dst[2*plane:]
	stride := img.W * 3
	if g.NW == img.W && g.NH == img.H {
		// Scale 1: every tap lands on a pixel with weight 0 on its
		// neighbour, so bilinear is the lookup itself (bit-identical).
		o := g.PadY*g.InW + g.PadX
		emitPlanes(img.Pix, g.NW, g.NH, stride, &lut, r[o:], gg[o:], b[o:], g.InW)
		return nil
	}
	if g.Mode.IsFit() {
		// inference-core letterboxes the 8-bit image (cv2.resize, then
		// copyMakeBorder) before any float: OpenCV's fixed-point resize,
		// bit for bit (resize.go), then the table.
		letterbox8(img, g, &lut, dst)
		return nil
	}
	resizeFloat(img, g, &lut, r, gg, b)
	return nil
}

// resizeFloat is Stretch's resize: inference-core resizes a float32 copy of
// the image (astype, then cv2.resize), so the taps are float too and the
// table is applied before them. (Until the 8-bit path above it letterboxed
// too; BenchmarkLetterbox keeps timing it that way as the baseline.)
func resizeFloat(img *Image, g Geometry, lut *[3][256]float32, r, gg, b []float32) {
	stride := img.W * 3
	// Horizontal taps are the same for every row: compute them once.
	i0 := make([]int, g.NW)
	i1 := make([]int, g.NW)
	wx := make([]float32, g.NW)
	sx := float64(img.W) / float64(g.NW)
	for x := 0; x < g.NW; x++ {
		var x0 int
		x0, wx[x] = tap((float64(x)+0.5)*sx-0.5, img.W)
		i0[x], i1[x] = x0*3, min(x0+1, img.W-1)*3
	}
	sy := float64(img.H) / float64(g.NH)
	for y := 0; y < g.NH; y++ {
		y0, fy := tap((float64(y)+0.5)*sy-0.5, img.H)
		y1 := min(y0+1, img.H-1)
		row0 := img.Pix[y0*stride : (y0+1)*stride]
		row1 := img.Pix[y1*stride : (y1+1)*stride]
		o := (y+g.PadY)*g.InW + g.PadX
		rr, rg, rb := r[o:o+g.NW], gg[o:o+g.NW], b[o:o+g.NW]
		gy := 1 - fy
		for x := range rr {
			a, c, fx := i0[x], i1[x], wx[x]
			gx := 1 - fx
			// Same operation order as before: lerp the rows, then the columns.
			rr[x] = (lut[0][row0[a]]*gx+lut[0][row0[c]]*fx)*gy + (lut[0][row1[a]]*gx+lut[0][row1[c]]*fx)*fy
			rg[x] = (lut[1][row0[a+1]]*gx+lut[1][row0[c+1]]*fx)*gy + (lut[1][row1[a+1]]*gx+lut[1][row1[c+1]]*fx)*fy
			rb[x] = (lut[2][row0[a+2]]*gx+lut[2][row0[c+2]]*fx)*gy + (lut[2][row1[a+2]]*gx+lut[2][row1[c+2]]*fx)*fy
		}
	}
}

// tap is OpenCV's source coordinate for INTER_LINEAR: the integer pixel and
// the weight of its right/lower neighbour, clamped at the borders.
func tap(f float64, n int) (int, float32) {
	// OpenCV rounds the source coordinate to float before splitting it
	// (fx = (float)((dx+0.5)*scale-0.5); sx = floor(fx); fx -= sx): the
	// weight is the float's fraction, not the double's.
	ff := float32(f)
	i := int(math.Floor(float64(ff)))
	w := ff - float32(i)
	if i < 0 {
		return 0, 0
	}
	if i >= n-1 {
		return n - 1, 0
	}
	return i, w
}

func fill(p []float32, v float32) {
	for i := range p {
		p[i] = v
	}
}
