package vision

import (
	"bytes"
	"errors"
	"image"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/trtserve/trtserve/model"
)

// FuzzDecode: any bytes either decode into an image no larger than the
// pixel limit or fail with one of the package's errors; never a panic or
// a hang. Seeds: the test images and truncations of them.
func FuzzDecode(f *testing.F) {
	// Small seeds keep executions fast; the big test image only as a prefix.
	data, err := os.ReadFile(filepath.Join("..", "testdata", "images", "bus.jpg"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data[:2048], true)
	f.Add(tinyJPEG(f), true)
	f.Add(tinyPNG(f), false)
	const limit = 1 << 20
	f.Fuzz(func(t *testing.T, data []byte, orient bool) {
		img, err := Decode(data, DecodeOptions{MaxPixels: limit, AutoOrient: orient, TargetW: 320, TargetH: 320, TargetMode: model.Stretch})
		if err != nil {
			if !errors.Is(err, ErrUnsupportedFormat) && !errors.Is(err, ErrCorruptImage) && !errors.Is(err, ErrTooManyPixels) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		defer img.Release()
		if img.W <= 0 || img.H <= 0 || int64(img.W)*int64(img.H) > limit || len(img.Pix) < img.W*img.H*3 {
			t.Fatalf("decoded %dx%d with %d bytes", img.W, img.H, len(img.Pix))
		}
	})
}

// FuzzJPEGOrientation: the EXIF reader only ever answers 1..8.
func FuzzJPEGOrientation(f *testing.F) {
	data, err := os.ReadFile(filepath.Join("..", "testdata", "images", "bus.jpg"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data[:min(len(data), 4096)])
	f.Add([]byte("\xff\xd8\xff\xe1\x00\x16Exif\x00\x00II*\x00\x08\x00\x00\x00\x01\x00\x12\x01\x03\x00\x01\x00\x00\x00\x06\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if o := JPEGOrientation(data); o < 1 || o > 8 {
			t.Fatalf("orientation %d", o)
		}
	})
}

// tinyJPEG is a 24x16 baseline JPEG.
func tinyJPEG(tb testing.TB) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 24, 16))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7)
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// tinyPNG is a 3x2 RGBA PNG.
func tinyPNG(tb testing.TB) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 3, 2))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 9)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}
