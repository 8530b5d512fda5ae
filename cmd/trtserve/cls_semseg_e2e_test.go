package main

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/trtserve/trtserve/tasks"
	"github.com/trtserve/trtserve/trt/trttest"
)

// clsSemsegGolden is testdata/goldens/{resnet,vit}-{single,multi}.json.gz
// and deeplab.json.gz (scripts/fixtures/make_cls_semseg.py): answers of
// inference-core 1.8.3's ResNetClassification, VitClassification and
// DeepLabV3PlusSemanticSegmentation from a Roboflow cache folder.
type clsSemsegGolden struct {
	Model      string          `json:"model"`
	Class      string          `json:"class"`
	ModelType  string          `json:"model_type"`
	Task       string          `json:"task"`
	Pre        json.RawMessage `json:"environment_preprocessing"`
	Env        map[string]any  `json:"environment"`
	ClassNames []string        `json:"class_names"`
	Cases      []struct {
		Image      string         `json:"image"`
		Confidence float64        `json:"confidence"`
		Response   map[string]any `json:"response"`
		MaskShape  []int          `json:"mask_shape"`
		SegSHA     string         `json:"segmentation_sha256"`
		ConfSHA    string         `json:"confidence_sha256"`
		ModelSeg   string         `json:"model_segmentation"`
		ModelConf  string         `json:"model_confidence"`
	} `json:"cases"`
	InputSize []int `json:"input_size"`
}

// clsSemsegModels are the goldens and the Roboflow folders they are
// served from (model id = golden name, version 1).
var clsSemsegModels = []string{"resnet-single", "resnet-multi", "vit-single", "vit-multi", "deeplab"}

// clsSemsegCache lays out each golden's model as inference-core's cache
// holds it: best.onnx for ResNet and ViT (what their classes read),
// weights.onnx and class_names.txt for DeepLabV3+; environment.json with
// the golden's PREPROCESSING, CLASS_MAP and MULTICLASS; model_type.json.
func clsSemsegCache(t *testing.T, root, cache string) map[string]clsSemsegGolden {
	t.Helper()
	out := map[string]clsSemsegGolden{}
	for _, name := range clsSemsegModels {
		var g clsSemsegGolden
		readGzipJSON(t, filepath.Join(root, "testdata", "goldens", name+".json.gz"), &g)
		out[name] = g
		weights := "best.onnx"
		classMap := map[string]string{}
		for i, n := range g.ClassNames {
			classMap[strconv.Itoa(i)] = n
		}
		env := map[string]any{"PREPROCESSING": string(g.Pre), "CLASS_MAP": classMap}
		for k, v := range g.Env {
			env[k] = v
		}
		envJSON, _ := json.Marshal(env)
		mt, _ := json.Marshal(map[string]string{"project_task_type": g.Task, "model_type": g.ModelType})
		files := map[string]string{"environment.json": string(envJSON), "model_type.json": string(mt)}
		if g.Task == "semantic-segmentation" {
			weights = "weights.onnx"
			files["class_names.txt"] = strings.Join(g.ClassNames, "\n") + "\n"
		}
		writeCacheFolder(t, filepath.Join(cache, name, "1"), weights, filepath.Join(root, g.Model), files)
	}
	return out
}

// postJSON posts a request as inference-sdk's InferenceHTTPClient sends
// one to a local server (API v1, the file's bytes in base64).
func postJSON(t *testing.T, url string, req map[string]any) (int, map[string]any) {
	t.Helper()
	body, _ := json.Marshal(req)
	return post(t, url, "application/json", bytes.NewReader(body))
}

// clsConfTol: single-label confidences are rounded to 4 decimals by
// inference-core and trtserve alike, so ONNX Runtime's float noise (the
// server's library vs the goldens' wheel) can move the last one; raw
// multi-label scores are compared to float noise.
const (
	clsConfTol   = 1e-4
	multiConfTol = 1e-5
)

// TestResNetViTMatchRoboflow: ResNet and ViT classifiers, single- and
// multi-label, from Roboflow cache folders (best.onnx, CLASS_MAP,
// MULTICLASS, model_type resnet18/resnet50/vit) answer every image at
// every confidence as inference-core's ResNetClassification and
// VitClassification do: ImageNet mean/std for ResNet, (x-0.5)/0.5 for ViT
// (the wrong one moves every score), softmax for single-label, raw scores
// for multi-label (no sigmoid, as there).
func TestResNetViTMatchRoboflow(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	goldens := clsSemsegCache(t, root, cache)
	srv := startServer(t, "--model-cache-dir", cache, "--load-models", "none", "--max-image-pixels", "50000000")
	checked, worst := 0, 0.0
	for _, name := range clsSemsegModels[:4] {
		g := goldens[name]
		addModels(t, srv, name+"/1")
		for _, c := range g.Cases {
			id := fmt.Sprintf("%s/%s/%v", name, c.Image, c.Confidence)
			code, got := postJSON(t, srv+"/infer/classification", map[string]any{
				"model_id": name + "/1", "confidence": c.Confidence,
				"image": map[string]string{"type": "base64", "value": b64file(t, filepath.Join(root, "testdata", "images", c.Image))},
			})
			if code != 200 {
				t.Fatalf("%s: %d %v", id, code, got)
			}
			want := c.Response
			if !reflect.DeepEqual(got["image"], want["image"]) {
				t.Errorf("%s: image %v, inference-core %v", id, got["image"], want["image"])
			}
			if g.Env["MULTICLASS"] == true {
				gp, wp := got["predictions"].(map[string]any), want["predictions"].(map[string]any)
				if len(gp) != len(wp) {
					t.Fatalf("%s: %v, inference-core %v", id, gp, wp)
				}
				for cls, w := range wp {
					g, w := gp[cls].(map[string]any), w.(map[string]any)
					d := math.Abs(g["confidence"].(float64) - w["confidence"].(float64))
					worst = max(worst, d)
					if g["class_id"] != w["class_id"] || d > multiConfTol {
						t.Errorf("%s %s: %v, inference-core %v", id, cls, g, w)
					}
				}
				if !reflect.DeepEqual(got["predicted_classes"], want["predicted_classes"]) {
					t.Errorf("%s: predicted %v, inference-core %v", id, got["predicted_classes"], want["predicted_classes"])
				}
			} else {
				gp, wp := got["predictions"].([]any), want["predictions"].([]any)
				if len(gp) != len(wp) || got["top"] != want["top"] {
					t.Fatalf("%s: %v, inference-core %v", id, got, want)
				}
				for i := range wp {
					g, w := gp[i].(map[string]any), wp[i].(map[string]any)
					d := math.Abs(g["confidence"].(float64) - w["confidence"].(float64))
					worst = max(worst, d)
					if g["class"] != w["class"] || g["class_id"] != w["class_id"] || d > clsConfTol {
						t.Errorf("%s #%d: %v, inference-core %v", id, i, g, w)
					}
				}
			}
			checked++
		}
	}
	if checked < 50 {
		t.Fatalf("only %d answers checked", checked)
	}
	t.Logf("%d classifier answers equal to inference-core's; confidences at most %.2g apart", checked, worst)
}

// maskPixels decodes a base64 PNG mask as Roboflow sends it.
func maskPixels(t *testing.T, s string) ([]byte, int, int) {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	g, ok := img.(*image.Gray)
	if !ok {
		t.Fatalf("mask is a %T, want 8-bit grey", img)
	}
	b := g.Bounds()
	return g.Pix, b.Dx(), b.Dy()
}

// gunzipB64 decodes the goldens' map encoding: base64 of gzipped bytes.
func gunzipB64(t *testing.T, s string) []byte {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// semConfBound: at most one confidence pixel in this many may differ from
// inference-core's, by 1 (of 255). The class masks must be equal. The
// postprocessing is bit-exact (tasks' TestSemanticMatchesInferenceCore);
// what differs is the input tensor: for Stretch, trtserve normalises the
// pixels before the float resize and inference-core after it, which with
// ImageNet's mean and std moves some tensor values by up to 4.8e-7. Here
// that turns one model-resolution confidence of astronaut.jpg from 65 to
// 64 (16 image pixels of 262144); the other five images are equal.
const semConfBound = 10000

// TestDeepLabMatchesRoboflow: a DeepLabV3+ model from a Roboflow cache
// folder (model_type deeplabv3plus, weights.onnx, class_names.txt) answers
// /infer/semantic_segmentation, and the legacy route, with
// inference-core's SemanticSegmentationInferenceResponse: the class and
// confidence masks as base64 PNGs whose pixels equal inference-core's
// (SHA-256 of the decoded pixels; see semConfBound), the class map, the
// present class ids and the image size.
func TestDeepLabMatchesRoboflow(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	g := clsSemsegCache(t, root, cache)["deeplab"]
	srv := startServer(t, "--model-cache-dir", cache, "--load-models", "deeplab/1", "--max-image-pixels", "50000000")
	size := g.InputSize
	exact := 0
	for _, c := range g.Cases {
		img := b64file(t, filepath.Join(root, "testdata", "images", c.Image))
		code, got := postJSON(t, srv+"/infer/semantic_segmentation", map[string]any{
			"model_id": "deeplab/1", "image": map[string]string{"type": "base64", "value": img}})
		if code != 200 {
			t.Fatalf("%s: %d %v", c.Image, code, got)
		}
		want := c.Response
		gp, wp := got["predictions"].(map[string]any), want["predictions"].(map[string]any)
		for _, k := range []string{"class_map", "present_class_ids", "image"} {
			if !reflect.DeepEqual(gp[k], wp[k]) {
				t.Errorf("%s: predictions.%s = %v, inference-core %v", c.Image, k, gp[k], wp[k])
			}
		}
		if !reflect.DeepEqual(got["image"], want["image"]) {
			t.Errorf("%s: image %v, inference-core %v", c.Image, got["image"], want["image"])
		}
		seg, w, h := maskPixels(t, gp["segmentation_mask"].(string))
		conf, cw, ch := maskPixels(t, gp["confidence_mask"].(string))
		if h != c.MaskShape[0] || w != c.MaskShape[1] || cw != w || ch != h {
			t.Fatalf("%s: masks %dx%d and %dx%d, inference-core %v (height, width)", c.Image, w, h, cw, ch, c.MaskShape)
		}
		if sha(seg) == c.SegSHA && sha(conf) == c.ConfSHA {
			exact++
			continue
		}
		// Say how far: the full masks are nearest-neighbour resizes of
		// inference-core's model-resolution maps, kept in the golden.
		ws := tasks.ResizeNearest(gunzipB64(t, c.ModelSeg), size[1], size[0], w, h)
		wc := tasks.ResizeNearest(gunzipB64(t, c.ModelConf), size[1], size[0], w, h)
		if sha(ws) != c.SegSHA || sha(wc) != c.ConfSHA {
			t.Fatalf("%s: the golden's model-resolution maps do not resize to its masks", c.Image)
		}
		ds, dc, far := 0, 0, 0
		for i := range ws {
			if seg[i] != ws[i] {
				ds++
			}
			if d := int(conf[i]) - int(wc[i]); d != 0 {
				dc++
				if d > 1 || d < -1 {
					far++
				}
			}
		}
		t.Logf("%s: %d of %d confidence pixels differ by 1 from inference-core's", c.Image, dc, len(conf))
		if ds != 0 || far != 0 || dc*semConfBound > len(conf) {
			t.Errorf("%s: %d class pixels and %d confidence pixels (%d by more than 1) differ from inference-core's of %d",
				c.Image, ds, dc, far, len(seg))
		}
	}
	t.Logf("%d of %d images: both masks equal to inference-core's, pixel for pixel", exact, len(g.Cases))
	// The legacy route gives the same answer (confidence is accepted and,
	// as in inference-core, unused).
	raw, _ := os.ReadFile(filepath.Join(root, "testdata", "images", g.Cases[0].Image))
	resp, err := http.Post(srv+"/deeplab/1?confidence=40", "application/x-www-form-urlencoded", strings.NewReader(base64.StdEncoding.EncodeToString(raw)))
	if err != nil {
		t.Fatal(err)
	}
	code, legacy := jsonAnswer(t, srv, resp)
	if code != 200 {
		t.Fatalf("legacy: %d %v", code, legacy)
	}
	seg, _, _ := maskPixels(t, legacy["predictions"].(map[string]any)["segmentation_mask"].(string))
	if sha(seg) != g.Cases[0].SegSHA {
		t.Errorf("legacy route: class mask differs from inference-core's")
	}
	// A batch answers a list; bad fields and the wrong route are 400s.
	img := map[string]string{"type": "base64", "value": b64file(t, filepath.Join(root, "testdata", "images", "chelsea.jpg"))}
	body, _ := json.Marshal(map[string]any{"model_id": "deeplab/1", "image": []any{img, img}})
	r2, err := http.Post(srv+"/infer/semantic_segmentation", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var list []map[string]any
	if err := json.NewDecoder(r2.Body).Decode(&list); err != nil || r2.StatusCode != 200 || len(list) != 2 {
		t.Fatalf("batch: %d %v %v", r2.StatusCode, err, list)
	}
	r2.Body.Close()
	for _, c := range []struct {
		route string
		req   map[string]any
	}{
		{"/infer/semantic_segmentation", map[string]any{"model_id": "deeplab/1", "image": img, "confidence": "high"}},
		{"/infer/semantic_segmentation", map[string]any{"model_id": "deeplab/1", "image": img, "response_mask_format": "rle"}},
		{"/infer/instance_segmentation", map[string]any{"model_id": "deeplab/1", "image": img}},
	} {
		if code, out := postJSON(t, srv+c.route, c.req); code != 400 || out["message"] == "" {
			t.Errorf("%s %v: %d %v", c.route, c.req["model_id"], code, out)
		}
	}
}

// inferRaw sends n items of a size x size image to a model's KServe
// endpoint under its input's name and returns the raw outputs.
func inferRaw(url, model, input string, size, n int) ([]float32, error) {
	item := 3 * size * size
	data := make([]byte, n*item*4)
	for i := range n * item {
		binary.LittleEndian.PutUint32(data[i*4:], math.Float32bits(float32(i%7)*0.1))
	}
	hdr := fmt.Sprintf(`{"inputs":[{"name":%q,"shape":[%d,3,%d,%d],"datatype":"FP32","parameters":{"binary_data_size":%d}}],"parameters":{"binary_data_output":true}}`, input, n, size, size, len(data))
	req, _ := http.NewRequest("POST", url+"/v2/models/"+model+"/infer", bytes.NewReader(append([]byte(hdr), data...)))
	req.Header.Set("Inference-Header-Content-Length", strconv.Itoa(len(hdr)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("%s: %d %s", model, resp.StatusCode, body[:min(len(body), 300)])
	}
	hlen, _ := strconv.Atoi(resp.Header.Get("Inference-Header-Content-Length"))
	out := make([]float32, (len(body)-hlen)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(body[hlen+i*4:]))
	}
	return out, nil
}

// TestClsSemsegOnEveryRoute: the ResNet, ViT and DeepLabV3+ folders build,
// load and answer on ONNX Runtime and on the TensorRT backend over the
// fake shim and the CUDA mock: KServe raw tensors (a batch of two, under
// the exporter's input name), their task's route and the legacy route,
// with answers of the right form (on TensorRT the fake's synthetic
// outputs: the form is checked, not the values).
func TestClsSemsegOnEveryRoute(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	for _, backend := range []string{"onnxruntime", "tensorrt"} {
		t.Run(backend, func(t *testing.T) {
			cache := t.TempDir()
			goldens := clsSemsegCache(t, root, cache)
			if backend == "tensorrt" {
				t.Setenv("TRTSERVE_TRTSHIM_LIB", trttest.FakeLib(t))
				t.Setenv("TRTSERVE_CUDA_MOCK", "1")
				t.Setenv("TRTSERVE_ENGINE_CACHE_DIR", t.TempDir())
			}
			srv := startServer(t, "--model-cache-dir", cache, "--load-models", "none", "--backend", backend)
			chelsea := b64file(t, filepath.Join(root, "testdata", "images", "chelsea.jpg"))
			for _, name := range []string{"resnet-single", "vit-multi", "deeplab"} {
				g := goldens[name]
				addModels(t, srv, name+"/1")
				var meta struct {
					Platform string `json:"platform"`
					Inputs   []struct {
						Name string `json:"name"`
					} `json:"inputs"`
					Outputs []struct {
						Shape []int64 `json:"shape"`
					} `json:"outputs"`
				}
				getJSON(t, srv+"/v2/models/"+name+"/versions/1", &meta)
				if want := map[string]string{"onnxruntime": "onnxruntime_onnx", "tensorrt": "tensorrt_plan"}[backend]; meta.Platform != want || len(meta.Outputs) != 1 {
					t.Fatalf("%s: %+v, want platform %s and one output", name, meta, want)
				}
				per := 1
				for _, d := range meta.Outputs[0].Shape[1:] {
					per *= int(d)
				}
				got, err := inferRaw(srv, name+"/versions/1", meta.Inputs[0].Name, g.InputSize[0], 2)
				if err != nil || len(got) != 2*per {
					t.Fatalf("%s KServe: %d values, want %d: %v", name, len(got), 2*per, err)
				}
				route := "/infer/classification"
				if g.Task == "semantic-segmentation" {
					route = "/infer/semantic_segmentation"
				}
				code, body := post(t, srv+route, "application/json", strings.NewReader(
					fmt.Sprintf(`{"model_id":"%s/1","image":{"type":"base64","value":"%s"},"confidence":0.3}`, name, chelsea)))
				code2, legacy := post(t, srv+"/"+name+"/1?confidence=30", "application/x-www-form-urlencoded", strings.NewReader(chelsea))
				if code != 200 || code2 != 200 {
					t.Fatalf("%s: route %d %v, legacy %d %v", name, code, body, code2, legacy)
				}
				for _, b := range []map[string]any{body, legacy} {
					switch name {
					case "resnet-single":
						if _, ok := b["predictions"].([]any); !ok || b["top"] == nil {
							t.Fatalf("%s: %v", name, b)
						}
					case "vit-multi":
						if p, ok := b["predictions"].(map[string]any); !ok || len(p) != len(g.ClassNames) || b["predicted_classes"] == nil {
							t.Fatalf("%s: %v", name, b)
						}
					case "deeplab":
						p := b["predictions"].(map[string]any)
						seg, w, h := maskPixels(t, p["segmentation_mask"].(string))
						_, cw, ch := maskPixels(t, p["confidence_mask"].(string))
						ids := p["present_class_ids"].([]any)
						if w != 451 || h != 300 || cw != w || ch != h || len(ids) == 0 {
							t.Fatalf("%s: masks %dx%d, %dx%d, present %v", name, w, h, cw, ch, ids)
						}
						for _, v := range seg {
							if int(v) >= len(g.ClassNames) || !slices.Contains(ids, any(float64(v))) {
								t.Fatalf("%s: class %d in the mask, present %v", name, v, ids)
							}
						}
					}
				}
			}
		})
	}
}
