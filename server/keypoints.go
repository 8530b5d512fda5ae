package server

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/trtserve/trtserve/model"
	"github.com/trtserve/trtserve/tasks"
	"github.com/trtserve/trtserve/vision"
)

// kpRequest is KeypointsDetectionInferenceRequest: detection's fields plus
// keypoint_confidence.
type kpRequest struct {
	odRequest
	KeypointConfidence *float64 `json:"keypoint_confidence"`
}

type kpPoint struct {
	X          float64 `json:"x"`
	Y          float64 `json:"y"`
	Confidence float64 `json:"confidence"`
	ClassID    int     `json:"class_id"`
	Class      string  `json:"class"`
}

// kpPrediction is KeypointsPrediction.
type kpPrediction struct {
	odPrediction
	Keypoints []kpPoint `json:"keypoints"`
}

type kpResponse struct {
	InferenceID   string         `json:"inference_id,omitempty"`
	Time          float64        `json:"time"`
	Image         imageDims      `json:"image"`
	Predictions   []kpPrediction `json:"predictions"`
	Visualization string         `json:"visualization,omitempty"`
}

// kpTask is keypoint detection: boxes whose extra values are (x, y,
// confidence) per keypoint.
type kpTask struct{}

type kpOptions struct {
	tasks.DetectOptions
	confidence float64
}

type kpPose struct {
	tasks.Box
	keypoints []kpPoint
}

func (kpTask) Validate(spec *model.Spec, outputs []model.TensorInfo) error {
	return tasks.Detection{}.Validate(spec, outputs)
}

func (kpTask) Postprocess(spec *model.Spec, outputs []model.TensorInfo, out [][]float32, f *tasks.Frame, o kpOptions) ([]kpPose, error) {
	dets, err := decodeDetections(spec, outputs, out[0], o.NMS)
	if err != nil {
		return nil, err
	}
	kps := make([][]vision.Keypoint, len(dets))
	for i, d := range dets {
		kps[i] = vision.Keypoints(d, len(spec.KeypointNames), f.Geo, f.CropX, f.CropY)
	}
	vision.Rescale(dets, f.Geo, f.CropX, f.CropY)
	poses := make([]kpPose, 0, len(dets))
	for i, d := range dets {
		x1, y1, x2, y2 := float64(d.X1), float64(d.Y1), float64(d.X2), float64(d.Y2)
		b := tasks.Box{X: (x1 + x2) / 2, Y: (y1 + y2) / 2, Width: x2 - x1, Height: y2 - y1,
			Confidence: float64(d.Confidence), ClassID: d.ClassID, Class: spec.ClassName(d.ClassID)}
		if len(o.ClassFilter) > 0 && !o.ClassFilter[b.Class] {
			continue
		}
		p := kpPose{Box: b, keypoints: make([]kpPoint, 0, len(kps[i]))}
		for _, k := range kps[i] {
			if k.Confidence >= o.confidence {
				p.keypoints = append(p.keypoints, kpPoint{k.X, k.Y, k.Confidence, k.ID, keypointName(spec, k.ID)})
			}
		}
		poses = append(poses, p)
	}
	return poses, nil
}

func (kpTask) Overlays(spec *model.Spec, poses []kpPose) []vision.Overlay {
	out := make([]vision.Overlay, len(poses))
	for i, p := range poses {
		out[i] = vision.Overlay{
			Box:   [4]float64{p.X - p.Width/2, p.Y - p.Height/2, p.X + p.Width/2, p.Y + p.Height/2},
			Color: vision.ClassColor(spec.Colors, p.Class, p.ClassID),
			Label: fmt.Sprintf("%s %.2f", p.Class, p.Confidence),
		}
		for _, k := range p.keypoints {
			out[i].Keypoints = append(out[i].Keypoints, vision.Point{X: k.X, Y: k.Y})
		}
	}
	return out
}

// decodeDetections reads one image's detection output per the model's
// layout and runs NMS.
func decodeDetections(spec *model.Spec, outputs []model.TensorInfo, out []float32, nms vision.NMSOptions) ([]vision.Detection, error) {
	shape := outputs[0].Shape
	if len(shape) != 3 {
		return nil, fmt.Errorf("detection output must be [batch, values, anchors], got %v", shape)
	}
	layout, anchors, width := vision.YOLOv8, int(shape[2]), int(shape[1])
	nc := width - 4
	if spec.OutputLayout == "yolov5" {
		layout, anchors, width = vision.YOLOv5, int(shape[1]), int(shape[2])
		nc = width - 5
	}
	if len(spec.ClassNames) > 0 && len(spec.ClassNames) < nc {
		nc = len(spec.ClassNames) // the rest are extras (e.g. mask coefficients)
	}
	extra := width - nc - 4
	if layout == vision.YOLOv5 {
		extra--
	}
	nms.TrueIoU = spec.NMS == "ultralytics"
	return vision.DecodeBoxes(out, layout, anchors, nc, extra, nms)
}

func keypointName(m *model.Spec, id int) string {
	if id >= 0 && id < len(m.KeypointNames) {
		return m.KeypointNames[id]
	}
	return strconv.Itoa(id)
}

func encodePoses(w *imageWork, poses []kpPose, vis string) any {
	preds := make([]kpPrediction, len(poses))
	for i, p := range poses {
		preds[i] = kpPrediction{odPrediction: prediction(p.Box), Keypoints: p.keypoints}
	}
	return kpResponse{InferenceID: w.ir.id(), Time: time.Since(w.ir.start).Seconds(), Image: w.dims(), Predictions: preds, Visualization: vis}
}

// keypointConfidence validates keypoint_confidence (default 0).
func keypointConfidence(v *float64) (float64, error) {
	if v == nil {
		return 0, nil
	}
	if math.IsNaN(*v) || *v < 0 || *v > 1 {
		return 0, badRequest("keypoint_confidence must be between 0 and 1, got %v", *v)
	}
	return *v, nil
}

func (s *Server) inferKeypoints(c *fiber.Ctx) error {
	start := time.Now()
	var req kpRequest
	images, list, err := s.parseJSONRequest(c, &req, &req.Image)
	if err != nil {
		return err
	}
	if string(req.Confidence) == `"best"` {
		// Roboflow's keypoints request refuses it too: no per-model optimum
		// exists for keypoints.
		return badRequest(`confidence "best" is not supported for keypoints models`)
	}
	kpConf, err := keypointConfidence(req.KeypointConfidence)
	if err != nil {
		return err
	}
	return s.keypoints(c, start, &req.odRequest, kpConf, images, list)
}

// keypoints is shared by /infer/keypoints_detection and the legacy route.
func (s *Server) keypoints(c *fiber.Ctx, start time.Time, req *odRequest, kpConf float64, images [][]byte, list bool) error {
	det, err := req.detectOptions()
	if err != nil {
		return err
	}
	ctx, cancel := s.inferContext(c)
	defer cancel()
	m, err := s.taskModel(ctx, req.ModelID, model.KeypointDetection)
	if err != nil {
		return err
	}
	tr, err := newTaskReq(s, m, req.ID, start, req.preFlags, req.visFlags, kpTask{}, kpOptions{det, kpConf}, encodePoses)
	if err != nil {
		return err
	}
	return runTask(s, ctx, c, tr, images, list)
}

// legacyKeypoints reads keypoint_confidence from the legacy route's query.
func (s *Server) legacyKeypoints(c *fiber.Ctx, start time.Time, req *odRequest, images [][]byte) error {
	kpConf := 0.0
	if v := c.Query("keypoint_confidence"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return badRequest("keypoint_confidence must be a number")
		}
		if kpConf, err = keypointConfidence(&f); err != nil {
			return err
		}
	}
	return s.keypoints(c, start, req, kpConf, images, false)
}
