package repository

import (
	"testing"

	"github.com/trtserve/trtserve/model"
)

// Each model_type inference-core maps resolves to its family's layout;
// pairs it lacks keep the prefix rule trtserve had before the table.
func TestFamilyOf(t *testing.T) {
	for _, c := range []struct {
		task      model.Task
		modelType string
		family    string
		layout    model.OutputLayout
		mapped    bool
	}{
		{model.ObjectDetection, "yolov8n", "yolov8", model.LayoutYOLOv8, true},
		{model.ObjectDetection, "yolov5v6s", "yolov5", model.LayoutYOLOv5, true},
		{model.InstanceSegmentation, "yolov5n-seg", "yolov5", model.LayoutYOLOv5, true},
		{model.KeypointDetection, "yolov8n-pose", "yolov8", model.LayoutYOLOv8, true},
		{model.InstanceSegmentation, "yolov7-seg", "yolov7", model.LayoutYOLOv7, true},
		{model.ObjectDetection, "yolov9", "yolov9", model.LayoutYOLOv8, true},
		{model.ObjectDetection, "yolov11n", "yolov11", model.LayoutYOLOv8, true},
		{model.InstanceSegmentation, "yolov11s-seg", "yolov11", model.LayoutYOLOv8, true},
		{model.KeypointDetection, "yolov11n-pose", "yolov11", model.LayoutYOLOv8, true},
		{model.ObjectDetection, "yolov12n", "yolov12", model.LayoutYOLOv8, true},
		// pairs inference-core does not map: the prefix rule
		{model.ObjectDetection, "yolov7", "yolov8", model.LayoutYOLOv8, false},
		{model.KeypointDetection, "yolov11", "yolov8", model.LayoutYOLOv8, false},
		{model.InstanceSegmentation, "yolov12n", "yolov8", model.LayoutYOLOv8, false},
		{model.ObjectDetection, "yolov5-custom", "yolov5", model.LayoutYOLOv5, false},
		{model.ObjectDetection, "mystery", "yolov8", model.LayoutYOLOv8, false},
		{"", "", "yolov8", model.LayoutYOLOv8, false},
	} {
		f, mapped := familyOf(c.task, c.modelType)
		if f.Name != c.family || f.Layout != c.layout || mapped != c.mapped {
			t.Errorf("%s/%s: family %s layout %s mapped %v, want %s %s %v", c.task, c.modelType, f.Name, f.Layout, mapped, c.family, c.layout, c.mapped)
		}
	}
}

// config.yaml's output_layout accepts every layout a family decodes and
// names them when it refuses one.
func TestConfigOutputLayouts(t *testing.T) {
	for _, l := range knownLayouts() {
		if _, err := ParseFileConfig([]byte("output_layout: " + l)); err != nil {
			t.Errorf("%s: %v", l, err)
		}
	}
	if _, err := ParseFileConfig([]byte("output_layout: yolov99")); err == nil {
		t.Error("yolov99 accepted")
	}
}

// The YOLO family test models as bare exports (no config, no Roboflow
// folder): Ultralytics' metadata names the task; YOLOv7's segmentation
// export names none, and its five outputs say what it is.
func TestBareExportsOfTheYOLOFamilies(t *testing.T) {
	for _, c := range []struct {
		dir    string
		task   model.Task
		layout model.OutputLayout
		kps    int
	}{
		{"yolov9t-160", model.ObjectDetection, model.LayoutYOLOv8, 0},
		{"yolo11n-160", model.ObjectDetection, model.LayoutYOLOv8, 0},
		{"yolo11n-seg-160", model.InstanceSegmentation, model.LayoutYOLOv8, 0},
		{"yolo11n-pose-160", model.KeypointDetection, model.LayoutYOLOv8, 17},
		{"yolov7-seg-160", model.InstanceSegmentation, model.LayoutYOLOv7, 0},
	} {
		info, err := ReadONNXInfoFile("../testdata/models/" + c.dir + "/weights.onnx")
		if err != nil {
			t.Fatal(err)
		}
		m := &model.Spec{OutputLayout: model.LayoutYOLOv8, InputWidth: int(info.Inputs[0].Shape[3]), InputHeight: int(info.Inputs[0].Shape[2])}
		if err := applyUltralytics(m, info); err != nil {
			t.Fatalf("%s: %v", c.dir, err)
		}
		if m.Task != c.task || m.OutputLayout != c.layout || len(m.KeypointNames) != c.kps || len(m.ClassNames) == 0 || m.InputWidth != 160 {
			t.Errorf("%s: task %q layout %q, %d keypoints, classes %v, input %d: want %q %q %d", c.dir, m.Task, m.OutputLayout, len(m.KeypointNames), m.ClassNames, m.InputWidth, c.task, c.layout, c.kps)
		}
	}
	// Five outputs that are not YOLOv7's stay unknown.
	info := &model.ONNXInfo{Metadata: map[string]string{"names": "{0: 'a'}"}, Outputs: []model.TensorInfo{
		{Shape: []int64{-1, 100, 38}}, {Shape: []int64{-1, 3}}, {Shape: []int64{-1, 3}}, {Shape: []int64{-1, 3}}, {Shape: []int64{-1, 32, 8, 8}}}}
	m := &model.Spec{OutputLayout: model.LayoutYOLOv8}
	if err := applyUltralytics(m, info); err != nil || m.Task != "" {
		t.Errorf("not YOLOv7: task %q, %v", m.Task, err)
	}
}
