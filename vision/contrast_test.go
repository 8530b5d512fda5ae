package vision

import (
	"os"
	"testing"
)

// The expected figures are inference-core's apply_contrast_stretching and
// apply_histogram_equalisation (skimage 0.25, OpenCV 4.12) on the same
// JPEG decoded by OpenCV: the sum of every output byte, and NumPy's 2nd
// and 98th percentiles.
func TestContrastMatchesInferenceCore(t *testing.T) {
	if JPEGDecoder != "libjpeg-turbo" {
		// The figures are of OpenCV's pixels, which are libjpeg-turbo's;
		// the contrast code under test is the same in both builds.
		t.Skipf("byte sums are of libjpeg-turbo's pixels; this build decodes JPEG with %s", JPEGDecoder)
	}
	data, err := os.ReadFile("../testdata/images/chelsea.jpg")
	if err != nil {
		t.Fatal(err)
	}
	decode := func() *Image {
		img, err := Decode(data, DecodeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
	img := decode()
	var hist [256]int
	for _, v := range img.Pix {
		hist[v]++
	}
	if lo, hi := percentile(&hist, len(img.Pix), 0.02), percentile(&hist, len(img.Pix), 0.98); lo != 23 || hi != 190 {
		t.Errorf("percentiles %v %v, NumPy 23 190", lo, hi)
	}
	sum := func(img *Image) (s int) {
		for _, v := range img.Pix {
			s += int(v)
		}
		return s
	}
	ContrastStretch(img)
	if got := sum(img); got != 57071321 {
		t.Errorf("contrast stretching: byte sum %d, inference-core 57071321", got)
	}
	img = decode()
	EqualizeHist(img)
	if got := sum(img); got != 52210509 {
		t.Errorf("histogram equalization: byte sum %d, inference-core 52210509", got)
	}
	// CLAHE on two sizes: 451x300 needs reflect padding to whole tiles,
	// 810x1080 does not.
	img = decode()
	AdaptiveEqualize(img)
	if got := sum(img); got != 49540563 {
		t.Errorf("adaptive equalization: byte sum %d, inference-core 49540563", got)
	}
	bus, err := os.ReadFile("../testdata/images/bus.jpg")
	if err != nil {
		t.Fatal(err)
	}
	img, err = Decode(bus, DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	AdaptiveEqualize(img)
	if got := sum(img); got != 307225917 {
		t.Errorf("adaptive equalization (bus): byte sum %d, inference-core 307225917", got)
	}
}
