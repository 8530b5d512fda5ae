package main

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// TestImageFormatsMatchRoboflow: a CMYK JPEG and a lossy WebP photo, which
// trtserve once refused with 422 and a Roboflow server answers, sent as
// inference-sdk sends a file (API v1, its bytes in base64) to the
// pretrained demo model in a Roboflow cache folder, get inference-core
// 1.8.3's answers (testdata/goldens/formats-v5s-coco.json.gz, from
// scripts/fixtures/make_format_goldens.py): same detections, order,
// classes and boxes, confidences within ONNX Runtime's float noise. A JPEG
// 2000 image (OpenCV reads it, trtserve does not) is refused with a 422
// naming the format.
func TestImageFormatsMatchRoboflow(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	var g letterboxGolden
	readGzipJSON(t, filepath.Join(root, "testdata", "goldens", "formats-v5s-coco.json.gz"), &g)
	if len(g.Cases) < 4 {
		t.Fatalf("%d cases", len(g.Cases))
	}
	cache := t.TempDir()
	writeCacheFolder(t, filepath.Join(cache, "coco-formats", "1"), "yolov5s_weights.onnx", filepath.Join(root, g.Model), yolov5CacheFiles(g.Pre, cocoClassNames(t, root)))
	srv := startServer(t, "--model-cache-dir", cache, "--load-models", "none")
	infer := func(image string, extra map[string]any) (int, []byte) {
		return inferAsSDK(t, srv+"/infer/object_detection", "coco-formats/1", filepath.Join(root, "testdata", "images", image), extra)
	}
	for _, c := range g.Cases {
		p := c.Params
		name := fmt.Sprintf("%s/conf%.2f", c.Image, p.Confidence)
		got := inferGolden(t, name, srv+"/infer/object_detection", "coco-formats/1", filepath.Join(root, "testdata", "images", c.Image), p.asSDK())
		if got.Image != c.ImageSize {
			t.Errorf("%s: image %+v, inference-core %+v", name, got.Image, c.ImageSize)
		}
		if len(got.Predictions) != len(c.Predictions) || len(c.Predictions) == 0 {
			t.Errorf("%s: %d detections, inference-core %d:\n got  %+v\n want %+v",
				name, len(got.Predictions), len(c.Predictions), got.Predictions, c.Predictions)
			continue
		}
		for i, w := range c.Predictions {
			d := got.Predictions[i]
			if !sameBox(d, w, letterboxConfTol) {
				t.Errorf("%s #%d: got %+v, inference-core %+v", name, i, d, w)
			}
		}
	}
	code, body := infer("formats/refuse-jpeg2000.jp2", nil)
	if code != http.StatusUnprocessableEntity || !strings.Contains(string(body), "JPEG 2000") {
		t.Errorf("JPEG 2000: status %d: %s; want 422 naming the format", code, body)
	}
}
