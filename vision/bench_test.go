package vision

import (
	"bytes"
	"image/jpeg"
	"os"
	"testing"
)

// BenchmarkDecodePreprocess1080p: a 1920x1080 q90 JPEG to a 640x640
// letterboxed float tensor, three ways. Compare in one run:
//
//	go test -run '^$' -bench DecodePreprocess ./vision/
func BenchmarkDecodePreprocess1080p(b *testing.B) {
	data, err := os.ReadFile("../testdata/images/zidane_1080p.jpg")
	if err != nil {
		b.Fatal(err)
	}
	dst := make([]float32, 3*640*640)
	norm := Normalize{Std: [3]float32{1, 1, 1}}
	run := func(b *testing.B, decode func() *Image) {
		b.SetBytes(int64(len(data)))
		for i := 0; i < b.N; i++ {
			img := decode()
			g := NewGeometry(Fit, img.SrcW, img.SrcH, 640, 640)
			if err := ToTensor(img, g, norm, 114, dst); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run(JPEGDecoder+"/full", func(b *testing.B) {
		run(b, func() *Image { img, _ := Decode(data, DecodeOptions{}); return img })
	})
	b.Run(JPEGDecoder+"/dct-scaled", func(b *testing.B) {
		run(b, func() *Image {
			img, _ := Decode(data, DecodeOptions{TargetW: 640, TargetH: 640, TargetMode: Fit})
			return img
		})
	})
	b.Run("image-jpeg/full", func(b *testing.B) {
		run(b, func() *Image {
			src, err := jpeg.Decode(bytes.NewReader(data))
			if err != nil {
				b.Fatal(err)
			}
			return toRGB(src)
		})
	})
}
