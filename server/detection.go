package server

import (
	"math"
	"time"

	gojson "github.com/goccy/go-json"
	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/trtserve/trtserve/model"
	"github.com/trtserve/trtserve/tasks"
)

// odRequest is ObjectDetectionInferenceRequest. Pointers tell "absent or
// null" (use the default) from a value. Unknown fields are ignored, as
// pydantic does.
type odRequest struct {
	ID               string            `json:"id"`
	ModelID          string            `json:"model_id"`
	APIKey           *string           `json:"api_key"`
	Image            gojson.RawMessage `json:"image"`
	ClassAgnosticNMS *bool             `json:"class_agnostic_nms"`
	ClassFilter      []string          `json:"class_filter"`
	Confidence       gojson.RawMessage `json:"confidence"`
	IoUThreshold     *float64          `json:"iou_threshold"`
	MaxDetections    *int              `json:"max_detections"`
	MaxCandidates    *int              `json:"max_candidates"`
	preFlags
	visFlags
}

type odPrediction struct {
	X           float64 `json:"x"`
	Y           float64 `json:"y"`
	Width       float64 `json:"width"`
	Height      float64 `json:"height"`
	Confidence  float64 `json:"confidence"`
	Class       string  `json:"class"`
	ClassID     int     `json:"class_id"`
	DetectionID string  `json:"detection_id"`
}

type odResponse struct {
	InferenceID   string         `json:"inference_id,omitempty"`
	Time          float64        `json:"time"`
	Image         imageDims      `json:"image"`
	Predictions   []odPrediction `json:"predictions"`
	Visualization string         `json:"visualization,omitempty"`
}

// parseConfidence is detection's confidence, floored at 0.01.
func parseConfidence(raw gojson.RawMessage) (float64, error) {
	v, err := readConfidence(raw, defaultConfidence, defaultConfidence)
	return max(v, minConfidence), err
}

// detectOptions reads the NMS fields and the class filter.
func (r *odRequest) detectOptions() (tasks.DetectOptions, error) {
	conf, err := parseConfidence(r.Confidence)
	if err != nil {
		return tasks.DetectOptions{}, err
	}
	o := tasks.DetectOptions{NMS: tasks.NMSOptions{Confidence: conf, IoUThreshold: defaultIoU, MaxDetections: defaultMaxDetections, MaxCandidates: defaultMaxCandidates}}
	if r.IoUThreshold != nil {
		if v := *r.IoUThreshold; math.IsNaN(v) || v < 0 || v > 1 {
			return o, badRequest("iou_threshold must be between 0 and 1, got %v", v)
		}
		o.NMS.IoUThreshold = *r.IoUThreshold
	}
	if r.MaxDetections != nil {
		if *r.MaxDetections < 0 {
			return o, badRequest("max_detections must not be negative")
		}
		o.NMS.MaxDetections = *r.MaxDetections
	}
	if r.MaxCandidates != nil {
		if *r.MaxCandidates < 1 {
			return o, badRequest("max_candidates must be positive")
		}
		o.NMS.MaxCandidates = *r.MaxCandidates
	}
	if r.ClassAgnosticNMS != nil {
		o.NMS.ClassAgnostic = *r.ClassAgnosticNMS
	}
	o.ClassFilter = map[string]bool{}
	for _, f := range r.ClassFilter {
		o.ClassFilter[f] = true
	}
	return o, nil
}

// prediction is a box as Roboflow answers it, with a fresh detection_id.
func prediction(b tasks.Box) odPrediction {
	return odPrediction{
		X: b.X, Y: b.Y, Width: b.Width, Height: b.Height,
		Confidence: b.Confidence, Class: b.Class, ClassID: b.ClassID, DetectionID: uuid.NewString(),
	}
}

func encodeDetections(w *imageWork, boxes []tasks.Box, vis string) any {
	preds := make([]odPrediction, len(boxes))
	for i, b := range boxes {
		preds[i] = prediction(b)
	}
	return odResponse{InferenceID: w.ir.id(), Time: time.Since(w.ir.start).Seconds(), Image: w.dims(), Predictions: preds, Visualization: vis}
}

func (s *Server) inferObjectDetection(c *fiber.Ctx) error {
	start := time.Now()
	var req odRequest
	images, list, err := s.parseJSONRequest(c, &req, &req.Image)
	if err != nil {
		return err
	}
	return s.detect(c, start, &req, images, list)
}

// detect is shared by /infer/object_detection and the legacy route.
func (s *Server) detect(c *fiber.Ctx, start time.Time, req *odRequest, images []imageSrc, list bool) error {
	opts, err := req.detectOptions()
	if err != nil {
		return err
	}
	ctx, cancel := s.inferContext(c)
	defer cancel()
	m, err := s.taskModel(ctx, req.ModelID, model.ObjectDetection)
	if err != nil {
		return err
	}
	tr, err := newTaskReq(s, m, req.ID, start, req.preFlags, req.visFlags, tasks.Detection{}, opts, encodeDetections)
	if err != nil {
		return err
	}
	return runTask(s, ctx, c, tr, images, list)
}

func (s *Server) legacyDetect(c *fiber.Ctx, start time.Time, req *odRequest, images []imageSrc) error {
	return s.detect(c, start, req, images, false)
}
