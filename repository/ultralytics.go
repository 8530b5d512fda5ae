package repository

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/trtserve/trtserve/model"
)

// applyUltralytics reads an Ultralytics export's metadata_props. Without
// environment.json there is no Roboflow preprocessing to follow, so such
// models get Ultralytics' own: letterbox with grey (114) edges, EXIF
// auto-orientation on. YOLOv5 exports (ultralytics/yolov5's export.py)
// carry names and stride but no task: a single output [batch, anchors,
// 5+classes] makes them YOLOv5-layout detectors (YOLOv8's is [batch,
// 4+classes, anchors]), with a task in the metadata or without.
func applyUltralytics(m *model.Spec, info *model.ONNXInfo) error {
	meta := info.Metadata
	m.Pre.Resize = model.FitGrey
	m.Pre.AutoOrient = true
	if task, ok := meta["task"]; ok {
		t, err := model.ParseTask(task)
		if err != nil {
			return err
		}
		m.Task = t
		m.ModelType = "yolov8"
	}
	if names, ok := meta["names"]; ok {
		list, err := ParsePythonNames(names)
		if err != nil {
			return fmt.Errorf("%w: metadata names: %v", model.ErrBadModel, err)
		}
		m.ClassNames = list
	}
	// An end-to-end export (YOLOv10, YOLO26; metadata end2end, which
	// Ultralytics writes as Python's str(True)) outputs ranked rows
	// [batch, detections, 6+extra] with no NMS left to run; Ultralytics'
	// own predictor keeps the rows above the confidence, then max_det.
	// Its rows can look like a one-class YOLOv5 output, so it is told
	// first.
	if meta["end2end"] == "True" {
		m.OutputLayout = model.LayoutYOLOv10
	} else if n := int64(len(m.ClassNames)); n > 0 && (m.Task == "" || m.Task == model.ObjectDetection) &&
		len(info.Outputs) == 1 && len(info.Outputs[0].Shape) == 3 {
		if s := info.Outputs[0].Shape; s[2] == 5+n && s[1] != 4+n {
			m.Task, m.ModelType, m.OutputLayout = model.ObjectDetection, "yolov5", model.LayoutYOLOv5
		}
	} else if n > 0 && m.Task == "" && isYOLOv7Segmentation(info.Outputs, n) {
		m.Task, m.ModelType, m.OutputLayout = model.InstanceSegmentation, "yolov7-seg", model.LayoutYOLOv7
	}
	h, w, err := MetadataImageSize(meta)
	if err != nil {
		return err
	}
	if h > 0 && m.InputHeight == 0 {
		m.InputHeight, m.InputWidth = h, w
	}
	if kpt, ok := meta["kpt_shape"]; ok {
		dims, err := parseIntList(kpt)
		if err != nil || len(dims) != 2 {
			return fmt.Errorf("%w: metadata kpt_shape %q", model.ErrBadModel, kpt)
		}
		m.KeypointNames = make([]string, dims[0])
		for i := range m.KeypointNames {
			m.KeypointNames[i] = strconv.Itoa(i)
		}
	}
	m.Pre.Mean, m.Pre.Std = taskNormalization(m.Task)
	return nil
}

// isYOLOv7Segmentation tells YOLOv7's segmentation export (names and
// stride in its metadata, no task) by its five outputs: rows [batch,
// anchors, 5+classes+masks], three raw per-level maps, and [batch, masks,
// h, w] prototypes last.
func isYOLOv7Segmentation(outs []model.TensorInfo, nc int64) bool {
	if len(outs) != 5 || len(outs[0].Shape) != 3 || len(outs[4].Shape) != 4 {
		return false
	}
	for _, o := range outs[1:4] {
		if len(o.Shape) != 5 {
			return false
		}
	}
	return outs[4].Shape[1] > 0 && outs[0].Shape[2] == 5+nc+outs[4].Shape[1]
}

// MetadataImageSize is the input size in an Ultralytics export's imgsz
// metadata ("[h, w]" or "n"), or 0, 0 when there is none.
func MetadataImageSize(meta map[string]string) (h, w int, err error) {
	imgsz, ok := meta["imgsz"]
	if !ok {
		return 0, 0, nil
	}
	dims, err := parseIntList(imgsz)
	if err != nil || len(dims) == 0 {
		return 0, 0, fmt.Errorf("%w: metadata imgsz %q", model.ErrBadModel, imgsz)
	}
	h, w = dims[0], dims[0]
	if len(dims) > 1 {
		w = dims[1]
	}
	return h, w, nil
}

func parseIntList(s string) ([]int, error) {
	s = strings.Trim(strings.TrimSpace(s), "[]()")
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}
