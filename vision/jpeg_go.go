//go:build !cgo || noturbojpeg

package vision

import (
	"bytes"
	"fmt"
	"image/jpeg"
)

// JPEGDecoder names the JPEG implementation compiled in.
const JPEGDecoder = "image/jpeg"

// decodeJPEG is the pure-Go fallback: no DCT scaling, about 5x slower than
// libjpeg-turbo (docs/benchmarks.md).
func decodeJPEG(data []byte, limit int64, _ func(w, h int) (int, int)) (*Image, error) {
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: jpeg: %v", ErrCorruptImage, err)
	}
	if err := checkPixels(cfg.Width, cfg.Height, limit); err != nil {
		return nil, err
	}
	src, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: jpeg: %v", ErrCorruptImage, err)
	}
	return toRGB(src), nil
}
