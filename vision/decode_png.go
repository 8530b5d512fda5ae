package vision

import (
	"encoding/binary"
	"image/png"
)

// decodePNG reads every PNG colour type and depth with Go's image/png;
// toRGB then does what OpenCV's libpng settings do (strip_16, strip_alpha,
// gray_to_rgb, palette_to_rgb).
func decodePNG(data []byte, limit int64) (*Image, error) {
	src, err := decodeWith("png", data, limit, png.DecodeConfig, png.Decode, nil)
	if err != nil {
		return nil, err
	}
	return toRGB(src), nil
}

// pngOrientation is the Orientation tag of a PNG's eXIf chunk (1 when it
// has none), which OpenCV applies as it does a JPEG's.
func pngOrientation(data []byte) int {
	i := 8
	for i+12 <= len(data) {
		n := int(binary.BigEndian.Uint32(data[i : i+4]))
		typ := string(data[i+4 : i+8])
		if n < 0 || n > len(data)-i-12 {
			return 1
		}
		switch typ {
		case "eXIf":
			return tiffOrientation(data[i+8 : i+8+n])
		case "IEND":
			return 1
		}
		i += 12 + n
	}
	return 1
}
