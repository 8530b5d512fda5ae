package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"image"
	"image/jpeg"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// postAny posts JSON and returns the status, the body as a JSON object when
// it is one (errors), and the raw body.
func postAny(t *testing.T, url string, body io.Reader) (int, map[string]any, []byte) {
	t.Helper()
	resp, err := http.Post(url, "application/json", body)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var out map[string]any
	json.Unmarshal(data, &out)
	return resp.StatusCode, out, data
}

// manyImages is a detection request for n copies of a tiny JPEG.
func manyImages(t *testing.T, model string, n int) *strings.Reader {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, image.NewGray(image.Rect(0, 0, 16, 12)), nil); err != nil {
		t.Fatal(err)
	}
	ref := `{"type":"base64","value":"` + base64.StdEncoding.EncodeToString(b.Bytes()) + `"}`
	refs := make([]string, n)
	for i := range refs {
		refs[i] = ref
	}
	return strings.NewReader(`{"model_id":"` + model + `","image":[` + strings.Join(refs, ",") + `]}`)
}

// A request that can never be admitted answers 413 naming the limit, at
// once, on a server started with no options: 5000 images against the
// default --max-images-per-request (2048, the default queue); more images
// than the model's queue when the per-request bound is raised; a body over
// --max-inflight-bytes. Requests that fit are served before and after.
func TestRequestThatCanNeverFitIs413(t *testing.T) {
	const model = "yolov8n-320/1"
	url := startServer(t, "--load-models", model)
	route := url + "/infer/object_detection"
	if status, _, out := postAny(t, route, manyImages(t, model, 3)); status != 200 {
		t.Fatalf("3 images: %d %s", status, out)
	}
	status, out, _ := postAny(t, route, manyImages(t, model, 5000))
	msg, _ := out["message"].(string)
	if status != 413 || out["error_type"] != "RequestTooLarge" || !strings.Contains(msg, "5000 images") ||
		!strings.Contains(msg, "at most 2048 images") || !strings.Contains(msg, "--max-images-per-request") {
		t.Fatalf("5000 images: %d %v", status, out)
	}
	if status, _, out := postAny(t, route, manyImages(t, model, 1)); status != 200 {
		t.Fatalf("after the refusal: %d %s", status, out)
	}

	// The per-request bound raised past the model's queue: the queue's
	// bound answers 413, naming it.
	url = startServer(t, "--load-models", model, "--max-images-per-request", "4000", "--max-queue-size", "100",
		"--max-inflight-bytes", "500000")
	route = url + "/infer/object_detection"
	status, out, _ = postAny(t, route, manyImages(t, model, 101))
	msg, _ = out["message"].(string)
	if status != 413 || !strings.Contains(msg, "101 images") || !strings.Contains(msg, "at most 100") || !strings.Contains(msg, "max_queue_size") {
		t.Fatalf("101 images over a queue of 100: %d %v", status, out)
	}
	// A body over the in-flight bytes bound can never be admitted either.
	status, out, _ = postAny(t, route, manyImages(t, model, 3000))
	msg, _ = out["message"].(string)
	if status != 413 || !strings.Contains(msg, "at most 500000 bytes") || !strings.Contains(msg, "--max-inflight-bytes") {
		t.Fatalf("a body over --max-inflight-bytes: %d %v", status, out)
	}
	if status, _, out := postAny(t, route, manyImages(t, model, 100)); status != 200 {
		t.Fatalf("100 images, the queue's size: %d %s", status, out)
	}
	// /metrics shows the bound and what admitted requests have held.
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(resp.Body)
	gauge := func(name string) float64 {
		for _, l := range strings.Split(string(text), "\n") {
			if v, ok := strings.CutPrefix(l, name+" "); ok {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					t.Fatalf("%s: %v", l, err)
				}
				return f
			}
		}
		t.Fatalf("/metrics has no %s", name)
		return 0
	}
	limit, peak, used := gauge("trtserve_inflight_bytes_limit"), gauge("trtserve_inflight_bytes_peak"), gauge("trtserve_inflight_bytes")
	if limit != 500000 || peak <= 0 || peak > limit || used < 0 || used > limit {
		t.Errorf("in-flight bytes gauges: limit %v peak %v used %v; want limit 500000 and 0 < peak <= limit", limit, peak, used)
	}
}
