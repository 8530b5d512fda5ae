package vision

import (
	"errors"

	"golang.org/x/image/bmp"
)

// decodeBMP reads uncompressed 1/2/4/8-bit palette, 24-bit and 32-bit BMPs
// with golang.org/x/image/bmp; the fourth byte of a 32-bit pixel is
// dropped as OpenCV drops it. RLE-compressed and 16-bit BMPs, which OpenCV
// also reads, are refused as unsupported (x/image does not decode them).
func decodeBMP(data []byte, limit int64) (*Image, error) {
	src, err := decodeWith("bmp", data, limit, bmp.DecodeConfig, bmp.Decode,
		func(err error) bool { return errors.Is(err, bmp.ErrUnsupported) })
	if err != nil {
		return nil, err
	}
	return toRGB(src), nil
}
