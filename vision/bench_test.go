package vision

import (
	"bytes"
	"image/jpeg"
	"os"
	"testing"

	"github.com/trtserve/trtserve/model"
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
			g := NewGeometry(model.FitGrey, img.SrcW, img.SrcH, 640, 640)
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
			img, _ := Decode(data, DecodeOptions{TargetW: 640, TargetH: 640, TargetMode: model.FitGrey})
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

// BenchmarkPreprocess640: the stages for a 640x640 JPEG (a typical Roboflow
// dataset export) into a 640 model, and a 1080p frame's resize alone.
//
//	go test -run '^$' -bench Preprocess640 ./vision/
func BenchmarkPreprocess640(b *testing.B) {
	data, err := os.ReadFile("../testdata/bench/640/bus.jpg")
	if err != nil {
		b.Fatal(err)
	}
	dst := make([]float32, 3*640*640)
	norm := Normalize{Std: [3]float32{1, 1, 1}}
	img, err := Decode(data, DecodeOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("decode", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			Decode(data, DecodeOptions{})
		}
	})
	b.Run("tensor-same-size", func(b *testing.B) {
		g := NewGeometry(model.FitGrey, img.SrcW, img.SrcH, 640, 640)
		for i := 0; i < b.N; i++ {
			ToTensor(img, g, norm, 114, dst)
		}
	})
	big, err := Decode(mustRead(b, "../testdata/bench/1080p/bus.jpg"), DecodeOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("tensor-1080p-letterbox", func(b *testing.B) {
		g := NewGeometry(model.FitGrey, big.SrcW, big.SrcH, 640, 640)
		for i := 0; i < b.N; i++ {
			ToTensor(big, g, norm, 114, dst)
		}
	})
}

func mustRead(tb testing.TB, path string) []byte {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

// BenchmarkDecodeBoxes640: YOLOv8 detection output at 640 px (84 x 8400)
// with ~50 confident anchors, the shape of the simulated engine's output.
//
//	go test -run '^$' -bench DecodeBoxes ./vision/
func BenchmarkDecodeBoxes640(b *testing.B) {
	const anchors, nc = 8400, 80
	out := make([]float32, (4+nc)*anchors)
	for i := range out {
		out[i] = float32(i%97) / 97 * 0.02
	}
	for a := 0; a < anchors; a++ {
		out[a], out[anchors+a], out[2*anchors+a], out[3*anchors+a] = float32(a%640), float32(a/14%640), 30, 40
	}
	for j := 0; j < 50; j++ {
		a := j * 167
		out[(4+j%nc)*anchors+a] = 0.5 + float32(j)/100
	}
	opts := NMSOptions{Confidence: 0.4, IoUThreshold: 0.3, MaxDetections: 300, MaxCandidates: 3000}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := DecodeBoxes(out, YOLOv8, anchors, nc, 0, opts); err != nil {
			b.Fatal(err)
		}
	}
}
