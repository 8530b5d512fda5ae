package main

import (
	"encoding/base64"
	"net/http"
	"os"
	"strings"
	"testing"
)

func TestClassificationRoute(t *testing.T) {
	url := startServer(t, "--load-models", "yolov8n-cls-320/1,yolov8n-320/1")
	img := b64file(t, "../../testdata/images/bus.jpg")
	body := func(conf string) *strings.Reader {
		return strings.NewReader(`{"model_id":"yolov8n-cls-320/1","confidence":` + conf + `,"image":{"type":"base64","value":"` + img + `"}}`)
	}
	status, out := post(t, url+"/infer/classification", "application/json", body("0.0005"))
	if status != 200 {
		t.Fatalf("%d %v", status, out)
	}
	preds := out["predictions"].([]any)
	if len(preds) == 0 || out["top"] != preds[0].(map[string]any)["class"] || out["image"].(map[string]any)["width"] != 810.0 {
		t.Fatalf("answer %v", out)
	}
	for i := 1; i < len(preds); i++ {
		if preds[i].(map[string]any)["confidence"].(float64) > preds[i-1].(map[string]any)["confidence"].(float64) {
			t.Fatalf("predictions not sorted: %v", preds)
		}
	}
	// At the default 0.4, Roboflow's double softmax leaves nothing: top is "".
	status, out = post(t, url+"/infer/classification", "application/json", body(`"default"`))
	if status != 200 || out["top"] != "" || len(out["predictions"].([]any)) != 0 {
		t.Fatalf("default confidence: %d %v", status, out)
	}
	for _, c := range []struct {
		route, body string
		status      int
	}{
		{"/infer/classification", `{"model_id":"yolov8n-cls-320/1","confidence":"high","image":{"type":"base64","value":"` + img + `"}}`, 400},
		{"/infer/classification", `{"model_id":"yolov8n-320/1","image":{"type":"base64","value":"` + img + `"}}`, 400},
		{"/infer/object_detection", `{"model_id":"yolov8n-cls-320/1","image":{"type":"base64","value":"` + img + `"}}`, 400},
	} {
		status, out := post(t, url+c.route, "application/json", strings.NewReader(c.body))
		if status != c.status || out["message"] == "" {
			t.Errorf("%s %.60s: %d %v", c.route, c.body, status, out)
		}
	}
	// The legacy route answers a classification model with a classification.
	raw, _ := os.ReadFile("../../testdata/images/bus.jpg")
	resp, err := http.Post(url+"/yolov8n-cls-320/1?confidence=0.05", "application/x-www-form-urlencoded", strings.NewReader(base64.StdEncoding.EncodeToString(raw)))
	if err != nil {
		t.Fatal(err)
	}
	status, out = jsonAnswer(t, url, resp)
	if _, ok := out["top"]; status != 200 || !ok {
		t.Fatalf("legacy classification: %d %v", status, out)
	}
}
