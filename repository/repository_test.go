package repository

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/trtserve/trtserve/model"
)

func TestParsePythonNames(t *testing.T) {
	cases := []struct {
		in   string
		want []string
		bad  bool
	}{
		{in: "{0: 'person', 1: 'bicycle'}", want: []string{"person", "bicycle"}},
		{in: `{0: "it's", 2: 'x'}`, want: []string{"it's", "1", "x"}},
		{in: `{0: 'a\'b'}`, want: []string{"a'b"}},
		{in: "{}", want: []string{}},
		{in: "['person', \"it's\"]", want: []string{"person", "it's"}},
		{in: "[]", want: []string{}},
		{in: "[0, 1]", bad: true},
		{in: "['a' 'b']", bad: true},
		{in: "['a',", bad: true},
		{in: "{0: 'a'", bad: true},
		{in: "{0 'a'}", bad: true},
		{in: "{99999999999: 'a'}", bad: true},
	}
	for _, c := range cases {
		got, err := ParsePythonNames(c.in)
		if c.bad {
			if err == nil {
				t.Errorf("%q: want error, got %v", c.in, got)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q: got %v %v, want %v", c.in, got, err, c.want)
		}
	}
}

func TestParseONNXInfoOfUltralyticsExport(t *testing.T) {
	info, err := ReadONNXInfoFile("../testdata/models/yolov8n-seg-320/1/model.onnx")
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Inputs) != 1 || info.Inputs[0].Name != "images" || !reflect.DeepEqual(info.Inputs[0].Shape, []int64{-1, 3, -1, -1}) {
		t.Errorf("inputs: %v", info.Inputs)
	}
	if len(info.Outputs) != 2 || info.Outputs[1].Shape[1] != 32 {
		t.Errorf("outputs: %v", info.Outputs)
	}
	if info.Metadata["task"] != "segment" || info.Metadata["imgsz"] != "[320, 320]" || info.Opsets[""] != 17 {
		t.Errorf("metadata %v opsets %v", info.Metadata, info.Opsets)
	}
	for _, bad := range [][]byte{nil, []byte("not onnx at all"), {0x0a, 0xff}} {
		if _, err := ParseONNXInfo(bad); !errors.Is(err, model.ErrBadModel) {
			t.Errorf("%q: want model.ErrBadModel, got %v", bad, err)
		}
	}
}

func link(t *testing.T, src, dst string) {
	t.Helper()
	abs, _ := filepath.Abs(src)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(abs, dst); err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, path, data string) {
	t.Helper()
	os.MkdirAll(filepath.Dir(path), 0o755)
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestRepositoryScanAndResolve(t *testing.T) {
	root, cache := t.TempDir(), t.TempDir()
	onnx := "../testdata/models/yolov8n-320/1/model.onnx"
	link(t, onnx, filepath.Join(root, "dets", "1", "model.onnx"))
	link(t, onnx, filepath.Join(root, "dets", "2", "model.onnx"))
	write(t, filepath.Join(root, "dets", "config.yaml"), "max_batch_size: 4\nnms: ultralytics\npreprocessing:\n  resize: stretch\n")
	link(t, onnx, filepath.Join(root, "typo", "1", "model.onnx"))
	link(t, "../testdata/models/yolov5n-320/1/model.onnx", filepath.Join(root, "v5", "1", "model.onnx"))
	write(t, filepath.Join(root, "typo", "config.yaml"), "max_bach_size: 4\n")
	os.MkdirAll(filepath.Join(root, "empty", "1"), 0o755)
	rf := filepath.Join(cache, "cards", "7")
	link(t, onnx, filepath.Join(rf, "weights.onnx"))
	write(t, filepath.Join(rf, "environment.json"), `{"PREPROCESSING": "{\"resize\": {\"enabled\": true, \"width\": 320, \"height\": 320, \"format\": \"Fit (white edges) in\"}, \"auto-orient\": {\"enabled\": true}}", "COLORS": {"a": "#FF0000"}}`)
	write(t, filepath.Join(rf, "class_names.txt"), "ace\nking\n")
	write(t, filepath.Join(rf, "model_type.json"), `{"project_task_type": "object-detection", "model_type": "yolov8n"}`)
	rf5 := filepath.Join(cache, "cards", "8") // a Roboflow YOLOv5 folder
	link(t, "../testdata/models/yolov5n-320/1/model.onnx", filepath.Join(rf5, "yolov5s_weights.onnx"))
	write(t, filepath.Join(rf5, "environment.json"), `{"PREPROCESSING": {"resize": {"enabled": true, "width": 320, "height": 320, "format": "Stretch to"}}}`)
	write(t, filepath.Join(rf5, "model_type.json"), `{"project_task_type": "object-detection", "model_type": "yolov5v6n"}`)

	repo := &Repository{Roots: []string{root, cache}, Defaults: Defaults{MaxBatchSize: 8, InstanceCount: 1}}
	entries, err := repo.Scan()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range entries {
		ids = append(ids, e.ID())
	}
	if want := []string{"cards/7", "cards/8", "dets/1", "dets/2", "typo/1", "v5/1"}; !reflect.DeepEqual(ids, want) {
		t.Fatalf("scan: %v, want %v", ids, want)
	}
	e, err := repo.Find("dets")
	if err != nil || e.Version != "2" {
		t.Fatalf("bare name resolves to the highest version: %v %v", e, err)
	}
	m, err := repo.Resolve(e)
	if err != nil {
		t.Fatal(err)
	}
	if m.Task != model.ObjectDetection || m.MaxBatchSize != 4 || m.NMS != "ultralytics" || m.Pre.Resize != model.Stretch ||
		m.InputWidth != 320 || len(m.ClassNames) != 80 || m.ClassNames[0] != "person" || !m.Pre.AutoOrient {
		t.Errorf("resolved dets: %+v", m)
	}
	e, _ = repo.Find("cards/7")
	m, err = repo.Resolve(e)
	if err != nil {
		t.Fatal(err)
	}
	if m.Source != "roboflow" || m.Pre.Resize != model.FitWhite || !reflect.DeepEqual(m.ClassNames, []string{"ace", "king"}) ||
		m.Colors["a"] != "#FF0000" || !m.Pre.AutoOrient || m.Pre.Std != [3]float32{1, 1, 1} {
		t.Errorf("resolved cards: %+v", m)
	}
	e, _ = repo.Find("cards/8")
	if m, err = repo.Resolve(e); err != nil {
		t.Fatal(err)
	}
	if m.Source != "roboflow" || filepath.Base(m.File) != "yolov5s_weights.onnx" || m.OutputLayout != "yolov5" || m.Pre.Resize != model.Stretch {
		t.Errorf("resolved cards/8: %+v", m)
	}
	e, _ = repo.Find("v5/1")
	m, err = repo.Resolve(e)
	if err != nil {
		t.Fatal(err)
	}
	// A YOLOv5 export says nothing of its task: its output shape does.
	if m.Task != model.ObjectDetection || m.OutputLayout != "yolov5" || m.InputWidth != 320 || len(m.ClassNames) != 80 ||
		m.Pre.Resize != model.FitGrey || m.MaxBatchSize != 8 {
		t.Errorf("resolved v5: %+v", m)
	}
	e, _ = repo.Find("typo/1")
	if _, err := repo.Resolve(e); !errors.Is(err, model.ErrBadModel) {
		t.Errorf("config.yaml typo must fail loudly, got %v", err)
	}
	if _, err := repo.Find("nope/1"); !errors.Is(err, model.ErrUnknownModel) {
		t.Errorf("unknown model: %v", err)
	}
}

func TestUltralyticsLayoutFromOutputShape(t *testing.T) {
	names := "{0: 'a', 1: 'b'}"
	cases := []struct {
		name   string
		meta   map[string]string
		shape  []int64
		task   model.Task
		layout model.OutputLayout
	}{
		{"yolov5 without task", map[string]string{"names": names}, []int64{-1, 6300, 7}, model.ObjectDetection, "yolov5"},
		{"yolov5 with task", map[string]string{"names": names, "task": "detect"}, []int64{-1, 6300, 7}, model.ObjectDetection, "yolov5"},
		{"yolov8", map[string]string{"names": names, "task": "detect"}, []int64{-1, 6, 2100}, model.ObjectDetection, "yolov8"},
		{"no names, no task", map[string]string{}, []int64{-1, 6300, 7}, "", "yolov8"},
		{"pose stays pose", map[string]string{"names": names, "task": "pose", "kpt_shape": "[1, 3]"}, []int64{-1, 6300, 7}, model.KeypointDetection, "yolov8"},
		// end-to-end exports (YOLOv10, YOLO26): ranked rows, not anchors;
		// one class's [.., 300, 6] would otherwise pass for YOLOv5's rows
		{"end2end one class", map[string]string{"names": "{0: 'a'}", "task": "detect", "end2end": "True"}, []int64{-1, 300, 6}, model.ObjectDetection, "yolov10"},
		{"end2end segment", map[string]string{"names": names, "task": "segment", "end2end": "True"}, []int64{-1, 300, 38}, model.InstanceSegmentation, "yolov10"},
		{"end2end pose", map[string]string{"names": names, "task": "pose", "kpt_shape": "[17, 3]", "end2end": "True"}, []int64{-1, 300, 57}, model.KeypointDetection, "yolov10"},
		{"end2end False", map[string]string{"names": names, "task": "detect", "end2end": "False"}, []int64{-1, 6, 2100}, model.ObjectDetection, "yolov8"},
	}
	for _, c := range cases {
		m := &model.Spec{OutputLayout: "yolov8"}
		info := &model.ONNXInfo{Metadata: c.meta, Outputs: []model.TensorInfo{{Name: "output0", Shape: c.shape}}}
		if err := applyUltralytics(m, info); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if m.Task != c.task || m.OutputLayout != c.layout {
			t.Errorf("%s: task %q layout %q, want %q %q", c.name, m.Task, m.OutputLayout, c.task, c.layout)
		}
	}
}

// Keys that belong to one backend (simulated:, precision:, tf32:) are
// accepted here but not interpreted: the spec carries the document and the
// backend decodes them on Load. A misspelt key is still the repository's
// error.
func TestResolveLeavesBackendKeysToTheBackend(t *testing.T) {
	root := t.TempDir()
	link(t, "../testdata/models/yolov8n-320/1/model.onnx", filepath.Join(root, "dets", "1", "model.onnx"))
	repo := &Repository{Roots: []string{root}, Defaults: Defaults{MaxBatchSize: 8, InstanceCount: 1}}
	e, err := repo.Find("dets/1")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, config string
		err          string
	}{
		{"tensorrt keys", "precision: fp16\ntf32: false\n", ""},
		{"values are the backend's to judge", "precision: fp64\ntf32: maybe\nsimulated: {base_us: -1}\n", ""},
		{"simulated", "backend: simulated\nsimulated:\n  base_us: 500\n  fail_every: 3\n", ""},
		{"misspelt key", "precison: fp16\n", "field precison not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := repo.ResolveWith(e, []byte(tc.config))
			if tc.err != "" {
				if !errors.Is(err, model.ErrBadModel) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(m.Config) != tc.config {
				t.Fatalf("Config = %q, want the document %q", m.Config, tc.config)
			}
		})
	}
}
