package model

import (
	"fmt"
	"strings"
)

// Task is what a model predicts, named as Roboflow's project_task_type.
type Task string

// The tasks trtserve serves.
const (
	ObjectDetection      Task = "object-detection"
	InstanceSegmentation Task = "instance-segmentation"
	Classification       Task = "classification"
	KeypointDetection    Task = "keypoint-detection"
	// SemanticSegmentation labels every pixel with one class (Roboflow's
	// /infer/semantic_segmentation; DeepLabV3+).
	SemanticSegmentation Task = "semantic-segmentation"
)

// ParseTask accepts Roboflow's and Ultralytics' task names.
func ParseTask(s string) (Task, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "object-detection", "detect", "detection", "object_detection":
		return ObjectDetection, nil
	case "instance-segmentation", "segment", "segmentation", "instance_segmentation":
		return InstanceSegmentation, nil
	case "classification", "classify", "cls":
		return Classification, nil
	case "keypoint-detection", "pose", "keypoints", "keypoints_detection", "keypoint_detection":
		return KeypointDetection, nil
	case "semantic-segmentation", "semantic_segmentation", "semantic-segment":
		return SemanticSegmentation, nil
	}
	return "", fmt.Errorf("%w: unknown task %q", ErrBadModel, s)
}

// ResizeMode is Roboflow's resize.format vocabulary.
type ResizeMode string

// Resize modes. Fit modes keep the aspect ratio and pad with a colour.
const (
	Stretch    ResizeMode = "Stretch to"
	FitBlack   ResizeMode = "Fit (black edges) in"
	FitWhite   ResizeMode = "Fit (white edges) in"
	FitGrey    ResizeMode = "Fit (grey edges) in"
	fitReflect ResizeMode = "Fit (reflect edges) in"
	fitWithin  ResizeMode = "Fit within"
	fillCrop   ResizeMode = "Fill (with center crop) in"
)

// ParseResizeMode maps Roboflow's strings (and the short names stretch,
// letterbox, fit-black, fit-white, fit-grey) to a mode; like inference-core
// 1.8.3, reflect, "within" and center-crop fill fall back to black edges
// and anything else to Stretch.
func ParseResizeMode(s string) ResizeMode {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case strings.ToLower(string(FitBlack)), "fit-black", strings.ToLower(string(fitReflect)), strings.ToLower(string(fitWithin)), strings.ToLower(string(fillCrop)):
		return FitBlack
	case strings.ToLower(string(FitWhite)), "fit-white":
		return FitWhite
	case strings.ToLower(string(FitGrey)), "fit-grey", "fit-gray", "letterbox":
		return FitGrey
	}
	return Stretch
}

// IsFit reports an aspect-preserving mode.
func (r ResizeMode) IsFit() bool { return r != Stretch && r != "" }

// PadValue is the padding colour of a Fit mode (grey is 114, as Ultralytics
// and Roboflow use).
func (r ResizeMode) PadValue() uint8 {
	switch r {
	case FitWhite:
		return 255
	case FitGrey:
		return 114
	}
	return 0
}

// StaticCrop is Roboflow's static-crop preprocessing, in percent of the image.
type StaticCrop struct {
	XMin, YMin, XMax, YMax float64
}

// Preprocessing is everything done to an image before it becomes a tensor.
type Preprocessing struct {
	Resize     ResizeMode
	AutoOrient bool
	StaticCrop *StaticCrop
	// Contrast is ContrastNone or one of Roboflow's contrast types.
	Contrast  Contrast
	Grayscale bool
	// Tensor value = (pixel/255 - Mean[c]) / Std[c], channels in RGB order.
	Mean, Std [3]float32
	// NormalizeFirst normalises the pixels before resizing them, in
	// float32, and pads a Fit mode with the raw pad colour (not its
	// normalised value), as inference-core's RF-DETR class does.
	NormalizeFirst bool
}

// Spec is one servable model version with everything resolved: where its
// weights are, which backend runs it, its task, classes and preprocessing.
type Spec struct {
	Name, Version string
	// Dir is the version folder; File the weights file inside it.
	Dir, File string
	// Source tells how the folder was recognised.
	Source Source
	// Backend names the backend that runs the model (BackendONNXRuntime,
	// BackendTensorRT, ...).
	Backend string
	// FallbackReason says why the model runs on Backend instead of the
	// backend it asked for ("" when it runs where it asked); the model's
	// status shows it.
	FallbackReason string
	Task           Task
	ModelType      string
	ClassNames     []string
	Colors         map[string]string
	Multiclass     bool
	KeypointNames  []string
	InputWidth     int
	InputHeight    int
	Pre            Preprocessing
	NMS            NMS
	OutputLayout   OutputLayout
	MaxBatchSize   int
	InstanceCount  int
	Batching       DynamicBatching
	// OneIndexed says the model's labels count Roboflow's background class
	// (RF-DETR trained by Roboflow), which sat at BackgroundClass in the
	// class list it was trained with; ClassNames no longer holds it.
	OneIndexed      bool
	BackgroundClass int
	// Warnings are things about the model trtserve serves differently from
	// its origin; logged when it loads.
	Warnings []string
	// ONNX is the ONNX file's description; nil for an engine-only folder.
	ONNX *ONNXInfo
	// Config is the model's config document as the repository read it
	// (config.yaml, or the override a load request carried), nil when it
	// has none. The generic keys are already in the fields above; a
	// backend decodes its own keys from it on Load (simulated: for the
	// simulated backends, precision: and tf32: for TensorRT), so a setting
	// that only one backend understands never becomes a field here.
	Config []byte
}

// DynamicBatching holds Triton's dynamic_batching settings.
type DynamicBatching struct {
	MaxQueueDelayMicroseconds int   `yaml:"max_queue_delay_microseconds"`
	PreferredBatchSize        []int `yaml:"preferred_batch_size"`
	MaxQueueSize              int   `yaml:"max_queue_size"`
}

// ID is the model's "name/version" identifier (Roboflow's dataset/version).
func (m *Spec) ID() string { return m.Name + "/" + m.Version }

// ClassName returns the name of class id, or its number when unnamed.
func (m *Spec) ClassName(id int) string {
	if id >= 0 && id < len(m.ClassNames) {
		return m.ClassNames[id]
	}
	return fmt.Sprint(id)
}

// SplitID parses "name/version". A bare name has an empty version.
func SplitID(id string) (name, version string) {
	id = strings.Trim(id, "/")
	if i := strings.LastIndexByte(id, '/'); i >= 0 {
		return id[:i], id[i+1:]
	}
	return id, ""
}
