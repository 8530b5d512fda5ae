package tasks

import (
	"errors"
	"strings"
	"testing"

	"github.com/trtserve/trtserve/model"
)

func out(name string, shape ...int64) model.TensorInfo {
	return model.TensorInfo{Name: name, DataType: model.FP32, Shape: shape}
}

func names(n int) []string {
	s := make([]string, n)
	for i := range s {
		s[i] = "c"
	}
	return s
}

// Each task accepts the outputs of its own YOLO exports and refuses, with
// the reason, the layouts that would fail every request.
func TestValidate(t *testing.T) {
	det := out("output0", -1, 84, 2100)      // yolov8n: 4 + 80 classes
	v5 := out("output0", -1, 6300, 85)       // yolov5n: 5 + 80 classes
	seg := out("output0", -1, 116, 2100)     // yolov8n-seg: 4 + 80 + 32
	protos := out("output1", -1, 32, 80, 80) // its prototypes
	pose := out("output0", -1, 56, 2100)     // yolov8n-pose: 4 + 1 + 17×3
	cls := out("output0", -1, 1000)          // yolov8n-cls
	for _, c := range []struct {
		name    string
		spec    model.Spec
		outputs []model.TensorInfo
		err     string // "" when it fits
	}{
		{"detection", model.Spec{Task: model.ObjectDetection, ClassNames: names(80)}, []model.TensorInfo{det}, ""},
		{"detection without names", model.Spec{Task: model.ObjectDetection}, []model.TensorInfo{det}, ""},
		{"detection yolov5", model.Spec{Task: model.ObjectDetection, OutputLayout: model.LayoutYOLOv5, ClassNames: names(80)}, []model.TensorInfo{v5}, ""},
		{"detection on a segmentation model", model.Spec{Task: model.ObjectDetection, ClassNames: names(80)}, []model.TensorInfo{seg, protos}, ""},
		{"detection on a classifier", model.Spec{Task: model.ObjectDetection}, []model.TensorInfo{cls}, "first output must be [batch, 4+classes, anchors] (yolov8 layout)"},
		{"detection without outputs", model.Spec{Task: model.ObjectDetection}, nil, "its outputs: none"},
		{"detection naming more classes", model.Spec{Task: model.ObjectDetection, ClassNames: names(81)}, []model.TensorInfo{det}, "names 81 classes but its first output holds 80 values per anchor"},
		{"detection with no class", model.Spec{Task: model.ObjectDetection}, []model.TensorInfo{out("o", -1, 4, 2100)}, "at least one class"},
		{"segmentation", model.Spec{Task: model.InstanceSegmentation, ClassNames: names(80)}, []model.TensorInfo{seg, protos}, ""},
		{"segmentation without prototypes", model.Spec{Task: model.InstanceSegmentation, ClassNames: names(80)}, []model.TensorInfo{seg}, "[batch, masks, h, w] prototypes"},
		{"segmentation without names", model.Spec{Task: model.InstanceSegmentation}, []model.TensorInfo{seg, protos}, "0 values after its 112 classes, the 32 prototypes"},
		{"segmentation on a detector", model.Spec{Task: model.InstanceSegmentation, ClassNames: names(80)}, []model.TensorInfo{det, protos}, "0 values after its 80 classes"},
		{"keypoints", model.Spec{Task: model.KeypointDetection, ClassNames: names(1), KeypointNames: names(17)}, []model.TensorInfo{pose}, ""},
		{"keypoints naming too many", model.Spec{Task: model.KeypointDetection, ClassNames: names(1), KeypointNames: names(18)}, []model.TensorInfo{pose}, "the 18 keypoints need 54"},
		{"keypoints on a detector", model.Spec{Task: model.KeypointDetection, ClassNames: names(80), KeypointNames: names(17)}, []model.TensorInfo{det}, "0 values after its 80 classes"},
		{"classification", model.Spec{Task: model.Classification, ClassNames: names(1000)}, []model.TensorInfo{cls}, ""},
		{"classification without names", model.Spec{Task: model.Classification}, []model.TensorInfo{cls}, ""},
		{"classification naming fewer", model.Spec{Task: model.Classification, ClassNames: names(10)}, []model.TensorInfo{cls}, "names 10 classes but its output has 1000 scores"},
		{"classification on a detector", model.Spec{Task: model.Classification}, []model.TensorInfo{det}, "first output must be [batch, classes]"},
		{"unknown task", model.Spec{Task: "depth"}, []model.TensorInfo{cls}, `no task "depth"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := Validate(&c.spec, c.outputs)
			switch {
			case c.err == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.err != "" && err == nil:
				t.Fatal("accepted")
			case c.err != "" && (!errors.Is(err, model.ErrBadModel) || !strings.Contains(err.Error(), c.err)):
				t.Fatalf("error %q: want model.ErrBadModel saying %q", err, c.err)
			}
		})
	}
}

// Every task the model package names has an implementation.
func TestEveryTaskIsRegistered(t *testing.T) {
	for _, task := range []model.Task{model.ObjectDetection, model.InstanceSegmentation, model.Classification, model.KeypointDetection} {
		if _, err := For(task); err != nil {
			t.Error(err)
		}
	}
}
