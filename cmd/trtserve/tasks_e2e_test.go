package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A model whose outputs do not fit its task fails its load on ONNX
// Runtime, with the reason in the repository index and in the answer of a
// request that asks for it; the models beside it serve.
func TestModelOfTheWrongLayoutFailsItsLoad(t *testing.T) {
	repo := t.TempDir()
	addClsONNX(t, repo, "cls-as-det")
	if err := os.WriteFile(filepath.Join(repo, "cls-as-det", "config.yaml"), []byte("task: object-detection\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	addClsONNX(t, repo, "cls")
	url := startServer(t, "--model-repository", repo)
	const reason = "object-detection model: the first output must be [batch, 4+classes, anchors]"
	states := map[string]string{}
	for _, m := range repositoryIndex(t, url) {
		states[m["name"]] = m["state"] + ": " + m["reason"]
	}
	if states["cls"] != "READY: " || !strings.HasPrefix(states["cls-as-det"], "UNAVAILABLE: ") || !strings.Contains(states["cls-as-det"], reason) {
		t.Fatalf("index %q", states)
	}
	image := b64file(t, "../../testdata/images/bus.jpg")
	code, body := post(t, url+"/infer/object_detection", "application/json", odBody("cls-as-det/1", image))
	if msg, _ := body["message"].(string); code != 503 || body["error_type"] != "ModelLoadError" || !strings.Contains(msg, reason) {
		t.Fatalf("request for the model: %d %v", code, body)
	}
	code, body = post(t, url+"/infer/classification", "application/json", odBody("cls/1", image))
	if code != 200 || body["top"] == nil {
		t.Fatalf("the model beside it: %d %v", code, body)
	}
}
