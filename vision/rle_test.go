package vision

import (
	"testing"

	"github.com/trtserve/trtserve/model"
)

// The expected strings are pycocotools 2.0's mask.encode of the same masks.
func TestCOCORLE(t *testing.T) {
	small := make([]uint8, 5*7)
	for y := 1; y < 4; y++ {
		for x := 2; x < 5; x++ {
			small[y*7+x] = 1
		}
	}
	small[0*7+6], small[4*7+0] = 1, 1
	big := make([]uint8, 40*30)
	for y := 3; y < 37; y++ {
		for x := 5; x < 25; x++ {
			if !(y >= 10 && y < 20 && x >= 10 && x < 12) {
				big[y*30+x] = 1
			}
		}
	}
	for _, c := range []struct {
		pix  []uint8
		w, h int
		want string
	}{
		{small, 7, 5, "4162L0004NN"},
		{big, 30, 40, "[6R1600000000UO4:LF4:La0000000000000000000000000U6"},
		{make([]uint8, 6), 3, 2, "6"},
	} {
		if got := COCORLE(c.pix, c.w, c.h); got != c.want {
			t.Errorf("%dx%d: %q, pycocotools %q", c.w, c.h, got, c.want)
		}
	}
}

func TestMaskToImage(t *testing.T) {
	// A 4x4 mask over an 8x8 model input, Stretch from a 16x8 image: the
	// mask's left half maps to the image's left half.
	m := Mask{Pix: []uint8{1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0}, W: 4, H: 4}
	g := NewGeometry(model.Stretch, 16, 8, 8, 8)
	out := MaskToImage(m, g, 0, 0, 16, 8)
	for y := 0; y < 8; y++ {
		for x := 0; x < 16; x++ {
			if want := x < 8; (out[y*16+x] == 1) != want {
				t.Fatalf("(%d,%d) = %d", x, y, out[y*16+x])
			}
		}
	}
}
