package vision

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/trtserve/trtserve/model"
)

type goldenPred struct {
	X, Y, Width, Height, Confidence float64
	Class                           string `json:"class"`
	ClassID                         int    `json:"class_id"`
}

// goldenRaw is a case's raw_output: the ONNX output(s) inference-core
// post-processed, as gzipped little-endian float32 files.
type goldenRaw struct {
	File        string `json:"file"`
	Shape       []int  `json:"shape"`
	Protos      string `json:"protos"`       // segmentation prototypes
	ProtosShape []int  `json:"protos_shape"` // segmentation prototypes
}

type goldenFile struct {
	Resize string `json:"resize"`
	Input  [2]int `json:"input_size"`
	Cases  []struct {
		Image  string `json:"image"`
		Params struct {
			Confidence    float64 `json:"confidence"`
			IoU           float64 `json:"iou_threshold"`
			ClassAgnostic bool    `json:"class_agnostic_nms"`
			MaxDetections int     `json:"max_detections"`
		} `json:"params"`
		ImageSize struct{ Width, Height int } `json:"image_size"`
		Raw       *goldenRaw                  `json:"raw_output"`
		Post      []goldenPred                `json:"postprocess_predictions"`
	} `json:"cases"`
}

// readGolden returns the contents of testdata/goldens/<file>, gunzipped:
// goldens are stored gzipped (.json.gz, .bin.gz) to keep the tracked tree
// small enough to send to a GPU machine (scripts/check-tree-size.sh).
func readGolden(tb testing.TB, file string) []byte {
	tb.Helper()
	if filepath.Ext(file) != ".gz" {
		tb.Fatalf("golden %s: want a .gz file (make goldens writes them gzipped)", file)
	}
	zr, err := gzip.NewReader(bytes.NewReader(mustRead(tb, filepath.Join("..", "testdata", "goldens", file))))
	if err != nil {
		tb.Fatalf("golden %s: %v", file, err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		tb.Fatalf("golden %s: %v", file, err)
	}
	return data
}

// loadGolden decodes testdata/goldens/<name>.json.gz into v.
func loadGolden(t *testing.T, name string, v any) {
	t.Helper()
	if err := json.Unmarshal(readGolden(t, name+".json.gz"), v); err != nil {
		t.Fatal(err)
	}
}

// resizeOf maps Roboflow's resize format to ours.
func resizeOf(format string) model.ResizeMode {
	if format == "Stretch to" {
		return model.Stretch
	}
	return model.FitGrey
}

// readFloats reads a gzipped little-endian float32 file of testdata/goldens.
func readFloats(tb testing.TB, name string) []float32 {
	tb.Helper()
	b := readGolden(tb, name)
	if len(b)%4 != 0 {
		tb.Fatalf("golden %s: %d bytes, not whole float32s", name, len(b))
	}
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

// TestDetectionGoldens runs DecodeBoxes + Rescale on the very ONNX outputs
// inference-core post-processed (scripts/fixtures/make_goldens.py) and
// wants the same detections: same classes and rounded boxes, confidences
// within 1e-6.
func TestDetectionGoldens(t *testing.T) {
	for _, tc := range []struct {
		name   string
		layout Layout
	}{{"det-stretch", YOLOv8}, {"det-fitgrey", YOLOv8}, {"det-v5-stretch", YOLOv5}, {"det-v5-fitgrey", YOLOv5}} {
		name := tc.name
		var g goldenFile
		loadGolden(t, name, &g)
		mode := resizeOf(g.Resize)
		checked := 0
		for _, c := range g.Cases {
			if c.Raw == nil {
				continue
			}
			checked++
			out := readFloats(t, c.Raw.File)
			// YOLOv8: [1, 4+nc, anchors]; YOLOv5: [1, anchors, 5+nc].
			classes, anchors := c.Raw.Shape[1]-4, c.Raw.Shape[2]
			if tc.layout == YOLOv5 {
				classes, anchors = c.Raw.Shape[2]-5, c.Raw.Shape[1]
			}
			dets, err := DecodeBoxes(out, tc.layout, anchors, classes, 0, NMSOptions{
				Confidence: c.Params.Confidence, IoUThreshold: c.Params.IoU,
				ClassAgnostic: c.Params.ClassAgnostic, MaxDetections: c.Params.MaxDetections,
			})
			if err != nil {
				t.Fatal(err)
			}
			geo := NewGeometry(mode, c.ImageSize.Width, c.ImageSize.Height, g.Input[1], g.Input[0])
			Rescale(dets, geo, 0, 0)
			if len(dets) != len(c.Post) {
				t.Fatalf("%s %s %+v: %d detections, golden has %d", name, c.Image, c.Params, len(dets), len(c.Post))
			}
			for i, d := range dets {
				want := c.Post[i]
				got := goldenPred{
					X: float64(d.X1+d.X2) / 2, Y: float64(d.Y1+d.Y2) / 2,
					Width: float64(d.X2 - d.X1), Height: float64(d.Y2 - d.Y1),
					Confidence: float64(d.Confidence), ClassID: d.ClassID,
				}
				if got.X != want.X || got.Y != want.Y || got.Width != want.Width || got.Height != want.Height ||
					got.ClassID != want.ClassID || math.Abs(got.Confidence-want.Confidence) > 1e-6 {
					t.Errorf("%s %s %+v #%d: got %+v want %+v", name, c.Image, c.Params, i, got, want)
				}
			}
		}
		if checked == 0 {
			t.Fatalf("%s: no raw-output cases", name)
		}
	}
}

// TestPreprocessingGoldens compares decode + resize + /255 with
// inference-core's tensors (OpenCV). Stretch resizes in float32 in both,
// so values agree to rounding; Fit goes through OpenCV's 8-bit fixed-point
// resize, which trtserve reproduces bit for bit (resize.go): no difference
// allowed (letterbox_test.go checks many more sizes).
// The pure-Go fallback (CGO_ENABLED=0 or -tags noturbojpeg) decodes JPEGs
// with image/jpeg, whose IDCT and chroma upsampling are not
// libjpeg-turbo's: its bound is what it was measured at (max 16.7 grey
// levels on bus.jpg's edges, mean 0.35) with some room, PNGs exact as ever.
func TestPreprocessingGoldens(t *testing.T) {
	fallback := JPEGDecoder != "libjpeg-turbo"
	var cases []struct {
		Image, Resize, File string
		Input               [2]int `json:"input_size"`
	}
	loadGolden(t, "preprocessing", &cases)
	for _, c := range cases {
		t.Run(c.Image, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("..", "testdata", "images", c.Image))
			if err != nil {
				t.Fatal(err)
			}
			img, err := Decode(raw, DecodeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			mode, pad, tol, meanTol := model.Stretch, uint8(0), 0.02, 0.02
			if c.Resize != "Stretch to" {
				mode, pad, tol, meanTol = model.FitGrey, 114, 0, 0
			}
			if fallback && filepath.Ext(c.Image) == ".jpg" {
				tol, meanTol = 20, 0.5
			}
			g := NewGeometry(mode, img.SrcW, img.SrcH, c.Input[1], c.Input[0])
			got := make([]float32, 3*c.Input[0]*c.Input[1])
			if err := ToTensor(img, g, Normalize{Std: [3]float32{1, 1, 1}}, pad, got); err != nil {
				t.Fatal(err)
			}
			want := readFloats(t, c.File)
			var worst, sum float64
			differ := 0
			for i := range want {
				d := math.Abs(float64(got[i]-want[i])) * 255
				worst = max(worst, d)
				sum += d
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					differ++
				}
			}
			mean := sum / float64(len(want))
			t.Logf("%s %s (%s): max %.3f grey levels, mean %.4f, %d of %d values not bit-identical",
				c.Image, c.Resize, JPEGDecoder, worst, mean, differ, len(want))
			if worst > tol || mean > meanTol {
				t.Errorf("%s: tensor differs from OpenCV's by up to %.3f grey levels, mean %.4f (allowed %.2f, %.2f)",
					c.Image, worst, mean, tol, meanTol)
			}
		})
	}
}

type kpGolden struct {
	Resize        string   `json:"resize"`
	Input         [2]int   `json:"input_size"`
	KeypointNames []string `json:"keypoint_names"`
	Cases         []struct {
		Image  string `json:"image"`
		Params struct {
			Confidence float64 `json:"confidence"`
			IoU        float64 `json:"iou_threshold"`
			KpConf     float64 `json:"keypoint_confidence"`
		} `json:"params"`
		ImageSize struct{ Width, Height int } `json:"image_size"`
		Raw       *goldenRaw                  `json:"raw_output"`
		Post      []struct {
			goldenPred
			Keypoints []struct {
				X, Y, Confidence float64
				ClassID          int `json:"class_id"`
			} `json:"keypoints"`
		} `json:"postprocess_predictions"`
	} `json:"cases"`
}

// TestKeypointGoldens: the pose model's raw outputs through DecodeBoxes
// (keypoints ride along as extras through NMS) and Keypoints give
// inference-core's detections and keypoints.
func TestKeypointGoldens(t *testing.T) {
	for _, name := range []string{"kp-stretch", "kp-fitgrey"} {
		var g kpGolden
		loadGolden(t, name, &g)
		mode := resizeOf(g.Resize)
		nk := len(g.KeypointNames)
		checked := 0
		for _, c := range g.Cases {
			if c.Raw == nil {
				continue
			}
			out := readFloats(t, c.Raw.File)
			ch, anchors := c.Raw.Shape[1], c.Raw.Shape[2]
			dets, err := DecodeBoxes(out, YOLOv8, anchors, ch-4-3*nk, 3*nk, NMSOptions{
				Confidence: c.Params.Confidence, IoUThreshold: c.Params.IoU, MaxDetections: 300,
			})
			if err != nil {
				t.Fatal(err)
			}
			geo := NewGeometry(mode, c.ImageSize.Width, c.ImageSize.Height, g.Input[1], g.Input[0])
			kps := make([][]Keypoint, len(dets))
			for i := range dets {
				kps[i] = Keypoints(dets[i], nk, geo, 0, 0)
			}
			Rescale(dets, geo, 0, 0)
			if len(dets) != len(c.Post) {
				t.Fatalf("%s %s %+v: %d detections, golden has %d", name, c.Image, c.Params, len(dets), len(c.Post))
			}
			for i, d := range dets {
				want := c.Post[i]
				if float64(d.X1+d.X2)/2 != want.X || float64(d.Y2-d.Y1) != want.Height || d.ClassID != want.ClassID {
					t.Errorf("%s %s #%d: box %+v, golden %+v", name, c.Image, i, d, want.goldenPred)
				}
				var kept []Keypoint
				for _, k := range kps[i] {
					if k.Confidence >= c.Params.KpConf {
						kept = append(kept, k)
					}
				}
				if len(kept) != len(want.Keypoints) {
					t.Fatalf("%s %s #%d: %d keypoints, golden %d", name, c.Image, i, len(kept), len(want.Keypoints))
				}
				for j, k := range kept {
					w := want.Keypoints[j]
					if k.X != w.X || k.Y != w.Y || k.ID != w.ClassID || math.Abs(k.Confidence-w.Confidence) > 1e-6 {
						t.Errorf("%s %s #%d kp %d: %+v, golden %+v", name, c.Image, i, j, k, w)
					}
				}
				checked++
			}
		}
		if checked == 0 {
			t.Fatalf("%s: no detections checked", name)
		}
	}
}

// TestUltralyticsNMSGoldens: with TrueIoU, DecodeBoxes keeps what
// Ultralytics' non_max_suppression keeps on the same raw outputs
// (scripts/fixtures/make_ultralytics_goldens.py): the same boxes, bit for
// bit in model-input pixels, with the same classes, confidences and order.
func TestUltralyticsNMSGoldens(t *testing.T) {
	var g struct {
		Cases []struct {
			Raw     string `json:"raw_output"`
			Shape   []int  `json:"shape"`
			Layout  string `json:"layout"`
			Classes int    `json:"classes"`
			Params  struct {
				Confidence    float64 `json:"confidence"`
				IoU           float64 `json:"iou_threshold"`
				ClassAgnostic bool    `json:"class_agnostic_nms"`
				MaxDetections int     `json:"max_detections"`
				MaxCandidates int     `json:"max_candidates"`
			} `json:"params"`
			Detections []struct {
				X1, Y1, X2, Y2, Confidence float32
				ClassID                    int `json:"class_id"`
			} `json:"detections"`
		} `json:"cases"`
	}
	loadGolden(t, "nms-ultralytics", &g)
	kept := 0
	for _, c := range g.Cases {
		out := readFloats(t, c.Raw)
		layout, anchors, extra := YOLOv8, c.Shape[2], c.Shape[1]-4-c.Classes // [1, channels, anchors]
		if c.Layout == "yolov5" {
			layout, anchors, extra = YOLOv5, c.Shape[1], c.Shape[2]-5-c.Classes // [1, anchors, channels]
		}
		opts := NMSOptions{Confidence: c.Params.Confidence, IoUThreshold: c.Params.IoU, ClassAgnostic: c.Params.ClassAgnostic,
			MaxDetections: c.Params.MaxDetections, MaxCandidates: c.Params.MaxCandidates, TrueIoU: true}
		dets, err := DecodeBoxes(out, layout, anchors, c.Classes, extra, opts)
		if err != nil {
			t.Fatal(err)
		}
		if len(dets) != len(c.Detections) {
			t.Errorf("%s %+v: %d detections, Ultralytics keeps %d", c.Raw, c.Params, len(dets), len(c.Detections))
			continue
		}
		for i, d := range dets {
			w := c.Detections[i]
			if d.X1 != w.X1 || d.Y1 != w.Y1 || d.X2 != w.X2 || d.Y2 != w.Y2 || d.Confidence != w.Confidence || d.ClassID != w.ClassID {
				t.Errorf("%s %+v #%d: got %+v, Ultralytics %+v", c.Raw, c.Params, i, d, w)
			}
		}
		kept += len(dets)
	}
	// The Roboflow test differs from true IoU on these outputs, or this
	// test would not tell the two apart.
	c := g.Cases[0]
	roboflow, err := DecodeBoxes(readFloats(t, c.Raw), YOLOv8, c.Shape[2], c.Classes, c.Shape[1]-4-c.Classes,
		NMSOptions{Confidence: c.Params.Confidence, IoUThreshold: c.Params.IoU, MaxDetections: c.Params.MaxDetections})
	if err != nil {
		t.Fatal(err)
	}
	if kept == 0 || len(roboflow) == len(c.Detections) {
		t.Fatalf("goldens do not discriminate: %d kept in all, %s keeps %d with Roboflow's NMS and %d with Ultralytics'",
			kept, c.Raw, len(roboflow), len(c.Detections))
	}
}
