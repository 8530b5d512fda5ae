package main

import (
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/trtserve/trtserve/trt/trttest"
)

// yoloFamilyGolden is testdata/goldens/yf-*.json.gz: a YOLOv7/v9/11/12
// test model through inference-core 1.8.3's own class for its family
// (scripts/fixtures/make_yolo_family_goldens.py).
type yoloFamilyGolden struct {
	Model         string          `json:"model"`
	Task          string          `json:"task"`
	ModelType     string          `json:"model_type"`
	Class         string          `json:"inference_core_class"`
	Pre           json.RawMessage `json:"environment_preprocessing"`
	ClassNames    []string        `json:"class_names"`
	KeypointNames []string        `json:"keypoint_names"`
	Cases         []struct {
		Image       string         `json:"image"`
		Params      map[string]any `json:"params"`
		ImageSize   imageSize      `json:"image_size"`
		Predictions []goldenPred   `json:"predictions"`
	} `json:"cases"`
}

// yoloFamilies are the goldens, by the Roboflow model id each is served as.
var yoloFamilies = []struct{ golden, route string }{
	{"yf-yolov9-det", "object_detection"},
	{"yf-yolo11-det", "object_detection"},
	{"yf-yolo11-det-fitgrey", "object_detection"},
	{"yf-yolo12-det", "object_detection"},
	{"yf-yolo11-seg", "instance_segmentation"},
	{"yf-yolo11-pose", "keypoints_detection"},
	{"yf-yolov7-seg", "instance_segmentation"},
}

// yoloFamilyCache lays out each golden's model as Roboflow's model cache
// does (weights.onnx, environment.json, class_names.txt, model_type.json
// with the family's model_type, keypoints_metadata.json for pose) under
// cache/<golden>/1, and returns the goldens.
func yoloFamilyCache(t *testing.T, root, cache string) map[string]yoloFamilyGolden {
	t.Helper()
	goldens := map[string]yoloFamilyGolden{}
	for _, f := range yoloFamilies {
		var g yoloFamilyGolden
		readGzipJSON(t, filepath.Join(root, "testdata", "goldens", f.golden+".json.gz"), &g)
		goldens[f.golden] = g
		env, _ := json.Marshal(map[string]string{"PREPROCESSING": string(g.Pre)})
		mt, _ := json.Marshal(map[string]string{"project_task_type": g.Task, "model_type": g.ModelType})
		files := map[string]string{
			"environment.json": string(env),
			"class_names.txt":  strings.Join(g.ClassNames, "\n") + "\n",
			"model_type.json":  string(mt),
		}
		if len(g.KeypointNames) > 0 {
			files["keypoints_metadata.json"] = keypointsMetadata(g.KeypointNames)
		}
		writeCacheFolder(t, filepath.Join(cache, f.golden, "1"), "weights.onnx", filepath.Join(root, g.Model), files)
	}
	return goldens
}

// yfConfTol allows for ONNX Runtime's float noise between the server's
// library and the goldens' Python wheel (measured here: 2.7e-5 at most on
// these 8-channel random networks, whose logits are larger than trained
// ones'); counts, order, classes, boxes, polygons (tradeoff mode: within a
// pixel) and keypoint positions are compared exactly.
const yfConfTol = 1e-4

// TestYOLOFamiliesMatchRoboflow: YOLOv9, YOLO11 (detection, segmentation,
// pose), YOLOv12 and YOLOv7 (segmentation) test models served from
// Roboflow model-cache folders, with the model_type Roboflow gives each,
// answer every case as inference-core 1.8.3's class for that family does
// (YOLOv9ObjectDetection, YOLOv11*, YOLOv12ObjectDetection,
// YOLOv7InstanceSegmentation), requests as inference-sdk sends them.
func TestYOLOFamiliesMatchRoboflow(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	goldens := yoloFamilyCache(t, root, cache)
	srv := startServer(t, "--model-cache-dir", cache, "--load-models", "none", "--max-image-pixels", "50000000")
	checked, worst, polyWorst := 0, 0.0, 0.0
	for _, f := range yoloFamilies {
		g := goldens[f.golden]
		addModels(t, srv, f.golden+"/1")
		for _, c := range g.Cases {
			name := fmt.Sprintf("%s/%s/%v", f.golden, c.Image, c.Params)
			got := inferGolden(t, name, srv+"/infer/"+f.route, f.golden+"/1", filepath.Join(root, "testdata", "images", c.Image), c.Params)
			if !sameShape(t, name, got, c.ImageSize, c.Predictions) {
				continue
			}
			for i, w := range c.Predictions {
				d := got.Predictions[i]
				worst = max(worst, math.Abs(d.Confidence-w.Confidence))
				if !sameBox(d, w, yfConfTol) {
					t.Errorf("%s #%d: got %+v, inference-core %+v", name, i, d.box(), w.box())
					continue
				}
				if n := differingPoints(d.Points, w.Points); n > 0 {
					// Tradeoff masks are resized in float at an
					// intermediate size, where a pixel at the 0.5
					// threshold can flip with ONNX Runtime's noise and
					// move a contour vertex (measured: 2 of 156 points on
					// one polygon); the other modes are exact.
					polyWorst = max(polyWorst, float64(n)/float64(len(w.Points)))
					if c.Params["mask_decode_mode"] != "tradeoff" || len(d.Points) != len(w.Points) || n*50 > len(w.Points) {
						t.Errorf("%s #%d: polygon of %d points, inference-core's %d: %d differ", name, i, len(d.Points), len(w.Points), n)
					}
				}
				// inference-core 1.8.3's infer_from_request does not pass
				// the request to its keypoints postprocess, which reads
				// keypoint_confidence only from there: it answers every
				// keypoint. trtserve applies the threshold the client sent,
				// so the keypoints compared are those at or above it.
				kpThr, _ := c.Params["keypoint_confidence"].(float64)
				var wantKps []int
				for k, wk := range w.Keypoints {
					if wk.Confidence >= kpThr {
						wantKps = append(wantKps, k)
					}
				}
				if len(d.Keypoints) != len(wantKps) {
					t.Errorf("%s #%d: %d keypoints, inference-core %d at or above %v", name, i, len(d.Keypoints), len(wantKps), kpThr)
					continue
				}
				for j, k := range wantKps {
					dk, wk := d.Keypoints[j], w.Keypoints[k]
					if dk.X != wk.X || dk.Y != wk.Y || dk.Class != wk.Class || dk.ClassID != wk.ClassID || math.Abs(dk.Confidence-wk.Confidence) > yfConfTol {
						t.Errorf("%s #%d keypoint %d: got %+v, inference-core %+v", name, i, k, dk, wk)
					}
				}
			}
			checked++
		}
	}
	t.Logf("%d answers equal to inference-core's; confidences at most %.2g apart, at most %.1f%% of a tradeoff polygon's points moved", checked, worst, 100*polyWorst)
}

// differingPoints counts the points two polygons differ in, position by
// position (all of the longer one's when the counts differ).
func differingPoints(a, b []struct{ X, Y float64 }) int {
	n := max(len(a), len(b)) - min(len(a), len(b))
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			n++
		}
	}
	return n
}

// TestYOLOFamiliesOnEveryRoute: each family's Roboflow folder answers on
// the legacy route (Roboflow's hosted-API form: confidence and overlap in
// percent) as on its task's route, and KServe serves its raw outputs
// (YOLOv7's five among them) — on ONNX Runtime and on the TensorRT backend
// over the fake shim and the CUDA mock, so the same folders build, load
// and answer there (with the fake's synthetic outputs only the shape of
// the answers is checked, not the boxes).
func TestYOLOFamiliesOnEveryRoute(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	for _, backend := range []string{"onnxruntime", "tensorrt"} {
		t.Run(backend, func(t *testing.T) {
			cache := t.TempDir()
			goldens := yoloFamilyCache(t, root, cache)
			if backend == "tensorrt" {
				t.Setenv("TRTSERVE_TRTSHIM_LIB", trttest.FakeLib(t))
				t.Setenv("TRTSERVE_CUDA_MOCK", "1")
				t.Setenv("TRTSERVE_ENGINE_CACHE_DIR", t.TempDir())
			}
			srv := startServer(t, "--model-cache-dir", cache, "--load-models", "none", "--backend", backend)
			bus := b64file(t, filepath.Join(root, "testdata", "images", "bus.jpg"))
			for _, f := range yoloFamilies {
				g := goldens[f.golden]
				addModels(t, srv, f.golden+"/1")
				var meta struct {
					Platform string `json:"platform"`
					Outputs  []struct {
						Name  string  `json:"name"`
						Shape []int64 `json:"shape"`
					} `json:"outputs"`
				}
				getJSON(t, srv+"/v2/models/"+f.golden+"/versions/1", &meta)
				wantPlatform := map[string]string{"onnxruntime": "onnxruntime_onnx", "tensorrt": "tensorrt_plan"}[backend]
				if meta.Platform != wantPlatform {
					t.Fatalf("%s runs on %s, want %s", f.golden, meta.Platform, wantPlatform)
				}
				wantOutputs := map[string]int{"object_detection": 1, "instance_segmentation": 2, "keypoints_detection": 1}[f.route]
				if strings.Contains(f.golden, "yolov7") {
					wantOutputs = 5
				}
				if len(meta.Outputs) != wantOutputs {
					t.Fatalf("%s: outputs %+v, want %d", f.golden, meta.Outputs, wantOutputs)
				}
				per := 0
				for _, o := range meta.Outputs {
					n := 1
					for _, d := range o.Shape[1:] {
						n *= int(d)
					}
					per += n
				}
				// KServe: every raw output, for a batch of two.
				got, err := inferFakeModel(srv, f.golden+"/versions/1", 160, 2, 0.25)
				if err != nil {
					t.Fatalf("%s KServe: %v", f.golden, err)
				}
				if len(got) != 2*per {
					t.Fatalf("%s KServe: %d values, want %d", f.golden, len(got), 2*per)
				}
				// Its task's route and the legacy route answer alike.
				code, body := post(t, srv+"/infer/"+f.route, "application/json", strings.NewReader(
					fmt.Sprintf(`{"model_id":"%s/1","image":{"type":"base64","value":"%s"},"confidence":0.4,"iou_threshold":0.3}`, f.golden, bus)))
				preds, ok := body["predictions"].([]any)
				if code != 200 || !ok {
					t.Fatalf("%s /infer/%s: %d %v", f.golden, f.route, code, body)
				}
				code, legacy := post(t, srv+"/"+f.golden+"/1?confidence=40&overlap=30", "application/x-www-form-urlencoded", strings.NewReader(bus))
				lpreds, ok := legacy["predictions"].([]any)
				if code != 200 || !ok || len(lpreds) != len(preds) {
					t.Fatalf("%s legacy route: %d, %d predictions, want %d", f.golden, code, len(lpreds), len(preds))
				}
				for _, p := range preds {
					m := p.(map[string]any)
					for _, k := range []string{"x", "y", "width", "height", "confidence", "class", "class_id", "detection_id"} {
						if _, ok := m[k]; !ok {
							t.Fatalf("%s: prediction lacks %s: %v", f.golden, k, m)
						}
					}
					if _, ok := m["points"]; f.route == "instance_segmentation" && !ok {
						t.Fatalf("%s: no points: %v", f.golden, m)
					}
					if _, ok := m["keypoints"]; f.route == "keypoints_detection" && !ok {
						t.Fatalf("%s: no keypoints: %v", f.golden, m)
					}
					if c, _ := m["class"].(string); !slices.Contains(g.ClassNames, c) {
						t.Fatalf("%s: class %v is not the folder's", f.golden, m["class"])
					}
				}
				if backend == "tensorrt" && len(preds) == 0 {
					t.Errorf("%s: no predictions from the fake's outputs", f.golden)
				}
			}
		})
	}
}
