package vision

import (
	"image"
	"image/color"
)

// toRGB converts a decoded image.Image to packed RGB the way OpenCV's
// IMREAD_COLOR leaves it (then read as RGB rather than BGR):
//   - alpha is dropped, not blended, and colour under it is the colour
//     stored: OpenCV strips the alpha channel of PNG, WebP and BMP;
//   - 16-bit samples keep their high byte (libpng's png_set_strip_16,
//     OpenCV's PxM reader), v >> 8;
//   - grey is replicated on three channels;
//   - CMYK (Go's JPEG fallback only) follows OpenCV's CMYK formula.
//
// Formats whose OpenCV reader converts differently (TIFF through libtiff's
// RGBA reader, lossy WebP through libwebp's upsampler) convert in their own
// decode_*.go file before falling back here.
func toRGB(src image.Image) *Image {
	b := src.Bounds()
	w, h := b.Dx(), b.Dy()
	out := &Image{Pix: newPix(w * h * 3), W: w, H: h, SrcW: w, SrcH: h}
	rows := func(stride, bpp int, pix []byte, f func(dst, row []byte)) {
		for y := 0; y < h; y++ {
			f(out.Pix[y*w*3:(y+1)*w*3], pix[y*stride:y*stride+w*bpp])
		}
	}
	switch s := src.(type) {
	case *image.NRGBA:
		copyRGBX(out, s.Pix, s.Stride)
	case *image.RGBA: // opaque PNGs decode to RGBA with alpha 255
		copyRGBX(out, s.Pix, s.Stride)
	case *image.Gray:
		rows(s.Stride, 1, s.Pix, func(dst, row []byte) {
			for x, v := range row {
				dst[3*x], dst[3*x+1], dst[3*x+2] = v, v, v
			}
		})
	case *image.Gray16:
		rows(s.Stride, 2, s.Pix, func(dst, row []byte) {
			for x := 0; x < w; x++ {
				v := row[2*x] // big-endian: the high byte is v >> 8
				dst[3*x], dst[3*x+1], dst[3*x+2] = v, v, v
			}
		})
	case *image.NRGBA64:
		rows(s.Stride, 8, s.Pix, func(dst, row []byte) {
			for x := 0; x < w; x++ {
				dst[3*x], dst[3*x+1], dst[3*x+2] = row[8*x], row[8*x+2], row[8*x+4]
			}
		})
	case *image.RGBA64: // 16-bit PNG without alpha: alpha is 0xffff, colour as stored
		rows(s.Stride, 8, s.Pix, func(dst, row []byte) {
			for x := 0; x < w; x++ {
				dst[3*x], dst[3*x+1], dst[3*x+2] = row[8*x], row[8*x+2], row[8*x+4]
			}
		})
	case *image.Paletted:
		lut := paletteRGB(s.Palette)
		rows(s.Stride, 1, s.Pix, func(dst, row []byte) {
			for x, i := range row {
				c := lut[i]
				dst[3*x], dst[3*x+1], dst[3*x+2] = c[0], c[1], c[2]
			}
		})
	case *image.CMYK:
		// Go's image/jpeg undoes Adobe's inversion; libjpeg (and so
		// OpenCV's formula) sees the inverted bytes: invert back.
		rows(s.Stride, 4, s.Pix, func(dst, row []byte) {
			for x := 0; x < w; x++ {
				dst[3*x], dst[3*x+1], dst[3*x+2] = cmykToRGB(255-row[4*x], 255-row[4*x+1], 255-row[4*x+2], 255-row[4*x+3])
			}
		})
	case *image.YCbCr:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				yi := s.YOffset(b.Min.X+x, b.Min.Y+y)
				ci := s.COffset(b.Min.X+x, b.Min.Y+y)
				r, g, bb := ycbcrToRGB(s.Y[yi], s.Cb[ci], s.Cr[ci])
				o := (y*w + x) * 3
				out.Pix[o], out.Pix[o+1], out.Pix[o+2] = r, g, bb
			}
		}
	default:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				r, g, bb := straightRGB(src.At(b.Min.X+x, b.Min.Y+y))
				o := (y*w + x) * 3
				out.Pix[o], out.Pix[o+1], out.Pix[o+2] = r, g, bb
			}
		}
	}
	return out
}

// paletteRGB is a palette's stored colours, alpha dropped; indices past
// the palette read black, as libpng and x/image leave them.
func paletteRGB(p color.Palette) *[256][3]byte {
	var lut [256][3]byte
	for i, c := range p {
		if i == 256 {
			break
		}
		r, g, b := straightRGB(c)
		lut[i] = [3]byte{r, g, b}
	}
	return &lut
}

// straightRGB is a colour's stored (non-premultiplied) 8-bit RGB.
func straightRGB(c color.Color) (uint8, uint8, uint8) {
	switch v := c.(type) {
	case color.NRGBA:
		return v.R, v.G, v.B
	case color.RGBA:
		if v.A == 0xff {
			return v.R, v.G, v.B
		}
	case color.NRGBA64:
		return uint8(v.R >> 8), uint8(v.G >> 8), uint8(v.B >> 8)
	case color.Gray:
		return v.Y, v.Y, v.Y
	}
	r, g, b, a := c.RGBA()
	if a != 0 && a != 0xffff { // un-premultiply: drop alpha, keep colour
		r, g, b = r*0xffff/a, g*0xffff/a, b*0xffff/a
	}
	return uint8(r >> 8), uint8(g >> 8), uint8(b >> 8)
}

// copyRGBX copies 4-byte pixels (RGB + alpha) into out, dropping alpha.
func copyRGBX(out *Image, pix []byte, stride int) {
	w := out.W
	for y := 0; y < out.H; y++ {
		row := pix[y*stride : y*stride+w*4]
		dst := out.Pix[y*w*3 : (y+1)*w*3]
		for x := 0; x < w; x++ {
			dst[3*x], dst[3*x+1], dst[3*x+2] = row[4*x], row[4*x+1], row[4*x+2]
		}
	}
}

// cmykToRGB is OpenCV's icvCvt_CMYK2BGR_8u_C4C3R on the bytes libjpeg
// returns for a CMYK or YCCK JPEG (as stored, i.e. Adobe-inverted):
// R = k - ((255-c)*k >> 8), likewise G from m and B from y.
func cmykToRGB(c, m, y, k uint8) (uint8, uint8, uint8) {
	kk := int(k)
	f := func(v uint8) uint8 { return uint8(kk - ((255-int(v))*kk)>>8) }
	return f(c), f(m), f(y)
}

// ycbcrToRGB is JFIF's conversion with libjpeg's rounding (Go's JPEG
// fallback only: libjpeg-turbo converts in C).
func ycbcrToRGB(y, cb, cr uint8) (uint8, uint8, uint8) {
	yy := float64(y)
	cbf, crf := float64(cb)-128, float64(cr)-128
	clamp := func(v float64) uint8 {
		v += 0.5
		if v < 0 {
			return 0
		}
		if v > 255 {
			return 255
		}
		return uint8(v)
	}
	return clamp(yy + 1.402*crf), clamp(yy - 0.344136*cbf - 0.714136*crf), clamp(yy + 1.772*cbf)
}
