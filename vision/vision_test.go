package vision

import (
	"bytes"
	"errors"
	"os"
	"testing"

	"github.com/trtserve/trtserve/model"
)

func TestDecodeOrientsEXIF(t *testing.T) {
	plain, _ := os.ReadFile("../testdata/images/bus.jpg")
	rotated, _ := os.ReadFile("../testdata/images/bus_exif6.jpg")
	if o := JPEGOrientation(rotated); o != 6 {
		t.Fatalf("orientation %d, want 6", o)
	}
	if o := JPEGOrientation(plain); o != 1 {
		t.Fatalf("orientation %d, want 1", o)
	}
	a, err := Decode(plain, DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Decode(rotated, DecodeOptions{AutoOrient: true})
	if err != nil {
		t.Fatal(err)
	}
	if a.W != b.W || a.H != b.H || b.SrcW != 810 || b.SrcH != 1080 {
		t.Fatalf("oriented %dx%d (src %dx%d), want %dx%d", b.W, b.H, b.SrcW, b.SrcH, a.W, a.H)
	}
	var diff int
	for i := range a.Pix {
		d := int(a.Pix[i]) - int(b.Pix[i])
		diff += max(d, -d)
	}
	if mean := float64(diff) / float64(len(a.Pix)); mean > 4 { // two JPEG encodings of one photo
		t.Fatalf("auto-oriented image differs from the upright one by %.1f levels on average", mean)
	}
	c, _ := Decode(rotated, DecodeOptions{})
	if c.W != 1080 || c.H != 810 {
		t.Fatalf("without auto-orient the stored layout stays: %dx%d", c.W, c.H)
	}
}

func TestDecodeErrors(t *testing.T) {
	jpg, _ := os.ReadFile("../testdata/images/bus.jpg")
	cases := []struct {
		name string
		data []byte
		opts DecodeOptions
		want error
	}{
		{"text", []byte("hello"), DecodeOptions{}, ErrUnsupportedFormat},
		{"truncated jpeg", jpg[:len(jpg)/2], DecodeOptions{}, ErrCorruptImage},
		{"jpeg header only", jpg[:20], DecodeOptions{}, ErrCorruptImage},
		{"pixel limit", jpg, DecodeOptions{MaxPixels: 810*1080 - 1}, ErrTooManyPixels},
		{"png garbage", []byte("\x89PNG\r\n\x1a\nxxxxxxxx"), DecodeOptions{}, ErrCorruptImage},
	}
	for _, c := range cases {
		if _, err := Decode(c.data, c.opts); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
}

func TestGeometryMatchesRoboflow(t *testing.T) {
	cases := []struct {
		srcW, srcH, inW, inH int
		nw, nh, padX, padY   int
	}{
		{810, 1080, 320, 320, 240, 320, 40, 0},
		{1920, 1080, 640, 640, 640, 360, 0, 140},
		{1280, 720, 320, 320, 320, 180, 0, 70},
		{451, 300, 640, 480, 640, 425, 0, 27}, // int() truncation, odd pad pixel at the bottom
		{10, 1000, 640, 640, 6, 640, 317, 0},
	}
	for _, c := range cases {
		g := NewGeometry(model.FitGrey, c.srcW, c.srcH, c.inW, c.inH)
		if g.NW != c.nw || g.NH != c.nh || g.PadX != c.padX || g.PadY != c.padY {
			t.Errorf("%dx%d in %dx%d: got %+v", c.srcW, c.srcH, c.inW, c.inH, g)
		}
	}
}

// Pooled pixel buffers are not zeroed: a decode into a recycled buffer must
// give the same pixels as a fresh one, whatever the buffer held before.
func TestDecodeIntoRecycledBuffers(t *testing.T) {
	small, err := os.ReadFile("../testdata/bench/640/bus.jpg")
	if err != nil {
		t.Fatal(err)
	}
	want, err := Decode(small, DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ref := append([]byte(nil), want.Pix...)
	for i := range 5 {
		big, err := Decode(mustRead(t, "../testdata/bench/1080p/zidane.jpg"), DecodeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		big.Release()
		big.Release() // harmless
		got, err := Decode(small, DecodeOptions{AutoOrient: i%2 == 0})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Pix, ref) {
			t.Fatalf("round %d: pixels differ after decoding into a recycled buffer", i)
		}
		got.Release()
	}
}

func TestStaticCropAndGray(t *testing.T) {
	// Roboflow's int(pct / 100 * dim).
	for _, c := range []struct {
		w, h                   int
		xmin, ymin, xmax, ymax float64
		want                   [4]int
	}{
		{810, 1080, 10, 20, 90, 95, [4]int{81, 216, 729, 1026}},
		{100, 100, 0, 0, 100, 100, [4]int{0, 0, 100, 100}},
		{33, 17, 33.3, 50, 66.7, 99.9, [4]int{10, 8, 22, 16}},
	} {
		x0, y0, x1, y1 := StaticCropRect(c.w, c.h, c.xmin, c.ymin, c.xmax, c.ymax)
		if got := [4]int{x0, y0, x1, y1}; got != c.want {
			t.Errorf("%+v: %v", c, got)
		}
	}
	img := &Image{Pix: []byte{255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30}, W: 2, H: 2, SrcW: 2, SrcH: 2}
	crop, err := Crop(img, 1, 0, 2, 2)
	if err != nil || crop.W != 1 || crop.H != 2 || !bytes.Equal(crop.Pix, []byte{0, 255, 0, 10, 20, 30}) {
		t.Fatalf("crop %+v %v", crop, err)
	}
	if _, err := Crop(img, 1, 1, 1, 2); err == nil {
		t.Fatal("an empty crop must fail")
	}
	// OpenCV 4.12 cv2.cvtColor(BGR2GRAY) of pure red, green, blue and
	// (R,G,B) = (10, 20, 30): 76, 150, 29, 18.
	Gray(img)
	if want := []byte{76, 76, 76, 150, 150, 150, 29, 29, 29, 18, 18, 18}; !bytes.Equal(img.Pix, want) {
		t.Fatalf("gray %v, want %v", img.Pix, want)
	}
}
