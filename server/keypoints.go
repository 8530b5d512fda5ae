package server

import (
	"math"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/trtserve/trtserve/model"
	"github.com/trtserve/trtserve/tasks"
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

func encodePoses(w *imageWork, poses []tasks.Pose, vis string) any {
	preds := make([]kpPrediction, len(poses))
	for i, p := range poses {
		kps := make([]kpPoint, len(p.Keypoints))
		for j, k := range p.Keypoints {
			kps[j] = kpPoint{k.X, k.Y, k.Confidence, k.ClassID, k.Class}
		}
		preds[i] = kpPrediction{odPrediction: prediction(p.Box), Keypoints: kps}
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
func (s *Server) keypoints(c *fiber.Ctx, start time.Time, req *odRequest, kpConf float64, images []imageSrc, list bool) error {
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
	tr, err := newTaskReq(s, m, req.ID, start, req.preFlags, req.visFlags, tasks.Keypoints{}, tasks.KeypointOptions{DetectOptions: det, Confidence: kpConf}, encodePoses)
	if err != nil {
		return err
	}
	return runTask(s, ctx, c, tr, images, list)
}

// legacyKeypoints reads keypoint_confidence from the legacy route's query.
func (s *Server) legacyKeypoints(c *fiber.Ctx, start time.Time, req *odRequest, images []imageSrc) error {
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
