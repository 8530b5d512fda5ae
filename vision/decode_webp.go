package vision

import (
	"image"

	"golang.org/x/image/webp"
)

// decodeWebP reads lossy, lossless and alpha WebP with
// golang.org/x/image/webp. OpenCV calls libwebp's WebPDecodeBGR(A)Into:
// lossless pixels are as stored; lossy ones go through libwebp's "fancy"
// chroma upsampler and its fixed-point BT.601 conversion, which
// webpYUVToRGB reproduces on the Y, U and V planes x/image decodes (Go's
// own YCbCr conversion is JFIF full-range and would be off by up to ~20).
// Alpha is dropped as stored. OpenCV 4.12 does not apply a WebP's EXIF
// orientation, so neither does Decode.
func decodeWebP(data []byte, limit int64) (*Image, error) {
	src, err := decodeWith("webp", data, limit, webp.DecodeConfig, webp.Decode, nil)
	if err != nil {
		return nil, err
	}
	switch s := src.(type) {
	case *image.YCbCr:
		return webpYUVToRGB(s), nil
	case *image.NYCbCrA:
		return webpYUVToRGB(&s.YCbCr), nil
	}
	return toRGB(src), nil
}

// webpYUVToRGB is libwebp's EmitFancyRGB over a whole 4:2:0 picture: each
// pair of output rows is upsampled from the chroma rows above and below
// it, the first and (for an even height) last rows from one chroma row.
func webpYUVToRGB(s *image.YCbCr) *Image {
	b := s.Bounds()
	w, h := b.Dx(), b.Dy()
	out := &Image{Pix: newPix(w * h * 3), W: w, H: h, SrcW: w, SrcH: h}
	yRow := func(y int) []byte { o := s.YOffset(b.Min.X, b.Min.Y+y); return s.Y[o : o+w] }
	cw := (w + 1) / 2
	uvRow := func(cy int) ([]byte, []byte) {
		o := s.COffset(b.Min.X, b.Min.Y+2*cy)
		return s.Cb[o : o+cw], s.Cr[o : o+cw]
	}
	row := func(y int) []byte { return out.Pix[y*w*3 : (y+1)*w*3] }
	u0, v0 := uvRow(0)
	webpUpsamplePair(yRow(0), nil, u0, v0, u0, v0, row(0), nil, w)
	for y := 1; y+1 < h; y += 2 {
		tu, tv := uvRow((y - 1) / 2)
		cu, cv := uvRow((y + 1) / 2)
		webpUpsamplePair(yRow(y), yRow(y+1), tu, tv, cu, cv, row(y), row(y+1), w)
	}
	if h > 1 && h%2 == 0 {
		cu, cv := uvRow(h/2 - 1)
		webpUpsamplePair(yRow(h-1), nil, cu, cv, cu, cv, row(h-1), nil, w)
	}
	return out
}

// webpUpsamplePair is libwebp's UPSAMPLE_FUNC (dsp/upsampling.c), with U
// and V packed in one uint32 as there, so the rounding is the same.
func webpUpsamplePair(topY, botY, topU, topV, curU, curV, topDst, botDst []byte, n int) {
	load := func(u, v byte) uint32 { return uint32(u) | uint32(v)<<16 }
	put := func(dst []byte, x int, y byte, uv uint32) {
		r, g, b := webpYUVToRGBPixel(int(y), int(uv&0xff), int(uv>>16))
		dst[3*x], dst[3*x+1], dst[3*x+2] = r, g, b
	}
	last := (n - 1) >> 1
	tl := load(topU[0], topV[0])
	l := load(curU[0], curV[0])
	put(topDst, 0, topY[0], (3*tl+l+0x00020002)>>2)
	if botY != nil {
		put(botDst, 0, botY[0], (3*l+tl+0x00020002)>>2)
	}
	for x := 1; x <= last; x++ {
		t := load(topU[x], topV[x])
		uv := load(curU[x], curV[x])
		avg := tl + t + l + uv + 0x00080008
		diag12 := (avg + 2*(t+l)) >> 3
		diag03 := (avg + 2*(tl+uv)) >> 3
		put(topDst, 2*x-1, topY[2*x-1], (diag12+tl)>>1)
		put(topDst, 2*x, topY[2*x], (diag03+t)>>1)
		if botY != nil {
			put(botDst, 2*x-1, botY[2*x-1], (diag03+l)>>1)
			put(botDst, 2*x, botY[2*x], (diag12+uv)>>1)
		}
		tl, l = t, uv
	}
	if n&1 == 0 {
		put(topDst, n-1, topY[n-1], (3*tl+l+0x00020002)>>2)
		if botY != nil {
			put(botDst, n-1, botY[n-1], (3*l+tl+0x00020002)>>2)
		}
	}
}

// webpYUVToRGBPixel is libwebp's VP8YUVToR/G/B (dsp/yuv.h): 14-bit fixed
// point, limited-range BT.601.
func webpYUVToRGBPixel(y, u, v int) (uint8, uint8, uint8) {
	mulHi := func(v, c int) int { return (v * c) >> 8 }
	clip := func(v int) uint8 {
		const mask = (256 << 6) - 1
		if v&^mask == 0 {
			return uint8(v >> 6)
		}
		if v < 0 {
			return 0
		}
		return 255
	}
	yy := mulHi(y, 19077)
	return clip(yy + mulHi(v, 26149) - 14234),
		clip(yy - mulHi(u, 6419) - mulHi(v, 13320) + 8708),
		clip(yy + mulHi(u, 33050) - 17685)
}
