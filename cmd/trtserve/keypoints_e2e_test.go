package main

import (
	"strings"
	"testing"
)

func TestKeypointsRoute(t *testing.T) {
	url := startServer(t, "--load-models", "yolov8n-pose-320/1")
	img := b64file(t, "../../testdata/images/bus.jpg")
	body := func(extra string) *strings.Reader {
		return strings.NewReader(`{"model_id":"yolov8n-pose-320/1",` + extra + `"image":{"type":"base64","value":"` + img + `"}}`)
	}
	status, out := post(t, url+"/infer/keypoints_detection", "application/json", body(`"confidence":0.25,"keypoint_confidence":0.5,`))
	if status != 200 {
		t.Fatalf("%d %v", status, out)
	}
	preds := out["predictions"].([]any)
	if len(preds) == 0 {
		t.Fatalf("no detections: %v", out)
	}
	for _, p := range preds {
		kps, ok := p.(map[string]any)["keypoints"].([]any)
		if !ok {
			t.Fatalf("prediction without keypoints: %v", p)
		}
		for _, k := range kps {
			k := k.(map[string]any)
			if k["confidence"].(float64) < 0.5 || k["class"] == "" || k["x"].(float64) < 0 || k["x"].(float64) > 810 {
				t.Fatalf("keypoint %v", k)
			}
		}
	}
	// No detection is an empty list, never null (inference-sdk iterates it).
	status, out = post(t, url+"/infer/keypoints_detection", "application/json", body(`"class_filter":["no-such-class"],`))
	if p, ok := out["predictions"].([]any); status != 200 || !ok || len(p) != 0 {
		t.Fatalf("no detections: %d %v", status, out)
	}
	for _, c := range []struct {
		route, extra string
	}{
		{"/infer/keypoints_detection", `"keypoint_confidence":2,`},
		{"/infer/keypoints_detection", `"keypoint_confidence":"high",`},
		{"/infer/keypoints_detection", `"confidence":"best",`},
		{"/infer/object_detection", ``},
	} {
		status, out := post(t, url+c.route, "application/json", body(c.extra))
		if status != 400 || out["message"] == "" {
			t.Errorf("%s %s: %d %v", c.route, c.extra, status, out)
		}
	}
}
