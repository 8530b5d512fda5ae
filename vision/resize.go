package vision

import (
	"math"
	"sync"
)

// OpenCV's cv::resize with INTER_LINEAR on 8-bit images, reproduced bit for
// bit (opencv-python 4.12, the version inference-core 1.8.3 installs). It is
// not a float bilinear rounded at the end: OpenCV works in fixed point, and
// every letterbox of Roboflow's "Fit" modes goes through it, so a float
// resize lands up to a grey level away on some pixels — enough to move a
// pretrained model's boxes. docs/letterbox.md walks through the arithmetic
// and how it was checked; vision/letterbox_test.go compares against
// cv2.resize outputs byte for byte.
//
// In short, for a source of sn pixels resized to dn along one axis:
//
//   - scale = 1/(dn/sn), in double; source coordinate
//     f = float32((d+0.5)*scale - 0.5), s = floor(f), fraction f-s in float32;
//   - weights saturate_cast<short>((1-f)*2048) and (f*2048), rounded half to
//     even (INTER_RESIZE_COEF_BITS = 11);
//   - horizontally, s < 0 or s >= sn-1 clamp to the edge pixel with weights
//     (2048, 0); vertically only the row index is clamped: the weights stay
//     as computed, so an edge row meets itself with both weights;
//   - the horizontal pass sums into int32 (exact); the vertical pass is
//     ((b0*(S0>>4))>>16 + (b1*(S1>>4))>>16 + 2) >> 2, OpenCV's SIMD
//     arithmetic, which its scalar tail for 8 bits repeats, so the result
//     does not depend on the vector width;
//   - an exact 2x downscale on both axes is INTER_AREA's fast path instead:
//     the 2x2 mean (a+b+c+d+2)>>2;
//   - the same size is a copy.
//
// IPP does not take part: OpenCV lets it resize 8-bit images linearly only
// when "not exact" IPP is enabled, which it is not by default (checked: the
// opencv-python wheel, built with IPP, gives exactly these bytes).

const (
	resizeCoefBits  = 11
	resizeCoefScale = 1 << resizeCoefBits
)

// linearTaps are the per-output-coordinate source positions and weights of
// one axis.
type linearTaps struct {
	// s0, s1: the two source indices (s1 already clamped to the edge).
	s0, s1 []int32
	// w0, w1: the fixed-point weights of s0 and s1.
	w0, w1 []int32
}

// makeTaps computes OpenCV's taps for sn → dn. clampWeights is the
// horizontal rule (an out-of-range tap becomes the edge pixel with weights
// 2048, 0); without it (vertical) only the indices are clamped.
func makeTaps(t *linearTaps, sn, dn int, clampWeights bool) {
	t.s0, t.s1 = grow32(t.s0, dn), grow32(t.s1, dn)
	t.w0, t.w1 = grow32(t.w0, dn), grow32(t.w1, dn)
	scale := 1 / (float64(dn) / float64(sn))
	for d := 0; d < dn; d++ {
		// The explicit conversions keep each step rounded as OpenCV's
		// (no fused multiply-add on platforms where Go would fuse).
		p := float64((float64(d) + 0.5) * scale)
		f := float32(p - 0.5)
		s := int(math.Floor(float64(f)))
		f -= float32(s)
		if clampWeights {
			if s < 0 {
				s, f = 0, 0
			}
			if s >= sn-1 {
				s, f = sn-1, 0
			}
		}
		t.w0[d] = coef(1 - f)
		t.w1[d] = coef(f)
		t.s0[d] = int32(min(max(s, 0), sn-1))
		t.s1[d] = int32(min(max(s+1, 0), sn-1))
	}
}

// coef is saturate_cast<short>(c * INTER_RESIZE_COEF_SCALE): c*2048 is
// exact in float32, and cvRound rounds half to even.
func coef(c float32) int32 {
	return int32(math.RoundToEven(float64(c * resizeCoefScale)))
}

func grow32(s []int32, n int) []int32 {
	if cap(s) >= n {
		return s[:n]
	}
	return make([]int32, n)
}

// xtap is one output column's horizontal tap: byte offsets of its two
// source pixels in a packed RGB row and their weights.
type xtap struct{ o0, o1, w0, w1 int32 }

// resizeScratch is a letterbox's working memory: taps and two horizontally
// resized rows. Pooled: the tensor path allocates nothing per image.
type resizeScratch struct {
	x, y  linearTaps
	xtaps []xtap
	rows  [2][]int32
	out   []byte
}

var scratchPool = sync.Pool{New: func() any { return new(resizeScratch) }}

// setTaps fills the taps of a sw x sh → nw x nh resize: sc.xtaps
// (horizontal, byte offsets into a packed RGB row) and sc.y (vertical).
func (sc *resizeScratch) setTaps(sw, sh, nw, nh int) {
	makeTaps(&sc.x, sw, nw, true)
	makeTaps(&sc.y, sh, nh, false)
	if cap(sc.xtaps) < nw {
		sc.xtaps = make([]xtap, nw)
	}
	sc.xtaps = sc.xtaps[:nw]
	for i := range sc.xtaps {
		sc.xtaps[i] = xtap{sc.x.s0[i] * 3, sc.x.s1[i] * 3, sc.x.w0[i], sc.x.w1[i]}
	}
}

// resizeRGB8 resizes img (packed RGB) to nw x nh as cv2.resize does with
// INTER_LINEAR on an 8-bit 3-channel image, handing each output row (packed
// RGB, nw*3 bytes) to emit. The row is only valid during the call.
func resizeRGB8(img *Image, nw, nh int, emit func(y int, row []byte)) {
	sw, sh := img.W, img.H
	stride := sw * 3
	sc := scratchPool.Get().(*resizeScratch)
	defer scratchPool.Put(sc)
	if cap(sc.out) < nw*3 {
		sc.out = make([]byte, nw*3)
	}
	out := sc.out[:nw*3]
	switch {
	case sw == nw && sh == nh:
		for y := 0; y < nh; y++ {
			emit(y, img.Pix[y*stride:(y+1)*stride])
		}
		return
	case sw == 2*nw && sh == 2*nh:
		// resize() turns an exact halving into INTER_AREA's fast path.
		for y := 0; y < nh; y++ {
			r0 := img.Pix[2*y*stride : (2*y+1)*stride]
			r1 := img.Pix[(2*y+1)*stride : (2*y+2)*stride]
			halveRow(out, r0, r1)
			emit(y, out)
		}
		return
	}
	sc.setTaps(sw, sh, nw, nh)
	taps := sc.xtaps
	for k := range sc.rows {
		sc.rows[k] = grow32(sc.rows[k], nw*3)
	}
	row := func(r int) []byte { return img.Pix[r*stride : (r+1)*stride] }
	// OpenCV keeps the two horizontally resized rows of the last output
	// row and recomputes only what the next one lacks.
	have := [2]int{-1, -1}
	for y := 0; y < nh; y++ {
		r0, r1 := int(sc.y.s0[y]), int(sc.y.s1[y])
		k0, k1 := -1, -1
		for k := range have {
			if have[k] == r0 {
				k0 = k
			}
			if have[k] == r1 {
				k1 = k
			}
		}
		switch {
		case k0 < 0 && k1 < 0 && r1 != r0 && (y+1 == nh || int(sc.y.s0[y+1]) > r1):
			// Neither row is cached nor needed again (a downscale):
			// both passes at once, nothing stored in between.
			resizeRow(out, row(r0), row(r1), taps, sc.y.w0[y], sc.y.w1[y])
			emit(y, out)
			continue
		case k0 < 0 && k1 < 0 && r1 != r0:
			k0, k1 = 0, 1
			hresize2(sc.rows[0], sc.rows[1], row(r0), row(r1), taps)
			have = [2]int{r0, r1}
		case k0 < 0:
			k0 = 0
			if k1 == 0 {
				k0 = 1
			}
			hresize(sc.rows[k0], row(r0), taps)
			have[k0] = r0
			if r1 == r0 {
				k1 = k0
			}
		case k1 < 0:
			k1 = 1 - k0
			hresize(sc.rows[k1], row(r1), taps)
			have[k1] = r1
		}
		vresize(out, sc.rows[k0], sc.rows[k1], sc.y.w0[y], sc.y.w1[y])
		emit(y, out)
	}
}

// hresize is OpenCV's horizontal pass: each output sample is the two
// source samples times their weights, summed exactly in int32.
func hresize(dst []int32, src []byte, taps []xtap) {
	dst = dst[:3*len(taps)]
	for i, t := range taps {
		p, q := (*[3]byte)(src[t.o0:]), (*[3]byte)(src[t.o1:])
		d := (*[3]int32)(dst[3*i:])
		d[0] = int32(p[0])*t.w0 + int32(q[0])*t.w1
		d[1] = int32(p[1])*t.w0 + int32(q[1])*t.w1
		d[2] = int32(p[2])*t.w0 + int32(q[2])*t.w1
	}
}

// hresize2 is hresize on two rows at once (each tap loaded once), the
// common case of a downscale, where no row carries over.
func hresize2(dst0, dst1 []int32, src0, src1 []byte, taps []xtap) {
	dst0, dst1 = dst0[:3*len(taps)], dst1[:3*len(taps)]
	for i, t := range taps {
		p, q := (*[3]byte)(src0[t.o0:]), (*[3]byte)(src0[t.o1:])
		d := (*[3]int32)(dst0[3*i:])
		d[0] = int32(p[0])*t.w0 + int32(q[0])*t.w1
		d[1] = int32(p[1])*t.w0 + int32(q[1])*t.w1
		d[2] = int32(p[2])*t.w0 + int32(q[2])*t.w1
		p, q = (*[3]byte)(src1[t.o0:]), (*[3]byte)(src1[t.o1:])
		d = (*[3]int32)(dst1[3*i:])
		d[0] = int32(p[0])*t.w0 + int32(q[0])*t.w1
		d[1] = int32(p[1])*t.w0 + int32(q[1])*t.w1
		d[2] = int32(p[2])*t.w0 + int32(q[2])*t.w1
	}
}

// resizeRow is hresize on two rows then vresize, fused per sample: the
// same integers, without the row buffers.
func resizeRow(dst []byte, src0, src1 []byte, taps []xtap, b0, b1 int32) {
	dst = dst[:3*len(taps)]
	for i, t := range taps {
		p, q := (*[3]byte)(src0[t.o0:]), (*[3]byte)(src0[t.o1:])
		u, v := (*[3]byte)(src1[t.o0:]), (*[3]byte)(src1[t.o1:])
		w0, w1 := t.w0, t.w1
		h0 := int32(p[0])*w0 + int32(q[0])*w1
		h1 := int32(u[0])*w0 + int32(v[0])*w1
		r := ((b0*(h0>>4))>>16 + (b1*(h1>>4))>>16 + 2) >> 2
		h0 = int32(p[1])*w0 + int32(q[1])*w1
		h1 = int32(u[1])*w0 + int32(v[1])*w1
		g := ((b0*(h0>>4))>>16 + (b1*(h1>>4))>>16 + 2) >> 2
		h0 = int32(p[2])*w0 + int32(q[2])*w1
		h1 = int32(u[2])*w0 + int32(v[2])*w1
		bl := ((b0*(h0>>4))>>16 + (b1*(h1>>4))>>16 + 2) >> 2
		d := (*[3]byte)(dst[3*i:])
		d[0], d[1], d[2] = uint8(r), uint8(g), uint8(bl)
	}
}

// vresize is OpenCV's vertical pass for 8 bits (VResizeLinearVec_32s8u and
// the scalar tail it shares its arithmetic with). No clamp is needed: the
// weights of a pair sum to at most 2049 (two roundings of complementary
// values), so a sample is at most 255*2049, each product term at most 1020
// and the result at most (1020+2)>>2 = 255.
func vresize(dst []byte, s0, s1 []int32, b0, b1 int32) {
	n := len(dst)
	s0, s1 = s0[:n], s1[:n]
	for i := range dst {
		dst[i] = uint8(((b0*(s0[i]>>4))>>16 + (b1*(s1[i]>>4))>>16 + 2) >> 2)
	}
}

// halveRow is INTER_AREA's 2x2 fast path for one output row.
func halveRow(dst, r0, r1 []byte) {
	n := len(dst) / 3
	r0, r1 = r0[:6*n], r1[:6*n]
	for i := 0; i < n; i++ {
		a, b := (*[6]byte)(r0[6*i:]), (*[6]byte)(r1[6*i:])
		d := (*[3]byte)(dst[3*i:])
		d[0] = uint8((uint32(a[0]) + uint32(a[3]) + uint32(b[0]) + uint32(b[3]) + 2) >> 2)
		d[1] = uint8((uint32(a[1]) + uint32(a[4]) + uint32(b[1]) + uint32(b[4]) + 2) >> 2)
		d[2] = uint8((uint32(a[2]) + uint32(a[5]) + uint32(b[2]) + uint32(b[5]) + 2) >> 2)
	}
}

// letterboxGo writes img resized to g.NW x g.NH (resizeRGB8) through the
// table into its place in the planar tensor dst. The pure-Go twin of the C
// kernel (resize_cgo.go); builds without cgo use it.
func letterboxGo(img *Image, g Geometry, lut *[3][256]float32, dst []float32) {
	plane := g.InW * g.InH
	r, gg, b := dst[:plane], dst[plane:2*plane], dst[2*plane:]
	resizeRGB8(img, g.NW, g.NH, func(y int, row []byte) {
		o := (y+g.PadY)*g.InW + g.PadX
		rr, rg, rb := r[o:o+g.NW], gg[o:o+g.NW], b[o:o+g.NW]
		row = row[:3*len(rr)]
		for x := range rr {
			p := (*[3]byte)(row[3*x:])
			rr[x], rg[x], rb[x] = lut[0][p[0]], lut[1][p[1]], lut[2][p[2]]
		}
	})
}

// ResizeLinear8 is cv2.resize(img, (nw, nh)) on an 8-bit 3-channel image:
// a new packed RGB image of nw x nh, bit-identical to OpenCV's. The tensor
// path does not use it (ToTensor resizes row by row into the tensor); it is
// for tests and tools that want the pixels.
func ResizeLinear8(img *Image, nw, nh int) *Image {
	out := &Image{Pix: make([]byte, nw*nh*3), W: nw, H: nh, SrcW: nw, SrcH: nh}
	resizeRGB8(img, nw, nh, func(y int, row []byte) { copy(out.Pix[y*nw*3:(y+1)*nw*3], row) })
	return out
}
