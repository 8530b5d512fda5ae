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
