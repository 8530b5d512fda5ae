package repository

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/trtserve/trtserve/model"
)

// YOLO-NAS and RF-DETR, as inference-core 1.8.3 maps their model types
// (YOLONASObjectDetection; RFDETRObjectDetection and
// RFDETRInstanceSegmentation, which reads the detection class's
// preprocessing and labels).
var (
	familyYOLONAS = &Family{Name: "yolonas", Layout: model.LayoutYOLONAS}
	familyRFDETR  = &Family{Name: "rfdetr", Layout: model.LayoutRFDETR, Normalization: rfdetrNormalization, Adjust: adjustRFDETR}
)

func init() {
	addFamily(familyYOLONAS, model.ObjectDetection, "yolonas", "yolo_nas_s", "yolo_nas_m", "yolo_nas_l")
	addFamily(familyRFDETR, model.ObjectDetection, sizes("rfdetr", "", "-base", "-nano", "-small", "-medium", "-large", "-xlarge", "-2xlarge")...)
	addFamily(familyRFDETR, model.InstanceSegmentation, sizes("rfdetr", "", "-seg-preview", "-seg-nano", "-seg-small", "-seg-medium", "-seg-large", "-seg-xlarge", "-seg-xxlarge", "-seg-2xlarge")...)
}

// rfdetrNormalization is RFDETRObjectDetection's preprocess_means and
// preprocess_stds (ImageNet's), for every task it serves.
func rfdetrNormalization(model.Task) (mean, std [3]float32) {
	return [3]float32{0.485, 0.456, 0.406}, [3]float32{0.229, 0.224, 0.225}
}

// RFDETRMaxResolution is inference-core's RFDETR_ONNX_MAX_RESOLUTION
// default: it refuses to load an RF-DETR whose resolution is at or above
// it (the ONNX graphs of larger ones exhaust memory).
const RFDETRMaxResolution = 1600

// rfdetrBackground is the class Roboflow adds at training to make RF-DETR's
// labels one-indexed (inference-core's ROBOFLOW_BACKGROUND_CLASS).
const rfdetrBackground = "background_class83422"

// adjustRFDETR does what RFDETRObjectDetection.initialize_model does with
// its folder beyond the common steps: refuse a resolution at or above the
// limit (environment.json's RESOLUTION, else the resize width), normalise
// before resizing, and take Roboflow's background class out of the class
// list, remembering where it was.
func adjustRFDETR(m *model.Spec, env map[string]json.RawMessage) error {
	m.Pre.NormalizeFirst = true
	pre, _ := parseRoboflowPreprocessing(env["PREPROCESSING"])
	res, ok := rfdetrResolution(env["RESOLUTION"])
	if !ok && pre != nil && pre.Resize != nil && pre.Resize.Width > 0 {
		res, ok = pre.Resize.Width, true
	}
	if pre != nil && pre.Resize != nil && m.Pre.Resize.IsFit() && pre.Resize.Width > 0 && pre.Resize.Height > 0 &&
		pre.Resize.Width != pre.Resize.Height && m.InputWidth == m.InputHeight {
		// inference-core letterboxes such a model to the training size,
		// then stretches that to the square input; trtserve letterboxes
		// straight into the input.
		m.Warnings = append(m.Warnings, fmt.Sprintf("RF-DETR trained at %dx%d in a Fit mode with a square %dx%d input: inference-core letterboxes to %dx%d and then stretches, trtserve letterboxes to the input; predictions may differ from Roboflow's",
			pre.Resize.Width, pre.Resize.Height, m.InputWidth, m.InputHeight, pre.Resize.Width, pre.Resize.Height))
	}
	if ok && res >= RFDETRMaxResolution {
		return fmt.Errorf("%w: RF-DETR input resolution %d is at or above %d, which inference-core refuses to load (RFDETR_ONNX_MAX_RESOLUTION)", model.ErrBadModel, res, RFDETRMaxResolution)
	}
	for i, n := range m.ClassNames {
		if n == rfdetrBackground {
			m.OneIndexed, m.BackgroundClass = true, i
			m.ClassNames = append(m.ClassNames[:i:i], m.ClassNames[i+1:]...)
			break
		}
	}
	return nil
}

// rfdetrResolution reads RESOLUTION as inference-core does: a number, a
// numeric string, or a list whose first element is one.
func rfdetrResolution(raw json.RawMessage) (int, bool) {
	if len(raw) == 0 {
		return 0, false
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) == nil {
		if len(list) == 0 {
			return 0, false
		}
		raw = list[0]
	}
	var f float64
	if json.Unmarshal(raw, &f) == nil {
		return int(f), true
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if n, err := strconv.Atoi(s); err == nil {
			return n, true
		}
	}
	return 0, false
}
