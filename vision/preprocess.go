package vision

import (
	"fmt"
	"math"
)

// ResizeMode mirrors engines.ResizeMode (Roboflow's names) without
// importing engines: vision must not depend on the model layer.
type ResizeMode int

// Resize modes.
const (
	Stretch ResizeMode = iota
	Fit
)

// Geometry places an image of SrcW x SrcH inside the model input InW x InH:
// scaled to NW x NH and offset by PadX, PadY (Fit), or stretched to fill it.
// It is computed on the full-resolution size so that decoding at a DCT
// scale never changes where boxes land.
type Geometry struct {
	Mode       ResizeMode
	SrcW, SrcH int
	InW, InH   int
	NW, NH     int
	PadX, PadY int
}

// NewGeometry is Roboflow's arithmetic (inference-core
// resize_image_keeping_aspect_ratio and letterbox_image): for Fit, the side
// that limits is set to the input size and the other is truncated
// (int(W/ratio)); padding is split with the odd pixel at the bottom/right.
func NewGeometry(mode ResizeMode, srcW, srcH, inW, inH int) Geometry {
	g := Geometry{Mode: mode, SrcW: srcW, SrcH: srcH, InW: inW, InH: inH, NW: inW, NH: inH}
	if mode == Fit {
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

// ToTensor resizes img (bilinear, OpenCV's INTER_LINEAR sampling: pixel
// centres aligned, edges clamped) into place, normalizes, and writes a
// planar RGB float32 tensor of 3 x InH x InW into dst. Padding gets pad.
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
		for c := 0; c < 3; c++ {
			v := lut[c][pad]
			p := dst[c*plane : (c+1)*plane]
			for i := range p {
				p[i] = v
			}
		}
	}
	// Horizontal taps are the same for every row: compute them once.
	x0 := make([]int, g.NW)
	wx := make([]float32, g.NW)
	sx := float64(img.W) / float64(g.NW)
	for x := 0; x < g.NW; x++ {
		x0[x], wx[x] = tap((float64(x)+0.5)*sx-0.5, img.W)
	}
	sy := float64(img.H) / float64(g.NH)
	stride := img.W * 3
	r, gg, b := dst[:plane], dst[plane:2*plane], dst[2*plane:]
	for y := 0; y < g.NH; y++ {
		y0, fy := tap((float64(y)+0.5)*sy-0.5, img.H)
		y1 := min(y0+1, img.H-1)
		row0 := img.Pix[y0*stride : (y0+1)*stride]
		row1 := img.Pix[y1*stride : (y1+1)*stride]
		o := (y+g.PadY)*g.InW + g.PadX
		for x := 0; x < g.NW; x++ {
			i0 := x0[x] * 3
			i1 := min(x0[x]+1, img.W-1) * 3
			fx := wx[x]
			for c := 0; c < 3; c++ {
				top := lut[c][row0[i0+c]]*(1-fx) + lut[c][row0[i1+c]]*fx
				bot := lut[c][row1[i0+c]]*(1-fx) + lut[c][row1[i1+c]]*fx
				v := top*(1-fy) + bot*fy
				switch c {
				case 0:
					r[o+x] = v
				case 1:
					gg[o+x] = v
				default:
					b[o+x] = v
				}
			}
		}
	}
	return nil
}

// tap is OpenCV's source coordinate for INTER_LINEAR: the integer pixel and
// the weight of its right/lower neighbour, clamped at the borders.
func tap(f float64, n int) (int, float32) {
	i := int(math.Floor(f))
	w := float32(f - float64(i))
	if i < 0 {
		return 0, 0
	}
	if i >= n-1 {
		return n - 1, 0
	}
	return i, w
}
