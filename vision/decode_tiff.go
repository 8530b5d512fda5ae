package vision

import (
	"encoding/binary"
	"errors"
	"image"
	"image/color"

	"golang.org/x/image/tiff"
)

// decodeTIFF reads TIFF with golang.org/x/image/tiff (uncompressed, LZW,
// Deflate, PackBits, CCITT; 1- to 16-bit grey, palette, RGB and RGBA).
// OpenCV reads an 8-bit-destination TIFF through libtiff's RGBA reader
// (TIFFReadRGBA*), whose conversions are reproduced here:
//   - 16-bit colour becomes (v+128)/257, 16-bit grey v>>8;
//   - unassociated alpha is premultiplied, (v*a+127)/255, then dropped;
//   - a colormap whose entries are all below 256 is taken as 8-bit,
//     otherwise each entry keeps its high byte.
//
// JPEG-, LZMA-, ZSTD- or WebP-compressed TIFFs, which OpenCV's libtiff may
// read, are refused as unsupported.
func decodeTIFF(data []byte, limit int64) (*Image, error) {
	src, err := decodeWith("tiff", data, limit, tiff.DecodeConfig, tiff.Decode,
		func(err error) bool { var u tiff.UnsupportedError; return errors.As(err, &u) })
	if err != nil {
		return nil, err
	}
	if c, _ := tiffTag(data, 259); c == 3 || c == 4 {
		if p, _ := tiffTag(data, 262); p == 1 {
			// x/image/tiff returns a BlackIsZero CCITT G3/G4 image
			// inverted (white as 0); libtiff, and so OpenCV, does not.
			if g, ok := src.(*image.Gray); ok {
				for i := range g.Pix {
					g.Pix[i] = 255 - g.Pix[i]
				}
			}
		}
	}
	b := src.Bounds()
	w, h := b.Dx(), b.Dy()
	out := &Image{Pix: newPix(w * h * 3), W: w, H: h, SrcW: w, SrcH: h}
	put := func(x, y int, r, g, bl uint8) {
		o := (y*w + x) * 3
		out.Pix[o], out.Pix[o+1], out.Pix[o+2] = r, g, bl
	}
	switch s := src.(type) {
	case *image.RGBA: // RGB, or associated (premultiplied) alpha: as stored
		copyRGBX(out, s.Pix, s.Stride)
	case *image.NRGBA:
		for y := 0; y < h; y++ {
			row := s.Pix[y*s.Stride:]
			for x := 0; x < w; x++ {
				p := row[4*x : 4*x+4]
				put(x, y, premultiply(p[0], p[3]), premultiply(p[1], p[3]), premultiply(p[2], p[3]))
			}
		}
	case *image.RGBA64:
		for y := 0; y < h; y++ {
			row := s.Pix[y*s.Stride:]
			for x := 0; x < w; x++ {
				p := row[8*x : 8*x+8]
				put(x, y, tiff16(p[0], p[1]), tiff16(p[2], p[3]), tiff16(p[4], p[5]))
			}
		}
	case *image.NRGBA64:
		for y := 0; y < h; y++ {
			row := s.Pix[y*s.Stride:]
			for x := 0; x < w; x++ {
				p := row[8*x : 8*x+8]
				a := tiff16(p[6], p[7])
				put(x, y, premultiply(tiff16(p[0], p[1]), a), premultiply(tiff16(p[2], p[3]), a), premultiply(tiff16(p[4], p[5]), a))
			}
		}
	case *image.Paletted:
		var lut [256][3]byte
		eight := true
		for _, c := range s.Palette {
			if v, ok := c.(color.RGBA64); ok && (v.R >= 256 || v.G >= 256 || v.B >= 256) {
				eight = false
			}
		}
		for i, c := range s.Palette {
			if i == 256 {
				break
			}
			v, ok := c.(color.RGBA64)
			switch {
			case !ok:
				r, g, bl := straightRGB(c)
				lut[i] = [3]byte{r, g, bl}
			case eight:
				lut[i] = [3]byte{uint8(v.R), uint8(v.G), uint8(v.B)}
			default:
				lut[i] = [3]byte{uint8(v.R >> 8), uint8(v.G >> 8), uint8(v.B >> 8)}
			}
		}
		for y := 0; y < h; y++ {
			row := s.Pix[y*s.Stride:]
			for x := 0; x < w; x++ {
				c := lut[row[x]]
				put(x, y, c[0], c[1], c[2])
			}
		}
	default: // grey (WhiteIsZero already inverted by x/image), 16-bit grey as v>>8
		return toRGB(src), nil
	}
	return out, nil
}

// tiff16 is libtiff's Bitdepth16To8 of a big-endian 16-bit sample.
func tiff16(hi, lo uint8) uint8 {
	return uint8((uint32(hi)<<8 | uint32(lo) + 128) / 257)
}

// premultiply is libtiff's UaToAa table: (v*a + 127) / 255.
func premultiply(v, a uint8) uint8 {
	return uint8((uint32(v)*uint32(a) + 127) / 255)
}

// tiffTag is the first value of a SHORT or LONG tag of a TIFF's first IFD.
func tiffTag(t []byte, tag uint16) (int, bool) {
	if len(t) < 8 {
		return 0, false
	}
	var bo binary.ByteOrder
	switch string(t[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 0, false
	}
	off := int(bo.Uint32(t[4:8]))
	if off < 8 || off > len(t)-2 {
		return 0, false
	}
	count := int(bo.Uint16(t[off : off+2]))
	for k := 0; k < count; k++ {
		e := off + 2 + 12*k
		if e > len(t)-12 {
			return 0, false
		}
		if bo.Uint16(t[e:e+2]) != tag {
			continue
		}
		switch bo.Uint16(t[e+2 : e+4]) {
		case 3:
			return int(bo.Uint16(t[e+8 : e+10])), true
		case 4:
			return int(bo.Uint32(t[e+8 : e+12])), true
		}
		return 0, false
	}
	return 0, false
}
