package vision

import "math"

// COCORLE encodes a binary mask (row-major, w x h) as COCO's compressed
// run-length string (pycocotools' rleToString): runs in column-major order
// starting with a run of zeros, each count delta-coded against the count
// two before it and written as 5-bit groups with a continuation bit,
// offset by 48.
func COCORLE(pix []uint8, w, h int) string {
	var counts []int64
	prev, run := uint8(0), int64(0)
	for x := 0; x < w; x++ {
		for y := 0; y < h; y++ {
			v := pix[y*w+x]
			if v != 0 {
				v = 1
			}
			if v != prev {
				counts = append(counts, run)
				prev, run = v, 0
			}
			run++
		}
	}
	counts = append(counts, run)
	var out []byte
	for i, c := range counts {
		x := c
		if i > 2 {
			x -= counts[i-2]
		}
		for more := true; more; {
			b := x & 0x1f
			x >>= 5 // arithmetic shift, as in C on a signed long
			if b&0x10 != 0 {
				more = x != -1
			} else {
				more = x != 0
			}
			if more {
				b |= 0x20
			}
			out = append(out, byte(b+48))
		}
	}
	return string(out)
}

// MaskToImage samples a mask that covers the model input onto the
// original image (nearest neighbour): pixel (x, y) of the w x h image maps
// through the static crop and the resize back into the mask grid. It is
// what an RLE answer encodes: a mask in image pixels.
func MaskToImage(m Mask, g Geometry, cropX, cropY, w, h int) []uint8 {
	out := make([]uint8, w*h)
	fx, fy := float64(m.W)/float64(g.InW), float64(m.H)/float64(g.InH) // mask cells per input pixel
	sx, sy := float64(g.NW)/float64(g.SrcW), float64(g.NH)/float64(g.SrcH)
	for y := cropY; y < min(h, cropY+g.SrcH); y++ {
		my := int(math.Floor(((float64(y-cropY)+0.5)*sy + float64(g.PadY)) * fy))
		if my < 0 || my >= m.H {
			continue
		}
		for x := cropX; x < min(w, cropX+g.SrcW); x++ {
			mx := int(math.Floor(((float64(x-cropX)+0.5)*sx + float64(g.PadX)) * fx))
			if mx >= 0 && mx < m.W && m.Pix[my*m.W+mx] != 0 {
				out[y*w+x] = 1
			}
		}
	}
	return out
}
