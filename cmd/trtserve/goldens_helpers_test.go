package main

import (
	"bytes"
	"compress/gzip"
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

// The golden tests (testdata/goldens/*.json.gz, answers of inference-core
// 1.8.3) share one way to lay out a Roboflow model cache, send what
// inference-sdk sends and compare detections, so that each family's test
// says only what differs for its family.

// goldenPred is one prediction, as a golden records it and as trtserve
// answers it; Points and Keypoints stay empty where the task has none.
type goldenPred struct {
	X, Y, Width, Height, Confidence float64
	Class                           string                   `json:"class"`
	ClassID                         int                      `json:"class_id"`
	Points                          []struct{ X, Y float64 } `json:"points"`
	Keypoints                       []struct {
		X, Y, Confidence float64
		ClassID          int    `json:"class_id"`
		Class            string `json:"class"`
	} `json:"keypoints"`
}

func (p goldenPred) box() string {
	return fmt.Sprintf("{%v %v %v %v %s(%d) %.6f}", p.X, p.Y, p.Width, p.Height, p.Class, p.ClassID, p.Confidence)
}

// sameBox: class and box exactly equal, confidence within tol.
func sameBox(d, w goldenPred, tol float64) bool {
	return d.X == w.X && d.Y == w.Y && d.Width == w.Width && d.Height == w.Height &&
		d.Class == w.Class && d.ClassID == w.ClassID && math.Abs(d.Confidence-w.Confidence) <= tol
}

type imageSize struct {
	Width  int `json:"width"`
	Height int `json:"height"`
}

// goldenAnswer is the part of a Roboflow detection answer the goldens hold.
type goldenAnswer struct {
	Image       imageSize    `json:"image"`
	Predictions []goldenPred `json:"predictions"`
}

func readGzipJSON(t *testing.T, path string, v any) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.NewDecoder(zr).Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// writeCacheFolder makes dir a Roboflow model-cache folder: the weights
// (linked under the file name inference-core's class reads) and files.
func writeCacheFolder(t *testing.T, dir, weights, src string, files map[string]string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(src, filepath.Join(dir, weights)); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// keypointsMetadata is keypoints_metadata.json for one class (id 0).
func keypointsMetadata(names []string) string {
	kp := map[string]string{}
	for i, n := range names {
		kp[fmt.Sprint(i)] = n
	}
	meta, _ := json.Marshal([]any{map[string]any{"object_class_id": 0, "keypoints": kp}})
	return string(meta)
}

// cocoClassNames is class_names.txt for the pretrained demo model.
func cocoClassNames(t *testing.T, root string) string {
	t.Helper()
	var names []string
	data, err := os.ReadFile(filepath.Join(root, "testdata", "goldens", "class_names.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &names); err != nil {
		t.Fatal(err)
	}
	return strings.Join(names, "\n") + "\n"
}

// addModels loads each model id as inference-sdk does with a model it
// does not find in the server's registry.
func addModels(t *testing.T, srv string, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if code, out := post(t, srv+"/model/add", "application/json",
			strings.NewReader(`{"model_id": "`+id+`"}`)); code != 200 {
			t.Fatalf("/model/add %s: %d %v", id, code, out)
		}
	}
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

// inferGolden is inferAsSDK for a case that must be answered (200).
func inferGolden(t *testing.T, label, url, modelID, image string, params map[string]any) goldenAnswer {
	t.Helper()
	code, body := inferAsSDK(t, url, modelID, image, params)
	if code != 200 {
		t.Fatalf("%s: status %d: %s", label, code, body)
	}
	var got goldenAnswer
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("%s: %v: %s", label, err, body)
	}
	return got
}

// sameShape reports (as test errors) an image size or a prediction count
// different from the golden's; false when the counts differ, so that the
// caller skips comparing predictions one by one.
func sameShape(t *testing.T, label string, got goldenAnswer, size imageSize, want []goldenPred) bool {
	t.Helper()
	if got.Image != size {
		t.Errorf("%s: image %+v, inference-core %+v", label, got.Image, size)
	}
	if len(got.Predictions) != len(want) {
		t.Errorf("%s: %d predictions, inference-core %d:\n got  %+v\n want %+v",
			label, len(got.Predictions), len(want), got.Predictions, want)
		return false
	}
	return true
}
