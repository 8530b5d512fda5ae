package vision

import "fmt"

// ToTensorNormalizedFirst is ToTensor in the order inference-core's
// RF-DETR class works in: it normalises the 8-bit RGB pixels to float32
// first ((p/255 - mean) / std, numpy's float32 steps, through the same
// table), then resizes that float image with OpenCV's float INTER_LINEAR
// (cv2.resize on float32, also inside letterbox_image), and pads a Fit
// mode with the raw pad colour (cv2.copyMakeBorder on the normalised
// image: 0, 114 or 255, never normalised). Resizing is linear, so only the
// rounding and the padding differ from ToTensor; the padding is what
// RF-DETR's model sees around a letterboxed image.
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
	// OpenCV's taps for a float image: scale = 1/(dst/src), the source
	// coordinate rounded to float32, edges clamped with weight 0.
	xs0, xs1, wx := make([]int, g.NW), make([]int, g.NW), make([]float32, g.NW)
	sx := 1 / (float64(g.NW) / float64(img.W))
	for x := range wx {
		var x0 int
		x0, wx[x] = tap((float64(x)+0.5)*sx-0.5, img.W)
		xs0[x], xs1[x] = x0*3, min(x0+1, img.W-1)*3
	}
	sy := 1 / (float64(g.NH) / float64(img.H))
	for y := 0; y < g.NH; y++ {
		y0, fy := tap((float64(y)+0.5)*sy-0.5, img.H)
		y1 := min(y0+1, img.H-1)
		row0 := img.Pix[y0*stride : (y0+1)*stride]
		row1 := img.Pix[y1*stride : (y1+1)*stride]
		o := (y+g.PadY)*g.InW + g.PadX
		gy := 1 - fy
		for c := 0; c < 3; c++ {
			t := &lut[c]
			out := chans[c][o : o+g.NW]
			for x := range out {
				a, b, fx := xs0[x]+c, xs1[x]+c, wx[x]
				gx := 1 - fx
				// Each product rounded to float32 before the sum: OpenCV
				// does not fuse them, so no platform may.
				h0 := float32(t[row0[a]]*gx) + float32(t[row0[b]]*fx)
				h1 := float32(t[row1[a]]*gx) + float32(t[row1[b]]*fx)
				out[x] = float32(h0*gy) + float32(h1*fy)
			}
		}
	}
	return nil
}
