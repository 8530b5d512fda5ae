package main

import (
	"bytes"
	"encoding/base64"
	"image/jpeg"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
)

func TestVisualizationOnEveryTask(t *testing.T) {
	url := startServer(t, "--load-models", "yolov8n-320/1,yolov8n-seg-320/1,yolov8n-pose-320/1,yolov8n-cls-320/1")
	img := b64file(t, "../../testdata/images/bus.jpg")
	for _, c := range []struct{ route, model string }{
		{"object_detection", "yolov8n-320/1"},
		{"instance_segmentation", "yolov8n-seg-320/1"},
		{"keypoints_detection", "yolov8n-pose-320/1"},
		{"classification", "yolov8n-cls-320/1"},
	} {
		body := `{"model_id":"` + c.model + `","visualize_predictions":true,"visualization_labels":true,"visualization_stroke_width":3,"confidence":0.3,"image":{"type":"base64","value":"` + img + `"}}`
		status, out := post(t, url+"/infer/"+c.route, "application/json", strings.NewReader(body))
		if status != 200 {
			t.Fatalf("%s: %d %v", c.route, status, out)
		}
		v, _ := out["visualization"].(string)
		data, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(data) == 0 {
			t.Fatalf("%s: visualization is not base64: %v", c.route, err)
		}
		pic, err := jpeg.Decode(bytes.NewReader(data))
		if err != nil || pic.Bounds().Dx() != 810 || pic.Bounds().Dy() != 1080 {
			t.Fatalf("%s: visualization is not an 810x1080 JPEG: %v", c.route, err)
		}
	}
	status, out := post(t, url+"/infer/object_detection", "application/json", strings.NewReader(
		`{"model_id":"yolov8n-320/1","visualize_predictions":true,"visualization_stroke_width":0,"image":{"type":"base64","value":"`+img+`"}}`))
	if status != 400 {
		t.Fatalf("stroke 0: %d %v", status, out)
	}
	// Without the flag there is no visualization field.
	status, out = post(t, url+"/infer/object_detection", "application/json", strings.NewReader(`{"model_id":"yolov8n-320/1","image":{"type":"base64","value":"`+img+`"}}`))
	if _, ok := out["visualization"]; status != 200 || ok {
		t.Fatalf("no visualization asked: %d, visualization present %v", status, ok)
	}
	// The legacy format=image answers the JPEG itself.
	raw, _ := os.ReadFile("../../testdata/images/bus.jpg")
	resp, err := http.Post(url+"/yolov8n-320/1?format=image&labels=true", "application/x-www-form-urlencoded", strings.NewReader(base64.StdEncoding.EncodeToString(raw)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/jpeg" {
		t.Fatalf("format=image: %d %s %.200s", resp.StatusCode, resp.Header.Get("Content-Type"), data)
	}
	if _, err := jpeg.Decode(bytes.NewReader(data)); err != nil {
		t.Fatalf("format=image body: %v", err)
	}
}
