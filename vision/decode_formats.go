package vision

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"io"
)

// The formats OpenCV's default build (cv2.imdecode, as Roboflow's servers
// call it) reads and trtserve does not decode: a request with one is
// refused with an error naming the format rather than "not an image".
var notDecoded = map[string]string{
	"avif":      "AVIF",
	"jpeg2000":  "JPEG 2000",
	"openexr":   "OpenEXR",
	"hdr":       "Radiance HDR",
	"sunraster": "Sun raster",
	"pfm":       "PFM (floating-point portable map)",
}

// Format sniffs the encoding from magic bytes: "jpeg", "png", "webp",
// "bmp", "tiff", "pnm" or "gif" for what Decode reads, a key of notDecoded
// for a format OpenCV reads and trtserve refuses, "" for anything else.
func Format(data []byte) string {
	has := func(off int, magic string) bool {
		return len(data) >= off+len(magic) && string(data[off:off+len(magic)]) == magic
	}
	switch {
	case len(data) >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF:
		return "jpeg"
	case has(0, "\x89PNG\r\n\x1a\n"):
		return "png"
	case has(0, "RIFF") && has(8, "WEBP"):
		return "webp"
	case has(0, "BM"):
		return "bmp"
	case has(0, "II*\x00"), has(0, "MM\x00*"), has(0, "II+\x00"), has(0, "MM\x00+"):
		return "tiff"
	case len(data) >= 3 && data[0] == 'P' && data[1] >= '1' && data[1] <= '7' && isPNMSpace(data[2]):
		return "pnm"
	case has(0, "GIF87a"), has(0, "GIF89a"):
		return "gif"
	case has(4, "ftypavif"), has(4, "ftypavis"):
		return "avif"
	case has(0, "\x00\x00\x00\x0cjP  \r\n\x87\n"), has(0, "\xff\x4f\xff\x51"):
		return "jpeg2000"
	case has(0, "\x76\x2f\x31\x01"):
		return "openexr"
	case has(0, "#?RADIANCE"), has(0, "#?RGBE"):
		return "hdr"
	case has(0, "\x59\xa6\x6a\x95"):
		return "sunraster"
	case has(0, "PF"), has(0, "Pf"):
		if len(data) >= 3 && isPNMSpace(data[2]) {
			return "pfm"
		}
	}
	return ""
}

func isPNMSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// decodeWith runs one of the standard library's or x/image's decoders:
// the header first, so an oversized image is refused before its pixels are
// allocated, then the pixels. A decoder's "unsupported" error means a
// variant OpenCV may read and the library does not: it is reported as an
// unsupported format, naming it, never as a corrupt file.
func decodeWith(format string, data []byte, limit int64,
	config func(io.Reader) (image.Config, error), decode func(io.Reader) (image.Image, error),
	unsupported func(error) bool) (img image.Image, err error) {
	// These decoders are pure Go and fuzzed upstream, but a request body
	// is hostile input: a panic in one must cost the request, not the
	// server.
	defer func() {
		if r := recover(); r != nil {
			img, err = nil, fmt.Errorf("%w: %s: decoder failed: %v", ErrCorruptImage, format, r)
		}
	}()
	wrap := func(err error) error {
		if unsupported != nil && unsupported(err) {
			return fmt.Errorf("%w: %s: %v (OpenCV may read this variant; trtserve's decoder does not)", ErrUnsupportedFormat, format, err)
		}
		return fmt.Errorf("%w: %s: %v", ErrCorruptImage, format, err)
	}
	cfg, cerr := config(bytes.NewReader(data))
	if cerr != nil {
		return nil, wrap(cerr)
	}
	if err := checkPixels(cfg.Width, cfg.Height, limit); err != nil {
		return nil, err
	}
	src, derr := decode(bytes.NewReader(data))
	if derr != nil {
		return nil, wrap(derr)
	}
	if b := src.Bounds(); b.Dx() != cfg.Width || b.Dy() != cfg.Height {
		return nil, wrap(errors.New("decoded size differs from the header's"))
	}
	return src, nil
}

// errNotDecoded is the answer for a format OpenCV reads and trtserve does
// not, or for bytes that are no image format at all.
func errNotDecoded(format string, data []byte) error {
	if name, ok := notDecoded[format]; ok {
		return fmt.Errorf("%w: %s images are not decoded by trtserve (it reads JPEG, PNG, WebP, BMP, TIFF, PNM and GIF)", ErrUnsupportedFormat, name)
	}
	n := min(len(data), 8)
	return fmt.Errorf("%w: not a JPEG, PNG, WebP, BMP, TIFF, PNM or GIF image (first bytes % x)", ErrUnsupportedFormat, data[:n])
}
