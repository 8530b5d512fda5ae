package model

// Source is how the repository recognised a version folder. It decides
// where the rest of the spec comes from (Ultralytics metadata or Roboflow's
// environment.json) and whether another backend may stand in for the one
// asked for (an engine-only folder has no ONNX to fall back on).
type Source string

// The folder layouts the repository knows.
const (
	// SourceRepository is a Triton-style folder with model.onnx.
	SourceRepository Source = "repository"
	// SourceRoboflow is Roboflow's model cache (weights.onnx or
	// yolov5s_weights.onnx beside environment.json).
	SourceRoboflow Source = "roboflow"
	// SourceEngine is a folder holding only a prebuilt TensorRT engine.
	SourceEngine Source = "engine"
)

// NMS is which overlap test non-maximum suppression uses. The two
// origins trtserve mimics disagree, and matching a model's origin keeps
// its answers identical to what its users saw there.
type NMS string

// The NMS flavours (config.yaml nms:).
const (
	// NMSRoboflow is inference-core's overlap-over-area test (the default).
	NMSRoboflow NMS = "roboflow"
	// NMSUltralytics is true IoU, as Ultralytics' own predictor uses.
	NMSUltralytics NMS = "ultralytics"
)

// OutputLayout is how a detector lays out its raw predictions.
type OutputLayout string

// The output layouts (config.yaml output_layout:).
const (
	// LayoutYOLOv8 is [B, 4+nc(+extra), N], anchors last, no objectness.
	LayoutYOLOv8 OutputLayout = "yolov8"
	// LayoutYOLOv5 is [B, N, 5+nc(+extra)] with an objectness score.
	LayoutYOLOv5 OutputLayout = "yolov5"
	// LayoutYOLOv10 is an end-to-end export's [B, N, 6(+extra)]: top-k
	// rows x1, y1, x2, y2, confidence, class, no NMS; rows above the
	// confidence, then the first max_detections (YOLOv10's class, and
	// Ultralytics' own predictor for any end2end export).
	LayoutYOLOv10 OutputLayout = "yolov10"
	// LayoutYOLO26 is the same rows, every one above the confidence kept
	// (inference-core's YOLO26 classes apply no max_detections).
	LayoutYOLO26 OutputLayout = "yolo26"
	// LayoutYOLOv7 is YOLOv5's rows, with a segmentation model's
	// prototypes as the fifth of five outputs (after the three raw
	// per-level maps), as YOLOv7's segmentation export writes them.
	LayoutYOLOv7 OutputLayout = "yolov7"
	// LayoutYOLONAS is super-gradients' YOLO-NAS export: two outputs,
	// boxes [B, N, 4] (x1, y1, x2, y2 in input pixels) and class scores
	// [B, N, nc], decoded with Roboflow's NMS.
	LayoutYOLONAS OutputLayout = "yolonas"
	// LayoutRFDETR is RF-DETR's: boxes [B, Q, 4] (cx, cy, w, h normalised
	// to the input) and class logits [B, Q, nc(+1)], decoded by a sigmoid
	// top-k over queries x classes, no NMS; a segmentation model adds mask
	// logits [B, Q, h, w].
	LayoutRFDETR OutputLayout = "rfdetr"
)

// Contrast is Roboflow's contrast preprocessing, named as environment.json
// names it. Other values may appear (a newer Roboflow); the repository keeps
// them, with a warning, and the image path applies none.
type Contrast string

// The contrast adjustments trtserve applies; "" is none.
const (
	ContrastNone          Contrast = ""
	ContrastStretching    Contrast = "Contrast Stretching"
	HistogramEqualization Contrast = "Histogram Equalization"
	AdaptiveEqualization  Contrast = "Adaptive Equalization"
)

// Known reports one of the adjustments trtserve applies (ContrastNone is
// not one: an enabled contrast step without a type is unknown).
func (c Contrast) Known() bool {
	switch c {
	case ContrastStretching, HistogramEqualization, AdaptiveEqualization:
		return true
	}
	return false
}

// Backend names, as config.yaml's backend: and --backend spell them. They
// stay plain strings in Spec.Backend because the backend set is open (a
// backend registers under its name); these are the ones trtserve ships.
// Each backend package's Name is one of them.
const (
	BackendONNXRuntime  = "onnxruntime"
	BackendTensorRT     = "tensorrt"
	BackendSimulated    = "simulated"
	BackendSimulatedGPU = "simulated-gpu"
)
