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

// nasRFDETRGolden is testdata/goldens/{nas,rfdetr}-*.json.gz: a YOLO-NAS or
// RF-DETR test model through inference-core 1.8.3's own class for its
// family (scripts/fixtures/make_nas_rfdetr_goldens.py).
type nasRFDETRGolden struct {
	Model      string          `json:"model"`
	Task       string          `json:"task"`
	ModelType  string          `json:"model_type"`
	Pre        json.RawMessage `json:"environment_preprocessing"`
	Env        map[string]any  `json:"environment"`
	ClassNames []string        `json:"class_names"`
	Cases      []nasRFDETRCase `json:"cases"`
}

type nasRFDETRCase struct {
	Image     string         `json:"image"`
	Params    map[string]any `json:"params"`
	ImageSize struct {
		Width  int `json:"width"`
		Height int `json:"height"`
	} `json:"image_size"`
	Predictions []nasRFDETRPred `json:"predictions"`
}

type nasRFDETRPred struct {
	X, Y, Width, Height, Confidence float64
	Class                           string                   `json:"class"`
	ClassID                         int                      `json:"class_id"`
	Points                          []struct{ X, Y float64 } `json:"points"`
}

// nasRFDETRConfTol allows for ONNX Runtime's float noise (the server's
// library against the goldens' wheel) and, for RF-DETR, for numpy's
// float32 exp in its sigmoid (a few float32 steps, see
// tasks.TestRFDETRDecodeMatchesInferenceCore).
const nasRFDETRConfTol = 1e-5

// nasRFDETRCache lays out each golden's model as a Roboflow model-cache
// folder, as inference-core read it: weights.onnx, environment.json (with
// RF-DETR's RESOLUTION), class_names.txt, model_type.json.
func nasRFDETRCache(t *testing.T, root string, names ...string) (string, map[string]nasRFDETRGolden) {
	t.Helper()
	cache := t.TempDir()
	goldens := map[string]nasRFDETRGolden{}
	for _, name := range names {
		var g nasRFDETRGolden
		readGzipJSON(t, filepath.Join(root, "testdata", "goldens", name+".json.gz"), &g)
		if len(g.Cases) < 4 {
			t.Fatalf("%s: %d cases", name, len(g.Cases))
		}
		goldens[name] = g
		dir := filepath.Join(cache, name, "1")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join(root, g.Model), filepath.Join(dir, "weights.onnx")); err != nil {
			t.Fatal(err)
		}
		env := map[string]any{"PREPROCESSING": string(g.Pre)}
		for k, v := range g.Env {
			env[k] = v
		}
		envJSON, _ := json.Marshal(env)
		mt, _ := json.Marshal(map[string]string{"project_task_type": g.Task, "model_type": g.ModelType})
		files := map[string]string{
			"environment.json": string(envJSON),
			"class_names.txt":  strings.Join(g.ClassNames, "\n") + "\n",
			"model_type.json":  string(mt),
		}
		for f, content := range files {
			if err := os.WriteFile(filepath.Join(dir, f), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return cache, goldens
}

// inferAsSDK sends what inference-sdk's InferenceHTTPClient.infer sends a
// local server (API v1: the file's bytes in base64, options beside them).
func inferAsSDK(t *testing.T, url, modelID, image string, params map[string]any) (int, []byte) {
	t.Helper()
	raw, err := os.ReadFile(image)
	if err != nil {
		t.Fatal(err)
	}
	req := map[string]any{"model_id": modelID,
		"image": map[string]string{"type": "base64", "value": base64.StdEncoding.EncodeToString(raw)}}
	for k, v := range params {
		req[k] = v
	}
	body, _ := json.Marshal(req)
	resp, err := http.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// TestYOLONASAndRFDETRMatchRoboflow: the YOLO-NAS test model (Stretch and
// grey Fit) and the RF-DETR one (Stretch and black Fit, Roboflow's
// background class in its class list) served from Roboflow model-cache
// folders answer every case of their goldens as inference-core 1.8.3's
// YOLONASObjectDetection and RFDETRObjectDetection do: the same detections
// in the same order, classes, boxes (YOLO-NAS's rounded to the pixel,
// RF-DETR's unrounded floats) equal, confidences within
// nasRFDETRConfTol.
func TestYOLONASAndRFDETRMatchRoboflow(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"nas-stretch", "nas-fitgrey", "rfdetr-stretch", "rfdetr-fitblack"}
	cache, goldens := nasRFDETRCache(t, root, names...)
	srv := startServer(t, "--model-cache-dir", cache, "--load-models", "none", "--max-image-pixels", "50000000")
	checked, worst := 0, 0.0
	for _, name := range names {
		if code, out := post(t, srv+"/model/add", "application/json", strings.NewReader(`{"model_id": "`+name+`/1"}`)); code != 200 {
			t.Fatalf("/model/add %s/1: %d %v", name, code, out)
		}
		for _, c := range goldens[name].Cases {
			label := fmt.Sprintf("%s/%s/conf%v", name, c.Image, c.Params["confidence"])
			code, body := inferAsSDK(t, srv+"/infer/object_detection", name+"/1", filepath.Join(root, "testdata", "images", c.Image), c.Params)
			if code != 200 {
				t.Fatalf("%s: status %d: %s", label, code, body)
			}
			var got struct {
				Image struct {
					Width  int `json:"width"`
					Height int `json:"height"`
				} `json:"image"`
				Predictions []nasRFDETRPred `json:"predictions"`
			}
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("%s: %v: %s", label, err, body)
			}
			if got.Image.Width != c.ImageSize.Width || got.Image.Height != c.ImageSize.Height {
				t.Errorf("%s: image %+v, inference-core %+v", label, got.Image, c.ImageSize)
			}
			if len(got.Predictions) != len(c.Predictions) {
				t.Errorf("%s: %d detections, inference-core %d", label, len(got.Predictions), len(c.Predictions))
				continue
			}
			for i, w := range c.Predictions {
				d := got.Predictions[i]
				worst = max(worst, math.Abs(d.Confidence-w.Confidence))
				if d.X != w.X || d.Y != w.Y || d.Width != w.Width || d.Height != w.Height ||
					d.Class != w.Class || d.ClassID != w.ClassID || math.Abs(d.Confidence-w.Confidence) > nasRFDETRConfTol {
					t.Errorf("%s #%d: got %+v, inference-core %+v", label, i, d, w)
				}
			}
			checked++
		}
	}
	t.Logf("%d answers equal to inference-core's; confidences at most %.2g apart", checked, worst)
}

// TestRFDETRSegmentationMatchesRoboflow: the RF-DETR segmentation test
// model from a Roboflow cache folder answers its goldens' cases (fast and
// tradeoff masks on four photos, accurate on one) as inference-core
// 1.8.3's RFDETRInstanceSegmentation does: the same instances in the same
// order, classes and boxes equal, confidences within nasRFDETRConfTol, and
// the same polygons, point for point.
func TestRFDETRSegmentationMatchesRoboflow(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	name := "rfdetr-seg-stretch"
	cache, goldens := nasRFDETRCache(t, root, name)
	srv := startServer(t, "--model-cache-dir", cache, "--load-models", "none", "--max-image-pixels", "50000000")
	if code, out := post(t, srv+"/model/add", "application/json", strings.NewReader(`{"model_id": "`+name+`/1"}`)); code != 200 {
		t.Fatalf("/model/add %s/1: %d %v", name, code, out)
	}
	checked, points := 0, 0
	for _, c := range goldens[name].Cases {
		label := fmt.Sprintf("%s/%s/%v", name, c.Image, c.Params["mask_decode_mode"])
		code, body := inferAsSDK(t, srv+"/infer/instance_segmentation", name+"/1", filepath.Join(root, "testdata", "images", c.Image), c.Params)
		if code != 200 {
			t.Fatalf("%s: status %d: %s", label, code, body)
		}
		var got struct {
			Predictions []nasRFDETRPred `json:"predictions"`
		}
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatalf("%s: %v: %s", label, err, body)
		}
		if len(got.Predictions) != len(c.Predictions) {
			t.Errorf("%s: %d instances, inference-core %d", label, len(got.Predictions), len(c.Predictions))
			continue
		}
		for i, w := range c.Predictions {
			d := got.Predictions[i]
			if d.X != w.X || d.Y != w.Y || d.Width != w.Width || d.Height != w.Height ||
				d.Class != w.Class || d.ClassID != w.ClassID || math.Abs(d.Confidence-w.Confidence) > nasRFDETRConfTol {
				t.Errorf("%s #%d: got %+v, inference-core %+v", label, i, d, w)
				continue
			}
			if len(d.Points) != len(w.Points) {
				t.Errorf("%s #%d: %d polygon points, inference-core %d", label, i, len(d.Points), len(w.Points))
				continue
			}
			for k := range w.Points {
				if d.Points[k] != w.Points[k] {
					t.Errorf("%s #%d point %d: %v, inference-core %v", label, i, k, d.Points[k], w.Points[k])
					break
				}
			}
			points += len(w.Points)
		}
		checked++
	}
	t.Logf("%d answers (%d polygon points) equal to inference-core's", checked, points)
}
