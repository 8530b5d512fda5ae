package vision

import (
	"image"
	"io"

	"github.com/spakin/netpbm"
	"github.com/spakin/netpbm/npcolor"
)

// decodePNM reads PBM, PGM, PPM (plain and raw) and PAM with
// github.com/spakin/netpbm, which keeps samples as stored (no scaling to
// maxval), as OpenCV's PxM reader does: a sample of a file whose maxval is
// below 256 is used as is, a 16-bit sample keeps its high byte, and PBM's
// 1 is black. One quirk of OpenCV 4.12 is kept, because a Roboflow server
// has it: a three-channel PAM (P7, TUPLTYPE RGB) comes out of cv2.imdecode
// with red and blue swapped, where P3/P6 do not. Another is not: OpenCV
// 4.12 returns an RGB_ALPHA PAM black but for its first column (a bug in
// its PAM reader); trtserve returns the stored colours.
//
// Why this module: it is the Netpbm decoder Go's image registry users
// reach for, reads all of P1-P7 (plain and raw, any maxval, 16-bit,
// alpha), keeps samples unscaled (OpenCV's semantics need the raw values),
// is pure Go, and its latest release (v1.3.2) is from 2024.
func decodePNM(data []byte, limit int64) (*Image, error) {
	// Target PAM returns the file's own samples: the default (PNM) would
	// composite a PAM's alpha away.
	decode := func(r io.Reader) (image.Image, error) {
		return netpbm.Decode(r, &netpbm.DecodeOptions{Target: netpbm.PAM})
	}
	src, err := decodeWith("pnm", data, limit, netpbm.DecodeConfig, decode, nil)
	if err != nil {
		return nil, err
	}
	b := src.Bounds()
	w, h := b.Dx(), b.Dy()
	out := &Image{Pix: newPix(w * h * 3), W: w, H: h, SrcW: w, SrcH: h}
	pam := data[1] == '7'
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var r, g, bl uint8
			switch c := src.At(b.Min.X+x, b.Min.Y+y).(type) {
			case npcolor.GrayM:
				r, g, bl = c.Y, c.Y, c.Y
			case npcolor.GrayM32:
				r = uint8(c.Y >> 8)
				g, bl = r, r
			case npcolor.GrayAM:
				r, g, bl = c.Y, c.Y, c.Y
			case npcolor.GrayAM48:
				r = uint8(c.Y >> 8)
				g, bl = r, r
			case npcolor.RGBM:
				r, g, bl = c.R, c.G, c.B
				if pam {
					r, bl = bl, r
				}
			case npcolor.RGBM64:
				r, g, bl = uint8(c.R>>8), uint8(c.G>>8), uint8(c.B>>8)
				if pam {
					r, bl = bl, r
				}
			case npcolor.RGBAM:
				r, g, bl = c.R, c.G, c.B
			case npcolor.RGBAM64:
				r, g, bl = uint8(c.R>>8), uint8(c.G>>8), uint8(c.B>>8)
			default: // PBM: a palette of white (0) and black (1)
				r, g, bl = straightRGB(c)
			}
			o := (y*w + x) * 3
			out.Pix[o], out.Pix[o+1], out.Pix[o+2] = r, g, bl
		}
	}
	return out, nil
}
