package repository

import (
	"encoding/json"
	"sort"
	"strings"

	"github.com/trtserve/trtserve/model"
)

// Family is what inference-core's model class for a Roboflow model_type
// implies about the model beyond its files: how its outputs are laid out,
// which NMS its answers come from, and any preprocessing that differs from
// Roboflow's per-task default. One family serves every model_type that
// inference-core 1.8.3 maps (ROBOFLOW_MODEL_TYPES, keyed by project task
// and model_type) to the same class or to a class that reuses it.
type Family struct {
	// Name is inference-core's package for the class (inference/models/<Name>).
	Name string
	// Layout is the decoder of its raw outputs (tasks/layout_<layout>.go).
	Layout model.OutputLayout
	// NMS is the overlap test of its non-maximum suppression; "" is
	// Roboflow's.
	NMS model.NMS
	// Normalization, when not nil, replaces Roboflow's per-task mean and
	// std (taskNormalization).
	Normalization func(model.Task) (mean, std [3]float32)
	// Adjust, when not nil, runs last in applyRoboflow, with
	// environment.json's keys, for what the family reads there beyond
	// PREPROCESSING (e.g. a RESOLUTION).
	Adjust func(m *model.Spec, env map[string]json.RawMessage) error
}

// familyKey is inference-core's key: (project task type, model_type).
type familyKey struct {
	task      model.Task
	modelType string
}

// roboflowFamilies maps what a Roboflow cache folder's model_type.json says
// to the family inference-core loads it as. A pair it lacks is not one
// inference-core serves; such folders keep the rule trtserve had before
// the table (yolov5* is the YOLOv5 layout, anything else YOLOv8's).
var roboflowFamilies = map[familyKey]*Family{}

// addFamily maps each model type, under the project task, to f; a pair
// mapped twice is a table error caught at start.
func addFamily(f *Family, task model.Task, modelTypes ...string) {
	for _, mt := range modelTypes {
		k := familyKey{task, mt}
		if _, dup := roboflowFamilies[k]; dup {
			panic("repository: model_type " + string(task) + "/" + mt + " mapped twice")
		}
		roboflowFamilies[k] = f
	}
}

// sizes is a model type with inference-core's size suffixes appended.
func sizes(base string, suffixes ...string) []string {
	out := make([]string, len(suffixes))
	for i, s := range suffixes {
		out[i] = base + s
	}
	return out
}

// familyOf is the family of a folder's (task, model_type), and whether
// inference-core maps that pair.
func familyOf(task model.Task, modelType string) (*Family, bool) {
	if f, ok := roboflowFamilies[familyKey{task, modelType}]; ok {
		return f, true
	}
	if strings.HasPrefix(strings.ToLower(modelType), "yolov5") {
		return familyYOLOv5, false
	}
	return familyYOLOv8, false
}

// The families. Rows follow inference-core 1.8.3's ROBOFLOW_MODEL_TYPES
// (inference/models/utils.py); helpers adding a family add its rows here.
var (
	familyYOLOv5 = &Family{Name: "yolov5", Layout: model.LayoutYOLOv5}
	familyYOLOv8 = &Family{Name: "yolov8", Layout: model.LayoutYOLOv8}
)

func init() {
	addFamily(familyYOLOv5, model.ObjectDetection, "yolov5", "yolov5v2s", "yolov5v6n", "yolov5v6s", "yolov5v6m", "yolov5v6l", "yolov5v6x")
	addFamily(familyYOLOv5, model.InstanceSegmentation, "yolov5", "yolov5-seg", "yolov5n-seg", "yolov5s-seg", "yolov5m-seg", "yolov5l-seg", "yolov5x-seg")

	addFamily(familyYOLOv8, model.ObjectDetection, sizes("yolov8", "", "n", "s", "m", "l", "x")...)
	addFamily(familyYOLOv8, model.InstanceSegmentation, sizes("yolov8", "", "n", "s", "m", "l", "x", "-seg", "n-seg", "s-seg", "m-seg", "l-seg", "x-seg")...)
	addFamily(familyYOLOv8, model.KeypointDetection, sizes("yolov8", "", "n", "s", "m", "l", "x", "n-pose", "s-pose", "m-pose", "l-pose", "x-pose")...)
	addFamily(familyYOLOv8, model.Classification, sizes("yolov8", "", "n", "s", "m", "l", "x")...)
}

// knownLayout reports a layout some family decodes: config.yaml may name
// any of them.
func knownLayout(l model.OutputLayout) bool {
	for _, f := range roboflowFamilies {
		if f.Layout == l {
			return true
		}
	}
	return false
}

// knownLayouts names them, sorted, for config.yaml's error.
func knownLayouts() []string {
	seen := map[string]bool{}
	var out []string
	for _, f := range roboflowFamilies {
		if n := string(f.Layout); n != "" && !seen[n] { // "": a family with no detector layout
			seen[n] = true
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}
