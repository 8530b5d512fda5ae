package vision

import (
	"bytes"
	"fmt"
	"image"
	"image/gif"
)

// decodeGIF reads a GIF's first frame with Go's image/gif and lays it on
// the logical screen as OpenCV 4.12's GIF reader (IMREAD_COLOR) does: the
// screen starts as the global colour table's background colour, and the
// frame's transparent pixels leave it showing.
func decodeGIF(data []byte, limit int64) (img *Image, err error) {
	defer func() {
		if r := recover(); r != nil {
			img, err = nil, fmt.Errorf("%w: gif: decoder failed: %v", ErrCorruptImage, r)
		}
	}()
	cfg, err := gif.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: gif: %v", ErrCorruptImage, err)
	}
	if err := checkPixels(cfg.Width, cfg.Height, limit); err != nil {
		return nil, err
	}
	src, err := gif.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: gif: %v", ErrCorruptImage, err)
	}
	m, ok := src.(*image.Paletted)
	if !ok {
		return nil, fmt.Errorf("%w: gif: first frame is %T", ErrCorruptImage, src)
	}
	w, h := cfg.Width, cfg.Height
	var bg [3]byte
	if len(data) >= 13 && data[10]&0x80 != 0 { // a global colour table
		n := 1 << (int(data[10]&7) + 1)
		if i := int(data[11]); i < n && len(data) >= 13+3*n {
			copy(bg[:], data[13+3*i:13+3*i+3])
		}
	}
	out := &Image{Pix: newPix(w * h * 3), W: w, H: h, SrcW: w, SrcH: h}
	for i := 0; i < len(out.Pix); i += 3 {
		out.Pix[i], out.Pix[i+1], out.Pix[i+2] = bg[0], bg[1], bg[2]
	}
	var lut [256][3]byte
	var opaque [256]bool
	for i, c := range m.Palette {
		if i == 256 {
			break
		}
		if _, _, _, a := c.RGBA(); a != 0 { // image/gif makes the transparent index RGBA{}
			r, g, b := straightRGB(c)
			lut[i], opaque[i] = [3]byte{r, g, b}, true
		}
	}
	r := m.Bounds().Intersect(image.Rect(0, 0, w, h))
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if i := m.ColorIndexAt(x, y); opaque[i] {
				o := (y*w + x) * 3
				out.Pix[o], out.Pix[o+1], out.Pix[o+2] = lut[i][0], lut[i][1], lut[i][2]
			}
		}
	}
	return out, nil
}
