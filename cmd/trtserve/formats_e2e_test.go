package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
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
	var names []string
	data, err := os.ReadFile(filepath.Join(root, "testdata", "goldens", "class_names.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &names); err != nil {
		t.Fatal(err)
	}
	var g letterboxGolden
	readGzipJSON(t, filepath.Join(root, "testdata", "goldens", "formats-v5s-coco.json.gz"), &g)
	if len(g.Cases) < 4 {
		t.Fatalf("%d cases", len(g.Cases))
	}
	cache := t.TempDir()
	dir := filepath.Join(cache, "coco-formats", "1")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, g.Model), filepath.Join(dir, "yolov5s_weights.onnx")); err != nil {
		t.Fatal(err)
	}
	env, _ := json.Marshal(map[string]string{"PREPROCESSING": string(g.Pre)})
	for name, content := range map[string]string{
		"environment.json": string(env),
		"class_names.txt":  strings.Join(names, "\n") + "\n",
		"model_type.json":  `{"project_task_type": "object-detection", "model_type": "yolov5v6s"}`,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	srv := startServer(t, "--model-cache-dir", cache, "--load-models", "none")
	infer := func(image string, extra map[string]any) (int, []byte) {
		raw, err := os.ReadFile(filepath.Join(root, "testdata", "images", image))
		if err != nil {
			t.Fatal(err)
		}
		body := map[string]any{"model_id": "coco-formats/1",
			"image": map[string]string{"type": "base64", "value": base64.StdEncoding.EncodeToString(raw)}}
		for k, v := range extra {
			body[k] = v
		}
		req, _ := json.Marshal(body)
		resp, err := http.Post(srv+"/infer/object_detection", "application/json", bytes.NewReader(req))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, out
	}
	for _, c := range g.Cases {
		p := c.Params
		name := fmt.Sprintf("%s/conf%.2f", c.Image, p.Confidence)
		code, body := infer(c.Image, map[string]any{"confidence": p.Confidence, "iou_threshold": p.IoU,
			"class_agnostic_nms": p.ClassAgnostic, "max_detections": p.MaxDetections})
		if code != 200 {
			t.Fatalf("%s: status %d: %s", name, code, body)
		}
		var got struct {
			Image struct {
				Width  int `json:"width"`
				Height int `json:"height"`
			} `json:"image"`
			Predictions []letterboxPred `json:"predictions"`
		}
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatalf("%s: %v: %s", name, err, body)
		}
		if got.Image.Width != c.ImageSize.Width || got.Image.Height != c.ImageSize.Height {
			t.Errorf("%s: image %+v, inference-core %+v", name, got.Image, c.ImageSize)
		}
		if len(got.Predictions) != len(c.Predictions) || len(c.Predictions) == 0 {
			t.Errorf("%s: %d detections, inference-core %d:\n got  %+v\n want %+v",
				name, len(got.Predictions), len(c.Predictions), got.Predictions, c.Predictions)
			continue
		}
		for i, w := range c.Predictions {
			d := got.Predictions[i]
			if d.X != w.X || d.Y != w.Y || d.Width != w.Width || d.Height != w.Height ||
				d.Class != w.Class || d.ClassID != w.ClassID || math.Abs(d.Confidence-w.Confidence) > letterboxConfTol {
				t.Errorf("%s #%d: got %+v, inference-core %+v", name, i, d, w)
			}
		}
	}
	code, body := infer("formats/refuse-jpeg2000.jp2", nil)
	if code != http.StatusUnprocessableEntity || !strings.Contains(string(body), "JPEG 2000") {
		t.Errorf("JPEG 2000: status %d: %s; want 422 naming the format", code, body)
	}
}
