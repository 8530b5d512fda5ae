package main

import (
	"strings"
	"testing"
)

func TestSegmentationRoute(t *testing.T) {
	url := startServer(t, "--load-models", "yolov8n-seg-320/1")
	img := b64file(t, "../../testdata/images/bus.jpg")
	body := func(extra string) *strings.Reader {
		return strings.NewReader(`{"model_id":"yolov8n-seg-320/1",` + extra + `"image":{"type":"base64","value":"` + img + `"}}`)
	}
	for _, mode := range []string{`"fast"`, `"accurate"`, `"tradeoff","tradeoff_factor":0.5`} {
		status, out := post(t, url+"/infer/instance_segmentation", "application/json", body(`"mask_decode_mode":`+mode+`,`))
		if status != 200 {
			t.Fatalf("%s: %d %v", mode, status, out)
		}
		preds := out["predictions"].([]any)
		if len(preds) == 0 {
			t.Fatalf("%s: no detections", mode)
		}
		// Polygons are not clipped to the image (Roboflow does not clip
		// them either: a letterboxed mask may reach into the padding).
		withPolygon := 0
		for _, p := range preds {
			pts := p.(map[string]any)["points"].([]any)
			if len(pts) >= 3 {
				withPolygon++
			}
			for _, q := range pts {
				q := q.(map[string]any)
				if x, y := q["x"].(float64), q["y"].(float64); x < -810 || x > 1620 || y < -1080 || y > 2160 {
					t.Fatalf("%s: point %v far outside the 810x1080 image", mode, q)
				}
			}
		}
		if withPolygon == 0 {
			t.Fatalf("%s: no detection has a polygon", mode)
		}
	}
	for _, c := range []struct {
		extra  string
		status int
	}{
		{`"mask_decode_mode":"fastest",`, 400},
		{`"mask_decode_mode":"tradeoff","tradeoff_factor":1.5,`, 400},
		{`"response_mask_format":"bitmap",`, 400},
	} {
		status, out := post(t, url+"/infer/instance_segmentation", "application/json", body(c.extra))
		if status != c.status || out["message"] == "" {
			t.Errorf("%s: %d %v", c.extra, status, out)
		}
	}
	// RLE: COCO's compressed counts of each mask in image pixels.
	status, out := post(t, url+"/infer/instance_segmentation", "application/json", body(`"mask_decode_mode":"fast","response_mask_format":"rle",`))
	if status != 200 {
		t.Fatalf("rle: %d %v", status, out)
	}
	for _, p := range out["predictions"].([]any) {
		p := p.(map[string]any)
		rle, _ := p["rle"].(map[string]any)
		size, _ := rle["size"].([]any)
		if p["mask_format"] != "rle" || len(size) != 2 || size[0] != 1080.0 || size[1] != 810.0 || rle["counts"] == "" || p["points"] != nil {
			t.Fatalf("rle prediction %v", p)
		}
	}
	status, out = post(t, url+"/infer/object_detection", "application/json", body(""))
	if status != 400 {
		t.Errorf("segmentation model on the detection route: %d %v", status, out)
	}
}
