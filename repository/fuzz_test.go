package repository

import (
	"encoding/json"
	"os"
	"testing"
)

// FuzzParseONNXInfo: the ONNX reader never panics and never trusts a
// declared length (protowire slices the input; nothing is allocated from
// a length field).
func FuzzParseONNXInfo(f *testing.F) {
	data, err := os.ReadFile("../testdata/models/yolov8n-cls-320/1/model.onnx")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data[:min(len(data), 64<<10)]) // the graph header and metadata, without most weights
	f.Add([]byte{0x3a, 0x05, 0x0a, 0x03, 'a', 'b', 'c'})
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := ParseONNXInfo(data)
		if err == nil && info == nil {
			t.Fatal("nil info without an error")
		}
	})
}

// FuzzParseFileConfig: config.yaml (and the JSON config a KServe load may
// carry) either parses into a config that passes its own checks or fails.
func FuzzParseFileConfig(f *testing.F) {
	f.Add([]byte("backend: simulated\nmax_batch_size: 4\ndynamic_batching:\n  preferred_batch_size: [2, 4]\n"))
	f.Add([]byte(`{"max_batch_size": 2, "task": "object-detection", "class_names": ["a"]}`))
	f.Add([]byte("preprocessing:\n  mean: [0.1, 0.2, 0.3]\n  resize: Fit (black edges) in\n"))
	f.Add([]byte("&a [*a, *a, *a]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseFileConfig(data)
		if err != nil {
			return
		}
		if c.MaxBatchSize < 0 || c.InstanceCount < 0 {
			t.Fatalf("negative sizes accepted: %+v", c)
		}
	})
}

// FuzzRoboflowEnvironment: environment.json and its PREPROCESSING string.
func FuzzRoboflowEnvironment(f *testing.F) {
	f.Add([]byte(`{"PREPROCESSING": "{\"resize\": {\"enabled\": true, \"width\": 640, \"height\": 640, \"format\": \"Stretch to\"}, \"static-crop\": {\"enabled\": true, \"x_min\": 10, \"y_min\": 5, \"x_max\": 90, \"y_max\": 95}}", "CLASS_MAP": {"0": "a"}, "MULTICLASS": true}`))
	f.Add([]byte(`{"PREPROCESSING": {"contrast": {"enabled": true, "type": "Adaptive Equalization"}, "grayscale": {"enabled": true}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var env roboflowEnv
		if json.Unmarshal(data, &env) != nil {
			return
		}
		parseRoboflowPreprocessing(env.Preprocessing)
	})
}

// FuzzParsePythonNames: Ultralytics' names metadata, a Python dict literal.
// Gaps between ids are filled, so the result is bounded by the id limit,
// not by the input's length.
func FuzzParsePythonNames(f *testing.F) {
	f.Add(`{0: 'person', 1: "bi'cycle", 2: 'a\\'b'}`)
	f.Add(`{}`)
	f.Fuzz(func(t *testing.T, s string) {
		names, err := ParsePythonNames(s)
		if err == nil && len(names) > 1<<16+1 {
			t.Fatalf("%d names", len(names))
		}
	})
}
