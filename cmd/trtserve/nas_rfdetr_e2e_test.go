package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/trtserve/trtserve/trt/trttest"
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
	Image       string         `json:"image"`
	Params      map[string]any `json:"params"`
	ImageSize   imageSize      `json:"image_size"`
	Predictions []goldenPred   `json:"predictions"`
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
		writeCacheFolder(t, filepath.Join(cache, name, "1"), "weights.onnx", filepath.Join(root, g.Model), files)
	}
	return cache, goldens
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
		addModels(t, srv, name+"/1")
		for _, c := range goldens[name].Cases {
			label := fmt.Sprintf("%s/%s/conf%v", name, c.Image, c.Params["confidence"])
			got := inferGolden(t, label, srv+"/infer/object_detection", name+"/1", filepath.Join(root, "testdata", "images", c.Image), c.Params)
			if !sameShape(t, label, got, c.ImageSize, c.Predictions) {
				continue
			}
			for i, w := range c.Predictions {
				d := got.Predictions[i]
				worst = max(worst, math.Abs(d.Confidence-w.Confidence))
				if !sameBox(d, w, nasRFDETRConfTol) {
					t.Errorf("%s #%d: got %+v, inference-core %+v", label, i, d, w)
				}
			}
			checked++
		}
	}
	t.Logf("%d answers equal to inference-core's; confidences at most %.2g apart", checked, worst)
}

// TestRFDETRSegmentationMatchesRoboflow: the RF-DETR segmentation test
// model from Roboflow cache folders, stretched and letterboxed (masks
// cropped of the padding), answers its goldens' cases (fast and tradeoff
// masks on four photos, accurate on one) as inference-core
// 1.8.3's RFDETRInstanceSegmentation does: the same instances in the same
// order, classes and boxes equal, confidences within nasRFDETRConfTol, and
// the same polygons, point for point.
func TestRFDETRSegmentationMatchesRoboflow(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"rfdetr-seg-stretch", "rfdetr-seg-fitblack"}
	cache, goldens := nasRFDETRCache(t, root, names...)
	srv := startServer(t, "--model-cache-dir", cache, "--load-models", "none", "--max-image-pixels", "50000000")
	checked, points := 0, 0
	for _, name := range names {
		addModels(t, srv, name+"/1")
		for _, c := range goldens[name].Cases {
			label := fmt.Sprintf("%s/%s/%v", name, c.Image, c.Params["mask_decode_mode"])
			got := inferGolden(t, label, srv+"/infer/instance_segmentation", name+"/1", filepath.Join(root, "testdata", "images", c.Image), c.Params)
			if len(got.Predictions) != len(c.Predictions) {
				t.Errorf("%s: %d instances, inference-core %d", label, len(got.Predictions), len(c.Predictions))
				continue
			}
			for i, w := range c.Predictions {
				d := got.Predictions[i]
				if !sameBox(d, w, nasRFDETRConfTol) {
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
	}
	t.Logf("%d answers (%d polygon points) equal to inference-core's", checked, points)
}

// nasRFDETRRaw sends one KServe binary request of n constant-ish images
// of size x size and returns the outputs' values, all of them.
func nasRFDETRRaw(url, model, input string, size, n int) (int, error) {
	data := make([]byte, n*3*size*size*4)
	for i := range len(data) / 4 {
		binary.LittleEndian.PutUint32(data[i*4:], math.Float32bits(float32(i%5)*0.2))
	}
	hdr := fmt.Sprintf(`{"inputs":[{"name":%q,"shape":[%d,3,%d,%d],"datatype":"FP32","parameters":{"binary_data_size":%d}}],"parameters":{"binary_data_output":true}}`, input, n, size, size, len(data))
	req, _ := http.NewRequest("POST", url+"/v2/models/"+model+"/infer", bytes.NewReader(append([]byte(hdr), data...)))
	req.Header.Set("Inference-Header-Content-Length", strconv.Itoa(len(hdr)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return 0, fmt.Errorf("%s: %d %s", model, resp.StatusCode, body[:min(len(body), 300)])
	}
	hlen, _ := strconv.Atoi(resp.Header.Get("Inference-Header-Content-Length"))
	return (len(body) - hlen) / 4, nil
}

// TestYOLONASAndRFDETROnEveryRoute: the YOLO-NAS, RF-DETR and RF-DETR
// segmentation folders load and answer on ONNX Runtime and on the TensorRT
// backend over the fake shim and the CUDA mock (engines built through the
// shim): KServe raw tensors under the exporter's input name (all outputs:
// YOLO-NAS's two, RF-DETR's two or three), their task's route and the
// legacy route, with answers of the right form (on TensorRT the fake's
// synthetic outputs: the form is checked, not the values). An RF-DETR at
// or above inference-core's resolution limit does not load.
func TestYOLONASAndRFDETROnEveryRoute(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"nas-stretch", "rfdetr-stretch", "rfdetr-seg-stretch"}
	inputs := map[string]string{"nas-stretch": "input.1", "rfdetr-stretch": "input", "rfdetr-seg-stretch": "input"}
	for _, backend := range []string{"onnxruntime", "tensorrt"} {
		t.Run(backend, func(t *testing.T) {
			cache, goldens := nasRFDETRCache(t, root, names...)
			// the same RF-DETR said to be trained at 1600 pixels
			big := filepath.Join(cache, "rfdetr-big", "1")
			if err := os.MkdirAll(big, 0o755); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{"weights.onnx", "class_names.txt", "model_type.json"} {
				if err := os.Symlink(filepath.Join(cache, "rfdetr-stretch", "1", f), filepath.Join(big, f)); err != nil {
					t.Fatal(err)
				}
			}
			env, _ := json.Marshal(map[string]any{"PREPROCESSING": string(goldens["rfdetr-stretch"].Pre), "RESOLUTION": 1600})
			if err := os.WriteFile(filepath.Join(big, "environment.json"), env, 0o644); err != nil {
				t.Fatal(err)
			}
			if backend == "tensorrt" {
				t.Setenv("TRTSERVE_TRTSHIM_LIB", trttest.FakeLib(t))
				t.Setenv("TRTSERVE_CUDA_MOCK", "1")
				t.Setenv("TRTSERVE_ENGINE_CACHE_DIR", t.TempDir())
			}
			srv := startServer(t, "--model-cache-dir", cache, "--load-models", "none", "--backend", backend)
			bus := b64file(t, filepath.Join(root, "testdata", "images", "bus.jpg"))
			for _, name := range names {
				g := goldens[name]
				addModels(t, srv, name+"/1")
				var meta struct {
					Platform string `json:"platform"`
					Outputs  []struct {
						Shape []int64 `json:"shape"`
					} `json:"outputs"`
				}
				getJSON(t, srv+"/v2/models/"+name+"/versions/1", &meta)
				if want := map[string]string{"onnxruntime": "onnxruntime_onnx", "tensorrt": "tensorrt_plan"}[backend]; meta.Platform != want {
					t.Fatalf("%s: platform %s, want %s", name, meta.Platform, want)
				}
				total := 0
				for _, o := range meta.Outputs {
					per := 1
					for _, d := range o.Shape[1:] {
						per *= int(d)
					}
					total += per
				}
				size := 320
				if strings.HasPrefix(name, "rfdetr") {
					size = 112
				}
				if n, err := nasRFDETRRaw(srv, name+"/versions/1", inputs[name], size, 1); err != nil || n != total {
					t.Fatalf("%s KServe: %d values, want %d (outputs %+v): %v", name, n, total, meta.Outputs, err)
				}
				route := "/infer/object_detection"
				if g.Task == "instance-segmentation" {
					route = "/infer/instance_segmentation"
				}
				code, body := post(t, srv+route, "application/json", strings.NewReader(
					fmt.Sprintf(`{"model_id":"%s/1","image":{"type":"base64","value":"%s"},"confidence":0.3}`, name, bus)))
				code2, legacy := post(t, srv+"/"+name+"/1?confidence=30", "application/x-www-form-urlencoded", strings.NewReader(bus))
				if code != 200 || code2 != 200 {
					t.Fatalf("%s: route %d %v, legacy %d %v", name, code, body, code2, legacy)
				}
				for _, b := range []map[string]any{body, legacy} {
					preds, ok := b["predictions"].([]any)
					if img, _ := b["image"].(map[string]any); !ok || img["width"] != 810.0 || img["height"] != 1080.0 {
						t.Fatalf("%s: %v", name, b)
					}
					for _, p := range preds {
						p := p.(map[string]any)
						if _, ok := p["class"].(string); !ok || p["confidence"] == nil || p["width"] == nil {
							t.Fatalf("%s: prediction %v", name, p)
						}
						if _, ok := p["points"].([]any); g.Task == "instance-segmentation" && !ok {
							t.Fatalf("%s: instance without points %v", name, p)
						}
					}
				}
			}
			code, out := post(t, srv+"/model/add", "application/json", strings.NewReader(`{"model_id": "rfdetr-big/1"}`))
			if code == 200 || !strings.Contains(fmt.Sprint(out), "1600") {
				t.Fatalf("RF-DETR at resolution 1600: %d %v, want a refusal naming the limit", code, out)
			}
		})
	}
}
